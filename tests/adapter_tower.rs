//! The tower layer over real HTTP on loopback: under axum (`Router::route_layer`) and in a
//! plain hyper server (hyper-util's `TowerToHyperService`), driven by a real HTTP client and
//! the scenarios every adapter passes (tests/adapters_common).
//!
//! The inner service is the recorder of tests/adapters_common: it reads the
//! `Arc<Verified<Event>>` (or `InboundMessage`) from the request's extensions, answers 200 `ok`
//! when the recorder succeeds and 500 `handler` when it fails.
#![cfg(all(feature = "tower", feature = "axum", feature = "hyper"))]
// Tests fail by panicking: unwrap, expect and panic are how they report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod adapters_common;

use std::sync::Arc;
use std::time::Duration;

use adapters_common::{Harness, INBOUND, Recorder, Seen, TRACKING, TRACKING_B};
use axum::Extension;
use axum::extract::State;
use axum::routing::post;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use mailgun_webhooks::testing::{now, token};
use mailgun_webhooks::tower::WebhookLayer;
use mailgun_webhooks::{Event, HandlerError, InboundMessage, Verified};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::{Layer, ServiceExt};

/// The status and one-word body the inner service answers for the recorder's result.
fn answer(result: Result<(), HandlerError>) -> (StatusCode, &'static str) {
    match result {
        Ok(()) => (StatusCode::OK, "ok"),
        Err(e) if e.is_rejection() => (StatusCode::NOT_ACCEPTABLE, "rejected"),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "handler"),
    }
}

// ----- under axum -----

async fn axum_tracking(
    State(rec): State<Recorder>,
    Extension(event): Extension<Arc<Verified<Event>>>,
) -> (StatusCode, &'static str) {
    answer(rec.event(Verified::clone(&event)).await)
}

async fn axum_inbound(
    State(rec): State<Recorder>,
    Extension(message): Extension<Arc<Verified<InboundMessage>>>,
) -> (StatusCode, &'static str) {
    answer(rec.inbound(Verified::clone(&message)).await)
}

async fn start_axum() -> Harness {
    let recorder = Recorder::default();
    let (receiver, receiver_b) = adapters_common::receivers();
    let app = axum::Router::new()
        .route(TRACKING, post(axum_tracking))
        .route_layer(WebhookLayer::new(receiver.clone()))
        .merge(
            axum::Router::new()
                .route(INBOUND, post(axum_inbound))
                .route_layer(WebhookLayer::new(receiver).payload::<InboundMessage>()),
        )
        // Account B, on the same store, under `Router::layer` (which wraps the fallback too).
        .merge(
            axum::Router::new()
                .route(TRACKING_B, post(axum_tracking))
                .layer(WebhookLayer::new(receiver_b)),
        )
        .with_state(recorder.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Harness::new(addr, recorder)
}

// ----- in a plain hyper server -----

type Body = BoxBody<Bytes, hyper::Error>;

/// A recipient starting with `service-error-once` makes the inner service fail (not answer)
/// the first time its token is seen.
#[derive(Debug)]
struct InnerFailed;

impl std::fmt::Display for InnerFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the inner service failed")
    }
}

impl std::error::Error for InnerFailed {}

fn respond((status, body): (StatusCode, &'static str)) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
}

async fn start_hyper() -> Harness {
    let recorder = Recorder::default();
    let (receiver, receiver_b) = adapters_common::receivers();
    let failed_once = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let rec = recorder.clone();
    let tracking_inner = tower::service_fn(move |req: Request<Body>| {
        let (rec, failed_once) = (rec.clone(), failed_once.clone());
        async move {
            let event = req
                .extensions()
                .get::<Arc<Verified<Event>>>()
                .expect("the layer put the payload in the extensions");
            let event = Verified::clone(event);
            if event
                .payload()
                .recipient()
                .is_some_and(|r| r.starts_with("service-error-once"))
            {
                let mut failed = failed_once.lock().unwrap();
                if !failed.iter().any(|t| t == event.token()) {
                    failed.push(event.token().to_owned());
                    return Err(InnerFailed);
                }
            }
            Ok(respond(answer(rec.event(event).await)))
        }
    });
    let rec = recorder.clone();
    let inbound_inner = tower::service_fn(move |req: Request<Body>| {
        let rec = rec.clone();
        async move {
            let message = req
                .extensions()
                .get::<Arc<Verified<InboundMessage>>>()
                .cloned()
                .expect("the layer put the payload in the extensions");
            Ok::<_, InnerFailed>(respond(answer(
                rec.inbound(Verified::clone(&message)).await,
            )))
        }
    });
    let tracking = WebhookLayer::new(receiver.clone()).layer(tracking_inner.clone());
    let tracking_b = WebhookLayer::new(receiver_b).layer(tracking_inner);
    let inbound = WebhookLayer::new(receiver)
        .payload::<InboundMessage>()
        .layer(inbound_inner);
    let router = tower::service_fn(move |req: Request<Incoming>| {
        let req = req.map(BodyExt::boxed);
        let (tracking, tracking_b, inbound) =
            (tracking.clone(), tracking_b.clone(), inbound.clone());
        async move {
            match req.uri().path() {
                TRACKING => tracking.oneshot(req).await,
                TRACKING_B => tracking_b.oneshot(req).await,
                INBOUND => inbound.oneshot(req).await,
                _ => Ok(respond((StatusCode::NOT_FOUND, "not found"))),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = TowerToHyperService::new(router.clone());
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Harness::new(addr, recorder)
}

/// Both stacks.
async fn stacks() -> [(&'static str, Harness); 2] {
    [("axum", start_axum().await), ("hyper", start_hyper().await)]
}

// ----- the scenarios -----

/// A fresh delivery runs the inner service, answers 200 and commits: the same delivery again
/// is a duplicate and does not run it.
#[tokio::test]
async fn fresh_delivery_runs_the_inner_service_and_commits() {
    for (_, h) in stacks().await {
        adapters_common::valid_event(&h).await;
        adapters_common::duplicate(&h).await;
    }
}

/// The inner service answers 500: released, and Mailgun's retry with the same payload is
/// processed (then a duplicate).
#[tokio::test]
async fn inner_500_releases_and_the_retry_is_processed() {
    for (_, h) in stacks().await {
        adapters_common::failure_then_retry(&h).await;
        adapters_common::failure_then_same_delivery_reencoded(&h).await;
    }
}

/// Another body under a seen triple answers 401 `payload_mismatch` and does not run the inner
/// service: after a 500 (released) and after a commit.
/// A 406 is final for Mailgun (like `HandlerError::reject` under the extractor): the layer
/// commits it, so the same delivery again is a duplicate and the inner service runs once.
#[tokio::test]
async fn inner_406_commits_and_the_same_delivery_is_a_duplicate() {
    for (stack, h) in stacks().await {
        let (signed, token) = adapters_common::event("reject@example.com");
        assert!(
            h.post(TRACKING, &signed).await.is(406, "rejected"),
            "{stack}"
        );
        assert!(
            h.post(TRACKING, &signed).await.is(200, "duplicate"),
            "{stack}"
        );
        assert_eq!(h.recorder.calls(&token).len(), 1, "{stack}");
    }
}

#[tokio::test]
async fn another_body_under_a_seen_triple_is_refused() {
    for (_, h) in stacks().await {
        adapters_common::failure_then_other_body(&h).await;

        let (ts, token) = (now(), token());
        let original = adapters_common::event_with(ts, &token, "committed@example.com");
        assert!(h.post(TRACKING, &original).await.is(200, "ok"));
        let other = adapters_common::event_with(ts, &token, "attacker@example.com");
        let reply = h.post(TRACKING, &other).await;
        assert!(reply.is(401, "payload_mismatch"), "{reply:?}");
        assert_eq!(h.recorder.calls(&token).len(), 1);
    }
}

/// A forged signature, a stale and a future timestamp answer 401 without running the inner
/// service.
#[tokio::test]
async fn forged_signature_answers_401_without_running_the_inner_service() {
    for (_, h) in stacks().await {
        adapters_common::wrong_key_and_stale(&h).await;
    }
}

/// A body over the limit answers 413 (with a length and chunked) without running the inner
/// service.
#[tokio::test]
async fn oversize_answers_413() {
    for (_, h) in stacks().await {
        adapters_common::over_limit(&h).await;
    }
}

/// Inbound multipart through the layer (`payload::<InboundMessage>()`), the wrong endpoint,
/// bad encodings and content types.
#[tokio::test]
async fn inbound_wrong_endpoint_and_bad_requests() {
    for (_, h) in stacks().await {
        // First: it asserts that nothing reached the inner service.
        adapters_common::bad_requests(&h).await;
        adapters_common::inbound_attachments(&h).await;
        adapters_common::wrong_endpoint(&h).await;
    }
}

/// 32 concurrent identical deliveries run the inner service once; two accounts on one store.
#[tokio::test]
async fn concurrent_deliveries_and_two_accounts() {
    for (_, h) in stacks().await {
        adapters_common::concurrent(&h).await;
        adapters_common::two_accounts_on_one_store(&h).await;
    }
}

/// The inner service fails (an error, not a response): released, the retry is processed.
#[tokio::test]
async fn inner_service_error_releases_the_delivery() {
    let h = start_hyper().await;
    let (ts, token) = (now(), token());
    let original = adapters_common::event_with(ts, &token, "service-error-once@example.com");
    // hyper closes the connection without an answer when the service fails.
    let answer = raw_post(&h, &original).await;
    assert!(!answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    let other = adapters_common::event_with(ts, &token, "attacker@example.com");
    let reply = h.post(TRACKING, &other).await;
    assert!(reply.is(401, "payload_mismatch"), "{reply:?}");
    let retry = h.post(TRACKING, &original).await;
    assert!(retry.is(200, "ok"), "{retry:?}");
    assert!(h.post(TRACKING, &original).await.is(200, "duplicate"));
    assert_eq!(
        h.recorder.calls(&token),
        [Seen::Event {
            kind: mailgun_webhooks::EventKind::Delivered,
            recipient: Some("service-error-once@example.com".into())
        }]
    );
}

/// A client hangs up while the inner service runs: whatever the server does with the request
/// future (hyper may drop it: the reservation is abandoned, still bound to this payload),
/// another body under the same triple is refused, and the original is processed exactly once.
#[tokio::test]
async fn hang_up_then_other_bodies_are_refused() {
    for (stack, h) in stacks().await {
        let (ts, token) = (now(), token());
        let original = adapters_common::event_with(ts, &token, "hang-t@example.com");
        h.post_and_hang_up(TRACKING, &original, Duration::from_millis(150))
            .await;
        for other in ["attacker-b@example.com", "attacker-c@example.com"] {
            let other = adapters_common::event_with(ts, &token, other);
            let reply = h.post(TRACKING, &other).await;
            assert!(reply.is(401, "payload_mismatch"), "{stack}: {reply:?}");
        }
        // Either the first call finished and committed (duplicate), or it was dropped and
        // the memory store released the abandoned reservation (processed now).
        tokio::time::sleep(Duration::from_millis(600)).await;
        let reply = h.post(TRACKING, &original).await;
        assert!(
            reply.is(200, "duplicate") || reply.is(200, "ok"),
            "{stack}: {reply:?}"
        );
        assert!(h.post(TRACKING, &original).await.is(200, "duplicate"));
        let other = adapters_common::event_with(ts, &token, "attacker-d@example.com");
        assert!(h.post(TRACKING, &other).await.is(401, "payload_mismatch"));
        let finished = h.recorder.finished(&token);
        assert_eq!(finished, 1, "{stack}: one completed side effect");
        assert!(
            h.recorder.calls(&token).iter().all(|s| matches!(
                s,
                Seen::Event { recipient: Some(r), .. } if r == "hang-t@example.com"
            )),
            "{stack}: only the first payload reached the inner service"
        );
    }
}

/// Sends a signed body over a raw connection and reads until the server closes it.
async fn raw_post(h: &Harness, signed: &mailgun_webhooks::testing::SignedBody) -> String {
    let mut stream = tokio::net::TcpStream::connect(h.addr).await.unwrap();
    let head = format!(
        "POST {TRACKING} HTTP/1.1\r\nHost: {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        h.addr,
        signed.content_type,
        signed.body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&signed.body).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// The layer is `Clone` and `Debug`, and says which payload it accepts.
#[test]
fn the_layer_is_clone_and_debug() {
    let layer = WebhookLayer::new(adapters_common::receiver()).payload::<InboundMessage>();
    let text = format!("{:?}", layer.clone());
    assert!(
        text.contains("WebhookLayer") && text.contains("InboundMessage"),
        "{text}"
    );
}

/// Every payload type the crate has makes a service over axum's body (a compile-time check).
#[test]
fn every_payload_type_makes_a_service() {
    fn is_service<S>(_: S)
    where
        S: tower::Service<Request<axum::body::Body>> + Clone + Send + Sync,
    {
    }
    fn service<T>(layer: WebhookLayer<T>)
    where
        T: mailgun_webhooks::FromPayload + Send + Sync + 'static,
    {
        let inner = tower::service_fn(|_: Request<axum::body::Body>| async {
            Ok::<_, std::convert::Infallible>(Response::new(axum::body::Body::empty()))
        });
        is_service(layer.layer(inner));
    }
    let receiver = adapters_common::receiver();
    service(WebhookLayer::new(receiver.clone()));
    service(WebhookLayer::new(receiver.clone()).payload::<InboundMessage>());
    service(WebhookLayer::new(receiver.clone()).payload::<mailgun_webhooks::StoredMessage>());
    service(WebhookLayer::new(receiver).payload::<mailgun_webhooks::Payload>());
}
