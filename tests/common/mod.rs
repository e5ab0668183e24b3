//! Shared helpers for the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `../shared/fixtures/captured`, next to the crate root.
///
/// When it is missing, the test fails if `CI=true` (CI always has it) and is otherwise skipped
/// with a notice, so that the crate's tests still run from a copy without `shared/`.
pub fn fixtures() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/fixtures/captured"
    ));
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "CI=true but the captured fixtures are missing at {}",
            dir.display()
        );
    }
    eprintln!(
        "notice: {} is missing; skipping fixture tests",
        dir.display()
    );
    None
}

/// A `SystemTime` at `secs` unix seconds.
pub fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// The signing keys of the fixtures, per SOURCES.md.
pub const ANYMAIL_KEY: &str = "TEST_WEBHOOK_SIGNING_KEY";
pub const SYMFONY_KEY: &str = "key-0p6mqbf74lb20gzq9f4dhpn9rg3zyk26";
pub const MULTI_MAIL_KEY: &str = "foo";

/// A captured HTTP request: head and body split at the first blank line, the content type
/// from the head, the body cut to `Content-Length`. (multi_mail's files start with a capture
/// tool's `HTTP/1.1 200 OK` line instead of a request line.) `None` when `bytes` is not one.
pub fn split_request(bytes: &[u8]) -> Option<(String, Vec<u8>)> {
    let (head_len, sep) = [&b"\r\n\r\n"[..], b"\n\n"]
        .iter()
        .filter_map(|sep| {
            bytes
                .windows(sep.len())
                .position(|w| w == *sep)
                .map(|p| (p, sep.len()))
        })
        .min()?;
    let head = std::str::from_utf8(&bytes[..head_len]).ok()?;
    let mut body = bytes[head_len + sep..].to_vec();
    let header = |name: &str| {
        head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    };
    if let Some(len) = header("content-length").and_then(|n| n.parse::<usize>().ok()) {
        body.truncate(len);
    }
    Some((header("content-type")?, body))
}
