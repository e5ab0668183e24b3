//! Rejecting a forged body vs verify + typed parse of the same body, per encoding, measured in
//! the same run (PERF.md). Run with `cargo bench --bench forged_rejection`.
//!
//! Target: ≤ 0.3×. A forged body costs the envelope pass (the signed fields found, nothing in
//! the payload decoded) and one HMAC; a valid one also the typed parse. The functions take
//! turns in short rounds (medians of the rounds), so machine load affects them alike.
//!
//! The bodies are the bundled samples (`examples/payloads`), signed with the demo key; the
//! forged twin differs only in its `signature`. Also measured: the worst shape (a
//! legacy form whose `X-Mailgun-Variables` fields are nested arrays), where the typed parse
//! stops at the node budget.

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mailgun_webhooks::{Clock, ErrorKind, SigningKey, Verifier};

#[path = "support/mod.rs"]
mod support;

use support::{interleaved, row};

const KEY: &str = "demo-webhook-signing-key";
const NOW: u64 = 1_767_225_600;

#[derive(Debug)]
struct Fixed;

impl Clock for Fixed {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW)
    }
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/examples/payloads/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// The JSON samples compacted, as Mailgun sends them.
fn compact(body: Vec<u8>) -> Vec<u8> {
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    serde_json::to_vec(&v).unwrap()
}

/// The same body with its signature replaced by 64 zeros.
fn forge(body: &[u8], signature: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(body).into_owned();
    assert!(text.contains(signature), "the sample carries its signature");
    text.replace(signature, &"0".repeat(64)).into_bytes()
}

fn content_type(body: &[u8]) -> String {
    if body.starts_with(b"{") {
        "application/json".to_owned()
    } else if let Some(rest) = body.strip_prefix(b"--") {
        let end = rest.iter().position(|&c| c == b'\r').unwrap();
        format!(
            "multipart/form-data; boundary={}",
            String::from_utf8_lossy(&rest[..end])
        )
    } else {
        "application/x-www-form-urlencoded".to_owned()
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--test" || a == "--list");
    let verifier = Verifier::builder(SigningKey::new(KEY)).clock(Fixed).build();
    let mut cases: Vec<(String, String, Vec<u8>, Vec<u8>)> = Vec::new();
    for (label, file) in [
        ("JSON delivered", "delivered.json"),
        ("JSON clicked", "clicked.json"),
        ("legacy urlencoded delivered", "legacy-delivered.form"),
        (
            "legacy multipart bounced (message.mime)",
            "legacy-bounced.multipart",
        ),
        ("route urlencoded, raw MIME", "route-raw-mime.form"),
        ("route multipart forward", "route-forward.multipart"),
    ] {
        let mut body = read(file);
        if file.ends_with(".json") {
            body = compact(body);
        }
        let ct = content_type(&body);
        let raw = mailgun_webhooks::scan(&ct, &body, verifier.limits()).unwrap();
        let signature = raw.signature().signature().to_owned();
        let forged = forge(&body, &signature);
        cases.push((label.to_owned(), ct, body, forged));
    }
    // The worst shape, at 1 MiB: X-Mailgun-Variables of 16-deep nested arrays.
    let nested = format!("{}0{}", "[".repeat(16), "]".repeat(16));
    let vars = format!("[{}]", vec![nested; 1000].join(","));
    let mut worst = String::from("event=delivered&recipient=a%40example.com");
    while worst.len() < 1 << 20 {
        worst.push_str("&X-Mailgun-Variables=");
        worst.push_str(&vars);
    }
    let ts = NOW.to_string();
    let token = "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0";
    let sig = SigningKey::new(KEY).sign(&ts, token);
    let signed = format!("{worst}&timestamp={ts}&token={token}&signature={sig}").into_bytes();
    let forged = forge(&signed, &sig);
    cases.push((
        "worst shape: 1 MiB form of nested X-Mailgun-Variables".to_owned(),
        "application/x-www-form-urlencoded".to_owned(),
        signed,
        forged,
    ));

    println!("\nforged rejection vs verify + typed parse (interleaved medians, same run):");
    for (label, ct, body, forged) in &cases {
        // Sanity: the forged twin fails on the signature, the valid one gets through it.
        let e = verifier.parse_and_verify(ct, forged).unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::SignatureMismatch, "{label}");
        let valid = verifier.parse_and_verify(ct, body);
        assert!(
            valid.as_ref().map_or_else(|e| e.is_limit(), |_| true),
            "{label}: {valid:?}"
        );
        let (rounds, per_round) = if quick {
            (1, 1)
        } else if body.len() > 100_000 {
            (31, 5)
        } else {
            (101, 200)
        };
        let t = interleaved(
            &mut [
                &mut || drop(black_box(verifier.parse_and_verify(ct, black_box(forged)))),
                &mut || drop(black_box(verifier.parse_and_verify(ct, black_box(body)))),
            ],
            rounds,
            per_round,
        );
        row(
            &format!("{label} ({} B): forged / valid (target <= 0.3)", body.len()),
            t[0],
            t[1],
            0.3,
        );
    }
}
