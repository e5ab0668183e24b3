//! Prints same-run ratios from criterion's saved estimates (shared by the benches through
//! `#[path = "ratios.rs"] mod ratios;`).

use std::path::PathBuf;

/// criterion's output directory: `$CARGO_TARGET_DIR/criterion`, or `target/criterion`.
fn criterion_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("criterion")
}

/// The median, in nanoseconds, that criterion saved for `group/function` in this run. The
/// directory of a parameterised benchmark (`group/function/param`) is found by prefix.
pub fn median_ns(id: &str) -> Option<f64> {
    let mut dir = criterion_dir().join(id);
    if !dir.join("new").is_dir() {
        let entry = std::fs::read_dir(&dir)
            .ok()?
            .flatten()
            .find(|e| e.path().join("new").is_dir())?;
        dir = entry.path();
    }
    let text = std::fs::read_to_string(dir.join("new/estimates.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["median"]["point_estimate"].as_f64()
}

/// Prints `label: ours / baseline = ratio` for each row, marking whether it meets its target.
pub fn report(rows: &[(&str, &str, &str, f64)]) {
    println!("\nsame-run ratios (medians):");
    for &(label, ours, base, target) in rows {
        match (median_ns(ours), median_ns(base)) {
            (Some(a), Some(b)) if b > 0.0 => {
                let ratio = a / b;
                let verdict = if ratio <= target { "met" } else { "NOT met" };
                println!("  {label}: {a:.0} ns / {b:.0} ns = {ratio:.2} ({verdict})");
            }
            _ => println!("  {label}: not measured in this run"),
        }
    }
}
