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
