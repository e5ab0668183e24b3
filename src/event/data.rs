//! The fields of a tracking event, all optional and all lenient.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

use super::user_variables::UserVariables;
use crate::inbound::Attachment;
use crate::lenient;

/// The fields of a tracking event (Mailgun's `event-data`).
///
/// Every field is optional: Mailgun omits fields per event kind, its dashboard test payloads
/// are trimmed, and new fields appear over time. A field whose value has an unexpected shape
/// is left empty rather than failing the delivery. Legacy form events are mapped onto the same
/// fields, and also keep every field as sent in [`fields`](Self::fields).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
#[non_exhaustive]
pub struct EventData {
    /// The event name, lowercased, as in the payload (`"failed"`, `"delivered"`, ...). For a
    /// legacy event it is the legacy name (`"bounced"`, `"dropped"`).
    #[serde(deserialize_with = "lenient::lowercase")]
    pub event: Option<String>,
    /// The event's id; unique only within a day, so not an idempotency key.
    #[serde(deserialize_with = "lenient::string")]
    pub id: Option<String>,
    /// When the event happened (not when it was posted), with microseconds.
    #[serde(deserialize_with = "lenient_time")]
    pub timestamp: Option<EventTime>,
    /// `info`, `warn` or `error`.
    #[serde(deserialize_with = "lenient::string")]
    pub log_level: Option<String>,
    /// The recipient's address. Absent for `rejected`.
    #[serde(deserialize_with = "lenient::string")]
    pub recipient: Option<String>,
    /// The recipient's domain.
    #[serde(deserialize_with = "lenient::string")]
    pub recipient_domain: Option<String>,
    /// The recipient's mailbox provider, when Mailgun knows it.
    #[serde(deserialize_with = "lenient::string")]
    pub recipient_provider: Option<String>,
    /// Tags of the message.
    #[serde(deserialize_with = "lenient::string_list")]
    pub tags: Vec<String>,
    /// Campaigns of the message (a legacy feature).
    #[serde(deserialize_with = "lenient::object_list")]
    pub campaigns: Vec<Campaign>,
    /// User variables of the message.
    pub user_variables: UserVariables,
    /// The message: headers, attachments, size.
    #[serde(deserialize_with = "lenient::object")]
    pub message: Option<Message>,
    /// Flags such as `is-test-mode` or `is-delayed-bounce`.
    #[serde(deserialize_with = "lenient::object")]
    pub flags: Option<Flags>,
    /// The SMTP envelope.
    #[serde(deserialize_with = "lenient::object")]
    pub envelope: Option<Envelope>,
    /// Where the message is stored, for retrieval.
    #[serde(deserialize_with = "lenient::object")]
    pub storage: Option<Storage>,
    /// How the message was submitted: `smtp` or `http` (sent in either case; lowercased).
    #[serde(deserialize_with = "lenient::lowercase")]
    pub method: Option<String>,
    /// The SMTP outcome of a delivery attempt (delivered and failed events).
    #[serde(deserialize_with = "lenient::object")]
    pub delivery_status: Option<DeliveryStatus>,
    /// How bad a failure is: permanent or temporary (failed events).
    #[serde(deserialize_with = "lenient_severity")]
    pub severity: Option<Severity>,
    /// Why a delivery failed (`bounce`, `suppress-bounce`, `greylisted`, `old`, ...).
    #[serde(deserialize_with = "lenient::string")]
    pub reason: Option<String>,
    /// Why Mailgun rejected a message (rejected events).
    #[serde(deserialize_with = "lenient::object")]
    pub reject: Option<Reject>,
    /// The IP address of the client that opened, clicked or unsubscribed.
    #[serde(deserialize_with = "lenient::string")]
    pub ip: Option<String>,
    /// Where the client was, by IP address.
    #[serde(deserialize_with = "lenient::object")]
    pub geolocation: Option<Geolocation>,
    /// What the client was.
    #[serde(deserialize_with = "lenient::object")]
    pub client_info: Option<ClientInfo>,
    /// The clicked URL (clicked events; missing in Mailgun's dashboard test payloads).
    #[serde(deserialize_with = "lenient::string")]
    pub url: Option<String>,
    /// The mailing list involved.
    #[serde(deserialize_with = "lenient::object")]
    pub mailing_list: Option<MailingList>,
    /// The list member involved (list events).
    #[serde(deserialize_with = "lenient::object")]
    pub member: Option<Member>,
    /// The id of a list upload task (list events).
    #[serde(deserialize_with = "lenient::string")]
    pub task_id: Option<String>,
    /// The account the event belongs to.
    #[serde(deserialize_with = "lenient::object")]
    pub account: Option<IdObject>,
    /// The sending domain.
    #[serde(deserialize_with = "lenient::object")]
    pub domain: Option<NameObject>,
    /// The IP address the message was submitted from (accepted events).
    #[serde(deserialize_with = "lenient::string")]
    pub originating_ip: Option<String>,
    /// The template used to build the message.
    #[serde(deserialize_with = "lenient::object")]
    pub template: Option<NameObject>,
    /// Legacy form events: every field as sent, in order, repeated names included. Empty for
    /// JSON events.
    #[serde(skip)]
    pub fields: Vec<(String, String)>,
    /// Legacy bounce and drop events: attached files, usually the original message as
    /// `message.mime`. Empty for JSON events.
    #[serde(skip)]
    pub attachments: Vec<Attachment>,
}

/// The moment an event happened: unix seconds and microseconds.
///
/// Mailgun sends it as a JSON number with a fraction (`1529006854.329574`). It is kept to the
/// microsecond, exactly as sent.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventTime {
    secs: u64,
    micros: u32,
}

impl EventTime {
    /// From unix seconds and microseconds (values of a million or more carry into seconds).
    pub fn new(secs: u64, micros: u32) -> Self {
        EventTime {
            secs: secs.saturating_add(u64::from(micros / 1_000_000)),
            micros: micros % 1_000_000,
        }
    }

    /// Whole unix seconds.
    pub fn as_secs(self) -> u64 {
        self.secs
    }

    /// The microseconds past [`as_secs`](Self::as_secs).
    pub fn subsec_micros(self) -> u32 {
        self.micros
    }

    /// Unix seconds as a float, as Mailgun writes it.
    #[allow(clippy::cast_precision_loss)]
    pub fn as_secs_f64(self) -> f64 {
        self.secs as f64 + f64::from(self.micros) / 1e6
    }

    /// The time as a [`SystemTime`], if the platform can represent it.
    pub fn to_system_time(self) -> Option<SystemTime> {
        UNIX_EPOCH.checked_add(
            Duration::from_secs(self.secs) + Duration::from_micros(u64::from(self.micros)),
        )
    }

    /// Parses decimal seconds exactly (`"1529006854.329574"`); digits past the sixth decimal
    /// are rounded.
    pub(crate) fn parse_decimal(s: &str) -> Option<Self> {
        let s = s.trim();
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        if int.is_empty() || int.len() > 15 || !int.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        if !frac.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let secs: u64 = int.parse().ok()?;
        let mut micros: u32 = 0;
        for c in frac.bytes().chain(std::iter::repeat(b'0')).take(6) {
            micros = micros * 10 + u32::from(c - b'0');
        }
        let round_up = frac.as_bytes().get(6).is_some_and(|&c| c >= b'5');
        Some(EventTime::new(secs, micros + u32::from(round_up)))
    }

    fn from_f64(v: f64) -> Option<Self> {
        if !v.is_finite() || !(0.0..1e15).contains(&v) {
            return None;
        }
        // For timestamps below 2^33 s (year 2242) an f64 is exact to better than 2 µs, so
        // rounding to the nearest microsecond recovers the digits Mailgun wrote.
        let secs = v.trunc();
        let micros = ((v - secs) * 1e6).round();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Some(EventTime::new(secs as u64, micros as u32))
    }
}

impl fmt::Debug for EventTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventTime({self})")
    }
}

impl fmt::Display for EventTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}", self.secs, self.micros)
    }
}

/// Accepts a number, a numeric string, or anything else as absent.
impl<'de> Deserialize<'de> for EventTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // `Option<EventTime>` fields call this only for non-null values; shapes that are not
        // a time are rejected here and tolerated by `lenient_time` below.
        d.deserialize_any(TimeV)?
            .ok_or_else(|| de::Error::custom("not a timestamp"))
    }
}

struct TimeV;

impl<'de> Visitor<'de> for TimeV {
    type Value = Option<EventTime>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unix seconds")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(EventTime::new(v, 0)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(u64::try_from(v).ok().map(|s| EventTime::new(s, 0)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(EventTime::from_f64(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(EventTime::parse_decimal(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map
            .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
            .is_some()
        {}
        Ok(None)
    }
}

pub(crate) fn lenient_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<EventTime>, D::Error> {
    d.deserialize_any(TimeV)
}

/// How bad a failure is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Severity {
    /// Mailgun gave up: a hard bounce, a suppression, or retries exhausted.
    Permanent,
    /// Mailgun will retry the delivery.
    Temporary,
    /// Any other value, as sent (lowercased).
    Other(String),
}

impl Severity {
    /// Parses Mailgun's text, case-insensitively.
    pub fn from_name(name: &str) -> Severity {
        if name.eq_ignore_ascii_case("permanent") {
            Severity::Permanent
        } else if name.eq_ignore_ascii_case("temporary") {
            Severity::Temporary
        } else {
            Severity::Other(name.to_ascii_lowercase())
        }
    }

    /// `"permanent"`, `"temporary"`, or the other value.
    pub fn as_str(&self) -> &str {
        match self {
            Severity::Permanent => "permanent",
            Severity::Temporary => "temporary",
            Severity::Other(s) => s,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn lenient_severity<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Severity>, D::Error> {
    Ok(lenient::string(d)?.map(|s| Severity::from_name(&s)))
}

impl<'de> Deserialize<'de> for Severity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        lenient::string(d)?
            .map(|s| Severity::from_name(&s))
            .ok_or_else(|| de::Error::custom("not a severity"))
    }
}

/// An SMTP status code, as a number or as text (`550`, or `"5.1.1"` in legacy bounces).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeliveryCode {
    /// A numeric code such as `250` or `550` (or Mailgun's own `498`, `605`, `607`).
    Number(i64),
    /// A code sent as text that is not a plain integer, such as `"5.1.1"`.
    Text(String),
}

impl DeliveryCode {
    /// From text: a plain integer becomes [`DeliveryCode::Number`].
    pub fn from_text(s: &str) -> DeliveryCode {
        match s.trim().parse::<i64>() {
            Ok(n) if !s.trim().starts_with('+') => DeliveryCode::Number(n),
            _ => DeliveryCode::Text(s.to_owned()),
        }
    }

    /// The numeric code, if it is one.
    pub fn as_number(&self) -> Option<i64> {
        match self {
            DeliveryCode::Number(n) => Some(*n),
            DeliveryCode::Text(_) => None,
        }
    }
}

impl fmt::Display for DeliveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeliveryCode::Number(n) => write!(f, "{n}"),
            DeliveryCode::Text(s) => f.write_str(s),
        }
    }
}

fn lenient_code<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DeliveryCode>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<DeliveryCode>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a status code")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(match i64::try_from(v) {
                Ok(n) => DeliveryCode::Number(n),
                Err(_) => DeliveryCode::Text(v.to_string()),
            }))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(DeliveryCode::Number(v)))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(DeliveryCode::Text(v.to_string())))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok((!v.is_empty()).then(|| DeliveryCode::Text(v.to_owned())))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<de::IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map
                .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
                .is_some()
            {}
            Ok(None)
        }
    }
    d.deserialize_any(V)
}

/// The SMTP outcome of a delivery attempt.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
#[non_exhaustive]
pub struct DeliveryStatus {
    /// The SMTP code, as sent: a number, or text for enhanced codes.
    #[serde(deserialize_with = "lenient_code")]
    pub code: Option<DeliveryCode>,
    /// The SMTP response; may span lines or be empty.
    #[serde(deserialize_with = "lenient::string")]
    pub message: Option<String>,
    /// Mailgun's explanation; may be empty.
    #[serde(deserialize_with = "lenient::string")]
    pub description: Option<String>,
    /// The enhanced status code, such as `"5.1.1"`; may be empty.
    #[serde(deserialize_with = "lenient::string")]
    pub enhanced_code: Option<String>,
    /// The bounce code of a delayed bounce.
    #[serde(deserialize_with = "lenient::string")]
    pub bounce_code: Option<String>,
    /// The attempt number.
    #[serde(deserialize_with = "lenient::u64")]
    pub attempt_no: Option<u64>,
    /// How long the SMTP session took, in seconds.
    #[serde(deserialize_with = "lenient::f64")]
    pub session_seconds: Option<f64>,
    /// When Mailgun retries a temporary failure, in seconds.
    #[serde(deserialize_with = "lenient::u64")]
    pub retry_seconds: Option<u64>,
    /// The MX host that answered.
    #[serde(deserialize_with = "lenient::string")]
    pub mx_host: Option<String>,
    /// Whether the session used TLS.
    #[serde(deserialize_with = "lenient::bool")]
    pub tls: Option<bool>,
    /// Whether the session used SMTPUTF8.
    #[serde(deserialize_with = "lenient::bool")]
    pub utf8: Option<bool>,
    /// Whether the MX host's certificate verified.
    #[serde(deserialize_with = "lenient::bool")]
    pub certificate_verified: Option<bool>,
}

/// The message an event is about.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
#[non_exhaustive]
pub struct Message {
    /// Selected headers. Opened, clicked and unsubscribed events carry only `message-id`.
    #[serde(deserialize_with = "lenient::object")]
    pub headers: Option<MessageHeaders>,
    /// Attachments of the message.
    #[serde(deserialize_with = "lenient::object_list")]
    pub attachments: Vec<AttachmentInfo>,
    /// All recipients of the message.
    #[serde(deserialize_with = "lenient::string_list")]
    pub recipients: Vec<String>,
    /// The message's size in bytes.
    #[serde(deserialize_with = "lenient::u64")]
    pub size: Option<u64>,
}

/// Selected headers of a message.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
#[non_exhaustive]
pub struct MessageHeaders {
    /// The `To` header; may list several addresses.
    #[serde(deserialize_with = "lenient::string")]
    pub to: Option<String>,
    /// The `Message-Id`, without angle brackets.
    #[serde(deserialize_with = "lenient::string")]
    pub message_id: Option<String>,
    /// The `From` header.
    #[serde(deserialize_with = "lenient::string")]
    pub from: Option<String>,
    /// The `Subject` header.
    #[serde(deserialize_with = "lenient::string")]
    pub subject: Option<String>,
    /// Every header of a legacy event's `message-headers`, in order. Empty for JSON events.
    #[serde(skip)]
    pub all: Vec<(String, String)>,
}

/// An attachment of a sent message, as described by an event (not its content).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
#[non_exhaustive]
pub struct AttachmentInfo {
    /// The file name.
    #[serde(deserialize_with = "lenient::string")]
    pub filename: Option<String>,
    /// The MIME type.
    #[serde(deserialize_with = "lenient::string")]
    pub content_type: Option<String>,
    /// The size in bytes.
    #[serde(deserialize_with = "lenient::u64")]
    pub size: Option<u64>,
}

/// Event flags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
#[non_exhaustive]
pub struct Flags {
    /// The message was submitted with authentication.
    #[serde(deserialize_with = "lenient::bool")]
    pub is_authenticated: Option<bool>,
    /// The message was sent in test mode.
    #[serde(deserialize_with = "lenient::bool")]
    pub is_test_mode: Option<bool>,
    /// The message was routed.
    #[serde(deserialize_with = "lenient::bool")]
    pub is_routed: Option<bool>,
    /// The message is a Mailgun system test.
    #[serde(deserialize_with = "lenient::bool")]
    pub is_system_test: Option<bool>,
    /// The message is large.
    #[serde(deserialize_with = "lenient::bool")]
    pub is_big: Option<bool>,
    /// The failure is an asynchronous (delayed) bounce.
    #[serde(deserialize_with = "lenient::bool")]
    pub is_delayed_bounce: Option<bool>,
}

/// The SMTP envelope of a message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
#[non_exhaustive]
pub struct Envelope {
    /// The envelope sender.
    #[serde(deserialize_with = "lenient::string")]
    pub sender: Option<String>,
    /// The envelope recipients, as one string.
    #[serde(deserialize_with = "lenient::string")]
    pub targets: Option<String>,
    /// `smtp`, `http` or empty.
    #[serde(deserialize_with = "lenient::string")]
    pub transport: Option<String>,
    /// The IP address Mailgun sent from.
    #[serde(deserialize_with = "lenient::string")]
    pub sending_ip: Option<String>,
    /// The `MAIL FROM` address.
    #[serde(deserialize_with = "lenient::string")]
    pub mail_from: Option<String>,
    /// The host Mailgun sent from.
    #[serde(deserialize_with = "lenient::string")]
    pub sending_host: Option<String>,
}

/// Where Mailgun stores a message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
#[non_exhaustive]
pub struct Storage {
    /// The URL to retrieve the message from.
    #[serde(deserialize_with = "lenient::string")]
    pub url: Option<String>,
    /// The storage key.
    #[serde(deserialize_with = "lenient::string")]
    pub key: Option<String>,
    /// The storage region.
    #[serde(deserialize_with = "lenient::string")]
    pub region: Option<String>,
    /// The storage environment.
    #[serde(deserialize_with = "lenient::string")]
    pub env: Option<String>,
}

/// Why Mailgun rejected a message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Reject {
    /// The reason.
    #[serde(deserialize_with = "lenient::string")]
    pub reason: Option<String>,
    /// A longer description.
    #[serde(deserialize_with = "lenient::string")]
    pub description: Option<String>,
}

/// Where a client was, by IP address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Geolocation {
    /// ISO country code.
    #[serde(deserialize_with = "lenient::string")]
    pub country: Option<String>,
    /// Region code or name, or `Unknown`.
    #[serde(deserialize_with = "lenient::string")]
    pub region: Option<String>,
    /// City, or `Unknown`.
    #[serde(deserialize_with = "lenient::string")]
    pub city: Option<String>,
}

/// What a client was.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
#[non_exhaustive]
pub struct ClientInfo {
    /// `browser`, `mobile browser`, `email client`, `library`, `robot`, `other`, `unknown`.
    #[serde(deserialize_with = "lenient::string")]
    pub client_type: Option<String>,
    /// The client's operating system.
    #[serde(deserialize_with = "lenient::string")]
    pub client_os: Option<String>,
    /// `desktop`, `mobile`, `tablet`, `other`, `unknown`.
    #[serde(deserialize_with = "lenient::string")]
    pub device_type: Option<String>,
    /// The client's name.
    #[serde(deserialize_with = "lenient::string")]
    pub client_name: Option<String>,
    /// The client's `User-Agent`.
    #[serde(deserialize_with = "lenient::string")]
    pub user_agent: Option<String>,
    /// A detected bot: `apple` (Mail Privacy Protection), `gmail`, `generic`, or empty.
    #[serde(deserialize_with = "lenient::string")]
    pub bot: Option<String>,
}

/// A campaign (a legacy Mailgun feature).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Campaign {
    /// The campaign's id.
    #[serde(deserialize_with = "lenient::string")]
    pub id: Option<String>,
    /// The campaign's name.
    #[serde(deserialize_with = "lenient::string")]
    pub name: Option<String>,
}

/// A mailing list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
#[non_exhaustive]
pub struct MailingList {
    /// The list's address.
    #[serde(deserialize_with = "lenient::string")]
    pub address: Option<String>,
    /// The list's id.
    #[serde(deserialize_with = "lenient::string")]
    pub list_id: Option<String>,
    /// The sending id.
    #[serde(deserialize_with = "lenient::string")]
    pub sid: Option<String>,
}

/// A mailing list member.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Member {
    /// The member's address.
    #[serde(deserialize_with = "lenient::string")]
    pub address: Option<String>,
    /// The member's name.
    #[serde(deserialize_with = "lenient::string")]
    pub name: Option<String>,
    /// Whether the member is subscribed.
    #[serde(deserialize_with = "lenient::bool")]
    pub subscribed: Option<bool>,
}

/// An object with an `id`, such as `account`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct IdObject {
    /// The id.
    #[serde(deserialize_with = "lenient::string")]
    pub id: Option<String>,
}

/// An object with a `name`, such as `domain` or `template`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct NameObject {
    /// The name.
    #[serde(deserialize_with = "lenient::string")]
    pub name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_time_keeps_microseconds() {
        for (json, secs, micros) in [
            ("1534108637.153125", 1534108637, 153125),
            ("1521472262.000002", 1521472262, 2),
            ("1533922516.538978", 1533922516, 538978),
            ("1770146431.6585283", 1770146431, 658528),
            ("1529006854", 1529006854, 0),
            ("\"1529006854.329574\"", 1529006854, 329574),
            ("1529006854.9999996", 1529006855, 0),
        ] {
            let t: EventTime = serde_json::from_str(json).unwrap();
            assert_eq!((t.as_secs(), t.subsec_micros()), (secs, micros), "{json}");
        }
        assert_eq!(
            EventTime::parse_decimal("1.9999995").unwrap(),
            EventTime::new(2, 0)
        );
        assert!(EventTime::parse_decimal("1.2.3").is_none());
        assert!(EventTime::parse_decimal("-1").is_none());
    }

    #[test]
    fn delivery_code_number_or_text() {
        let s: DeliveryStatus = serde_json::from_str(r#"{"code":550}"#).unwrap();
        assert_eq!(s.code, Some(DeliveryCode::Number(550)));
        let s: DeliveryStatus = serde_json::from_str(r#"{"code":"5.1.1"}"#).unwrap();
        assert_eq!(s.code, Some(DeliveryCode::Text("5.1.1".into())));
        assert_eq!(DeliveryCode::from_text("605"), DeliveryCode::Number(605));
    }
}
