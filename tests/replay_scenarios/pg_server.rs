//! A PostgreSQL server of a test's own, from Debian's `postgresql` package (`initdb`, `pg_ctl`),
//! for the tests that need one when `DATABASE_URL` is unset, and for the tests that kill theirs.
//! Included with `#[path]` by the PostgreSQL tests only.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::replay_scenarios::unique_token;

/// A PostgreSQL server of this test's own (so it can be killed), from `PG_BIN_DIR` or Debian's
/// `/usr/lib/postgresql/*/bin`; run as the `postgres` user when the test runs as root.
pub struct OwnServer {
    pub bin: PathBuf,
    pub dir: PathBuf,
    pub port: u16,
}

impl OwnServer {
    pub fn bin_dir() -> Option<PathBuf> {
        if let Ok(d) = std::env::var("PG_BIN_DIR") {
            return Some(PathBuf::from(d));
        }
        let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("pg_ctl").exists())
            .collect();
        dirs.sort();
        dirs.pop()
    }

    fn command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        // PostgreSQL refuses to run as root; std has no geteuid, `id -u` tells.
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0"));
        if root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    pub fn start_new() -> Option<OwnServer> {
        let bin = Self::bin_dir()?;
        let dir = std::env::temp_dir().join(format!("mgw-pg-own-{}", unique_token()));
        std::fs::create_dir_all(&dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = OwnServer { bin, dir, port };
        let _ = Command::new("chown")
            .args(["-R", "postgres"])
            .arg(&server.dir)
            .status();
        let ok = server
            .command("initdb")
            .arg("-D")
            .arg(server.dir.join("data"))
            .args(["-U", "postgres", "--auth=trust", "--no-sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "initdb failed");
        server.start();
        Some(server)
    }

    fn pg_ctl(&self, args: &[&str]) -> bool {
        let data = self.dir.join("data");
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off",
            self.port,
            data.display()
        );
        self.command("pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(self.dir.join("log"))
            .args(["-o", &opts])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    pub fn start(&self) {
        assert!(
            self.pg_ctl(&["-w", "-t", "30", "start"]),
            "postgres did not start"
        );
    }

    /// Kills the server without a clean shutdown (`immediate`: every backend is killed).
    #[allow(dead_code)] // used by exactly_once_postgres only
    pub fn kill(&self) {
        assert!(
            self.pg_ctl(&["-w", "-m", "immediate", "stop"]),
            "postgres did not stop"
        );
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["-w", "-m", "immediate", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The server a test runs on: `DATABASE_URL`, or one of its own.
pub enum TestPg {
    Shared(String),
    Own(OwnServer),
}

impl TestPg {
    pub fn url(&self) -> String {
        match self {
            TestPg::Shared(url) => url.clone(),
            TestPg::Own(server) => server.url(),
        }
    }
}

/// `DATABASE_URL` when it is a postgres URL, else a server of the test's own (Debian's
/// `postgresql` binaries); else `None` with a line `cargo test` shows, and a failure under
/// `CI=true`.
pub fn database_url(test: &str) -> Option<TestPg> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => return Some(TestPg::Shared(url)),
        _ => {}
    }
    if let Some(server) = OwnServer::bin_dir().and_then(|_| OwnServer::start_new()) {
        return Some(TestPg::Own(server));
    }
    assert!(
        !in_ci(),
        "{test}: no DATABASE_URL and no PostgreSQL binaries (CI=true): source .ci/postgres.sh"
    );
    use std::io::Write;
    // Written past the harness's capture, so that a plain `cargo test` shows it.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: no DATABASE_URL and no PostgreSQL binaries (apt-get install postgresql)"
    );
    None
}
