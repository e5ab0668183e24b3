//! The crate's in-process pipeline against django-anymail's, same bodies, same run (PERF.md,
//! issue 14: ≥ 30× django-anymail on every payload kind).
//!
//! ```text
//! python3 -m venv target/anymail-venv
//! target/anymail-venv/bin/pip install -r benches/anymail/requirements.txt
//! cargo bench --bench anymail_compare
//! ```
//!
//! For each kind (delivered JSON, clicked JSON, legacy urlencoded form, legacy multipart with a
//! 50 KiB `message.mime`), it times what the adapters do with a body held as `Bytes`: the
//! envelope pass, verify, and a [`LazyEvent`] (no replay store), whose kind, id and recipient
//! are then read, as a handler would. It writes the same signed
//! bodies to a temporary directory and starts `benches/anymail/anymail_bench.py` with the
//! venv's Python (django-anymail's `MailgunTrackingWebhookView` through Django's
//! `RequestFactory`, signature validation on), which runs one round of its own after each of
//! the crate's. It prints per kind, by wall time and by each side's thread CPU time: crate µs,
//! anymail µs (medians of the rounds) and the median and range of the per-round ratios. Without
//! the venv it says how to create it and prints the crate's figures alone. Options (after
//! `--`): `--rounds N` (default 30), `--python PATH`.

use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant, UNIX_EPOCH};

use bytes::Bytes;
use mailgun_webhooks::testing::{SignedBody, token};
use mailgun_webhooks::{EventKind, LazyEvent, SigningKey, Verified, Verifier, scan_bytes};

#[path = "anymail/bodies.rs"]
mod bodies;

/// The kinds, in the order the Python script reports them.
const KINDS: [&str; 4] = ["delivered", "clicked", "form", "multipart"];

/// The target: anymail's time per call over the crate's, on every kind.
const TARGET: f64 = 30.0;

fn arg(name: &str) -> Option<String> {
    let mut args = std::env::args().skip_while(|a| a != name);
    args.next()?;
    args.next()
}

/// A signed body as a framework hands it over: its content type and a `Bytes` buffer.
struct Input {
    content_type: String,
    body: Bytes,
}

impl From<&SignedBody> for Input {
    fn from(b: &SignedBody) -> Self {
        Input {
            content_type: b.content_type.clone(),
            body: Bytes::from(b.body.clone()),
        }
    }
}

/// The kind's verified event, read as a handler reads it: the adapters' path (envelope pass,
/// verify, then the [`LazyEvent`] reads kind, id and recipient).
fn pipeline(verifier: &Verifier, input: &Input, now: std::time::SystemTime) -> Verified<LazyEvent> {
    let raw = scan_bytes(
        &input.content_type,
        black_box(input.body.clone()),
        verifier.limits(),
    )
    .unwrap();
    let verified = verifier.verify_at(raw, now).unwrap().parse_lazy().unwrap();
    let event = verified.payload();
    black_box((event.kind(), event.id(), event.recipient()));
    verified
}

fn machine_load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn main() {
    let rounds: usize = arg("--rounds").map_or(30, |v| v.parse().expect("--rounds N"));
    let timestamp = mailgun_webhooks::testing::now();
    let now = UNIX_EPOCH + Duration::from_secs(timestamp);
    let bodies: Vec<SignedBody> = vec![
        bodies::json_kind("delivered", timestamp, &token()),
        bodies::json_kind("clicked", timestamp, &token()),
        bodies::legacy_form(timestamp, &token()),
        bodies::legacy_multipart(timestamp, &token()),
    ];
    let verifier = Verifier::builder(SigningKey::new(bodies::KEY)).build();
    let inputs: Vec<Input> = bodies.iter().map(Input::from).collect();

    // Every kind verifies and parses into the event it is.
    let kinds: Vec<EventKind> = inputs
        .iter()
        .map(|b| pipeline(&verifier, b, now).payload().kind())
        .collect();
    assert_eq!(
        kinds,
        [
            EventKind::Delivered,
            EventKind::Clicked,
            EventKind::Delivered,
            EventKind::Failed
        ]
    );

    // `--calls KIND --n N`: only the crate's pipeline, N times on one kind, for callgrind
    // (`valgrind --tool=callgrind target/release/deps/anymail_compare-* --calls form --n 500`).
    if let Some(kind) = arg("--calls") {
        let n: usize = arg("--n").map_or(500, |v| v.parse().expect("--n N"));
        let at = KINDS
            .iter()
            .position(|k| *k == kind)
            .unwrap_or_else(|| panic!("--calls takes one of {KINDS:?}"));
        for _ in 0..n {
            drop(black_box(pipeline(&verifier, &inputs[at], now)));
        }
        println!("{n} calls of the {kind} pipeline");
        return;
    }

    println!(
        "anymail_compare: load average {} on {} cores at start",
        machine_load(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for (kind, body) in KINDS.iter().zip(&bodies) {
        println!("  {kind}: {} bytes, {}", body.body.len(), body.content_type);
    }

    // django-anymail, same bodies, in a Python process of its own that runs one round of its
    // own each time the crate has run one, so that both sides of a ratio see the same load.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = arg("--python")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("target/anymail-venv/bin/python"));
    let mut anymail = if python.exists() {
        Anymail::start(&python, manifest, &bodies)
    } else {
        println!(
            "\n!!! django-anymail NOT MEASURED: no {}. Create it with:\n!!!   python3 -m venv target/anymail-venv && target/anymail-venv/bin/pip install -r benches/anymail/requirements.txt\n",
            python.display()
        );
        None
    };

    // Per kind, per round: [wall µs, CPU µs] per call; anymail's rounds as it reported them.
    let mut crate_rounds = vec![Vec::with_capacity(rounds); KINDS.len()];
    let mut anymail_rounds = Vec::with_capacity(rounds);
    warm_up(&verifier, &inputs, now);
    for _ in 0..rounds {
        measure_crate(&verifier, &inputs, now, &mut crate_rounds);
        if let Some(a) = anymail.as_mut() {
            match a.round() {
                Some(round) => anymail_rounds.push(round),
                None => {
                    println!("\n!!! django-anymail stopped answering: compared on fewer rounds");
                    anymail = None;
                }
            }
        }
    }
    let versions = anymail.as_ref().map(|a| a.versions.clone());
    drop(anymail);

    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    println!(
        "\nper call, medians of {rounds} rounds, crate and anymail rounds alternating (crate: envelope pass + verify + LazyEvent, no replay store); ratio: median [range] of the per-round ratios"
    );
    // Wall time, then each side's thread CPU time (steadier on a shared machine: time spent
    // descheduled is left out).
    for (which, name, clock) in [(0, "wall", "wall"), (1, "thread CPU", "cpu")] {
        println!(
            "  {name:<10}: {:<10} {:>10} {:>12} {:>22}  target ≥ {TARGET}×",
            "kind", "crate µs", "anymail µs", "ratio"
        );
        for (i, kind) in KINDS.iter().enumerate() {
            let ours: Vec<f64> = crate_rounds[i].iter().map(|r| r[which]).collect();
            let theirs: Vec<f64> = anymail_rounds
                .iter()
                .filter_map(|r: &serde_json::Value| r[clock][*kind].as_f64())
                .collect();
            let ratios: Vec<f64> = theirs.iter().zip(&ours).map(|(t, o)| t / o).collect();
            let ours = median(ours);
            if ratios.is_empty() {
                println!(
                    "  {:<10}  {kind:<10} {ours:>10.2} {:>12} {:>22}",
                    "", "-", "-"
                );
                continue;
            }
            let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = ratios.iter().copied().fold(0.0, f64::max);
            let ratio = median(ratios);
            let verdict = if ratio >= TARGET { "met" } else { "NOT met" };
            println!(
                "  {:<10}  {kind:<10} {ours:>10.2} {:>12.1} {:>22}  {verdict}",
                "",
                median(theirs),
                format!("{ratio:.1}× [{lo:.1}–{hi:.1}]"),
            );
        }
    }
    if let Some(v) = versions {
        println!("  anymail side: {v}");
    }
    println!("load average at end: {}", machine_load());
}

/// Nanoseconds this thread has run on a CPU (`/proc/thread-self/schedstat`, Linux).
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Runs each kind's pipeline a while before anything is timed.
fn warm_up(verifier: &Verifier, bodies: &[Input], now: std::time::SystemTime) {
    for b in bodies {
        for _ in 0..batch(b) {
            black_box(pipeline(verifier, b, now));
        }
    }
}

/// Calls per kind and round: 2,000, or 200 for the multipart body (20× the work).
fn batch(body: &Input) -> u32 {
    if body.body.len() > 10_000 { 200 } else { 2_000 }
}

/// Times one round of the crate's pipeline on each kind; appends `[wall, thread CPU]` µs per
/// call to `out[kind]`.
fn measure_crate(
    verifier: &Verifier,
    bodies: &[Input],
    now: std::time::SystemTime,
    out: &mut [Vec<[f64; 2]>],
) {
    for (b, out) in bodies.iter().zip(out.iter_mut()) {
        let n = batch(b);
        let (start, start_cpu) = (Instant::now(), thread_cpu_ns());
        for _ in 0..n {
            black_box(pipeline(verifier, b, now));
        }
        let wall = start.elapsed().as_secs_f64() * 1e6 / f64::from(n);
        let cpu = match (start_cpu, thread_cpu_ns()) {
            (Some(a), Some(b)) => b.saturating_sub(a) as f64 / 1e3 / f64::from(n),
            _ => f64::NAN,
        };
        out.push([wall, cpu]);
    }
}

/// `benches/anymail/anymail_bench.py --rounds-on-stdin`, on the bodies written to a temporary
/// directory. Dropping it closes the script's stdin (it exits), waits for it and removes the
/// directory.
struct Anymail {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    dir: PathBuf,
    versions: serde_json::Value,
}

impl Anymail {
    fn start(python: &Path, manifest: &Path, bodies: &[SignedBody]) -> Option<Anymail> {
        let dir = std::env::temp_dir().join(format!("anymail-compare-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("key"), bodies::KEY).unwrap();
        for (kind, body) in KINDS.iter().zip(bodies) {
            std::fs::write(dir.join(format!("{kind}.body")), &body.body).unwrap();
            std::fs::write(dir.join(format!("{kind}.content-type")), &body.content_type).unwrap();
        }
        let mut child = Command::new(python)
            .arg(manifest.join("benches/anymail/anymail_bench.py"))
            .arg("--dir")
            .arg(&dir)
            .arg("--rounds-on-stdin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run the anymail script");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut a = Anymail {
            child,
            stdin,
            stdout,
            dir,
            versions: serde_json::Value::Null,
        };
        match a.line() {
            Some(ready) if ready["ready"] == true => {
                a.versions = ready["versions"].clone();
                Some(a)
            }
            _ => {
                println!(
                    "\n!!! django-anymail NOT MEASURED: the script did not start (its error is above)"
                );
                None
            }
        }
    }

    fn line(&mut self) -> Option<serde_json::Value> {
        let mut line = String::new();
        self.stdout.read_line(&mut line).ok()?;
        serde_json::from_str(line.trim()).ok()
    }

    /// One round of anymail's: µs per call by clock (`wall`, `cpu`) and kind.
    fn round(&mut self) -> Option<serde_json::Value> {
        writeln!(self.stdin.as_mut()?, "round").ok()?;
        self.line()
    }
}

impl Drop for Anymail {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
