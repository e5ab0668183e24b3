//! What the `tracing` feature emits: one span per delivery with its shape and outcome, and
//! never a personal value (address, subject, body, user variable, token, signature).
#![cfg(feature = "tracing")]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use mailgun_webhooks::testing::{ManualClock, json_body};
use mailgun_webhooks::{HandlerError, MemoryReplayStore, Receiver, SigningKey, Verifier};
use serde_json::Value;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;

const DEMO_KEY: &str = "demo-webhook-signing-key";
const SIGNED_AT: u64 = 1_767_225_600;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

fn receiver(key: &str) -> Receiver {
    // The store's epoch is before the signatures, so that deliveries are proven fresh.
    let clock = ManualClock::at_secs(SIGNED_AT - 60);
    let store = MemoryReplayStore::builder().clock(clock.clone()).build();
    clock.set_secs(SIGNED_AT);
    Receiver::new(
        Verifier::builder(SigningKey::new(key)).clock(clock).build(),
        store,
    )
}

/// (content type, body) of every bundled payload, as the `inspect` tool reads them.
fn bundled() -> Vec<(PathBuf, String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/payloads");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e != "md"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let body = std::fs::read(&p).unwrap();
            let ct = if body.starts_with(b"{") {
                "application/json".to_owned()
            } else if body.starts_with(b"--") {
                let line = body.split(|b| *b == b'\r' || *b == b'\n').next().unwrap();
                let boundary = std::str::from_utf8(&line[2..]).unwrap();
                format!("multipart/form-data; boundary=\"{boundary}\"")
            } else {
                "application/x-www-form-urlencoded".to_owned()
            };
            (p, ct, body)
        })
        .collect()
}

/// Captured JSON webhooks (../shared/fixtures/captured), re-signed with the demo key.
fn captured() -> Vec<(PathBuf, String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/captured")];
    assert!(
        dirs[0].is_dir(),
        "fixtures not found: {}",
        dirs[0].display()
    );
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|e| e == "json") {
                let Ok(v) = serde_json::from_slice::<Value>(&std::fs::read(&p).unwrap()) else {
                    continue;
                };
                if let Some(data) = v.get("event-data") {
                    let token = format!("{:0>50}", out.len());
                    let body =
                        json_body(&SigningKey::new(DEMO_KEY), SIGNED_AT, &token, data.clone());
                    out.push((p, body.content_type, body.body));
                }
            }
        }
    }
    out.sort();
    out
}

/// Every string of the body that could be personal: JSON string values, form values, and the
/// words of the longer ones (an address inside a header, a subject's words).
fn sensitive_values(content_type: &str, body: &[u8]) -> Vec<String> {
    // What the span may legitimately carry.
    const LABELS: &[&str] = &[
        "json",
        "form",
        "multipart",
        "event",
        "inbound",
        "stored",
        "primary",
        "parent",
        "processed",
        "duplicate",
        "delivered",
        "failed",
        "accepted",
        "rejected",
        "opened",
        "clicked",
        "unsubscribed",
        "complained",
        "unknown",
        "list_member_uploaded",
        "list_uploaded",
        "list_member_upload_error",
        "mailgun_webhooks",
        "delivery",
    ];
    let mut values = Vec::new();
    if content_type == "application/json" {
        fn walk(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::String(s) => out.push(s.clone()),
                Value::Number(n) => out.push(n.to_string()),
                Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
                Value::Object(m) => m.values().for_each(|v| walk(v, out)),
                _ => {}
            }
        }
        walk(&serde_json::from_slice(body).unwrap(), &mut values);
    } else if content_type.starts_with("multipart/") {
        let text = String::from_utf8_lossy(body);
        for part in text
            .split("\r\n\r\n")
            .skip(1)
            .chain(text.split("\n\n").skip(1))
        {
            let value = part
                .split("\r\n--")
                .next()
                .unwrap()
                .split("\n--")
                .next()
                .unwrap();
            values.push(value.to_owned());
        }
    } else {
        for (_, v) in serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).unwrap() {
            values.push(v);
        }
    }
    let mut all = Vec::new();
    for v in values {
        for word in v.split(|c: char| c.is_whitespace() || "<>\",;()[]{}".contains(c)) {
            all.push(word.to_owned());
        }
        all.push(v);
    }
    all.retain(|v| v.len() >= 6 && !LABELS.contains(&v.to_ascii_lowercase().as_str()));
    all.sort();
    all.dedup();
    all
}

#[tokio::test(flavor = "current_thread")]
async fn no_personal_value_is_emitted_for_any_fixture() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(capture.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(FmtSpan::CLOSE)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut payloads = bundled();
    assert!(payloads.len() >= 15, "{} bundled payloads", payloads.len());
    let captured = captured();
    assert!(captured.len() >= 10, "{} captured payloads", captured.len());
    payloads.extend(captured);

    let mut sensitive = Vec::new();
    for (path, ct, body) in &payloads {
        sensitive.extend(sensitive_values(ct, body));
        let good = receiver(DEMO_KEY);
        // Processed, then a duplicate, then (new receiver) a handler failure and a rejection,
        // then a signature mismatch.
        let r = good
            .receive(ct, body, |_| async { Ok::<_, HandlerError>(()) })
            .await;
        assert!(r.is_ok(), "{}: {r:?}", path.display());
        let _ = good
            .receive(ct, body, |_| async { Ok::<_, HandlerError>(()) })
            .await;
        let failing = receiver(DEMO_KEY);
        let _ = failing
            .receive(ct, body, |v| async move {
                Err::<(), _>(format!("db error for {:?}", v.payload()))
            })
            .await;
        let _ = failing
            .receive(ct, body, |v| async move {
                Err::<(), _>(HandlerError::reject(format!("no: {:?}", v.payload())))
            })
            .await;
        let _ = receiver("wrong-key")
            .receive(ct, body, |_| async { Ok::<_, HandlerError>(()) })
            .await;
    }
    sensitive.sort();
    sensitive.dedup();
    assert!(sensitive.len() > 100, "{} values", sensitive.len());
    assert!(sensitive.iter().any(|v| v == "alice@example.com"));

    let log = capture.text();
    // What must be there: the span's fields for each outcome, and the levels.
    for needle in [
        "mailgun_webhooks.delivery",
        "format=\"json\"",
        "format=\"multipart\"",
        "format=\"form\"",
        "payload_kind=\"inbound\"",
        "event_kind=\"delivered\"",
        "key_id=primary",
        "outcome=\"processed",
        "outcome=\"duplicate\"",
        "error_kind=\"handler\"",
        "error_kind=\"rejected\"",
        "error_kind=\"signature_mismatch\"",
        "status=401",
        "duration_ms=",
        " WARN ",
        "webhook signing key",
    ] {
        assert!(log.contains(needle), "missing {needle:?} in:\n{log}");
    }
    // The crate's own fixed text may share a word with a fixture ("Mailgun"): take it out.
    let mut scrubbed = log.clone();
    for fixed in [
        "handler failed; delivery released for Mailgun's retry",
        "delivery refused: signature mismatch: check that the verifier uses the webhook signing \
         key (Mailgun dashboard, Webhooks > HTTP webhook signing key), not the API key",
        "replay store failed; Mailgun will retry",
        "duplicate delivery answered 200",
        "delivery processed",
        "delivery refused",
        "mailgun_webhooks.delivery",
        "mailgun_webhooks",
        "time.busy",
        "time.idle",
    ] {
        scrubbed = scrubbed.replace(fixed, "");
    }
    for value in &sensitive {
        assert!(
            !scrubbed.contains(value.as_str()),
            "{value:?} appears in what was emitted:\n{}",
            log.lines()
                .filter(|l| l.contains(value.as_str()))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// The tower layer answers with the inner service's own response: the delivery is logged with
/// that status (a 202, a 503), not with the 200 or 500 its outcome would imply.
#[cfg(feature = "tower")]
#[tokio::test(flavor = "current_thread")]
async fn the_tower_layer_logs_the_status_the_inner_service_answered() {
    use bytes::Bytes;
    use http_body_util::Full;
    use mailgun_webhooks::tower::WebhookLayer;
    use tower::{Layer, ServiceExt};

    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(capture.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/payloads");
    let body = std::fs::read(dir.join("delivered.json")).unwrap();
    for status in [202u16, 503] {
        let inner = tower::service_fn(move |_: http::Request<Full<Bytes>>| async move {
            let mut response = http::Response::new(Full::new(Bytes::from_static(b"answer")));
            *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
            Ok::<_, std::convert::Infallible>(response)
        });
        let service = WebhookLayer::new(receiver(DEMO_KEY)).layer(inner);
        let request = http::Request::post("/webhooks/mailgun")
            .header("content-type", "application/json")
            .header("content-length", body.len())
            .body(Full::new(Bytes::from(body.clone())))
            .unwrap();
        let response = service.oneshot(request).await.unwrap();
        assert_eq!(response.status().as_u16(), status);
    }
    let log = capture.text();
    let line = |needle: &str| log.lines().find(|l| l.contains(needle)).map(str::to_owned);
    let processed = line("delivery processed").expect("a processed line");
    assert!(processed.contains("status=202"), "{processed}");
    let released = line("handler failed").expect("a released line");
    assert!(released.contains("status=503"), "{released}");
    assert!(!log.contains("status=500"), "{log}");
    assert!(!log.contains("status=200"), "{log}");
}
