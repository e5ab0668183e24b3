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
    ///
    /// # Errors
    ///
    /// [`ErrorKind::UserVariables`] when they do not fit `T`, with the path of the field that
    /// did not (`order.items[2].sku`) and what was wrong with it, never its value, so the error
    /// is safe to log:
    ///
    /// ```
    /// # use mailgun_webhooks::{ErrorKind, UserVariables};
    /// #[derive(Debug, serde::Deserialize)]
    /// struct Item { sku: u32 }
    /// #[derive(Debug, serde::Deserialize)]
    /// struct Order { items: Vec<Item> }
    /// #[derive(Debug, serde::Deserialize)]
    /// struct Meta { order: Order }
    ///
    /// let vars: UserVariables = serde_json::from_str(
    ///     r#"{"order": {"items": [{"sku": 1}, {"sku": 2}, {"sku": "alice@example.com"}]}}"#,
    /// )?;
    /// let err = vars.deserialize::<Meta>().unwrap_err();
    /// let ErrorKind::UserVariables { path, problem } = err.kind() else { unreachable!() };
    /// assert_eq!(path, "order.items[2].sku");
    /// assert_eq!(problem, "invalid type: string, expected u32");
    /// assert!(!err.to_string().contains("alice"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// Its status is 400, and `?` in a handler turns it into a retryable
    /// [`HandlerError`](crate::HandlerError) (500): Mailgun retries for about 8 hours, so a
    /// type you fix and deploy in that time still receives the delivery. When the variables can
    /// never fit (another sender's messages), reject the delivery instead (406, no retries):
    /// `vars.deserialize::<T>().map_err(HandlerError::reject)?`.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T> {
        if let Ok(t) = T::deserialize(&self.map) {
            return Ok(t);
        }
        let decoded: Map<String, Value> = self
            .map
            .iter()
            .map(|(k, v)| (k.clone(), decode_json_string(v)))
            .collect();
        // Deserialized again through a tracker of the field path, whose error type builds its
        // messages without the values serde would quote.
        T::deserialize(path::Node::root(&decoded)).map_err(|e| {
            Error::new(ErrorKind::UserVariables {
                path: e.path.unwrap_or_default(),
                problem: e.problem,
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

/// A deserializer over a JSON value that records where an error happened, with an error type
/// whose messages never quote a value.
mod path {
    use std::fmt::{self, Write as _};

    use serde::de::{
        self, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess, Unexpected,
        VariantAccess, Visitor,
    };
    use serde_json::{Map, Value};

    /// One step of a path, linked to its parent on the stack.
    #[derive(Clone, Copy)]
    pub(super) enum Segment<'p> {
        Root,
        /// A struct field (a name from the type, not from the data).
        Field(&'p Segment<'p>, &'p str),
        /// A map key (data): shown as `[_]`.
        Key(&'p Segment<'p>),
        Index(&'p Segment<'p>, usize),
        /// Inside an enum variant (named by the type).
        Variant(&'p Segment<'p>, &'static str),
    }

    impl Segment<'_> {
        fn render(&self, out: &mut String) {
            match *self {
                Segment::Root => {}
                Segment::Field(parent, name) | Segment::Variant(parent, name) => {
                    parent.render(out);
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(name);
                }
                Segment::Key(parent) => {
                    parent.render(out);
                    out.push_str("[_]");
                }
                Segment::Index(parent, i) => {
                    parent.render(out);
                    let _ = write!(out, "[{i}]");
                }
            }
        }
    }

    /// The error: what is wrong, without values, and where (set by the innermost level).
    #[derive(Debug)]
    pub(super) struct PathError {
        pub(super) path: Option<String>,
        pub(super) problem: String,
    }

    impl PathError {
        fn new(problem: String) -> Self {
            PathError {
                path: None,
                problem,
            }
        }
    }

    impl fmt::Display for PathError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&self.problem)
        }
    }

    impl std::error::Error for PathError {}

    /// The JSON type of an unexpected value, without the value.
    fn kind(u: &Unexpected<'_>) -> &'static str {
        match u {
            Unexpected::Bool(_) => "boolean",
            Unexpected::Unsigned(_) | Unexpected::Signed(_) => "integer",
            Unexpected::Float(_) => "floating point number",
            Unexpected::Char(_) => "character",
            Unexpected::Str(_) => "string",
            Unexpected::Bytes(_) => "byte array",
            Unexpected::Unit => "null",
            Unexpected::Option => "optional value",
            Unexpected::NewtypeStruct => "newtype struct",
            Unexpected::Seq => "array",
            Unexpected::Map => "object",
            Unexpected::Enum => "enum",
            Unexpected::UnitVariant
            | Unexpected::NewtypeVariant
            | Unexpected::TupleVariant
            | Unexpected::StructVariant => "enum variant",
            Unexpected::Other(_) => "value",
        }
    }

    impl de::Error for PathError {
        fn custom<T: fmt::Display>(_msg: T) -> Self {
            // A type's own message may quote the value it refused: not kept.
            PathError::new("invalid value (refused by the type's own check)".to_owned())
        }

        fn invalid_type(unexp: Unexpected<'_>, exp: &dyn de::Expected) -> Self {
            PathError::new(format!("invalid type: {}, expected {exp}", kind(&unexp)))
        }

        fn invalid_value(unexp: Unexpected<'_>, exp: &dyn de::Expected) -> Self {
            PathError::new(format!("invalid value: {}, expected {exp}", kind(&unexp)))
        }

        fn invalid_length(len: usize, exp: &dyn de::Expected) -> Self {
            PathError::new(format!("invalid length {len}, expected {exp}"))
        }

        fn unknown_variant(_variant: &str, expected: &'static [&'static str]) -> Self {
            PathError::new(format!("unknown variant, expected {}", one_of(expected)))
        }

        fn unknown_field(_field: &str, expected: &'static [&'static str]) -> Self {
            PathError::new(format!("unknown field, expected {}", one_of(expected)))
        }

        fn missing_field(field: &'static str) -> Self {
            PathError::new(format!("missing field `{field}`"))
        }

        fn duplicate_field(field: &'static str) -> Self {
            PathError::new(format!("duplicate field `{field}`"))
        }
    }

    fn one_of(names: &[&str]) -> String {
        match names {
            [] => "none".to_owned(),
            [one] => format!("`{one}`"),
            _ => {
                let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
                format!("one of {}", list.join(", "))
            }
        }
    }

    #[derive(Clone, Copy)]
    enum Data<'a> {
        Map(&'a Map<String, Value>),
        Value(&'a Value),
    }

    /// A value at a path.
    #[derive(Clone, Copy)]
    pub(super) struct Node<'a, 'p> {
        data: Data<'a>,
        at: &'p Segment<'p>,
    }

    impl<'a> Node<'a, 'static> {
        pub(super) fn root(map: &'a Map<String, Value>) -> Self {
            Node {
                data: Data::Map(map),
                at: &Segment::Root,
            }
        }
    }

    impl<'a, 'p> Node<'a, 'p> {
        fn map(&self) -> Option<&'a Map<String, Value>> {
            match self.data {
                Data::Map(m) | Data::Value(Value::Object(m)) => Some(m),
                Data::Value(_) => None,
            }
        }

        /// Sets the error's path to this node's unless a deeper level set it.
        fn locate<T>(&self, r: Result<T, PathError>) -> Result<T, PathError> {
            r.map_err(|mut e| {
                if e.path.is_none() {
                    let mut path = String::new();
                    self.at.render(&mut path);
                    e.path = Some(path);
                }
                e
            })
        }

        fn any<V: Visitor<'a>>(
            self,
            visitor: V,
            fields: Option<&'static [&'static str]>,
        ) -> Result<V::Value, PathError> {
            let entries = |map: &'a Map<String, Value>| Entries {
                iter: map.iter(),
                pending: None,
                fields,
                at: self.at,
            };
            let value = match self.data {
                Data::Map(map) => return self.locate(visitor.visit_map(entries(map))),
                Data::Value(value) => value,
            };
            let r = match value {
                Value::Null => visitor.visit_unit(),
                Value::Bool(b) => visitor.visit_bool(*b),
                Value::Number(n) => {
                    if let Some(u) = n.as_u64() {
                        visitor.visit_u64(u)
                    } else if let Some(i) = n.as_i64() {
                        visitor.visit_i64(i)
                    } else {
                        visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                    }
                }
                Value::String(s) => visitor.visit_borrowed_str(s),
                Value::Array(items) => visitor.visit_seq(Items {
                    iter: items.iter().enumerate(),
                    at: self.at,
                }),
                Value::Object(map) => visitor.visit_map(entries(map)),
            };
            self.locate(r)
        }
    }

    impl<'a> de::Deserializer<'a> for Node<'a, '_> {
        type Error = PathError;

        fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, PathError> {
            self.any(visitor, None)
        }

        fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, PathError> {
            match self.data {
                Data::Value(Value::Null) => visitor.visit_none(),
                _ => visitor.visit_some(self),
            }
        }

        fn deserialize_newtype_struct<V: Visitor<'a>>(
            self,
            _name: &'static str,
            visitor: V,
        ) -> Result<V::Value, PathError> {
            visitor.visit_newtype_struct(self)
        }

        fn deserialize_struct<V: Visitor<'a>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, PathError> {
            self.any(visitor, Some(fields))
        }

        fn deserialize_enum<V: Visitor<'a>>(
            self,
            _name: &'static str,
            variants: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, PathError> {
            let single = self.map().and_then(|map| {
                let mut entries = map.iter();
                match (entries.next(), entries.next()) {
                    (Some(entry), None) => Some(entry),
                    _ => None,
                }
            });
            let r = match (self.data, single) {
                (Data::Value(Value::String(s)), _) => {
                    visitor.visit_enum(s.as_str().into_deserializer())
                }
                (_, Some((name, value))) => visitor.visit_enum(Variant {
                    name,
                    value,
                    variants,
                    at: self.at,
                }),
                _ => Err(de::Error::invalid_type(
                    Unexpected::Other("value"),
                    &"a string or an object with one key",
                )),
            };
            self.locate(r)
        }

        fn deserialize_ignored_any<V: Visitor<'a>>(
            self,
            visitor: V,
        ) -> Result<V::Value, PathError> {
            visitor.visit_unit()
        }

        serde::forward_to_deserialize_any! {
            <W: Visitor<'a>>
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf unit unit_struct seq tuple tuple_struct map identifier
        }
    }

    /// The entries of an object; struct fields are named in the path, map keys are not.
    struct Entries<'a, 'p> {
        iter: serde_json::map::Iter<'a>,
        pending: Option<(&'a str, &'a Value)>,
        fields: Option<&'static [&'static str]>,
        at: &'p Segment<'p>,
    }

    impl<'a> MapAccess<'a> for Entries<'a, '_> {
        type Error = PathError;

        fn next_key_seed<K: DeserializeSeed<'a>>(
            &mut self,
            seed: K,
        ) -> Result<Option<K::Value>, PathError> {
            let Some((key, value)) = self.iter.next() else {
                return Ok(None);
            };
            self.pending = Some((key.as_str(), value));
            seed.deserialize(de::value::BorrowedStrDeserializer::new(key))
                .map(Some)
        }

        fn next_value_seed<V: DeserializeSeed<'a>>(
            &mut self,
            seed: V,
        ) -> Result<V::Value, PathError> {
            let Some((key, value)) = self.pending.take() else {
                return Err(PathError::new("value before key".to_owned()));
            };
            let known = self
                .fields
                .and_then(|fields| fields.iter().find(|f| **f == key));
            let at = match known {
                Some(name) => Segment::Field(self.at, name),
                None => Segment::Key(self.at),
            };
            let node = Node {
                data: Data::Value(value),
                at: &at,
            };
            // Located here too: a type's own check can fail after its value deserialized.
            node.locate(seed.deserialize(node))
        }

        fn size_hint(&self) -> Option<usize> {
            Some(self.iter.len())
        }
    }

    /// The items of an array.
    struct Items<'a, 'p> {
        iter: std::iter::Enumerate<std::slice::Iter<'a, Value>>,
        at: &'p Segment<'p>,
    }

    impl<'a> SeqAccess<'a> for Items<'a, '_> {
        type Error = PathError;

        fn next_element_seed<T: DeserializeSeed<'a>>(
            &mut self,
            seed: T,
        ) -> Result<Option<T::Value>, PathError> {
            let Some((i, value)) = self.iter.next() else {
                return Ok(None);
            };
            let at = Segment::Index(self.at, i);
            let node = Node {
                data: Data::Value(value),
                at: &at,
            };
            node.locate(seed.deserialize(node)).map(Some)
        }

        fn size_hint(&self) -> Option<usize> {
            Some(self.iter.len())
        }
    }

    /// An enum written as an object with one key, the variant's name.
    struct Variant<'a, 'p> {
        name: &'a str,
        value: &'a Value,
        variants: &'static [&'static str],
        at: &'p Segment<'p>,
    }

    impl<'a, 'p> EnumAccess<'a> for Variant<'a, 'p> {
        type Error = PathError;
        type Variant = VariantValue<'a, 'p>;

        fn variant_seed<V: DeserializeSeed<'a>>(
            self,
            seed: V,
        ) -> Result<(V::Value, Self::Variant), PathError> {
            let tag = seed.deserialize(de::value::BorrowedStrDeserializer::new(self.name))?;
            let name = self.variants.iter().find(|v| **v == self.name).copied();
            Ok((
                tag,
                VariantValue {
                    value: self.value,
                    name,
                    at: self.at,
                },
            ))
        }
    }

    struct VariantValue<'a, 'p> {
        value: &'a Value,
        name: Option<&'static str>,
        at: &'p Segment<'p>,
    }

    impl<'a> VariantValue<'a, '_> {
        fn with_node<T>(
            self,
            f: impl FnOnce(Node<'a, '_>) -> Result<T, PathError>,
        ) -> Result<T, PathError> {
            let at = match self.name {
                Some(name) => Segment::Variant(self.at, name),
                None => Segment::Key(self.at),
            };
            let node = Node {
                data: Data::Value(self.value),
                at: &at,
            };
            node.locate(f(node))
        }
    }

    impl<'a> VariantAccess<'a> for VariantValue<'a, '_> {
        type Error = PathError;

        fn unit_variant(self) -> Result<(), PathError> {
            self.with_node(|node| de::Deserialize::deserialize(node))
        }

        fn newtype_variant_seed<T: DeserializeSeed<'a>>(
            self,
            seed: T,
        ) -> Result<T::Value, PathError> {
            self.with_node(|node| seed.deserialize(node))
        }

        fn tuple_variant<V: Visitor<'a>>(
            self,
            _len: usize,
            visitor: V,
        ) -> Result<V::Value, PathError> {
            self.with_node(|node| de::Deserializer::deserialize_seq(node, visitor))
        }

        fn struct_variant<V: Visitor<'a>>(
            self,
            fields: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, PathError> {
            self.with_node(|node| node.any(visitor, Some(fields)))
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
        assert_eq!(err.name(), "user_variables");
        assert_eq!(err.status(), 400);
        match err.kind() {
            ErrorKind::UserVariables { path, problem } => {
                assert_eq!(path, "n");
                assert_eq!(problem, "invalid type: string, expected u64");
            }
            other => panic!("{other:?}"),
        }
    }
}
