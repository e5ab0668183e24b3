//! Runs the `inspect` example end to end, as a user would (DESIGN.md §6).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const DEMO_KEY: &str = "demo-webhook-signing-key";
const DEMO_NOW: &str = "1767225600";

/// The example binary, which `cargo test` builds next to the test binaries.
fn inspect_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir.join("examples").join(format!("inspect{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.exists(), "{} is missing: run `cargo test` (which builds examples)", bin.display());
    bin
}

/// Runs inspect; returns its exit code and the JSON it printed.
fn inspect(args: &[&str], file: &Path) -> (i32, Value) {
    let out = Command::new(inspect_bin()).args(args).arg(file).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let json = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{}: not one JSON object ({e}): {stdout}", file.display()));
    (out.status.code().unwrap(), json)
}

fn payloads() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/payloads");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.retain(|p| p.is_file() && p.extension().is_some_and(|e| e != "md"));
    files.sort();
    files
}

const FIELDS: &[&str] = &[
    "verified", "matched_key", "kind", "format", "event", "severity", "reason", "recipient",
    "message_id", "timestamp", "token", "tags", "user_variables", "url", "delivery_status_code",
    "ip", "country", "client_name", "subject", "sender", "attachments",
];

#[test]
fn every_bundled_payload_verifies_with_the_demo_key() {
    let files = payloads();
    assert!(files.len() >= 13, "one payload per event type");
    for file in files {
        let (code, out) = inspect(&["--key", DEMO_KEY, "--now", DEMO_NOW], &file);
        assert_eq!(code, 0, "{}: {out}", file.display());
        for field in FIELDS {
            assert!(out.get(field).is_some(), "{}: no `{field}` in {out}", file.display());
        }
        assert_eq!(out["verified"], true);
        assert_eq!(out["matched_key"], 0);
        let stem = file.file_stem().unwrap().to_str().unwrap();
        if stem.ends_with(".json") || file.extension().is_some_and(|e| e == "json") {
            assert_eq!(out["format"], "json");
            assert_eq!(out["kind"], "event");
            let event = out["event"].as_str().unwrap();
            assert!(stem.starts_with(event), "{stem} printed event {event}");
        }
    }
}

#[test]
fn wrong_key_stale_and_parse_only() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/payloads/delivered.json");
    let (code, out) = inspect(&["--key", "not-the-key", "--now", DEMO_NOW], &file);
    assert_eq!(code, 1);
    assert_eq!(out["error"]["kind"], "signature_mismatch");
    assert_eq!(out["error"]["status"], 401);
    assert!(out["error"]["message"].as_str().unwrap().contains("webhook signing key"));
    assert!(!out.to_string().contains("not-the-key"));

    let (code, out) = inspect(&["--key", DEMO_KEY, "--now", "1767300000", "--max-age", "60"], &file);
    assert_eq!((code, out["error"]["kind"].as_str()), (1, Some("stale")));

    // A previous key matches with its index in the --key list.
    let (code, out) = inspect(&["--key", "new-key", "--key", DEMO_KEY, "--now", DEMO_NOW], &file);
    assert_eq!((code, out["matched_key"].clone()), (0, Value::from(1)));

    let (code, out) = inspect(&[], &file);
    assert_eq!(code, 0);
    assert_eq!(out["verified"], Value::Null);
    assert_eq!(out["matched_key"], Value::Null);
    assert_eq!(out["recipient"], "alice@example.com");
    assert_eq!(out["delivery_status_code"], 250);
    assert_eq!(out["message_id"], "20251231235950.1.ABCDEF0123456789@mg.example.com");
    assert_eq!(out["user_variables"]["order_id"], "10042");
}

#[test]
fn captured_http_requests_and_content_types() {
    let dir = std::env::temp_dir().join(format!("inspect-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let body = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/payloads/clicked.json")).unwrap();

    let mut request = b"POST /webhooks/mailgun HTTP/1.1\r\nHost: example.com\r\nContent-Type: application/json\r\nUser-Agent: mailgun/treq-16.12.0\r\n\r\n".to_vec();
    request.extend_from_slice(&body);
    let req = dir.join("request.http");
    std::fs::write(&req, &request).unwrap();
    let (code, out) = inspect(&["--key", DEMO_KEY, "--now", DEMO_NOW], &req);
    assert_eq!((code, out["event"].as_str()), (0, Some("clicked")));
    assert_eq!(out["url"], "https://shop.example.com/orders/10042?utm_source=mailgun");

    let gz = String::from_utf8(request.clone()).unwrap().replace("User-Agent", "Content-Encoding: gzip\r\nX");
    std::fs::write(&req, gz).unwrap();
    let (code, out) = inspect(&[], &req);
    assert_eq!((code, out["error"]["kind"].as_str(), out["error"]["status"].as_u64()), (1, Some("unsupported_content_encoding"), Some(415)));

    let raw = dir.join("body.txt");
    std::fs::write(&raw, &body).unwrap();
    let (code, out) = inspect(&["--content-type", "text/plain"], &raw);
    assert_eq!((code, out["error"]["kind"].as_str(), out["error"]["status"].as_u64()), (1, Some("unsupported_content_type"), Some(415)));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_arguments_exit_2() {
    let out = Command::new(inspect_bin()).arg("--bogus").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(inspect_bin()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage"));
}

#[test]
fn every_captured_json_fixture() {
    let Some(dir) = common::fixtures() else { return };
    let mut checked = 0;
    for sub in std::fs::read_dir(&dir).unwrap() {
        let sub = sub.unwrap().path();
        if !sub.is_dir() || sub.ends_with("management-api") || sub.ends_with("signature-vectors") {
            continue;
        }
        for f in std::fs::read_dir(&sub).unwrap() {
            let file = f.unwrap().path();
            if file.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let parsed: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
            let (code, out) = inspect(&[], &file);
            if parsed.get("event-data").is_some() && parsed.get("signature").is_some() {
                assert_eq!(code, 0, "{}: {out}", file.display());
                let sent = parsed["event-data"]["event"].as_str().unwrap().to_lowercase();
                assert_eq!(out["event"], sent, "{}", file.display());
                assert_eq!(out["token"], parsed["signature"]["token"]);
                // With the fixture's own key, at its signed time, it verifies.
                let ts = parsed["signature"]["timestamp"].as_str().unwrap();
                let name = file.to_string_lossy();
                let key = if name.contains("anymail") {
                    Some(common::ANYMAIL_KEY)
                } else if name.contains("symfony") {
                    Some(common::SYMFONY_KEY)
                } else {
                    None
                };
                if let Some(key) = key {
                    let (code, out) = inspect(&["--key", key, "--now", ts], &file);
                    let expect_ok = !name.contains("bad-signature");
                    assert_eq!(code == 0, expect_ok, "{name}: {out}");
                }
            } else {
                // Bare event-data objects and signature blocks are not webhook bodies.
                assert_eq!(code, 1, "{}: {out}", file.display());
                assert_eq!(out["error"]["status"], 400);
            }
            checked += 1;
        }
    }
    assert!(checked >= 50, "only {checked} JSON fixtures found");
}
