//! The current JSON format: `{"signature": {...}, "event-data": {...}}`.
//!
//! The envelope pass ([`scan`]) reads the signature block and keeps `event-data` as its exact
//! text: serde_json checks the whole body's syntax without allocating, and nothing inside
//! `event-data` is decoded. The typed parse ([`event`]) runs after verification.

use std::cell::Cell;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::{ErrorKind, Limit, Result};
use crate::event::Event;
use crate::event::json::{SERDE_JSON_DEPTH, describe};
use crate::limits::{Limits, NodeBudget};
use crate::verify::Signature;

/// The envelope pass over a JSON body: the signature block, and the exact text of
/// `event-data`, which is not decoded (serde_json checks its syntax without allocating).
pub(crate) fn scan<'a>(body: &'a [u8], limits: &Limits) -> Result<(Signature, &'a [u8])> {
    let (what, max) = limits.json_max();
    if u64::try_from(body.len()).map_or(true, |n| n > max) {
        return Err(ErrorKind::LimitExceeded { what, limit: max }.into());
    }
    if limits.max_json_depth() < SERDE_JSON_DEPTH {
        check_depth(body, limits.max_json_depth())?;
    }

    let failure = Cell::new(None);
    let mut de = serde_json::Deserializer::from_slice(body);
    let envelope = EnvelopeSeed { failure: &failure }
        .deserialize(&mut de)
        .and_then(|env| de.end().map(|()| env))
        .map_err(|e| failure.take().unwrap_or_else(|| describe(&e)))?;

    let sig = envelope
        .signature
        .ok_or(ErrorKind::MissingField { field: "signature" })?;
    let timestamp = sig
        .timestamp
        .ok_or(ErrorKind::MissingField { field: "timestamp" })?;
    let token = sig
        .token
        .ok_or(ErrorKind::MissingField { field: "token" })?;
    let signature = sig
        .signature
        .ok_or(ErrorKind::MissingField { field: "signature" })?;
    let mut signature = Signature::new(timestamp, token, signature);
    if let Some(parent) = sig.parent {
        signature = signature.parent_signature(parent);
    }
    let data = envelope.event_data.ok_or(ErrorKind::MissingField {
        field: "event-data",
    })?;
    Ok((signature, data.get().as_bytes()))
}

/// The typed parse of `event-data` (after verification).
pub(crate) fn event(event_data: &[u8], budget: &NodeBudget) -> Result<Event> {
    crate::event::json::event_from_json(event_data, budget, "`event-data` is not an object")
}

/// Rejects bodies nested deeper than `max`, for limits below serde_json's own.
fn check_depth(body: &[u8], max: u32) -> Result<()> {
    let (mut depth, mut in_string, mut escaped) = (0u32, false, false);
    for &c in body {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth = depth.saturating_add(1);
                if depth > max {
                    return Err(ErrorKind::LimitExceeded {
                        what: Limit::JsonDepth,
                        limit: u64::from(max),
                    }
                    .into());
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

// ----- the envelope -----

struct Envelope<'a> {
    signature: Option<SignatureBlock>,
    event_data: Option<&'a RawValue>,
}

#[derive(Default)]
struct SignatureBlock {
    timestamp: Option<String>,
    token: Option<String>,
    signature: Option<String>,
    parent: Option<String>,
}

/// Visitors report typed failures through `failure`; serde only carries a placeholder.
struct EnvelopeSeed<'a> {
    failure: &'a Cell<Option<crate::Error>>,
}

fn fail<E: de::Error>(failure: &Cell<Option<crate::Error>>, kind: ErrorKind) -> E {
    failure.set(Some(kind.into()));
    E::custom("rejected")
}

impl<'de> DeserializeSeed<'de> for EnvelopeSeed<'_> {
    type Value = Envelope<'de>;
    fn deserialize<D: Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Envelope<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for EnvelopeSeed<'_> {
    type Value = Envelope<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Envelope<'de>, A::Error> {
        let mut env = Envelope {
            signature: None,
            event_data: None,
        };
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Signature => {
                    if env.signature.is_some() {
                        return Err(fail(
                            self.failure,
                            ErrorKind::DuplicateField { field: "signature" },
                        ));
                    }
                    env.signature = Some(map.next_value_seed(BlockSeed {
                        failure: self.failure,
                    })?);
                }
                Key::EventData => {
                    if env.event_data.is_some() {
                        return Err(fail(
                            self.failure,
                            ErrorKind::DuplicateField {
                                field: "event-data",
                            },
                        ));
                    }
                    env.event_data = Some(map.next_value::<&'de RawValue>()?);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(env)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(
        self,
        _: A,
    ) -> std::result::Result<Envelope<'de>, A::Error> {
        Err(self.not_object())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> std::result::Result<Envelope<'de>, E> {
        Err(self.not_object())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> std::result::Result<Envelope<'de>, E> {
        Err(self.not_object())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> std::result::Result<Envelope<'de>, E> {
        Err(self.not_object())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> std::result::Result<Envelope<'de>, E> {
        Err(self.not_object())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<Envelope<'de>, E> {
        Err(self.not_object())
    }
    fn visit_unit<E: de::Error>(self) -> std::result::Result<Envelope<'de>, E> {
        Err(self.not_object())
    }
}

impl EnvelopeSeed<'_> {
    fn not_object<E: de::Error>(&self) -> E {
        fail(
            self.failure,
            ErrorKind::Malformed {
                what: "the JSON body is not an object".into(),
            },
        )
    }
}

/// Keys of the envelope and of the signature block.
enum Key {
    Signature,
    EventData,
    Timestamp,
    Token,
    Parent,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Key, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Key, E> {
                Ok(match v {
                    "signature" => Key::Signature,
                    "event-data" => Key::EventData,
                    "timestamp" => Key::Timestamp,
                    "token" => Key::Token,
                    "parent-signature" => Key::Parent,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_str(V)
    }
}

// ----- the signature block -----

struct BlockSeed<'a> {
    failure: &'a Cell<Option<crate::Error>>,
}

impl<'de> DeserializeSeed<'de> for BlockSeed<'_> {
    type Value = SignatureBlock;
    fn deserialize<D: Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<SignatureBlock, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for BlockSeed<'_> {
    type Value = SignatureBlock;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the signature object")
    }

    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<SignatureBlock, A::Error> {
        let mut block = SignatureBlock::default();
        // Seen, not merely set: `{"token": null, "token": "x"}` is a duplicate too.
        let mut seen = [false; 4];
        while let Some(key) = map.next_key::<Key>()? {
            let (slot, field, i) = match key {
                Key::Timestamp => (&mut block.timestamp, "timestamp", 0),
                Key::Token => (&mut block.token, "token", 1),
                Key::Signature => (&mut block.signature, "signature", 2),
                Key::Parent => (&mut block.parent, "parent-signature", 3),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            if seen.get_mut(i).is_some_and(|s| std::mem::replace(s, true)) {
                return Err(fail(self.failure, ErrorKind::DuplicateField { field }));
            }
            *slot = map.next_value_seed(FieldSeed {
                failure: self.failure,
                field,
            })?;
        }
        Ok(block)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(
        self,
        _: A,
    ) -> std::result::Result<SignatureBlock, A::Error> {
        Err(self.not_object())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> std::result::Result<SignatureBlock, E> {
        Err(self.not_object())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> std::result::Result<SignatureBlock, E> {
        Err(self.not_object())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> std::result::Result<SignatureBlock, E> {
        Err(self.not_object())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> std::result::Result<SignatureBlock, E> {
        Err(self.not_object())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<SignatureBlock, E> {
        Err(self.not_object())
    }
    fn visit_unit<E: de::Error>(self) -> std::result::Result<SignatureBlock, E> {
        Err(fail(
            self.failure,
            ErrorKind::MissingField { field: "signature" },
        ))
    }
}

impl BlockSeed<'_> {
    fn not_object<E: de::Error>(&self) -> E {
        fail(
            self.failure,
            ErrorKind::Malformed {
                what: "`signature` is not an object".into(),
            },
        )
    }
}

/// One signature field: a string, or an integer written as a number (its exact text, which is
/// what Mailgun signed). `null` counts as absent.
struct FieldSeed<'a> {
    failure: &'a Cell<Option<crate::Error>>,
    field: &'static str,
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Option<String>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed<'_> {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Option<String>, E> {
        Ok(Some(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<Option<String>, E> {
        Ok(Some(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Option<String>, E> {
        // A JSON integer has no leading zeros or sign, so its text is exactly this.
        Ok(Some(v.to_string()))
    }
    fn visit_unit<E: de::Error>(self) -> std::result::Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> std::result::Result<Option<String>, E> {
        Err(self.bad())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> std::result::Result<Option<String>, E> {
        Err(self.bad())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<Option<String>, E> {
        Err(self.bad())
    }
    fn visit_seq<A: de::SeqAccess<'de>>(
        self,
        _: A,
    ) -> std::result::Result<Option<String>, A::Error> {
        Err(self.bad())
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> std::result::Result<Option<String>, A::Error> {
        Err(self.bad())
    }
}

impl FieldSeed<'_> {
    fn bad<E: de::Error>(&self) -> E {
        let kind = match self.field {
            "timestamp" => ErrorKind::BadTimestamp,
            "token" => ErrorKind::BadToken,
            _ => ErrorKind::BadSignatureFormat,
        };
        fail(self.failure, kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Payload;
    use crate::event::EventKind;
    use crate::verify::Unverified;

    /// The envelope pass then the typed parse, as `crate::parse` does.
    fn parse(body: &[u8], limits: &Limits) -> Result<Unverified<Payload>> {
        let (sig, data) = scan(body, limits)?;
        let e = event(data, &NodeBudget::new(limits.max_json_nodes()))?;
        Ok(Unverified::new(sig, crate::Format::Json, Payload::Event(e)))
    }

    fn parse_str(s: &str) -> Result<Unverified<Payload>> {
        parse(s.as_bytes(), &Limits::default())
    }

    fn err(s: &str) -> ErrorKind {
        parse_str(s).unwrap_err().into_kind()
    }

    const SIG: &str = r#""signature":{"timestamp":"1","token":"t","signature":"s"}"#;

    #[test]
    fn minimal() {
        let u = parse_str(&format!(
            r#"{{{SIG},"event-data":{{"event":"DELIVERED"}}}}"#
        ))
        .unwrap();
        assert_eq!(u.signature().timestamp(), "1");
        let Payload::Event(e) = u.into_payload_unverified() else {
            panic!()
        };
        assert_eq!(e.kind(), EventKind::Delivered);
    }

    #[test]
    fn numeric_timestamp_keeps_its_text() {
        let u = parse_str(
            r#"{"signature":{"timestamp":1700000000,"token":"t","signature":"s"},"event-data":{}}"#,
        )
        .unwrap();
        assert_eq!(u.signature().timestamp(), "1700000000");
        assert_eq!(
            err(r#"{"signature":{"timestamp":1.7e9,"token":"t","signature":"s"},"event-data":{}}"#),
            ErrorKind::BadTimestamp
        );
        assert_eq!(
            err(r#"{"signature":{"timestamp":-1,"token":"t","signature":"s"},"event-data":{}}"#),
            ErrorKind::BadTimestamp
        );
    }

    #[test]
    fn unknown_event_keeps_raw() {
        let u = parse_str(&format!(
            r#"{{"event-data":{{"event":"Exploded","x":[1]}},{SIG}}}"#
        ))
        .unwrap();
        match u.into_payload_unverified() {
            Payload::Event(Event::Unknown { name, raw, .. }) => {
                assert_eq!(name, "Exploded");
                assert_eq!(raw["x"][0], 1);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn structural_errors() {
        assert_eq!(
            err("[]"),
            ErrorKind::Malformed {
                what: "the JSON body is not an object".into()
            }
        );
        assert_eq!(
            err(r#"{"event-data":{}}"#),
            ErrorKind::MissingField { field: "signature" }
        );
        assert_eq!(
            err(&format!("{{{SIG}}}")),
            ErrorKind::MissingField {
                field: "event-data"
            }
        );
        assert_eq!(
            err(&format!(r#"{{{SIG},{SIG},"event-data":{{}}}}"#)),
            ErrorKind::DuplicateField { field: "signature" }
        );
        assert_eq!(
            err(r#"{"signature":{"token":"a","token":"b"},"event-data":{}}"#),
            ErrorKind::DuplicateField { field: "token" }
        );
        assert_eq!(
            err(r#"{"signature":{"timestamp":null,"timestamp":"1"},"event-data":{}}"#),
            ErrorKind::DuplicateField { field: "timestamp" }
        );
        assert_eq!(
            err(r#"{"signature":"x","event-data":{}}"#).to_string(),
            "malformed body: `signature` is not an object"
        );
        assert_eq!(
            err(&format!(r#"{{{SIG},"event-data":{{}}}} x"#)).to_string(),
            "malformed body: invalid JSON at line 1, column 77"
        );
    }

    #[test]
    fn event_data_must_be_an_object() {
        for ed in ["null", "[]", "\"delivered\"", "1", " [{}]"] {
            let body = format!(r#"{{{SIG},"event-data":{ed}}}"#);
            // The envelope pass does not look inside; the typed parse refuses it.
            assert!(scan(body.as_bytes(), &Limits::default()).is_ok());
            assert_eq!(
                err(&body),
                ErrorKind::Malformed {
                    what: "`event-data` is not an object".into()
                },
                "{ed}"
            );
        }
    }

    #[test]
    fn the_envelope_pass_does_not_decode_event_data() {
        // Deep user variables: the envelope is fine, the typed parse is over the node budget.
        let vars = format!("[{}]", vec!["[[[[0]]]]"; 3000].join(","));
        let body = format!(r#"{{{SIG},"event-data":{{"user-variables":{vars}}}}}"#);
        let (sig, data) = scan(body.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(sig.token(), "t");
        assert!(data.starts_with(b"{\"user-variables\""));
        assert_eq!(
            err(&body),
            ErrorKind::LimitExceeded {
                what: Limit::JsonNodes,
                limit: 8192
            }
        );
    }

    #[test]
    fn depth_limits() {
        // User variables are materialised, so serde_json's own limit applies there.
        let deep = format!(
            r#"{{{SIG},"event-data":{{"user-variables":{}{}}}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        assert_eq!(
            err(&deep),
            ErrorKind::LimitExceeded {
                what: Limit::JsonDepth,
                limit: 128
            }
        );
        let limits = Limits::default().json_depth(4);
        let nested = format!(r#"{{{SIG},"event-data":{{"a":{{"b":[["\"[[["]]}}}}}}"#);
        assert_eq!(
            parse(nested.as_bytes(), &limits).unwrap_err().into_kind(),
            ErrorKind::LimitExceeded {
                what: Limit::JsonDepth,
                limit: 4
            }
        );
        assert!(parse(nested.as_bytes(), &Limits::default().json_depth(5)).is_ok());
    }
}
