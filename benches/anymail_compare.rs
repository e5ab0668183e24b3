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
//! 50 KiB `message.mime`), it times verify + parse into a [`Payload`] (no replay store; then the
//! event's kind, id and recipient are read, as a handler would), writes the same signed bodies
//! to a temporary directory, runs `benches/anymail/anymail_bench.py` with the venv's Python
//! (django-anymail's `MailgunTrackingWebhookView` through Django's `RequestFactory`, signature
//! validation on), and prints per kind: crate µs, anymail µs and their ratio. Without the venv
//! it says how to create it and prints the crate's figures alone. Options (after `--`):
//! `--rounds N` (default 30), `--python PATH`.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, UNIX_EPOCH};

use mailgun_webhooks::testing::{SignedBody, token};
use mailgun_webhooks::{Event, Payload, SigningKey, Verified, Verifier};

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

/// The kind's verified payload, read as a handler reads it.
fn pipeline(verifier: &Verifier, body: &SignedBody, now: std::time::SystemTime) -> Verified {
    let unverified = verifier
        .parse(&body.content_type, black_box(&body.body))
        .unwrap();
    let verified = verifier.verify_at(unverified, now).unwrap();
    if let Payload::Event(event) = verified.payload() {
        black_box((event.kind(), event.id(), event.recipient()));
    }
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

    // Every kind verifies and parses into the event it is.
    let kinds: Vec<&str> = bodies
        .iter()
        .map(|b| match pipeline(&verifier, b, now).payload() {
            Payload::Event(Event::Delivered(_)) => "delivered",
            Payload::Event(Event::Clicked(_)) => "clicked",
            Payload::Event(Event::Failed(_)) => "failed",
            other => panic!("unexpected payload {other:?}"),
        })
        .collect();
    assert_eq!(kinds, ["delivered", "clicked", "delivered", "failed"]);

    println!(
        "anymail_compare: load average {} on {} cores at start",
        machine_load(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for (kind, body) in KINDS.iter().zip(&bodies) {
        println!("  {kind}: {} bytes, {}", body.body.len(), body.content_type);
    }

    // The crate: kinds take turns in short rounds; half the rounds before the Python run, half
    // after it, so that a change of machine load in between weighs on both sides.
    // Per kind, per round: [wall µs, CPU µs] per call.
    let mut crate_rounds = vec![Vec::with_capacity(rounds); KINDS.len()];
    measure_crate(
        &verifier,
        &bodies,
        now,
        rounds.div_ceil(2),
        &mut crate_rounds,
    );

    // django-anymail, same bodies.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = arg("--python")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("target/anymail-venv/bin/python"));
    let anymail = if python.exists() {
        run_anymail(&python, manifest, &bodies)
    } else {
        println!(
            "\n!!! django-anymail NOT MEASURED: no {}. Create it with:\n!!!   python3 -m venv target/anymail-venv && target/anymail-venv/bin/pip install -r benches/anymail/requirements.txt\n",
            python.display()
        );
        None
    };

    measure_crate(&verifier, &bodies, now, rounds / 2, &mut crate_rounds);
    let median_of = |rounds: &[[f64; 2]], which: usize| {
        let mut v: Vec<f64> = rounds.iter().map(|r| r[which]).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };

    println!(
        "\nper call, medians of {rounds} rounds (crate: verify + parse into Payload, no replay store; half its rounds before the Python run, half after)"
    );
    // Wall time, then each side's thread CPU time (steadier on a shared machine: time spent
    // descheduled is left out).
    for (which, name, source) in [(0, "wall", "wall"), (1, "thread CPU", "cpu")] {
        println!(
            "  {name:<10}: {:<10} {:>10} {:>12} {:>8}  target ≥ {TARGET}×",
            "kind", "crate µs", "anymail µs", "ratio"
        );
        for (i, kind) in KINDS.iter().enumerate() {
            let ours = median_of(&crate_rounds[i], which);
            if ours.is_nan() {
                println!(
                    "  {:<10}  {kind:<10} not measured (no /proc/thread-self/schedstat)",
                    ""
                );
                continue;
            }
            match anymail.as_ref().and_then(|a| a[source][*kind].as_f64()) {
                Some(theirs) => {
                    let ratio = theirs / ours;
                    let verdict = if ratio >= TARGET { "met" } else { "NOT met" };
                    println!(
                        "  {:<10}  {kind:<10} {ours:>10.2} {theirs:>12.1} {ratio:>7.1}×  {verdict}",
                        ""
                    );
                }
                None => println!(
                    "  {:<10}  {kind:<10} {ours:>10.2} {:>12} {:>8}",
                    "", "-", "-"
                ),
            }
        }
    }
    if let Some(a) = &anymail {
        println!("  anymail side: {}", a["versions"]);
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

/// Times the crate's pipeline on each kind for `rounds` rounds (2,000 calls a round, 200 for
/// the multipart body, 20× the work), after a warm-up; appends `[wall, thread CPU]` µs per call to `out[kind]`.
fn measure_crate(
    verifier: &Verifier,
    bodies: &[SignedBody],
    now: std::time::SystemTime,
    rounds: usize,
    out: &mut [Vec<[f64; 2]>],
) {
    let batch = |b: &SignedBody| if b.body.len() > 10_000 { 200 } else { 2_000 };
    for b in bodies {
        for _ in 0..batch(b) / 2 {
            black_box(pipeline(verifier, b, now));
        }
    }
    for _ in 0..rounds {
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
}

/// Writes the bodies and the key to a temporary directory, runs the Python script on them and
/// returns its JSON figures (µs per call by kind).
fn run_anymail(python: &Path, manifest: &Path, bodies: &[SignedBody]) -> Option<serde_json::Value> {
    let dir = std::env::temp_dir().join(format!("anymail-compare-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("key"), bodies::KEY).unwrap();
    for (kind, body) in KINDS.iter().zip(bodies) {
        std::fs::write(dir.join(format!("{kind}.body")), &body.body).unwrap();
        std::fs::write(dir.join(format!("{kind}.content-type")), &body.content_type).unwrap();
    }
    let output = Command::new(python)
        .arg(manifest.join("benches/anymail/anymail_bench.py"))
        .arg("--dir")
        .arg(&dir)
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let output = output.expect("run the anymail script");
    if !output.status.success() {
        println!(
            "\n!!! django-anymail script failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        return None;
    }
    let line = String::from_utf8_lossy(&output.stdout);
    Some(serde_json::from_str(line.trim()).expect("the script's JSON"))
}
