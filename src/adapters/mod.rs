//! Framework adapters: [`axum`](crate::axum), [`actix`](crate::actix),
//! [`hyper`](crate::hyper) and [`tower`](crate::tower), each behind the feature named after
//! its framework.
//!
//! Every adapter is a thin layer over the crate's public API ([`Receiver`](crate::Receiver),
//! [`parse_stream`](crate::parse_stream), [`Verifier`](crate::Verifier),
//! [`Admitted`](crate::Admitted)), so that it could move into a crate of its own. The
//! framework-neutral pieces they share live here, and use only the public API as well.

#[cfg(feature = "actix-web")]
pub mod actix;
#[cfg(feature = "axum")]
pub mod axum;
#[cfg(feature = "hyper")]
pub mod hyper;
#[cfg(feature = "tower")]
pub mod tower;

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
#[cfg(any(feature = "axum", feature = "hyper", feature = "tower"))]
use bytes::BytesMut;
use http::StatusCode;

use crate::observe::Delivery;
use crate::{
    Admission, Admitted, Error, ErrorKind, Event, HandlerError, InboundMessage, LazyEvent, Limit,
    Limits, MemoryReplayStore, Payload, RawPayload, Receiver, ReplayStore, Result, StoredMessage,
    Verified,
};

/// What an endpoint accepts: the payload type of an adapter's `Webhook<T>` extractor.
///
/// A tracking-event endpoint takes `Webhook<Event>`, a route's `forward()` endpoint
/// `Webhook<InboundMessage>`, a `store(notify=...)` endpoint `Webhook<StoredMessage>`, and an
/// endpoint that takes anything `Webhook<Payload>`. A body of another kind is refused with
/// [`WrongEndpoint`](ErrorKind::WrongEndpoint) (400) after it verified and before anything is
/// written to the replay store: it usually means a Mailgun webhook or route posts to the wrong
/// URL, and the 400 keeps the delivery queued at Mailgun until that is fixed.
///
/// You can implement it for your own type, for example to accept only some events.
///
/// ```
/// use mailgun_webhooks::{Error, ErrorKind, Event, FromPayload, Payload, PayloadKind};
///
/// /// Only bounces and failures.
/// struct Failure(Event);
///
/// impl FromPayload for Failure {
///     fn from_payload(payload: Payload) -> Result<Self, Error> {
///         match payload.into_event()? {
///             e @ Event::Failed(_) => Ok(Failure(e)),
///             _ => Err(ErrorKind::Malformed { what: "expected a failed event".into() }.into()),
///         }
///     }
/// }
/// ```
pub trait FromPayload: Sized {
    /// Takes this endpoint's value out of a verified payload, or fails with the error to answer
    /// (usually [`WrongEndpoint`](ErrorKind::WrongEndpoint), 400).
    fn from_payload(payload: Payload) -> Result<Self>;

    /// Takes this endpoint's value out of a verified body whose payload is not decoded yet:
    /// what the adapters call. The default runs the typed parse ([`Verified::parse`]) and then
    /// [`from_payload`](Self::from_payload); [`LazyEvent`] overrides it to decode only what
    /// its accessors read. Errors are those of the typed parse (400, 413) and of
    /// `from_payload`.
    fn from_raw_payload(raw: Verified<RawPayload>) -> Result<Verified<Self>> {
        convert(raw.parse()?)
    }
}

impl FromPayload for Payload {
    fn from_payload(payload: Payload) -> Result<Self> {
        Ok(payload)
    }
}

impl FromPayload for Event {
    fn from_payload(payload: Payload) -> Result<Self> {
        payload.into_event()
    }
}

impl FromPayload for LazyEvent {
    fn from_payload(payload: Payload) -> Result<Self> {
        payload.into_event().map(LazyEvent::from)
    }

    /// A JSON event keeps the body and reads its kind, id, recipient and timestamp; a legacy
    /// form event keeps its fields and reads the same from them (see [`LazyEvent`]).
    fn from_raw_payload(raw: Verified<RawPayload>) -> Result<Verified<Self>> {
        raw.parse_lazy()
    }
}

impl FromPayload for InboundMessage {
    fn from_payload(payload: Payload) -> Result<Self> {
        payload.into_inbound()
    }
}

impl FromPayload for StoredMessage {
    fn from_payload(payload: Payload) -> Result<Self> {
        payload.into_stored()
    }
}

/// Converts a verified payload into the endpoint's type, keeping the proof of verification.
pub(crate) fn convert<T: FromPayload>(verified: Verified<Payload>) -> Result<Verified<T>> {
    // `Verified::map` is infallible: convert inside it and carry the result out.
    let mut converted = None;
    let verified = verified.map(|payload| converted = Some(T::from_payload(payload)));
    match converted {
        Some(Ok(value)) => Ok(verified.map(|()| value)),
        Some(Err(e)) => Err(e),
        // `map` always calls its closure.
        None => Err(ErrorKind::Malformed {
            what: "payload conversion did not run".into(),
        }
        .into()),
    }
}

/// Refuses a body with a `Content-Encoding` other than `identity` (415): a compressed body
/// could expand far beyond every limit.
pub(crate) fn check_content_encoding<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Result<()> {
    for value in values {
        let identity = value
            .split(|&b| b == b',')
            .map(<[u8]>::trim_ascii)
            .all(|coding| coding.is_empty() || coding.eq_ignore_ascii_case(b"identity"));
        if !identity {
            return Err(ErrorKind::UnsupportedContentEncoding.into());
        }
    }
    Ok(())
}

/// Refuses a body whose declared `Content-Length` is over [`Limits::max_body`] (413) before
/// reading any of it. A missing or unparsable length is left to the counting done while
/// reading (the HTTP server has already refused an ill-formed one).
pub(crate) fn check_content_length(value: Option<&[u8]>, limits: &Limits) -> Result<()> {
    let Some(digits) = value.map(<[u8]>::trim_ascii) else {
        return Ok(());
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Ok(());
    }
    // All digits: a value too long for a u64 is over any limit.
    let over = std::str::from_utf8(digits)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .is_none_or(|n| n > limits.max_body());
    if over {
        Err(body_limit(limits))
    } else {
        Ok(())
    }
}

/// The [`LimitExceeded`](ErrorKind::LimitExceeded) error for the whole body.
pub(crate) fn body_limit(limits: &Limits) -> Error {
    ErrorKind::LimitExceeded {
        what: Limit::Body,
        limit: limits.max_body(),
    }
    .into()
}

/// True when `error`, or an error in its source chain, is `http_body_util::Limited`'s.
#[cfg(any(feature = "axum", feature = "hyper", feature = "tower"))]
pub(crate) fn is_length_limit(error: &Error) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(e) = next {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        next = e.source();
    }
    false
}

/// The declared `Content-Length`, when it is all digits and fits a `u64`.
fn declared_length(value: Option<&[u8]>) -> Option<u64> {
    let digits = value?.trim_ascii();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// An over-limit body is read and discarded up to this many times [`Limits::max_body`] ...
const DRAIN_FACTOR: u64 = 4;
/// ... or this many bytes, whichever is more ...
const DRAIN_FLOOR: u64 = 64 << 20;
/// ... within this time (checked between chunks) and this many chunks.
const DRAIN_TIME: Duration = Duration::from_secs(10);
const DRAIN_CHUNKS: u32 = 1 << 16;

/// Bounds the reading and discarding of the rest of an over-limit body before a 413 is
/// answered.
///
/// A server that answers 413 and closes the connection while the client is still sending
/// makes the kernel reset the connection (unread data in its receive buffer), and a client
/// that writes its whole body before reading (Python's `urllib`, many HTTP libraries) then
/// sees a connection reset instead of the 413. So the adapters read and discard the rest of
/// the body, up to the smaller of its declared length and `max(4 x max_body, 64 MiB)`, for at
/// most 10 s, then answer 413 with `Connection: close`. Nothing read is kept, so memory stays
/// bounded by the chunk size. A client that sent `Expect: 100-continue` has not sent the body:
/// it is answered at once.
#[derive(Debug)]
pub(crate) struct Drain {
    left: u64,
    chunks: u32,
    deadline: Instant,
}

impl Drain {
    /// A drain for a request with these headers' `Content-Length` (if any).
    pub(crate) fn new(limits: &Limits, content_length: Option<&[u8]>) -> Drain {
        let budget = limits
            .max_body()
            .saturating_mul(DRAIN_FACTOR)
            .max(DRAIN_FLOOR);
        Drain {
            left: declared_length(content_length).map_or(budget, |n| n.min(budget)),
            chunks: DRAIN_CHUNKS,
            deadline: Instant::now() + DRAIN_TIME,
        }
    }

    /// Counts a chunk of `len` bytes read and discarded: true while there is budget left.
    pub(crate) fn more(&mut self, len: u64) -> bool {
        self.left = self.left.saturating_sub(len);
        self.chunks = self.chunks.saturating_sub(1);
        self.left > 0 && self.chunks > 0 && Instant::now() < self.deadline
    }
}

/// True when the request asks for `100 Continue` before sending its body: a refused one has
/// nothing to drain.
pub(crate) fn expects_continue<'a>(mut values: impl Iterator<Item = &'a [u8]>) -> bool {
    values.any(|v| v.trim_ascii().eq_ignore_ascii_case(b"100-continue"))
}

/// Reads and discards the rest of `body` within `drain`'s bounds. `Limited`'s errors (each
/// further chunk past its limit is one) count as chunks; any other error ends the drain.
#[cfg(any(feature = "axum", feature = "hyper", feature = "tower"))]
async fn drain_body<B>(mut body: std::pin::Pin<&mut B>, mut drain: Drain)
where
    B: http_body::Body + ?Sized,
    B::Error: Into<BoxError>,
{
    use http_body_util::BodyExt;
    // Dropped while draining: nothing was kept or written anywhere.
    while let Some(frame) = body.frame().await {
        let len = match frame {
            Ok(frame) => frame.data_ref().map_or(0, |d| {
                u64::try_from(bytes::Buf::remaining(d)).unwrap_or(u64::MAX)
            }),
            Err(e) => {
                let e = Error::with_source(
                    ErrorKind::Malformed {
                        what: "drain".into(),
                    },
                    e,
                );
                if !is_length_limit(&e) {
                    return;
                }
                0
            }
        };
        if !drain.more(len) {
            return;
        }
    }
}

#[cfg(any(feature = "axum", feature = "hyper", feature = "tower"))]
type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Reads a request body into one buffer under [`Limits::max_body`]: a `Content-Length` (or
/// exact size hint) over it is refused before any byte is kept, a body that goes over it while
/// streaming as soon as it does (413). Either way the rest of the body is read and discarded
/// within [`Drain`]'s bounds first, so that the client can read the 413. A stream error is
/// [`Malformed`](ErrorKind::Malformed) (400), or the body limit when it is
/// `http_body_util::Limited`'s (a framework's own limit, such as axum's `DefaultBodyLimit`).
///
/// The body is kept whole because the replay store binds the signature to the payload's
/// digest, computed from the raw body after verification ([`crate::PayloadDigest`]); a
/// multipart body's files are slices of it afterwards. It is read with at most one copy: a body
/// that arrives in one frame is that frame's buffer (not copied); one in several frames is
/// copied into one buffer, allocated once at the declared `Content-Length` (or the body's
/// exact size hint) when the second frame arrives, or grown by doubling without either. The
/// declared length is the sender's claim: that buffer is counted against
/// [`Limits::in_flight`] while the body is read (when the budget cannot hold it, the buffer
/// grows with what arrives instead), so that requests that declare a large body and send a
/// few bytes cannot hold more than that budget between them.
#[cfg(any(feature = "axum", feature = "hyper", feature = "tower"))]
pub(crate) async fn read_body<B>(
    body: B,
    headers: &http::HeaderMap,
    limits: &Limits,
) -> Result<Bytes>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    use bytes::Buf;
    use http::header::{CONTENT_LENGTH, EXPECT};
    use http_body_util::BodyExt;

    let content_length = headers.get(CONTENT_LENGTH).map(|v| v.as_bytes());
    let drain = || {
        (!expects_continue(headers.get_all(EXPECT).iter().map(|v| v.as_bytes())))
            .then(|| Drain::new(limits, content_length))
    };
    let mut body = std::pin::pin!(body);
    if check_content_length(content_length, limits).is_err()
        || body.size_hint().lower() > limits.max_body()
    {
        if let Some(drain) = drain() {
            drain_body(body, drain).await;
        }
        return Err(body_limit(limits));
    }
    let max = usize::try_from(limits.max_body()).unwrap_or(usize::MAX);
    // Checked above: not over the body limit.
    let declared = declared_length(content_length)
        .or(body.size_hint().exact())
        .and_then(|n| usize::try_from(n).ok())
        .filter(|&n| n <= max);
    let mut buf = Collected::default();
    // Dropped while reading: nothing was written anywhere.
    while let Some(frame) = body.as_mut().frame().await {
        let over = match frame {
            Ok(frame) => match frame.into_data() {
                Ok(data) => {
                    if buf
                        .len()
                        .checked_add(data.remaining())
                        .is_none_or(|total| total > max)
                    {
                        true
                    } else {
                        buf.push(data, declared, limits);
                        false
                    }
                }
                // Trailers carry nothing signed.
                Err(_) => false,
            },
            Err(e) => {
                let e = Error::with_source(
                    ErrorKind::Malformed {
                        what: "reading the request body failed".into(),
                    },
                    e,
                );
                if !is_length_limit(&e) {
                    return Err(e);
                }
                true
            }
        };
        if over {
            drop(buf);
            if let Some(drain) = drain() {
                drain_body(body, drain).await;
            }
            return Err(body_limit(limits));
        }
    }
    Ok(buf.freeze())
}

/// A body's frames joined with at most one copy: the first frame is kept as it is; from the
/// second on, the frames are copied into one buffer of the declared length.
#[cfg(any(feature = "axum", feature = "hyper", feature = "tower"))]
#[derive(Default)]
struct Collected {
    first: Bytes,
    rest: Option<BytesMut>,
    /// The share of [`Limits::in_flight`] of a buffer sized from the declared length.
    _held: Option<crate::limits::InFlight>,
}

#[cfg(any(feature = "axum", feature = "hyper", feature = "tower"))]
impl Collected {
    fn len(&self) -> usize {
        self.rest.as_ref().map_or(self.first.len(), BytesMut::len)
    }

    /// Appends `data`; `declared`, not over the body limit, sizes the buffer when `limits`'
    /// in-flight budget can hold it.
    fn push(&mut self, mut data: impl bytes::Buf, declared: Option<usize>, limits: &Limits) {
        use bytes::BufMut;
        if data.remaining() == 0 {
            return;
        }
        if let Some(rest) = self.rest.as_mut() {
            rest.put(data);
        } else if self.first.is_empty() {
            // `Bytes` (what hyper and axum hand over) gives itself, not a copy.
            self.first = data.copy_to_bytes(data.remaining());
        } else {
            let total = self.first.len().saturating_add(data.remaining());
            let held = declared
                .filter(|&n| n > total)
                .and_then(|n| Some((n, limits.admit(u64::try_from(n).ok()?).ok()?)));
            let capacity = held.as_ref().map_or(total, |(n, _)| *n);
            self._held = held.map(|(_, held)| held);
            let mut rest = BytesMut::with_capacity(capacity);
            rest.extend_from_slice(&self.first);
            rest.put(data);
            self.first = Bytes::new();
            self.rest = Some(rest);
        }
    }

    fn freeze(self) -> Bytes {
        self.rest.map_or(self.first, BytesMut::freeze)
    }
}

/// An HTTP response with `status`, a `text/plain` `body`, and `Connection: close` on a 413
/// (the request's body may not have been read to its end).
#[cfg(any(feature = "hyper", feature = "tower"))]
pub(crate) fn http_response<B: From<&'static str>>(
    status: StatusCode,
    body: &'static str,
) -> http::Response<B> {
    use http::HeaderValue;
    use http::header::{CONNECTION, CONTENT_TYPE};
    let mut response = http::Response::new(B::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Parses and verifies `body` (with its request's `headers`) under the receiver's limits and
/// reserves it, as the hyper adapter and the tower layer do: `Ok(None)` for a duplicate of a
/// committed delivery.
#[cfg(any(feature = "hyper", feature = "tower"))]
pub(crate) async fn admit_request<T, B, S>(
    receiver: &Receiver<S>,
    headers: &http::HeaderMap,
    body: B,
) -> Result<Option<Webhook<T, S>>>
where
    T: FromPayload,
    B: http_body::Body,
    B::Error: Into<BoxError>,
    S: ReplayStore + Clone,
{
    use http::header::{CONTENT_ENCODING, CONTENT_TYPE};
    let limits = receiver.verifier().limits();
    check_content_encoding(
        headers
            .get_all(CONTENT_ENCODING)
            .iter()
            .map(|v| v.as_bytes()),
    )?;
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = read_body(body, headers, limits).await?;
    reserve(receiver, &content_type, body).await
}

/// Parses and verifies a whole body, computes its payload digest, takes the endpoint's payload
/// out of it and reserves it: `Ok(None)` for a duplicate of a committed delivery (answer 200
/// without running the handler).
pub(crate) async fn reserve<T: FromPayload, S: ReplayStore + Clone>(
    receiver: &Receiver<S>,
    content_type: &str,
    body: Bytes,
) -> Result<Option<Webhook<T, S>>> {
    let delivery = Delivery::start();
    let admitted = delivery
        .instrument(async {
            // The verified value keeps the body (shared, not copied) for `Verified::raw_body`.
            let (raw, digest) = receiver.verify_envelope_request_bytes(content_type, body)?;
            delivery.verified(&raw);
            let verified = T::from_raw_payload(raw).inspect_err(|e| {
                if let ErrorKind::WrongEndpoint { found, .. } = e.kind() {
                    delivery.payload(*found, None);
                }
            })?;
            if let Some((payload, event)) = verified.kinds() {
                delivery.payload(payload, event);
            }
            // Dropped while reserving: nothing reserved, or a pending record bound to this payload.
            receiver.admit_verified(verified, digest).await
        })
        .await;
    match admitted {
        Ok(Admission::Admitted(admitted)) => Ok(Some(Webhook { admitted, delivery })),
        Ok(Admission::Duplicate(_)) => {
            delivery.finish(Ok("duplicate"));
            Ok(None)
        }
        Err(e) => {
            delivery.finish(Err(&e));
            Err(e)
        }
    }
}

/// Records how a processed delivery ended.
fn settle(delivery: Delivery, result: &Result<()>, unproven: bool) {
    delivery.finish(match result {
        Ok(()) if unproven => Ok("processed_unproven"),
        Ok(()) => Ok("processed"),
        Err(e) => Err(e),
    });
}

/// A verified delivery, reserved in the replay store, for a handler to
/// [`process`](Self::process). Each adapter's extractor (or the hyper adapter's `admit`) makes
/// one; see the crate docs' [frameworks](crate#frameworks) section.
///
/// `T` is what the endpoint accepts ([`Event`] by default; see [`FromPayload`]), `S` the store
/// type of the [`Receiver`](crate::Receiver). Its payload is reachable only through `process`
/// (or [`into_admitted`](Self::into_admitted), to commit or release it yourself), so that
/// nothing acts on a delivery without recording it. A `Webhook` dropped unprocessed releases
/// its reservation ([`MemoryReplayStore`] at once, other stores after their pending lifetime),
/// still bound to its payload: a retry of the same payload is processed, nothing else is.
///
/// # Cancellation
///
/// [`process`](Self::process) runs the handler **to completion on its own task** when a Tokio
/// runtime is running (axum, hyper and actix-web all run on one): if the client hangs up and
/// the framework drops the request future, the handler still finishes and the delivery is
/// committed (or released), so Mailgun's retry finds it `duplicate`. A cancelled request
/// leaves behind only that task, which ends when the handler does.
/// [`process_local`](Self::process_local) runs it inside the request future instead, for a
/// handler that is not `Send + 'static`: if that future is dropped, the handler stops at its
/// current `.await` and the reservation is abandoned, bound to this payload, so only Mailgun's
/// retry of the same payload runs it again.
#[must_use = "call `process` to run your code and commit the delivery"]
pub struct Webhook<T = Event, S = MemoryReplayStore>
where
    S: ReplayStore,
{
    admitted: Admitted<S, T>,
    delivery: Delivery,
}

impl<T, S: ReplayStore> Webhook<T, S> {
    /// Runs `handler` on the delivery, then commits it when the handler returns `Ok(())`, or
    /// releases it when it returns an error or panics (so that Mailgun's retry is processed):
    /// see [`Admitted::process`]. Returns the response to answer: 200, 500, 406 for
    /// [`HandlerError::reject`], or 503 when the commit failed.
    ///
    /// Errors convert into [`HandlerError`] with `?`. The handler runs on its own Tokio task
    /// when a runtime is running, so that a client hang-up does not cancel it (see
    /// [cancellation](Self#cancellation)); without a runtime it runs inline.
    ///
    /// The handler returns exactly `Result<(), HandlerError>`, so a closure ending in a bare
    /// `Ok(())` needs no annotation. A handler with an error type of its own (any error that
    /// converts into [`HandlerError`]) goes to [`process_with`](Self::process_with).
    pub async fn process<F, Fut>(self, handler: F) -> WebhookResponse
    where
        T: Send + 'static,
        S: 'static,
        F: FnOnce(Verified<T>) -> Fut + Send + 'static,
        Fut: Future<Output = std::result::Result<(), HandlerError>> + Send + 'static,
    {
        self.process_with(handler).await
    }

    /// Like [`process`](Self::process), for a handler whose error is any type that converts
    /// into [`HandlerError`]: your own error type (through its `Into<HandlerError>`, or as any
    /// `std::error::Error + Send + Sync`), the crate's [`Error`], a `String`, or a
    /// [`HandlerError`] with a [`body`](HandlerError::with_body) of your choice.
    ///
    /// ```
    /// # #[cfg(feature = "axum")] {
    /// use mailgun_webhooks::axum::{Webhook, WebhookResponse};
    /// use mailgun_webhooks::{Event, HandlerError, Verified};
    ///
    /// #[derive(Debug)]
    /// enum StoreError { Unavailable, UnknownCustomer }
    ///
    /// impl From<StoreError> for HandlerError {
    ///     fn from(e: StoreError) -> Self {
    ///         match e {
    ///             StoreError::Unavailable => HandlerError::retry("store unavailable")
    ///                 .with_body("store_unavailable"),
    ///             StoreError::UnknownCustomer => HandlerError::reject("unknown customer")
    ///                 .with_body("unknown_customer"),
    ///         }
    ///     }
    /// }
    ///
    /// async fn save(event: Verified<Event>) -> Result<(), StoreError> {
    ///     # let _ = event;
    ///     Ok(())
    /// }
    ///
    /// async fn tracking(webhook: Webhook<Event>) -> WebhookResponse {
    ///     webhook.process_with(save).await
    /// }
    /// # }
    /// ```
    #[cfg_attr(
        not(any(feature = "axum", feature = "actix-web", feature = "hyper")),
        allow(dead_code)
    )]
    pub async fn process_with<F, Fut, E>(self, handler: F) -> WebhookResponse
    where
        T: Send + 'static,
        S: 'static,
        F: FnOnce(Verified<T>) -> Fut + Send + 'static,
        Fut: Future<Output = std::result::Result<(), E>> + Send + 'static,
        E: Into<HandlerError> + Send + 'static,
    {
        let unproven = self.admitted.is_unproven();
        let delivery = self.delivery;
        let admitted = self.admitted;
        let work = delivery.instrument(async move { admitted.process(handler).await });
        let result = match tokio::runtime::Handle::try_current() {
            // Detached: dropping the `JoinHandle` (a hang-up) does not cancel the task.
            Ok(runtime) => match runtime.spawn(work).await {
                Ok(result) => result,
                // The runtime is shutting down (the task was cancelled and its reservation
                // abandoned, bound to this payload), or the task panicked outside the handler.
                Err(_) => Err(Error::new(ErrorKind::Handler)),
            },
            Err(_) => work.await,
        };
        settle(delivery, &result, unproven);
        WebhookResponse::settled(result, unproven)
    }

    /// Like [`process`](Self::process), but runs the handler inside the returned future, for
    /// a handler that is not `Send + 'static`. If the future is dropped (a client hang-up),
    /// the handler stops at its current `.await` and the reservation is abandoned, still bound
    /// to this payload.
    pub async fn process_local<F, Fut>(self, handler: F) -> WebhookResponse
    where
        F: FnOnce(Verified<T>) -> Fut,
        Fut: Future<Output = std::result::Result<(), HandlerError>>,
    {
        self.process_local_with(handler).await
    }

    /// Like [`process_local`](Self::process_local), for a handler whose error is any type that
    /// converts into [`HandlerError`] (see [`process_with`](Self::process_with)).
    pub async fn process_local_with<F, Fut, E>(self, handler: F) -> WebhookResponse
    where
        F: FnOnce(Verified<T>) -> Fut,
        Fut: Future<Output = std::result::Result<(), E>>,
        E: Into<HandlerError>,
    {
        let unproven = self.admitted.is_unproven();
        let result = self
            .delivery
            .instrument(self.admitted.process(handler))
            .await;
        settle(self.delivery, &result, unproven);
        WebhookResponse::settled(result, unproven)
    }

    /// True when the store could not prove the delivery unseen (signed before its epoch) and
    /// admitted it under [`LossPolicy::Accept`](crate::LossPolicy::Accept).
    pub fn is_unproven(&self) -> bool {
        self.admitted.is_unproven()
    }

    /// The reserved delivery, for code that commits or releases it itself. Commit it only once
    /// it is processed; until then (and if it is dropped) Mailgun's retries are not treated as
    /// duplicates.
    pub fn into_admitted(self) -> Admitted<S, T> {
        self.admitted
    }
}

impl<T, S: ReplayStore> fmt::Debug for Webhook<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.admitted.verified();
        f.debug_struct("Webhook")
            .field("timestamp", &v.timestamp())
            .field("format", &v.format())
            .field("matched_key", &v.matched_key())
            .finish_non_exhaustive()
    }
}

/// What happened to a delivery: the status to answer Mailgun with, and why it failed if it did.
///
/// Return it from an axum handler (`IntoResponse`) or an actix-web handler (`Responder`), or
/// turn it into an `http::Response` with the hyper adapter's `into_response`. The body is
/// short and leaks nothing: `ok`, `duplicate`, the error's [`name`](Error::name), or the code
/// the handler chose with [`HandlerError::with_body`].
#[derive(Debug)]
#[must_use = "answer with it: its status tells Mailgun whether to retry"]
pub struct WebhookResponse {
    status: StatusCode,
    error: Option<Error>,
    duplicate: bool,
    unproven: bool,
}

impl WebhookResponse {
    pub(crate) fn processed() -> Self {
        WebhookResponse {
            status: StatusCode::OK,
            error: None,
            duplicate: false,
            unproven: false,
        }
    }

    fn settled(result: Result<()>, unproven: bool) -> Self {
        match result {
            Ok(()) => WebhookResponse {
                unproven,
                ..WebhookResponse::processed()
            },
            Err(e) => WebhookResponse::failed(e),
        }
    }

    /// True when the delivery was processed although the store could not prove it unseen
    /// (see [`Outcome::ProcessedUnproven`](crate::Outcome::ProcessedUnproven)).
    pub fn is_unproven(&self) -> bool {
        self.unproven
    }

    #[cfg_attr(not(any(feature = "hyper", feature = "tower")), allow(dead_code))]
    pub(crate) fn duplicate() -> Self {
        WebhookResponse {
            status: StatusCode::OK,
            error: None,
            duplicate: true,
            unproven: false,
        }
    }

    pub(crate) fn failed(error: Error) -> Self {
        WebhookResponse {
            status: error.status(),
            error: Some(error),
            duplicate: false,
            unproven: false,
        }
    }

    /// The status: 200 when processed or a duplicate; otherwise the error's (500 when the
    /// handler failed, 406 when it rejected the delivery, 503 when the commit failed, ...).
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Why it failed, if it did: [`ErrorKind::Handler`] (the handler's error is its
    /// [`source`](std::error::Error::source)), [`ErrorKind::Rejected`], or a store error.
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    /// Consumes the response, returning the error if there was one.
    pub fn into_error(self) -> Option<Error> {
        self.error
    }

    /// True when the delivery was a duplicate of a committed one and the handler did not run.
    pub fn is_duplicate(&self) -> bool {
        self.duplicate
    }

    /// The response body: `ok`, `duplicate`, the error's stable [`name`](Error::name), or the
    /// `&'static str` the handler chose with [`HandlerError::with_body`] (see
    /// [`Error::response_body`]). Never a message, the key, or a byte of the request.
    pub fn body(&self) -> &'static str {
        match (&self.error, self.duplicate) {
            (Some(e), _) => e.response_body(),
            (None, true) => "duplicate",
            (None, false) => "ok",
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail by panicking
mod tests {
    use super::*;

    #[test]
    fn content_encoding_identity_only() {
        assert!(check_content_encoding([]).is_ok());
        assert!(check_content_encoding([&b"identity"[..]]).is_ok());
        assert!(check_content_encoding([&b" Identity , "[..]]).is_ok());
        for bad in [&b"gzip"[..], b"identity, gzip", b"br", b"x-identity"] {
            let e = check_content_encoding([bad]).unwrap_err();
            assert_eq!(e.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        }
        assert!(check_content_encoding([&b"identity"[..], b"deflate"]).is_err());
    }

    #[test]
    fn content_length_over_the_body_limit() {
        let limits = Limits::default().body(10);
        assert!(check_content_length(None, &limits).is_ok());
        assert!(check_content_length(Some(b"10"), &limits).is_ok());
        assert!(check_content_length(Some(b"junk"), &limits).is_ok());
        let e = check_content_length(Some(b"11"), &limits).unwrap_err();
        assert_eq!(e.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(check_content_length(Some(b"99999999999999999999999"), &limits).is_err());
    }

    #[test]
    fn drain_is_bounded_by_the_declared_length_the_budget_and_chunks() {
        let limits = Limits::default().body(1 << 20);
        // Declared 10 bytes: done after them.
        let mut d = Drain::new(&limits, Some(b" 10 "));
        assert!(d.more(4));
        assert!(!d.more(6));
        // No length: max(4 x max_body, 64 MiB).
        let mut d = Drain::new(&limits, None);
        assert!(d.more((64 << 20) - 1));
        assert!(!d.more(1));
        let big = Limits::default().body(32 << 20);
        let mut d = Drain::new(&big, Some(b"99999999999999999999999"));
        assert!(d.more((128 << 20) - 1));
        assert!(!d.more(1));
        // Chunks of nothing (a framework limit's errors) end after the chunk bound.
        let mut d = Drain::new(&limits, None);
        assert_eq!(
            (0..).take_while(|_| d.more(0)).count(),
            (DRAIN_CHUNKS - 1) as usize
        );
    }

    #[test]
    fn expect_continue() {
        assert!(expects_continue([&b" 100-Continue "[..]].into_iter()));
        assert!(!expects_continue([&b"200-ok"[..]].into_iter()));
        assert!(!expects_continue(std::iter::empty()));
    }

    #[test]
    fn bodies_are_short_names() {
        assert_eq!(WebhookResponse::processed().body(), "ok");
        assert_eq!(WebhookResponse::duplicate().body(), "duplicate");
        let h = WebhookResponse::failed(ErrorKind::SignatureMismatch.into());
        assert_eq!(h.body(), "signature_mismatch");
        assert_eq!(h.status(), StatusCode::UNAUTHORIZED);
    }
}
