//! Parsing request bodies (before authentication) into an [`Unverified`] payload.
//!
//! Mailgun puts the signature inside the body, so the body must be parsed before the request
//! can be authenticated. Everything here treats its input as hostile: sizes and counts are
//! bounded by [`Limits`] before anything beyond them is buffered, and no input makes it panic.

mod content_type;
mod disposition;
mod fields;
pub(crate) mod form;
mod form_json;
pub(crate) mod json;
mod legacy;
pub(crate) mod multipart;
mod route;
mod scan;

use std::fmt;

pub use content_type::{ContentType, MediaType};

use crate::error::{Error, ErrorKind, PayloadKind, Result};
use crate::event::Event;
use crate::inbound::{InboundMessage, StoredMessage};
use crate::verify::Unverified;

/// The encoding a request body arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// `application/json`: the current webhook format.
    Json,
    /// `application/x-www-form-urlencoded`: legacy webhooks and inbound routes.
    Form,
    /// `multipart/form-data`: legacy webhooks and inbound routes with attachments.
    Multipart,
}

impl Format {
    /// `"json"`, `"form"` or `"multipart"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Form => "form",
            Format::Multipart => "multipart",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a request carried: a tracking event, an inbound message, or a stored-message
/// notification.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Payload {
    /// A tracking event (delivered, failed, opened, ...), current JSON or legacy form.
    Event(Event),
    /// An inbound message from a route's `forward()` action, parsed or raw MIME.
    Inbound(Box<InboundMessage>),
    /// A notification from a route's `store(notify=...)` action.
    Stored(Box<StoredMessage>),
}

impl Payload {
    /// Which kind of payload this is.
    pub fn kind(&self) -> PayloadKind {
        match self {
            Payload::Event(_) => PayloadKind::Event,
            Payload::Inbound(_) => PayloadKind::Inbound,
            Payload::Stored(_) => PayloadKind::Stored,
        }
    }

    /// The tracking event, or a [`WrongEndpoint`](ErrorKind::WrongEndpoint) error (400) for a
    /// route's payload: a tracking endpoint calls this.
    pub fn into_event(self) -> Result<Event> {
        match self {
            Payload::Event(e) => Ok(e),
            other => Err(wrong(PayloadKind::Event, other.kind())),
        }
    }

    /// The inbound message, or a [`WrongEndpoint`](ErrorKind::WrongEndpoint) error (400) for a
    /// tracking event or store notification: a `forward()` endpoint calls this.
    pub fn into_inbound(self) -> Result<InboundMessage> {
        match self {
            Payload::Inbound(m) => Ok(*m),
            other => Err(wrong(PayloadKind::Inbound, other.kind())),
        }
    }

    /// The stored-message notification, or a [`WrongEndpoint`](ErrorKind::WrongEndpoint)
    /// error (400) otherwise: a `store(notify=...)` endpoint calls this.
    pub fn into_stored(self) -> Result<StoredMessage> {
        match self {
            Payload::Stored(m) => Ok(*m),
            other => Err(wrong(PayloadKind::Stored, other.kind())),
        }
    }

    /// The event, if this is one.
    pub fn as_event(&self) -> Option<&Event> {
        match self {
            Payload::Event(e) => Some(e),
            _ => None,
        }
    }

    /// The inbound message, if this is one.
    pub fn as_inbound(&self) -> Option<&InboundMessage> {
        match self {
            Payload::Inbound(m) => Some(m),
            _ => None,
        }
    }

    /// The stored-message notification, if this is one.
    pub fn as_stored(&self) -> Option<&StoredMessage> {
        match self {
            Payload::Stored(m) => Some(m),
            _ => None,
        }
    }
}

fn wrong(expected: PayloadKind, found: PayloadKind) -> Error {
    ErrorKind::WrongEndpoint { expected, found }.into()
}

/// Size and count limits for parsing request bodies.
///
/// Every limit is enforced while reading, before anything beyond it is buffered, and a
/// violation is a [`LimitExceeded`](ErrorKind::LimitExceeded) error (413) that names the limit.
/// The defaults fit everything Mailgun sends, with margin:
///
/// | limit | default | why |
/// |---|---|---|
/// | [`body`](Self::body) | 32 MiB | a 25 MB inbound message plus its text, HTML and stripped copies |
/// | [`json_body`](Self::json_body) | 1 MiB | tracking events are a few KiB |
/// | [`json_depth`](Self::json_depth) | 128 | Mailgun nests 4 levels; 128 is serde_json's own cap |
/// | [`text_field`](Self::text_field) | 8 MiB | large HTML newsletters; `body-mime` may use the whole body limit |
/// | [`file`](Self::file) | 25 MiB | Mailgun's message size limit |
/// | [`files`](Self::files) | 100 | as Django's `DATA_UPLOAD_MAX_NUMBER_FILES` |
/// | [`parts`](Self::parts) | 1,000 | fields or pairs, as Django and PHP |
/// | [`part_headers`](Self::part_headers) | 8 KiB | one part's header block |
/// | [`field_name`](Self::field_name) | 256 B | Mailgun's names are under 32 bytes |
/// | [`mime_depth`](Self::mime_depth) | 32 | real mail nests 3 to 5 levels |
/// | [`mime_parts`](Self::mime_parts) | 1,000 | as [`parts`](Self::parts) |
///
/// ```
/// use mailgun_webhooks::Limits;
/// let limits = Limits::default().body(64 << 20).files(20);
/// assert_eq!(limits.max_body(), 64 << 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Limits {
    body: u64,
    json_body: u64,
    json_depth: u32,
    text_field: u64,
    file: u64,
    files: u32,
    parts: u32,
    part_headers: u64,
    field_name: u64,
    mime_depth: u32,
    mime_parts: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body: 32 << 20,
            json_body: 1 << 20,
            json_depth: 128,
            text_field: 8 << 20,
            file: 25 << 20,
            files: 100,
            parts: 1000,
            part_headers: 8 << 10,
            field_name: 256,
            mime_depth: 32,
            mime_parts: 1000,
        }
    }
}

macro_rules! limit_accessors {
    ($($(#[$doc:meta])* $name:ident, $getter:ident: $ty:ty;)*) => {
        impl Limits {
            $(
                $(#[$doc])*
                pub fn $name(mut self, value: $ty) -> Self {
                    self.$name = value;
                    self
                }

                #[doc = concat!("The current [`", stringify!($name), "`](Self::", stringify!($name), ") limit.")]
                pub fn $getter(&self) -> $ty {
                    self.$name
                }
            )*
        }
    };
}

limit_accessors! {
    /// The largest body of any encoding, in bytes. Adapters also use it to cap how much they
    /// read.
    body, max_body: u64;
    /// The largest JSON body, in bytes (the smaller of this and `body` applies).
    json_body, max_json_body: u64;
    /// The deepest nesting of JSON arrays and objects. Values above 128 have no effect:
    /// serde_json's own recursion limit stays on.
    json_depth, max_json_depth: u32;
    /// The largest text (non-file) field, in bytes. A raw MIME route's `body-mime` field is
    /// bounded by `body` instead.
    text_field, max_text_field: u64;
    /// The largest file part (attachment), in bytes.
    file, max_file: u64;
    /// The most file parts (attachments) in one request.
    files, max_files: u32;
    /// The most fields in one request: multipart parts, or urlencoded pairs.
    parts, max_parts: u32;
    /// The largest header block of one multipart part, in bytes.
    part_headers, max_part_headers: u64;
    /// The longest field name, in bytes.
    field_name, max_field_name: u64;
    /// The deepest nesting of a MIME message read by
    /// [`InboundMessage::message`](crate::InboundMessage::message): multiparts inside
    /// multiparts and attached messages inside attached messages. Values above 128 act as 128.
    mime_depth, max_mime_depth: u32;
    /// The most parts of a MIME message read by
    /// [`InboundMessage::message`](crate::InboundMessage::message), nested messages included.
    /// It also sets a floor of 4 KiB per part under the bound on what the parse may allocate
    /// (otherwise 8 times the message plus 1 MiB, estimated before parsing).
    mime_parts, max_mime_parts: u32;
}

/// Parses a request body given its `Content-Type` header value.
///
/// The content type is matched case-insensitively and its parameters are ignored, except the
/// multipart `boundary`. Returns [`UnsupportedContentType`](ErrorKind::UnsupportedContentType)
/// (415) for anything but JSON, urlencoded and multipart form data.
///
/// ```
/// use mailgun_webhooks::{parse, Limits, Payload};
/// let body = br#"{"signature":{"timestamp":"1700000000","token":"abc","signature":"00"},
///                 "event-data":{"event":"delivered","recipient":"a@example.com"}}"#;
/// let unverified = parse("application/json", body, &Limits::default())?;
/// assert_eq!(unverified.signature().token(), "abc");
/// # Ok::<(), mailgun_webhooks::Error>(())
/// ```
pub fn parse(content_type: &str, body: &[u8], limits: &Limits) -> Result<Unverified<Payload>> {
    let ct = ContentType::parse(content_type)?;
    if u64::try_from(body.len()).map_or(true, |n| n > limits.body) {
        return Err(ErrorKind::LimitExceeded {
            what: crate::error::Limit::Body,
            limit: limits.body,
        }
        .into());
    }
    match ct.media_type() {
        MediaType::Json => json::parse(body, limits),
        MediaType::Form => form::parse(body, limits),
        MediaType::Multipart => multipart::parse(ct.boundary()?, body, limits),
    }
}
