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
use crate::limits::NodeBudget;

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
    b.data.timestamp = EventTime::parse_decimal(timestamp);
    let name = b.name.take().unwrap_or_default();
    Ok(match legacy_kind(&name) {
        Some(kind) => {
            let mut data = b.finish(kind, &name, budget)?;
            data.fields = fields;
            data.attachments = files;
            Event::from_kind(kind, data)
        }
        None => {
            let raw = raw_object(&fields);
            let mut data = b.finish(EventKind::Unknown, &name, budget)?;
            data.fields = fields;
            data.attachments = files;
            Event::Unknown {
                name,
                raw,
                data: crate::event::UnknownData::ready(Box::new(data)),
            }
        }
    })
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
