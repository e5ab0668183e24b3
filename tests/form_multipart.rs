//! Form and multipart bodies: every captured legacy and inbound fixture, and every multipart
//! (M*), form (F*), filename (N*) and transport (P*) case of RELIABILITY.md §4.2.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, UNIX_EPOCH};

mod common;
use common::{fixtures, split_request};

use bytes::Bytes;
use futures_util::{FutureExt, Stream, stream};
use mailgun_webhooks::{
    DeliveryCode, ErrorKind, Event, EventKind, Format, Limit, Limits, Payload, PayloadKind,
    Severity, SigningKey, Unverified, Verifier, parse, parse_stream,
};

// ----- helpers -----

/// The content type and body of a fixture file.
fn load(path: &Path) -> (String, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    let name = path.file_name().unwrap().to_str().unwrap();
    if name.ends_with(".form") {
        ("application/x-www-form-urlencoded".to_owned(), bytes)
    } else if name.ends_with(".multipart") {
        let line = bytes.split(|&b| b == b'\n').next().unwrap();
        let boundary = std::str::from_utf8(line)
            .unwrap()
            .trim_end()
            .trim_start_matches("--");
        (format!("multipart/form-data; boundary={boundary}"), bytes)
    } else {
        split_request(&bytes).unwrap()
    }
}

fn at(secs: u64) -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn verify(key: &str, u: Unverified<Payload>) -> mailgun_webhooks::Result<Payload> {
    let ts: u64 = u.signature().timestamp().parse().unwrap_or(0);
    Verifier::builder(SigningKey::new(key))
        .build()
        .verify_at(u, at(ts))
        .map(|v| v.into_payload())
}

fn parse_ok(ct: &str, body: &[u8]) -> Unverified<Payload> {
    parse(ct, body, &Limits::default()).unwrap_or_else(|e| panic!("{ct}: {e}"))
}

/// Parses in memory and streamed in one chunk; both must agree. Returns the in-memory result.
fn both(ct: &str, body: &[u8], limits: &Limits) -> mailgun_webhooks::Result<Unverified<Payload>> {
    let memory = parse(ct, body, limits);
    let streamed = streamed(ct, body, limits, &mut |_| body.len());
    match (&memory, &streamed) {
        (Ok(a), Ok(b)) => assert_eq!(describe(a), describe(b)),
        (Err(a), Err(b)) => assert_eq!(a.kind(), b.kind(), "{ct}"),
        _ => panic!("in memory {memory:?} but streamed {streamed:?}"),
    }
    memory
}

/// Parses `body` through `parse_stream`, cut into chunks whose sizes `next` picks.
fn streamed(
    ct: &str,
    body: &[u8],
    limits: &Limits,
    next: &mut dyn FnMut(usize) -> usize,
) -> mailgun_webhooks::Result<Unverified<Payload>> {
    let mut chunks = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let n = next(rest.len()).clamp(1, rest.len());
        chunks.push(Ok::<_, std::io::Error>(Bytes::copy_from_slice(&rest[..n])));
        rest = &rest[n..];
    }
    parse_stream(ct, stream::iter(chunks), limits)
        .now_or_never()
        .expect("a ready stream never leaves the parser pending")
}

/// Everything a parse produced, for comparing two parses.
fn describe(u: &Unverified<Payload>) -> String {
    format!(
        "{:?} {:?} {:?}",
        u.signature(),
        u.format(),
        u.payload_unverified()
    )
}

fn kind_of(r: mailgun_webhooks::Result<Unverified<Payload>>) -> (ErrorKind, u16) {
    let e = r.expect_err("expected an error");
    (e.kind().clone(), e.status().as_u16())
}

/// A tiny deterministic generator for chunk sizes.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

const ANYMAIL: &str = "TEST_WEBHOOK_SIGNING_KEY";
const MULTI_MAIL: &str = "foo";

// ----- conformance -----

/// What a fixture must parse to.
struct Expect {
    file: &'static str,
    kind: PayloadKind,
    event: Option<EventKind>,
    /// The key it verifies with, if known.
    key: Option<&'static str>,
    check: fn(&Payload),
}

fn event_data(p: &Payload) -> &mailgun_webhooks::EventData {
    p.as_event().and_then(Event::data).expect("a known event")
}

fn inbound(p: &Payload) -> &mailgun_webhooks::InboundMessage {
    p.as_inbound().expect("an inbound message")
}

fn none(_: &Payload) {}

const EXPECTED: &[Expect] = &[
    Expect {
        file: "anymail-django-anymail/inbound-parsed-basic.multipart",
        kind: PayloadKind::Inbound,
        event: None,
        key: Some(ANYMAIL),
        check: |p| {
            let m = inbound(p);
            assert_eq!(m.recipient.as_deref(), Some("test@inbound.example.com"));
            assert_eq!(m.sender.as_deref(), Some("envelope-from@example.org"));
            assert_eq!(m.body_plain.as_deref(), Some("Test body plain"));
            assert_eq!(m.body_html.as_deref(), Some("<div>Test body html</div>"));
            assert_eq!(m.stripped_text.as_deref(), Some("stripped plaintext body"));
            assert_eq!(m.stripped_html.as_deref(), Some("stripped html body"));
            assert_eq!(m.message_headers.len(), 19);
            assert_eq!(m.header("x-mailgun-sscore"), Some("1.7"));
            assert_eq!(m.header("Subject"), Some("Test subject"));
            assert!(m.attachments.is_empty());
        },
    },
    Expect {
        file: "anymail-django-anymail/inbound-parsed-duplicate-content-id-map.multipart",
        kind: PayloadKind::Inbound,
        event: None,
        key: Some(ANYMAIL),
        check: |p| {
            let m = inbound(p);
            let map: Vec<(&str, &str)> = m
                .content_id_map
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect();
            assert_eq!(
                map,
                [
                    ("", "attachment-1"),
                    ("", "attachment-2"),
                    ("<abc>", "attachment-3"),
                    ("<abc>", "attachment-4")
                ]
            );
            assert_eq!(m.attachments.len(), 4);
            assert_eq!(m.attachments[3].data(), b"att4");
        },
    },
    Expect {
        file: "anymail-django-anymail/inbound-parsed-odd-attachment-filenames.multipart",
        kind: PayloadKind::Inbound,
        event: None,
        key: Some(ANYMAIL),
        check: |p| {
            let m = inbound(p);
            let names: Vec<Option<&str>> = m.attachments.iter().map(|a| a.filename()).collect();
            assert_eq!(
                names,
                [
                    Some(""),
                    Some("path\\"),
                    Some("."),
                    Some("path\\."),
                    Some("."),
                    Some(".."),
                    Some("path\\.."),
                    Some("..")
                ]
            );
            let safe: Vec<String> = m.attachments.iter().map(|a| a.safe_filename()).collect();
            assert_eq!(
                safe,
                [
                    "attachment-1",
                    "path",
                    "attachment-3",
                    "path",
                    "attachment-5",
                    "attachment-6",
                    "path",
                    "attachment-8"
                ]
            );
            for a in &m.attachments {
                assert_safe(&a.safe_filename());
                assert_eq!(a.data(), b"content");
                assert_eq!(a.content_type(), Some("text/pdf"));
            }
        },
    },
    Expect {
        file: "anymail-django-anymail/inbound-parsed-three-attachments-inline-cid.multipart",
        kind: PayloadKind::Inbound,
        event: None,
        key: Some(ANYMAIL),
        check: |p| {
            let m = inbound(p);
            let got: Vec<(Option<&str>, Option<&str>, usize)> = m
                .attachments
                .iter()
                .map(|a| (a.filename(), a.content_type(), a.size()))
                .collect();
            assert_eq!(
                got,
                [
                    (Some("test.txt"), Some("text/plain"), 15),
                    (Some("image.png"), Some("image/png"), 579),
                    (
                        Some("\\share\\mail\\forwarded.msg"),
                        Some("message/rfc822; charset=\"us-ascii\""),
                        1195
                    ),
                ]
            );
            assert!(m.attachments[1].data().starts_with(b"\x89PNG\r\n\x1a\n"));
            assert_eq!(m.attachments[2].safe_filename(), "share_mail_forwarded.msg");
            assert_eq!(m.field("attachment-count"), Some("3"));
            assert_eq!(m.content_id_map.len(), 1);
        },
    },
    Expect {
        file: "anymail-django-anymail/inbound-raw-mime.multipart",
        kind: PayloadKind::Inbound,
        event: None,
        key: Some(ANYMAIL),
        check: |p| {
            let m = inbound(p);
            let mime = m.body_mime.as_deref().unwrap();
            assert!(
                mime.starts_with("From: A tester <test@example.org>"),
                "{mime:.40}"
            );
            assert_eq!(m.field("body-mime"), Some(mime));
            assert!(m.body_plain.is_none());
        },
    },
    Expect {
        file: "anymail-django-anymail/inbound-store-notify-attachments-json.multipart",
        kind: PayloadKind::Stored,
        event: None,
        key: Some(ANYMAIL),
        check: |p| {
            let s = p.as_stored().unwrap();
            assert_eq!(s.attachments.len(), 1);
            let a = &s.attachments[0];
            assert_eq!(a.name.as_deref(), Some("attachment.pdf"));
            assert_eq!(a.content_type.as_deref(), Some("application/pdf"));
            assert_eq!(a.size, Some(20202));
            assert!(a.url.as_deref().unwrap().ends_with("/attachments/0"));
            assert_eq!(
                s.message.recipient.as_deref(),
                Some("test@inbound.example.com")
            );
            assert_eq!(s.message.body_plain.as_deref(), Some("Test body plain"));
            assert!(s.message_url.is_none());
        },
    },
    Expect {
        file: "anymail-django-anymail/legacy-bounced-550.multipart",
        kind: PayloadKind::Event,
        event: Some(EventKind::Failed),
        key: Some(ANYMAIL),
        check: |p| {
            let d = event_data(p);
            assert_eq!(d.event.as_deref(), Some("bounced"));
            assert_eq!(d.severity, Some(Severity::Permanent));
            assert_eq!(d.reason.as_deref(), Some("bounce"));
            let s = d.delivery_status.as_ref().unwrap();
            assert_eq!(s.code, Some(DeliveryCode::Number(550)));
            assert!(s.message.as_deref().unwrap().contains("550"));
        },
    },
    Expect {
        file: "anymail-django-anymail/legacy-bounced-code-5.1.1.multipart",
        kind: PayloadKind::Event,
        event: Some(EventKind::Failed),
        key: Some(ANYMAIL),
        check: |p| {
            let s = event_data(p).delivery_status.as_ref().unwrap();
            assert_eq!(s.code, Some(DeliveryCode::Text("5.1.1".into())));
        },
    },
    Expect {
        file: "anymail-django-anymail/legacy-clicked-custom-variables.multipart",
        kind: PayloadKind::Event,
        event: Some(EventKind::Clicked),
        key: Some(ANYMAIL),
        check: |p| {
            let v = &event_data(p).user_variables;
            assert_eq!(v.get_str("custom1"), Some("value1"));
            #[derive(serde::Deserialize)]
            struct K {
                key: String,
            }
            assert_eq!(v.get::<K>("custom2").unwrap().key, "value");
        },
    },
    Expect {
        file: "anymail-django-anymail/legacy-clicked-user-variable-name-collisions.multipart",
        kind: PayloadKind::Event,
        event: Some(EventKind::Clicked),
        key: Some(ANYMAIL),
        check: |p| {
            let d = event_data(p);
            assert_eq!(d.recipient.as_deref(), Some("actual-recipient@example.com"));
            assert_eq!(
                d.url.as_deref(),
                Some("http://clicked.example.com/actual/event/param")
            );
            assert_eq!(d.tags, ["actual-tag-1", "actual-tag-2"]);
            let v = &d.user_variables;
            for (name, value) in [
                ("event", "metadata-event"),
                ("recipient", "metadata-recipient"),
                ("token", "metadata-token"),
                ("timestamp", "metadata-timestamp"),
                ("signature", "metadata-signature"),
                ("ordinary field", "ordinary metadata value"),
            ] {
                assert_eq!(v.get_str(name), Some(value), "{name}");
            }
            assert_eq!(v.len(), 6);
            assert_eq!(d.timestamp.unwrap().as_secs(), 1_461_261_330);
            assert_eq!(d.fields.iter().filter(|(n, _)| n == "token").count(), 2);
        },
    },
    Expect {
        file: "anymail-django-anymail/legacy-delivered-minimal-to-inbound-url.multipart",
        kind: PayloadKind::Event,
        event: Some(EventKind::Delivered),
        key: Some(ANYMAIL),
        check: none,
    },
    Expect {
        file: "anymail-django-anymail/legacy-delivered-repeated-x-mailgun-tag.multipart",
        kind: PayloadKind::Event,
        event: Some(EventKind::Delivered),
        key: Some(ANYMAIL),
        check: |p| assert_eq!(event_data(p).tags, ["tag1", "tag2"]),
    },
    Expect {
        file: "anymail-django-anymail/legacy-delivered-x-mailgun-variables.multipart",
        kind: PayloadKind::Event,
        event: Some(EventKind::Delivered),
        key: Some(ANYMAIL),
        check: |p| {
            let v = &event_data(p).user_variables;
            assert_eq!(v.get_str("custom1"), Some("value1"));
            assert_eq!(v.get_str("custom2"), Some("{\"key\":\"value\"}"));
            assert_eq!(v.len(), 2);
        },
    },
    Expect {
        file: "anymail-django-anymail/legacy-delivered.multipart",
        kind: PayloadKind::Event,
        event: Some(EventKind::Delivered),
        key: Some(ANYMAIL),
        check: |p| {
            let e = p.as_event().unwrap();
            assert_eq!(
                e.message_id(),
                Some("20160421175529.19495.89030.B3AE3728@example.com")
            );
            let h = event_data(p)
                .message
                .as_ref()
                .unwrap()
                .headers
                .as_ref()
                .unwrap();
            assert_eq!(h.subject.as_deref(), Some("Webhook testing"));
            assert!(h.all.len() >= 5);
            assert_eq!(
                event_data(p).domain.as_ref().unwrap().name.as_deref(),
                Some("example.com")
            );
            assert!(event_data(p).user_variables.is_empty());
        },
    },
    Expect {
        file: "anymail-django-anymail/legacy-dropped-499-old.multipart",
        kind: PayloadKind::Event,
        event: Some(EventKind::Failed),
        key: Some(ANYMAIL),
        check: |p| {
            let d = event_data(p);
            assert_eq!(
                (d.event.as_deref(), d.reason.as_deref()),
                (Some("dropped"), Some("old"))
            );
            let s = d.delivery_status.as_ref().unwrap();
            assert_eq!(s.code, Some(DeliveryCode::Number(499)));
        },
    },
    Expect {
        file: "anymail-django-anymail/legacy-dropped-605-previously-bounced.multipart",
        kind: PayloadKind::Event,
        event: Some(EventKind::Failed),
        key: Some(ANYMAIL),
        check: |p| {
            let d = event_data(p);
            assert_eq!(d.reason.as_deref(), Some("hardfail"));
            assert_eq!(d.severity, Some(Severity::Permanent));
            let s = d.delivery_status.as_ref().unwrap();
            assert_eq!(s.code, Some(DeliveryCode::Number(605)));
            assert_eq!(
                s.description.as_deref(),
                Some("Not delivering to previously bounced address")
            );
            // attachment-count 1 with no attachment part: accepted for tracking events.
            assert!(d.attachments.is_empty());
            assert!(d.user_variables.is_empty(), "{:?}", d.user_variables);
        },
    },
    Expect {
        file: "anymail-django-anymail/legacy-dropped-607-spam.multipart",
        kind: PayloadKind::Event,
        event: Some(EventKind::Failed),
        key: Some(ANYMAIL),
        check: |p| {
            let s = event_data(p).delivery_status.as_ref().unwrap();
            assert_eq!(s.code, Some(DeliveryCode::Number(607)));
        },
    },
    Expect {
        file: "anymail-django-anymail/legacy-opened-repeated-tag.multipart",
        kind: PayloadKind::Event,
        event: Some(EventKind::Opened),
        key: Some(ANYMAIL),
        check: |p| assert_eq!(event_data(p).tags, ["tag1", "tag2"]),
    },
    Expect {
        file: "anymail-django-anymail/legacy-shaped-inbound-no-event.multipart",
        kind: PayloadKind::Inbound,
        event: None,
        key: Some(ANYMAIL),
        check: none,
    },
    Expect {
        file: "cciw/inbound-raw-mime-dashboard-sample-post.form",
        kind: PayloadKind::Inbound,
        event: None,
        key: None,
        check: |p| {
            let m = inbound(p);
            assert!(m.body_mime.as_deref().unwrap().contains('\n'));
            assert_eq!(m.fields.iter().filter(|(n, _)| n == "Received").count(), 2);
            assert_eq!(m.subject.as_deref(), Some("Re: Sample POST request"));
        },
    },
    Expect {
        file: "cciw/legacy-bounced-dashboard-test-webhook.multipart",
        kind: PayloadKind::Event,
        event: Some(EventKind::Failed),
        key: None,
        check: |p| {
            let d = event_data(p);
            assert_eq!(d.attachments.len(), 1);
            let a = &d.attachments[0];
            assert_eq!(
                (a.field_name(), a.filename(), a.content_type()),
                (
                    "attachment-1",
                    Some("message.mime"),
                    Some("application/octet-stream")
                )
            );
            assert!(a.data().starts_with(b"Received:") || a.data().len() > 1000);
            assert_eq!(
                d.user_variables.get_str("my_var_1"),
                Some("Mailgun Variable #1")
            );
            assert_eq!(d.user_variables.get_str("my-var-2"), Some("awesome"));
            assert!(
                d.fields
                    .iter()
                    .any(|(n, _)| n == "notification" || n == "error")
            );
        },
    },
    Expect {
        file: "learnscripture/legacy-bounced-test-webhook-modified.multipart",
        kind: PayloadKind::Event,
        event: Some(EventKind::Failed),
        key: None,
        check: |p| {
            let d = event_data(p);
            assert_eq!(d.attachments.len(), 1);
            assert_eq!(d.attachments[0].filename(), Some("message.mime"));
            assert_eq!(d.recipient.as_deref(), Some("someone@gmail.com"));
        },
    },
    Expect {
        file: "multi_mail/inbound-parsed-invalid.form",
        kind: PayloadKind::Inbound,
        event: None,
        key: None,
        check: |p| assert!(inbound(p).body_plain.is_none()),
    },
    Expect {
        file: "multi_mail/inbound-parsed-invalid.http.txt",
        kind: PayloadKind::Inbound,
        event: None,
        key: None,
        check: none,
    },
    Expect {
        file: "multi_mail/inbound-parsed-spam.form",
        kind: PayloadKind::Inbound,
        event: None,
        key: None,
        check: |p| assert!(inbound(p).field("X-Mailgun-Sflag").is_some()),
    },
    Expect {
        file: "multi_mail/inbound-parsed-spam.http.txt",
        kind: PayloadKind::Inbound,
        event: None,
        key: None,
        check: none,
    },
    Expect {
        file: "multi_mail/inbound-parsed-valid.http.txt",
        kind: PayloadKind::Inbound,
        event: None,
        key: Some(MULTI_MAIL),
        check: check_multi_mail_valid,
    },
    Expect {
        file: "multi_mail/inbound-parsed-valid.multipart",
        kind: PayloadKind::Inbound,
        event: None,
        key: Some(MULTI_MAIL),
        check: check_multi_mail_valid,
    },
    Expect {
        file: "multi_mail/inbound-raw-mime-invalid.form",
        kind: PayloadKind::Inbound,
        event: None,
        key: None,
        check: none,
    },
    Expect {
        file: "multi_mail/inbound-raw-mime-invalid.http.txt",
        kind: PayloadKind::Inbound,
        event: None,
        key: None,
        check: none,
    },
    Expect {
        file: "multi_mail/inbound-raw-mime-spam.form",
        kind: PayloadKind::Inbound,
        event: None,
        key: None,
        check: |p| assert!(inbound(p).body_mime.is_some()),
    },
    Expect {
        file: "multi_mail/inbound-raw-mime-spam.http.txt",
        kind: PayloadKind::Inbound,
        event: None,
        key: None,
        check: none,
    },
    Expect {
        file: "multi_mail/inbound-raw-mime-valid.form",
        kind: PayloadKind::Inbound,
        event: None,
        key: Some(MULTI_MAIL),
        check: check_multi_mail_raw,
    },
    Expect {
        file: "multi_mail/inbound-raw-mime-valid.http.txt",
        kind: PayloadKind::Inbound,
        event: None,
        key: Some(MULTI_MAIL),
        check: check_multi_mail_raw,
    },
    Expect {
        file: "snowplow-enrich/legacy-clicked-test-webhook-2016.form",
        kind: PayloadKind::Event,
        event: Some(EventKind::Clicked),
        key: None,
        check: |p| {
            let d = event_data(p);
            assert_eq!(d.url.as_deref(), Some("http://mailgun.net"));
            assert_eq!(d.ip.as_deref(), Some("50.56.129.169"));
            assert_eq!(
                d.geolocation.as_ref().unwrap().country.as_deref(),
                Some("US")
            );
            assert_eq!(
                d.client_info.as_ref().unwrap().client_name.as_deref(),
                Some("Chrome")
            );
        },
    },
    Expect {
        file: "snowplow-enrich/legacy-delivered-test-webhook-2016.form",
        kind: PayloadKind::Event,
        event: Some(EventKind::Delivered),
        key: None,
        check: |p| {
            let h = event_data(p)
                .message
                .as_ref()
                .unwrap()
                .headers
                .as_ref()
                .unwrap();
            assert_eq!(h.all.len(), 11);
            let ct = h.all.iter().find(|(n, _)| n == "Content-Type").unwrap();
            assert_eq!(ct.1, "text/plain; charset=ascii");
            let cte = h
                .all
                .iter()
                .find(|(n, _)| n == "Content-Transfer-Encoding")
                .unwrap();
            assert_eq!(cte.1, "7bit");
            assert_eq!(h.to.as_deref(), Some("Ronny <test@snowplowanalytics.com>"));
            assert!(event_data(p).user_variables.is_empty());
        },
    },
    Expect {
        file: "snowplow-enrich/legacy-delivered-test-webhook-2017.form",
        kind: PayloadKind::Event,
        event: Some(EventKind::Delivered),
        key: None,
        check: |p| {
            let v = &event_data(p).user_variables;
            assert_eq!(v.get_str("my_var_1"), Some("Mailgun Variable #1"));
            assert_eq!(v.get_str("my-var-2"), Some("awesome"));
        },
    },
    Expect {
        file: "snowplow-enrich/legacy-opened-test-webhook-2016.form",
        kind: PayloadKind::Event,
        event: Some(EventKind::Opened),
        key: None,
        check: |p| assert!(event_data(p).message.is_none()),
    },
    Expect {
        file: "snowplow-enrich/legacy-unsubscribed-test-webhook-2016.form",
        kind: PayloadKind::Event,
        event: Some(EventKind::Unsubscribed),
        key: None,
        check: |p| assert_eq!(event_data(p).tags, ["*"]),
    },
];

fn check_multi_mail_valid(p: &Payload) {
    let m = inbound(p);
    assert_eq!(m.subject.as_deref(), Some("Test"));
    assert_eq!(m.field("Subject"), Some("Test"));
    assert_eq!(m.fields.iter().filter(|(n, _)| n == "Received").count(), 4);
    let files: Vec<(Option<&str>, usize)> = m
        .attachments
        .iter()
        .map(|a| (a.filename(), a.size()))
        .collect();
    assert_eq!(files, [(Some("foo.txt"), 58), (Some("bar.txt"), 39)]);
    assert!(m.stripped_signature.is_some());
}

fn check_multi_mail_raw(p: &Payload) {
    let m = inbound(p);
    assert!(m.body_mime.as_deref().unwrap().contains("Subject: Test"));
    assert!(m.message_headers.len() > 5);
}

/// A fixture that must not parse, and a test of its error.
type Rejected = (&'static str, fn(&ErrorKind) -> bool);

/// Fixtures that must not parse, with their error.
const REJECTED: &[Rejected] = &[
    ("multi_mail/inbound-parsed-missing.form", |k| {
        *k == ErrorKind::MissingField { field: "signature" }
    }),
    ("multi_mail/inbound-parsed-missing.http.txt", |k| {
        *k == ErrorKind::MissingField { field: "signature" }
    }),
    ("multi_mail/inbound-raw-mime-missing.form", |k| {
        *k == ErrorKind::MissingField { field: "signature" }
    }),
    ("multi_mail/inbound-raw-mime-missing.http.txt", |k| {
        *k == ErrorKind::MissingField { field: "signature" }
    }),
    // Not wire-exact: snowplow stored this capture with LF line endings; Mailgun uses CRLF.
    (
        "snowplow-enrich/legacy-dropped-test-webhook-2017-LF-line-endings.multipart",
        |k| matches!(k, ErrorKind::Malformed { what } if what.contains("bare LF")),
    ),
];

fn assert_safe(s: &str) {
    assert!(!s.is_empty() && s.len() <= 255, "{s:?}");
    assert!(!s.contains(['/', '\\']) && !s.contains(".."), "{s:?}");
    assert!(
        !s.starts_with('.') && !s.chars().any(char::is_control),
        "{s:?}"
    );
}

#[test]
fn every_form_and_multipart_fixture_is_covered() {
    let Some(dir) = fixtures() else { return };
    let mut found = Vec::new();
    for sub in std::fs::read_dir(&dir).unwrap() {
        let sub = sub.unwrap().path();
        if !sub.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&sub).unwrap() {
            let f = f.unwrap().path();
            let name = f.file_name().unwrap().to_str().unwrap().to_owned();
            if [".form", ".multipart", ".http.txt"]
                .iter()
                .any(|e| name.ends_with(e))
            {
                let dir_name = sub.file_name().unwrap().to_str().unwrap();
                found.push(format!("{dir_name}/{name}"));
            }
        }
    }
    found.sort();
    let mut listed: Vec<String> = EXPECTED
        .iter()
        .map(|e| e.file.to_owned())
        .chain(REJECTED.iter().map(|(f, _)| (*f).to_owned()))
        .collect();
    listed.sort();
    assert_eq!(found, listed);
}

#[test]
fn fixtures_parse_to_their_kind_and_event() {
    let Some(dir) = fixtures() else { return };
    for e in EXPECTED {
        let (ct, body) = load(&dir.join(e.file));
        let u =
            both(&ct, &body, &Limits::default()).unwrap_or_else(|err| panic!("{}: {err}", e.file));
        let expected_format = if ct.starts_with("multipart/") {
            Format::Multipart
        } else {
            Format::Form
        };
        assert_eq!(u.format(), expected_format, "{}", e.file);
        let payload = u.payload_unverified();
        assert_eq!(payload.kind(), e.kind, "{}", e.file);
        assert_eq!(payload.as_event().map(Event::kind), e.event, "{}", e.file);
        if let Some(d) = payload.as_event().and_then(Event::data) {
            assert!(!d.fields.is_empty(), "{}", e.file);
            assert!(d.timestamp.is_some(), "{}", e.file);
        }
        (e.check)(payload);
    }
}

#[test]
fn fixtures_with_a_known_key_verify_with_it_and_only_with_it() {
    let Some(dir) = fixtures() else { return };
    let mut verified = 0;
    for e in EXPECTED {
        let (ct, body) = load(&dir.join(e.file));
        let s = parse_ok(&ct, &body).signature().clone();
        if let Some(key) = e.key {
            // The signature is the HMAC of the (last) timestamp and token under this key.
            assert_eq!(
                SigningKey::new(key).sign(s.timestamp(), s.token()),
                s.signature(),
                "{}",
                e.file
            );
            let payload =
                verify(key, parse_ok(&ct, &body)).unwrap_or_else(|err| panic!("{}: {err}", e.file));
            assert_eq!(payload.kind(), e.kind);
            verified += 1;
        }
        for wrong in ["wrong signing key", "key-0p6mqbf74lb20gzq9f4dhpn9rg3zyk26"] {
            let err = verify(wrong, parse_ok(&ct, &body)).unwrap_err();
            let (expected, status) = if s.signature() == "xxx" {
                // multi_mail replaced the signature with `xxx`.
                (ErrorKind::BadSignatureFormat, 400)
            } else {
                (ErrorKind::SignatureMismatch, 401)
            };
            assert_eq!(*err.kind(), expected, "{}", e.file);
            assert_eq!(err.status().as_u16(), status);
        }
    }
    assert_eq!(verified, 23);
}

const COLLISIONS: &str = "legacy-clicked-user-variable-name-collisions.multipart";

/// anymail's collision fixture repeats `timestamp`, `token` and `signature` (a user variable
/// first, Mailgun's value last): it verifies with the last values, and would not with any
/// other combination.
#[test]
fn the_user_variable_collision_fixture_verifies_only_with_the_last_values() {
    let Some(dir) = fixtures() else { return };
    let (ct, body) = load(&dir.join("anymail-django-anymail").join(COLLISIONS));
    let u = parse_ok(&ct, &body);
    let s = u.signature().clone();
    assert_eq!(
        (s.timestamp(), s.token()),
        ("1461261330", "actual-event-token")
    );
    let key = SigningKey::new(ANYMAIL);
    for (ts, token) in [
        ("metadata-timestamp", "metadata-token"),
        ("1461261330", "metadata-token"),
        ("metadata-timestamp", "actual-event-token"),
    ] {
        assert_ne!(key.sign(ts, token), s.signature(), "{ts} {token}");
    }
    let fields = event_data(u.payload_unverified()).fields.clone();
    let first = |name: &str| fields.iter().find(|(n, _)| n == name).unwrap().1.clone();
    assert_eq!(first("signature"), "metadata-signature");
    assert_eq!(first("token"), "metadata-token");
    let payload = verify(ANYMAIL, u).unwrap();
    assert_eq!(
        payload.as_event().map(Event::kind),
        Some(EventKind::Clicked)
    );
    // With the first occurrences as the signed fields, the delivery is refused.
    let swapped = Unverified::new(
        mailgun_webhooks::Signature::new("1461261330", "metadata-token", s.signature()),
        Format::Multipart,
        (),
    );
    let verifier = Verifier::builder(SigningKey::new(ANYMAIL)).build();
    let err = verifier.verify_at(swapped, at(1_461_261_330)).unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::SignatureMismatch);
}

#[test]
fn rejected_fixtures() {
    let Some(dir) = fixtures() else { return };
    for (file, ok) in REJECTED {
        let (ct, body) = load(&dir.join(file));
        let err = both(&ct, &body, &Limits::default()).unwrap_err();
        assert!(ok(err.kind()), "{file}: {err:?}");
        assert_eq!(err.status().as_u16(), 400, "{file}");
    }
}

#[test]
fn fixtures_streamed_in_random_chunks_parse_the_same() {
    let Some(dir) = fixtures() else { return };
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for e in EXPECTED
        .iter()
        .filter(|e| e.file.ends_with(".multipart") || e.file.ends_with(".form"))
    {
        let (ct, body) = load(&dir.join(e.file));
        let whole = describe(&parse_ok(&ct, &body));
        for max in [1, 2, 3, 7, 64, 1000] {
            let chunked = streamed(&ct, &body, &Limits::default(), &mut |_| 1 + rng.below(max))
                .unwrap_or_else(|err| panic!("{} in chunks up to {max}: {err}", e.file));
            assert_eq!(
                describe(&chunked),
                whole,
                "{} in chunks up to {max}",
                e.file
            );
        }
    }
}

// ----- bad inputs: transport (P*) -----

/// A multipart body with the signature fields and `parts` before them.
fn multipart(parts: &str) -> (String, Vec<u8>) {
    let body = format!(
        "{parts}{}{}{}--b--\r\n",
        field("timestamp", "1700000000"),
        field("token", "abcdef"),
        field("signature", &"0".repeat(64))
    );
    (
        "multipart/form-data; boundary=b".to_owned(),
        body.into_bytes(),
    )
}

fn field(name: &str, value: &str) -> String {
    format!("--b\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
}

fn file_part(name: &str, filename: &str, data: &str) -> String {
    format!(
        "--b\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n{data}\r\n"
    )
}

const FORM: &str = "application/x-www-form-urlencoded";
const SIGNED: &str = "timestamp=1700000000&token=abcdef&signature=0000000000000000000000000000000000000000000000000000000000000000";

fn limit(what: Limit, limit: u64) -> (ErrorKind, u16) {
    (ErrorKind::LimitExceeded { what, limit }, 413)
}

fn is_malformed(r: mailgun_webhooks::Result<Unverified<Payload>>) -> String {
    match kind_of(r) {
        (ErrorKind::Malformed { what }, 400) => what.into_owned(),
        other => panic!("expected malformed (400), got {other:?}"),
    }
}

/// A stream of `chunk`-byte chunks produced lazily from `fill`, counting what was pulled.
fn endless(
    prefix: &'static [u8],
    fill: u8,
    chunk: usize,
    pulled: Arc<AtomicU64>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let mut first = true;
    stream::iter(std::iter::from_fn(move || {
        let bytes = if first {
            first = false;
            let mut v = prefix.to_vec();
            v.resize(prefix.len().max(chunk), fill);
            v
        } else {
            vec![fill; chunk]
        };
        pulled.fetch_add(bytes.len() as u64, Ordering::SeqCst);
        Some(Ok(Bytes::from(bytes)))
    }))
}

#[test]
fn p1_streamed_body_over_the_limit_stops_after_one_chunk() {
    let limits = Limits::default().body(100_000);
    for ct in ["multipart/form-data; boundary=b", FORM, "application/json"] {
        let pulled = Arc::new(AtomicU64::new(0));
        let body = endless(
            b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n",
            b'x',
            4096,
            pulled.clone(),
        );
        let r = parse_stream(ct, body, &limits).now_or_never().unwrap();
        assert_eq!(kind_of(r), limit(Limit::Body, 100_000), "{ct}");
        assert!(pulled.load(Ordering::SeqCst) <= 100_000 + 4096, "{ct}");
    }
    // JSON has its own, smaller limit.
    let pulled = Arc::new(AtomicU64::new(0));
    let body = endless(b"{", b' ', 4096, pulled.clone());
    let r = parse_stream("application/json", body, &Limits::default())
        .now_or_never()
        .unwrap();
    assert_eq!(kind_of(r), limit(Limit::JsonBody, 1 << 20));
    assert!(pulled.load(Ordering::SeqCst) <= (1 << 20) + 4096);
    // One byte over, in one chunk.
    let (ct, body) = multipart("");
    let tight = Limits::default().body(body.len() as u64 - 1);
    assert_eq!(
        kind_of(streamed(&ct, &body, &tight, &mut |n| n)),
        limit(Limit::Body, body.len() as u64 - 1)
    );
    assert!(
        streamed(
            &ct,
            &body,
            &tight.clone().body(body.len() as u64),
            &mut |_| 1
        )
        .is_ok()
    );
}

#[test]
fn p2_body_longer_than_declared_is_bounded_by_the_body_limit() {
    // A Content-Length mismatch is the server's to catch; whatever arrives is still bounded.
    let limits = Limits::default().body(10);
    let (ct, body) = multipart("");
    assert_eq!(kind_of(parse(&ct, &body, &limits)), limit(Limit::Body, 10));
    assert_eq!(
        kind_of(parse(FORM, SIGNED.as_bytes(), &limits)),
        limit(Limit::Body, 10)
    );
}

#[test]
fn p4_p5_content_types() {
    for ct in [
        "",
        "text/plain",
        "multipart/mixed; boundary=b",
        "application/xml",
    ] {
        assert_eq!(
            kind_of(parse(ct, SIGNED.as_bytes(), &Limits::default())),
            (ErrorKind::UnsupportedContentType, 415),
            "{ct:?}"
        );
        let s = stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"x"))]);
        let r = parse_stream(ct, s, &Limits::default())
            .now_or_never()
            .unwrap();
        assert_eq!(kind_of(r), (ErrorKind::UnsupportedContentType, 415));
    }
}

#[test]
fn p7_empty_bodies() {
    let missing = (ErrorKind::MissingField { field: "signature" }, 400);
    assert_eq!(kind_of(both(FORM, b"", &Limits::default())), missing);
    // A multipart body needs at least its close delimiter; with only that it is unsigned.
    let ct = "multipart/form-data; boundary=b";
    assert_eq!(kind_of(both(ct, b"--b--\r\n", &Limits::default())), missing);
    is_malformed(both(ct, b"", &Limits::default()));
}

// ----- bad inputs: multipart (M*) -----

#[test]
fn m1_m2_m3_boundary_parameter() {
    let (_, body) = multipart("");
    let long = format!("multipart/form-data; boundary={}", "b".repeat(71));
    for ct in [
        "multipart/form-data",
        "multipart/form-data; charset=utf-8",
        long.as_str(),
        "multipart/form-data; boundary=a\rb",
        "multipart/form-data; boundary=b; boundary=c",
    ] {
        is_malformed(parse(ct, &body, &Limits::default()));
        let s = stream::iter([Ok::<_, std::io::Error>(Bytes::from(body.clone()))]);
        is_malformed(
            parse_stream(ct, s, &Limits::default())
                .now_or_never()
                .unwrap(),
        );
    }
}

#[test]
fn m4_m5_incomplete_bodies() {
    let ct = "multipart/form-data; boundary=b";
    is_malformed(both(
        ct,
        b"garbage only, no boundary at all",
        &Limits::default(),
    ));
    let (_, body) = multipart(&field("a", "1"));
    let cut = &body[..body.len() - "--b--\r\n".len()];
    is_malformed(both(ct, cut, &Limits::default()));
    is_malformed(both(ct, &body[..40], &Limits::default()));
}

#[test]
fn m6_header_block_without_end_stops_at_the_part_header_limit() {
    let mut part = b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\nX-Junk: ".to_vec();
    part.extend(std::iter::repeat_n(b'h', 100 << 10));
    let ct = "multipart/form-data; boundary=b";
    assert_eq!(
        kind_of(both(ct, &part, &Limits::default())),
        limit(Limit::PartHeaders, 8192)
    );
    let pulled = Arc::new(AtomicU64::new(0));
    let s = endless(
        b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\nX: ",
        b'h',
        1024,
        pulled.clone(),
    );
    let r = parse_stream(ct, s, &Limits::default())
        .now_or_never()
        .unwrap();
    assert_eq!(kind_of(r), limit(Limit::PartHeaders, 8192));
    assert!(pulled.load(Ordering::SeqCst) <= 8192 + 1024);
    // A header block at the limit is accepted. The longest here is the `timestamp` part's:
    // CRLF, `Content-Disposition: form-data; name="timestamp"`, CRLF CRLF = 54 bytes.
    let (ct, body) = multipart(&field("a", "1"));
    assert!(both(&ct, &body, &Limits::default().part_headers(54)).is_ok());
    assert_eq!(
        kind_of(both(&ct, &body, &Limits::default().part_headers(53))),
        limit(Limit::PartHeaders, 53)
    );
}

#[test]
fn m7_too_many_headers_in_a_part() {
    let headers: String = (0..33).map(|i| format!("X-H{i}: v\r\n")).collect();
    let part = format!("--b\r\nContent-Disposition: form-data; name=\"a\"\r\n{headers}\r\n1\r\n");
    let (ct, body) = multipart(&part);
    let what = is_malformed(both(&ct, &body, &Limits::default()));
    assert!(what.contains("32"), "{what}");
    let ok: String = (0..31).map(|i| format!("X-H{i}: v\r\n")).collect();
    let part = format!("--b\r\nContent-Disposition: form-data; name=\"a\"\r\n{ok}\r\n1\r\n");
    let (ct, body) = multipart(&part);
    assert!(both(&ct, &body, &Limits::default()).is_ok());
}

#[test]
fn m8_m9_too_many_parts_and_files() {
    let parts: String = (0..1001).map(|i| field(&format!("f{i}"), "1")).collect();
    let (ct, body) = multipart(&parts);
    assert_eq!(
        kind_of(both(&ct, &body, &Limits::default())),
        limit(Limit::Parts, 1000)
    );
    let files: String = (1..=101)
        .map(|i| file_part(&format!("attachment-{i}"), "a.txt", "x"))
        .collect();
    let (ct, body) = multipart(&files);
    assert_eq!(
        kind_of(both(&ct, &body, &Limits::default())),
        limit(Limit::Files, 100)
    );
    let files: String = (1..=100)
        .map(|i| file_part(&format!("attachment-{i}"), "a.txt", "x"))
        .collect();
    let (ct, body) = multipart(&format!("{files}{}", field("attachment-count", "100")));
    let m = both(&ct, &body, &Limits::default())
        .unwrap()
        .into_payload_unverified()
        .into_inbound()
        .unwrap();
    assert_eq!(m.attachments.len(), 100);
}

#[test]
fn m10_m11_value_limits() {
    let big_file = file_part("attachment-1", "a.bin", &"x".repeat((25 << 20) + 1));
    let (ct, body) = multipart(&big_file);
    assert_eq!(
        kind_of(both(&ct, &body, &Limits::default())),
        limit(Limit::File, 25 << 20)
    );
    let mut rng = Rng(7);
    let r = streamed(&ct, &body, &Limits::default(), &mut |_| {
        1 + rng.below(1 << 20)
    });
    assert_eq!(kind_of(r), limit(Limit::File, 25 << 20));

    let big_text = field("body-plain", &"x".repeat((8 << 20) + 1));
    let (ct, body) = multipart(&big_text);
    assert_eq!(
        kind_of(both(&ct, &body, &Limits::default())),
        limit(Limit::TextField, 8 << 20)
    );
    let form = format!("body-plain={}&{SIGNED}", "x".repeat((8 << 20) + 1));
    assert_eq!(
        kind_of(parse(FORM, form.as_bytes(), &Limits::default())),
        limit(Limit::TextField, 8 << 20)
    );

    // body-mime may use the body limit.
    let mime = field("body-mime", &"x".repeat((8 << 20) + 1));
    let (ct, body) = multipart(&mime);
    let m = both(&ct, &body, &Limits::default())
        .unwrap()
        .into_payload_unverified()
        .into_inbound()
        .unwrap();
    assert_eq!(m.body_mime.unwrap().len(), (8 << 20) + 1);
}

#[test]
fn m12_m13_m14_part_names() {
    let (ct, body) = multipart("--b\r\nContent-Type: text/plain\r\n\r\n1\r\n");
    assert!(is_malformed(both(&ct, &body, &Limits::default())).contains("Content-Disposition"));
    let (ct, body) =
        multipart("--b\r\nContent-Disposition: form-data; filename=\"a\"\r\n\r\n1\r\n");
    assert!(is_malformed(both(&ct, &body, &Limits::default())).contains("name"));
    let (ct, body) = multipart(&field(&"n".repeat(257), "1"));
    assert_eq!(
        kind_of(both(&ct, &body, &Limits::default())),
        limit(Limit::FieldName, 256)
    );
    let (ct, body) = multipart(&field(&"n".repeat(256), "1"));
    assert!(both(&ct, &body, &Limits::default()).is_ok());
    let (ct, mut body) = multipart("");
    let mut bad = b"--b\r\nContent-Disposition: form-data; name=\"caf\xe9\"\r\n\r\n1\r\n".to_vec();
    bad.append(&mut body);
    assert!(is_malformed(both(&ct, &bad, &Limits::default())).contains("UTF-8"));
}

#[test]
fn m15_bare_lf_line_endings_are_refused() {
    let (ct, body) = multipart(&field("a", "1"));
    let lf = String::from_utf8(body).unwrap().replace("\r\n", "\n");
    let what = is_malformed(both(&ct, lf.as_bytes(), &Limits::default()));
    assert!(what.contains("CRLF") && what.contains("bare LF"), "{what}");
}

#[test]
fn m16_a_long_preamble_is_bounded() {
    let ct = "multipart/form-data; boundary=b";
    let mut body = vec![b'p'; 40 << 20];
    body.extend_from_slice(&multipart("").1);
    // In memory, the body limit applies first.
    assert_eq!(
        kind_of(parse(ct, &body, &Limits::default())),
        limit(Limit::Body, 32 << 20)
    );
    // Streamed, the preamble may not be longer than the part-header limit.
    let pulled = Arc::new(AtomicU64::new(0));
    let s = endless(b"", b'p', 4096, pulled.clone());
    let r = parse_stream(ct, s, &Limits::default())
        .now_or_never()
        .unwrap();
    assert_eq!(kind_of(r), limit(Limit::PartHeaders, 8192));
    assert!(pulled.load(Ordering::SeqCst) <= 8192 + 4096);
    // A short preamble (and an epilogue) are fine.
    let mut short = b"preamble\r\n".to_vec();
    short.extend_from_slice(&multipart(&field("a", "1")).1);
    short.extend_from_slice(b"epilogue");
    assert!(both(ct, &short, &Limits::default()).is_ok());
}

#[test]
fn m17_any_chunking_parses_the_same() {
    let parts = format!(
        "{}{}{}",
        field("event", "bounced"),
        field("message-headers", r#"[["Subject", "x"]]"#),
        // Near-delimiters (but no CRLF--b) inside the data.
        file_part(
            "attachment-1",
            "message.mime",
            &"line\r\n-- b\r\n--c --b\r\r\n-".repeat(50)
        )
    );
    let (ct, body) = multipart(&parts);
    let whole = describe(&parse_ok(&ct, &body));
    let mut rng = Rng(42);
    for max in 1..=40 {
        for _ in 0..3 {
            let chunked =
                streamed(&ct, &body, &Limits::default(), &mut |_| 1 + rng.below(max)).unwrap();
            assert_eq!(describe(&chunked), whole, "max chunk {max}");
        }
    }
}

#[test]
fn m18_m19_attachment_count() {
    let files = format!(
        "{}{}",
        file_part("attachment-1", "a", "1"),
        file_part("attachment-2", "b", "2")
    );
    // A mismatch is reported on the message, not refused (issue 11).
    let mismatch = |count: &str| {
        let (ct, body) = multipart(&format!("{files}{}", field("attachment-count", count)));
        both(&ct, &body, &Limits::default())
            .unwrap()
            .into_payload_unverified()
            .into_inbound()
            .unwrap()
            .attachment_count_mismatch()
            .map(|m| (m.declared, m.received))
    };
    assert_eq!(mismatch("3"), Some((Some(3), 2)));
    assert_eq!(mismatch("99999999999999999999"), Some((None, 2)));
    assert_eq!(mismatch("2"), None);
    let (ct, body) = multipart(&format!("{files}{}", field("attachment-count", "2")));
    assert!(both(&ct, &body, &Limits::default()).is_ok());
    // Not checked on tracking events (anymail's 605 drop has a count and no part).
    let (ct, body) = multipart(&format!(
        "{}{}",
        field("event", "dropped"),
        field("attachment-count", "1")
    ));
    assert!(both(&ct, &body, &Limits::default()).is_ok());
}

#[test]
fn m20_duplicate_content_disposition_last_wins() {
    let part = "--b\r\nContent-Disposition: form-data; name=\"first\"\r\n\
                Content-Disposition: form-data; name=\"second\"\r\n\r\nv\r\n";
    let (ct, body) = multipart(part);
    let m = both(&ct, &body, &Limits::default())
        .unwrap()
        .into_payload_unverified()
        .into_inbound()
        .unwrap();
    assert_eq!(m.field("second"), Some("v"));
    assert_eq!(m.field("first"), None);
}

#[test]
fn m21_n6_attachment_parts_without_a_plain_filename_are_files() {
    let part = "--b\r\nContent-Disposition: form-data; name=\"attachment-1\"; \
                filename*=UTF-8''a.pdf; filename=\"a.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\n\
                --b\r\nContent-Disposition: form-data; name=\"attachment-2\"\r\n\r\nraw\r\n";
    let (ct, body) = multipart(part);
    let m = both(&ct, &body, &Limits::default())
        .unwrap()
        .into_payload_unverified()
        .into_inbound()
        .unwrap();
    assert_eq!(m.attachments.len(), 2);
    assert_eq!(m.attachments[0].filename(), Some("a.pdf"));
    assert_eq!(m.attachments[0].data(), b"%PDF");
    let n6 = &m.attachments[1];
    assert_eq!(
        (n6.field_name(), n6.filename(), n6.content_type()),
        ("attachment-2", None, None)
    );
    assert_eq!(n6.safe_filename(), "attachment-2");
    assert_eq!(n6.data(), b"raw");
    assert!(m.fields.iter().all(|(n, _)| !n.starts_with("attachment-")));
}

// ----- bad inputs: forms (F*) -----

fn form_verify(body: &str) -> mailgun_webhooks::Result<Payload> {
    let u = parse(FORM, body.as_bytes(), &Limits::default())?;
    Verifier::builder(SigningKey::new("k"))
        .build()
        .verify_at(u, at(1_700_000_000))
        .map(|v| v.into_payload())
}

#[test]
fn f1_a_repeated_token_takes_the_last_value() {
    let key = SigningKey::new("k");
    let sig = key.sign("1700000000", "b");
    let body = format!("token=a&timestamp=1700000000&token=b&signature={sig}");
    let u = parse(FORM, body.as_bytes(), &Limits::default()).unwrap();
    assert_eq!(u.signature().token(), "b");
    assert!(form_verify(&body).is_ok());
    let first = format!("token=b&timestamp=1700000000&token=a&signature={sig}");
    assert_eq!(
        *form_verify(&first).unwrap_err().kind(),
        ErrorKind::SignatureMismatch
    );
}

#[test]
fn f2_f3_security_fields_decode_strictly() {
    let e = parse(
        FORM,
        b"timestamp=1700000000&token=ab%ZZ&signature=00",
        &Limits::default(),
    )
    .unwrap_err();
    assert_eq!(e.status().as_u16(), 400);
    assert_eq!(
        e.to_string(),
        "malformed body: invalid percent-encoding in field `token`"
    );
    let e = parse(
        FORM,
        b"timestamp=%FF1&token=ab&signature=00",
        &Limits::default(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "malformed body: field `timestamp` is not valid UTF-8"
    );
    assert!(!e.to_string().contains("FF"));
    // Other fields decode leniently.
    let u = parse(
        FORM,
        format!("note=%ZZ%FF&{SIGNED}").as_bytes(),
        &Limits::default(),
    )
    .unwrap();
    let m = u.into_payload_unverified().into_inbound().unwrap();
    assert_eq!(m.field("note"), Some("%ZZ\u{FFFD}"));
}

#[test]
fn f4_too_many_pairs() {
    let pairs: String = (0..1001).map(|i| format!("a{i}=1&")).collect();
    assert_eq!(
        kind_of(parse(FORM, pairs.as_bytes(), &Limits::default())),
        limit(Limit::Parts, 1000)
    );
    let pairs: String = (0..997).map(|i| format!("a{i}=1&")).collect();
    assert!(
        parse(
            FORM,
            format!("{pairs}{SIGNED}").as_bytes(),
            &Limits::default()
        )
        .is_ok()
    );
}

#[test]
fn f5_a_key_without_value_is_an_empty_field() {
    let e = form_verify(&format!(
        "token&timestamp=1700000000&signature={}",
        "0".repeat(64)
    ))
    .unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::MissingField { field: "token" });
    assert_eq!(e.status().as_u16(), 400);
}

#[test]
fn f6_spaces_in_the_token() {
    for token in ["a+b", "a%20b"] {
        let e = form_verify(&format!(
            "token={token}&timestamp=1700000000&signature={}",
            "0".repeat(64)
        ))
        .unwrap_err();
        assert_eq!(
            (e.kind().clone(), e.status().as_u16()),
            (ErrorKind::BadToken, 400),
            "{token}"
        );
    }
}

// ----- filenames and Unicode (N*) -----

fn one_file(disposition: &str, limits: &Limits) -> mailgun_webhooks::Attachment {
    let part = format!(
        "--b\r\nContent-Disposition: form-data; name=\"attachment-1\"; {disposition}\r\n\r\ndata\r\n"
    );
    let (ct, body) = multipart(&part);
    let mut m = both(&ct, &body, limits)
        .unwrap()
        .into_payload_unverified()
        .into_inbound()
        .unwrap();
    assert_eq!(m.attachments.len(), 1);
    m.attachments.remove(0)
}

#[test]
fn n1_to_n5_filenames_are_kept_raw_and_sanitised() {
    let l = Limits::default();
    for (raw, safe) in [
        ("../../etc/passwd", "etc_passwd"),
        ("..\\\\..\\\\win.ini", "win.ini"),
        ("C:\\\\x", "C_x"),
        ("c:/x", "c_x"),
        ("\\\\\\\\server\\\\share", "server_share"),
        ("CON", "_CON"),
        ("nul.txt", "_nul.txt"),
        ("COM1", "_COM1"),
        (".", "attachment-1"),
        ("..", "attachment-1"),
        ("", "attachment-1"),
    ] {
        let a = one_file(&format!("filename=\"{raw}\""), &l);
        let unescaped = raw.replace("\\\\", "\\");
        assert_eq!(a.filename(), Some(unescaped.as_str()));
        assert_eq!(a.safe_filename(), safe, "{raw}");
        assert_safe(&a.safe_filename());
    }
    // N4: control, bidi and slash look-alikes, sent percent-encoded in `filename*`.
    let a = one_file(
        "filename*=UTF-8''a%00b%0D%0Ac%E2%80%AEd%EF%BC%8Fe%E2%88%95f.txt",
        &l,
    );
    assert_eq!(
        a.filename(),
        Some("a\0b\r\nc\u{202E}d\u{FF0F}e\u{2215}f.txt")
    );
    assert_eq!(a.safe_filename(), "abcd_e_f.txt");
    assert_safe(&a.safe_filename());
    // N5: a 10 KiB name (the part-header limit raised to let it through).
    let long = "n".repeat(10 << 10);
    let a = one_file(
        &format!("filename=\"{long}.txt\""),
        &l.clone().part_headers(64 << 10),
    );
    assert_eq!(a.filename().map(str::len), Some((10 << 10) + 4));
    assert_safe(&a.safe_filename());
    assert_eq!(
        kind_of(parse(
            "multipart/form-data; boundary=b",
            &multipart(&format!(
                "--b\r\nContent-Disposition: form-data; name=\"attachment-1\"; filename=\"{long}\"\r\n\r\nx\r\n"
            ))
            .1,
            &l
        )),
        limit(Limit::PartHeaders, 8192)
    );
}

#[test]
fn unicode_field_values_round_trip() {
    let value = "caf\u{e9} \u{1F600} \u{202E}";
    let (ct, body) = multipart(&field("subject", value));
    let m = both(&ct, &body, &Limits::default())
        .unwrap()
        .into_payload_unverified()
        .into_inbound()
        .unwrap();
    assert_eq!(m.subject.as_deref(), Some(value));
    // Invalid UTF-8 in an ordinary value is decoded lossily, not refused.
    let (ct, mut body) = multipart("");
    let mut bad =
        b"--b\r\nContent-Disposition: form-data; name=\"subject\"\r\n\r\n\xff\xfe\r\n".to_vec();
    bad.append(&mut body);
    let m = both(&ct, &bad, &Limits::default())
        .unwrap()
        .into_payload_unverified()
        .into_inbound()
        .unwrap();
    assert_eq!(m.subject.as_deref(), Some("\u{FFFD}\u{FFFD}"));
    // ...but not in a signature field.
    let (ct, body) = multipart("");
    let at = body.windows(6).position(|w| w == b"abcdef").unwrap();
    let mut bad = body.clone();
    bad[at + 3] = 0xff;
    assert!(
        is_malformed(both(&ct, &bad, &Limits::default())).contains("`token` is not valid UTF-8")
    );
}

// ----- misconfiguration -----

#[test]
fn payloads_at_the_wrong_endpoint_are_clear_errors() {
    let event = parse(
        FORM,
        format!("event=delivered&{SIGNED}").as_bytes(),
        &Limits::default(),
    )
    .unwrap();
    let e = event.into_payload_unverified().into_inbound().unwrap_err();
    assert_eq!(
        (e.kind().clone(), e.status().as_u16()),
        (
            ErrorKind::WrongEndpoint {
                expected: PayloadKind::Inbound,
                found: PayloadKind::Event
            },
            400
        )
    );
    let inbound = parse(
        FORM,
        format!("recipient=a&sender=b&{SIGNED}").as_bytes(),
        &Limits::default(),
    )
    .unwrap();
    let e = inbound.into_payload_unverified().into_event().unwrap_err();
    assert_eq!(
        *e.kind(),
        ErrorKind::WrongEndpoint {
            expected: PayloadKind::Event,
            found: PayloadKind::Inbound
        }
    );
    let stored = parse(
        FORM,
        format!("message-url=https%3A%2F%2Fse.api.mailgun.net%2Fv3%2Fm&{SIGNED}").as_bytes(),
        &Limits::default(),
    )
    .unwrap();
    let s = stored.into_payload_unverified().into_stored().unwrap();
    assert_eq!(
        s.message_url.as_deref(),
        Some("https://se.api.mailgun.net/v3/m")
    );
}

#[test]
fn headers_the_email_sender_controls_do_not_reclassify_a_route_post() {
    // Mailgun posts every MIME header of the email as a field: an `event` or `message-url`
    // header must not turn a forward() post into a tracking event or a store notification.
    let body = format!(
        "recipient=support%40mg.example.com&sender=bob%40example.net&event=delivered\
         &message-url=https%3A%2F%2Fevil.example%2Fsteal&{SIGNED}"
    );
    let u = parse(FORM, body.as_bytes(), &Limits::default()).unwrap();
    let m = u.into_payload_unverified().into_inbound().unwrap();
    assert_eq!(m.field("event"), Some("delivered"));
    assert_eq!(m.field("message-url"), Some("https://evil.example/steal"));
}

#[test]
fn errors_never_quote_the_body() {
    let secret = "SECRET-BODY-BYTES";
    let cases: Vec<(String, Vec<u8>)> = vec![
        (
            FORM.to_owned(),
            format!("token={secret}%ZZ&timestamp=1&signature=2").into_bytes(),
        ),
        multipart(&format!(
            "--b\r\nContent-Disposition: form-data; name=\"{secret}\"\r\n{secret}\r\n\r\nx\r\n"
        )),
        multipart(&format!(
            "--b\r\nContent-Disposition: form-data; name=\"{secret}\"\r\nX: \x01{secret}\r\n\r\nx\r\n"
        )),
        (
            "multipart/form-data; boundary=b".to_owned(),
            format!("--b\r\n{secret}").into_bytes(),
        ),
    ];
    for (ct, body) in cases {
        let e = parse(&ct, &body, &Limits::default()).unwrap_err();
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains(secret), "{shown}");
    }
}

#[test]
fn parse_stream_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let s = stream::iter([Ok::<_, std::io::Error>(Bytes::new())]);
    let limits = Limits::default();
    let fut = parse_stream("multipart/form-data; boundary=b", s, &limits);
    assert_send(&fut);
}

#[test]
fn stream_errors_are_reported_with_their_source() {
    let chunks = [
        Ok(Bytes::from_static(b"--b\r\n")),
        Err(std::io::Error::other("connection reset")),
    ];
    for ct in ["multipart/form-data; boundary=b", FORM] {
        let e = parse_stream(
            ct,
            stream::iter(chunks.iter().map(|c| match c {
                Ok(b) => Ok(b.clone()),
                Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
            })),
            &Limits::default(),
        )
        .now_or_never()
        .unwrap()
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "malformed body: reading the request body failed"
        );
        let source = std::error::Error::source(&e).unwrap().to_string();
        assert_eq!(source, "connection reset");
    }
}

/// Found by the `parse_stream` fuzz target: a body with two faults (a field name that is not
/// UTF-8, then a header block over its limit) is refused in memory and streamed alike; which
/// fault is named may differ, because the streamed framing guard reads ahead of the parser.
#[test]
fn two_faults_are_refused_in_memory_and_streamed() {
    let mut body = b"--b\r\nContent-Disposition: form-data; name=\xff\xff1\r\n\r\nx\r\n".to_vec();
    body.extend_from_slice(b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\nX: ");
    body.extend_from_slice(&[b'h'; 2000]);
    body.extend_from_slice(b"\r\n\r\n1\r\n--b--\r\n");
    let ct = "multipart/form-data; boundary=b";
    let limits = Limits::default().part_headers(1024);
    assert!(parse(ct, &body, &limits).is_err());
    for size in [1, 7, 64, 4096, body.len()] {
        assert!(
            streamed(ct, &body, &limits, &mut |_| size).is_err(),
            "{size}"
        );
    }
}
