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
    let crate_us: Vec<f64> = crate_rounds
        .into_iter()
        .map(|mut t| {
            t.sort_by(f64::total_cmp);
            t[t.len() / 2]
        })
        .collect();

    println!(
        "\nper call, medians of {rounds} rounds (crate: verify + parse into Payload, no replay store; half its rounds before the Python run, half after)"
    );
    println!(
        "  {:<10} {:>10} {:>12} {:>8}  target ≥ {TARGET}×",
        "kind", "crate µs", "anymail µs", "ratio"
    );
    for (i, kind) in KINDS.iter().enumerate() {
        match &anymail {
            Some(a) => {
                let theirs = a[*kind].as_f64().expect("anymail figure");
                let ratio = theirs / crate_us[i];
                let verdict = if ratio >= TARGET { "met" } else { "NOT met" };
                println!(
                    "  {kind:<10} {:>10.2} {theirs:>12.1} {ratio:>7.1}×  {verdict}",
                    crate_us[i]
                );
            }
            None => println!("  {kind:<10} {:>10.2} {:>12} {:>8}", crate_us[i], "-", "-"),
        }
    }
    if let Some(a) = &anymail {
        println!("  anymail side: {}", a["versions"]);
    }
    println!("load average at end: {}", machine_load());
}

/// Times the crate's pipeline on each kind for `rounds` rounds (2,000 calls a round, 200 for
/// the multipart body, 20× the work), after a warm-up; appends µs per call to `out[kind]`.
fn measure_crate(
    verifier: &Verifier,
    bodies: &[SignedBody],
    now: std::time::SystemTime,
    rounds: usize,
    out: &mut [Vec<f64>],
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
            let start = Instant::now();
            for _ in 0..n {
                black_box(pipeline(verifier, b, now));
            }
            out.push(start.elapsed().as_secs_f64() * 1e6 / f64::from(n));
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
