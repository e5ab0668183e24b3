//! Issue 13, test kit: samples by kind, a `Signer` holding the key and clock, and signed
//! `http::Request`s in each encoding that verify, parse, and pass a framework adapter over real
//! HTTP on loopback.
// Tests fail by panicking: unwrap, expect and panic are how they report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use bytes::Bytes;
use mailgun_webhooks::testing::{
    FormBody, ManualClock, Sample, Signer, inbound_sample, legacy_sample, sample, stored_sample,
};
use mailgun_webhooks::{
    Clock, ErrorKind, Event, EventKind, Format, Payload, PayloadKind, SigningKey, Verifier,
};

const KEY: &str = "testing-kit-key";

fn signer() -> Signer {
    Signer::new(SigningKey::new(KEY))
}

/// Verifies and parses a request with a plain verifier of `KEY` on the system clock, checking
/// its headers against its body first.
fn verify(request: &http::Request<Bytes>) -> Payload {
    assert_eq!(request.method(), http::Method::POST);
    let headers = request.headers();
    let length: usize = headers["content-length"].to_str().unwrap().parse().unwrap();
    assert_eq!(length, request.body().len());
    let content_type = headers["content-type"].to_str().unwrap();
    Verifier::new(SigningKey::new(KEY))
        .parse_and_verify(content_type, request.body())
        .unwrap()
        .into_payload()
}

fn content_type(request: &http::Request<Bytes>) -> &str {
    request.headers()["content-type"].to_str().unwrap()
}

#[test]
fn every_event_kind_has_a_sample_that_verifies_as_that_kind() {
    let signer = signer();
    for kind in EventKind::ALL {
        let payload = verify(&signer.request(sample(kind)));
        let event = payload.into_event().unwrap();
        assert_eq!(event.kind(), kind, "{kind}");
        let data = event.data().unwrap();
        assert_eq!(
            data.recipient.as_deref(),
            Some("alice@example.com"),
            "{kind}"
        );
        assert_eq!(data.user_variables.get::<u64>("order_id"), Some(10042));
        // The short signer call gives the same kind.
        let body = signer.sample(kind);
        let parsed = signer
            .verifier()
            .parse_and_verify(&body.content_type, &body.body)
            .unwrap();
        assert_eq!(parsed.payload().as_event().unwrap().kind(), kind);
    }
    let unknown = verify(&signer.request(sample(EventKind::Unknown)))
        .into_event()
        .unwrap();
    assert_eq!(unknown.kind(), EventKind::Unknown);
    assert_eq!(unknown.name(), "future_event");
}

#[test]
fn legacy_inbound_and_stored_samples() {
    let signer = signer();
    for kind in [
        EventKind::Delivered,
        EventKind::Failed,
        EventKind::Opened,
        EventKind::Clicked,
        EventKind::Unsubscribed,
        EventKind::Complained,
    ] {
        let legacy = legacy_sample(kind).unwrap();
        assert_eq!(legacy.format(), Format::Form);
        for format in [Format::Form, Format::Multipart] {
            let request = signer.request_as(legacy.clone(), format);
            let event = verify(&request).into_event().unwrap();
            assert_eq!(event.kind(), kind, "legacy {kind} as {format}");
        }
    }
    assert!(legacy_sample(EventKind::Accepted).is_none());
    assert!(legacy_sample(EventKind::ListUploaded).is_none());

    let inbound = verify(&signer.request(inbound_sample()));
    assert_eq!(inbound.kind(), PayloadKind::Inbound);
    assert!(content_type(&signer.request(inbound_sample())).starts_with("multipart/form-data"));
    let message = inbound.into_inbound().unwrap();
    assert_eq!(message.attachments.len(), 2);

    let stored = verify(&signer.request(stored_sample()));
    assert_eq!(stored.kind(), PayloadKind::Stored);
}

#[test]
fn a_json_value_becomes_a_request_in_each_encoding() {
    let signer = signer();
    let value = serde_json::json!({
        "event": "delivered",
        "recipient": "bob@example.net",
        "user-variables": {"order_id": 7},
    });
    let expected = [
        (Format::Json, "application/json"),
        (Format::Form, "application/x-www-form-urlencoded"),
        (Format::Multipart, "multipart/form-data; boundary="),
    ];
    for (format, ct) in expected {
        let request = signer.request_as(value.clone(), format);
        assert!(content_type(&request).starts_with(ct), "{format}");
        let event = verify(&request).into_event().unwrap();
        assert_eq!(event.kind(), EventKind::Delivered, "{format}");
        assert_eq!(
            event.data().unwrap().recipient.as_deref(),
            Some("bob@example.net"),
            "{format}"
        );
    }
    // The plain call keeps JSON.
    assert_eq!(content_type(&signer.request(value)), "application/json");
    // A form with files defaults to multipart.
    let form = FormBody::new()
        .field("event", "bounced")
        .field("recipient", "bob@example.net")
        .file(
            "attachment-1",
            "m.eml",
            "message/rfc822",
            b"Subject: x\r\n\r\n".to_vec(),
        );
    assert!(content_type(&signer.request(form)).starts_with("multipart/form-data"));
}

#[test]
fn tokens_are_fresh_unless_fixed() {
    let signer = signer();
    let one = signer.json(serde_json::json!({"event": "opened"}));
    let two = signer.json(serde_json::json!({"event": "opened"}));
    let key_of = |body: &mailgun_webhooks::testing::SignedBody| {
        signer
            .verifier()
            .parse_and_verify(&body.content_type, &body.body)
            .unwrap()
            .replay_key()
    };
    assert_ne!(key_of(&one), key_of(&two), "each call gets a fresh token");
    let fixed = signer
        .clone()
        .token("fixed-token-0123456789")
        .at(1_700_000_000);
    let fixed_verifier = fixed.verifier();
    let keys: Vec<_> = (0..2)
        .map(|_| {
            let body = fixed.form(FormBody::new().field("event", "delivered"));
            fixed_verifier
                .parse_and_verify(&body.content_type, &body.body)
                .unwrap()
                .replay_key()
        })
        .collect();
    assert_eq!(
        keys[0], keys[1],
        "a fixed token and time make the same delivery"
    );
}

#[test]
fn the_signers_clock_is_the_verifiers() {
    let clock = ManualClock::at_secs(1_600_000_000);
    let signer = signer().clock(clock.clone());
    assert_eq!(signer.timestamp(), 1_600_000_000);
    let body = signer.sample(EventKind::Delivered);
    // Years ago by the system clock: stale for a plain verifier ...
    let plain =
        Verifier::new(SigningKey::new(KEY)).parse_and_verify(&body.content_type, &body.body);
    assert!(matches!(plain.unwrap_err().kind(), ErrorKind::Stale { .. }));
    // ... fresh for the signer's verifier, until its clock moves past max_age.
    let verifier = signer.verifier();
    verifier
        .parse_and_verify(&body.content_type, &body.body)
        .unwrap();
    clock.advance(Duration::from_secs(9 * 3600));
    assert_eq!(
        verifier
            .parse_and_verify(&body.content_type, &body.body)
            .unwrap_err()
            .name(),
        "stale"
    );
    assert_eq!(signer.timestamp(), clock.secs());
    let _ = clock.now();
}

#[test]
fn samples_can_be_edited_before_signing() {
    let mut s = sample(EventKind::Failed);
    s.event_data_mut().unwrap()["severity"] = "temporary".into();
    let event = verify(&signer().request(s)).into_event().unwrap();
    let Event::Failed(failed) = event else {
        panic!("expected failed");
    };
    assert_eq!(failed.severity.unwrap().to_string(), "temporary");
    let back = Sample::from(serde_json::json!({"event": "opened"})).encoded(Format::Form);
    assert_eq!(
        back.form_body().unwrap(),
        &FormBody::new().field("event", "opened")
    );
}

#[cfg(feature = "hyper")]
mod over_http {
    //! The requests, sent as they are over real HTTP to a hyper server running the hyper adapter.
    use std::convert::Infallible;

    use http_body_util::{BodyExt, Full};
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    use mailgun_webhooks::hyper::receive;
    use mailgun_webhooks::{MemoryReplayStore, Receiver};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    async fn send(addr: std::net::SocketAddr, request: http::Request<Bytes>) -> (u16, String) {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        let driver = tokio::spawn(conn);
        let mut request = request.map(Full::new);
        *request.uri_mut() = "/webhooks/mailgun".parse().unwrap();
        request
            .headers_mut()
            .insert(http::header::HOST, "127.0.0.1".parse().unwrap());
        let response = sender.send_request(request).await.unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        drop(sender);
        let _ = driver.await;
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn requests_pass_the_hyper_adapter() {
        let signer = signer();
        let receiver = Receiver::new(signer.verifier(), MemoryReplayStore::new());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            // Bounded: one connection per request below.
            for _ in 0..6 {
                let (stream, _) = listener.accept().await.unwrap();
                let receiver = receiver.clone();
                let service = service_fn(move |req| {
                    let receiver = receiver.clone();
                    async move {
                        let response =
                            receive::<Payload, _, _, _, _>(&receiver, req, |_| async { Ok(()) })
                                .await;
                        Ok::<_, Infallible>(response.into_response::<Full<Bytes>>())
                    }
                });
                http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                    .unwrap();
            }
        });
        let delivered = signer.request(sample(EventKind::Delivered));
        assert_eq!(send(addr, delivered.clone()).await, (200, "ok".into()));
        // The same request again: Mailgun's retry of a processed delivery.
        assert_eq!(send(addr, delivered).await, (200, "duplicate".into()));
        let legacy = legacy_sample(EventKind::Failed).unwrap();
        assert_eq!(
            send(addr, signer.request_as(legacy, Format::Multipart))
                .await
                .0,
            200
        );
        assert_eq!(send(addr, signer.request(inbound_sample())).await.0, 200);
        assert_eq!(send(addr, signer.request(stored_sample())).await.0, 200);
        // Another key's signature is refused.
        let other = Signer::new(SigningKey::new("another-key"));
        assert_eq!(
            send(addr, other.request(sample(EventKind::Opened))).await,
            (401, "signature_mismatch".into())
        );
        server.await.unwrap();
    }
}
