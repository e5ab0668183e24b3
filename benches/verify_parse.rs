//! `verify` alone, and JSON verify + parse, each beside baselines measured in the same run
//! (PERF.md). Run with `cargo bench --bench verify_parse`; the ratios are printed at the end.
//!
//! Targets: verify ≤ 1.2× the pre-keyed HMAC + hex + `subtle` baseline; JSON verify + parse
//! ≤ 1.3× verify + serde_json into a borrowed struct, and ≤ 0.8× verify + `serde_json::Value`.

use std::borrow::Cow;
use std::hint::black_box;
use std::time::{Duration, UNIX_EPOCH};

use criterion::Criterion;
use hmac::{Hmac, KeyInit, Mac};
use mailgun_webhooks::{Format, Signature, SigningKey, Unverified, Verifier};
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;

#[path = "ratios.rs"]
mod ratios;

const KEY: &str = "demo-webhook-signing-key";
const NOW: u64 = 1_767_225_600;

/// The bundled samples, compacted as Mailgun sends them.
fn payload(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/examples/payloads/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let value: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    serde_json::to_vec(&value).unwrap()
}

// ----- the baseline verifier: pre-keyed HMAC clone + hex decode + subtle compare -----

struct Baseline {
    mac: Hmac<Sha256>,
}

impl Baseline {
    fn new(key: &str) -> Self {
        Baseline {
            mac: <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_bytes()).unwrap(),
        }
    }

    fn verify(&self, ts: &str, token: &str, sig: &str) -> bool {
        let mut expected = [0u8; 32];
        if hex_decode(sig.as_bytes(), &mut expected).is_none() {
            return false;
        }
        let mut mac = self.mac.clone();
        mac.update(ts.as_bytes());
        mac.update(token.as_bytes());
        let tag: [u8; 32] = mac.finalize().into_bytes().into();
        bool::from(tag.ct_eq(&expected))
    }
}

fn hex_decode(s: &[u8], out: &mut [u8; 32]) -> Option<()> {
    if s.len() != 64 {
        return None;
    }
    let val = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    for (o, p) in out.iter_mut().zip(s.chunks_exact(2)) {
        *o = (val(p[0])? << 4) | val(p[1])?;
    }
    Some(())
}

// ----- the borrowed-struct baseline: the same fields our typed Event reads -----

#[derive(Deserialize)]
struct BSig<'a> {
    #[serde(borrow)]
    timestamp: Cow<'a, str>,
    #[serde(borrow)]
    token: Cow<'a, str>,
    #[serde(borrow)]
    signature: Cow<'a, str>,
}

#[derive(Deserialize)]
struct BBody<'a> {
    #[serde(borrow)]
    signature: BSig<'a>,
    #[serde(borrow, rename = "event-data")]
    event_data: BEvent<'a>,
}

#[allow(dead_code)]
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct BEvent<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    timestamp: f64,
    #[serde(borrow, default)]
    log_level: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    recipient: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    recipient_domain: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    tags: Vec<Cow<'a, str>>,
    #[serde(default)]
    user_variables: serde_json::Value,
    #[serde(borrow, default)]
    message: Option<BMessage<'a>>,
    #[serde(default)]
    flags: Option<std::collections::BTreeMap<Cow<'a, str>, Option<bool>>>,
    #[serde(borrow, default)]
    envelope: Option<std::collections::BTreeMap<Cow<'a, str>, Cow<'a, str>>>,
    #[serde(borrow, default)]
    storage: Option<std::collections::BTreeMap<Cow<'a, str>, Cow<'a, str>>>,
    #[serde(borrow, default)]
    delivery_status: Option<BStatus<'a>>,
    #[serde(borrow, default)]
    url: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    ip: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    geolocation: Option<std::collections::BTreeMap<Cow<'a, str>, Cow<'a, str>>>,
    #[serde(borrow, default)]
    client_info: Option<std::collections::BTreeMap<Cow<'a, str>, Cow<'a, str>>>,
    #[serde(default)]
    campaigns: serde::de::IgnoredAny,
}

#[allow(dead_code)]
#[derive(Deserialize)]
struct BMessage<'a> {
    #[serde(borrow, default)]
    headers: std::collections::BTreeMap<Cow<'a, str>, Cow<'a, str>>,
    #[serde(default)]
    attachments: serde::de::IgnoredAny,
    #[serde(default)]
    size: Option<u64>,
}

#[allow(dead_code)]
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct BStatus<'a> {
    #[serde(default)]
    code: Option<u16>,
    #[serde(borrow, default)]
    message: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    description: Option<Cow<'a, str>>,
    #[serde(default)]
    tls: Option<bool>,
    #[serde(borrow, default)]
    mx_host: Option<Cow<'a, str>>,
    #[serde(default)]
    attempt_no: Option<u32>,
    #[serde(default)]
    session_seconds: Option<f64>,
    #[serde(default)]
    utf8: Option<bool>,
    #[serde(default)]
    certificate_verified: Option<bool>,
}

fn bench_verify(c: &mut Criterion) {
    let verifier = Verifier::builder(SigningKey::new(KEY)).build();
    let baseline = Baseline::new(KEY);
    let ts = NOW.to_string();
    let token = "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0";
    let sig = SigningKey::new(KEY).sign(&ts, token);
    let now = UNIX_EPOCH + Duration::from_secs(NOW);
    let signature = Signature::new(ts.clone(), token, sig.clone());

    let mut g = c.benchmark_group("verify");
    g.bench_function("baseline", |b| {
        b.iter(|| assert!(baseline.verify(black_box(&ts), black_box(token), black_box(&sig))))
    });
    g.bench_function("ours", |b| {
        b.iter(|| {
            verifier
                .check_signature(black_box(&signature), now)
                .unwrap()
        })
    });
    g.finish();
}

fn bench_json(c: &mut Criterion) {
    let verifier = Verifier::builder(SigningKey::new(KEY)).build();
    let baseline = Baseline::new(KEY);
    let now = UNIX_EPOCH + Duration::from_secs(NOW);

    for name in ["delivered", "clicked"] {
        let body = payload(name);
        let mut g = c.benchmark_group(format!("json-{name}"));
        g.throughput(criterion::Throughput::Bytes(body.len() as u64));
        g.bench_with_input("value", &body, |b, body| {
            b.iter(|| {
                let v: serde_json::Value = serde_json::from_slice(black_box(body)).unwrap();
                let s = &v["signature"];
                let ok = baseline.verify(
                    s["timestamp"].as_str().unwrap(),
                    s["token"].as_str().unwrap(),
                    s["signature"].as_str().unwrap(),
                );
                assert!(ok);
                v
            })
        });
        g.bench_with_input("borrowed", &body, |b, body| {
            b.iter(|| {
                let v: BBody = serde_json::from_slice(black_box(body)).unwrap();
                let s = &v.signature;
                assert!(baseline.verify(&s.timestamp, &s.token, &s.signature));
                black_box(v.event_data.recipient.is_some())
            })
        });
        g.bench_with_input("ours", &body, |b, body| {
            b.iter(|| {
                let u = verifier.parse("application/json", black_box(body)).unwrap();
                verifier.verify_at(u, now).unwrap()
            })
        });
        g.finish();
    }
    // Keep the generic entry point honest: verify alone over a unit payload.
    let _ = verifier.verify_at(
        Unverified::new(Signature::new("1", "t", "s"), Format::Json, ()),
        now,
    );
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    bench_verify(&mut c);
    bench_json(&mut c);
    c.final_summary();
    ratios::report(&[
        (
            "verify / baseline (target <= 1.2)",
            "verify/ours",
            "verify/baseline",
            1.2,
        ),
        (
            "delivered: ours / borrowed struct (target <= 1.3)",
            "json-delivered/ours",
            "json-delivered/borrowed",
            1.3,
        ),
        (
            "delivered: ours / Value (target <= 0.8)",
            "json-delivered/ours",
            "json-delivered/value",
            0.8,
        ),
        (
            "clicked: ours / borrowed struct (target <= 1.3)",
            "json-clicked/ours",
            "json-clicked/borrowed",
            1.3,
        ),
        (
            "clicked: ours / Value (target <= 0.8)",
            "json-clicked/ours",
            "json-clicked/value",
            0.8,
        ),
    ]);
}
