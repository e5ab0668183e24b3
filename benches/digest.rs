//! The payload digest of a delivered JSON body (issue 14): `PayloadDigest::compute_bytes` beside
//! two same-run baselines on the same body, plain SHA-256 of the body and
//! `serde_json::from_slice::<serde_json::Value>` of it, interleaved, medians of several rounds.
//!
//! `cargo bench --bench digest`. `MGW_DIGEST_ONLY=N` computes the digest N times and prints
//! nothing else, for an instruction count:
//! `valgrind --tool=callgrind target/release/deps/digest-* ` with that variable set.
// Tests and benches fail by panicking: unwrap, expect and panic are how they report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/mod.rs"]
mod support;

use std::hint::black_box;

use bytes::Bytes;
use mailgun_webhooks::{Limits, PayloadDigest};
use sha2::{Digest as _, Sha256};

const JSON: &str = "application/json";

fn main() {
    let body = Bytes::from(
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/payloads/delivered.json"
        ))
        .unwrap(),
    );
    let limits = Limits::default();
    let digest = || PayloadDigest::compute_bytes(JSON, body.clone(), &limits).unwrap();

    if let Some(n) = std::env::var("MGW_DIGEST_ONLY")
        .ok()
        .and_then(|n| n.parse::<u32>().ok())
    {
        for _ in 0..n {
            black_box(digest());
        }
        return;
    }

    let mut d = || {
        black_box(digest());
    };
    let mut sha = || {
        black_box(Sha256::digest(black_box(&body[..])));
    };
    let mut value = || {
        black_box(serde_json::from_slice::<serde_json::Value>(black_box(&body[..])).unwrap());
    };
    let t = support::interleaved(&mut [&mut d, &mut sha, &mut value], 31, 2_000);
    println!(
        "payload digest of examples/payloads/delivered.json ({} bytes):",
        body.len()
    );
    println!("  PayloadDigest::compute_bytes: {:.0} ns", t[0]);
    println!(
        "  ÷ SHA-256 of the body ({:.0} ns): {:.2}",
        t[1],
        t[0] / t[1]
    );
    println!(
        "  ÷ serde_json::Value parse of the body ({:.0} ns): {:.2}",
        t[2],
        t[0] / t[2]
    );
}
