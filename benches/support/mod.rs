//! Shared by the benches (`#[path = "support/mod.rs"] mod support;`): the baseline verifier of
//! PERF.md, interleaved medians, and same-run ratio reports.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Instant;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The floor PERF.md measures: a pre-keyed HMAC-SHA256 clone, hex decode, `subtle` compare.
pub struct Baseline {
    mac: Hmac<Sha256>,
}

impl Baseline {
    pub fn new(key: &str) -> Self {
        Baseline {
            mac: <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_bytes()).unwrap(),
        }
    }

    pub fn verify(&self, ts: &str, token: &str, sig: &str) -> bool {
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

/// Medians of `rounds` rounds in which each function runs `per_round` times in turn, so that
/// a change of machine load affects all of them alike. Nanoseconds per call.
pub fn interleaved(fs: &mut [&mut dyn FnMut()], rounds: usize, per_round: u32) -> Vec<f64> {
    let mut times = vec![Vec::with_capacity(rounds); fs.len()];
    for _ in 0..rounds {
        for (f, t) in fs.iter_mut().zip(times.iter_mut()) {
            let start = Instant::now();
            for _ in 0..per_round {
                f();
            }
            t.push(start.elapsed().as_nanos() as f64 / f64::from(per_round));
        }
    }
    times
        .into_iter()
        .map(|mut t| {
            t.sort_by(f64::total_cmp);
            t[t.len() / 2]
        })
        .collect()
}

/// Prints `label: ours / base = ratio (met | NOT met)`.
pub fn row(label: &str, ours: f64, base: f64, target: f64) {
    let ratio = ours / base;
    let verdict = if ratio <= target { "met" } else { "NOT met" };
    println!("  {label}: {ours:.0} ns / {base:.0} ns = {ratio:.2} ({verdict})");
}

/// criterion's output directory: `$CARGO_TARGET_DIR/criterion`, or `target/criterion`.
fn criterion_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("criterion")
}

/// The median, in nanoseconds, that criterion saved for `group/function` in this run. The
/// directory of a parameterised benchmark (`group/function/param`) is found by prefix.
/// Estimates older than this were written by an earlier run and are ignored.
static RUN_START: std::sync::OnceLock<std::time::SystemTime> = std::sync::OnceLock::new();

/// Marks the start of this run: call first in `main`.
pub fn start_run() {
    RUN_START.get_or_init(std::time::SystemTime::now);
}

pub fn median_ns(id: &str) -> Option<f64> {
    let mut dir = criterion_dir().join(id);
    if !dir.join("new").is_dir() {
        let entry = std::fs::read_dir(&dir)
            .ok()?
            .flatten()
            .find(|e| e.path().join("new").is_dir())?;
        dir = entry.path();
    }
    let file = dir.join("new/estimates.json");
    let written = std::fs::metadata(&file).and_then(|m| m.modified()).ok()?;
    if RUN_START.get().is_none_or(|start| written < *start) {
        return None;
    }
    let text = std::fs::read_to_string(file).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["median"]["point_estimate"].as_f64()
}

/// Prints `label: ours / baseline = ratio` for each row, marking whether it meets its target.
pub fn report(rows: &[(&str, &str, &str, f64)]) {
    println!("\nsame-run ratios (medians):");
    for &(label, ours, base, target) in rows {
        match (median_ns(ours), median_ns(base)) {
            (Some(a), Some(b)) if b > 0.0 => row(label, a, b, target),
            _ => println!("  {label}: not measured in this run"),
        }
    }
}
