//! The actix-web extractor behind a real `HttpServer` on 127.0.0.1:0 (in its own actix
//! system thread), driven by a real HTTP client.
#![cfg(feature = "actix-web")]
// Tests fail by panicking: unwrap, expect and panic are how they report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod adapters_common;

use std::net::SocketAddr;

use actix_web::{App, HttpServer, web};
use adapters_common::{Harness, INBOUND, Recorder, TRACKING, TRACKING_B};
use mailgun_webhooks::actix::{Webhook, WebhookRejection, WebhookResponse};
use mailgun_webhooks::testing::{FormBody, now, token};
use mailgun_webhooks::{Event, InboundMessage, NoReplayCheck, Payload};

async fn tracking(rec: web::Data<Recorder>, webhook: Webhook<Event>) -> WebhookResponse {
    let rec = rec.into_inner();
    webhook
        .process(|event| async move { rec.event(event).await })
        .await
}

async fn inbound(rec: web::Data<Recorder>, webhook: Webhook<InboundMessage>) -> WebhookResponse {
    let rec = rec.into_inner();
    webhook
        .process(|message| async move { rec.inbound(message).await })
        .await
}

/// Any payload, behind a 4 KiB `PayloadConfig`; logs rejections through `Result`.
async fn small(
    webhook: Result<Webhook<Payload>, WebhookRejection>,
) -> Result<WebhookResponse, WebhookRejection> {
    let webhook = webhook.inspect_err(|rejection| eprintln!("rejected: {rejection}"))?;
    Ok(webhook.process(|_| async { Ok(()) }).await)
}

/// Asks for a `Receiver<NoReplayCheck>`, which is not registered.
async fn unconfigured(webhook: Webhook<Event, NoReplayCheck>) -> WebhookResponse {
    webhook.process(|_| async { panic!("must not run") }).await
}

fn start() -> Harness {
    let recorder = Recorder::default();
    let rec = recorder.clone();
    let (tx, rx) = std::sync::mpsc::channel::<SocketAddr>();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let (receiver, receiver_b) = adapters_common::receivers();
            let receiver = web::Data::new(receiver);
            // Account B, on the same store, with its receiver in its resource's app data.
            let receiver_b = web::Data::new(receiver_b);
            let rec = web::Data::new(rec);
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(receiver.clone())
                    .app_data(rec.clone())
                    .route(TRACKING, web::post().to(tracking))
                    .service(
                        web::resource(TRACKING_B)
                            .app_data(receiver_b.clone())
                            .route(web::post().to(tracking)),
                    )
                    .service(
                        web::resource(INBOUND)
                            .app_data(web::PayloadConfig::new(1 << 20))
                            .route(web::post().to(inbound)),
                    )
                    .service(
                        web::resource("/small")
                            .app_data(web::PayloadConfig::new(4096))
                            .route(web::post().to(small)),
                    )
                    .route("/unconfigured", web::post().to(unconfigured))
            })
            .workers(2)
            .bind(("127.0.0.1", 0))
            .unwrap();
            tx.send(server.addrs()[0]).unwrap();
            server.run().await.unwrap();
        });
    });
    let addr = rx.recv().unwrap();
    Harness::new(addr, recorder)
}

#[tokio::test]
async fn valid_json_event_answers_200_and_the_handler_sees_it() {
    adapters_common::valid_event(&start()).await;
}

#[tokio::test]
async fn the_same_request_again_answers_200_without_running_the_handler() {
    adapters_common::duplicate(&start()).await;
}

#[tokio::test]
async fn wrong_key_and_stale_timestamp_answer_401() {
    adapters_common::wrong_key_and_stale(&start()).await;
}

#[tokio::test]
async fn body_over_the_limit_answers_413() {
    adapters_common::over_limit(&start()).await;
}

#[tokio::test]
async fn inbound_multipart_with_3_attachments_answers_200_with_bytes_intact() {
    adapters_common::inbound_attachments(&start()).await;
}

#[tokio::test]
async fn concurrent_identical_deliveries_run_the_handler_once() {
    adapters_common::concurrent(&start()).await;
}

#[tokio::test]
async fn handler_failure_answers_500_and_the_retry_succeeds() {
    adapters_common::failure_then_retry(&start()).await;
}

#[tokio::test]
async fn handler_panic_answers_500_and_the_retry_succeeds() {
    adapters_common::panic_then_retry(&start()).await;
}

#[tokio::test]
async fn wrong_endpoint_answers_400_without_reserving() {
    adapters_common::wrong_endpoint(&start()).await;
}

#[tokio::test]
async fn bad_encoding_type_and_body() {
    adapters_common::bad_requests(&start()).await;
}

#[tokio::test]
async fn missing_configuration_fails_closed_with_500() {
    let h = start();
    let (signed, _) = adapters_common::event("h@example.com");
    let reply = h.post("/unconfigured", &signed).await;
    assert_eq!(
        (reply.status.as_u16(), reply.body.as_str()),
        (500, "not_configured")
    );
    // Even a forged request gets 500, never a 200 that would skip verification.
    let (forged, _) = adapters_common::event_signed(
        &mailgun_webhooks::SigningKey::new("forged"),
        now(),
        "h@example.com",
    );
    let reply = h.post("/unconfigured", &forged).await;
    assert_eq!(
        (reply.status.as_u16(), reply.body.as_str()),
        (500, "not_configured")
    );
}

#[tokio::test]
async fn actix_payload_config_applies_and_answers_413() {
    let h = start();
    let form = FormBody::new()
        .field("recipient", "support@example.com")
        .field("body-plain", "y".repeat(8192))
        .sign(&adapters_common::key(), now(), &token())
        .urlencoded();
    // Under our 128 KiB limit, over the resource's 4 KiB PayloadConfig.
    let reply = h.post("/small", &form).await;
    assert_eq!(
        (reply.status.as_u16(), reply.body.as_str()),
        (413, "limit_exceeded")
    );
    let reply = h.post_chunked("/small", &form).await;
    assert_eq!(
        (reply.status.as_u16(), reply.body.as_str()),
        (413, "limit_exceeded")
    );

    let (signed, _) = adapters_common::event("i@example.com");
    let reply = h.post("/small", &signed).await;
    assert_eq!((reply.status.as_u16(), reply.body.as_str()), (200, "ok"));
}

#[test]
fn readme_shows_the_compiled_doc_test() {
    adapters_common::readme_matches_module_docs("### actix-web", "src/adapters/actix.rs");
}

#[tokio::test]
async fn hang_up_mid_handler_then_other_bodies_are_refused() {
    adapters_common::hang_up_then_other_bodies(&start()).await;
}

#[tokio::test]
async fn handler_error_then_another_body_is_refused() {
    adapters_common::failure_then_other_body(&start()).await;
}

#[tokio::test]
async fn handler_error_then_the_same_delivery_reencoded_is_processed() {
    adapters_common::failure_then_same_delivery_reencoded(&start()).await;
}

#[tokio::test]
async fn handler_panic_then_another_body_is_refused() {
    adapters_common::panic_then_other_body(&start()).await;
}

#[tokio::test]
async fn two_accounts_on_one_store_do_not_suppress_each_other() {
    adapters_common::two_accounts_on_one_store(&start()).await;
}

#[tokio::test]
async fn parent_signature_variant_after_a_hang_up_is_refused() {
    adapters_common::parent_signature_variant_after_hang_up(&start()).await;
}
