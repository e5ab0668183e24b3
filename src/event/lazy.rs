//! [`LazyEvent`]: a tracking event that keeps its body and decodes on access.

use std::fmt;
use std::sync::OnceLock;

use bytes::Bytes;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::data::lenient_time;
use super::json::{describe, event_from_json, not_an_object};
use super::{Event, EventKind, EventTime};
use crate::error::{PayloadKind, Result};
use crate::limits::NodeBudget;
use crate::parse::LegacyEvent;
use crate::parse::json::{Member, MemberName};

/// A tracking event that reads its fields from the body it came in, on access.
///
/// [`Event`] decodes every field of `event-data` up front: each string is allocated, each
/// nested object built, whether the handler reads it or not. A `LazyEvent` of a JSON body keeps
/// the request body (a shared [`Bytes`], not a copy) and, after the signature verified, reads
/// only the members a handler usually needs: the event's kind, id, recipient and timestamp,
/// borrowed from the body when they have no escapes. Everything else is decoded the first time
/// it is asked for ([`event`](Self::event)), once, into the same [`Event`] the eager path gives.
///
/// Use it as the payload type of an adapter's extractor when the handler reads a few fields,
/// or hands the body on (to a queue, say) rather than reading it:
///
/// ```
/// use mailgun_webhooks::{EventKind, LazyEvent, Verified};
///
/// fn handle(event: Verified<LazyEvent>) {
///     let event = event.payload();
///     if event.kind() == EventKind::Failed {
///         // The full decode, once, only for failures.
///         let reason = event.event().reason();
///         println!("{:?} failed: {reason:?}", event.recipient());
///     }
/// }
/// ```
///
/// A legacy form event (urlencoded or multipart) is kept as its decoded form fields: the same
/// accessors read its `event`, `recipient` and signed `timestamp` fields, and the JSON inside
/// its fields (`message-headers`, the custom variables) is decoded by [`event`](Self::event).
///
/// # Differences from the eager path
///
/// - The node budget ([`Limits::json_nodes`](crate::Limits::json_nodes)) is charged when the
///   event is made, as for [`Event`], so an oversized `event-data` is refused (413) before the
///   handler runs; an `event-data` that is not an object is refused (400) too.
/// - A member that appears twice is not an error: the last one wins. The eager typed parse
///   refuses such a body as malformed (400); here it would only be found after the delivery
///   was accepted, so the lenient reading is the only one that cannot lose a delivery.
/// - So is a value serde_json checks only when it decodes it, not when the envelope pass skips
///   it: a lone surrogate escape (`"\udead"`), a number out of `f64`'s range. The eager parse
///   refuses the body (400); here [`event`](Self::event) gives the event with the kind, id,
///   recipient and timestamp read up front, and nothing else.
/// - An event of a kind this crate does not know is decoded up front (it keeps its raw
///   object, which is charged to the budget as well, as for [`Event::Unknown`]). So is a
///   legacy form event whose JSON could exceed the node budget: a bound of its cost is
///   checked (the exact count needs the decode), and over it the event is decoded before the
///   handler runs, so that it is refused if it is over.
#[derive(Clone)]
pub struct LazyEvent {
    repr: Repr,
}

#[derive(Clone)]
enum Repr {
    /// A JSON `event-data` object of a known kind, kept as its exact text.
    Json(Box<JsonEvent>),
    /// A legacy form event of a known kind, kept as its fields.
    Form(Box<FormEvent>),
    /// Decoded up front (unknown kinds; legacy form events whose JSON could exceed the budget).
    Decoded(Event),
}

#[derive(Clone)]
struct JsonEvent {
    /// The exact text of `event-data` (a slice of the request body when it was held as
    /// `Bytes`).
    text: Bytes,
    kind: EventKind,
    id: Option<Text>,
    recipient: Option<Text>,
    timestamp: Option<EventTime>,
    /// The node budget the text was charged to, for the full decode.
    nodes: u64,
    /// The full decode, made on first access.
    full: OnceLock<Event>,
}

#[derive(Clone)]
struct FormEvent {
    fields: LegacyEvent,
    /// The full decode, made on first access.
    full: OnceLock<Event>,
}

/// A string member: a range of the text when it had no escapes, else decoded.
#[derive(Clone)]
enum Text {
    Span(usize, usize),
    Decoded(Box<str>),
}

/// The kind and the length only: an event holds personal data.
impl fmt::Debug for LazyEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("LazyEvent");
        d.field("kind", &self.kind());
        match &self.repr {
            Repr::Json(json) => d.field("event_data_len", &json.text.len()),
            Repr::Form(form) => d.field("form_fields", &form.fields.summary()),
            Repr::Decoded(_) => d.field("decoded", &true),
        };
        d.finish()
    }
}

impl LazyEvent {
    /// Reads the members a handler usually needs from the exact text of an `event-data`
    /// object, after the signature verified. `text` is charged to a node budget of `nodes`,
    /// as the eager typed parse charges it.
    ///
    /// `spans`, when the envelope pass found them, say where those members' values are, and
    /// the text is not read again; else (an `event-data` the envelope pass could not place in
    /// the body, which is rare) serde_json reads its top level once more.
    pub(crate) fn from_json(
        text: Bytes,
        spans: Option<MemberSpans>,
        nodes: u64,
    ) -> Result<LazyEvent> {
        let budget = NodeBudget::new(nodes);
        not_an_object(&text, "`event-data` is not an object")?;
        budget.charge_or_defer(&text)?;
        let members = match spans.and_then(|spans| Members::at(&text, spans)) {
            Some(members) => members,
            None => Members::parse(&text)?,
        };
        let kind = members
            .event
            .as_ref()
            .and_then(|name| EventKind::from_name(text_str(&text, name)));
        let Some(kind) = kind else {
            // Unknown kinds keep their raw object: decode them as the eager path does, under
            // a budget of their own.
            let event = event_from_json(
                &text,
                &NodeBudget::new(nodes),
                "`event-data` is not an object",
            )?;
            return Ok(LazyEvent::from(event));
        };
        Ok(LazyEvent {
            repr: Repr::Json(Box::new(JsonEvent {
                kind,
                id: members.id,
                recipient: members.recipient,
                timestamp: members.timestamp,
                nodes,
                full: OnceLock::new(),
                text,
            })),
        })
    }

    /// A verified legacy form event, kept as its fields.
    pub(crate) fn from_form(fields: LegacyEvent) -> LazyEvent {
        LazyEvent {
            repr: Repr::Form(Box::new(FormEvent {
                fields,
                full: OnceLock::new(),
            })),
        }
    }

    /// The event's kind.
    pub fn kind(&self) -> EventKind {
        match &self.repr {
            Repr::Json(json) => json.kind,
            Repr::Form(form) => form.fields.kind(),
            Repr::Decoded(event) => event.kind(),
        }
    }

    /// The event's name: the kind's name, or an unknown event's name as sent.
    pub fn name(&self) -> &str {
        match &self.repr {
            Repr::Json(json) => json.kind.as_str(),
            Repr::Form(form) => form.fields.kind().as_str(),
            Repr::Decoded(event) => event.name(),
        }
    }

    /// The event's id (see [`EventData::id`](crate::EventData::id)).
    pub fn id(&self) -> Option<&str> {
        match &self.repr {
            Repr::Json(json) => json.id.as_ref().map(|t| json.str(t)),
            // Legacy events have no id.
            Repr::Form(_) => None,
            Repr::Decoded(event) => event.id(),
        }
    }

    /// The recipient's address.
    pub fn recipient(&self) -> Option<&str> {
        match &self.repr {
            Repr::Json(json) => json.recipient.as_ref().map(|t| json.str(t)),
            Repr::Form(form) => form.fields.recipient(),
            Repr::Decoded(event) => event.recipient(),
        }
    }

    /// When the event happened.
    pub fn timestamp(&self) -> Option<EventTime> {
        match &self.repr {
            Repr::Json(json) => json.timestamp,
            Repr::Form(form) => form.fields.timestamp(),
            Repr::Decoded(event) => event.timestamp(),
        }
    }

    /// The whole event, decoded on first access (then kept): every field, as
    /// [`Event`] has them.
    pub fn event(&self) -> &Event {
        match &self.repr {
            Repr::Json(json) => json.full.get_or_init(|| json.decode()),
            Repr::Form(form) => form.full.get_or_init(|| form.fields.to_event()),
            Repr::Decoded(event) => event,
        }
    }

    /// The whole event, owned (`'static`, to keep or queue), decoded if it was not yet.
    pub fn into_event(self) -> Event {
        match self.repr {
            Repr::Json(mut json) => match json.full.take() {
                Some(event) => event,
                None => json.decode(),
            },
            Repr::Form(form) => {
                let form = *form;
                match form.full.into_inner() {
                    Some(event) => event,
                    None => form.fields.into_event(),
                }
            }
            Repr::Decoded(event) => event,
        }
    }

    /// The exact text of the `event-data` object, for a JSON event; `None` for a legacy form
    /// event or an unknown kind.
    pub fn json(&self) -> Option<&[u8]> {
        match &self.repr {
            Repr::Json(json) => Some(&json.text),
            Repr::Form(_) | Repr::Decoded(_) => None,
        }
    }

    /// What it is, for logs and metrics.
    pub(crate) fn kinds(&self) -> (PayloadKind, Option<EventKind>) {
        (PayloadKind::Event, Some(self.kind()))
    }
}

impl From<Event> for LazyEvent {
    /// An event already decoded: the accessors read it.
    fn from(event: Event) -> Self {
        LazyEvent {
            repr: Repr::Decoded(event),
        }
    }
}

impl From<LazyEvent> for Event {
    fn from(event: LazyEvent) -> Self {
        event.into_event()
    }
}

impl JsonEvent {
    fn str<'a>(&'a self, text: &'a Text) -> &'a str {
        text_str(&self.text, text)
    }

    /// The full decode of a text [`LazyEvent::from_json`] accepted, as the eager typed parse
    /// gives it. The budget cannot refuse it: it is the same text charged to a fresh budget of
    /// the same size, which fitted before. What else the typed parse refuses:
    ///
    /// - a repeated member: the value tree keeps the last one, as the accessors do, and reading
    ///   the typed fields from it cannot fail;
    /// - what serde_json checks only when it decodes a value, not when it skips it (the
    ///   envelope pass skips): a lone surrogate escape (`"\udead"`), a number out of `f64`'s
    ///   range. No tree can be read then, and the event keeps the members read up front (its
    ///   kind, id, recipient and timestamp), so that it still agrees with its accessors.
    fn decode(&self) -> Event {
        if let Ok(event) = event_from_json(
            &self.text,
            &NodeBudget::new(self.nodes),
            "`event-data` is not an object",
        ) {
            return event;
        }
        let tree = serde_json::from_slice::<serde_json::Value>(&self.text).ok();
        let data = match tree {
            Some(raw) => crate::lenient::object::<_, super::EventData>(&raw)
                .ok()
                .flatten()
                .unwrap_or_default(),
            None => super::EventData {
                event: Some(self.kind.as_str().to_owned()),
                id: self.id.as_ref().map(|t| self.str(t).to_owned()),
                recipient: self.recipient.as_ref().map(|t| self.str(t).to_owned()),
                timestamp: self.timestamp,
                ..super::EventData::default()
            },
        };
        Event::from_kind(self.kind, data)
    }
}

fn text_str<'t>(body: &'t [u8], text: &'t Text) -> &'t str {
    match text {
        Text::Span(start, end) => body
            .get(*start..*end)
            .and_then(|s| std::str::from_utf8(s).ok())
            .unwrap_or_default(),
        Text::Decoded(s) => s,
    }
}

/// The members read up front: one pass over the top level of `event-data`, skipping every
/// other member's value without decoding it.
#[derive(Default)]
struct Members {
    event: Option<Text>,
    id: Option<Text>,
    recipient: Option<Text>,
    timestamp: Option<EventTime>,
}

/// Where the values of the members a [`LazyEvent`] reads up front are in the text of
/// `event-data` (start and end of each value's exact text), as the envelope pass found them;
/// the last of a repeated member.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct MemberSpans {
    pub(crate) event: Option<(usize, usize)>,
    pub(crate) id: Option<(usize, usize)>,
    pub(crate) recipient: Option<(usize, usize)>,
    pub(crate) timestamp: Option<(usize, usize)>,
}

impl Members {
    /// The members' values decoded from where `spans` says they are; `None` if a span is not
    /// a value of the text (which cannot happen for spans the envelope pass found in it).
    fn at(text: &[u8], spans: MemberSpans) -> Option<Members> {
        let base = Base::of(text);
        let value = |span: Option<(usize, usize)>| match span {
            Some((a, b)) => text.get(a..b).map(Some),
            None => Some(None),
        };
        let str = |span| -> Option<Option<Text>> {
            match value(span)? {
                Some(v) => decode(v, StrSeed { base }),
                None => Some(None),
            }
        };
        Some(Members {
            event: str(spans.event)?,
            id: str(spans.id)?,
            recipient: str(spans.recipient)?,
            timestamp: match value(spans.timestamp)? {
                Some(v) => decode(v, TimeSeed)?,
                None => None,
            },
        })
    }

    /// The members, read by serde_json: one pass over the top level, skipping every other
    /// member's value without decoding it.
    fn parse(text: &[u8]) -> Result<Members> {
        let mut de = serde_json::Deserializer::from_slice(text);
        let members = de
            .deserialize_map(MembersV {
                base: Base::of(text),
            })
            .and_then(|m| de.end().map(|()| m))
            .map_err(|e| describe(&e))?;
        Ok(members)
    }
}

/// Decodes one member's value (its exact text) with `seed`; `None` if serde_json refuses it,
/// which cannot happen for a value of a document it accepted.
fn decode<'de, S: DeserializeSeed<'de>>(value: &'de [u8], seed: S) -> Option<S::Value> {
    let mut de = serde_json::Deserializer::from_slice(value);
    let v = seed.deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(v)
}

/// Where the text starts in memory, to turn a borrowed string into a range of it.
#[derive(Clone, Copy)]
struct Base {
    start: usize,
    len: usize,
}

impl Base {
    fn of(text: &[u8]) -> Base {
        Base {
            start: text.as_ptr() as usize,
            len: text.len(),
        }
    }

    /// The range of `s` in the text, when `s` is a slice of it (serde_json borrows strings
    /// without escapes from its input).
    fn span(self, s: &str) -> Option<Text> {
        let start = (s.as_ptr() as usize).checked_sub(self.start)?;
        let end = start.checked_add(s.len())?;
        (end <= self.len).then_some(Text::Span(start, end))
    }
}

struct MembersV {
    base: Base,
}

impl<'de> Visitor<'de> for MembersV {
    type Value = Members;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Members, A::Error> {
        let mut m = Members::default();
        // Names as the typed parse reads them (escapes resolved).
        while let Some(name) = map.next_key::<MemberName<'de>>()? {
            let base = self.base;
            match name.member {
                Some(Member::Event) => m.event = map.next_value_seed(StrSeed { base })?,
                Some(Member::Id) => m.id = map.next_value_seed(StrSeed { base })?,
                Some(Member::Recipient) => m.recipient = map.next_value_seed(StrSeed { base })?,
                Some(Member::Timestamp) => m.timestamp = map.next_value_seed(TimeSeed)?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(m)
    }
}

/// A lenient string (as [`crate::lenient::string`]: numbers and booleans become their text,
/// anything else is absent), borrowed from the text when it can be.
struct StrSeed {
    base: Base,
}

impl<'de> DeserializeSeed<'de> for StrSeed {
    type Value = Option<Text>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrSeed {
    type Value = Option<Text>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> std::result::Result<Self::Value, E> {
        Ok(Some(
            self.base.span(v).unwrap_or_else(|| Text::Decoded(v.into())),
        ))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
        Ok(Some(Text::Decoded(v.into())))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Self::Value, E> {
        Ok(Some(Text::Decoded(v.to_string().into())))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Self::Value, E> {
        Ok(Some(Text::Decoded(v.to_string().into())))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Self::Value, E> {
        Ok(Some(Text::Decoded(v.to_string().into())))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<Self::Value, E> {
        Ok(Some(Text::Decoded(v.to_string().into())))
    }
    fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

/// The event's timestamp, read as the typed parse reads it.
struct TimeSeed;

impl<'de> DeserializeSeed<'de> for TimeSeed {
    type Value = Option<EventTime>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        lenient_time(d)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// What a reading of the members gives, resolved against the text.
    fn seen(text: &[u8], m: &Members) -> [Option<String>; 4] {
        let s = |t: &Option<Text>| t.as_ref().map(|t| text_str(text, t).to_owned());
        [
            s(&m.event),
            s(&m.id),
            s(&m.recipient),
            m.timestamp.map(|t| format!("{t:?}")),
        ]
    }

    fn leaf() -> impl Strategy<Value = serde_json::Value> {
        prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            (0.0f64..2e9).prop_map(serde_json::Value::from),
            "[a-z\"\\\\{}\\[\\],: é\u{1F600}\n]{0,12}".prop_map(serde_json::Value::from),
        ]
    }

    fn value() -> impl Strategy<Value = serde_json::Value> {
        leaf().prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::from),
                prop::collection::vec((key(), inner), 0..5).prop_map(|members| {
                    serde_json::Value::Object(members.into_iter().collect())
                }),
            ]
        })
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("event".to_owned()),
            Just("id".to_owned()),
            Just("recipient".to_owned()),
            Just("timestamp".to_owned()),
            "[a-z\"\\\\ ]{0,8}",
        ]
    }

    proptest! {
        /// The members the envelope pass finds read as serde_json reads the placed text.
        #[test]
        fn members_found_by_the_envelope_read_as_serde_reads_them(
            members in prop::collection::vec((key(), value()), 1..8),
            pretty in any::<bool>(),
        ) {
            let object = serde_json::Value::Object(members.into_iter().collect());
            let envelope = serde_json::json!({
                "signature": {"timestamp": "1", "token": "t", "signature": "s"},
                "event-data": object,
            });
            let body = if pretty {
                serde_json::to_vec_pretty(&envelope).unwrap()
            } else {
                serde_json::to_vec(&envelope).unwrap()
            };
            let (_, data) = crate::parse::json::scan(&body, &crate::Limits::default()).unwrap();
            let parsed = Members::parse(data.text).unwrap();
            // Placed whenever the first member name has no escape.
            if let Some(spans) = data.members {
                let found = Members::at(data.text, spans).unwrap();
                prop_assert_eq!(seen(data.text, &found), seen(data.text, &parsed));
            }
        }
    }
}
