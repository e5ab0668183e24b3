//! hyper 1.x and tower: receive a delivery from any `http::Request<B: http_body::Body>`
//! (feature `hyper`).
//!
//! [`receive`] takes a [`Receiver`], the request and your handler, and returns the response to
//! answer: it parses the body while it streams in, verifies it, reserves it in the replay
//! store, runs the handler, then commits the delivery (handler succeeded) or releases it
//! (handler failed, so that Mailgun's retry is processed). [`admit`] stops after the
//! reservation, for code that wants to run the handler itself.
//!
//! Nothing here depends on hyper itself: the body can be hyper's `Incoming`, axum's `Body`, or
//! any other [`http_body::Body`], so the same functions serve hyper services, plain tower
//! `Service<http::Request<B>>`s, and other frameworks built on `http` 1.
//!
//! ```no_run
//! use std::convert::Infallible;
//! use std::time::Duration;
//!
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use hyper::body::Incoming;
//! use hyper::server::conn::http1;
//! use hyper::service::service_fn;
//! use hyper::{Method, Request, Response, StatusCode};
//! use hyper_util::rt::{TokioIo, TokioTimer};
//! use mailgun_webhooks::{Event, InboundMessage, MemoryReplayStore, Receiver, SigningKey, Verifier};
//!
//! async fn route(receiver: Receiver, req: Request<Incoming>) -> Response<Full<Bytes>> {
//!     let response = match (req.method(), req.uri().path()) {
//!         (&Method::POST, "/webhooks/mailgun") => {
//!             mailgun_webhooks::hyper::receive(&receiver, req, |event| async move {
//!                 let event: Event = event.into_payload();
//!                 println!("{} for {:?}", event.kind(), event.recipient());
//!                 Ok(()) // or Err(..) to answer 500 and have Mailgun retry
//!             })
//!             .await
//!         }
//!         (&Method::POST, "/webhooks/mailgun/inbound") => {
//!             mailgun_webhooks::hyper::receive(&receiver, req, |message| async move {
//!                 let message: InboundMessage = message.into_payload();
//!                 println!("mail from {:?}, {} attachments", message.sender, message.attachments.len());
//!                 Ok(())
//!             })
//!             .await
//!         }
//!         _ => return Response::builder()
//!             .status(StatusCode::NOT_FOUND)
//!             .body(Full::default())
//!             .unwrap_or_default(),
//!     };
//!     response.into_response()
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let key = std::env::var("MAILGUN_WEBHOOK_SIGNING_KEY")?;
//!     let receiver = Receiver::new(Verifier::new(SigningKey::new(key)), MemoryReplayStore::new());
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//!     loop {
//!         let (stream, _) = listener.accept().await?;
//!         let receiver = receiver.clone();
//!         let service = service_fn(move |req| {
//!             let receiver = receiver.clone();
//!             async move { Ok::<_, Infallible>(route(receiver, req).await) }
//!         });
//!         tokio::spawn(async move {
//!             // hyper's defaults are not stable: set the limits that matter explicitly.
//!             let _ = http1::Builder::new()
//!                 .timer(TokioTimer::new())
//!                 .header_read_timeout(Duration::from_secs(10))
//!                 .max_buf_size(64 * 1024)
//!                 .keep_alive(true)
//!                 .serve_connection(TokioIo::new(stream), service)
//!                 .await;
//!         });
//!     }
//! }
//! ```
//!
//! # What each request answers
//!
//! | request | status |
//! |---|---|
//! | processed: your handler returned `Ok(())`, committed | 200 |
//! | duplicate of a committed delivery; your handler does not run | 200 |
//! | same delivery in flight | 409 |
//! | bad body, missing signature fields, wrong endpoint | 400 |
//! | signature mismatch, stale or future timestamp | 401 |
//! | `Content-Length` or body over [`Limits::max_body`](crate::Limits::max_body), or another limit | 413 |
//! | unsupported `Content-Type`, `Content-Encoding` other than `identity` | 415 |
//! | your handler returned an error or panicked: released, so Mailgun's retry is processed | 500 |
//! | your handler returned [`HandlerError::reject`](crate::HandlerError::reject): committed | 406 |
//! | replay store unavailable or full | 503 |
//!
//! The response body is one short word (`ok`, `duplicate`, or the error's
//! [`name`](Error::name)), never a message, a key or request bytes; log
//! [`WebhookResponse::error`] to see why a request failed.
//!
//! # Body limits
//!
//! A request whose `Content-Length` (or exact body size hint) is over
//! [`Limits::max_body`](crate::Limits::max_body) is refused before any byte is kept; any other
//! body is read into one buffer (the replay store binds the signature to the body's digest) and
//! refused as soon as it goes over. Either way the adapter first reads and discards the rest of
//! the body (at most `max(4 x max_body, 64 MiB)` and 10 s, not at all after
//! `Expect: 100-continue`), then answers 413 with `Connection: close`, so that a client that
//! writes its whole body before reading its answer reads the 413 instead of a connection reset.
//! The body must be `Send` (hyper's `Incoming` and axum's `Body` are).
//!
//! # What this module adds to the shared types
//!
//! [`Webhook`] and [`WebhookResponse`] are the crate's one delivery and response types (shared
//! by every adapter; their pages list every enabled framework's impls). This module adds
//! [`WebhookResponse::into_response`] (an `http::Response` with any body made from a
//! `&'static str`), [`receive`] and [`admit`] (which makes a `Webhook` from any
//! `http::Request<B: http_body::Body>`), and [`WebhookRejection`].
//!
//! For a whole route tree, or a tower stack where the handler should see the delivery in the
//! request's extensions, see the [`tower`](crate::tower) layer (feature `tower`).

use std::fmt;
use std::future::Future;

use http::{Request, Response, StatusCode};
use http_body::Body;

use super::FromPayload;
use crate::{Error, HandlerError, Receiver, ReplayStore, Verified};
#[doc(no_inline)]
pub use crate::{Webhook, WebhookResponse};

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Receives one delivery: parses and verifies `request`, reserves it, runs `handler` on it, then
/// commits or releases it. Returns the response to answer; see the [module docs](self) for
/// each status.
///
/// `T` is what the endpoint accepts: [`Event`](crate::Event) for tracking webhooks,
/// [`InboundMessage`](crate::InboundMessage) for a route's `forward()`, or any other
/// [`FromPayload`] type; it is usually inferred from the handler's use of the payload, else
/// name it: `receive::<Event, _, _, _, _>(..)`. A body of another kind answers 400.
pub async fn receive<T, B, S, F, Fut>(
    receiver: &Receiver<S>,
    request: Request<B>,
    handler: F,
) -> WebhookResponse
where
    T: FromPayload + Send + 'static,
    B: Body + Send,
    B::Error: Into<BoxError>,
    S: ReplayStore + Clone + 'static,
    F: FnOnce(Verified<T>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    match admit(receiver, request).await {
        Ok(webhook) => webhook.process(handler).await,
        Err(rejection) => rejection.into(),
    }
}

/// Parses and verifies `request` and reserves it in the replay store, without running a
/// handler: [`process`](Webhook::process) the returned [`Webhook`] next.
///
/// Fails with [`WebhookRejection::Duplicate`] (answer 200, do nothing) for a duplicate of a
/// committed delivery, and with [`WebhookRejection::Error`] otherwise.
pub async fn admit<T, B, S>(
    receiver: &Receiver<S>,
    request: Request<B>,
) -> Result<Webhook<T, S>, WebhookRejection>
where
    T: FromPayload,
    B: Body + Send,
    B::Error: Into<BoxError>,
    S: ReplayStore + Clone,
{
    let (parts, body) = request.into_parts();
    super::admit_request(receiver, &parts.headers, body)
        .await?
        .ok_or(WebhookRejection::Duplicate)
}

/// Why [`admit`] did not hand over the delivery.
#[derive(Debug)]
#[non_exhaustive]
pub enum WebhookRejection {
    /// Parsing, verification, the endpoint's payload kind or the replay store refused it:
    /// answer [`Error::status`] (400, 401, 409, 413, 415, 503).
    Error(Error),
    /// A duplicate of a delivery already processed and committed: answer 200, so that Mailgun
    /// stops retrying, and do nothing.
    Duplicate,
}

impl WebhookRejection {
    /// The status to answer.
    pub fn status(&self) -> StatusCode {
        match self {
            WebhookRejection::Error(e) => e.status(),
            WebhookRejection::Duplicate => StatusCode::OK,
        }
    }

    /// The crate error, for [`WebhookRejection::Error`].
    pub fn error(&self) -> Option<&Error> {
        match self {
            WebhookRejection::Error(e) => Some(e),
            WebhookRejection::Duplicate => None,
        }
    }

    /// True for [`WebhookRejection::Duplicate`].
    pub fn is_duplicate(&self) -> bool {
        matches!(self, WebhookRejection::Duplicate)
    }

    /// The response body: the error's [`name`](Error::name), or `duplicate`.
    pub fn name(&self) -> &'static str {
        match self {
            WebhookRejection::Error(e) => e.name(),
            WebhookRejection::Duplicate => "duplicate",
        }
    }

    /// The response to answer, with a `text/plain` body of [`name`](Self::name).
    pub fn into_response<B: From<&'static str>>(self) -> Response<B> {
        WebhookResponse::from(self).into_response()
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
        }
    }
}

impl std::error::Error for WebhookRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WebhookRejection::Error(e) => Some(e),
            WebhookRejection::Duplicate => None,
        }
    }
}

impl WebhookResponse {
    /// The HTTP response: the status, `Content-Type: text/plain; charset=utf-8`, and the
    /// [`body`](Self::body). `B` is any body type made from a `&'static str`, such as
    /// `http_body_util::Full<Bytes>`, `String`, or axum's `Body`.
    pub fn into_response<B: From<&'static str>>(self) -> Response<B> {
        super::http_response(self.status(), self.body())
    }
}

impl From<WebhookRejection> for WebhookResponse {
    fn from(rejection: WebhookRejection) -> Self {
        match rejection {
            WebhookRejection::Error(e) => WebhookResponse::failed(e),
            WebhookRejection::Duplicate => WebhookResponse::duplicate(),
        }
    }
}
