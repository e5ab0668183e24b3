//! The envelope pass, and the pipeline built on it: scan → verify → typed parse.
//!
//! The envelope pass is all the crate does before the signature is verified. It is bounded by
//! the body (and [`Limits`]) and decodes no JSON inside the payload:
//!
//! - JSON: serde_json checks the body's syntax without allocating, reads the `signature`
//!   object, and keeps `event-data` as its exact text;
//! - urlencoded: every pair split and percent-decoded, the signature fields taken from their
//!   last occurrence;
//! - multipart: every part read, text fields as text, files as slices of the one buffer.
//!
//! Rejecting a forged body then costs this scan and one HMAC. The typed parse (the
//! `event-data` object, `X-Mailgun-Variables`, `message-headers`, `content-id-map`, a stored
//! message's `attachments`, unknown events kept whole) runs after verification, under the
//! node budget [`Limits::json_nodes`].

use std::fmt;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

use super::fields::{Fields, limit};
use super::multipart::{Collector, read_error};
use super::{ContentType, LegacyEvent, MediaType, Payload, form, json, multipart};
use crate::error::{ErrorKind, Limit, Result};
use crate::event::{LazyEvent, MemberSpans};
use crate::limits::{InFlight, Limits, NodeBudget};
use crate::message::MimeLimits;
use crate::verify::{Format, Signature, Unverified, Verified, Verifier};

/// A request body after the envelope pass: its signed fields found, its payload kept raw.
///
/// Nothing inside the payload has been decoded yet: no JSON value, no user variable, no
/// header list. Get one from [`scan`] or [`scan_stream`] (as an [`Unverified`] value), verify
/// it with [`Verifier::verify`], then run the typed parse with [`Verified::parse`]:
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use mailgun_webhooks::{scan, Limits, Payload, SigningKey, Verifier};
///
/// let key = SigningKey::new("key");
/// let body = format!(
///     r#"{{"signature":{{"timestamp":"1700000000","token":"abc","signature":"{}"}},
///         "event-data":{{"event":"delivered","recipient":"a@example.com"}}}}"#,
///     key.sign("1700000000", "abc"),
/// );
/// let verifier = Verifier::new(key);
/// let raw = scan("application/json", body.as_bytes(), verifier.limits())?;
/// let verified = verifier.verify_at(raw, UNIX_EPOCH + Duration::from_secs(1_700_000_000))?;
/// let event = verified.parse()?.into_payload().into_event()?; // typed parse, after verifying
/// assert_eq!(event.recipient(), Some("a@example.com"));
/// # Ok::<(), mailgun_webhooks::Error>(())
/// ```
///
/// A `RawPayload` owns what it needs (a verified one can be queued and parsed later); it
/// keeps the node budget of the [`Limits`] it was scanned under.
#[derive(Clone)]
pub struct RawPayload {
    raw: Raw,
    nodes: u64,
    /// Bounds of the lazy MIME view of an inbound message.
    mime: MimeLimits,
}

#[derive(Clone)]
enum Raw {
    /// The exact text of `event-data`, and where the envelope pass found the members a
    /// [`LazyEvent`] reads up front.
    Json(Bytes, Option<MemberSpans>),
    /// The fields of a form.
    Fields(Fields),
}

impl fmt::Debug for RawPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.raw {
            Raw::Json(text, _) => f
                .debug_struct("RawPayload")
                .field("event_data_len", &text.len())
                .finish(),
            Raw::Fields(fields) => {
                let (texts, files) = fields.summary();
                f.debug_struct("RawPayload")
                    .field("text_fields", &texts)
                    .field("files", &files)
                    .finish()
            }
        }
    }
}

impl RawPayload {
    /// The typed parse, under this payload's node budget. `signature` is the one it came
    /// with (legacy events take their timestamp from it).
    fn typed(self, signature: &Signature) -> Result<Payload> {
        let budget = NodeBudget::new(self.nodes);
        match self.raw {
            Raw::Json(text, _) => json::event(&text, &budget).map(Payload::Event),
            Raw::Fields(fields) => fields.finish(signature.timestamp(), &budget, self.mime),
        }
    }
}

impl Verified<RawPayload> {
    /// The typed parse of a verified body: its event, inbound message or stored-message
    /// notification.
    ///
    /// Bounded by the node budget of the [`Limits`] the body was scanned under
    /// ([`Limits::json_nodes`]); over it is a [`LimitExceeded`](ErrorKind::LimitExceeded)
    /// error (413). Malformed JSON inside the payload, or an `event-data` that is not an
    /// object, is [`Malformed`](ErrorKind::Malformed) (400).
    pub fn parse(self) -> Result<Verified<Payload>> {
        self.try_map_with(|sig, raw| raw.typed(sig)).map(kinded)
    }

    /// The tracking event of a verified body, read on access ([`LazyEvent`]): its kind, id,
    /// recipient and timestamp are read now and every other field when first asked for (for
    /// a legacy form event, the JSON inside its fields). A route's payload is a
    /// [`WrongEndpoint`](ErrorKind::WrongEndpoint) error (400).
    ///
    /// Refuses what [`parse`](Self::parse) refuses before a handler could run: an `event-data`
    /// that is not an object (400), over the node budget (413). See [`LazyEvent`] for how it
    /// differs.
    ///
    /// ```
    /// use mailgun_webhooks::{EventKind, SigningKey, Verifier};
    ///
    /// let key = SigningKey::new("key");
    /// let body = format!(
    ///     r#"{{"signature":{{"timestamp":"1700000000","token":"abc","signature":"{}"}},
    ///         "event-data":{{"event":"delivered","recipient":"a@example.com"}}}}"#,
    ///     key.sign("1700000000", "abc"),
    /// );
    /// let verifier = Verifier::new(key);
    /// let raw = mailgun_webhooks::scan_bytes("application/json", body, verifier.limits())?;
    /// # let raw = verifier.verify_at(raw, std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000))?;
    /// # /*
    /// let raw = verifier.verify(raw)?;
    /// # */
    /// let event = raw.parse_lazy()?;
    /// assert_eq!(event.payload().kind(), EventKind::Delivered);
    /// assert_eq!(event.payload().recipient(), Some("a@example.com"));
    /// # Ok::<(), mailgun_webhooks::Error>(())
    /// ```
    pub fn parse_lazy(self) -> Result<Verified<LazyEvent>> {
        let verified = self.try_map_with(|signature, raw| {
            let RawPayload { raw, nodes, mime } = raw;
            match raw {
                Raw::Json(text, members) => LazyEvent::from_json(text, members, nodes),
                Raw::Fields(fields) => {
                    match LegacyEvent::new(fields, signature.timestamp(), nodes) {
                        Ok(event) => Ok(LazyEvent::from_form(event)),
                        Err(fields) => {
                            let budget = NodeBudget::new(nodes);
                            fields
                                .finish(signature.timestamp(), &budget, mime)?
                                .into_event()
                                .map(LazyEvent::from)
                        }
                    }
                }
            }
        })?;
        let kinds = verified.payload().kinds();
        Ok(verified.with_kinds(kinds))
    }
}

impl Unverified<RawPayload> {
    /// The typed parse **before** verification, as [`parse`](crate::parse()) does. Prefer
    /// verifying first ([`Verifier::verify`], then [`Verified::parse`]): this decodes work
    /// that anyone can send, although still within the node budget.
    pub fn parse_unverified(self) -> Result<Unverified<Payload>> {
        let format = self.format();
        let (signature, raw) = self.into_parts();
        let payload = raw.typed(&signature)?;
        Ok(Unverified::new(signature, format, payload))
    }
}

/// The envelope pass, borrowing the body: JSON keeps a slice of it.
enum Scanned<'a> {
    Json(json::EventDataText<'a>),
    Fields(Fields),
}

impl Scanned<'_> {
    fn typed(self, signature: &Signature, limits: &Limits) -> Result<Payload> {
        let budget = NodeBudget::new(limits.max_json_nodes());
        match self {
            Scanned::Json(data) => json::event(data.text, &budget).map(Payload::Event),
            Scanned::Fields(fields) => {
                fields.finish(signature.timestamp(), &budget, MimeLimits::new(limits))
            }
        }
    }

    /// The raw payload; JSON text is a slice of `owner` when the body is held as `Bytes`, a
    /// copy otherwise.
    fn into_raw(self, limits: &Limits, owner: Option<&Bytes>) -> RawPayload {
        let raw = match self {
            Scanned::Json(json::EventDataText { text, members }) => Raw::Json(
                match owner {
                    Some(body) => body.slice_ref(text),
                    None => Bytes::copy_from_slice(text),
                },
                members,
            ),
            Scanned::Fields(fields) => Raw::Fields(fields),
        };
        RawPayload {
            raw,
            nodes: limits.max_json_nodes(),
            mime: MimeLimits::new(limits),
        }
    }
}

/// Records what a decoded payload is, for logs and metrics.
fn kinded(verified: Verified<Payload>) -> Verified<Payload> {
    let kinds = verified.payload().kinds();
    verified.with_kinds(kinds)
}

fn check_body(body: &[u8], limits: &Limits) -> Result<()> {
    if u64::try_from(body.len()).map_or(true, |n| n > limits.max_body()) {
        return Err(ErrorKind::LimitExceeded {
            what: Limit::Body,
            limit: limits.max_body(),
        }
        .into());
    }
    Ok(())
}

/// The envelope pass over `body`; `owner`, when given, is the same bytes as `Bytes`, so that a
/// multipart body is not copied (its files become slices of it).
fn scan_borrowed<'a>(
    content_type: &str,
    body: &'a [u8],
    owner: Option<&Bytes>,
    limits: &Limits,
) -> Result<(Signature, Format, Scanned<'a>)> {
    let ct = ContentType::parse(content_type)?;
    check_body(body, limits)?;
    Ok(match ct.media_type() {
        MediaType::Json => {
            let (sig, data) = json::scan(body, limits)?;
            (sig, Format::Json, Scanned::Json(data))
        }
        MediaType::Form => {
            let (sig, fields) = form::scan(body, limits)?;
            (sig, Format::Form, Scanned::Fields(fields))
        }
        MediaType::Multipart => {
            let (sig, fields) = match owner {
                Some(owner) => multipart::scan_owned(ct.boundary()?, owner.clone(), limits)?,
                None => multipart::scan(ct.boundary()?, body, limits)?,
            };
            (sig, Format::Multipart, Scanned::Fields(fields))
        }
    })
}

/// The envelope pass over an in-memory body: finds the signed fields and keeps the payload
/// raw (see [`RawPayload`]). Verify the result, then call [`Verified::parse`].
///
/// Errors as [`parse`](crate::parse()) gives them for the body's framing and limits, and
/// [`Overloaded`](ErrorKind::Overloaded) (503) when [`Limits::in_flight`] is used up.
pub fn scan(content_type: &str, body: &[u8], limits: &Limits) -> Result<Unverified<RawPayload>> {
    let _held = limits.admit(len64(body.len()))?;
    let (sig, format, scanned) = scan_borrowed(content_type, body, None, limits)?;
    Ok(Unverified::new(sig, format, scanned.into_raw(limits, None)))
}

/// [`scan`] for a body already held as [`Bytes`] (what HTTP frameworks hand over): nothing
/// proportional to the body is copied. The JSON payload is a slice of `body`; a multipart
/// body's files are slices of it too (multer reads it a window at a time); a urlencoded body is
/// decoded as by [`scan`]. The result keeps `body`'s buffer alive as long as it holds such a
/// slice.
pub fn scan_bytes(
    content_type: &str,
    body: impl Into<Bytes>,
    limits: &Limits,
) -> Result<Unverified<RawPayload>> {
    let body: Bytes = body.into();
    let _held = limits.admit(len64(body.len()))?;
    let (sig, format, scanned) = scan_borrowed(content_type, &body, Some(&body), limits)?;
    Ok(Unverified::new(
        sig,
        format,
        scanned.into_raw(limits, Some(&body)),
    ))
}

/// [`scan`] for a body that arrives in chunks (see [`parse_stream`]).
pub async fn scan_stream<S, B, E>(
    content_type: &str,
    body: S,
    limits: &Limits,
) -> Result<Unverified<RawPayload>>
where
    S: Stream<Item = std::result::Result<B, E>> + Send,
    B: Into<Bytes>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    scan_stream_sized(content_type, None, body, limits).await
}

/// [`scan_stream`] for a body whose length is declared (its `Content-Length`): see
/// [`parse_stream_sized`].
pub async fn scan_stream_sized<S, B, E>(
    content_type: &str,
    content_length: Option<u64>,
    body: S,
    limits: &Limits,
) -> Result<Unverified<RawPayload>>
where
    S: Stream<Item = std::result::Result<B, E>> + Send,
    B: Into<Bytes>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut held = limits.admit(0)?;
    scan_stream_held(content_type, content_length, body, limits, &mut held).await
}

/// Collects a streamed body whose length the sender declared into one buffer of that length,
/// under `max` (`what` names the limit), after `inspect` has seen each chunk.
///
/// The declared length is the sender's claim, unverified: over `max` it is refused before any
/// byte is read, and it is counted against [`Limits::in_flight`] (through `held`) only when
/// the first byte arrives, before anything is allocated. A body that ends up longer than
/// declared grows the buffer (and `held`) as it arrives, still refused as soon as it is over
/// `max`; one that ends up shorter keeps the declared capacity until it is dropped. A body that
/// arrives as one chunk is kept as it is, not copied.
async fn collect_declared<S, B, E>(
    body: S,
    declared: u64,
    (what, max): (Limit, u64),
    held: &mut InFlight,
    mut inspect: impl FnMut(&[u8]) -> Result<()>,
) -> Result<Bytes>
where
    S: Stream<Item = std::result::Result<B, E>> + Send,
    B: Into<Bytes>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if declared > max {
        return Err(limit(what, max));
    }
    let mut body = std::pin::pin!(body);
    let mut first: Option<Bytes> = None;
    let mut buf: Option<BytesMut> = None;
    let mut seen: u64 = 0;
    let mut reserved: u64 = 0;
    while let Some(chunk) = body.next().await {
        let chunk: Bytes = chunk.map_err(read_error)?.into();
        if chunk.is_empty() {
            continue;
        }
        seen = seen.saturating_add(len64(chunk.len()));
        if seen > max {
            return Err(limit(what, max));
        }
        if seen > reserved {
            let want = if reserved == 0 {
                declared.max(seen)
            } else {
                seen
            };
            held.grow(want.saturating_sub(reserved))?;
            reserved = want;
        }
        inspect(&chunk)?;
        if let Some(buf) = buf.as_mut() {
            buf.extend_from_slice(&chunk);
        } else if let Some(one) = first.take() {
            // The second chunk: one buffer of the declared length, allocated once.
            let mut joined =
                BytesMut::with_capacity(usize::try_from(declared.max(seen)).unwrap_or(0));
            joined.extend_from_slice(&one);
            joined.extend_from_slice(&chunk);
            buf = Some(joined);
        } else {
            first = Some(chunk);
        }
    }
    Ok(match (buf, first) {
        (Some(buf), _) => buf.freeze(),
        (None, one) => one.unwrap_or_default(),
    })
}

async fn scan_stream_held<S, B, E>(
    content_type: &str,
    content_length: Option<u64>,
    body: S,
    limits: &Limits,
    held: &mut InFlight,
) -> Result<Unverified<RawPayload>>
where
    S: Stream<Item = std::result::Result<B, E>> + Send,
    B: Into<Bytes>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let ct = ContentType::parse(content_type)?;
    let (what, max) = match ct.media_type() {
        MediaType::Multipart => {
            let boundary = ct.boundary()?;
            let (sig, fields) = match content_length {
                // One buffer of the declared length, then the in-memory pass over it, which
                // copies nothing: files are slices of that buffer.
                Some(declared) => {
                    let bytes = collect_declared(
                        body,
                        declared,
                        (Limit::Body, limits.max_body()),
                        held,
                        multipart::framing(boundary, limits),
                    )
                    .await?;
                    multipart::scan_owned(boundary, bytes, limits)?
                }
                None => multipart::scan_stream(boundary, body, limits).await?,
            };
            let raw = RawPayload {
                raw: Raw::Fields(fields),
                nodes: limits.max_json_nodes(),
                mime: MimeLimits::new(limits),
            };
            return Ok(Unverified::new(sig, Format::Multipart, raw));
        }
        MediaType::Form => {
            // Decoded pair by pair as the chunks arrive: the raw body is never held whole.
            let max = limits.max_body();
            let mut seen: u64 = 0;
            let mut scan = form::StreamScan::new(limits);
            let mut body = std::pin::pin!(body);
            while let Some(chunk) = body.next().await {
                let chunk: Bytes = chunk.map_err(read_error)?.into();
                let n = len64(chunk.len());
                seen = seen.saturating_add(n);
                if seen > max {
                    return Err(ErrorKind::LimitExceeded {
                        what: Limit::Body,
                        limit: max,
                    }
                    .into());
                }
                held.grow(n)?;
                scan.push(&chunk)?;
            }
            let (sig, fields) = scan.finish()?;
            let raw = RawPayload {
                raw: Raw::Fields(fields),
                nodes: limits.max_json_nodes(),
                mime: MimeLimits::new(limits),
            };
            return Ok(Unverified::new(sig, Format::Form, raw));
        }
        MediaType::Json => limits.json_max(),
    };
    let bytes = if let Some(declared) = content_length {
        collect_declared(body, declared, (what, max), held, |_| Ok(())).await?
    } else {
        let mut body = std::pin::pin!(body);
        let mut collected = Collector::default();
        while let Some(chunk) = body.next().await {
            let chunk: Bytes = chunk.map_err(read_error)?.into();
            held.grow(len64(chunk.len()))?;
            collected.push(chunk, what, max)?;
        }
        collected.finish()
    };
    let (sig, data) = json::scan(&bytes, limits)?;
    let raw = RawPayload {
        // A slice of the collected body, not a copy.
        raw: Raw::Json(bytes.slice_ref(data.text), data.members),
        nodes: limits.max_json_nodes(),
        mime: MimeLimits::new(limits),
    };
    Ok(Unverified::new(sig, Format::Json, raw))
}

fn len64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Parses a request body given its `Content-Type` header value: the envelope pass, then the
/// typed parse, **before** verification.
///
/// The content type is matched case-insensitively and its parameters are ignored, except the
/// multipart `boundary`. Returns [`UnsupportedContentType`](ErrorKind::UnsupportedContentType)
/// (415) for anything but JSON, urlencoded and multipart form data.
///
/// A receiver should verify before the typed parse: [`Verifier::parse_and_verify`] (or
/// [`scan`], [`Verifier::verify`], [`Verified::parse`]) rejects a forged body after the
/// envelope pass and one HMAC. This function is for tools that look at a body without a key.
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
    let _held = limits.admit(len64(body.len()))?;
    let (sig, format, scanned) = scan_borrowed(content_type, body, None, limits)?;
    let payload = scanned.typed(&sig, limits)?;
    Ok(Unverified::new(sig, format, payload))
}

/// Parses a request body that arrives in chunks, given its `Content-Type`, **before**
/// verification (see [`parse`](crate::parse()); a receiver calls
/// [`Verifier::parse_stream_and_verify`] instead).
///
/// Use it when the body is a stream (an HTTP framework's body type), so that it is never
/// buffered whole before parsing: a multipart body is parsed as it arrives and refused as
/// soon as it breaks a [`Limits`] limit, and its files are joined from their chunks at most
/// once. A JSON or urlencoded body is collected up to its limit, then parsed as by
/// [`parse`](crate::parse()). Every chunk counts against [`Limits::in_flight`] until the
/// parse ends. Errors of the stream itself become a [`Malformed`](ErrorKind::Malformed) error
/// (400) whose [`source`](std::error::Error::source) is the stream's error.
///
/// ```
/// use futures_util::{stream, FutureExt};
/// use mailgun_webhooks::{parse_stream, Limits};
///
/// let body = "--b\r\nContent-Disposition: form-data; name=\"recipient\"\r\n\r\nin@example.com\r\n\
///             --b\r\nContent-Disposition: form-data; name=\"timestamp\"\r\n\r\n1700000000\r\n\
///             --b\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\nabc\r\n\
///             --b\r\nContent-Disposition: form-data; name=\"signature\"\r\n\r\n00\r\n--b--\r\n";
/// // Chunks of 7 bytes, as a network might deliver them.
/// let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
///     body.as_bytes().chunks(7).map(|c| Ok(c.to_vec())).collect();
/// let parsed = parse_stream("multipart/form-data; boundary=b", stream::iter(chunks), &Limits::default())
///     .now_or_never() // an async runtime would `.await` it
///     .unwrap()?;
/// assert_eq!(parsed.signature().token(), "abc");
/// let msg = parsed.into_payload_unverified().into_inbound()?; // verify it first in real code
/// assert_eq!(msg.recipient.as_deref(), Some("in@example.com"));
/// # Ok::<(), mailgun_webhooks::Error>(())
/// ```
pub async fn parse_stream<S, B, E>(
    content_type: &str,
    body: S,
    limits: &Limits,
) -> Result<Unverified<Payload>>
where
    S: Stream<Item = std::result::Result<B, E>> + Send,
    B: Into<Bytes>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    parse_stream_sized(content_type, None, body, limits).await
}

/// [`parse_stream`] for a body whose length is declared: `content_length` is the request's
/// `Content-Length` (`None` when it has none, as with chunked transfer encoding), **before
/// verification**.
///
/// A multipart or JSON body with a declared length is collected into one buffer of that
/// length (allocated once, when its first byte arrives), then parsed in memory as by
/// [`scan_bytes`]: a multipart body's files are slices of that buffer, so the heap grows by
/// about the body once, against about twice without a length (multer's buffers, then each
/// file joined out of them). The length is the sender's unverified claim: one over
/// [`Limits::body`] (or [`Limits::json_body`]) is refused (413) before any byte is read, it is
/// counted against [`Limits::in_flight`] before the buffer is allocated, and a body that turns
/// out longer is still refused as soon as it goes over the limit. A multipart body's framing
/// (preamble and part headers, [`Limits::part_headers`]) is checked as it arrives; its other
/// limits (parts, files, field sizes) once it is whole, which is within [`Limits::body`].
/// A urlencoded body is decoded pair by pair as it arrives, as by [`parse_stream`].
pub async fn parse_stream_sized<S, B, E>(
    content_type: &str,
    content_length: Option<u64>,
    body: S,
    limits: &Limits,
) -> Result<Unverified<Payload>>
where
    S: Stream<Item = std::result::Result<B, E>> + Send,
    B: Into<Bytes>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut held = limits.admit(0)?;
    scan_stream_held(content_type, content_length, body, limits, &mut held)
        .await?
        .parse_unverified()
}

/// The entry points that verify before the typed parse.
impl Verifier {
    /// Parses a request body under this verifier's [`Limits`], **before** verification. See
    /// [`crate::parse()`]; prefer [`parse_and_verify`](Self::parse_and_verify).
    pub fn parse(&self, content_type: &str, body: &[u8]) -> Result<Unverified<Payload>> {
        parse(content_type, body, self.limits())
    }

    /// Scans, verifies and parses a request body in one call, at the clock's current time.
    ///
    /// The envelope pass finds the signed fields, the signature is verified, and only then
    /// is the payload parsed into typed values: a forged body costs a scan and one HMAC. The
    /// result is verified but **not yet replay-checked**.
    pub fn parse_and_verify(&self, content_type: &str, body: &[u8]) -> Result<Verified<Payload>> {
        let limits = self.limits();
        let _held = limits.admit(len64(body.len()))?;
        let (sig, format, scanned) = scan_borrowed(content_type, body, None, limits)?;
        self.verify(Unverified::new(sig, format, scanned))?
            .try_map_with(|sig, scanned| scanned.typed(sig, limits))
            .map(kinded)
    }

    /// [`parse_and_verify`](Self::parse_and_verify) for a body already held as [`Bytes`]
    /// (what HTTP frameworks hand over): a multipart body is not copied, and its attachments
    /// are slices of `body` (see [`scan_bytes`]). Peak heap for a body with a 25 MiB
    /// attachment grows by a few hundred KiB, against twice the body from a `&[u8]`.
    ///
    /// The result keeps the body, so that [`Verified::raw_body`] and
    /// [`Verified::to_envelope`](crate::Verified::to_envelope) work.
    pub fn parse_and_verify_bytes(
        &self,
        content_type: &str,
        body: impl Into<Bytes>,
    ) -> Result<Verified<Payload>> {
        let body: Bytes = body.into();
        let limits = self.limits();
        let verified = {
            let _held = limits.admit(len64(body.len()))?;
            let (sig, format, scanned) = scan_borrowed(content_type, &body, Some(&body), limits)?;
            self.verify(Unverified::new(sig, format, scanned))?
                .try_map_with(|sig, scanned| scanned.typed(sig, limits))
                .map(kinded)?
        };
        // The result keeps the body (shared, not copied): `Verified::raw_body`, `to_envelope`.
        Ok(verified.with_body(content_type, body))
    }

    /// [`parse_and_verify`](Self::parse_and_verify) for a body that arrives in chunks (see
    /// [`parse_stream`]).
    ///
    /// Dropping the future releases the body's share of [`Limits::in_flight`] and leaves
    /// nothing else behind: no store is written before verification.
    pub async fn parse_stream_and_verify<S, B, E>(
        &self,
        content_type: &str,
        body: S,
    ) -> Result<Verified<Payload>>
    where
        S: Stream<Item = std::result::Result<B, E>> + Send,
        B: Into<Bytes>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.parse_stream_and_verify_sized(content_type, None, body)
            .await
    }

    /// [`parse_stream_and_verify`](Self::parse_stream_and_verify) for a body whose length is
    /// declared (the request's `Content-Length`, `None` without one): see
    /// [`parse_stream_sized`]. With a length, a multipart body with a 25 MiB attachment grows
    /// the heap by about the body once.
    ///
    /// Dropping the future releases the body's share of [`Limits::in_flight`] and the buffer
    /// collected so far, and leaves nothing else behind.
    pub async fn parse_stream_and_verify_sized<S, B, E>(
        &self,
        content_type: &str,
        content_length: Option<u64>,
        body: S,
    ) -> Result<Verified<Payload>>
    where
        S: Stream<Item = std::result::Result<B, E>> + Send,
        B: Into<Bytes>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let mut held = self.limits().admit(0)?;
        let raw =
            scan_stream_held(content_type, content_length, body, self.limits(), &mut held).await?;
        self.verify(raw)?.parse()
    }

    /// The envelope pass and verification, without the typed parse: a queue-first service
    /// stores the [`Verified<RawPayload>`] and calls [`Verified::parse`] later.
    pub fn verify_envelope(&self, content_type: &str, body: &[u8]) -> Result<Verified<RawPayload>> {
        self.verify(scan(content_type, body, self.limits())?)
    }

    /// [`verify_envelope`](Self::verify_envelope) for a body already held as [`Bytes`]: see
    /// [`scan_bytes`].
    pub fn verify_envelope_bytes(
        &self,
        content_type: &str,
        body: impl Into<Bytes>,
    ) -> Result<Verified<RawPayload>> {
        self.verify(scan_bytes(content_type, body, self.limits())?)
    }
}
