//! Runs `examples/save_bounces.rs` over real HTTP with captured bounces and inbound messages,
//! re-signed with a test key (their own keys are unknown or differ), and checks the files it
//! writes.
#![cfg(feature = "axum")]

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mailgun_webhooks::testing::token;
use mailgun_webhooks::{InboundMessage, Limits, Payload, SigningKey, parse};

const KEY: &str = "save-bounces-test-key";

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    /// Stops the server and returns what it logged on stdout.
    fn finish(mut self) -> String {
        let _ = self.child.kill();
        let mut out = String::new();
        if let Some(mut stdout) = self.child.stdout.take() {
            let _ = stdout.read_to_string(&mut out);
        }
        out
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn example_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir
        .join("examples")
        .join(format!("save_bounces{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run `cargo test --features axum` (which builds examples)",
        bin.display()
    );
    bin
}

fn start(save_dir: &Path) -> Server {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(example_bin())
        .env("MAILGUN_WEBHOOK_SIGNING_KEY", KEY)
        .env("PORT", port.to_string())
        // The captures were signed years ago.
        .env("MAILGUN_WEBHOOK_MAX_AGE", "4000000000")
        .env("SAVE_DIR", save_dir)
        // A fresh SQLite store would refuse deliveries signed before it existed.
        .env("MAILGUN_WEBHOOK_STORE", "memory")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env_remove("REDIS_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let server = Server { child, port };
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "save_bounces did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

/// POSTs `body` and returns the status code.
fn post(port: u16, path: &str, content_type: &str, body: &[u8]) -> u16 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    response
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {response:?}"))
}

/// The fixture's content type and body, with a fresh token and a signature by [`KEY`].
fn resigned(dir: &Path, file: &str) -> (String, Vec<u8>, Payload) {
    let body = std::fs::read(dir.join(file)).unwrap();
    let ct = if body.starts_with(b"--") {
        let line = body.split(|&b| b == b'\n').next().unwrap();
        let boundary = String::from_utf8_lossy(&line[2..]).trim_end().to_owned();
        format!("multipart/form-data; boundary={boundary}")
    } else {
        "application/x-www-form-urlencoded".to_owned()
    };
    let unverified = parse(&ct, &body, &Limits::default()).unwrap();
    let sig = unverified.signature().clone();
    let fresh = token();
    let signed = SigningKey::new(KEY).sign(sig.timestamp(), &fresh);
    let text = String::from_utf8_lossy(&body).into_owned();
    assert!(text.contains(sig.token()) && text.contains(sig.signature()));
    let body = text
        .replace(sig.token(), &fresh)
        .replace(sig.signature(), &signed)
        .into_bytes();
    let payload = parse(&ct, &body, &Limits::default())
        .unwrap()
        .into_payload_unverified();
    (ct, body, payload)
}

/// Every file under `dir`, recursively: (path relative to `dir`, bytes).
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            assert!(!meta.file_type().is_symlink(), "{}", p.display());
            if meta.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out
}

/// The files written since `before`, in the one new delivery directory.
fn new_files(root: &Path, before: usize) -> Vec<(String, Vec<u8>)> {
    let all = files_under(root);
    let mut dirs: Vec<PathBuf> = all
        .iter()
        .map(|(p, _)| p.parent().unwrap().into())
        .collect();
    dirs.sort();
    dirs.dedup();
    assert_eq!(
        dirs.len(),
        before + 1,
        "one new directory per delivery: {dirs:?}"
    );
    let newest = dirs
        .iter()
        .find(|d| {
            std::fs::read_dir(root.join(d))
                .unwrap()
                .all(|e| e.unwrap().metadata().unwrap().is_file())
                && !SEEN.with(|s| s.borrow().contains(*d))
        })
        .unwrap()
        .clone();
    SEEN.with(|s| s.borrow_mut().push(newest.clone()));
    let mut files: Vec<(String, Vec<u8>)> = all
        .into_iter()
        .filter(|(p, _)| p.parent() == Some(newest.as_path()))
        .map(|(p, b)| (p.file_name().unwrap().to_string_lossy().into_owned(), b))
        .collect();
    files.sort();
    files
}

thread_local! {
    static SEEN: std::cell::RefCell<Vec<PathBuf>> = const { std::cell::RefCell::new(Vec::new()) };
}

#[test]
fn saves_bounced_messages_and_attachments_under_safe_names() {
    let Some(fixtures) = common::fixtures() else {
        return;
    };
    let root = std::env::temp_dir().join(format!("save-bounces-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let server = start(&root);
    let mut deliveries = 0;

    // Bounces: the bounced message is saved byte for byte as message.mime.
    for file in [
        "cciw/legacy-bounced-dashboard-test-webhook.multipart",
        "learnscripture/legacy-bounced-test-webhook-modified.multipart",
    ] {
        let (ct, body, payload) = resigned(&fixtures, file);
        let event = payload.into_event().unwrap();
        let mime = event.bounced_message().unwrap();
        assert_eq!(
            post(server.port, "/webhooks/mailgun", &ct, &body),
            200,
            "{file}"
        );
        let files = new_files(&root, deliveries);
        deliveries += 1;
        assert_eq!(files.len(), 1, "{file}: {files:?}");
        assert_eq!(files[0].0, "message.mime");
        assert_eq!(files[0].1, mime.raw_mime().unwrap(), "{file}");
        // Replayed: 200 without running the handler again, nothing new written.
        assert_eq!(post(server.port, "/webhooks/mailgun", &ct, &body), 200);
        assert_eq!(files_under(&root).len(), deliveries);
    }

    // Inbound: every attachment, decoded, under a safe and unique name.
    let inbound = [
        "anymail-django-anymail/inbound-parsed-odd-attachment-filenames.multipart",
        "anymail-django-anymail/inbound-parsed-three-attachments-inline-cid.multipart",
        "multi_mail/inbound-parsed-valid.multipart",
        "multi_mail/inbound-raw-mime-valid.form",
        "cciw/inbound-raw-mime-dashboard-sample-post.form",
    ];
    for file in inbound {
        let (ct, body, payload) = resigned(&fixtures, file);
        let msg: InboundMessage = payload.into_inbound().unwrap();
        let expected: Vec<Vec<u8>> = msg
            .message()
            .unwrap()
            .attachments()
            .iter()
            .map(|a| a.data().to_vec())
            .collect();
        assert!(!expected.is_empty(), "{file}");
        assert_eq!(
            post(server.port, "/webhooks/mailgun/inbound", &ct, &body),
            200,
            "{file}"
        );
        let files = new_files(&root, deliveries);
        deliveries += 1;
        assert_eq!(files.len(), expected.len(), "{file}: {files:?}");
        let mut names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        for name in &names {
            assert!(
                !name.is_empty()
                    && !name.starts_with('.')
                    && !name.contains(['/', '\\', ':'])
                    && !name.contains(".."),
                "{file}: {name:?}"
            );
        }
        names.dedup();
        assert_eq!(names.len(), files.len(), "{file}: names collide");
        let mut saved: Vec<Vec<u8>> = files.into_iter().map(|(_, b)| b).collect();
        let mut expected = expected;
        saved.sort();
        expected.sort();
        assert_eq!(saved, expected, "{file}");
    }
    // Nothing was written outside the directory.
    let outside = std::fs::read_dir(root.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n == "etc" || n == "passwd" || n.starts_with("path")
        })
        .count();
    assert_eq!(outside, 0);
    // The log names the recipient and the reason, and nothing of the message.
    let log = server.finish();
    assert!(
        log.contains("recipient=alice@example.com reason=bounce"),
        "{log}"
    );
    assert!(log.contains("inbound recipient="), "{log}");
    for private in ["Test bounces webhook", "bob@", "crabby", "Sample POST"] {
        assert!(!log.contains(private), "{private} logged: {log}");
    }
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn the_odd_names_become_distinct_files() {
    let Some(fixtures) = common::fixtures() else {
        return;
    };
    let (_, _, payload) = resigned(
        &fixtures,
        "anymail-django-anymail/inbound-parsed-odd-attachment-filenames.multipart",
    );
    let msg = payload.into_inbound().unwrap();
    let originals: Vec<&str> = msg
        .attachments
        .iter()
        .map(|a| a.filename().unwrap_or_default())
        .collect();
    assert_eq!(
        originals,
        ["", "path\\", ".", "path\\.", ".", "..", "path\\..", ".."]
    );
}
