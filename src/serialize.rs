//! `Serialize` for the typed payloads (feature `serde`): [`Event`] in the shape of Mailgun's
//! `event-data`, [`InboundMessage`] and [`StoredMessage`] under Mailgun's field names, and
//! [`Payload`] tagged by its kind.
//!
//! Written against the types' public fields and accessors only. Absent fields are left out
//! (never `null`), so the output stays close to what Mailgun sends, and
//! [`Event::from_json`] reads an event's output back into an equal event (legacy fields and
//! attachment contents aside: see [`Event`]'s `Serialize`). Serializing never fails on the
//! crate's side and never panics. Attachment **contents** are not serialized, only described:
//! keep the [`VerifiedEnvelope`](crate::VerifiedEnvelope) to keep the files.

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeStruct, Serializer};

use crate::event::{
    AttachmentInfo, Campaign, ClientInfo, DeliveryCode, DeliveryStatus, Envelope, Event, EventData,
    EventKind, EventTime, Flags, Geolocation, IdObject, MailingList, Member, Message,
    MessageHeaders, NameObject, Reject, Severity, Storage, UserVariables,
};
use crate::inbound::{Attachment, InboundMessage, StoredAttachment, StoredMessage};
use crate::payload::Payload;

/// Whether a field is written: `Some`, a non-empty list, variables that are not empty.
trait Present {
    fn present(&self) -> bool;
}

impl<T> Present for Option<T> {
    fn present(&self) -> bool {
        self.is_some()
    }
}

impl<T> Present for Vec<T> {
    fn present(&self) -> bool {
        !self.is_empty()
    }
}

impl Present for UserVariables {
    fn present(&self) -> bool {
        !self.is_empty() || self.load_error().is_some()
    }
}

/// A `Serialize` impl writing the present fields of a struct under Mailgun's names, as a map.
macro_rules! present_fields {
    ($(#[$doc:meta])* $ty:ty { $($name:literal => $field:ident),* $(,)? }) => {
        $(#[$doc])*
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let len = [$(Present::present(&self.$field)),*].iter().filter(|p| **p).count();
                let mut map = s.serialize_map(Some(len))?;
                $(
                    if Present::present(&self.$field) {
                        map.serialize_entry($name, &self.$field)?;
                    }
                )*
                map.end()
            }
        }
    };
}

/// The kind's name (`"delivered"`, ..., `"unknown"`).
impl Serialize for EventKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Unix seconds as a number with microseconds (`1529006854.329574`), as Mailgun writes it.
impl Serialize for EventTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_secs_f64())
    }
}

/// `"permanent"`, `"temporary"` or the other value.
impl Serialize for Severity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A number, or the text as sent.
impl Serialize for DeliveryCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            DeliveryCode::Number(n) => s.serialize_i64(*n),
            DeliveryCode::Text(t) => s.serialize_str(t),
        }
    }
}

/// The variables as an object; Mailgun's load-error text as a string when it sent one instead
/// ([`UserVariables::from_value`] reads either back).
impl Serialize for UserVariables {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.load_error() {
            Some(error) if self.is_empty() => s.serialize_str(error),
            _ => self.as_map().serialize(s),
        }
    }
}

/// Described, not included: `field-name`, `filename`, `content-type`, `size`, `content-id`,
/// `inline`. The bytes are in [`Attachment::data`] and in the delivery's
/// [`VerifiedEnvelope`](crate::VerifiedEnvelope).
impl Serialize for Attachment {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Attachment", 6)?;
        st.serialize_field("field-name", self.field_name())?;
        st.serialize_field("filename", &self.filename())?;
        st.serialize_field("content-type", &self.content_type())?;
        st.serialize_field("size", &self.size())?;
        st.serialize_field("content-id", &self.content_id())?;
        st.serialize_field("inline", &self.is_inline())?;
        st.end()
    }
}

/// The event in the shape of Mailgun's `event-data` object: `event` is the kind's name
/// (`"failed"` for a legacy `bounced` or `dropped`, so that [`Event::from_json`] reads it back
/// as the same kind), then every present field under Mailgun's name.
///
/// An unknown event is its raw object as sent. A legacy form event also writes `fields` (every
/// field as sent, as `[name, value]` pairs) and `attachments` (described, without their
/// bytes); neither is part of Mailgun's `event-data`.
impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match (self, self.raw()) {
            (Event::Unknown { .. }, Some(raw)) if raw.is_object() => raw.serialize(s),
            _ => match self.data() {
                Some(data) => EventDataAs {
                    name: self.name(),
                    data,
                }
                .serialize(s),
                None => s.serialize_map(Some(0))?.end(),
            },
        }
    }
}

/// The event's fields under its name: `event` is written first and from `name`.
struct EventDataAs<'a> {
    name: &'a str,
    data: &'a EventData,
}

impl Serialize for EventDataAs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        EventDataFields {
            name: Some(self.name),
            data: self.data,
        }
        .serialize(s)
    }
}

/// [`EventData`] on its own: `event` as in the data (the legacy name for a legacy event).
impl Serialize for EventData {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        EventDataFields {
            name: self.event.as_deref(),
            data: self,
        }
        .serialize(s)
    }
}

struct EventDataFields<'a> {
    name: Option<&'a str>,
    data: &'a EventData,
}

macro_rules! event_data_fields {
    ($($name:literal => $field:ident),* $(,)?) => {
        impl Serialize for EventDataFields<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let d = self.data;
                let len = usize::from(self.name.is_some())
                    + [$(Present::present(&d.$field)),*].iter().filter(|p| **p).count();
                let mut map = s.serialize_map(Some(len))?;
                if let Some(name) = self.name {
                    map.serialize_entry("event", name)?;
                }
                $(
                    if Present::present(&d.$field) {
                        map.serialize_entry($name, &d.$field)?;
                    }
                )*
                map.end()
            }
        }
    };
}

event_data_fields! {
    "id" => id,
    "timestamp" => timestamp,
    "log-level" => log_level,
    "recipient" => recipient,
    "recipient-domain" => recipient_domain,
    "recipient-provider" => recipient_provider,
    "tags" => tags,
    "campaigns" => campaigns,
    "user-variables" => user_variables,
    "message" => message,
    "flags" => flags,
    "envelope" => envelope,
    "storage" => storage,
    "method" => method,
    "delivery-status" => delivery_status,
    "severity" => severity,
    "reason" => reason,
    "reject" => reject,
    "ip" => ip,
    "geolocation" => geolocation,
    "client-info" => client_info,
    "url" => url,
    "mailing-list" => mailing_list,
    "member" => member,
    "task-id" => task_id,
    "account" => account,
    "domain" => domain,
    "originating-ip" => originating_ip,
    "template" => template,
    "fields" => fields,
    "attachments" => attachments,
}

present_fields!(DeliveryStatus {
    "code" => code,
    "message" => message,
    "description" => description,
    "enhanced-code" => enhanced_code,
    "bounce-code" => bounce_code,
    "attempt-no" => attempt_no,
    "session-seconds" => session_seconds,
    "retry-seconds" => retry_seconds,
    "mx-host" => mx_host,
    "tls" => tls,
    "utf8" => utf8,
    "certificate-verified" => certificate_verified,
});

present_fields!(Message {
    "headers" => headers,
    "attachments" => attachments,
    "recipients" => recipients,
    "size" => size,
});

present_fields!(MessageHeaders {
    "to" => to,
    "message-id" => message_id,
    "from" => from,
    "subject" => subject,
    "all" => all,
});

present_fields!(AttachmentInfo {
    "filename" => filename,
    "content-type" => content_type,
    "size" => size,
});

present_fields!(Flags {
    "is-authenticated" => is_authenticated,
    "is-test-mode" => is_test_mode,
    "is-routed" => is_routed,
    "is-system-test" => is_system_test,
    "is-big" => is_big,
    "is-delayed-bounce" => is_delayed_bounce,
});

present_fields!(Envelope {
    "sender" => sender,
    "targets" => targets,
    "transport" => transport,
    "sending-ip" => sending_ip,
    "mail-from" => mail_from,
    "sending-host" => sending_host,
});

present_fields!(Storage {
    "url" => url,
    "key" => key,
    "region" => region,
    "env" => env,
});

present_fields!(Reject {
    "reason" => reason,
    "description" => description,
});

present_fields!(Geolocation {
    "country" => country,
    "region" => region,
    "city" => city,
});

present_fields!(ClientInfo {
    "client-type" => client_type,
    "client-os" => client_os,
    "device-type" => device_type,
    "client-name" => client_name,
    "user-agent" => user_agent,
    "bot" => bot,
});

present_fields!(Campaign {
    "id" => id,
    "name" => name,
});

present_fields!(MailingList {
    "address" => address,
    "list-id" => list_id,
    "sid" => sid,
});

present_fields!(Member {
    "address" => address,
    "name" => name,
    "subscribed" => subscribed,
});

present_fields!(IdObject { "id" => id });

present_fields!(NameObject { "name" => name });

present_fields!(
/// Mailgun's field names (`recipient`, `body-plain`, `message-headers` as `[name, value]`
/// pairs, ...), present fields only; `fields` holds every other text field as sent, and
/// `attachments` describes the files without their bytes.
InboundMessage {
    "recipient" => recipient,
    "sender" => sender,
    "from" => from,
    "subject" => subject,
    "body-plain" => body_plain,
    "body-html" => body_html,
    "stripped-text" => stripped_text,
    "stripped-signature" => stripped_signature,
    "stripped-html" => stripped_html,
    "body-mime" => body_mime,
    "message-headers" => message_headers,
    "content-id-map" => content_id_map,
    "attachments" => attachments,
    "fields" => fields,
});

present_fields!(StoredAttachment {
    "url" => url,
    "name" => name,
    "content-type" => content_type,
    "size" => size,
});

/// `message-url`, `attachments` (by URL) and `message` (the [`InboundMessage`] fields).
impl Serialize for StoredMessage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let len =
            usize::from(self.message_url.is_some()) + usize::from(!self.attachments.is_empty()) + 1;
        let mut map = s.serialize_map(Some(len))?;
        if let Some(url) = &self.message_url {
            map.serialize_entry("message-url", url)?;
        }
        if !self.attachments.is_empty() {
            map.serialize_entry("attachments", &self.attachments)?;
        }
        map.serialize_entry("message", &self.message)?;
        map.end()
    }
}

/// Tagged by kind: `{"event": ...}`, `{"inbound": ...}` or `{"stored": ...}`.
impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Payload::Event(e) => s.serialize_newtype_variant("Payload", 0, "event", e),
            Payload::Inbound(m) => s.serialize_newtype_variant("Payload", 1, "inbound", m),
            Payload::Stored(m) => s.serialize_newtype_variant("Payload", 2, "stored", m),
        }
    }
}
