//! actix-web 4: an extractor that yields a verified, replay-checked delivery (feature
//! `actix-web`).
//!
//! [`Webhook<T, S>`](Webhook) is a [`FromRequest`] extractor. It reads the [`Receiver`] from
//! the app data (register `web::Data<Receiver<S>>`, or a `Receiver<S>`, with `app_data`), reads
//! the body through actix's `web::Bytes` extractor, verifies the signature and reserves the
//! delivery in the replay store; the handler then calls [`Webhook::process`] with its own code,
//! which commits the delivery when that code succeeds and releases it when it fails.
//!
//! ```no_run
//! use actix_web::{web, App, HttpServer};
//! use mailgun_webhooks::actix::{Webhook, WebhookResponse};
//! use mailgun_webhooks::{Event, InboundMessage, MemoryReplayStore, Receiver, SigningKey, Verifier};
//!
//! // Tracking events (delivered, failed, opened, ...).
//! async fn tracking(webhook: Webhook<Event>) -> WebhookResponse {
//!     webhook
//!         .process(|event| async move {
//!             let event = event.into_payload();
//!             println!("{} for {:?}", event.kind(), event.recipient());
//!             Ok(()) // or Err(..) to answer 500 and have Mailgun retry
//!         })
//!         .await
//! }
//!
//! // A route's forward() action, with attachments.
//! async fn inbound(webhook: Webhook<InboundMessage>) -> WebhookResponse {
//!     webhook
//!         .process(|message| async move {
//!             let message = message.into_payload();
//!             println!("mail from {:?}, {} attachments", message.sender, message.attachments.len());
//!             Ok(())
//!         })
//!         .await
//! }
//!
//! fn main() -> std::io::Result<()> {
//!     let key = std::env::var("MAILGUN_WEBHOOK_SIGNING_KEY").map_err(std::io::Error::other)?;
//!     let receiver = web::Data::new(Receiver::new(
//!         Verifier::new(SigningKey::new(key)),
//!         MemoryReplayStore::new(),
//!     ));
//!     let server = HttpServer::new(move || {
//!         App::new()
//!             .app_data(receiver.clone())
//!             .route("/webhooks/mailgun", web::post().to(tracking))
//!             .service(
//!                 web::resource("/webhooks/mailgun/inbound")
//!                     // actix reads at most 256 KiB by default; inbound mail needs more.
//!                     .app_data(web::PayloadConfig::new(32 << 20))
//!                     .route(web::post().to(inbound)),
//!             )
//!     })
//!     .bind(("127.0.0.1", 3000))?
//!     .run();
//!     actix_web::rt::System::new().block_on(server)
//! }
//! ```
//!
//! # What each request answers
//!
//! | request | where | status |
//! |---|---|---|
//! | no `Receiver<S>` in the app data | extraction ([`NotConfigured`](crate::ErrorKind::NotConfigured)); nothing is skipped | 500 |
//! | bad encoding, content type, size, body, signature, wrong endpoint | extraction ([`WebhookRejection::Error`]) | 415, 413, 400, 401 |
//! | body over actix's `PayloadConfig` limit | extraction ([`WebhookRejection::Body`]) | 413 |
//! | duplicate of a committed delivery | extraction ([`WebhookRejection::Duplicate`]); your handler does not run | 200 |
//! | same delivery in flight | extraction | 409 |
//! | replay store unavailable | extraction, or the commit in `process` | 503 |
//! | your code returned `Ok(())` | `process`: committed | 200 |
//! | your code returned an error or panicked | `process`: released, so Mailgun's retry is processed | 500 |
//! | your code returned [`HandlerError::reject`](crate::HandlerError::reject) | `process`: committed | 406 |
//!
//! Response bodies are one short word (`ok`, `duplicate`, or the error's
//! [`name`](Error::name), such as `signature_mismatch`): never a message, a key or request
//! bytes. To log why a request was refused, extract `Result<Webhook<T>, WebhookRejection>`
//! and return the rejection (it is an [`actix_web::ResponseError`]) after logging it.
//!
//! # Rules of use
//!
//! - **Register the receiver** with `App::app_data(web::Data::new(receiver))` (or the
//!   `Receiver` itself), with the same store type `S` as the extractor's (default
//!   [`MemoryReplayStore`](crate::MemoryReplayStore)). Without it every request answers 500:
//!   the extractor fails closed, it never skips verification.
//! - **Put the extractor last** among the handler's arguments: it consumes the body, so no
//!   other extractor may read it.
//! - **Act on the delivery only inside [`process`](Webhook::process).** The payload is not
//!   reachable any other way, except through [`into_admitted`](Webhook::into_admitted), which
//!   hands you the reservation to [`commit`](crate::Admitted::commit) or
//!   [`release`](crate::Admitted::release) yourself. A `Webhook` dropped without either releases the
//!   reservation ([`MemoryReplayStore`](crate::MemoryReplayStore) at once, other stores after
//!   their pending lifetime), so Mailgun's retry is processed.
//! - **Say which payload the endpoint takes** with `T`: [`Event`](crate::Event) (the default) for tracking
//!   webhooks, [`InboundMessage`](crate::InboundMessage) for a route's `forward()`,
//!   [`StoredMessage`](crate::StoredMessage) for `store(notify=...)`, or
//!   [`Payload`](crate::Payload) for any. Another kind answers 400
//!   ([`WrongEndpoint`](crate::ErrorKind::WrongEndpoint)); see [`FromPayload`].
//!
//! # Body limits: `PayloadConfig`
//!
//! The body is read with actix's `web::Bytes` extractor, so actix's `web::PayloadConfig`
//! applies: **256 KiB by default**, enough for current JSON tracking events (a few KiB) but
//! not for inbound routes, whose messages and attachments reach 25 MB, nor for legacy bounce
//! webhooks that attach the original message. Raise it where such bodies arrive, for the app,
//! a scope or one resource as above:
//! `.app_data(web::PayloadConfig::new(32 << 20))`. A body over it answers 413
//! ([`WebhookRejection::Body`]). The receiver's [`Limits`](crate::Limits) apply as well: a
//! `Content-Length` over [`Limits::max_body`](crate::Limits::max_body) is refused before any
//! byte is kept. Before either 413 the extractor reads and discards the rest of the body (at
//! most `max(4 x max_body, 64 MiB)` and 10 s, not at all after `Expect: 100-continue`) and the
//! response closes the connection, so that a client that writes its whole body before reading
//! its answer reads the 413 instead of a connection reset. A `Content-Encoding` other than
//! `identity` answers 415, before anything is decompressed.
//!
//! actix's request body is not `Send`, so unlike the axum and hyper adapters this one
//! buffers the body, then parses it.
//!
//! # What this module adds to the shared types
//!
//! [`Webhook`] and [`WebhookResponse`] are the crate's one delivery and response types (shared
//! by every adapter; their pages list every enabled framework's impls). This module adds:
//!
//! - `impl<T, S> FromRequest for Webhook<T, S>` (the receiver from the app data);
//! - `impl Responder for WebhookResponse`;
//! - [`WebhookRejection`], an [`actix_web::ResponseError`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use std::cell::RefCell;
use std::rc::Rc;
use std::task::{Context, Poll};

use actix_web::body::BoxBody;
use actix_web::error::PayloadError;
use actix_web::http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, EXPECT};
use actix_web::{FromRequest, HttpRequest, HttpResponse, Responder, ResponseError, dev, web};
use futures_util::{Stream, StreamExt};
use http::StatusCode;

use super::FromPayload;
use crate::{Error, ErrorKind, Receiver, ReplayStore};
#[doc(no_inline)]
pub use crate::{Webhook, WebhookResponse};

type ExtractFuture<T> = Pin<Box<dyn Future<Output = Result<T, WebhookRejection>>>>;

impl<T, S> FromRequest for Webhook<T, S>
where
    T: FromPayload + 'static,
    S: ReplayStore + Clone + 'static,
{
    type Error = WebhookRejection;
    type Future = ExtractFuture<Self>;

    fn from_request(req: &HttpRequest, payload: &mut dev::Payload) -> Self::Future {
        let receiver = req
            .app_data::<web::Data<Receiver<S>>>()
            .map(|data| Receiver::clone(data))
            .or_else(|| req.app_data::<Receiver<S>>().cloned());
        let Some(receiver) = receiver else {
            let e = Error::new(ErrorKind::NotConfigured {
                what: "no Receiver with this store type in the actix-web app data \
                       (App::app_data(web::Data::new(receiver)))",
            });
            return Box::pin(std::future::ready(Err(e.into())));
        };
        let limits = receiver.verifier().limits();
        let headers = req.headers();
        let content_length = headers.get(CONTENT_LENGTH).map(|v| v.as_bytes());
        // Before a 413, the rest of the body is read and discarded (bounded), so that a client
        // still sending it can read the answer.
        let drain = (!super::expects_continue(headers.get_all(EXPECT).map(|v| v.as_bytes())))
            .then(|| super::Drain::new(limits, content_length));
        if let Err(e) =
            super::check_content_encoding(headers.get_all(CONTENT_ENCODING).map(|v| v.as_bytes()))
        {
            return Box::pin(std::future::ready(Err(e.into())));
        }
        if let Err(e) = super::check_content_length(content_length, limits) {
            let payload = payload.take();
            return Box::pin(async move {
                if let Some(drain) = drain {
                    drain_payload(payload, drain).await;
                }
                Err(e.into())
            });
        }
        let content_type = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        // Read through actix's `web::Bytes` extractor, which respects the app's
        // `PayloadConfig`, from a handle on the request's payload that stays here, to drain it
        // if that extractor refuses it.
        let shared = Rc::new(RefCell::new(payload.take()));
        let stream: Pin<Box<dyn Stream<Item = Result<web::Bytes, PayloadError>>>> =
            Box::pin(SharedPayload(Rc::clone(&shared)));
        let body = web::Bytes::from_request(req, &mut dev::Payload::from(stream));

        Box::pin(async move {
            let bytes = match body.await {
                Ok(bytes) => bytes,
                Err(e) => {
                    let rejection = WebhookRejection::Body(e);
                    // Taken out of the cell first: no borrow is held across the drain.
                    let rest = shared
                        .try_borrow_mut()
                        .ok()
                        .map(|mut payload| dev::Payload::take(&mut payload));
                    if let (true, Some(drain), Some(rest)) = (
                        rejection.status() == StatusCode::PAYLOAD_TOO_LARGE,
                        drain,
                        rest,
                    ) {
                        drain_payload(rest, drain).await;
                    }
                    return Err(rejection);
                }
            };
            drop(shared);
            super::reserve(&receiver, &content_type, bytes)
                .await?
                .ok_or(WebhookRejection::Duplicate)
        })
    }
}

/// The request's payload, shared between actix's body extractor and the drain that follows
/// its refusal.
struct SharedPayload(Rc<RefCell<dev::Payload>>);

impl Stream for SharedPayload {
    type Item = Result<web::Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.0.try_borrow_mut() {
            Ok(mut payload) => Pin::new(&mut *payload).poll_next(cx),
            // Never borrowed elsewhere while polled (one task); end the stream if it were.
            Err(_) => Poll::Ready(None),
        }
    }
}

/// Reads and discards the rest of `payload` within `drain`'s bounds.
async fn drain_payload(mut payload: dev::Payload, mut drain: super::Drain) {
    // Dropped while draining: nothing was kept or written anywhere.
    while let Some(Ok(chunk)) = payload.next().await {
        if !drain.more(u64::try_from(chunk.len()).unwrap_or(u64::MAX)) {
            return;
        }
    }
}

/// Why [`Webhook`] extraction did not hand the delivery to the handler. An
/// [`actix_web::ResponseError`] that answers the status of the
/// [crate's policy](crate#http-statuses) with a one-word body.
#[derive(Debug)]
#[non_exhaustive]
pub enum WebhookRejection {
    /// Configuration, parsing, verification, the endpoint's payload kind or the replay store
    /// refused it: answers [`Error::status`] (500, 400, 401, 409, 413, 415, 503).
    Error(Error),
    /// A duplicate of a delivery already processed and committed: answers 200, so that
    /// Mailgun stops retrying, without running the handler.
    Duplicate,
    /// actix could not read the body: over the `PayloadConfig` limit (413), or a broken
    /// connection (400). Answers that error's status.
    Body(actix_web::Error),
}

impl WebhookRejection {
    /// The status this rejection answers.
    pub fn status(&self) -> StatusCode {
        match self {
            WebhookRejection::Error(e) => e.status(),
            WebhookRejection::Duplicate => StatusCode::OK,
            WebhookRejection::Body(e) => {
                let status = e.as_response_error().status_code().as_u16();
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST)
            }
        }
    }

    /// The crate error, for [`WebhookRejection::Error`].
    pub fn error(&self) -> Option<&Error> {
        match self {
            WebhookRejection::Error(e) => Some(e),
            _ => None,
        }
    }

    /// True for [`WebhookRejection::Duplicate`].
    pub fn is_duplicate(&self) -> bool {
        matches!(self, WebhookRejection::Duplicate)
    }

    /// The response body: the error's [`name`](Error::name), `duplicate`, and for a body
    /// actix could not read, `limit_exceeded` (413) or `body_read_failed`.
    pub fn name(&self) -> &'static str {
        match self {
            WebhookRejection::Error(e) => e.name(),
            WebhookRejection::Duplicate => "duplicate",
            WebhookRejection::Body(_) if self.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                "limit_exceeded"
            }
            WebhookRejection::Body(_) => "body_read_failed",
        }
    }
}

impl From<Error> for WebhookRejection {
    fn from(e: Error) -> Self {
        WebhookRejection::Error(e)
    }
}

impl fmt::Display for WebhookRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebhookRejection::Error(e) => fmt::Display::fmt(e, f),
            WebhookRejection::Duplicate => f.write_str("duplicate of a delivery already processed"),
            WebhookRejection::Body(e) => write!(
                f,
                "reading the request body failed (raise web::PayloadConfig for large bodies): {e}"
            ),
        }
    }
}

impl ResponseError for WebhookRejection {
    fn status_code(&self) -> actix_web::http::StatusCode {
        actix_status(self.status())
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        short_response(self.status(), self.name())
    }
}

impl Responder for WebhookResponse {
    type Body = BoxBody;

    fn respond_to(self, _req: &HttpRequest) -> HttpResponse<BoxBody> {
        short_response(self.status(), self.body())
    }
}

/// actix-web 4 uses `http` 0.2: the same status, in its type.
fn actix_status(status: StatusCode) -> actix_web::http::StatusCode {
    actix_web::http::StatusCode::from_u16(status.as_u16())
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR)
}

/// The status and its one-word body; a 413 closes the connection (the request's body may not
/// have been read to its end).
fn short_response(status: StatusCode, body: &'static str) -> HttpResponse<BoxBody> {
    let mut response = HttpResponse::build(actix_status(status));
    response.content_type("text/plain; charset=utf-8");
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        response.force_close();
    }
    response.body(body)
}
