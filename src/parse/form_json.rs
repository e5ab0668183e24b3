//! JSON values that travel inside form fields: `message-headers`, `content-id-map`,
//! `X-Mailgun-Variables` and a stored message's `attachments`.
//!
//! All of them are parsed leniently: a value of an unexpected shape is skipped, and a field
//! that is not JSON at all gives an empty result, never an error. serde_json's recursion limit
//! (128) bounds the nesting, and each text is charged against the request's node budget
//! ([`Limits::json_nodes`](crate::Limits::json_nodes)) before it is decoded: that is the one
//! error these functions give. They run only after the signature verified.

use std::fmt::{self, Write as _};

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::error::Result as CrateResult;
use crate::event::UserVariables;
use crate::inbound::StoredAttachment;
use crate::limits::NodeBudget;

/// `message-headers`: a JSON list of `[name, value]` pairs, in order, names repeated.
///
/// A value that is itself a list `[value, {params}]` (legacy tracking posts send
/// `["multipart/alternative", {"boundary": "..."}]`) is rendered as a header value would be:
/// `multipart/alternative; boundary=...`, quoting a parameter value when it is not a token.
/// Any other non-string value is kept as its JSON text. Elements that are not pairs with a
/// string name are skipped.
pub(super) fn header_pairs(json: &str, budget: &NodeBudget) -> CrateResult<Vec<(String, String)>> {
    budget.charge(json.as_bytes())?;
    Ok(serde_json::from_str::<Pairs>(json).map_or_else(|_| Vec::new(), |p| p.0))
}

/// `content-id-map`: a JSON object read as an ordered list of pairs, so that the duplicate
/// keys Mailgun sends (`{"": "attachment-1", "": "attachment-2"}`) are all kept. Values that
/// are not strings become their JSON text; `null` values are skipped.
pub(super) fn object_pairs(json: &str, budget: &NodeBudget) -> CrateResult<Vec<(String, String)>> {
    budget.charge(json.as_bytes())?;
    Ok(serde_json::from_str::<ObjectPairs>(json).map_or_else(|_| Vec::new(), |p| p.0))
}

/// `X-Mailgun-Variables`: a JSON object, or `None` for anything else.
pub(super) fn variables(json: &str, budget: &NodeBudget) -> CrateResult<Option<UserVariables>> {
    budget.charge(json.as_bytes())?;
    Ok(match serde_json::from_str::<Value>(json) {
        Ok(v @ Value::Object(_)) => Some(UserVariables::from_value(v)),
        _ => None,
    })
}

/// True when a field's value is a JSON list (a store notification's `attachments`).
pub(super) fn is_json_list(s: &str) -> bool {
    s.trim_start().starts_with('[')
}

/// A stored message's `attachments`: a JSON list of `{url, name, content-type, size}`.
pub(super) fn stored_attachments(
    json: &str,
    budget: &NodeBudget,
) -> CrateResult<Vec<StoredAttachment>> {
    budget.charge(json.as_bytes())?;
    let mut de = serde_json::Deserializer::from_str(json);
    Ok(crate::lenient::object_list(&mut de).unwrap_or_default())
}

// ----- message-headers -----

struct Pairs(Vec<(String, String)>);

impl<'de> Deserialize<'de> for Pairs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(PairsV)
    }
}

struct PairsV;

impl<'de> Visitor<'de> for PairsV {
    type Value = Pairs;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of header pairs")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Pairs, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(16).min(64));
        while let Some(Pair(pair)) = seq.next_element()? {
            out.extend(pair);
        }
        Ok(Pairs(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Pairs, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Pairs(Vec::new()))
    }
}

/// One `[name, value]` element; anything else is skipped.
struct Pair(Option<(String, String)>);

impl<'de> Deserialize<'de> for Pair {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(PairV)
    }
}

struct PairV;

impl<'de> Visitor<'de> for PairV {
    type Value = Pair;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a [name, value] pair")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Pair, A::Error> {
        let name = seq.next_element::<Text>()?;
        let value = seq.next_element::<Text>()?;
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Pair(match (name, value) {
            (Some(Text::Str(name)), Some(Text::Str(value))) => Some((name, value)),
            (Some(Text::Str(name)), Some(Text::Other(value))) => Some((name, render(value))),
            _ => None,
        }))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Pair, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Pair(None))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Pair, E> {
        Ok(Pair(None))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Pair, E> {
        Ok(Pair(None))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Pair, E> {
        Ok(Pair(None))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Pair, E> {
        Ok(Pair(None))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Pair, E> {
        Ok(Pair(None))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Pair, E> {
        Ok(Pair(None))
    }
}

/// A JSON string, without going through [`Value`] (most header names and values), or any
/// other JSON value.
enum Text {
    Str(String),
    Other(Value),
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextV)
    }
}

struct TextV;

impl<'de> Visitor<'de> for TextV {
    type Value = Text;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
        Ok(Text::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Text, E> {
        Ok(Text::Str(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
        Ok(Text::Other(v.into()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
        Ok(Text::Other(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
        Ok(Text::Other(v.into()))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text, E> {
        Ok(Text::Other(v.into()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Text, E> {
        Ok(Text::Other(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Text, A::Error> {
        let d = de::value::SeqAccessDeserializer::new(seq);
        Value::deserialize(d).map(Text::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Text, A::Error> {
        let d = de::value::MapAccessDeserializer::new(map);
        Value::deserialize(d).map(Text::Other)
    }
}

/// A header value: a string as is; `[value, {params}]` as `value; k=v; k2="v 2"`; `null` as
/// empty; anything else as its JSON text.
fn render(value: Value) -> String {
    match value {
        Value::String(s) => s,
        Value::Null => String::new(),
        Value::Array(items) => match <[Value; 2]>::try_from(items) {
            Ok([Value::String(main), Value::Object(params)]) => {
                let mut out = main;
                for (k, v) in &params {
                    let _ = write!(out, "; {k}=");
                    match v {
                        Value::String(s) => push_param_value(&mut out, s),
                        other => out.push_str(&other.to_string()),
                    }
                }
                out
            }
            Ok(pair) => Value::Array(pair.into()).to_string(),
            Err(items) => Value::Array(items).to_string(),
        },
        other => other.to_string(),
    }
}

/// A MIME parameter value: bare when it is a token (RFC 2045), else a quoted string.
fn push_param_value(out: &mut String, s: &str) {
    let is_token = !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&c));
    if is_token {
        out.push_str(s);
        return;
    }
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

// ----- content-id-map -----

struct ObjectPairs(Vec<(String, String)>);

impl<'de> Deserialize<'de> for ObjectPairs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ObjectPairsV)
    }
}

struct ObjectPairsV;

impl<'de> Visitor<'de> for ObjectPairsV {
    type Value = ObjectPairs;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ObjectPairs, A::Error> {
        let mut out = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            match map.next_value::<Value>()? {
                Value::Null => {}
                Value::String(s) => out.push((key, s)),
                other => out.push((key, other.to_string())),
            }
        }
        Ok(ObjectPairs(out))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ObjectPairs, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(ObjectPairs(Vec::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget() -> NodeBudget {
        NodeBudget::new(1 << 20)
    }

    fn header_pairs(json: &str) -> Vec<(String, String)> {
        super::header_pairs(json, &budget()).unwrap()
    }

    fn object_pairs(json: &str) -> Vec<(String, String)> {
        super::object_pairs(json, &budget()).unwrap()
    }

    fn stored_attachments(json: &str) -> Vec<StoredAttachment> {
        super::stored_attachments(json, &budget()).unwrap()
    }

    #[test]
    fn the_node_budget_is_charged_before_decoding() {
        let b = NodeBudget::new(10);
        assert!(super::header_pairs("[[1,2],[3,4]]", &b).is_ok()); // 7
        assert!(super::variables("[1,2,3,4]", &b).is_err());
        assert!(super::object_pairs("{}", &b).is_err());
    }

    #[test]
    fn header_values_with_params_are_rendered() {
        let h = header_pairs(
            r#"[["Received", "a"], ["Content-Type", ["multipart/alternative", {"boundary": "eb66"}]],
                ["Content-Transfer-Encoding", ["7bit", {}]], ["X", ["text/plain", {"name": "a b", "q": "x\"y"}]],
                ["Received", "b"], "junk", ["no-value"], [1, "x"], ["N", 5]]"#,
        );
        let expected = [
            ("Received", "a"),
            ("Content-Type", "multipart/alternative; boundary=eb66"),
            ("Content-Transfer-Encoding", "7bit"),
            ("X", "text/plain; name=\"a b\"; q=\"x\\\"y\""),
            ("Received", "b"),
            ("N", "5"),
        ];
        let got: Vec<(&str, &str)> = h.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        assert_eq!(got, expected);
        assert!(header_pairs("not json").is_empty());
        assert!(header_pairs(r#"{"a": 1}"#).is_empty());
    }

    #[test]
    fn content_id_map_keeps_duplicate_keys_in_order() {
        let m = object_pairs(
            r#"{"": "attachment-1", "": "attachment-2", "<a>": "attachment-3", "<a>": 4, "n": null}"#,
        );
        assert_eq!(
            m,
            [
                (String::new(), "attachment-1".to_owned()),
                (String::new(), "attachment-2".to_owned()),
                ("<a>".to_owned(), "attachment-3".to_owned()),
                ("<a>".to_owned(), "4".to_owned()),
            ]
        );
        assert!(object_pairs("[1]").is_empty());
    }

    #[test]
    fn stored_attachment_list_is_lenient() {
        let a = stored_attachments(
            r#"[{"url": "u", "name": "n.pdf", "content-type": "application/pdf", "size": "20"}, 3, {"size": 1}]"#,
        );
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].size, Some(20));
        assert_eq!(a[0].content_type.as_deref(), Some("application/pdf"));
        assert!(stored_attachments("{").is_empty());
        assert!(is_json_list(" [") && !is_json_list("{}"));
    }
}
