//! `verify` alone, and JSON verify + parse, each beside baselines measured in the same run
//! (PERF.md). Run with `cargo bench --bench verify_parse`; the ratios are printed at the end.
//!
//! Targets: verify ≤ 1.2× the pre-keyed HMAC + hex + `subtle` baseline; JSON verify + parse
//! ≤ 1.3× verify + serde_json into a borrowed struct, and ≤ 0.8× verify + `serde_json::Value`.

use std::borrow::Cow;
use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::Criterion;
use mailgun_webhooks::{Format, Signature, SigningKey, Unverified, Verifier};
use serde::Deserialize;

#[path = "support/mod.rs"]
mod support;

use support::{Baseline, interleaved, row};

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

/// One signed triple, with the crate's verifier and the pre-keyed baseline over its key.
struct VerifyCase {
    verifier: Verifier,
    baseline: Baseline,
    now: SystemTime,
    ts: String,
    token: &'static str,
    sig: String,
    signature: Signature,
}

impl VerifyCase {
    fn new() -> Self {
        let ts = NOW.to_string();
        let token = "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0";
        let sig = SigningKey::new(KEY).sign(&ts, token);
        VerifyCase {
            verifier: Verifier::builder(SigningKey::new(KEY)).build(),
            baseline: Baseline::new(KEY),
            now: UNIX_EPOCH + Duration::from_secs(NOW),
            signature: Signature::new(ts.clone(), token, sig.clone()),
            ts,
            token,
            sig,
        }
    }

    /// The crate's verify.
    fn ours(&self) {
        black_box(
            self.verifier
                .check_signature(black_box(&self.signature), self.now)
                .unwrap(),
        );
    }

    /// Pre-keyed HMAC + hex decode + `subtle`.
    fn baseline(&self) {
        assert!(self.baseline.verify(
            black_box(&self.ts),
            black_box(self.token),
            black_box(&self.sig)
        ));
    }
}

fn bench_verify(c: &mut Criterion) {
    let case = VerifyCase::new();
    let mut g = c.benchmark_group("verify");
    g.bench_function("baseline", |b| b.iter(|| case.baseline()));
    g.bench_function("ours", |b| b.iter(|| case.ours()));
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
            b.iter(|| value_baseline(&baseline, black_box(body)))
        });
        g.bench_with_input("borrowed", &body, |b, body| {
            b.iter(|| borrowed_baseline(&baseline, black_box(body)))
        });
        // The pipeline: envelope pass, verify, then the typed parse.
        g.bench_with_input("ours", &body, |b, body| {
            b.iter(|| {
                let u =
                    mailgun_webhooks::scan("application/json", black_box(body), verifier.limits())
                        .unwrap();
                verifier.verify_at(u, now).unwrap().parse().unwrap()
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

/// The same comparisons as an interleaved loop: each round runs every function in turn, so a
/// drift in machine load (other tenants of a VM) affects all of them alike.
fn interleaved_report() {
    let case = VerifyCase::new();
    let (verifier, baseline, now) = (&case.verifier, &case.baseline, case.now);
    let v = interleaved(
        &mut [&mut || case.baseline(), &mut || case.ours()],
        101,
        2000,
    );
    println!("\ninterleaved same-run ratios (medians of rounds):");
    row("verify / baseline (target <= 1.2)", v[1], v[0], 1.2);
    for name in ["delivered", "clicked"] {
        let body = payload(name);
        let bytes = bytes::Bytes::from(body.clone());
        let t = interleaved(
            &mut [
                &mut || drop(value_baseline(baseline, black_box(&body))),
                &mut || {
                    black_box(borrowed_baseline(baseline, black_box(&body)));
                },
                &mut || {
                    let u = mailgun_webhooks::scan(
                        "application/json",
                        black_box(&body),
                        verifier.limits(),
                    )
                    .unwrap();
                    drop(verifier.verify_at(u, now).unwrap().parse().unwrap());
                },
                // The adapters' path: the body as `Bytes`, and a `LazyEvent` whose kind, id and
                // recipient are read (as the baselines read theirs).
                &mut || {
                    let u = mailgun_webhooks::scan_bytes(
                        "application/json",
                        black_box(bytes.clone()),
                        verifier.limits(),
                    )
                    .unwrap();
                    let lazy = verifier.verify_at(u, now).unwrap().parse_lazy().unwrap();
                    let e = lazy.payload();
                    black_box((e.kind(), e.id(), e.recipient()));
                },
            ],
            101,
            200,
        );
        let (value, borrowed, ours, lazy) = (t[0], t[1], t[2], t[3]);
        row(
            &format!("{name}: LazyEvent / borrowed struct (target <= 1.3)"),
            lazy,
            borrowed,
            1.3,
        );
        row(
            &format!("{name}: LazyEvent / Value (target <= 0.8)"),
            lazy,
            value,
            0.8,
        );
        row(
            &format!("{name}: ours / borrowed struct (target <= 1.3)"),
            ours,
            borrowed,
            1.3,
        );
        row(
            &format!("{name}: ours / Value (target <= 0.8)"),
            ours,
            value,
            0.8,
        );
    }
}

fn value_baseline(baseline: &Baseline, body: &[u8]) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    let s = &v["signature"];
    let ok = baseline.verify(
        s["timestamp"].as_str().unwrap(),
        s["token"].as_str().unwrap(),
        s["signature"].as_str().unwrap(),
    );
    assert!(ok);
    v
}

fn borrowed_baseline(baseline: &Baseline, body: &[u8]) -> bool {
    let v: BBody = serde_json::from_slice(body).unwrap();
    let s = &v.signature;
    assert!(baseline.verify(&s.timestamp, &s.token, &s.signature));
    v.event_data.recipient.is_some()
}

/// `--calls verify|baseline [--n N]`: only the crate's verify (or the pre-keyed baseline), N
/// times, for callgrind: run it at two values of N and divide the difference.
fn calls(which: &str) {
    let n: usize = std::env::args()
        .skip_while(|a| a != "--n")
        .nth(1)
        .map_or(1_000, |v| v.parse().expect("--n N"));
    let case = VerifyCase::new();
    for _ in 0..n {
        match which {
            "verify" => case.ours(),
            "baseline" => case.baseline(),
            other => panic!("--calls takes verify or baseline, not {other}"),
        }
    }
    println!("{n} calls of {which}");
}

fn main() {
    if let Some(which) = std::env::args().skip_while(|a| a != "--calls").nth(1) {
        return calls(&which);
    }
    support::start_run();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    bench_verify(&mut c);
    bench_json(&mut c);
    c.final_summary();
    support::report(&[
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
    if !std::env::args().any(|a| a == "--test" || a == "--list") {
        interleaved_report();
    }
}
