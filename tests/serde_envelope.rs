//! Queueable payloads (feature `serde`): every captured fixture the crate verifies goes through
//! a `VerifiedEnvelope`, JSON and back, and parses to what the live path gave; `Event` and the
//! other payloads serialize without panicking and read back.
#![cfg(feature = "serde")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::time::SystemTime;

use common::{ANYMAIL_KEY, MULTI_MAIL_KEY, SYMFONY_KEY, at, fixtures, split_request};
use mailgun_webhooks::testing::{FormBody, token};
use mailgun_webhooks::{
    Clock, ErrorKind, Event, KeyId, Limits, Payload, PayloadDigest, SigningKey, Verified,
    VerifiedEnvelope, Verifier, parse,
};

/// Every key SOURCES.md names.
const KEYS: [&str; 4] = [
    ANYMAIL_KEY,
    SYMFONY_KEY,
    MULTI_MAIL_KEY,
    "wrong signing key",
];

#[derive(Debug)]
struct Fixed(SystemTime);

impl Clock for Fixed {
    fn now(&self) -> SystemTime {
        self.0
    }
}

/// A verifier with `key` whose clock is at `secs`.
fn verifier_at(key: &str, secs: u64) -> Verifier {
    Verifier::builder(SigningKey::new(key))
        .clock(Fixed(at(secs)))
        .build()
}

/// The content type and body of a captured request, or `None` for files that are not one.
fn load(path: &Path) -> Option<(String, Vec<u8>)> {
    let name = path.file_name()?.to_str()?;
    let bytes = std::fs::read(path).unwrap();
    if name.ends_with(".json") {
        Some(("application/json".to_owned(), bytes))
    } else if name.ends_with(".form") {
        Some(("application/x-www-form-urlencoded".to_owned(), bytes))
    } else if name.ends_with(".multipart") {
        let line = bytes.split(|&b| b == b'\n').next().unwrap();
        let boundary = std::str::from_utf8(line)
            .unwrap()
            .trim_end()
            .trim_start_matches("--")
            .to_owned();
        Some((format!("multipart/form-data; boundary={boundary}"), bytes))
    } else if name.ends_with(".http.txt") {
        split_request(&bytes)
    } else {
        None
    }
}

/// Every captured request under the fixtures: (file, content type, body).
fn captured(dir: &Path) -> Vec<(String, String, Vec<u8>)> {
    let mut all = Vec::new();
    for sub in std::fs::read_dir(dir).unwrap() {
        let sub = sub.unwrap().path();
        if !sub.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&sub).unwrap() {
            let f = f.unwrap().path();
            if let Some((ct, body)) = load(&f) {
                let name = f.strip_prefix(dir).unwrap().display().to_string();
                all.push((name, ct, body));
            }
        }
    }
    all.sort();
    all
}

/// The fixture verified with the key that verifies it, at its signed time, keeping its body.
fn verify_with_any_key(ct: &str, body: &[u8]) -> Option<(Verifier, Verified<Payload>)> {
    let unverified = parse(ct, body, &Limits::default()).ok()?;
    let ts: u64 = unverified.signature().timestamp().parse().ok()?;
    KEYS.iter().find_map(|key| {
        let verifier = verifier_at(key, ts);
        let verified = verifier.parse_and_verify_bytes(ct, body.to_vec()).ok()?;
        Some((verifier, verified))
    })
}

/// The payloads are equal: by value, by `Debug` and by their serialization.
fn assert_same(file: &str, live: &Payload, later: &Payload) {
    assert_eq!(format!("{live:?}"), format!("{later:?}"), "{file}");
    assert_eq!(live.kind(), later.kind(), "{file}");
    assert_eq!(live.as_event(), later.as_event(), "{file}");
    assert_eq!(live.as_inbound(), later.as_inbound(), "{file}");
    assert_eq!(live.as_stored(), later.as_stored(), "{file}");
    assert_eq!(
        serde_json::to_value(live).unwrap(),
        serde_json::to_value(later).unwrap(),
        "{file}"
    );
}

#[test]
fn every_verified_fixture_round_trips_through_an_envelope_and_parses_the_same() {
    let Some(dir) = fixtures() else { return };
    let (mut verified_count, mut base64_bodies) = (0, 0);
    for (file, ct, body) in captured(&dir) {
        let Some((verifier, verified)) = verify_with_any_key(&ct, &body) else {
            continue;
        };
        verified_count += 1;
        assert_eq!(verified.raw_body(), Some(&body[..]), "{file}");
        assert_eq!(verified.content_type(), Some(ct.as_str()), "{file}");

        let envelope = verified.to_envelope().expect("the body was kept");
        let text = serde_json::to_string(&envelope).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        if value["body"].get("base64").is_some() {
            base64_bodies += 1;
        }
        let back: VerifiedEnvelope = serde_json::from_str(&text).unwrap();
        assert_eq!(back, envelope, "{file}");
        assert_eq!(back.body(), &body[..], "{file}: byte for byte");
        assert_eq!(back.content_type(), ct, "{file}");
        assert_eq!(back.signature(), verified.signature(), "{file}");
        assert_eq!(back.matched_key(), KeyId::Primary, "{file}");
        assert_eq!(back.received_at(), verified.verified_at(), "{file}");
        assert_eq!(back.replay_key(), verified.replay_key(), "{file}");
        assert_eq!(
            back.payload_digest(verifier.limits()).unwrap(),
            PayloadDigest::compute(&ct, &body, verifier.limits()).unwrap(),
            "{file}"
        );
        // No key material anywhere in what is queued (`foo` is also a file name there).
        for key in [ANYMAIL_KEY, SYMFONY_KEY, "wrong signing key"] {
            assert!(
                !text.contains(key),
                "{file}: the key {key:?} is in the envelope"
            );
        }

        let later = back.parse(verifier.limits()).unwrap();
        assert_same(&file, verified.payload(), &later);
    }
    // 22 JSON (conformance_json.rs) and 23 form or multipart (form_multipart.rs) fixtures
    // verify with a key of SOURCES.md.
    assert_eq!(verified_count, 45);
    assert!(
        base64_bodies > 0,
        "a fixture with a binary part goes as base64"
    );
}

#[test]
fn a_binary_body_round_trips_byte_for_byte() {
    let key = SigningKey::new("k");
    let binary: Vec<u8> = (0..=255u8).cycle().take(4099).collect();
    let signed = FormBody::new()
        .field("recipient", "in@example.com")
        .field("subject", "binary")
        .sign(&key, 1_700_000_000, &token())
        .file(
            "attachment-1",
            "blob.bin",
            "application/octet-stream",
            binary.clone(),
        )
        .multipart();
    assert!(std::str::from_utf8(&signed.body).is_err());
    let verifier = verifier_at("k", 1_700_000_000);
    let verified = verifier
        .parse_and_verify_bytes(&signed.content_type, signed.body.clone())
        .unwrap();
    let file = verified.payload().as_inbound().unwrap().attachments[0].data();
    assert_eq!(file, &binary[..]);
    let envelope = verified.to_envelope().unwrap();
    let text = serde_json::to_string(&envelope).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(value["body"]["base64"].is_string(), "{value}");
    let back: VerifiedEnvelope = serde_json::from_str(&text).unwrap();
    assert_eq!(back.body(), &signed.body[..]);
    let msg = back
        .parse(verifier.limits())
        .unwrap()
        .into_inbound()
        .unwrap();
    assert_eq!(msg.attachments[0].data(), &binary[..]);
    assert_same(
        "binary",
        verified.payload(),
        &Payload::Inbound(Box::new(msg)),
    );

    // A corrupted base64 body is a deserialization error that quotes nothing.
    let mut bad = value.clone();
    bad["body"]["base64"] = "not base64!".into();
    let err = serde_json::from_value::<VerifiedEnvelope>(bad).unwrap_err();
    assert!(err.to_string().contains("base64"), "{err}");
    let mut future = value;
    future["version"] = 2.into();
    assert!(serde_json::from_value::<VerifiedEnvelope>(future).is_err());
}

#[test]
fn a_tampered_envelope_still_parses_because_nothing_is_verified_again() {
    let Some(dir) = fixtures() else { return };
    let file = dir.join("symfony-mailgun-mailer/json-delivered_messages.json");
    let (ct, body) = load(&file).unwrap();
    let (verifier, verified) = verify_with_any_key(&ct, &body).unwrap();
    let original = verified
        .payload()
        .as_event()
        .unwrap()
        .recipient()
        .unwrap()
        .to_owned();
    let mut value = serde_json::to_value(verified.to_envelope().unwrap()).unwrap();
    let text = value["body"]["utf8"].as_str().unwrap().to_owned();
    assert!(text.contains(&original));
    // Whoever can write to the queue can change the payload: documented, not detected.
    value["body"]["utf8"] = text.replace(&original, "mallory@example.com").into();
    let forged: VerifiedEnvelope = serde_json::from_value(value.clone()).unwrap();
    let event = forged
        .parse(verifier.limits())
        .unwrap()
        .into_event()
        .unwrap();
    assert_eq!(event.recipient(), Some("mallory@example.com"));
    // Its replay key is still the original's: a worker idempotent on it does the work once.
    assert_eq!(forged.replay_key(), verified.replay_key());

    // A body whose signed fields are not the envelope's is refused (the wrong body).
    let token = verified.token().to_owned();
    value["body"]["utf8"] = text.replace(&token, "another-token").into();
    let mismatched: VerifiedEnvelope = serde_json::from_value(value).unwrap();
    let err = mismatched.parse(verifier.limits()).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Malformed { .. }), "{err}");
    assert_eq!(err.status(), 400);
}

#[test]
fn a_borrowed_body_is_not_kept_but_can_be_enveloped() {
    let Some(dir) = fixtures() else { return };
    let file = dir.join("symfony-mailgun-mailer/json-clicks.json");
    let (ct, body) = load(&file).unwrap();
    let (verifier, _) = verify_with_any_key(&ct, &body).unwrap();
    let verified = verifier.parse_and_verify(&ct, &body).unwrap();
    assert_eq!(verified.raw_body(), None);
    assert!(verified.to_envelope().is_none());
    let envelope = verified.to_envelope_with(&ct, body.clone());
    assert_same(
        "json-clicks",
        verified.payload(),
        &envelope.parse(verifier.limits()).unwrap(),
    );
    // Debug shows neither the body nor the signature.
    let shown = format!("{envelope:?}");
    assert!(!shown.contains(verified.signature().signature()), "{shown}");
    assert!(!shown.contains("recipient"), "{shown}");
}

#[test]
fn every_event_serializes_with_its_kind_and_id_and_reads_back() {
    let Some(dir) = fixtures() else { return };
    let mut events = Vec::new();
    for (file, ct, body) in captured(&dir) {
        if let Ok(u) = parse(&ct, &body, &Limits::default()) {
            let legacy = ct != "application/json";
            let payload = u.into_payload_unverified();
            let text = serde_json::to_string(&payload).unwrap();
            assert!(
                text.starts_with(&format!("{{\"{}\":", payload.kind())),
                "{file}"
            );
            if let Payload::Event(e) = payload {
                events.push((file, e, legacy));
            }
        } else if let Ok(e) = Event::from_json(&body) {
            events.push((file, e, false));
        }
    }
    assert!(events.len() >= 60, "{}", events.len());
    for (file, event, legacy) in &events {
        let value = serde_json::to_value(event).unwrap();
        match event.raw() {
            // An unknown event is its object as sent (here, one with no `event` at all).
            Some(raw) => assert_eq!(&value, raw, "{file}"),
            None => assert_eq!(value["event"], event.name(), "{file}"),
        }
        assert_eq!(value["id"].as_str(), event.id(), "{file}");
        if let (None, Some(t)) = (event.raw(), event.timestamp()) {
            assert_eq!(value["timestamp"].as_f64(), Some(t.as_secs_f64()), "{file}");
        }
        // The event-data shape reads back into the same event (a legacy event's form fields
        // and files are not part of it).
        let back = Event::from_json(&serde_json::to_vec(event).unwrap()).unwrap();
        assert_eq!(back.kind(), event.kind(), "{file}");
        assert_eq!(back.id(), event.id(), "{file}");
        assert_eq!(back.timestamp(), event.timestamp(), "{file}");
        assert_eq!(back.recipient(), event.recipient(), "{file}");
        assert_eq!(back.user_variables(), event.user_variables(), "{file}");
        if !legacy {
            assert_eq!(&back, event, "{file}");
        }
    }
}

/// The adapters keep the body they read: `raw_body` and `to_envelope` work inside `process`,
/// here the hyper adapter's, in a real hyper server on 127.0.0.1:0 driven by a real client.
#[cfg(feature = "hyper")]
mod adapters_common;

#[cfg(feature = "hyper")]
#[tokio::test]
async fn the_raw_body_is_reachable_inside_an_adapters_handler() {
    use std::convert::Infallible;

    use bytes::Bytes;
    use http::Request;
    use http_body_util::Full;
    use hyper::body::Incoming;
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    use mailgun_webhooks::InboundMessage;
    use mailgun_webhooks::testing::now;

    let receiver = adapters_common::receiver();
    let limits = receiver.verifier().limits().clone();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let service = service_fn(move |req: Request<Incoming>| {
            let (receiver, tx) = (receiver.clone(), tx.clone());
            async move {
                let response = mailgun_webhooks::hyper::receive(
                    &receiver,
                    req,
                    move |verified: Verified<InboundMessage>| async move {
                        let raw = verified.raw_body().map(<[u8]>::to_vec);
                        let ct = verified.content_type().map(str::to_owned);
                        tx.send((raw, ct, verified.to_envelope(), verified.into_payload()))
                            .unwrap();
                        Ok(())
                    },
                )
                .await;
                Ok::<_, Infallible>(response.into_response::<Full<Bytes>>())
            }
        });
        let _ = http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service)
            .await;
    });

    let binary: Vec<u8> = (0..=255u8).rev().cycle().take(3000).collect();
    let signed = FormBody::new()
        .field("recipient", "in@example.com")
        .field("subject", "with a binary file")
        .sign(&adapters_common::key(), now(), &token())
        .file(
            "attachment-1",
            "blob.bin",
            "application/octet-stream",
            binary.clone(),
        )
        .multipart();
    let harness = adapters_common::Harness::new(addr, adapters_common::Recorder::default());
    let reply = harness.post("/", &signed).await;
    assert_eq!((reply.status.as_u16(), reply.body.as_str()), (200, "ok"));

    let (raw, ct, envelope, message) = rx.recv().await.unwrap();
    assert_eq!(raw.as_deref(), Some(&signed.body[..]), "byte for byte");
    assert_eq!(ct.as_deref(), Some(signed.content_type.as_str()));
    let envelope = envelope.expect("the adapter kept the body");
    let back: VerifiedEnvelope =
        serde_json::from_str(&serde_json::to_string(&envelope).unwrap()).unwrap();
    let later = back.parse(&limits).unwrap().into_inbound().unwrap();
    assert_eq!(later, message);
    assert_eq!(later.attachments[0].data(), &binary[..]);
    server.abort();
}
