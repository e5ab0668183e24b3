//! The typed parse of an `event-data` object into an [`Event`]: after verification for a
//! webhook body, or directly for [`Event::from_json`].

use std::cell::Cell;

use serde::de::{self, DeserializeSeed, Deserializer};

use super::{Event, EventData, EventKind, UnknownData};
use crate::error::{Error, ErrorKind, Limit, Result};
use crate::limits::{Limits, NodeBudget};

/// serde_json's fixed recursion limit.
pub(crate) const SERDE_JSON_DEPTH: u32 = 128;

/// [`Event::from_json`]: a bare `event-data` object, under the default limits.
pub(crate) fn parse_event_data(body: &[u8]) -> Result<Event> {
    let limits = Limits::default();
    if u64::try_from(body.len()).map_or(true, |n| n > limits.max_json_body()) {
        return Err(ErrorKind::LimitExceeded {
            what: Limit::JsonBody,
            limit: limits.max_json_body(),
        }
        .into());
    }
    event_from_json(
        body,
        &NodeBudget::new(limits.max_json_nodes()),
        "the JSON body is not an object",
    )
}

/// Parses an `event-data` object (its exact text) into an event, charging it to `budget`
/// first. Anything but an object is malformed (`not_object` says what). `budget` must be
/// this event's own: when its cost is known to fit, the exact count is skipped
/// ([`NodeBudget::charge_or_defer`]) and the budget is not lowered by it.
pub(crate) fn event_from_json(
    json: &[u8],
    budget: &NodeBudget,
    not_object: &'static str,
) -> Result<Event> {
    not_an_object(json, not_object)?;
    // One counting pass at most: when the quick bound shows the text fits, the exact count
    // is owed only if a second charge follows (an unknown event's raw copy, below). The
    // budget is this event's own (every caller makes a fresh one), so nothing else observes
    // it in between.
    let owed = budget.charge_or_defer(json)?;
    let data = typed(json)?;
    if let Some(kind) = EventKind::from_name(data.event.as_deref().unwrap_or_default()) {
        return Ok(Event::from_kind(kind, data));
    }
    // An unknown event keeps its raw object, charged to the budget as well; its typed common
    // fields are read from that object on first access (`Event::data`), so that parsing never
    // holds the event twice.
    // The block drops every other typed field before the raw value is read.
    let lowercased = {
        let data = data;
        data.event
    };
    if owed {
        // The deferred first charge (it cannot fail: the bound showed it fits).
        budget.charge(json)?;
    }
    budget.charge(json)?;
    let raw = serde_json::from_slice(json).unwrap_or(serde_json::Value::Null);
    Ok(unknown(lowercased, raw))
}

/// Refuses a text that is not a JSON object: a syntax error as such (serde_json says where), a
/// valid non-object as malformed (`not_object` says what).
pub(crate) fn not_an_object(json: &[u8], not_object: &'static str) -> Result<()> {
    let start = json.iter().position(|c| !c.is_ascii_whitespace());
    if start.and_then(|i| json.get(i)) == Some(&b'{') {
        return Ok(());
    }
    if let Err(e) = serde_json::from_slice::<de::IgnoredAny>(json) {
        return Err(describe(&e));
    }
    Err(ErrorKind::Malformed {
        what: not_object.into(),
    }
    .into())
}

/// The typed fields of an `event-data` object.
fn typed(json: &[u8]) -> Result<EventData> {
    let failure = Cell::new(None);
    let mut de = serde_json::Deserializer::from_slice(json);
    EventDataSeed { failure: &failure }
        .deserialize(&mut de)
        .and_then(|d| de.end().map(|()| d))
        .map_err(|e| failure.take().unwrap_or_else(|| describe(&e)))
}

/// A top-level `event-data` object: anything else is malformed.
struct EventDataSeed<'a> {
    failure: &'a Cell<Option<Error>>,
}

impl<'de> DeserializeSeed<'de> for EventDataSeed<'_> {
    type Value = EventData;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<EventData, D::Error> {
        match crate::lenient::object(d)? {
            Some(data) => Ok(data),
            None => {
                self.failure.set(Some(
                    ErrorKind::Malformed {
                        what: "the JSON body is not an object".into(),
                    }
                    .into(),
                ));
                Err(de::Error::custom("rejected"))
            }
        }
    }
}

/// An unknown event: its raw object and its name as sent (`lowercased` is the typed parse's
/// reading of it, used when the raw object has none).
fn unknown(lowercased: Option<String>, raw: serde_json::Value) -> Event {
    let name = raw
        .get("event")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .or(lowercased)
        .unwrap_or_default();
    Event::Unknown {
        name,
        raw,
        data: UnknownData::lazy(),
    }
}

/// A safe description of a serde_json error: its category and position, never its message
/// (which can quote the body).
pub(crate) fn describe(e: &serde_json::Error) -> Error {
    use serde_json::error::Category;
    if e.to_string().starts_with("recursion limit exceeded") {
        return ErrorKind::LimitExceeded {
            what: Limit::JsonDepth,
            limit: u64::from(SERDE_JSON_DEPTH),
        }
        .into();
    }
    let what = match e.classify() {
        Category::Eof => format!("JSON ends early (line {}, column {})", e.line(), e.column()),
        Category::Syntax => format!("invalid JSON at line {}, column {}", e.line(), e.column()),
        Category::Data => format!(
            "unexpected JSON value at line {}, column {}",
            e.line(),
            e.column()
        ),
        Category::Io => "I/O error while reading JSON".to_owned(),
    };
    ErrorKind::Malformed { what: what.into() }.into()
}
