//! tower: a [`Layer`] that verifies, reserves and commits deliveries around any service
//! (feature `tower`).
//!
//! [`WebhookLayer`] wraps an inner service (an axum `Router` or route, a hyper service, any
//! `tower::Service<http::Request<B>>`). For each request, [`WebhookService`]:
//!
//! 1. reads the body under the receiver's [`Limits`](crate::Limits), scans it, verifies the
//!    signature and reserves the delivery in the replay store, with the same pipeline as the
//!    [`hyper`](crate::hyper) adapter; a request that fails any of these is answered with the
//!    [crate's status policy](crate#http-statuses) (400, 401, 409, 413, 415, 503; body: the
//!    error's [`name`](crate::Error::name)) **without calling the inner service**, and a
//!    duplicate of a committed delivery is answered 200 `duplicate`, also without calling it;
//! 2. puts the verified payload into the request's extensions as an
//!    `Arc<`[`Verified<T>`](crate::Verified)`>` (axum: extract it with
//!    `Extension<Arc<Verified<Event>>>`; elsewhere `req.extensions().get::<Arc<Verified<Event>>>()`),
//!    replaces the body (already read) with `B::default()`, and calls the inner service;
//! 3. **commits** the delivery when the inner service answers 2xx, or 406 (the answer that
//!    stops Mailgun's retries, as [`HandlerError::reject`](crate::HandlerError::reject) does under
//!    the extractor), so Mailgun's retries are duplicates from then on, and **releases** it when it answers anything else or fails (so
//!    Mailgun's retry, of the same payload only, is processed). If the commit fails, the inner
//!    service's 2xx is replaced by 503 `store_unavailable` (or the store's error), so that
//!    Mailgun retries rather than getting a 200 for an unrecorded delivery.
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use axum::{Extension, Router, routing::post};
//! use http::StatusCode;
//! use mailgun_webhooks::tower::WebhookLayer;
//! use mailgun_webhooks::{Event, MemoryReplayStore, Receiver, SigningKey, Verified, Verifier};
//!
//! async fn tracking(Extension(event): Extension<Arc<Verified<Event>>>) -> StatusCode {
//!     let event = event.payload();
//!     println!("{} for {:?}", event.kind(), event.recipient());
//!     StatusCode::OK // 2xx commits; anything else releases, and Mailgun retries
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let key = std::env::var("MAILGUN_WEBHOOK_SIGNING_KEY")?;
//!     let receiver = Receiver::new(Verifier::new(SigningKey::new(key)), MemoryReplayStore::new());
//!     let app = Router::new()
//!         .route("/webhooks/mailgun", post(tracking))
//!         // Every route above is verified; routes added after this line are not.
//!         .route_layer(WebhookLayer::new(receiver));
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//!     axum::serve(listener, app).await?;
//!     Ok(())
//! }
//! ```
//!
//! `route_layer` wraps the routes defined before it; `Router::layer` wraps the fallback as
//! well, so that an unknown path is verified (and refused) before it can answer 404.
//!
//! With hyper alone, wrap the layered service in hyper-util's `TowerToHyperService`; the
//! request body type must implement `Default` (axum's `Body`, `http_body_util`'s `Full`,
//! `Empty`, `BoxBody`, ...): map hyper's `Incoming` into one first, for example
//! `req.map(BodyExt::boxed)`.
//!
//! # Configuration
//!
//! The layer takes a [`Receiver`], configured as for every other adapter: a
//! [`Verifier`](crate::Verifier) (keys, freshness, [`Limits`](crate::Limits)) and a
//! [`ReplayStore`]. [`payload`](WebhookLayer::payload) says what the routes accept
//! ([`Event`] by default, or [`InboundMessage`](crate::InboundMessage),
//! [`StoredMessage`](crate::StoredMessage), [`Payload`](crate::Payload), or any
//! [`FromPayload`] type); another kind answers 400 `wrong_endpoint`.
//!
//! # The layer or the extractor?
//!
//! Prefer the **layer** to verify a whole route tree in one place (every route under it is
//! verified, none can forget to), in a stack that is not axum (hyper, tonic-style tower stacks,
//! other `http` 1 frameworks), or when the handler answers with its own status and body:
//! a 2xx or a 406 commits, anything else releases. Prefer the **extractor**
//! ([`axum::Webhook`](crate::axum), [`actix::Webhook`](crate::actix)) for a typed event per
//! handler whose compile-time type says what the endpoint accepts, for
//! a [`HandlerError`](crate::HandlerError) instead of a status, and because
//! [`Webhook::process`](crate::Webhook::process) runs the handler **detached**, to completion,
//! even when the client hangs up.
//!
//! # Cancellation
//!
//! The inner service runs inside the layer's future. If that future is dropped (a client
//! hang-up; hyper and axum drop the request future then), the inner service stops at its
//! current `.await`, and the reservation is **abandoned** by the dropped
//! [`ReservationGuard`](crate::ReservationGuard): [`MemoryReplayStore`](crate::MemoryReplayStore)
//! releases it at once, the other stores let it expire after their pending lifetime (60 s by
//! default). The record stays bound to this payload: Mailgun's retry of the same payload is
//! processed, and the same signed triple with any other body is refused (401
//! `payload_mismatch`). Dropped before the reservation, nothing was written anywhere. If the
//! inner service must run to completion whatever the client does, spawn its work yourself, or
//! use the extractor.
//!
//! # Body limits
//!
//! As in the [`hyper`](crate::hyper#body-limits) adapter: a body over
//! [`Limits::max_body`](crate::Limits::max_body) answers 413 with `Connection: close` after
//! the rest of it is read and discarded (bounded), so that a client writing its whole body
//! first reads the 413. The body is read whole (the replay store binds the signature to its
//! digest) and dropped after verification; the inner service sees an empty body.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::{FromPayload, Webhook, WebhookResponse};
use crate::{Error, ErrorKind, Event, MemoryReplayStore, Receiver, ReplayStore};

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A tower [`Layer`] that verifies and reserves each request's delivery before the inner
/// service runs, and commits it when that service answers 2xx or 406. See the
/// [module docs](self).
///
/// `T` is what the wrapped routes accept ([`Event`] by default; see
/// [`payload`](Self::payload)), `S` the store type of the [`Receiver`].
pub struct WebhookLayer<T = Event, S = MemoryReplayStore> {
    receiver: Receiver<S>,
    payload: PhantomData<fn() -> T>,
}

impl<S: ReplayStore + Clone> WebhookLayer<Event, S> {
    /// A layer that receives tracking events ([`Event`]) with `receiver`.
    pub fn new(receiver: Receiver<S>) -> Self {
        WebhookLayer {
            receiver,
            payload: PhantomData,
        }
    }
}

impl<T, S: ReplayStore + Clone> WebhookLayer<T, S> {
    /// Sets what the wrapped routes accept: [`Event`],
    /// [`InboundMessage`](crate::InboundMessage), [`StoredMessage`](crate::StoredMessage),
    /// [`Payload`](crate::Payload) or any [`FromPayload`] type. The inner service finds an
    /// `Arc<Verified<U>>` in the request's extensions.
    pub fn payload<U: FromPayload>(self) -> WebhookLayer<U, S> {
        WebhookLayer {
            receiver: self.receiver,
            payload: PhantomData,
        }
    }

    /// The receiver.
    pub fn receiver(&self) -> &Receiver<S> {
        &self.receiver
    }
}

impl<T, S: Clone> Clone for WebhookLayer<T, S> {
    fn clone(&self) -> Self {
        WebhookLayer {
            receiver: self.receiver.clone(),
            payload: PhantomData,
        }
    }
}

impl<T, S: fmt::Debug> fmt::Debug for WebhookLayer<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookLayer")
            .field("receiver", &self.receiver)
            .field("payload", &std::any::type_name::<T>())
            .finish()
    }
}

impl<T, S: ReplayStore + Clone> From<Receiver<S>> for WebhookLayer<T, S> {
    fn from(receiver: Receiver<S>) -> Self {
        WebhookLayer {
            receiver,
            payload: PhantomData,
        }
    }
}

impl<I, T, S: Clone> Layer<I> for WebhookLayer<T, S> {
    type Service = WebhookService<I, T, S>;

    fn layer(&self, inner: I) -> Self::Service {
        WebhookService {
            inner,
            receiver: self.receiver.clone(),
            payload: PhantomData,
        }
    }
}

/// The service [`WebhookLayer`] makes around an inner service `I`.
pub struct WebhookService<I, T = Event, S = MemoryReplayStore> {
    inner: I,
    receiver: Receiver<S>,
    payload: PhantomData<fn() -> T>,
}

impl<I: Clone, T, S: Clone> Clone for WebhookService<I, T, S> {
    fn clone(&self) -> Self {
        WebhookService {
            inner: self.inner.clone(),
            receiver: self.receiver.clone(),
            payload: PhantomData,
        }
    }
}

impl<I: fmt::Debug, T, S: fmt::Debug> fmt::Debug for WebhookService<I, T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookService")
            .field("inner", &self.inner)
            .field("receiver", &self.receiver)
            .field("payload", &std::any::type_name::<T>())
            .finish()
    }
}

impl<I, T, S> WebhookService<I, T, S> {
    /// The inner service.
    pub fn get_ref(&self) -> &I {
        &self.inner
    }
}

/// The future of [`WebhookService::call`].
pub type ResponseFuture<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send + 'static>>;

impl<I, B, RB, T, S> Service<Request<B>> for WebhookService<I, T, S>
where
    I: Service<Request<B>, Response = Response<RB>> + Clone + Send + 'static,
    I::Future: Send + 'static,
    I::Error: Send + 'static,
    B: http_body::Body + Default + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError> + Send,
    RB: From<&'static str> + Send + 'static,
    T: FromPayload + Send + Sync + 'static,
    S: ReplayStore + Clone + Send + Sync + 'static,
{
    type Response = Response<RB>;
    type Error = I::Error;
    type Future = ResponseFuture<Response<RB>, I::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The service that was polled ready handles this request; a clone takes its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let receiver = self.receiver.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            // Dropped before the reservation: nothing was written anywhere.
            let webhook =
                match super::admit_request::<T, B, S>(&receiver, &parts.headers, body).await {
                    Ok(Some(webhook)) => webhook,
                    Ok(None) => return Ok(respond(WebhookResponse::duplicate())),
                    Err(e) => return Ok(respond(WebhookResponse::failed(e))),
                };
            let Webhook { admitted, delivery } = webhook;
            let unproven = admitted.is_unproven();
            let (verified, guard) = admitted.into_parts();
            parts.extensions.insert(Arc::new(verified));
            let request = Request::from_parts(parts, B::default());
            // Dropped from here on: the guard abandons the reservation, still bound to this
            // payload (see the module docs' cancellation section).
            let settled = delivery
                .instrument(async move {
                    match inner.call(request).await {
                        // Mailgun retries neither a 2xx nor a 406: both are final, so both
                        // commit (a 406 is the service's `HandlerError::reject`).
                        Ok(response) if is_final(response.status()) => {
                            let rejected = response.status() == http::StatusCode::NOT_ACCEPTABLE;
                            match guard.commit().await {
                                Ok(()) if rejected => Settled::Rejected(response),
                                Ok(()) => Settled::Committed(response),
                                Err(e) => Settled::CommitFailed(e),
                            }
                        }
                        Ok(response) => {
                            // If the release fails, the reservation expires after the pending
                            // lifetime.
                            let _ = guard.release().await;
                            Settled::Released(response)
                        }
                        Err(e) => {
                            let _ = guard.release().await;
                            Settled::Failed(e)
                        }
                    }
                })
                .await;
            // Logged with the status the inner service answered (a 202, a 503, ...), not the
            // one the outcome would imply.
            match settled {
                Settled::Committed(response) => {
                    let outcome = if unproven {
                        "processed_unproven"
                    } else {
                        "processed"
                    };
                    delivery.finish_answered(Ok(outcome), Some(response.status().as_u16()));
                    Ok(response)
                }
                Settled::Rejected(response) => {
                    delivery.finish_answered(
                        Err(&Error::new(ErrorKind::Rejected)),
                        Some(response.status().as_u16()),
                    );
                    Ok(response)
                }
                Settled::CommitFailed(e) => {
                    delivery.finish(Err(&e));
                    Ok(respond(WebhookResponse::failed(e)))
                }
                Settled::Released(response) => {
                    delivery.finish_answered(
                        Err(&Error::new(ErrorKind::Handler)),
                        Some(response.status().as_u16()),
                    );
                    Ok(response)
                }
                Settled::Failed(e) => {
                    delivery.finish(Err(&Error::new(ErrorKind::Handler)));
                    Err(e)
                }
            }
        })
    }
}

/// Whether Mailgun takes `status` as final (no retry): 2xx and 406.
fn is_final(status: http::StatusCode) -> bool {
    status.is_success() || status == http::StatusCode::NOT_ACCEPTABLE
}

/// How the inner service's answer settled the reservation.
enum Settled<R, E> {
    Committed(R),
    /// Answered 406 and committed.
    Rejected(R),
    CommitFailed(Error),
    Released(R),
    Failed(E),
}

fn respond<RB: From<&'static str>>(response: WebhookResponse) -> Response<RB> {
    super::http_response(response.status(), response.body())
}
