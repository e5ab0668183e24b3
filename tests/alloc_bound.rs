//! Memory is bounded by the body, for every shape: with a counting global allocator, parse
//! each amplification shape at the largest size the default `Limits` allow, forged and validly
//! signed, in memory and streamed, and check that peak heap growth stays within twice the body
//! plus 1 MiB.
//!
//! This is a count, not a timing. The allocator counts every thread, so the shapes run one at
//! a time under a lock.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::stream;
use mailgun_webhooks::testing::FormBody;
use mailgun_webhooks::{Limits, SigningKey, Verifier, parse_stream, scan};
use peak_alloc::{PeakAlloc, peak_growth};

#[global_allocator]
static ALLOC: PeakAlloc = PeakAlloc;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const MIB: usize = 1 << 20;

fn key() -> SigningKey {
    SigningKey::new("alloc-bound-key")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef01";

/// The signature fields as urlencoded pairs: signed with the key, or garbage.
fn sig_pairs(valid: bool) -> String {
    let ts = now().to_string();
    let sig = if valid {
        key().sign(&ts, TOKEN)
    } else {
        "0".repeat(64)
    };
    format!("timestamp={ts}&token={TOKEN}&signature={sig}")
}

/// A urlencoded body of `fields` written raw (JSON values need no escaping here), filled up
/// to about `size` bytes by repeating the last field, within the part limit.
fn urlencoded(head: &[(&str, &str)], repeat: (&str, &str), size: usize, valid: bool) -> Bytes {
    let mut body = String::with_capacity(size + 1024);
    for (n, v) in head {
        body.push_str(n);
        body.push('=');
        body.push_str(v);
        body.push('&');
    }
    let sig = sig_pairs(valid);
    let mut count = head.len() + 3;
    while body.len() + repeat.0.len() + repeat.1.len() + 2 + sig.len() < size && count < 1000 {
        body.push_str(repeat.0);
        body.push('=');
        body.push_str(repeat.1);
        body.push('&');
        count += 1;
    }
    body.push_str(&sig);
    Bytes::from(body)
}

/// A JSON text of about `size` bytes: `unit` repeated in a list.
fn json_list(unit: &str, size: usize) -> String {
    let n = (size / (unit.len() + 1)).max(1);
    let mut s = String::with_capacity(size + 2);
    s.push('[');
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        s.push_str(unit);
    }
    s.push(']');
    s
}

fn nested(depth: usize) -> String {
    format!("{}0{}", "[".repeat(depth), "]".repeat(depth))
}

fn multipart(form: FormBody, valid: bool) -> (String, Bytes) {
    let form = if valid {
        form.sign(&key(), now(), TOKEN)
    } else {
        form.field("timestamp", now().to_string())
            .field("token", TOKEN)
            .field("signature", "0".repeat(64))
    };
    let b = form.multipart();
    (b.content_type, Bytes::from(b.body))
}

struct Shape {
    name: &'static str,
    content_type: String,
    body: Bytes,
}

const FORM: &str = "application/x-www-form-urlencoded";

fn shapes(valid: bool) -> Vec<Shape> {
    let limits = Limits::default();
    let body_max = limits.max_body() as usize - 4096;
    let field_max = limits.max_text_field() as usize - 64;
    let json_max = limits.max_json_body() as usize - 512;
    let mut out = Vec::new();
    let mut push = |name, content_type: &str, body: Bytes| {
        out.push(Shape {
            name,
            content_type: content_type.to_owned(),
            body,
        })
    };

    // The issue's worst shape: repeated X-Mailgun-Variables of 16-deep nested arrays.
    let deep_vars = json_list(&nested(16), 32 * 1024);
    push(
        "legacy form, X-Mailgun-Variables of 16-deep arrays",
        FORM,
        urlencoded(
            &[("event", "delivered")],
            ("X-Mailgun-Variables", &deep_vars),
            body_max,
            valid,
        ),
    );
    // Flat arrays.
    let flat = json_list("0", 32 * 1024);
    push(
        "legacy form, X-Mailgun-Variables of flat arrays",
        FORM,
        urlencoded(
            &[("event", "delivered")],
            ("X-Mailgun-Variables", &flat),
            body_max,
            valid,
        ),
    );
    // Objects: the most expensive node.
    let objects = json_list(r#"{"a":{"b":0}}"#, 32 * 1024);
    push(
        "legacy form, X-Mailgun-Variables of objects",
        FORM,
        urlencoded(
            &[("event", "delivered")],
            ("X-Mailgun-Variables", &objects),
            body_max,
            valid,
        ),
    );
    // message-headers as JSON in every field that holds JSON, on a legacy event.
    let pairs = json_list(r#"["X-H","v"]"#, 32 * 1024);
    push(
        "legacy form, message-headers",
        FORM,
        urlencoded(
            &[("event", "opened")],
            ("message-headers", &pairs),
            body_max,
            valid,
        ),
    );
    // Route posts: message-headers and content-id-map, and a store notification's list.
    let cid = format!(
        "{{{}}}",
        vec![r#""<a>":"attachment-1""#; 32 * 1024 / 20].join(",")
    );
    push(
        "route post, message-headers and content-id-map",
        FORM,
        urlencoded(
            &[
                ("sender", "a@example.com"),
                ("message-headers", &pairs),
                ("content-id-map", &cid),
            ],
            ("Received", &"r".repeat(32 * 1024)),
            body_max,
            valid,
        ),
    );
    let stored = json_list(r#"{"url":"https://x.mailgun.net/a","size":1}"#, 32 * 1024);
    push(
        "store notification, attachments lists",
        FORM,
        urlencoded(
            &[(
                "message-url",
                "https://storage.api.mailgun.net/v3/domains/d/messages/m",
            )],
            ("attachments", &stored),
            body_max,
            valid,
        ),
    );
    // Many tiny fields; few huge ones.
    push(
        "legacy form, 1,000 tiny custom fields",
        FORM,
        urlencoded(&[("event", "clicked")], ("v", "1"), body_max, valid),
    );
    let huge = "x".repeat(field_max);
    push(
        "legacy form, custom fields at the text-field limit",
        FORM,
        urlencoded(&[("event", "clicked")], ("custom", &huge), body_max, valid),
    );
    push(
        "route post, text fields at the text-field limit",
        FORM,
        urlencoded(
            &[("sender", "s@example.com")],
            ("b", &huge),
            body_max,
            valid,
        ),
    );
    // JSON at the JSON body limit: deep and flat user variables, an unknown event kept whole.
    for (name, event, vars) in [
        (
            "JSON, user-variables of nested arrays",
            "delivered",
            json_list(&nested(16), json_max),
        ),
        (
            "JSON, unknown event with flat arrays",
            "exploded",
            json_list("0", json_max),
        ),
        (
            "JSON, unknown event with objects",
            "exploded",
            json_list(r#"{"a":0}"#, json_max),
        ),
        (
            "JSON, unknown event with one long string",
            "exploded",
            format!("\"{}\"", "s".repeat(json_max - 200)),
        ),
        (
            "JSON, delivered with tags",
            "delivered",
            json_list("\"t\"", json_max),
        ),
    ] {
        let ts = now().to_string();
        let sig = if valid {
            key().sign(&ts, TOKEN)
        } else {
            "0".repeat(64)
        };
        let field = if name.contains("tags") {
            "tags"
        } else {
            "user-variables"
        };
        let body = format!(
            r#"{{"signature":{{"timestamp":"{ts}","token":"{TOKEN}","signature":"{sig}"}},"event-data":{{"event":"{event}","{field}":{vars}}}}}"#
        );
        push(name, "application/json", Bytes::from(body));
    }
    // Multipart: many parts with long header lines; a legacy event with text fields; files.
    let mut form = FormBody::new().field("event", "delivered");
    for i in 0..990 {
        form = form.field(format!("X-Long-{i}-{}", "h".repeat(200)), "v");
    }
    let (ct, body) = multipart(form, valid);
    push("multipart, 1,000 parts with long names", &ct, body);
    let mut form = FormBody::new().field("event", "delivered");
    let vars = json_list(&nested(16), 32 * 1024);
    for _ in 0..((body_max / vars.len()).min(990)) {
        form = form.field("X-Mailgun-Variables", vars.clone());
    }
    let (ct, body) = multipart(form, valid);
    push("multipart legacy event, X-Mailgun-Variables", &ct, body);
    let mut form = FormBody::new().field("event", "delivered");
    for _ in 0..((body_max / field_max).min(990)) {
        form = form.field("custom", huge.clone());
    }
    let (ct, body) = multipart(form, valid);
    push(
        "multipart legacy event, text fields at their limit",
        &ct,
        body,
    );
    let mut form = FormBody::new()
        .field("sender", "s@example.com")
        .field("attachment-count", "100");
    for i in 1..=100 {
        form = form.file(
            format!("attachment-{i}"),
            format!("f{i}.bin"),
            "application/octet-stream",
            vec![b'a'; body_max / 101],
        );
    }
    let (ct, body) = multipart(form, valid);
    push("multipart route post, 100 files", &ct, body);
    let form = FormBody::new()
        .field("sender", "s@example.com")
        .field(
            "body-plain",
            "x".repeat(body_max - limits.max_file() as usize - 8192),
        )
        .file(
            "attachment-1",
            "big.bin",
            "application/octet-stream",
            vec![b'a'; limits.max_file() as usize - 1],
        );
    let (ct, body) = multipart(form, valid);
    push(
        "multipart route post, one file at the file limit",
        &ct,
        body,
    );
    out
}

fn chunks(body: &Bytes) -> Vec<Result<Bytes, std::io::Error>> {
    (0..body.len())
        .step_by(64 * 1024)
        .map(|i| Ok(body.slice(i..(i + 64 * 1024).min(body.len()))))
        .collect()
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

fn check(valid: bool) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let verifier = Verifier::new(key());
    let mut failures = Vec::new();
    for shape in shapes(valid) {
        let bound = 2 * shape.body.len() + MIB;
        let label = format!(
            "{} ({}, {} MiB)",
            shape.name,
            if valid { "signed" } else { "forged" },
            shape.body.len() / MIB
        );
        let ct = shape.content_type.as_str();
        let (grew, r) = peak_growth(|| {
            verifier
                .parse_and_verify(ct, &shape.body)
                .map(|v| drop(v.into_payload()))
        });
        let outcome = |r: &Result<(), mailgun_webhooks::Error>| match r {
            Ok(()) => "ok".to_owned(),
            Err(e) => e.name().to_owned(),
        };
        if !valid {
            assert_eq!(outcome(&r), "signature_mismatch", "{label}");
        }
        let mut rows = vec![("in memory", grew, outcome(&r))];
        let pieces = chunks(&shape.body);
        let (grew, r) = peak_growth(|| {
            block_on(verifier.parse_stream_and_verify(ct, stream::iter(pieces)))
                .map(|v| drop(v.into_payload()))
        });
        rows.push(("streamed", grew, outcome(&r)));
        // The adapters' path today: parse_stream (typed parse before verification), then
        // verify. Bounded too, by the node budget.
        let pieces = chunks(&shape.body);
        let (grew, r) = peak_growth(|| {
            block_on(parse_stream(ct, stream::iter(pieces), verifier.limits()))
                .and_then(|u| verifier.verify(u))
                .map(|v| drop(v.into_payload()))
        });
        rows.push(("parse_stream then verify", grew, outcome(&r)));
        let (grew, r) = peak_growth(|| {
            scan(ct, &shape.body, verifier.limits())
                .and_then(|u| verifier.verify(u))
                .and_then(|v| v.parse())
                .map(|v| drop(v.into_payload()))
        });
        rows.push(("scan, verify, parse", grew, outcome(&r)));
        for (path, grew, outcome) in rows {
            println!(
                "{label:<80} {path:<26} {:>8.2} MiB ({:.2}x body) {outcome}",
                grew as f64 / MIB as f64,
                grew as f64 / shape.body.len() as f64
            );
            if grew > bound {
                failures.push(format!(
                    "{label} {path}: grew {grew} > bound {bound} ({outcome})"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn forged_bodies_stay_within_twice_the_body_plus_1_mib() {
    check(false);
}

#[test]
fn signed_bodies_stay_within_twice_the_body_plus_1_mib() {
    check(true);
}
