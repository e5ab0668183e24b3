//! Legacy form and multipart verify + parse, each beside a baseline measured in the same run
//! (PERF.md). Run with `cargo bench --bench form_multipart`; the ratios are printed at the end.
//!
//! Targets: urlencoded ≤ 1.3× (verify + `serde_urlencoded` pairs + `message-headers` JSON);
//! multipart with a 50 KiB attachment ≤ 1.25× (verify + multer collecting every part: text
//! fields with multer's `text()`, the file with `bytes()`). A stricter multipart baseline that
//! keeps every part as raw `Bytes` (no text decoding) is reported beside it. The baselines
//! verify with a pre-keyed HMAC clone + hex decode + `subtle` compare.
//!
//! criterion measures one function after the other; on a shared machine the load can change
//! in between, so the ratios are also measured by an interleaved loop (the functions take
//! turns in short rounds; medians of the rounds), printed last.

use std::convert::Infallible;
use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use criterion::{Criterion, Throughput};
use futures_util::FutureExt;
use mailgun_webhooks::{Event, Limits, Payload, SigningKey, Verified, Verifier, parse_stream};

#[path = "support/mod.rs"]
mod support;

use support::{Baseline, interleaved, row};

const KEY: &str = bodies::KEY;
const NOW: u64 = 1_767_225_600;
const TOKEN: &str = "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0";

// ----- payloads, hand-written from Mailgun's documented legacy format (shared with the
// comparison benches: benches/anymail/bodies.rs) -----

#[path = "anymail/bodies.rs"]
mod bodies;

/// A legacy `delivered` post, urlencoded, with 3 custom variables (about 2.1 KB).
fn delivered_form() -> Vec<u8> {
    bodies::legacy_form(NOW, TOKEN).body
}

/// A legacy `bounced` post, multipart: 16 fields and a 50 KiB `message.mime` attachment.
fn bounced_multipart() -> (String, Vec<u8>) {
    let body = bodies::legacy_multipart(NOW, TOKEN);
    (body.content_type, body.body)
}

/// The last value of `name`, as Mailgun's signature fields are read.
fn last<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs
        .iter()
        .rev()
        .find(|(n, _)| n == name)
        .map_or("", |(_, v)| v)
}

/// verify + `serde_urlencoded` pairs + `message-headers` JSON.
fn baseline_form(baseline: &Baseline, body: &[u8]) -> (Vec<(String, String)>, serde_json::Value) {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap();
    let ok = baseline.verify(
        last(&pairs, "timestamp"),
        last(&pairs, "token"),
        last(&pairs, "signature"),
    );
    assert!(ok);
    let headers = pairs
        .iter()
        .find(|(n, _)| n == "message-headers")
        .map(|(_, v)| serde_json::from_str(v).unwrap())
        .unwrap();
    (pairs, headers)
}

type Part = (Option<String>, Option<String>, Bytes);
type Collected = (Vec<(Option<String>, String)>, Vec<Part>);

/// multer over the in-memory body, driven synchronously as the crate does.
fn multer_over(boundary: &str, body: &[u8]) -> multer::Multipart<'static> {
    let stream = futures_util::stream::iter([Ok::<_, Infallible>(Bytes::copy_from_slice(body))]);
    multer::Multipart::new(stream, boundary.to_owned())
}

/// verify + multer collecting every part as an application would: text fields as `String`
/// (multer's `text()`), files as `Bytes`.
fn baseline_multipart(baseline: &Baseline, boundary: &str, body: &[u8]) -> Collected {
    let mut mp = multer_over(boundary, body);
    let parts = async {
        let (mut texts, mut files) = (Vec::with_capacity(20), Vec::new());
        while let Some(field) = mp.next_field().await.unwrap() {
            let name = field.name().map(str::to_owned);
            match field.file_name().map(str::to_owned) {
                Some(file) => files.push((name, Some(file), field.bytes().await.unwrap())),
                None => texts.push((name, field.text().await.unwrap())),
            }
        }
        (texts, files)
    }
    .now_or_never()
    .unwrap();
    let field = |name: &str| {
        let found = parts.0.iter().rev().find(|p| p.0.as_deref() == Some(name));
        found.unwrap().1.as_str()
    };
    assert!(baseline.verify(field("timestamp"), field("token"), field("signature")));
    parts
}

/// The stricter baseline: every part kept as raw `Bytes`, nothing decoded.
fn baseline_multipart_raw(baseline: &Baseline, boundary: &str, body: &[u8]) -> Vec<Part> {
    let mut mp = multer_over(boundary, body);
    let parts = async {
        let mut parts: Vec<Part> = Vec::with_capacity(20);
        while let Some(field) = mp.next_field().await.unwrap() {
            let name = field.name().map(str::to_owned);
            let file = field.file_name().map(str::to_owned);
            parts.push((name, file, field.bytes().await.unwrap()));
        }
        parts
    }
    .now_or_never()
    .unwrap();
    let field = |name: &str| {
        let bytes = &parts
            .iter()
            .rev()
            .find(|p| p.0.as_deref() == Some(name))
            .unwrap()
            .2;
        std::str::from_utf8(bytes).unwrap()
    };
    assert!(baseline.verify(field("timestamp"), field("token"), field("signature")));
    parts
}

// ----- what is measured -----

const FORM: &str = "application/x-www-form-urlencoded";

/// The payloads, the verifiers and the functions that are timed.
struct Setup {
    verifier: Verifier,
    baseline: Baseline,
    now: SystemTime,
    form: Vec<u8>,
    content_type: String,
    boundary: String,
    multipart: Vec<u8>,
    chunks: Vec<Bytes>,
    limits: Limits,
}

impl Setup {
    fn new() -> Self {
        let (content_type, multipart) = bounced_multipart();
        let boundary = content_type.split("boundary=").nth(1).unwrap().to_owned();
        let chunks = multipart
            .chunks(16 << 10)
            .map(Bytes::copy_from_slice)
            .collect();
        let s = Setup {
            verifier: Verifier::builder(SigningKey::new(KEY)).build(),
            baseline: Baseline::new(KEY),
            now: UNIX_EPOCH + Duration::from_secs(NOW),
            form: delivered_form(),
            content_type,
            boundary,
            multipart,
            chunks,
            limits: Limits::default(),
        };
        s.check();
        s
    }

    /// Every function computes what it should.
    fn check(&self) {
        assert!(matches!(
            self.ours_form().payload(),
            Payload::Event(Event::Delivered(_))
        ));
        let bounce = self.ours_multipart();
        let Payload::Event(Event::Failed(d)) = bounce.payload() else {
            panic!("not a bounce")
        };
        assert_eq!((d.fields.len(), d.attachments[0].size()), (16, 50 << 10));
        let streamed = self.ours_streamed();
        assert_eq!(
            format!("{:?}", streamed.payload()),
            format!("{:?}", bounce.payload())
        );
        let (texts, files) = self.baseline_multipart();
        assert_eq!((texts.len(), files.len()), (16, 1));
        assert_eq!(self.baseline_multipart_raw().len(), 17);
        assert_eq!(self.baseline_form().0.len(), 13);
    }

    fn baseline_form(&self) -> (Vec<(String, String)>, serde_json::Value) {
        baseline_form(&self.baseline, black_box(&self.form))
    }

    fn ours_form(&self) -> Verified {
        let u = self.verifier.parse(FORM, black_box(&self.form)).unwrap();
        self.verifier.verify_at(u, self.now).unwrap()
    }

    fn baseline_multipart(&self) -> Collected {
        baseline_multipart(&self.baseline, &self.boundary, black_box(&self.multipart))
    }

    fn baseline_multipart_raw(&self) -> Vec<Part> {
        baseline_multipart_raw(&self.baseline, &self.boundary, black_box(&self.multipart))
    }

    fn ours_multipart(&self) -> Verified {
        let u = self
            .verifier
            .parse(&self.content_type, black_box(&self.multipart))
            .unwrap();
        self.verifier.verify_at(u, self.now).unwrap()
    }

    /// The streaming entry point, as a framework adapter uses it (16 KiB chunks).
    fn ours_streamed(&self) -> Verified {
        let chunks = self.chunks.iter().cloned().map(Ok::<_, Infallible>);
        let s = futures_util::stream::iter(chunks);
        let u = parse_stream(&self.content_type, s, &self.limits)
            .now_or_never()
            .unwrap()
            .unwrap();
        self.verifier.verify_at(u, self.now).unwrap()
    }
}

// ----- criterion -----

fn bench(c: &mut Criterion, s: &Setup) {
    let mut g = c.benchmark_group("legacy-form");
    g.throughput(Throughput::Bytes(s.form.len() as u64));
    g.bench_function("baseline", |b| b.iter(|| s.baseline_form()));
    g.bench_function("ours", |b| b.iter(|| s.ours_form()));
    g.finish();

    let n = s.multipart.len();
    let mut g = c.benchmark_group("legacy-multipart");
    g.throughput(Throughput::Bytes(n as u64));
    g.bench_function("baseline", |b| b.iter(|| s.baseline_multipart()));
    g.bench_function("baseline-raw", |b| b.iter(|| s.baseline_multipart_raw()));
    g.bench_function("ours", |b| b.iter(|| s.ours_multipart()));
    g.bench_function("ours-streamed", |b| b.iter(|| s.ours_streamed()));
    g.finish();
}

// ----- interleaved medians -----

fn interleaved_report(s: &Setup) {
    let form = interleaved(
        &mut [&mut || drop(s.baseline_form()), &mut || drop(s.ours_form())],
        61,
        500,
    );
    let mp = interleaved(
        &mut [
            &mut || drop(s.baseline_multipart()),
            &mut || drop(s.baseline_multipart_raw()),
            &mut || drop(s.ours_multipart()),
            &mut || drop(s.ours_streamed()),
        ],
        41,
        100,
    );
    println!("\ninterleaved same-run ratios (medians of rounds):");
    row(FORM_LABEL, form[1], form[0], 1.3);
    row(MULTIPART_LABEL, mp[2], mp[0], 1.25);
    row(RAW_LABEL, mp[2], mp[1], 1.25);
    row(STREAMED_LABEL, mp[3], mp[0], f64::INFINITY);
}

const FORM_LABEL: &str = "legacy form: ours / serde_urlencoded + headers JSON (target <= 1.3)";
const MULTIPART_LABEL: &str =
    "legacy multipart: ours / multer collecting all parts (target <= 1.25)";
const RAW_LABEL: &str = "legacy multipart: ours / multer, every part as raw bytes (stricter)";
const STREAMED_LABEL: &str =
    "legacy multipart, streamed in 16 KiB chunks: ours / baseline (no target)";

fn main() {
    support::start_run();
    let setup = Setup::new();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    bench(&mut c, &setup);
    c.final_summary();
    let quick = std::env::args().any(|a| a == "--test" || a == "--list");
    if quick {
        return;
    }
    support::report(&[
        (FORM_LABEL, "legacy-form/ours", "legacy-form/baseline", 1.3),
        (
            MULTIPART_LABEL,
            "legacy-multipart/ours",
            "legacy-multipart/baseline",
            1.25,
        ),
        (
            RAW_LABEL,
            "legacy-multipart/ours",
            "legacy-multipart/baseline-raw",
            1.25,
        ),
        (
            STREAMED_LABEL,
            "legacy-multipart/ours-streamed",
            "legacy-multipart/baseline",
            f64::INFINITY,
        ),
    ]);
    interleaved_report(&setup);
}
