//! [`Payload`]: what a verified request carries, a tracking event, an inbound message or a
//! stored-message notification. Typed values only: parsing lives in `parse`.

use crate::error::{Error, ErrorKind, PayloadKind, Result};
use crate::event::Event;
use crate::inbound::{InboundMessage, StoredMessage};

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

    /// What it is, for logs and metrics.
    pub(crate) fn kinds(&self) -> (PayloadKind, Option<crate::event::EventKind>) {
        match self {
            Payload::Event(e) => (PayloadKind::Event, Some(e.kind())),
            other => (other.kind(), None),
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
