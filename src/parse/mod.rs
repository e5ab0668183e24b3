//! Parsing request bodies: the envelope pass (before authentication), then the typed parse
//! (after it).
//!
//! Mailgun puts the signature inside the body, so the body must be read before the request
//! can be authenticated. The envelope pass ([`envelope`]) does only that: it finds the signed
//! fields and keeps the payload raw, bounded by the body and by [`Limits`](crate::Limits),
//! and no input makes it panic. The typed parse ([`json`], [`fields`] with [`legacy`] and
//! [`route`], [`form_json`]) runs after verification, under a node budget.
//!
//! Reading order: `content_type`, then the envelope of each encoding (`json::scan`,
//! `form::scan`, `multipart::scan` with `scan` and `disposition`), then `envelope` (the
//! pipeline), then the typed parse.

mod content_type;
mod disposition;
mod envelope;
mod fields;
mod form;
mod form_json;
pub(crate) mod json;
mod legacy;
pub(crate) mod multipart;
mod route;
mod scan;

pub use content_type::{ContentType, MediaType};
pub use envelope::{
    RawPayload, parse, parse_stream, parse_stream_sized, scan, scan_bytes, scan_stream,
    scan_stream_sized,
};

pub(crate) use crate::payload::Payload;
pub(crate) use legacy::LegacyEvent;
