//! Typed tracking events: [`Event`], [`EventKind`] and the fields they carry.

mod data;
pub(crate) mod json;
mod lazy;
mod user_variables;

use std::fmt;
use std::sync::OnceLock;

pub use data::{
    AttachmentInfo, Campaign, ClientInfo, DeliveryCode, DeliveryStatus, Envelope, EventData,
    EventTime, Flags, Geolocation, IdObject, MailingList, Member, Message, MessageHeaders,
    NameObject, Reject, Severity, Storage,
};
pub use lazy::LazyEvent;
pub(crate) use lazy::MemberSpans;
pub use user_variables::UserVariables;

use crate::inbound::InboundMessage;
use crate::message::MimeLimits;

/// A tracking event.
///
/// Current JSON webhooks and legacy form webhooks both become an `Event`; legacy `dropped` and
/// `bounced` become [`Event::Failed`] with a permanent severity. Every known kind carries the
/// same [`EventData`], so common fields are read the same way whatever the kind and the format:
///
/// ```
/// # use mailgun_webhooks::{Event, EventKind};
/// fn log(event: &Event) {
///     match event {
///         Event::Failed(data) => {
///             println!("{:?} failed ({:?})", data.recipient, data.severity)
///         }
///         Event::Clicked(data) => println!("click on {:?}", data.url),
///         other => println!("{} for {:?}", other.kind(), other.recipient()),
///     }
/// }
/// ```
///
/// New kinds may be added; an event name this crate does not know becomes
/// [`Event::Unknown`] rather than an error.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// Mailgun accepted the message for delivery.
    Accepted(Box<EventData>),
    /// Mailgun rejected the message (see [`EventData::reject`]).
    Rejected(Box<EventData>),
    /// The recipient's server accepted the message.
    Delivered(Box<EventData>),
    /// Delivery failed, permanently or temporarily (see [`EventData::severity`] and
    /// [`EventData::reason`]).
    Failed(Box<EventData>),
    /// The recipient opened the message.
    Opened(Box<EventData>),
    /// The recipient clicked a tracked link.
    Clicked(Box<EventData>),
    /// The recipient unsubscribed.
    Unsubscribed(Box<EventData>),
    /// The recipient reported the message as spam.
    Complained(Box<EventData>),
    /// Mailgun stored an inbound message.
    Stored(Box<EventData>),
    /// A mailing list member was uploaded.
    ListMemberUploaded(Box<EventData>),
    /// A mailing list member upload failed.
    ListMemberUploadError(Box<EventData>),
    /// A mailing list upload finished.
    ListUploaded(Box<EventData>),
    /// An event this crate does not know, kept whole.
    ///
    /// Its common fields (id, timestamp, recipient, tags, user variables, message headers,
    /// envelope, delivery status, reason, ...) are reachable through [`Event::data`], so the
    /// accessors of [`Event`] work on it as on a known event.
    Unknown {
        /// The event name as sent.
        name: String,
        /// The whole `event-data` object (for legacy events, the form fields as an object).
        raw: serde_json::Value,
        /// The fields this crate knows, read leniently from `raw` on first access (so that
        /// parsing never holds the event twice); use [`Event::data`].
        data: UnknownData,
    },
}

/// Two events are equal when they are of the same kind and carry the same fields (unknown
/// events: the same name, raw object and fields), whether or not an unknown event's fields
/// were read yet.
impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        let same_raw = match (self, other) {
            (
                Event::Unknown { name, raw, .. },
                Event::Unknown {
                    name: other_name,
                    raw: other_raw,
                    ..
                },
            ) => name == other_name && raw == other_raw,
            (Event::Unknown { .. }, _) | (_, Event::Unknown { .. }) => false,
            _ => true,
        };
        same_raw && self.kind() == other.kind() && self.data() == other.data()
    }
}

/// The typed common fields of an [`Event::Unknown`], read from its raw object on first access
/// through [`Event::data`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UnknownData(OnceLock<Box<EventData>>);

impl UnknownData {
    /// Fields already read (legacy form events read them while parsing).
    pub(crate) fn ready(data: Box<EventData>) -> Self {
        UnknownData(OnceLock::from(data))
    }

    /// Fields to be read from the raw object when first asked for.
    pub(crate) fn lazy() -> Self {
        UnknownData(OnceLock::new())
    }

    fn get(&self, raw: &serde_json::Value) -> &EventData {
        self.0.get_or_init(|| {
            Box::new(
                crate::lenient::object::<_, EventData>(raw)
                    .ok()
                    .flatten()
                    .unwrap_or_default(),
            )
        })
    }
}

/// The kind of an [`Event`], for matching and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum EventKind {
    /// See [`Event::Accepted`].
    Accepted,
    /// See [`Event::Rejected`].
    Rejected,
    /// See [`Event::Delivered`].
    Delivered,
    /// See [`Event::Failed`].
    Failed,
    /// See [`Event::Opened`].
    Opened,
    /// See [`Event::Clicked`].
    Clicked,
    /// See [`Event::Unsubscribed`].
    Unsubscribed,
    /// See [`Event::Complained`].
    Complained,
    /// See [`Event::Stored`].
    Stored,
    /// See [`Event::ListMemberUploaded`].
    ListMemberUploaded,
    /// See [`Event::ListMemberUploadError`].
    ListMemberUploadError,
    /// See [`Event::ListUploaded`].
    ListUploaded,
    /// See [`Event::Unknown`].
    Unknown,
}

impl EventKind {
    /// Every known kind (not `Unknown`).
    pub const ALL: [EventKind; 12] = [
        EventKind::Accepted,
        EventKind::Rejected,
        EventKind::Delivered,
        EventKind::Failed,
        EventKind::Opened,
        EventKind::Clicked,
        EventKind::Unsubscribed,
        EventKind::Complained,
        EventKind::Stored,
        EventKind::ListMemberUploaded,
        EventKind::ListMemberUploadError,
        EventKind::ListUploaded,
    ];

    /// Mailgun's name for the kind (`"delivered"`, `"list_member_uploaded"`, ...), or
    /// `"unknown"`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Accepted => "accepted",
            EventKind::Rejected => "rejected",
            EventKind::Delivered => "delivered",
            EventKind::Failed => "failed",
            EventKind::Opened => "opened",
            EventKind::Clicked => "clicked",
            EventKind::Unsubscribed => "unsubscribed",
            EventKind::Complained => "complained",
            EventKind::Stored => "stored",
            EventKind::ListMemberUploaded => "list_member_uploaded",
            EventKind::ListMemberUploadError => "list_member_upload_error",
            EventKind::ListUploaded => "list_uploaded",
            EventKind::Unknown => "unknown",
        }
    }

    /// The kind for a Mailgun event name, case-insensitively; `None` for names it does not
    /// know. Legacy names are not mapped here (see the legacy form parser).
    pub fn from_name(name: &str) -> Option<EventKind> {
        EventKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Event {
    /// Wraps `data` in the variant for `kind`. `EventKind::Unknown` gives an
    /// [`Event::Unknown`] whose `raw` is `null`.
    pub fn from_kind(kind: EventKind, data: EventData) -> Event {
        let data = Box::new(data);
        match kind {
            EventKind::Accepted => Event::Accepted(data),
            EventKind::Rejected => Event::Rejected(data),
            EventKind::Delivered => Event::Delivered(data),
            EventKind::Failed => Event::Failed(data),
            EventKind::Opened => Event::Opened(data),
            EventKind::Clicked => Event::Clicked(data),
            EventKind::Unsubscribed => Event::Unsubscribed(data),
            EventKind::Complained => Event::Complained(data),
            EventKind::Stored => Event::Stored(data),
            EventKind::ListMemberUploaded => Event::ListMemberUploaded(data),
            EventKind::ListMemberUploadError => Event::ListMemberUploadError(data),
            EventKind::ListUploaded => Event::ListUploaded(data),
            EventKind::Unknown => Event::Unknown {
                name: data.event.clone().unwrap_or_default(),
                raw: serde_json::Value::Null,
                data: UnknownData::ready(data),
            },
        }
    }

    /// Parses a bare `event-data` object, such as an item of the Events API or a sample from
    /// Mailgun's documentation. Webhook bodies go through [`parse`](crate::parse()) instead,
    /// which also extracts the signature.
    ///
    /// The body is bounded by the default JSON limits ([`Limits`](crate::Limits)).
    ///
    /// ```
    /// # use mailgun_webhooks::{Event, EventKind};
    /// let event = Event::from_json(br#"{"event":"opened","recipient":"a@example.com"}"#)?;
    /// assert_eq!(event.kind(), EventKind::Opened);
    /// # Ok::<(), mailgun_webhooks::Error>(())
    /// ```
    pub fn from_json(event_data: &[u8]) -> crate::Result<Event> {
        json::parse_event_data(event_data)
    }

    /// The event's kind.
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Accepted(_) => EventKind::Accepted,
            Event::Rejected(_) => EventKind::Rejected,
            Event::Delivered(_) => EventKind::Delivered,
            Event::Failed(_) => EventKind::Failed,
            Event::Opened(_) => EventKind::Opened,
            Event::Clicked(_) => EventKind::Clicked,
            Event::Unsubscribed(_) => EventKind::Unsubscribed,
            Event::Complained(_) => EventKind::Complained,
            Event::Stored(_) => EventKind::Stored,
            Event::ListMemberUploaded(_) => EventKind::ListMemberUploaded,
            Event::ListMemberUploadError(_) => EventKind::ListMemberUploadError,
            Event::ListUploaded(_) => EventKind::ListUploaded,
            Event::Unknown { .. } => EventKind::Unknown,
        }
    }

    /// The event's name: the kind's name, or an unknown event's name as sent.
    pub fn name(&self) -> &str {
        match self {
            Event::Unknown { name, .. } => name,
            other => other.kind().as_str(),
        }
    }

    /// The event's fields. Always `Some` since unknown events keep theirs too; the `Option`
    /// stays for compatibility.
    pub fn data(&self) -> Option<&EventData> {
        match self {
            Event::Accepted(d)
            | Event::Rejected(d)
            | Event::Delivered(d)
            | Event::Failed(d)
            | Event::Opened(d)
            | Event::Clicked(d)
            | Event::Unsubscribed(d)
            | Event::Complained(d)
            | Event::Stored(d)
            | Event::ListMemberUploaded(d)
            | Event::ListMemberUploadError(d)
            | Event::ListUploaded(d) => Some(d),
            Event::Unknown { data, raw, .. } => Some(data.get(raw)),
        }
    }

    /// The raw `event-data` object of an unknown event (for legacy events, the form fields
    /// as an object); `None` for known events.
    pub fn raw(&self) -> Option<&serde_json::Value> {
        match self {
            Event::Unknown { raw, .. } => Some(raw),
            _ => None,
        }
    }

    /// The message a failed delivery bounced, when the event carries it: the `message.mime`
    /// file of a legacy `bounced` or `dropped` post (the whole message, parsed on first
    /// access of [`InboundMessage::message`] under the default [`Limits`](crate::Limits)), or
    /// the message headers of a JSON `failed` event (subject, from, to, message id). `None`
    /// for other events.
    ///
    /// ```
    /// # use mailgun_webhooks::Event;
    /// let event = Event::from_json(br#"{"event":"failed","severity":"permanent",
    ///     "message":{"headers":{"subject":"Your order","message-id":"a@mg.example.com"}}}"#)?;
    /// let bounced = event.bounced_message().unwrap();
    /// let view = bounced.message()?;
    /// assert_eq!(view.subject(), Some("Your order"));
    /// assert_eq!(view.message_id(), Some("a@mg.example.com"));
    /// # Ok::<(), mailgun_webhooks::Error>(())
    /// ```
    pub fn bounced_message(&self) -> Option<InboundMessage> {
        let Event::Failed(d) = self else {
            return None;
        };
        let mime = d.attachments.iter().find(|a| {
            a.filename()
                .is_some_and(|n| n.trim().eq_ignore_ascii_case("message.mime"))
                || a.content_type().is_some_and(|t| {
                    t.trim()
                        .get(..14)
                        .is_some_and(|p| p.eq_ignore_ascii_case("message/rfc822"))
                })
        });
        if let Some(file) = mime {
            return Some(InboundMessage::from_mime_bytes(
                file.bytes(),
                MimeLimits::default(),
            ));
        }
        let headers = d.message.as_ref()?.headers.as_ref()?;
        let mut all = headers.all.clone();
        if all.is_empty() {
            let named = [
                ("From", &headers.from),
                ("To", &headers.to),
                ("Subject", &headers.subject),
                ("Message-Id", &headers.message_id),
            ];
            all = named
                .into_iter()
                .filter_map(|(n, v)| Some((n.to_owned(), v.clone()?)))
                .collect();
        }
        if all.is_empty() {
            return None;
        }
        let mut msg = InboundMessage {
            message_headers: all,
            ..InboundMessage::default()
        };
        msg.subject = msg.header("Subject").map(str::to_owned);
        msg.from = msg.header("From").map(str::to_owned);
        Some(msg)
    }

    /// The event's id.
    pub fn id(&self) -> Option<&str> {
        self.data()?.id.as_deref()
    }

    /// When the event happened.
    pub fn timestamp(&self) -> Option<EventTime> {
        self.data()?.timestamp
    }

    /// The recipient's address.
    pub fn recipient(&self) -> Option<&str> {
        self.data()?.recipient.as_deref()
    }

    /// The message's tags.
    pub fn tags(&self) -> &[String] {
        self.data().map_or(&[], |d| &d.tags)
    }

    /// The message's user variables (empty for an unknown event).
    pub fn user_variables(&self) -> Option<&UserVariables> {
        self.data().map(|d| &d.user_variables)
    }

    /// The `Message-Id` of the message, without angle brackets.
    pub fn message_id(&self) -> Option<&str> {
        let id = self
            .data()?
            .message
            .as_ref()?
            .headers
            .as_ref()?
            .message_id
            .as_deref()?;
        Some(strip_angle_brackets(id))
    }

    /// The clicked URL.
    pub fn url(&self) -> Option<&str> {
        self.data()?.url.as_deref()
    }

    /// The failure severity.
    pub fn severity(&self) -> Option<&Severity> {
        self.data()?.severity.as_ref()
    }

    /// Why delivery failed, or why the message was rejected.
    pub fn reason(&self) -> Option<&str> {
        let d = self.data()?;
        d.reason
            .as_deref()
            .or_else(|| d.reject.as_ref()?.reason.as_deref())
    }

    /// The SMTP outcome of the delivery attempt.
    pub fn delivery_status(&self) -> Option<&DeliveryStatus> {
        self.data()?.delivery_status.as_ref()
    }

    /// The SMTP envelope.
    pub fn envelope(&self) -> Option<&Envelope> {
        self.data()?.envelope.as_ref()
    }

    /// The event's flags.
    pub fn flags(&self) -> Option<&Flags> {
        self.data()?.flags.as_ref()
    }

    /// Where the client was.
    pub fn geolocation(&self) -> Option<&Geolocation> {
        self.data()?.geolocation.as_ref()
    }

    /// What the client was.
    pub fn client_info(&self) -> Option<&ClientInfo> {
        self.data()?.client_info.as_ref()
    }
}

/// `<id@host>` → `id@host`.
pub(crate) fn strip_angle_brackets(s: &str) -> &str {
    let t = s.trim();
    t.strip_prefix('<')
        .and_then(|t| t.strip_suffix('>'))
        .unwrap_or(t)
}

#[cfg(test)]
mod unknown_tests {
    use super::*;

    /// A `quarantined` event (a name this crate does not know) with every common field.
    fn quarantined() -> Event {
        Event::from_json(
            br#"{"event":"Quarantined","id":"q-1","timestamp":1700000000.25,
                "recipient":"a@example.com","tags":["t1","t2"],
                "user-variables":{"order":42},
                "message":{"headers":{"message-id":"<m1@mg.example.com>","subject":"S"}},
                "envelope":{"sender":"bounce@mg.example.com","targets":"a@example.com"},
                "delivery-status":{"code":550,"message":"held"},
                "reason":"policy","severity":"permanent","extra":{"x":1}}"#,
        )
        .unwrap()
    }

    #[test]
    fn equality_does_not_depend_on_whether_fields_were_read() {
        let (read, unread) = (quarantined(), quarantined());
        assert_eq!(read.recipient(), Some("a@example.com"));
        assert_eq!(read, unread);
        assert_eq!(unread, read);
        let other = Event::from_json(br#"{"event":"Quarantined","id":"q-2"}"#).unwrap();
        assert_ne!(read, other);
        let known = Event::from_json(br#"{"event":"delivered","id":"q-1"}"#).unwrap();
        assert_ne!(known, read);
        assert_eq!(known, known.clone());
        let failed = Event::from_json(br#"{"event":"failed","id":"q-1"}"#).unwrap();
        assert_ne!(known, failed);
    }

    #[test]
    fn unknown_kind_name_and_raw() {
        let e = quarantined();
        assert_eq!(e.kind(), EventKind::Unknown);
        assert_eq!(e.name(), "Quarantined");
        assert_eq!(e.raw().unwrap()["extra"]["x"], 1);
        assert!(
            Event::from_json(br#"{"event":"opened"}"#)
                .unwrap()
                .raw()
                .is_none()
        );
    }

    #[test]
    fn unknown_id() {
        assert_eq!(quarantined().id(), Some("q-1"));
    }

    #[test]
    fn unknown_timestamp() {
        assert_eq!(
            quarantined().timestamp(),
            Some(EventTime::new(1_700_000_000, 250_000))
        );
    }

    #[test]
    fn unknown_recipient() {
        assert_eq!(quarantined().recipient(), Some("a@example.com"));
    }

    #[test]
    fn unknown_tags() {
        assert_eq!(quarantined().tags(), ["t1", "t2"]);
    }

    #[test]
    fn unknown_user_variables() {
        let e = quarantined();
        assert_eq!(e.user_variables().unwrap().get::<u32>("order"), Some(42));
    }

    #[test]
    fn unknown_message_headers() {
        let e = quarantined();
        assert_eq!(e.message_id(), Some("m1@mg.example.com"));
        let h = e.data().unwrap().message.as_ref().unwrap().headers.as_ref();
        assert_eq!(h.unwrap().subject.as_deref(), Some("S"));
    }

    #[test]
    fn unknown_envelope() {
        let e = quarantined();
        assert_eq!(
            e.envelope().unwrap().sender.as_deref(),
            Some("bounce@mg.example.com")
        );
    }

    #[test]
    fn unknown_delivery_status() {
        let e = quarantined();
        let s = e.delivery_status().unwrap();
        assert_eq!(s.code, Some(DeliveryCode::Number(550)));
        assert_eq!(s.message.as_deref(), Some("held"));
    }

    #[test]
    fn unknown_reason_and_severity() {
        let e = quarantined();
        assert_eq!(e.reason(), Some("policy"));
        assert_eq!(e.severity(), Some(&Severity::Permanent));
    }

    #[test]
    fn unknown_legacy_form_event_keeps_its_fields() {
        let body = b"event=quarantined&recipient=b%40example.com&tag=x&tag=y&my_var=1\
                     &message-headers=%5B%5B%22Message-Id%22%2C+%22%3Cl1%40mg%3E%22%5D%5D\
                     &reason=policy&code=550&error=held\
                     &timestamp=1700000000&token=abc&signature=00";
        let e = crate::parse(
            "application/x-www-form-urlencoded",
            body,
            &crate::Limits::default(),
        )
        .unwrap()
        .into_payload_unverified()
        .into_event()
        .unwrap();
        assert_eq!((e.kind(), e.name()), (EventKind::Unknown, "quarantined"));
        assert_eq!(e.recipient(), Some("b@example.com"));
        assert_eq!(e.tags(), ["x", "y"]);
        assert_eq!(e.user_variables().unwrap().get_str("my_var"), Some("1"));
        assert_eq!(e.message_id(), Some("l1@mg"));
        assert_eq!(e.reason(), Some("policy"));
        assert_eq!(
            e.delivery_status().unwrap().code,
            Some(DeliveryCode::Number(550))
        );
        assert_eq!(e.timestamp(), Some(EventTime::new(1_700_000_000, 0)));
        assert_eq!(e.raw().unwrap()["recipient"], "b@example.com");
    }
}
