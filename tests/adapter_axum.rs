//! The axum extractor behind a real `axum::serve` on 127.0.0.1:0, driven by a real HTTP client.
#![cfg(feature = "axum")]
// Tests fail by panicking: unwrap, expect and panic are how they report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod adapters_common;

use adapters_common::{Harness, INBOUND, Recorder, TRACKING, TRACKING_B};
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef, State};
use axum::routing::post;
use mailgun_webhooks::axum::{Webhook, WebhookRejection, WebhookResponse};
use mailgun_webhooks::testing::FormBody;
use mailgun_webhooks::{Event, InboundMessage, LazyEvent, Payload, Receiver};

/// The state: the receiver (taken by the extractor through `FromRef`) and the recorder.
#[derive(Clone, FromRef)]
struct AppState {
    receiver: Receiver,
    recorder: Recorder,
}

async fn tracking(State(rec): State<Recorder>, webhook: Webhook<Event>) -> WebhookResponse {
    webhook
        .process(|event| async move { rec.event(event).await })
        .await
}

/// The tracking route with the lazy event: the accessors agree with the full decode, which
/// the recorder then sees.
async fn tracking_lazy(
    State(rec): State<Recorder>,
    webhook: Webhook<LazyEvent>,
) -> WebhookResponse {
    webhook
        .process(|event| async move {
            let lazy = event.payload().clone();
            let event = event.map(LazyEvent::into_event);
            let full = event.payload();
            assert_eq!(
                (lazy.kind(), lazy.id(), lazy.recipient(), lazy.timestamp()),
                (full.kind(), full.id(), full.recipient(), full.timestamp())
            );
            rec.event(event).await
        })
        .await
}

async fn inbound(State(rec): State<Recorder>, webhook: Webhook<InboundMessage>) -> WebhookResponse {
    webhook
        .process(|message| async move { rec.inbound(message).await })
        .await
}

/// Takes any payload, behind a 4 KiB `DefaultBodyLimit`; logs rejections through `Result`.
async fn small(webhook: Result<Webhook<Payload>, WebhookRejection>) -> axum::response::Response {
    use axum::response::IntoResponse;
    match webhook {
        Ok(webhook) => webhook.process(|_| async { Ok(()) }).await.into_response(),
        Err(rejection) => {
            eprintln!("rejected: {rejection}");
            rejection.into_response()
        }
    }
}

async fn start() -> Harness {
    start_with(false).await
}

/// The same server with `Webhook<LazyEvent>` on the tracking routes.
async fn start_lazy() -> Harness {
    start_with(true).await
}

async fn start_with(lazy: bool) -> Harness {
    let tracking_route = || {
        if lazy {
            post(tracking_lazy)
        } else {
            post(tracking)
        }
    };
    let recorder = Recorder::default();
    let (receiver, receiver_b) = adapters_common::receivers();
    let state = AppState {
        receiver,
        recorder: recorder.clone(),
    };
    // Account B, on the same store, under a state of its own.
    let account_b = Router::new()
        .route(TRACKING_B, tracking_route())
        .with_state(AppState {
            receiver: receiver_b,
            recorder: recorder.clone(),
        });
    let app = Router::new()
        .route(TRACKING, tracking_route())
        .route(INBOUND, post(inbound))
        .route("/small", post(small).layer(DefaultBodyLimit::max(4096)))
        .with_state(state)
        .merge(account_b);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Harness::new(addr, recorder)
}

#[tokio::test]
async fn valid_json_event_answers_200_and_the_handler_sees_it() {
    adapters_common::valid_event(&start().await).await;
}

#[tokio::test]
async fn the_same_request_again_answers_200_without_running_the_handler() {
    adapters_common::duplicate(&start().await).await;
}

#[tokio::test]
async fn wrong_key_and_stale_timestamp_answer_401() {
    adapters_common::wrong_key_and_stale(&start().await).await;
}

#[tokio::test]
async fn body_over_the_limit_answers_413() {
    adapters_common::over_limit(&start().await).await;
}

#[tokio::test]
async fn inbound_multipart_with_3_attachments_answers_200_with_bytes_intact() {
    adapters_common::inbound_attachments(&start().await).await;
}

#[tokio::test]
async fn concurrent_identical_deliveries_run_the_handler_once() {
    adapters_common::concurrent(&start().await).await;
}

#[tokio::test]
async fn handler_failure_answers_500_and_the_retry_succeeds() {
    adapters_common::failure_then_retry(&start().await).await;
}

#[tokio::test]
async fn handler_panic_answers_500_and_the_retry_succeeds() {
    adapters_common::panic_then_retry(&start().await).await;
}

#[tokio::test]
async fn wrong_endpoint_answers_400_without_reserving() {
    adapters_common::wrong_endpoint(&start().await).await;
}

#[tokio::test]
async fn bad_encoding_type_and_body() {
    adapters_common::bad_requests(&start().await).await;
}

#[tokio::test]
async fn axum_default_body_limit_applies_and_answers_413() {
    let h = start().await;
    let token = mailgun_webhooks::testing::token();
    let form = FormBody::new()
        .field("recipient", "support@example.com")
        .field("body-plain", "y".repeat(8192))
        .sign(
            &adapters_common::key(),
            mailgun_webhooks::testing::now(),
            &token,
        )
        .urlencoded();
    // Under our 128 KiB limit, over the route's 4 KiB DefaultBodyLimit: refused while reading.
    let reply = h.post_chunked("/small", &form).await;
    assert_eq!(
        (reply.status.as_u16(), reply.body.as_str()),
        (413, "limit_exceeded")
    );
    let reply = h.post("/small", &form).await;
    assert_eq!(
        (reply.status.as_u16(), reply.body.as_str()),
        (413, "limit_exceeded")
    );

    // A small one passes the same route.
    let (signed, _) = adapters_common::event("f@example.com");
    let reply = h.post("/small", &signed).await;
    assert_eq!((reply.status.as_u16(), reply.body.as_str()), (200, "ok"));
}

#[tokio::test]
async fn hang_up_mid_handler_then_other_bodies_are_refused() {
    adapters_common::hang_up_then_other_bodies(&start().await).await;
}

#[tokio::test]
async fn handler_error_then_another_body_is_refused() {
    adapters_common::failure_then_other_body(&start().await).await;
}

#[tokio::test]
async fn handler_error_then_the_same_delivery_reencoded_is_processed() {
    adapters_common::failure_then_same_delivery_reencoded(&start().await).await;
}

#[tokio::test]
async fn handler_panic_then_another_body_is_refused() {
    adapters_common::panic_then_other_body(&start().await).await;
}

#[tokio::test]
async fn two_accounts_on_one_store_do_not_suppress_each_other() {
    adapters_common::two_accounts_on_one_store(&start().await).await;
}

#[tokio::test]
async fn parent_signature_variant_after_a_hang_up_is_refused() {
    adapters_common::parent_signature_variant_after_hang_up(&start().await).await;
}

#[test]
fn readme_shows_the_compiled_doc_test() {
    adapters_common::readme_matches_module_docs("### axum", "src/adapters/axum.rs");
}

#[tokio::test]
async fn lazy_event_valid_duplicate_and_refusals() {
    let h = start_lazy().await;
    adapters_common::valid_event(&h).await;
    adapters_common::duplicate(&h).await;
    adapters_common::wrong_key_and_stale(&h).await;
    adapters_common::wrong_endpoint(&h).await;
    // It counts every call of the handler: a fresh server.
    adapters_common::bad_requests(&start_lazy().await).await;
}

#[tokio::test]
async fn lazy_event_keeps_one_body_per_delivery() {
    let h = start_lazy().await;
    adapters_common::concurrent(&h).await;
    adapters_common::failure_then_retry(&h).await;
    adapters_common::hang_up_then_other_bodies(&h).await;
    adapters_common::failure_then_other_body(&h).await;
    adapters_common::failure_then_same_delivery_reencoded(&h).await;
    adapters_common::two_accounts_on_one_store(&h).await;
}

/// A store that records the digest of every claim, and says whether it binds payloads.
#[derive(Clone)]
struct Recording {
    binds: bool,
    seen: std::sync::Arc<std::sync::Mutex<Vec<mailgun_webhooks::PayloadDigest>>>,
}

impl mailgun_webhooks::ReplayStore for Recording {
    async fn reserve(
        &self,
        claim: &mailgun_webhooks::ReplayClaim,
    ) -> mailgun_webhooks::Result<mailgun_webhooks::ReplayOutcome> {
        self.seen.lock().unwrap().push(*claim.digest());
        mailgun_webhooks::NoReplayCheck.reserve(claim).await
    }
    async fn commit(&self, _: mailgun_webhooks::Reservation) -> mailgun_webhooks::Result<()> {
        Ok(())
    }
    async fn release(&self, _: mailgun_webhooks::Reservation) -> mailgun_webhooks::Result<()> {
        Ok(())
    }
    fn binds_payloads(&self) -> bool {
        self.binds
    }
}

#[tokio::test]
async fn the_digest_is_computed_only_for_a_store_that_binds_payloads() {
    use mailgun_webhooks::{PayloadDigest, ReplayStore};
    async fn lazy(webhook: Webhook<LazyEvent, Recording>) -> WebhookResponse {
        webhook.process(|_| async { Ok(()) }).await
    }
    assert!(!mailgun_webhooks::NoReplayCheck.binds_payloads());
    assert!(mailgun_webhooks::MemoryReplayStore::new().binds_payloads());
    for binds in [true, false] {
        let store = Recording {
            binds,
            seen: Default::default(),
        };
        let receiver = Receiver::new(
            adapters_common::receiver().verifier().clone(),
            store.clone(),
        );
        let app = Router::new()
            .route(TRACKING, post(lazy))
            .with_state(receiver);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let h = Harness::new(addr, Recorder::default());
        let (signed, _) = adapters_common::event("digest@example.com");
        assert!(h.post(TRACKING, &signed).await.is(200, "ok"));
        let expected = if binds {
            PayloadDigest::compute(
                &signed.content_type,
                &signed.body,
                &mailgun_webhooks::Limits::default(),
            )
            .unwrap()
        } else {
            PayloadDigest::from_bytes([0; 32])
        };
        assert_eq!(*store.seen.lock().unwrap(), [expected], "binds: {binds}");
    }
}
