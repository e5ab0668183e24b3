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
    let bin = dir
        .join("examples")
        .join(format!("inspect{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run `cargo test` (which builds examples)",
        bin.display()
    );
    // `cargo test --test inspect` alone does not rebuild examples: refuse a stale binary.
    let built = bin.metadata().and_then(|m| m.modified()).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let own = root.join("examples/inspect.rs");
    let newest =
        newest_source(&root.join("src")).max(own.metadata().and_then(|m| m.modified()).unwrap());
    assert!(
        built >= newest,
        "{} is older than the sources: run `cargo build --example inspect` or an unfiltered `cargo test`",
        bin.display()
    );
    bin
}

fn newest_source(dir: &Path) -> std::time::SystemTime {
    let mut newest = std::time::UNIX_EPOCH;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        // The tool's other commands (src/bin) are not part of the example.
        let tool_only = path.starts_with(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/bin"))
            && !path.ends_with("inspect.rs")
            && !path.is_dir();
        let t = if tool_only {
            continue;
        } else if path.is_dir() {
            newest_source(&path)
        } else if path.extension().is_some_and(|e| e == "rs") {
            entry.metadata().and_then(|m| m.modified()).unwrap()
        } else {
            continue;
        };
        newest = newest.max(t);
    }
    newest
}

/// Runs inspect; returns its exit code and the JSON it printed.
fn inspect(args: &[&str], file: &Path) -> (i32, Value) {
    let out = Command::new(inspect_bin())
        .args(args)
        .arg(file)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let json = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{}: not one JSON object ({e}): {stdout}", file.display()));
    (out.status.code().unwrap(), json)
}

fn payloads() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/payloads");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.retain(|p| p.is_file() && p.extension().is_some_and(|e| e != "md"));
    files.sort();
    files
}

const FIELDS: &[&str] = &[
    "verified",
    "matched_key",
    "kind",
    "format",
    "event",
    "severity",
    "reason",
    "recipient",
    "message_id",
    "timestamp",
    "token",
    "tags",
    "user_variables",
    "url",
    "delivery_status_code",
    "ip",
    "country",
    "client_name",
    "subject",
    "sender",
    "from",
    "to",
    "message_url",
    "bounced_subject",
    "bounced_message_id",
    "attachments",
];

#[test]
fn every_bundled_payload_verifies_with_the_demo_key() {
    let files = payloads();
    assert!(
        files.len() >= 18,
        "one payload per event type, legacy and route"
    );
    for file in files {
        let (code, out) = inspect(&["--key", DEMO_KEY, "--now", DEMO_NOW], &file);
        assert_eq!(code, 0, "{}: {out}", file.display());
        for field in FIELDS {
            assert!(
                out.get(field).is_some(),
                "{}: no `{field}` in {out}",
                file.display()
            );
        }
        assert_eq!(out["verified"], true);
        assert_eq!(out["matched_key"], 0);
        let name = file.file_name().unwrap().to_str().unwrap();
        let (stem, ext) = name.split_once('.').unwrap();
        let format = match ext {
            "json" => "json",
            "form" => "form",
            _ => "multipart",
        };
        assert_eq!(out["format"], format, "{name}");
        if let Some(route) = stem.strip_prefix("route-") {
            let kind = if route.starts_with("store") {
                "stored"
            } else {
                "inbound"
            };
            assert_eq!(out["kind"], kind, "{name}");
            assert_eq!(out["event"], Value::Null);
        } else {
            assert_eq!(out["kind"], "event", "{name}");
            let event = out["event"].as_str().unwrap();
            let expected = match stem.strip_prefix("legacy-") {
                Some("bounced" | "dropped") => "failed",
                Some(legacy) => legacy,
                None => stem,
            };
            assert!(expected.starts_with(event), "{name} printed event {event}");
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
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("webhook signing key")
    );
    assert!(!out.to_string().contains("not-the-key"));

    let (code, out) = inspect(
        &["--key", DEMO_KEY, "--now", "1767300000", "--max-age", "60"],
        &file,
    );
    assert_eq!((code, out["error"]["kind"].as_str()), (1, Some("stale")));

    // A previous key matches with its index in the --key list.
    let (code, out) = inspect(
        &["--key", "new-key", "--key", DEMO_KEY, "--now", DEMO_NOW],
        &file,
    );
    assert_eq!((code, out["matched_key"].clone()), (0, Value::from(1)));

    let (code, out) = inspect(&[], &file);
    assert_eq!(code, 0);
    assert_eq!(out["verified"], Value::Null);
    assert_eq!(out["matched_key"], Value::Null);
    assert_eq!(out["recipient"], "alice@example.com");
    assert_eq!(out["delivery_status_code"], 250);
    assert_eq!(
        out["message_id"],
        "20251231235950.1.ABCDEF0123456789@mg.example.com"
    );
    assert_eq!(out["user_variables"]["order_id"], "10042");
}

#[test]
fn captured_http_requests_and_content_types() {
    let dir = std::env::temp_dir().join(format!("inspect-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let body =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/payloads/clicked.json"))
            .unwrap();

    let mut request = b"POST /webhooks/mailgun HTTP/1.1\r\nHost: example.com\r\nContent-Type: application/json\r\nUser-Agent: mailgun/treq-16.12.0\r\n\r\n".to_vec();
    request.extend_from_slice(&body);
    let req = dir.join("request.http");
    std::fs::write(&req, &request).unwrap();
    let (code, out) = inspect(&["--key", DEMO_KEY, "--now", DEMO_NOW], &req);
    assert_eq!((code, out["event"].as_str()), (0, Some("clicked")));
    assert_eq!(
        out["url"],
        "https://shop.example.com/orders/10042?utm_source=mailgun"
    );

    let gz = String::from_utf8(request.clone())
        .unwrap()
        .replace("User-Agent", "Content-Encoding: gzip\r\nX");
    std::fs::write(&req, gz).unwrap();
    let (code, out) = inspect(&[], &req);
    assert_eq!(
        (
            code,
            out["error"]["kind"].as_str(),
            out["error"]["status"].as_u64()
        ),
        (1, Some("unsupported_content_encoding"), Some(415))
    );

    let raw = dir.join("body.txt");
    std::fs::write(&raw, &body).unwrap();
    let (code, out) = inspect(&["--content-type", "text/plain"], &raw);
    assert_eq!(
        (
            code,
            out["error"]["kind"].as_str(),
            out["error"]["status"].as_u64()
        ),
        (1, Some("unsupported_content_type"), Some(415))
    );
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
    let Some(dir) = common::fixtures() else {
        return;
    };
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
                let sent = parsed["event-data"]["event"]
                    .as_str()
                    .unwrap()
                    .to_lowercase();
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

#[test]
fn bundled_route_and_legacy_samples() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/payloads");
    let args = ["--key", DEMO_KEY, "--now", DEMO_NOW];
    let (_, out) = inspect(&args, &dir.join("legacy-bounced.multipart"));
    assert_eq!(
        (
            out["severity"].as_str(),
            out["delivery_status_code"].as_u64()
        ),
        (Some("permanent"), Some(550))
    );
    assert_eq!(out["attachments"][0]["filename"], "message.mime");
    assert_eq!(out["user_variables"]["order_id"], "10042");
    let (_, out) = inspect(&args, &dir.join("route-forward.multipart"));
    let files: Vec<(String, u64)> = out["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["safe_filename"].as_str().unwrap().to_owned(),
                a["size"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        files,
        [
            ("invoice.txt".into(), 41),
            ("receipt.csv".into(), 36),
            ("logo.png".into(), 70)
        ]
    );
    assert_eq!(out["attachments"][1]["filename"], "..\\..\\receipt.csv");
    let (_, out) = inspect(&args, &dir.join("route-store-notify.form"));
    assert_eq!(out["attachments"][0]["size"], 4821337);
}

#[test]
fn every_captured_form_multipart_and_http_fixture() {
    let Some(dir) = common::fixtures() else {
        return;
    };
    // (file, expected kind or error kind, key that verifies it)
    let cases: &[(&str, &str, Option<&str>)] = &[
        (
            "anymail-django-anymail/inbound-parsed-basic.multipart",
            "inbound",
            Some(common::ANYMAIL_KEY),
        ),
        (
            "anymail-django-anymail/inbound-parsed-duplicate-content-id-map.multipart",
            "inbound",
            Some(common::ANYMAIL_KEY),
        ),
        (
            "anymail-django-anymail/inbound-parsed-odd-attachment-filenames.multipart",
            "inbound",
            Some(common::ANYMAIL_KEY),
        ),
        (
            "anymail-django-anymail/inbound-parsed-three-attachments-inline-cid.multipart",
            "inbound",
            Some(common::ANYMAIL_KEY),
        ),
        (
            "anymail-django-anymail/inbound-raw-mime.multipart",
            "inbound",
            Some(common::ANYMAIL_KEY),
        ),
        (
            "anymail-django-anymail/inbound-store-notify-attachments-json.multipart",
            "stored",
            Some(common::ANYMAIL_KEY),
        ),
        (
            "anymail-django-anymail/legacy-bounced-550.multipart",
            "event",
            Some(common::ANYMAIL_KEY),
        ),
        (
            "anymail-django-anymail/legacy-clicked-user-variable-name-collisions.multipart",
            "event",
            Some(common::ANYMAIL_KEY),
        ),
        (
            "anymail-django-anymail/legacy-dropped-605-previously-bounced.multipart",
            "event",
            Some(common::ANYMAIL_KEY),
        ),
        (
            "anymail-django-anymail/legacy-shaped-inbound-no-event.multipart",
            "inbound",
            Some(common::ANYMAIL_KEY),
        ),
        (
            "multi_mail/inbound-parsed-valid.multipart",
            "inbound",
            Some(common::MULTI_MAIL_KEY),
        ),
        (
            "multi_mail/inbound-parsed-valid.http.txt",
            "inbound",
            Some(common::MULTI_MAIL_KEY),
        ),
        (
            "multi_mail/inbound-raw-mime-valid.form",
            "inbound",
            Some(common::MULTI_MAIL_KEY),
        ),
        (
            "multi_mail/inbound-raw-mime-valid.http.txt",
            "inbound",
            Some(common::MULTI_MAIL_KEY),
        ),
        ("multi_mail/inbound-parsed-spam.http.txt", "inbound", None),
        (
            "multi_mail/inbound-parsed-missing.http.txt",
            "missing_field",
            None,
        ),
        (
            "cciw/inbound-raw-mime-dashboard-sample-post.form",
            "inbound",
            None,
        ),
        (
            "cciw/legacy-bounced-dashboard-test-webhook.multipart",
            "event",
            None,
        ),
        (
            "learnscripture/legacy-bounced-test-webhook-modified.multipart",
            "event",
            None,
        ),
        (
            "snowplow-enrich/legacy-clicked-test-webhook-2016.form",
            "event",
            None,
        ),
        (
            "snowplow-enrich/legacy-dropped-test-webhook-2017-LF-line-endings.multipart",
            "malformed",
            None,
        ),
    ];
    for &(file, expected, key) in cases {
        let path = dir.join(file);
        let (code, out) = inspect(&[], &path);
        if let Some(err) = out.get("error") {
            assert_eq!((code, err["kind"].as_str()), (1, Some(expected)), "{file}");
            continue;
        }
        assert_eq!(
            (code, out["kind"].as_str()),
            (0, Some(expected)),
            "{file}: {out}"
        );
        if let Some(key) = key {
            // The fixtures were signed years ago: verify with a window reaching back to them.
            let (code, verified) = inspect(&["--key", key, "--max-age", "4000000000"], &path);
            assert_eq!(code, 0, "{file}: {verified}");
            assert_eq!(verified["verified"], true);
            let (code, wrong) =
                inspect(&["--key", "not-the-key", "--max-age", "4000000000"], &path);
            assert_eq!(
                (code, wrong["error"]["kind"].as_str()),
                (1, Some("signature_mismatch")),
                "{file}"
            );
        }
    }
}

#[test]
fn message_view_fields() {
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/payloads");
    let (_, out) = inspect(&[], &bundled.join("route-store-notify.form"));
    assert!(
        out["message_url"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://") && u.contains(".mailgun.net/"))
    );
    let (_, out) = inspect(&[], &bundled.join("route-raw-mime.form"));
    assert_eq!(out["from"], "bob@example.net");
    assert_eq!(out["to"], serde_json::json!(["support@mg.example.com"]));
    let (_, out) = inspect(&[], &bundled.join("delivered.json"));
    assert_eq!(out["bounced_subject"], Value::Null);

    let Some(dir) = common::fixtures() else {
        return;
    };
    // Raw MIME: subject, sender and attachments come from the parsed message.
    let (code, out) = inspect(
        &[],
        &dir.join("cciw/inbound-raw-mime-dashboard-sample-post.form"),
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["subject"], "Re: Sample POST request");
    assert_eq!(out["from"], "bob@cciw.co.uk");
    assert_eq!(out["to"], serde_json::json!(["alice@cciw.co.uk"]));
    let names: Vec<&str> = out["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["filename"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["crabby.gif", "attached_\u{444}\u{430}\u{439}\u{43b}.txt"]
    );
    assert_eq!(out["attachments"][1]["size"], 32);
    assert_eq!(out["attachments"][0]["content_type"], "image/gif");
    // No `subject` field posted: the MIME has it.
    let (_, out) = inspect(
        &[],
        &dir.join("anymail-django-anymail/inbound-raw-mime.multipart"),
    );
    assert_eq!(out["subject"], "Raw MIME test");
    assert_eq!(out["from"], "test@example.org");
    // Parsed route without a `subject` field: `message-headers` has it.
    let (_, out) = inspect(
        &[],
        &dir.join("anymail-django-anymail/inbound-parsed-basic.multipart"),
    );
    assert_eq!(out["subject"], "Test subject");
    // A bounce carrying the bounced message.
    let (_, out) = inspect(
        &[],
        &dir.join("cciw/legacy-bounced-dashboard-test-webhook.multipart"),
    );
    assert_eq!(out["bounced_subject"], "Test bounces webhook");
    assert_eq!(
        out["bounced_message_id"],
        "20130503182626.18666.16540@mailtest.cciw.co.uk"
    );
    // A body starting with `[` is JSON: not an object, so 400 malformed (not a 413 form).
    let (code, out) = inspect(&[], &dir.join("signature-vectors/vectors.json"));
    assert_eq!(code, 1);
    assert_eq!(out["error"]["kind"], "malformed");
    assert_eq!(out["error"]["status"], 400);
}
