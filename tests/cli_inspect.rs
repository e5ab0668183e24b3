//! `mailgun-webhooks inspect` keeps the contract of `examples/inspect.rs` (DESIGN.md §6):
//! the same JSON and exit code for every bundled payload (tests/inspect.rs checks the
//! contract itself on the example).
#![cfg(feature = "cli")]

mod cli_common;

use std::path::Path;

use cli_common::{DEMO_KEY, run};
use serde_json::Value;

#[test]
fn inspect_subcommand_matches_the_contract() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/payloads");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 18);
    for file in &files {
        let f = file.to_str().unwrap();
        let (code, out, err) = run(
            &["inspect", "--key", DEMO_KEY, "--now", "1767225600", f],
            &[],
        );
        assert_eq!(code, 0, "{f}: {out} {err}");
        let v: Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(
            (v["verified"].clone(), v["matched_key"].clone()),
            (Value::Bool(true), Value::from(0))
        );
        let (code, out, _) = run(&["inspect", f], &[]);
        assert_eq!(code, 0);
        assert_eq!(
            serde_json::from_str::<Value>(out.trim()).unwrap()["verified"],
            Value::Null
        );
    }
    let f = dir.join("delivered.json");
    let f = f.to_str().unwrap();
    let (code, out, _) = run(&["inspect", "--key", "nope", "--now", "1767225600", f], &[]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (v["error"]["kind"].as_str(), v["error"]["status"].as_u64()),
        (Some("signature_mismatch"), Some(401))
    );
    let (code, out, _) = run(
        &[
            "inspect",
            "--key",
            "new",
            "--key",
            DEMO_KEY,
            "--now",
            "1767225600",
            f,
        ],
        &[],
    );
    assert_eq!(
        (
            code,
            serde_json::from_str::<Value>(out.trim()).unwrap()["matched_key"].clone()
        ),
        (0, Value::from(1))
    );
    let (code, out, _) = run(
        &[
            "inspect",
            "--key",
            DEMO_KEY,
            "--now",
            "1767300000",
            "--max-age",
            "60",
            f,
        ],
        &[],
    );
    assert_eq!(code, 1);
    assert!(out.contains("\"stale\""));
    // Bad arguments: exit 2 with usage on stderr.
    let (code, _, err) = run(&["inspect", "--bogus", f], &[]);
    assert_eq!(code, 2);
    assert!(err.to_lowercase().contains("usage"), "{err}");
    let (code, _, _) = run(&["inspect"], &[]);
    assert_eq!(code, 2);
    let (code, _, _) = run(&["inspect", "--parent-key", "p", f], &[]);
    assert_eq!(code, 2, "--parent-key needs --key");
    let (code, _, _) = run(&["inspect", "/nonexistent/file"], &[]);
    assert_eq!(code, 2);
}
