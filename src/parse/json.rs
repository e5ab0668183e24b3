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
use crate::event::json::{SERDE_JSON_DEPTH, describe};
use crate::event::{Event, MemberSpans};
use crate::limits::{Limits, NodeBudget};
use crate::verify::Signature;

/// The envelope pass over a JSON body: the signature block, and the exact text of
/// `event-data`, which is not decoded (serde_json checks its syntax without allocating).
pub(crate) fn scan<'a>(body: &'a [u8], limits: &Limits) -> Result<(Signature, EventDataText<'a>)> {
    let (what, max) = limits.json_max();
    if u64::try_from(body.len()).map_or(true, |n| n > max) {
        return Err(ErrorKind::LimitExceeded { what, limit: max }.into());
    }
    if limits.max_json_depth() < SERDE_JSON_DEPTH {
        check_depth(body, limits.max_json_depth())?;
    }

    let mut envelope = envelope(body, true)?;
    if envelope.event_data.is_none() && envelope.unplaced {
        // `event-data` could not be placed in the body from its members (it is not an
        // object, or its first member name has an escape): read the body again, keeping
        // `event-data` whole. Rare, and bounded by the body like the first pass.
        envelope = self::envelope(body, false)?;
    }

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
    Ok((signature, data))
}

/// The exact text of `event-data`, and where the members a [`LazyEvent`] reads up front are
/// in it (when the envelope pass found them: see [`MemberSpans`]).
pub(crate) struct EventDataText<'a> {
    pub(crate) text: &'a [u8],
    pub(crate) members: Option<MemberSpans>,
}

/// The envelope pass itself; `members` whether to read `event-data`'s members (and place it
/// from them) rather than keep it whole.
fn envelope(body: &[u8], members: bool) -> Result<Envelope<'_>> {
    let failure = Cell::new(None);
    let mut de = serde_json::Deserializer::from_slice(body);
    EnvelopeSeed {
        failure: &failure,
        body,
        members,
    }
    .deserialize(&mut de)
    .and_then(|env| de.end().map(|()| env))
    .map_err(|e| failure.take().unwrap_or_else(|| describe(&e)))
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
    event_data: Option<EventDataText<'a>>,
    /// `event-data` was read member by member but could not be placed in the body.
    unplaced: bool,
}

#[derive(Default)]
struct SignatureBlock {
    timestamp: Option<String>,
    token: Option<String>,
    signature: Option<String>,
    parent: Option<String>,
}

/// Visitors report typed failures through `failure`; serde only carries a placeholder.
struct EnvelopeSeed<'a, 'b> {
    failure: &'a Cell<Option<crate::Error>>,
    /// The whole body, to place `event-data` in it.
    body: &'b [u8],
    /// Read `event-data` member by member ([`MembersSeed`]) rather than keep it whole.
    members: bool,
}

fn fail<E: de::Error>(failure: &Cell<Option<crate::Error>>, kind: ErrorKind) -> E {
    failure.set(Some(kind.into()));
    E::custom("rejected")
}

impl<'de> DeserializeSeed<'de> for EnvelopeSeed<'_, 'de> {
    type Value = Envelope<'de>;
    fn deserialize<D: Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Envelope<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for EnvelopeSeed<'_, 'de> {
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
            unplaced: false,
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
                    if env.event_data.is_some() || env.unplaced {
                        return Err(fail(
                            self.failure,
                            ErrorKind::DuplicateField {
                                field: "event-data",
                            },
                        ));
                    }
                    if self.members {
                        match map.next_value_seed(MembersSeed { body: self.body })? {
                            Some(data) => env.event_data = Some(data),
                            None => env.unplaced = true,
                        }
                    } else {
                        let raw = map.next_value::<&'de RawValue>()?;
                        env.event_data = Some(EventDataText {
                            text: raw.get().as_bytes(),
                            members: None,
                        });
                    }
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

impl EnvelopeSeed<'_, '_> {
    fn not_object<E: de::Error>(&self) -> E {
        fail(
            self.failure,
            ErrorKind::Malformed {
                what: "the JSON body is not an object".into(),
            },
        )
    }
}

// ----- event-data, member by member -----

/// Reads `event-data` as an object, each member's value as its exact text (serde_json checks
/// it as it skips it, as it would the whole object), and places the object in the body: from
/// just before its first member name (whitespace, then `{`) to just after its last value
/// (whitespace, then `}`). Records where the members a [`LazyEvent`](crate::LazyEvent) reads
/// up front are, so that it need not read the text again; nothing is decoded.
///
/// `None` when it cannot place the object: not an object, no members, or a first member name
/// with an escape (serde_json then hands over a decoded copy, not a slice of the body).
struct MembersSeed<'b> {
    body: &'b [u8],
}

impl<'de> DeserializeSeed<'de> for MembersSeed<'de> {
    type Value = Option<EventDataText<'de>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

/// Where `inner` starts in `outer`, when it is a slice of it.
fn offset(outer: &[u8], inner: &[u8]) -> Option<usize> {
    let start = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)?;
    (start.checked_add(inner.len())? <= outer.len()).then_some(start)
}

impl<'de> Visitor<'de> for MembersSeed<'de> {
    type Value = Option<EventDataText<'de>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let body = self.body;
        let is_ws = |c: &u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r');
        // (name, value) positions in the body.
        let mut first_name: Option<usize> = None;
        let mut last_end: Option<usize> = None;
        let mut found: [Option<(usize, usize)>; 4] = [None; 4];
        let mut placeable = true;
        while let Some(name) = map.next_key::<MemberName<'de>>()? {
            let value = map.next_value::<&'de RawValue>()?;
            let at = offset(body, value.get().as_bytes());
            if first_name.is_none() && last_end.is_none() {
                match name.borrowed {
                    Some(n) => first_name = offset(body, n.as_bytes()),
                    None => placeable = false,
                }
            }
            let Some(at) = at else {
                placeable = false;
                continue;
            };
            let end = at.saturating_add(value.get().len());
            last_end = Some(end);
            if let Some(slot) = name.member.and_then(|m| found.get_mut(m as usize)) {
                *slot = Some((at, end));
            }
        }
        let (Some(name), Some(end), true) = (first_name, last_end, placeable) else {
            return Ok(None);
        };
        // Back from the first name's opening quote over whitespace to `{`; on from the last
        // value over whitespace to `}`.
        let before = body.get(..name.saturating_sub(1)).unwrap_or_default();
        let Some(open) = before.iter().rposition(|c| !is_ws(c)) else {
            return Ok(None);
        };
        let after = body.get(end..).unwrap_or_default();
        let Some(close) = after.iter().position(|c| !is_ws(c)).map(|i| end + i) else {
            return Ok(None);
        };
        if body.get(open) != Some(&b'{')
            || body.get(name.saturating_sub(1)) != Some(&b'"')
            || body.get(close) != Some(&b'}')
        {
            return Ok(None);
        }
        let Some(text) = body.get(open..=close) else {
            return Ok(None);
        };
        let rel = |span: Option<(usize, usize)>| {
            span.and_then(|(a, b)| Some((a.checked_sub(open)?, b.checked_sub(open)?)))
        };
        let [event, id, recipient, timestamp] = found.map(rel);
        Ok(Some(EventDataText {
            text,
            members: Some(MemberSpans {
                event,
                id,
                recipient,
                timestamp,
            }),
        }))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
}

/// A member name of `event-data`, read without allocating: where it is in the input (when it
/// has no escape), and which of the members a [`LazyEvent`](crate::LazyEvent) reads up front
/// it names (escapes resolved, as the typed parse reads names).
pub(crate) struct MemberName<'de> {
    pub(crate) borrowed: Option<&'de str>,
    pub(crate) member: Option<Member>,
}

/// The members a [`LazyEvent`](crate::LazyEvent) reads up front.
#[derive(Clone, Copy)]
pub(crate) enum Member {
    Event,
    Id,
    Recipient,
    Timestamp,
}

impl Member {
    fn named(name: &str) -> Option<Member> {
        match name {
            "event" => Some(Member::Event),
            "id" => Some(Member::Id),
            "recipient" => Some(Member::Recipient),
            "timestamp" => Some(Member::Timestamp),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for MemberName<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MemberName<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: de::Error>(
                self,
                v: &'de str,
            ) -> std::result::Result<Self::Value, E> {
                Ok(MemberName {
                    borrowed: Some(v),
                    member: Member::named(v),
                })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
                Ok(MemberName {
                    borrowed: None,
                    member: Member::named(v),
                })
            }
        }
        d.deserialize_str(V)
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
        let e = event(data.text, &NodeBudget::new(limits.max_json_nodes()))?;
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
        assert!(data.text.starts_with(b"{\"user-variables\""));
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

    /// `event-data` placed from its members is the text kept whole by the second reading,
    /// and the members found in it read as serde_json reads that text.
    #[test]
    fn event_data_placed_from_its_members() {
        let sig = r#""signature":{"timestamp":"1","token":"t","signature":"s"}"#;
        let cases = [
            // (event-data, whether it can be placed from its members)
            (
                r#"{"event":"delivered","id":"a","recipient":"r@x","timestamp":1.5}"#,
                true,
            ),
            (" {\n  \"id\" : 7 ,\t\"event\":\"opened\" \r\n} ", true),
            (
                r#"{"x":{"event":"no"},"event":"DELIVERED","id":"1","id":"2"}"#,
                true,
            ),
            (
                r#"{"message":{"headers":{"a":"}{"}},"tags":["]"],"event":"clicked"}"#,
                true,
            ),
            (r#"{"recipient":"al\u0069ce","event":"failed"}"#, true),
            (r#"{"\u0065vent":"opened","id":"x"}"#, false),
            ("{}", false),
            ("{ }", false),
            ("[1,2]", false),
            ("\"delivered\"", false),
            ("null", false),
        ];
        for (data, placed) in cases {
            for body in [
                format!("{{{sig},\"event-data\":{data}}}"),
                format!("{{ \"event-data\" :\n{data} , {sig} }}"),
                format!("{{\"a\":[{{}}],\"event-data\":{data},\"z\":{{\"event-data\":1}},{sig}}}"),
            ] {
                let (_, found) = scan(body.as_bytes(), &Limits::default()).unwrap();
                let whole = envelope(body.as_bytes(), false)
                    .unwrap()
                    .event_data
                    .unwrap();
                assert_eq!(found.text, whole.text, "{body}");
                assert_eq!(found.text, data.trim().as_bytes(), "{body}");
                assert_eq!(found.members.is_some(), placed, "{body}");
                if let Some(spans) = found.members {
                    let text = bytes::Bytes::copy_from_slice(found.text);
                    let a = crate::LazyEvent::from_json(text.clone(), Some(spans), 8192).unwrap();
                    let b = crate::LazyEvent::from_json(text, None, 8192).unwrap();
                    assert_eq!(
                        (a.kind(), a.id(), a.recipient(), a.timestamp()),
                        (b.kind(), b.id(), b.recipient(), b.timestamp()),
                        "{body}"
                    );
                }
            }
        }
    }
}
