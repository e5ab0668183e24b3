//! axum: an extractor that yields a verified, replay-checked delivery (feature `axum`).
//!
//! [`Webhook<T, S>`](Webhook) is a [`FromRequest`] extractor. It reads the [`Receiver`] from
//! the router's state through [`FromRef`], so the state can be the receiver itself or any
//! struct with a `Receiver` field (`#[derive(FromRef)]`). Extraction parses the body while it
//! streams in, verifies the signature and reserves the delivery in the replay store; the
//! handler then calls [`Webhook::process`] with its own code, which commits the delivery when
//! that code succeeds and releases it when it fails.
//!
//! ```no_run
//! use axum::{extract::DefaultBodyLimit, routing::post, Router};
//! use mailgun_webhooks::axum::{Webhook, WebhookResponse};
//! use mailgun_webhooks::{Event, InboundMessage, MemoryReplayStore, Receiver, SigningKey, Verifier};
//!
//! // Tracking events (delivered, failed, opened, ...).
//! #[axum::debug_handler(state = Receiver)]
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
//! #[axum::debug_handler(state = Receiver)]
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
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let key = std::env::var("MAILGUN_WEBHOOK_SIGNING_KEY")?;
//!     let receiver = Receiver::new(Verifier::new(SigningKey::new(key)), MemoryReplayStore::new());
//!     let app = Router::new()
//!         .route("/webhooks/mailgun", post(tracking))
//!         .route("/webhooks/mailgun/inbound", post(inbound))
//!         // axum reads at most 2 MiB by default; inbound mail with attachments needs more.
//!         .layer(DefaultBodyLimit::max(32 << 20))
//!         .with_state(receiver);
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//!     axum::serve(listener, app).await?;
//!     Ok(())
//! }
//! ```
//!
//! # What each request answers
//!
//! | request | where | status |
//! |---|---|---|
//! | bad encoding, content type, size, body, signature, wrong endpoint | extraction ([`WebhookRejection::Error`]) | 415, 413, 400, 401 |
//! | duplicate of a committed delivery | extraction ([`WebhookRejection::Duplicate`]); your handler does not run | 200 |
//! | same delivery in flight | extraction ([`WebhookRejection::Error`]) | 409 |
//! | replay store unavailable | extraction, or the commit in `process` | 503 |
//! | your code returned `Ok(())` | `process`: committed | 200 |
//! | your code returned an error or panicked | `process`: released, so Mailgun's retry is processed | 500 |
//! | your code returned [`HandlerError::reject`](crate::HandlerError::reject) | `process`: committed | 406 |
//!
//! Response bodies are one short word (`ok`, `duplicate`, or the error's
//! [`name`](Error::name), such as `signature_mismatch`): never a message, a key or request
//! bytes. To log why a request was refused, extract `Result<Webhook<T>, WebhookRejection>` and
//! return the rejection after logging it.
//!
//! # Rules of use
//!
//! - **The extractor must be the handler's last argument**: it consumes the body (axum
//!   enforces this for every [`FromRequest`] extractor).
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
//! - **`S` is the store type** of the `Receiver` in the state (default
//!   [`MemoryReplayStore`](crate::MemoryReplayStore)). To choose a store at run time, use
//!   `Receiver<Arc<dyn DynReplayStore>>` and `Webhook<Event, Arc<dyn DynReplayStore>>`.
//!
//! # Body limits
//!
//! The body is read through axum's body limit ([`DefaultBodyLimit`], 2 MiB unless you change
//! it; over it answers 413 [`WebhookRejection::BodyLimit`]), then bounded by the receiver's
//! [`Limits`](crate::Limits) (32 MiB by default). A `Content-Length` over
//! [`Limits::max_body`](crate::Limits::max_body) is refused before any byte is kept. Before a
//! 413 the extractor reads and discards the rest of the body (at most
//! `max(4 x max_body, 64 MiB)` and 10 s, not at all after `Expect: 100-continue`) and the
//! response says `Connection: close`, so that a client that writes its whole body before
//! reading its answer reads the 413 instead of a connection reset. A `Content-Encoding` other
//! than `identity` answers 415.
//!
//! # What this module adds to the shared types
//!
//! [`Webhook`] and [`WebhookResponse`] are the crate's one delivery and response types (shared
//! by every adapter; their pages list every enabled framework's impls). This module adds:
//!
//! - `impl<St, T, S> FromRequest<St> for Webhook<T, S>` where `Receiver<S>: FromRef<St>`;
//! - `impl IntoResponse for WebhookResponse` and for [`WebhookRejection`].
//!
//! To verify a whole route tree in one place, with the payload in the request's extensions,
//! see the [`tower`](crate::tower) layer (feature `tower`).
//!
//! [`DefaultBodyLimit`]: https://docs.rs/axum/0.8/axum/extract/struct.DefaultBodyLimit.html

use std::fmt;

use axum_core::RequestExt;
use axum_core::extract::{FromRef, FromRequest, Request};
use axum_core::response::{IntoResponse, Response};
use http::header::{CONNECTION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};

use super::FromPayload;
use crate::{Error, Receiver, ReplayStore};
#[doc(no_inline)]
pub use crate::{Webhook, WebhookResponse};

impl<St, T, S> FromRequest<St> for Webhook<T, S>
where
    St: Send + Sync,
    Receiver<S>: FromRef<St>,
    S: ReplayStore + Clone,
    T: FromPayload + Send,
{
    type Rejection = WebhookRejection;

    async fn from_request(req: Request, state: &St) -> Result<Self, Self::Rejection> {
        let receiver = Receiver::<S>::from_ref(state);
        let limits = receiver.verifier().limits();
        super::check_content_encoding(
            req.headers()
                .get_all(CONTENT_ENCODING)
                .iter()
                .map(|v| v.as_bytes()),
        )?;
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();

        // Under axum's own body limit (`DefaultBodyLimit`), then the receiver's. A
        // `Content-Length` over the receiver's limit is refused at once, and the rest of the
        // body drained by bytes, without axum's limit in the way. Dropped while reading:
        // nothing was written anywhere.
        let declared_over = super::check_content_length(
            req.headers().get(CONTENT_LENGTH).map(|v| v.as_bytes()),
            limits,
        )
        .is_err();
        let req = if declared_over {
            req
        } else {
            req.with_limited_body()
        };
        let (parts, body) = req.into_parts();
        let body = super::read_body(body, &parts.headers, limits)
            .await
            .map_err(|e| {
                if e.is_limit() {
                    WebhookRejection::BodyLimit
                } else {
                    WebhookRejection::Error(e)
                }
            })?;
        super::reserve(&receiver, &content_type, body)
            .await?
            .ok_or(WebhookRejection::Duplicate)
    }
}

/// Why [`Webhook`] extraction did not hand the delivery to the handler. Implements
/// [`IntoResponse`] with the status of the [crate's policy](crate#http-statuses) and a one-word
/// body.
#[derive(Debug)]
#[non_exhaustive]
pub enum WebhookRejection {
    /// Parsing, verification, the endpoint's payload kind or the replay store refused it:
    /// answers [`Error::status`] (400, 401, 409, 413, 415, 503).
    Error(Error),
    /// A duplicate of a delivery already processed and committed: answers 200, so that
    /// Mailgun stops retrying, without running the handler.
    Duplicate,
    /// The body is over a limit set outside this crate: axum's `DefaultBodyLimit` (2 MiB
    /// unless changed) or a `RequestBodyLimit` layer. Answers 413.
    BodyLimit,
}

impl WebhookRejection {
    /// The status this rejection answers.
    pub fn status(&self) -> StatusCode {
        match self {
            WebhookRejection::Error(e) => e.status(),
            WebhookRejection::Duplicate => StatusCode::OK,
            WebhookRejection::BodyLimit => StatusCode::PAYLOAD_TOO_LARGE,
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

    /// The response body: the error's [`name`](Error::name), `duplicate`, or
    /// `limit_exceeded`.
    pub fn name(&self) -> &'static str {
        match self {
            WebhookRejection::Error(e) => e.name(),
            WebhookRejection::Duplicate => "duplicate",
            WebhookRejection::BodyLimit => "limit_exceeded",
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
            WebhookRejection::BodyLimit => f.write_str(
                "request body is over the framework's body limit (raise axum's DefaultBodyLimit)",
            ),
        }
    }
}

impl std::error::Error for WebhookRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WebhookRejection::Error(e) => Some(e),
            _ => None,
        }
    }
}

impl IntoResponse for WebhookRejection {
    fn into_response(self) -> Response {
        short_response(self.status(), self.name())
    }
}

impl IntoResponse for WebhookResponse {
    fn into_response(self) -> Response {
        short_response(self.status(), self.body())
    }
}

/// The status and its one-word body; a 413 closes the connection (the request's body may not
/// have been read to its end).
fn short_response(status: StatusCode, body: &'static str) -> Response {
    let mut response = (status, body).into_response();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
