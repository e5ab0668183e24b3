//! Custom variables attached to a message (`v:` parameters or `X-Mailgun-Variables`).

use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer};
use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind, Result};

/// The user variables of a message, as a JSON object.
///
/// Mailgun sends them in several shapes, all accepted: an object (usual), an empty array
/// `[]`, `null` or nothing at all (no variables), an error string when it could not load them
/// (see [`load_error`](Self::load_error)), and values that are themselves JSON encoded in a
/// string (`"123"`, `"{\"a\":1}"`). Legacy form webhooks provide them as string-valued fields.
///
/// Read one variable with [`get`](Self::get), or all of them into your own struct with
/// [`deserialize`](Self::deserialize):
///
/// ```
/// # use mailgun_webhooks::UserVariables;
/// # let vars: UserVariables = serde_json::from_str(r#"{"order_id":"123","vip":true}"#).unwrap();
/// let order: Option<u64> = vars.get("order_id"); // "123" is decoded
/// assert_eq!(order, Some(123));
///
/// #[derive(serde::Deserialize)]
/// struct Meta { order_id: u64, vip: bool }
/// let meta: Meta = vars.deserialize()?;
/// assert!(meta.vip);
/// # Ok::<(), mailgun_webhooks::Error>(())
/// ```
#[derive(Clone, Default, PartialEq)]
pub struct UserVariables {
    map: Map<String, Value>,
    load_error: Option<String>,
}

impl UserVariables {
    /// No variables.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds the variables from any JSON value, with the same leniency as the parser.
    pub fn from_value(value: Value) -> Self {
        match value {
            Value::Object(map) => UserVariables {
                map,
                load_error: None,
            },
            Value::String(s) => match serde_json::from_str::<Map<String, Value>>(&s) {
                Ok(map) => UserVariables {
                    map,
                    load_error: None,
                },
                Err(_) => UserVariables {
                    map: Map::new(),
                    load_error: Some(s),
                },
            },
            _ => UserVariables::default(),
        }
    }

    /// Sets a variable, replacing any value it had.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<Value>) {
        self.map.insert(name.into(), value.into());
    }

    /// Adds every variable of `other`, replacing values of the same name.
    pub fn extend(&mut self, other: UserVariables) {
        self.map.extend(other.map);
        if self.load_error.is_none() {
            self.load_error = other.load_error;
        }
    }

    /// The variable `name` converted to `T`, or `None` if it is absent or does not convert.
    ///
    /// A string value that does not convert directly is decoded as JSON and tried again, so a
    /// variable Mailgun delivers as `"123"` reads as a number and `"{\"a\":1}"` as an object.
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Option<T> {
        let value = self.map.get(name)?;
        if let Ok(t) = T::deserialize(value) {
            return Some(t);
        }
        match value {
            Value::String(s) => serde_json::from_str(s).ok(),
            _ => None,
        }
    }

    /// The variable `name` as Mailgun sent it.
    pub fn get_raw(&self, name: &str) -> Option<&Value> {
        self.map.get(name)
    }

    /// The variable `name` if it is a string.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.map.get(name).and_then(Value::as_str)
    }

    /// Deserializes all variables into your own type.
    ///
    /// The variables are first tried as they are; if that fails, once more with every string
    /// value that holds JSON (a number, boolean, object or array) decoded. A string that merely
    /// looks like a number stays available as a string to `String` fields in the first attempt.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T> {
        if let Ok(t) = T::deserialize(&self.map) {
            return Ok(t);
        }
        let decoded: Map<String, Value> = self
            .map
            .iter()
            .map(|(k, v)| (k.clone(), decode_json_string(v)))
            .collect();
        // serde's message can quote a variable's value, so it is not kept as the source.
        T::deserialize(&decoded).map_err(|_| {
            Error::new(ErrorKind::Malformed {
                what: "user variables do not match the requested type".into(),
            })
        })
    }

    /// The error text Mailgun sent instead of the variables ("Could not load user-variables.
    /// They were either truncated or invalid JSON"), if any.
    pub fn load_error(&self) -> Option<&str> {
        self.load_error.as_deref()
    }

    /// The variables as a JSON object.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.map
    }

    /// The variables' names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }

    /// The number of variables.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when there are no variables.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

fn decode_json_string(v: &Value) -> Value {
    if let Value::String(s) = v
        && let Ok(decoded) = serde_json::from_str::<Value>(s)
        && !decoded.is_string()
        && !decoded.is_null()
    {
        return decoded;
    }
    v.clone()
}

impl fmt::Debug for UserVariables {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("UserVariables");
        d.field("map", &self.map);
        if let Some(e) = &self.load_error {
            d.field("load_error", e);
        }
        d.finish()
    }
}

impl<'de> Deserialize<'de> for UserVariables {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Value::deserialize(d).map(UserVariables::from_value)
    }
}

impl FromIterator<(String, Value)> for UserVariables {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        UserVariables {
            map: iter.into_iter().collect(),
            load_error: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(json: &str) -> UserVariables {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn shapes() {
        assert!(vars("[]").is_empty());
        assert!(vars("null").is_empty());
        let v =
            vars(r#""Could not load user-variables. They were either truncated or invalid JSON""#);
        assert!(v.is_empty());
        assert!(v.load_error().unwrap().starts_with("Could not load"));
        assert_eq!(vars(r#""{\"a\":1}""#).get::<u32>("a"), Some(1));
    }

    #[test]
    fn typed_get_tolerates_encoded_values() {
        let v = vars(r#"{"n":"123","o":"{\"k\":[1,2]}","s":"text","b":true}"#);
        assert_eq!(v.get::<u64>("n"), Some(123));
        assert_eq!(v.get::<String>("n").as_deref(), Some("123"));
        assert_eq!(v.get::<Map<String, Value>>("o").unwrap()["k"][1], 2);
        assert!(v.get::<Value>("o").unwrap().is_string());
        #[derive(Deserialize)]
        struct O {
            k: Vec<u8>,
        }
        assert_eq!(v.get::<O>("o").unwrap().k, [1, 2]);
        assert_eq!(v.get::<bool>("b"), Some(true));
        assert_eq!(v.get::<u64>("s"), None);
        assert_eq!(v.get::<u64>("missing"), None);
    }

    #[test]
    fn into_own_struct() {
        #[derive(Deserialize, Debug)]
        struct Meta {
            n: u64,
            s: String,
        }
        let m: Meta = vars(r#"{"n":"123","s":"text","extra":1}"#)
            .deserialize()
            .unwrap();
        assert_eq!((m.n, m.s.as_str()), (123, "text"));
        let err = vars(r#"{"n":"x"}"#).deserialize::<Meta>().unwrap_err();
        assert_eq!(err.name(), "malformed");
    }
}
