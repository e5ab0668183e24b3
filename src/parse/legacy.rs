//! Legacy (pre-2018) tracking webhooks: form fields mapped onto [`EventData`].
//!
//! | legacy field | where it goes |
//! |---|---|
//! | `event` | the [`Event`] variant; `dropped` and `bounced` become [`Event::Failed`] with a permanent severity, and [`EventData::event`] keeps the legacy name |
//! | `recipient`, `ip`, `url` | the fields of the same name |
//! | `domain` | `domain.name` |
//! | `timestamp` (the signed one) | `timestamp` |
//! | `message-headers` | `message.headers.all`, plus `to`, `from`, `subject`, `message_id` |
//! | `Message-Id`, `message-id` | `message.headers.message_id`, without angle brackets |
//! | `reason` | `reason` (`bounced` always gets `"bounce"`) |
//! | `code`, `error`, `description` | `delivery_status.code`, `.message`, `.description` |
//! | `tag`, `X-Mailgun-Tag` (repeated) | `tags`, in order |
//! | `campaign-id`, `campaign-name`, `mailing-list` | `campaigns`, `mailing_list.address` |
//! | `country`, `region`, `city` | `geolocation` |
//! | `client-name`, `client-type`, `client-os`, `device-type`, `user-agent` | `client_info` |
//! | `X-Mailgun-Variables` (field or header) | `user_variables`, JSON types kept |
//! | any other field | `user_variables`, as a string ("custom variables") |
//! | file parts (`attachment-1`: `message.mime`) | `attachments` |
//!
//! `notification`, `h`, `body-plain`, `attachment-count` and `X-Mailgun-Sid` are known fields
//! without a typed place. Every field stays in [`EventData::fields`], in order.
//!
//! Custom variables: the top-level fields are read first, then `X-Mailgun-Variables` from
//! `message-headers`, then an `X-Mailgun-Variables` field; a later source replaces a variable
//! of the same name (the JSON sources keep numbers and objects, the fields are all strings).
//! A second occurrence of a known field is a custom variable that collided with it, since
//! Mailgun's own value comes first (last for the signature fields).

use serde_json::{Map, Value};

use crate::error::Result;
use crate::event::{
    Campaign, ClientInfo, DeliveryCode, DeliveryStatus, Event, EventData, EventKind, EventTime,
    Geolocation, MailingList, Message, MessageHeaders, NameObject, Severity, UserVariables,
    strip_angle_brackets,
};
use crate::inbound::Attachment;
use crate::limits::{NodeBudget, OBJECT_COST, json_cost_bound};

use super::fields::Fields;
use super::form_json;

/// Builds the event. `signed` holds the indices in `fields` of the signature fields that
/// were used (their other occurrences are custom variables); `timestamp` is the signed one.
pub(super) fn event(
    fields: Vec<(String, String)>,
    files: Vec<Attachment>,
    signed: &[usize],
    timestamp: &str,
    budget: &NodeBudget,
) -> Result<Event> {
    let (name, data) = typed(&fields, signed, EventTime::parse_decimal(timestamp), budget)?;
    Ok(assemble(name, data, fields, files))
}

/// The event's name as sent, and its typed fields (all but `fields` and `attachments`).
fn typed(
    fields: &[(String, String)],
    signed: &[usize],
    timestamp: Option<EventTime>,
    budget: &NodeBudget,
) -> Result<(String, EventData)> {
    let mut b = Builder::default();
    let mut seen = 0u64;
    for (i, (name, value)) in fields.iter().enumerate() {
        match Known::of(name) {
            Some(Known::Signed) if signed.contains(&i) => {}
            Some(Known::Other) => {}
            Some(Known::Tag) => b.data.tags.push(value.clone()),
            Some(Known::Variables) => b.json_vars.push(value.clone()),
            Some(k) if k != Known::Signed && seen & k.bit() == 0 => {
                seen |= k.bit();
                b.set(k, value, budget)?;
            }
            _ => b.custom(name, value),
        }
    }
    b.data.timestamp = timestamp;
    let name = b.name.take().unwrap_or_default();
    let kind = legacy_kind(&name).unwrap_or(EventKind::Unknown);
    let data = b.finish(kind, &name, budget)?;
    Ok((name, data))
}

/// The event of a kind named `name`, with every field and file.
fn assemble(
    name: String,
    mut data: EventData,
    fields: Vec<(String, String)>,
    files: Vec<Attachment>,
) -> Event {
    let kind = legacy_kind(&name);
    let raw = match kind {
        Some(_) => Value::Null,
        None => raw_object(&fields),
    };
    data.fields = fields;
    data.attachments = files;
    match kind {
        Some(kind) => Event::from_kind(kind, data),
        None => Event::Unknown {
            name,
            raw,
            data: crate::event::UnknownData::ready(Box::new(data)),
        },
    }
}

/// A verified legacy tracking event kept as its form fields, for [`LazyEvent`]: its kind,
/// recipient and timestamp are read when it is made, everything else (the JSON of
/// `message-headers` and the custom variables, above all) by [`event`] on demand.
///
/// [`LazyEvent`]: crate::LazyEvent
#[derive(Clone)]
pub(crate) struct LegacyEvent {
    fields: Fields,
    /// The signed timestamp, read.
    timestamp: Option<EventTime>,
    kind: EventKind,
    /// Index in the fields of the first `recipient`.
    recipient: Option<usize>,
    /// The node budget [`event`] decodes under: what [`LegacyEvent::new`] checked it fits.
    nodes: u64,
}

impl LegacyEvent {
    /// Keeps `fields` undecoded when they are a legacy event of a known kind whose decode
    /// cannot go over a node budget of `nodes` (see [`charge_bound`]). Else gives them back: the
    /// caller decodes them now, so that an oversized event is refused before a handler runs,
    /// as the eager parse refuses it.
    pub(super) fn new(
        fields: Fields,
        timestamp: &str,
        nodes: u64,
    ) -> std::result::Result<LegacyEvent, Fields> {
        let kind = fields.first("event").and_then(legacy_kind);
        let (Some(kind), true) = (kind, fields.is_event()) else {
            return Err(fields);
        };
        if charge_bound(&fields.texts) > nodes {
            return Err(fields);
        }
        let recipient = fields.texts.iter().position(|(n, _)| n == "recipient");
        Ok(LegacyEvent {
            fields,
            timestamp: EventTime::parse_decimal(timestamp),
            kind,
            recipient,
            nodes,
        })
    }

    pub(crate) fn kind(&self) -> EventKind {
        self.kind
    }

    /// The first `recipient` field, as [`event`] reads it.
    pub(crate) fn recipient(&self) -> Option<&str> {
        let (_, value) = self.fields.texts.get(self.recipient?)?;
        Some(value)
    }

    pub(crate) fn timestamp(&self) -> Option<EventTime> {
        self.timestamp
    }

    /// How many text fields and files there are, for `Debug`.
    pub(crate) fn summary(&self) -> (usize, usize) {
        self.fields.summary()
    }

    /// The whole event, from a copy of the fields.
    pub(crate) fn to_event(&self) -> Event {
        self.clone().into_event()
    }

    /// The whole event, as the eager parse gives it.
    pub(crate) fn into_event(self) -> Event {
        let Fields { texts, files, used } = self.fields;
        let budget = NodeBudget::new(self.nodes);
        let (name, data) = typed(&texts, &used, self.timestamp, &budget).unwrap_or_else(|_| {
            // Not reached: `new` kept only fields whose charges fit the budget. Should it be,
            // the event keeps every field as sent, without the JSON inside them decoded.
            let first = |name: &str| texts.iter().find(|(n, _)| n == name).map(|(_, v)| v);
            let name = first("event").cloned().unwrap_or_default();
            let data = EventData {
                event: Some(name.to_ascii_lowercase()),
                recipient: first("recipient").cloned(),
                timestamp: self.timestamp,
                ..EventData::default()
            };
            (name, data)
        });
        assemble(name, data, texts, files)
    }
}

/// At least what [`event`] can charge to a node budget for `fields`, without decoding them.
///
/// [`event`] charges the first `message-headers`, every `X-Mailgun-Variables` field, and every
/// `X-Mailgun-Variables` header inside `message-headers` (its value decoded from the JSON
/// string, or rendered from a non-string value). [`json_cost_bound`] bounds the first two. A
/// header's value comes from a region of `message-headers` of its own, and every `{`, `[`, `,`
/// and `:` in it is one of that region's, or comes from a `\u` escape there (which decodes to
/// one character, so it is counted as the dearest, a `{`): decoding the other escapes and
/// rendering add only quotes, backslashes, `;`, `=` and spaces. So the headers cost at most the
/// bound of the whole text plus one per pair, and there are fewer pairs than `[`s: twice the
/// bound. Three times the bound of each `message-headers` covers the field and its headers
/// (one spare: a proptest checks the whole claim).
///
/// [`json_cost_bound`]: crate::limits::json_cost_bound
fn charge_bound(fields: &[(String, String)]) -> u64 {
    let mut total: u64 = 0;
    for (name, value) in fields {
        let cost = match Known::of(name) {
            Some(Known::MessageHeaders) => {
                let escapes = memchr::memmem::find_iter(value.as_bytes(), b"\\u").count();
                json_cost_bound(value.as_bytes())
                    .saturating_mul(3)
                    .saturating_add(
                        u64::try_from(escapes)
                            .unwrap_or(u64::MAX)
                            .saturating_mul(OBJECT_COST),
                    )
            }
            Some(Known::Variables) => json_cost_bound(value.as_bytes()),
            _ => 0,
        };
        total = total.saturating_add(cost);
    }
    total
}

/// Legacy names, then current ones (a form body may carry either).
fn legacy_kind(name: &str) -> Option<EventKind> {
    let legacy = [
        ("delivered", EventKind::Delivered),
        ("opened", EventKind::Opened),
        ("clicked", EventKind::Clicked),
        ("unsubscribed", EventKind::Unsubscribed),
        ("complained", EventKind::Complained),
        ("dropped", EventKind::Failed),
        ("bounced", EventKind::Failed),
    ];
    legacy
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, k)| *k)
        .or_else(|| EventKind::from_name(name))
}

/// An unknown event's fields as a JSON object, first value per name.
fn raw_object(fields: &[(String, String)]) -> Value {
    let mut map = Map::new();
    for (name, value) in fields {
        if !map.contains_key(name) {
            map.insert(name.clone(), Value::String(value.clone()));
        }
    }
    Value::Object(map)
}

/// The legacy fields with a typed place (or none), by the name Mailgun sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    Event,
    Recipient,
    Domain,
    MessageHeaders,
    MessageId,
    Reason,
    Code,
    Error,
    Description,
    CampaignId,
    CampaignName,
    MailingList,
    Ip,
    Country,
    Region,
    City,
    UserAgent,
    DeviceType,
    ClientType,
    ClientName,
    ClientOs,
    Url,
    /// Known, with no typed place.
    Other,
    /// `timestamp`, `token`, `signature`, `parent-signature`.
    Signed,
    /// `tag`, `X-Mailgun-Tag`: repeated.
    Tag,
    /// `X-Mailgun-Variables`.
    Variables,
}

impl Known {
    fn of(name: &str) -> Option<Known> {
        Some(match name {
            "event" => Known::Event,
            "recipient" => Known::Recipient,
            "domain" => Known::Domain,
            "message-headers" => Known::MessageHeaders,
            "Message-Id" | "message-id" => Known::MessageId,
            "reason" => Known::Reason,
            "code" => Known::Code,
            "error" => Known::Error,
            "description" => Known::Description,
            "campaign-id" => Known::CampaignId,
            "campaign-name" => Known::CampaignName,
            "mailing-list" => Known::MailingList,
            "ip" => Known::Ip,
            "country" => Known::Country,
            "region" => Known::Region,
            "city" => Known::City,
            "user-agent" => Known::UserAgent,
            "device-type" => Known::DeviceType,
            "client-type" => Known::ClientType,
            "client-name" => Known::ClientName,
            "client-os" => Known::ClientOs,
            "url" => Known::Url,
            "notification" | "h" | "body-plain" | "attachment-count" | "X-Mailgun-Sid" => {
                Known::Other
            }
            "timestamp" | "token" | "signature" | "parent-signature" => Known::Signed,
            "tag" | "X-Mailgun-Tag" => Known::Tag,
            "X-Mailgun-Variables" => Known::Variables,
            _ => return None,
        })
    }

    fn bit(self) -> u64 {
        1u64 << (self as u32)
    }
}

#[derive(Default)]
struct Builder {
    data: EventData,
    name: Option<String>,
    headers: Vec<(String, String)>,
    message_id: Option<String>,
    status: DeliveryStatus,
    campaign: Campaign,
    geo: Geolocation,
    client: ClientInfo,
    custom: UserVariables,
    json_vars: Vec<String>,
}

impl Builder {
    fn set(&mut self, field: Known, value: &str, budget: &NodeBudget) -> Result<()> {
        let v = || Some(value.to_owned());
        let d = &mut self.data;
        match field {
            Known::Event => {
                self.name = v();
                d.event = Some(value.to_ascii_lowercase());
            }
            Known::Recipient => d.recipient = v(),
            Known::Domain => d.domain = Some(NameObject { name: v() }),
            Known::MessageHeaders => self.headers = form_json::header_pairs(value, budget)?,
            Known::MessageId => self.message_id = Some(strip_angle_brackets(value).to_owned()),
            Known::Reason => d.reason = v(),
            Known::Code => {
                self.status.code =
                    (!value.trim().is_empty()).then(|| DeliveryCode::from_text(value));
            }
            Known::Error => self.status.message = v(),
            Known::Description => self.status.description = v(),
            Known::CampaignId => self.campaign.id = v(),
            Known::CampaignName => self.campaign.name = v(),
            Known::MailingList => {
                d.mailing_list = Some(MailingList {
                    address: v(),
                    ..MailingList::default()
                });
            }
            Known::Ip => d.ip = v(),
            Known::Country => self.geo.country = v(),
            Known::Region => self.geo.region = v(),
            Known::City => self.geo.city = v(),
            Known::UserAgent => self.client.user_agent = v(),
            Known::DeviceType => self.client.device_type = v(),
            Known::ClientType => self.client.client_type = v(),
            Known::ClientName => self.client.client_name = v(),
            Known::ClientOs => self.client.client_os = v(),
            Known::Url => d.url = v(),
            Known::Other | Known::Signed | Known::Tag | Known::Variables => {}
        }
        Ok(())
    }

    /// A custom variable; the first value of a name is kept.
    fn custom(&mut self, name: &str, value: &str) {
        if self.custom.get_raw(name).is_none() {
            self.custom.insert(name, Value::String(value.to_owned()));
        }
    }

    fn finish(mut self, kind: EventKind, name: &str, budget: &NodeBudget) -> Result<EventData> {
        if kind == EventKind::Failed && self.data.severity.is_none() {
            self.data.severity = Some(Severity::Permanent);
        }
        if name.eq_ignore_ascii_case("bounced") {
            self.data.reason = Some("bounce".to_owned());
        }
        let d = &mut self.data;
        if self.status != DeliveryStatus::default() {
            d.delivery_status = Some(self.status);
        }
        if self.campaign != Campaign::default() {
            d.campaigns.push(self.campaign);
        }
        if self.geo != Geolocation::default() {
            d.geolocation = Some(self.geo);
        }
        if self.client != ClientInfo::default() {
            d.client_info = Some(self.client);
        }
        let mut vars = self.custom;
        let header_vars = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("X-Mailgun-Variables"))
            .map(|(_, v)| v.as_str());
        for json in header_vars.chain(self.json_vars.iter().map(String::as_str)) {
            vars.extend(form_json::variables(json, budget)?.unwrap_or_default());
        }
        d.user_variables = vars;
        if !self.headers.is_empty() || self.message_id.is_some() {
            d.message = Some(Message {
                headers: Some(message_headers(self.headers, self.message_id)),
                ..Message::default()
            });
        }
        Ok(self.data)
    }
}

/// The selected headers, and all of them, from `message-headers`. A top-level `Message-Id`
/// field takes precedence over the header.
fn message_headers(all: Vec<(String, String)>, message_id: Option<String>) -> MessageHeaders {
    let first = |name: &str| {
        all.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    MessageHeaders {
        to: first("To"),
        from: first("From"),
        subject: first("Subject"),
        message_id: message_id
            .or_else(|| first("Message-Id").map(|id| strip_angle_brackets(&id).to_owned())),
        all,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(fields: &[(&str, &str)]) -> Event {
        let fields: Vec<(String, String)> = fields
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect();
        let ts = fields.iter().rposition(|(n, _)| n == "timestamp");
        let stamp = ts.map_or("", |i| fields[i].1.as_str()).to_owned();
        event(
            fields,
            Vec::new(),
            &ts.into_iter().collect::<Vec<_>>(),
            &stamp,
            &NodeBudget::new(1 << 20),
        )
        .unwrap()
    }

    #[test]
    fn bounced_is_a_permanent_failure() {
        let e = ev(&[
            ("event", "bounced"),
            ("code", "550"),
            ("error", "5.1.1 no such user"),
            ("notification", "n"),
            ("attachment-count", "1"),
            ("X-Mailgun-Sid", "sid"),
            ("body-plain", ""),
            ("Message-Id", "<a@b>"),
            ("timestamp", "1461261330"),
        ]);
        let Event::Failed(d) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(d.event.as_deref(), Some("bounced"));
        assert_eq!(d.severity, Some(Severity::Permanent));
        assert_eq!(d.reason.as_deref(), Some("bounce"));
        let s = d.delivery_status.as_ref().unwrap();
        assert_eq!(s.code, Some(DeliveryCode::Number(550)));
        assert_eq!(s.message.as_deref(), Some("5.1.1 no such user"));
        assert_eq!(e.message_id(), Some("a@b"));
        assert_eq!(d.timestamp, Some(EventTime::new(1_461_261_330, 0)));
        assert_eq!(d.fields.len(), 9);
        assert!(d.user_variables.is_empty(), "{:?}", d.user_variables);
    }

    #[test]
    fn dropped_keeps_its_reason_and_unknown_names_keep_raw() {
        let e = ev(&[
            ("event", "dropped"),
            ("reason", "hardfail"),
            ("code", "605"),
        ]);
        assert_eq!(e.kind(), EventKind::Failed);
        assert_eq!(e.reason(), Some("hardfail"));
        let e = ev(&[("event", "Exploded"), ("a", "1"), ("a", "2")]);
        let Event::Unknown { name, raw, .. } = e else {
            panic!()
        };
        assert_eq!(name, "Exploded");
        assert_eq!(raw["a"], "1");
    }

    #[test]
    fn collisions_become_variables_and_tags_repeat() {
        let e = ev(&[
            ("event", "clicked"),
            ("event", "metadata-event"),
            ("tag", "a"),
            ("X-Mailgun-Tag", "b"),
            ("my_var", "1"),
            ("my_var", "2"),
            ("timestamp", "user"),
            ("timestamp", "1"),
            ("X-Mailgun-Variables", r#"{"n": 5}"#),
        ]);
        let d = e.data().unwrap();
        assert_eq!(e.kind(), EventKind::Clicked);
        assert_eq!(d.tags, ["a", "b"]);
        let v = &d.user_variables;
        assert_eq!(v.get_str("event"), Some("metadata-event"));
        assert_eq!(v.get_str("my_var"), Some("1"));
        assert_eq!(v.get_str("timestamp"), Some("user"));
        assert_eq!(v.get::<u32>("n"), Some(5));
        assert_eq!(v.len(), 4);
    }

    mod bound {
        use super::super::{charge_bound, typed};
        use crate::limits::NodeBudget;
        use proptest::prelude::*;
        use serde_json::Value;

        fn text() -> impl Strategy<Value = String> {
            "[a-z{}\\[\\],:\"\\\\ =;/\n]{0,16}"
        }

        fn leaf() -> impl Strategy<Value = Value> {
            prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<f64>().prop_map(Value::from),
                text().prop_map(Value::from),
            ]
        }

        fn value() -> impl Strategy<Value = Value> {
            leaf().prop_recursive(3, 24, 5, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                    prop::collection::vec((text(), inner), 0..4)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        /// A `message-headers` element, as JSON text: mostly pairs, some named
        /// `X-Mailgun-Variables` (in any case), some with the `[value, {params}]` shape, some
        /// whose value is a string written with `\\u` escapes (of structure among others),
        /// some not pairs at all.
        fn element() -> impl Strategy<Value = String> {
            let name = prop_oneof![
                Just("X-Mailgun-Variables".to_owned()),
                Just("x-mailgun-VARIABLES".to_owned()),
                text(),
            ];
            let params = prop::collection::vec((text(), value()), 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect()));
            let escaped = prop::collection::vec(
                prop::sample::select(vec![
                    "\\u007b",
                    "\\u005B",
                    "\\u002c",
                    "\\u003a",
                    "\\u0022",
                    "\\u005c",
                    "\\ud83d\\ude00",
                    "\\\\u",
                    "\\\"",
                    "a",
                    "{",
                    ":",
                    " ",
                ]),
                0..12,
            )
            .prop_map(|parts| format!("\"{}\"", parts.concat()));
            prop_oneof![
                4 => (name.clone(), value()).prop_map(|(n, v)| serde_json::json!([n, v]).to_string()),
                2 => (name.clone(), text(), params)
                    .prop_map(|(n, main, p)| serde_json::json!([n, [main, p]]).to_string()),
                2 => (name, escaped).prop_map(|(n, v)| format!("[{},{v}]", Value::from(n))),
                1 => value().prop_map(|v| v.to_string()),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// What `typed` charges is never over `charge_bound`, whatever `message-headers`
            /// and the `X-Mailgun-Variables` fields hold.
            #[test]
            fn the_bound_covers_every_charge(
                headers in prop::collection::vec(element(), 0..8),
                vars in prop::collection::vec(value(), 0..3),
            ) {
                let mut fields = vec![
                    ("event".to_owned(), "delivered".to_owned()),
                    ("message-headers".to_owned(), format!("[{}]", headers.join(","))),
                ];
                fields.extend(vars.iter().map(|v| ("X-Mailgun-Variables".to_owned(), v.to_string())));
                let budget = NodeBudget::new(u64::MAX / 2);
                typed(&fields, &[], None, &budget).unwrap();
                let bound = charge_bound(&fields);
                prop_assert!(budget.spent() <= bound, "spent {} over bound {bound}", budget.spent());
            }
        }

        #[test]
        fn an_escape_is_counted_as_the_structure_it_could_be() {
            let headers = r#"[["X-Mailgun-Variables", "\u007b\u007b"]]"#;
            let fields = vec![("message-headers".to_owned(), headers.to_owned())];
            let budget = NodeBudget::new(u64::MAX / 2);
            typed(&fields, &[], None, &budget).unwrap();
            // The text's own structure (two `[`, a `,`) and the value's two `{`.
            assert_eq!(budget.spent(), 4 + 33);
            assert!(charge_bound(&fields) >= 4 + 33);
        }
    }

    #[test]
    fn headers_and_client_fields() {
        let e = ev(&[
            ("event", "opened"),
            (
                "message-headers",
                r#"[["To", "a@b"], ["Message-Id", "<x@y>"], ["X-Mailgun-Variables", "{\"k\": [1]}"]]"#,
            ),
            ("country", "US"),
            ("client-name", "Chrome"),
        ]);
        let d = e.data().unwrap();
        let h = d.message.as_ref().unwrap().headers.as_ref().unwrap();
        assert_eq!(h.to.as_deref(), Some("a@b"));
        assert_eq!(h.message_id.as_deref(), Some("x@y"));
        assert_eq!(h.all.len(), 3);
        assert_eq!(d.user_variables.get::<Vec<u8>>("k"), Some(vec![1]));
        assert_eq!(
            d.geolocation.as_ref().unwrap().country.as_deref(),
            Some("US")
        );
        assert_eq!(
            d.client_info.as_ref().unwrap().client_name.as_deref(),
            Some("Chrome")
        );
        assert!(d.delivery_status.is_none());
    }
}
