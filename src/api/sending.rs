//! Sending-side custom variables and tags, so that they come back typed in the webhooks.

use serde::Serialize;
use serde_json::{Map, Value};

use super::ApiError;

/// Custom variables and tags to attach to a message you send through Mailgun, built from
/// your own struct so that the webhook gives the same struct back:
///
/// ```
/// use mailgun_webhooks::api::SendingVariables;
/// #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
/// struct Meta { order_id: u64, vip: bool }
///
/// let vars = SendingVariables::from_serialize(&Meta { order_id: 10042, vip: true })?
///     .tag("receipt");
/// // As form fields of POST /v3/{domain}/messages ...
/// assert!(vars.form_fields().contains(&("v:order_id".into(), "10042".into())));
/// assert!(vars.form_fields().contains(&("o:tag".into(), "receipt".into())));
/// // ... or as the X-Mailgun-Variables header of a message sent by SMTP.
/// assert_eq!(vars.header_value(), r#"{"order_id":10042,"vip":true}"#);
///
/// // In the webhook: event.user_variables().unwrap().deserialize::<Meta>()
/// # Ok::<(), mailgun_webhooks::api::ApiError>(())
/// ```
///
/// Mailgun delivers `v:` values as strings; [`UserVariables`](crate::UserVariables) decodes
/// strings that hold JSON, so numbers, booleans, lists and objects round-trip.
#[derive(Debug, Clone, Default, PartialEq)]
#[must_use]
pub struct SendingVariables {
    vars: Map<String, Value>,
    tags: Vec<String>,
}

impl SendingVariables {
    /// The header Mailgun reads custom variables from in a message sent by SMTP.
    pub const HEADER: &'static str = "X-Mailgun-Variables";

    /// No variables, no tags.
    pub fn new() -> Self {
        Self::default()
    }

    /// The fields of `vars` (a struct or map that serializes to a JSON object) as variables.
    pub fn from_serialize<T: Serialize + ?Sized>(vars: &T) -> Result<Self, ApiError> {
        match serde_json::to_value(vars) {
            Ok(Value::Object(map)) => Ok(SendingVariables {
                vars: map,
                tags: Vec::new(),
            }),
            Ok(_) => Err(ApiError::InvalidInput(
                "custom variables must serialize to a JSON object".into(),
            )),
            Err(e) => Err(ApiError::InvalidInput(format!("custom variables: {e}"))),
        }
    }

    /// Sets one variable.
    pub fn variable(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.vars.insert(name.into(), value.into());
        self
    }

    /// Adds a tag (`o:tag`).
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// The variables.
    pub fn variables(&self) -> &Map<String, Value> {
        &self.vars
    }

    /// The tags.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    /// Form fields for the Messages API: `v:<name>` per variable (a string as is, any other
    /// value as JSON), then `o:tag` per tag.
    ///
    /// A `null` variable (a `None` field) is left out: sent, it would come back as the string
    /// `"null"`; left out, it deserializes as `None` again.
    pub fn form_fields(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .vars
            .iter()
            .filter(|(_, value)| !value.is_null())
            .map(|(name, value)| {
                let text = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (format!("v:{name}"), text)
            })
            .collect();
        out.extend(self.tags.iter().map(|t| ("o:tag".to_owned(), t.clone())));
        out
    }

    /// The value of the [`X-Mailgun-Variables`](Self::HEADER) header: the variables as one
    /// JSON object.
    pub fn header_value(&self) -> String {
        Value::Object(self.vars.clone()).to_string()
    }
}
