//! The hyper adapter inside a real hyper 1 server on 127.0.0.1:0, driven by a real HTTP client.
#![cfg(feature = "hyper")]
// Tests fail by panicking: unwrap, expect and panic are how they report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod adapters_common;

use std::convert::Infallible;

use adapters_common::{Harness, INBOUND, Recorder, TRACKING, TRACKING_B};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use mailgun_webhooks::hyper::{WebhookResponse, admit, receive};
use mailgun_webhooks::{Event, InboundMessage, MemoryReplayStore, Receiver};

async fn route(
    (receiver, receiver_b): (Receiver<MemoryReplayStore>, Receiver<MemoryReplayStore>),
    rec: Recorder,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let response: WebhookResponse = match req.uri().path() {
        // Account B, on the same store.
        TRACKING_B => {
            receive(
                &receiver_b,
                req,
                |event| async move { rec.event(event).await },
            )
            .await
        }
        TRACKING => {
            receive(
                &receiver,
                req,
                |event| async move { rec.event(event).await },
            )
            .await
        }
        // The two-step form: admit, then process.
        INBOUND => match admit::<InboundMessage, _, _>(&receiver, req).await {
            Ok(webhook) => {
                webhook
                    .process(|message| async move { rec.inbound(message).await })
                    .await
            }
            Err(rejection) => rejection.into(),
        },
        _ => {
            let mut not_found = Response::new(Full::default());
            *not_found.status_mut() = StatusCode::NOT_FOUND;
            return not_found;
        }
    };
    response.into_response()
}

async fn start() -> Harness {
    let recorder = Recorder::default();
    let receiver = adapters_common::receivers();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let rec = recorder.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (receiver, rec) = (receiver.clone(), rec.clone());
            let service = service_fn(move |req| {
                let (receiver, rec) = (receiver.clone(), rec.clone());
                async move { Ok::<_, Infallible>(route(receiver, rec, req).await) }
            });
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
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

/// Any `http_body::Body` works, without a server: here a `Full` body, as a plain tower
/// service would pass it, and a body whose exact size hint is over the limit.
#[tokio::test]
async fn any_http_body_without_a_server() {
    let receiver = adapters_common::receiver();
    let (signed, _) = adapters_common::event("g@example.com");
    let request = |body: Full<Bytes>| {
        Request::post("/hook")
            .header("content-type", &signed.content_type)
            .body(body)
            .unwrap()
    };
    let ok = receive(
        &receiver,
        request(Full::from(signed.body.clone())),
        |e: mailgun_webhooks::Verified<Event>| async move {
            assert_eq!(e.payload().recipient(), Some("g@example.com"));
            Ok(())
        },
    )
    .await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(!ok.is_duplicate());
    let again = receive(
        &receiver,
        request(Full::from(signed.body.clone())),
        |_: mailgun_webhooks::Verified<Event>| async {
            panic!("a duplicate must not run the handler")
        },
    )
    .await;
    assert!(again.is_duplicate());
    assert_eq!(again.into_response::<String>().body(), "duplicate");

    // No Content-Length header, but the body's exact size is known: refused before reading.
    let big = vec![b' '; usize::try_from(adapters_common::MAX_BODY).unwrap() + 1];
    let refused = receive(
        &receiver,
        request(Full::from(big)),
        |_: mailgun_webhooks::Verified<Event>| async { panic!("never runs") },
    )
    .await;
    assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(refused.error().unwrap().name(), "limit_exceeded");
}

#[test]
fn readme_shows_the_compiled_doc_test() {
    adapters_common::readme_matches_module_docs("### hyper and tower", "src/adapters/hyper.rs");
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
