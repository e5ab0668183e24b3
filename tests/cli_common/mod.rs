//! Shared by the `cli_*` tests: run the `mailgun-webhooks` binary, and start the example
//! servers (built by `cargo test --all-features`) as child processes on free loopback ports.
#![allow(dead_code)]

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const DEMO_KEY: &str = "demo-webhook-signing-key";

/// Runs the tool; gives its exit code, stdout and stderr.
pub fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailgun-webhooks"));
    cmd.args(args)
        .env_remove("MAILGUN_API_KEY")
        .env_remove("MAILGUN_REGION")
        .env_remove("MAILGUN_API_BASE")
        .env_remove("MAILGUN_DOMAIN")
        .env_remove("MAILGUN_WEBHOOK_SIGNING_KEY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running example server; killed (by its own pid) when dropped.
pub struct ExampleServer {
    pub name: &'static str,
    pub base: String,
    child: Option<Child>,
}

impl ExampleServer {
    /// Starts `target/debug/examples/<name>` with the demo key, or `None` (with a loud
    /// notice) when the binary is missing or older than the sources; with `CI=true` that
    /// fails the test instead.
    pub fn start(name: &'static str) -> Option<ExampleServer> {
        let bin = example_bin(name);
        let fresh = bin.exists() && !older_than_sources(&bin, name);
        if !fresh {
            let msg = format!(
                "{} is missing or stale: run `cargo test --all-features` (which builds the \
                 example servers) or `cargo build --examples --all-features`",
                bin.display()
            );
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{msg}");
            }
            eprintln!("\n!!!!!!!! NOT TESTED: {msg}\n");
            return None;
        }
        let port = free_port();
        let child = Command::new(&bin)
            .env("MAILGUN_WEBHOOK_SIGNING_KEY", DEMO_KEY)
            .env("PORT", port.to_string())
            .env_remove("REDIS_URL")
            .env_remove("DATABASE_URL")
            // A fresh store (a new SQLite file, say) refuses deliveries signed before it existed,
            // which is what `backfill` sends: these tests are about the tool, not the store.
            .env("MAILGUN_WEBHOOK_STORE", "memory")
            .env_remove("MAILGUN_WEBHOOK_MAX_AGE")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut server = ExampleServer {
            name,
            base: format!("http://127.0.0.1:{port}"),
            child: Some(child),
        };
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(status) = server.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("{name} exited early: {status}");
            }
            assert!(Instant::now() < deadline, "{name} did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(server)
    }

    pub fn tracking_url(&self) -> String {
        format!("{}/webhooks/mailgun", self.base)
    }

    pub fn inbound_url(&self) -> String {
        format!("{}/webhooks/mailgun/inbound", self.base)
    }

    /// Stops the server and gives everything it printed on stdout.
    pub fn stop(mut self) -> String {
        let mut child = self.child.take().unwrap();
        let _ = child.kill();
        let _ = child.wait();
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        out
    }
}

impl Drop for ExampleServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn example_bin(name: &str) -> PathBuf {
    // target/debug/deps/cli_send-HASH -> target/debug/examples/NAME
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    dir.join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// Whether `bin` is older than what the example `name` is built from: the library, the shared
/// example support and the example's own file (not the other examples, which it does not link).
fn older_than_sources(bin: &Path, name: &str) -> bool {
    let built = bin.metadata().and_then(|m| m.modified()).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let own = root.join("examples").join(format!("{name}.rs"));
    let own = own.metadata().and_then(|m| m.modified()).unwrap();
    newest(&root.join("src"))
        .max(newest(&root.join("examples/support")))
        .max(own)
        > built
}

fn newest(dir: &Path) -> std::time::SystemTime {
    let mut t = std::time::UNIX_EPOCH;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            // src/bin is the tool, which the example servers do not link.
            if !path.ends_with("src/bin") {
                t = t.max(newest(&path));
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            t = t.max(entry.metadata().and_then(|m| m.modified()).unwrap());
        }
    }
    t
}
