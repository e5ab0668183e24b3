//! The load and fault harness: real servers (the example servers, as processes), a real Redis,
//! real HTTP on loopback, and a mixed stream of requests with known ground truth.
//!
//! ```text
//! cargo build --release --examples --features axum,actix-web,hyper,redis
//! target/release/examples/loadgen --setup shared --requests 200000 --connections 256 --fault restart-empty
//! ```
//!
//! Setups: `memory` (one axum server with `MemoryReplayStore`) and `shared` (the axum, actix-web
//! and hyper servers sharing one Redis, requests spread round-robin). Faults, on `shared`,
//! between 30 % and 55 % of the requests (at least 2 s; the load goes on for 5 s after it, past
//! `--requests` if need be): `redis-kill` (SIGKILL, restarted with its data: AOF
//! with `appendfsync always`), `redis-pause` (SIGSTOP / SIGCONT), `restart-empty` (killed and
//! restarted without its data), `flushall`, `server-kill` (one server SIGKILLed and restarted).
//!
//! The stream mixes fresh deliveries (JSON, urlencoded and multipart; unique tokens), exact
//! replays, replays of a triple with another body, forgeries, stale and future signatures,
//! malformed bodies, a wrong content type, oversize bodies, the same fresh delivery sent on two
//! connections at once, and hang-ups while the handler runs. Each server appends what its
//! handler ran to a ledger (`MAILGUN_WEBHOOK_LEDGER`); at the end fresh deliveries that got a
//! retryable answer (or none) are retried, as Mailgun would, and the harness joins its record
//! of answers with the ledger:
//!
//! - **false accepts**: the handler ran a payload that is not a fresh delivery's own;
//! - **lost**: a fresh delivery never processed whose last answer was not retryable;
//! - **double processing**: a token run more than once, with the same payload (at-least-once
//!   after a crash) or with distinct payloads (a replay that got through).
//!
//! Flags: `--setup memory|shared`, `--fault none|redis-kill|redis-pause|restart-empty|flushall|
//! server-kill`, `--requests N` (default 20,000), `--connections N` (64), `--max-secs N` (600),
//! `--command-timeout-ms N` (the Redis store's, default 250; give debug builds 1000), `--rate N`
//! (requests per second, open loop; default 0: as fast as the connections go, where latency
//! is mostly queueing on a saturated machine).
//!
//! It exits 1 on any false accept, loss or double processing of distinct payloads. Bounded:
//! `--requests`, and `--max-secs` for the whole run (default 600). Loopback only; every process
//! it starts is killed when it ends.
// Examples fail by panicking where a test would: unwrap, expect and panic report setup errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use mailgun_webhooks::SigningKey;
use tokio::io::AsyncWriteExt;

const KEY: &str = "loadgen-signing-key";
const PATH: &str = "/webhooks/mailgun";
/// The servers' body limit (oversize requests are just over it).
const MAX_BODY: usize = 256 << 10;
/// The servers' `max_skew` (seconds) and the Redis store's clock margin (ms): after a loss,
/// deliveries signed more than 2.5 s later are provable.
const MAX_SKEW: u64 = 2;
const CLOCK_MARGIN_MS: u64 = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setup {
    Memory,
    Shared,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    RedisKill,
    RedisPause,
    RestartEmpty,
    FlushAll,
    ServerKill,
}

impl Fault {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "none" => Fault::None,
            "redis-kill" => Fault::RedisKill,
            "redis-pause" => Fault::RedisPause,
            "restart-empty" => Fault::RestartEmpty,
            "flushall" => Fault::FlushAll,
            "server-kill" => Fault::ServerKill,
            _ => return None,
        })
    }
}

struct Args {
    setup: Setup,
    fault: Fault,
    requests: usize,
    connections: usize,
    max_secs: u64,
    command_timeout_ms: u64,
    /// Requests per second to send at (open loop), or 0 for as fast as the connections go.
    rate: u64,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        setup: Setup::Memory,
        fault: Fault::None,
        requests: 20_000,
        connections: 64,
        max_secs: 600,
        command_timeout_ms: 250,
        rate: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--setup" => {
                a.setup = match value.as_str() {
                    "memory" => Setup::Memory,
                    "shared" => Setup::Shared,
                    _ => return Err(format!("--setup memory|shared, not {value}")),
                }
            }
            "--fault" => a.fault = Fault::parse(&value).ok_or(format!("unknown fault {value}"))?,
            "--requests" => a.requests = value.parse().map_err(|_| "--requests N")?,
            "--connections" => a.connections = value.parse().map_err(|_| "--connections N")?,
            "--max-secs" => a.max_secs = value.parse().map_err(|_| "--max-secs N")?,
            "--rate" => {
                a.rate = value
                    .parse()
                    .map_err(|_| "--rate N (requests per second)")?
            }
            "--command-timeout-ms" => {
                a.command_timeout_ms = value.parse().map_err(|_| "--command-timeout-ms N")?;
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if a.fault != Fault::None && a.setup != Setup::Shared {
        return Err("faults run on --setup shared".into());
    }
    a.requests = a.requests.clamp(100, 1_000_000);
    a.connections = a.connections.clamp(1, 1024);
    Ok(a)
}

// ----- processes -----

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_port(port: u16, within: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

struct Redis {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Redis {
    fn start(dir: &Path) -> Result<Self, String> {
        let bin = std::env::var_os("REDIS_SERVER_BIN")
            .filter(|b| !b.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::split_paths(&std::env::var_os("PATH")?)
                    .map(|p| p.join("redis-server"))
                    .find(|p| p.is_file())
            })
            .ok_or("no redis-server (set REDIS_SERVER_BIN or install Debian's redis-server)")?;
        let dir = dir.join("redis");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let mut r = Redis {
            bin,
            dir,
            port: free_port(),
            child: None,
        };
        r.run()?;
        Ok(r)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Starts it with AOF (`appendfsync always`) in its directory.
    fn run(&mut self) -> Result<(), String> {
        let child = Command::new(&self.bin)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .args(["--daemonize", "no", "--maxmemory-policy", "noeviction"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("redis-server: {e}"))?;
        self.child = Some(child);
        if wait_port(self.port, Duration::from_secs(10)) {
            Ok(())
        } else {
            Err("redis-server did not start".into())
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn wipe(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::create_dir_all(&self.dir);
    }

    fn signal(&self, sig: &str) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill")
                .args([sig, &c.id().to_string()])
                .status();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.signal("-CONT");
        self.kill();
    }
}

struct Server {
    name: &'static str,
    bin: PathBuf,
    port: u16,
    env: Vec<(String, String)>,
    child: Option<Child>,
}

impl Server {
    fn run(&mut self) -> Result<(), String> {
        let mut cmd = Command::new(&self.bin);
        cmd.env("PORT", self.port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.child = Some(
            cmd.spawn()
                .map_err(|e| format!("{}: {e} (build the examples first)", self.name))?,
        );
        if wait_port(self.port, Duration::from_secs(20)) {
            Ok(())
        } else {
            Err(format!("{} did not start", self.name))
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

// ----- the stream -----

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Class {
    Fresh,
    Replay,
    OtherBody,
    Forged,
    Stale,
    Future,
    Malformed,
    WrongType,
    Oversize,
    TwoConnections,
    HangUp,
}

impl Class {
    fn of(i: usize) -> Class {
        // A fixed mix over 100 slots, spread by a multiplicative hash of the index.
        let slot = (i.wrapping_mul(2_654_435_761) >> 8) % 100;
        match slot {
            0..=59 => Class::Fresh,
            60..=67 => Class::Replay,
            68..=75 => Class::OtherBody,
            76..=81 => Class::Forged,
            82..=84 => Class::Stale,
            85..=87 => Class::Future,
            88..=90 => Class::Malformed,
            91..=92 => Class::WrongType,
            93 => Class::Oversize,
            94..=96 => Class::TwoConnections,
            _ => Class::HangUp,
        }
    }
}

/// A fresh delivery: its token, its one legitimate payload (the recipient names it), and the
/// body to resend it with.
struct Delivery {
    ts: u64,
    token: String,
    recipient: String,
    content_type: String,
    body: Bytes,
    /// Every status it was answered with (0: no answer).
    answers: Mutex<Vec<u16>>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn token_for(run: u64, i: usize) -> String {
    format!("lg{run:x}x{i:08}")
}

fn json(ts: u64, token: &str, signature: &str, recipient: &str) -> (String, Bytes) {
    let body = format!(
        r#"{{"signature":{{"timestamp":"{ts}","token":"{token}","signature":"{signature}"}},"event-data":{{"event":"delivered","id":"{token}","timestamp":{ts}.5,"recipient":"{recipient}","message":{{"headers":{{"message-id":"{token}@loadgen"}}}}}}}}"#
    );
    ("application/json".into(), Bytes::from(body))
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A legacy tracking event: urlencoded, or multipart with a 2 KiB attachment.
fn form(ts: u64, token: &str, recipient: &str, multipart: bool) -> (String, Bytes) {
    let sig = SigningKey::new(KEY).sign(&ts.to_string(), token);
    let fields = [
        ("event", "delivered".to_owned()),
        ("recipient", recipient.to_owned()),
        ("domain", "loadgen.example".to_owned()),
        ("Message-Id", format!("<{token}@loadgen>")),
        ("timestamp", ts.to_string()),
        ("token", token.to_owned()),
        ("signature", sig),
    ];
    if !multipart {
        let body = fields
            .iter()
            .map(|(n, v)| format!("{}={}", enc(n), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        return (
            "application/x-www-form-urlencoded".into(),
            Bytes::from(body),
        );
    }
    let b = format!("lg-{token}");
    let mut body = Vec::new();
    for (n, v) in &fields {
        body.extend_from_slice(
            format!("--{b}\r\nContent-Disposition: form-data; name=\"{n}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"attachment-1\"; \
             filename=\"a.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend((0..2048u32).map(|i| (i % 251) as u8));
    body.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
    (
        format!("multipart/form-data; boundary={b}"),
        Bytes::from(body),
    )
}

fn fresh(ts: u64, token: String, i: usize, hang: bool) -> Delivery {
    let recipient = if hang {
        format!("hang-{i}@loadgen.example")
    } else {
        format!("f-{i}@loadgen.example")
    };
    let sig = SigningKey::new(KEY).sign(&ts.to_string(), &token);
    let (content_type, body) = match i % 10 {
        8 if !hang => form(ts, &token, &recipient, false),
        9 if !hang => form(ts, &token, &recipient, true),
        _ => json(ts, &token, &sig, &recipient),
    };
    Delivery {
        ts,
        token,
        recipient,
        content_type,
        body,
        answers: Mutex::new(Vec::new()),
    }
}

// ----- the record of answers -----

#[derive(Default)]
struct Record {
    /// (class, status, latency, sent at since start)
    answers: Vec<(Class, u16, Duration, Duration)>,
    /// Answers by class, status and body (`ok`, `duplicate`, or the error's name).
    named: HashMap<(Class, u16, String), usize>,
    /// Payloads that must never run: (token, recipient) of replays with other bodies, forgeries,
    /// stale and future signatures.
    never: Vec<(String, String)>,
}

struct Shared {
    client: Client<HttpConnector, Full<Bytes>>,
    servers: Vec<SocketAddr>,
    run: u64,
    next: AtomicUsize,
    total: usize,
    start: Instant,
    deadline: Instant,
    sent: Mutex<Vec<Arc<Delivery>>>,
    /// Fresh deliveries answered 200: the server has seen them, so a replay or another body
    /// under their triple comes second (an attacker who is *first* with a captured triple
    /// wins by design: the triple binds to the first payload).
    processed: Mutex<Vec<Arc<Delivery>>>,
    record: Mutex<Record>,
    seed: AtomicUsize,
    stop: AtomicBool,
    /// Milliseconds since `start` until which the load goes on past `total` (so that there is
    /// load for a while after a fault ends); 0 for none.
    extend_until_ms: AtomicUsize,
}

impl Shared {
    fn server(&self, i: usize) -> SocketAddr {
        self.servers[i % self.servers.len()]
    }

    /// POSTs a body; `0` when there was no answer (connection refused or reset).
    async fn post(&self, addr: SocketAddr, content_type: &str, body: Bytes) -> (u16, Duration) {
        let (status, _, took) = self.post_named(addr, content_type, body).await;
        (status, took)
    }

    /// [`post`](Self::post), with the response body.
    async fn post_named(
        &self,
        addr: SocketAddr,
        content_type: &str,
        body: Bytes,
    ) -> (u16, String, Duration) {
        let started = Instant::now();
        let req = Request::post(format!("http://{addr}{PATH}"))
            .header(header::CONTENT_TYPE, content_type)
            .body(Full::new(body))
            .unwrap();
        let (status, name) =
            match tokio::time::timeout(Duration::from_secs(10), self.client.request(req)).await {
                Ok(Ok(resp)) => {
                    let status = resp.status().as_u16();
                    let body = resp.into_body().collect().await;
                    let name = body
                        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
                        .unwrap_or_default();
                    (status, name)
                }
                _ => (0, "no answer".to_owned()),
            };
        (status, name, started.elapsed())
    }

    fn note(&self, class: Class, status: u16, took: Duration, sent_at: Duration) {
        self.note_named(class, status, String::new(), took, sent_at);
    }

    fn note_named(&self, class: Class, status: u16, name: String, took: Duration, at: Duration) {
        let mut r = self.record.lock().unwrap();
        r.answers.push((class, status, took, at));
        *r.named.entry((class, status, name)).or_default() += 1;
    }

    fn never(&self, token: &str, recipient: &str) {
        self.record
            .lock()
            .unwrap()
            .never
            .push((token.to_owned(), recipient.to_owned()));
    }

    fn random(&self) -> usize {
        let x = self
            .seed
            .fetch_add(0x9E37_79B9, Ordering::Relaxed)
            .wrapping_mul(2_654_435_761);
        x ^ (x >> 15)
    }

    /// An earlier fresh delivery, for replays.
    fn earlier(&self) -> Option<Arc<Delivery>> {
        let sent = self.processed.lock().unwrap();
        if sent.is_empty() {
            return None;
        }
        Some(sent[self.random() % sent.len()].clone())
    }

    async fn one(&self, i: usize) {
        let class = Class::of(i);
        let addr = self.server(i);
        let sent_at = self.start.elapsed();
        let now = unix_now();
        let key = SigningKey::new(KEY);
        match class {
            Class::Fresh | Class::TwoConnections | Class::HangUp => {
                let d = Arc::new(fresh(
                    now,
                    token_for(self.run, i),
                    i,
                    class == Class::HangUp,
                ));
                match class {
                    Class::Fresh => {
                        let (s, n, t) =
                            self.post_named(addr, &d.content_type, d.body.clone()).await;
                        d.answers.lock().unwrap().push(s);
                        self.note_named(class, s, n, t, sent_at);
                    }
                    Class::TwoConnections => {
                        let other = self.server(i + 1);
                        let (a, b) = tokio::join!(
                            self.post(addr, &d.content_type, d.body.clone()),
                            self.post(other, &d.content_type, d.body.clone())
                        );
                        d.answers.lock().unwrap().extend([a.0, b.0]);
                        self.note(class, a.0, a.1, sent_at);
                        self.note(class, b.0, b.1, sent_at);
                    }
                    _ => {
                        // Sent, then the connection closed while the handler sleeps.
                        if let Ok(mut s) = tokio::net::TcpStream::connect(addr).await {
                            let head = format!(
                                "POST {PATH} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {}\r\n\
                                 Content-Length: {}\r\n\r\n",
                                d.content_type,
                                d.body.len()
                            );
                            let _ = s.write_all(head.as_bytes()).await;
                            let _ = s.write_all(&d.body).await;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        d.answers.lock().unwrap().push(0);
                        self.note(class, 0, Duration::ZERO, sent_at);
                    }
                }
                if d.answers.lock().unwrap().contains(&200) {
                    self.processed.lock().unwrap().push(d.clone());
                }
                self.sent.lock().unwrap().push(d);
            }
            Class::Replay => {
                let Some(d) = self.earlier() else { return };
                let (s, n, t) = self.post_named(addr, &d.content_type, d.body.clone()).await;
                self.note_named(class, s, n, t, sent_at);
            }
            Class::OtherBody => {
                let Some(d) = self.earlier() else { return };
                let recipient = format!("x-{i}@attacker.example");
                let sig = key.sign(&d.ts.to_string(), &d.token);
                let (ct, body) = json(d.ts, &d.token, &sig, &recipient);
                self.never(&d.token, &recipient);
                let (s, n, t) = self.post_named(addr, &ct, body).await;
                self.note_named(class, s, n, t, sent_at);
            }
            Class::Forged | Class::Stale | Class::Future => {
                let token = token_for(self.run, i);
                let ts = match class {
                    Class::Stale => now - 600 - 5,
                    Class::Future => now + MAX_SKEW + 30,
                    _ => now,
                };
                let sig = if class == Class::Forged {
                    format!("{:064x}", self.random())
                } else {
                    key.sign(&ts.to_string(), &token)
                };
                let recipient = format!("bad-{i}@attacker.example");
                self.never(&token, &recipient);
                let (ct, body) = json(ts, &token, &sig, &recipient);
                let (s, t) = self.post(addr, &ct, body).await;
                self.note(class, s, t, sent_at);
            }
            Class::Malformed | Class::WrongType | Class::Oversize => {
                let token = token_for(self.run, i);
                let recipient = format!("bad-{i}@attacker.example");
                self.never(&token, &recipient);
                let sig = key.sign(&now.to_string(), &token);
                let (ct, body) = json(now, &token, &sig, &recipient);
                let (ct, body) = match class {
                    Class::Malformed => (ct, body.slice(..body.len() / 2)),
                    Class::WrongType => ("text/plain".to_owned(), body),
                    _ => {
                        let mut big = body.to_vec();
                        big.truncate(big.len() - 2);
                        big.extend_from_slice(b",\"pad\":\"");
                        big.extend(std::iter::repeat_n(b'p', MAX_BODY));
                        big.extend_from_slice(b"\"}}");
                        (ct, Bytes::from(big))
                    }
                };
                let (s, t) = self.post(addr, &ct, body).await;
                self.note(class, s, t, sent_at);
            }
        }
    }
}

fn retryable(status: u16) -> bool {
    matches!(status, 0 | 409 | 500 | 502 | 503 | 504)
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> Result<bool, String> {
    let run = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        & 0xffff_ffff_ffff;
    let dir = std::env::temp_dir().join(format!("mailgun-webhooks-loadgen-{run:x}"));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let ledger = dir.join("ledger");
    let result = run_in(&args, run, &dir, &ledger).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run_in(args: &Args, run: u64, dir: &Path, ledger: &Path) -> Result<bool, String> {
    let exe_dir = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .parent()
        .ok_or("no executable directory")?
        .to_path_buf();
    let mut redis = match args.setup {
        Setup::Shared => Some(Redis::start(dir)?),
        Setup::Memory => None,
    };
    let mut env = vec![
        ("MAILGUN_WEBHOOK_SIGNING_KEY".to_owned(), KEY.to_owned()),
        ("MAILGUN_WEBHOOK_MAX_AGE".to_owned(), "600".to_owned()),
        ("MAILGUN_WEBHOOK_MAX_SKEW".to_owned(), MAX_SKEW.to_string()),
        ("MAILGUN_WEBHOOK_MAX_BODY".to_owned(), MAX_BODY.to_string()),
        (
            "MAILGUN_WEBHOOK_LEDGER".to_owned(),
            ledger.display().to_string(),
        ),
        ("REPLAY_PENDING_TTL_MS".to_owned(), "2000".to_owned()),
        // The store's default is 250 ms; debug builds on a loaded machine need more.
        (
            "REPLAY_COMMAND_TIMEOUT_MS".to_owned(),
            args.command_timeout_ms.to_string(),
        ),
        (
            "REPLAY_CLOCK_MARGIN_MS".to_owned(),
            CLOCK_MARGIN_MS.to_string(),
        ),
        ("REPLAY_PREFIX".to_owned(), format!("loadgen:{run:x}:")),
    ];
    if let Some(r) = &redis {
        env.push(("REDIS_URL".to_owned(), r.url()));
    }
    let names: &[&'static str] = match args.setup {
        Setup::Memory => &["axum_server"],
        Setup::Shared => &["axum_server", "actix_server", "hyper_server"],
    };
    let mut servers = Vec::new();
    for name in names {
        let mut s = Server {
            name,
            bin: exe_dir.join(name),
            port: free_port(),
            env: env.clone(),
            child: None,
        };
        s.run()?;
        servers.push(s);
    }
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(args.connections)
        .build_http();
    let shared = Arc::new(Shared {
        client,
        servers: servers.iter().map(Server::addr).collect(),
        run,
        next: AtomicUsize::new(0),
        total: args.requests,
        start: Instant::now(),
        deadline: Instant::now() + Duration::from_secs(args.max_secs),
        sent: Mutex::new(Vec::new()),
        processed: Mutex::new(Vec::new()),
        record: Mutex::new(Record::default()),
        seed: AtomicUsize::new(run as usize),
        stop: AtomicBool::new(false),
        extend_until_ms: AtomicUsize::new(0),
    });

    // Warm-up: the first reserve of the namespace starts its epoch; deliveries signed before
    // it (minus max_skew and the clock margin) are not provable, so wait that long.
    for addr in &shared.servers {
        let t = format!("warm{run:x}");
        let now = unix_now();
        let (ct, body) = json(
            now,
            &t,
            &SigningKey::new(KEY).sign(&now.to_string(), &t),
            "w@x",
        );
        let _ = shared.post(*addr, &ct, body).await;
    }
    tokio::time::sleep(Duration::from_millis(
        MAX_SKEW * 1000 + CLOCK_MARGIN_MS + 1200,
    ))
    .await;

    // The load, and the fault between 30 % and 55 % of it.
    let started = Instant::now();
    let mut workers = Vec::new();
    let rate = args.rate;
    let load_start = tokio::time::Instant::now();
    for _ in 0..args.connections {
        let shared = shared.clone();
        workers.push(tokio::spawn(async move {
            loop {
                let i = shared.next.fetch_add(1, Ordering::Relaxed);
                // Open loop: request i is due at i / rate seconds.
                if let Some(micros) = (i as u64).saturating_mul(1_000_000).checked_div(rate) {
                    tokio::time::sleep_until(load_start + Duration::from_micros(micros)).await;
                }
                let extended = shared.start.elapsed().as_millis()
                    < shared.extend_until_ms.load(Ordering::Relaxed) as u128;
                if (i >= shared.total && !extended)
                    || shared.stop.load(Ordering::Relaxed)
                    || Instant::now() > shared.deadline
                {
                    break;
                }
                shared.one(i).await;
            }
        }));
    }
    let mut fault_window = None;
    if args.fault != Fault::None {
        let at = |f: f64| (args.requests as f64 * f) as usize;
        while shared.next.load(Ordering::Relaxed) < at(0.30) && Instant::now() < shared.deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let fault_start = shared.start.elapsed();
        // Keep the load going until the fault has ended and 5 s more (set again at its end).
        shared.extend_until_ms.store(usize::MAX, Ordering::Relaxed);
        let victim = servers.len() - 1;
        match args.fault {
            Fault::RedisKill | Fault::RestartEmpty => redis.as_mut().unwrap().kill(),
            Fault::RedisPause => redis.as_ref().unwrap().signal("-STOP"),
            Fault::FlushAll => {
                let url = redis.as_ref().unwrap().url();
                let mut c = ::redis::Client::open(url)
                    .unwrap()
                    .get_multiplexed_async_connection()
                    .await
                    .map_err(|e| e.to_string())?;
                let _: () = ::redis::cmd("FLUSHALL")
                    .query_async(&mut c)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Fault::ServerKill => servers[victim].kill(),
            Fault::None => {}
        }
        // At least 2 s of fault, however fast the requests go.
        let fault_began = Instant::now();
        while (shared.next.load(Ordering::Relaxed) < at(0.55)
            || fault_began.elapsed() < Duration::from_secs(2))
            && Instant::now() < shared.deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        match args.fault {
            Fault::RedisKill => redis.as_mut().unwrap().run()?,
            Fault::RestartEmpty => {
                let r = redis.as_mut().unwrap();
                r.wipe();
                r.run()?;
            }
            Fault::RedisPause => redis.as_ref().unwrap().signal("-CONT"),
            Fault::ServerKill => servers[victim].run()?,
            _ => {}
        }
        let fault_end = shared.start.elapsed();
        shared
            .extend_until_ms
            .store(fault_end.as_millis() as usize + 5000, Ordering::Relaxed);
        fault_window = Some((fault_start, fault_end));
    }
    for w in workers {
        let _ = w.await;
    }
    let load_time = started.elapsed();
    // Every index handed out was sent, except one per worker (the one that ended it).
    let issued = shared
        .next
        .load(Ordering::Relaxed)
        .saturating_sub(args.connections);

    // Mailgun's retries: fresh deliveries without a 200 are sent again, a few rounds apart.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let deliveries: Vec<Arc<Delivery>> = shared.sent.lock().unwrap().clone();
    for round in 0..4 {
        let pending: Vec<Arc<Delivery>> = deliveries
            .iter()
            .filter(|d| !d.answers.lock().unwrap().contains(&200))
            .cloned()
            .collect();
        if pending.is_empty() {
            break;
        }
        let sem = Arc::new(tokio::sync::Semaphore::new(args.connections));
        let mut tasks = Vec::new();
        for (k, d) in pending.into_iter().enumerate() {
            let (shared, sem) = (shared.clone(), sem.clone());
            tasks.push(tokio::spawn(async move {
                let _permit = sem.acquire().await;
                let addr = shared.server(k + round);
                let (s, _) = shared.post(addr, &d.content_type, d.body.clone()).await;
                d.answers.lock().unwrap().push(s);
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        tokio::time::sleep(Duration::from_millis(2500)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for s in &mut servers {
        s.kill();
    }
    if let Some(r) = redis.as_mut() {
        r.kill();
    }

    // ----- join the answers with the ledger -----
    let text = std::fs::read_to_string(ledger).unwrap_or_default();
    let mut ran: HashMap<&str, Vec<&str>> = HashMap::new();
    for line in text.lines() {
        if let Some((t, r)) = line.split_once(' ')
            && !t.starts_with("warm")
        {
            ran.entry(t).or_default().push(r);
        }
    }
    let legit: HashMap<&str, &Delivery> = deliveries
        .iter()
        .map(|d| (d.token.as_str(), &**d))
        .collect();
    let record = shared.record.lock().unwrap();
    let mut false_accepts = 0usize;
    let mut false_by_class: HashMap<String, usize> = HashMap::new();
    let mut double_same = 0usize;
    let mut double_distinct = 0usize;
    for (token, runs) in &ran {
        let legit_recipient = legit.get(token).map(|d| d.recipient.as_str());
        for r in runs {
            if Some(*r) != legit_recipient {
                false_accepts += 1;
                let class = if r.starts_with("x-") {
                    "other body"
                } else {
                    "forged/stale/future/malformed"
                };
                *false_by_class.entry(class.into()).or_default() += 1;
            }
        }
        if runs.len() > 1 {
            let mut distinct = runs.clone();
            distinct.sort();
            distinct.dedup();
            if distinct.len() > 1 {
                double_distinct += 1;
            } else {
                double_same += 1;
            }
        }
    }
    let never_ran = record
        .never
        .iter()
        .filter(|(t, r)| ran.get(t.as_str()).is_some_and(|v| v.contains(&r.as_str())))
        .count();
    let mut lost = 0usize;
    let mut refused_retryable = 0usize;
    for d in &deliveries {
        if ran.contains_key(d.token.as_str()) {
            continue;
        }
        let last = d.answers.lock().unwrap().last().copied().unwrap_or(0);
        if retryable(last) {
            refused_retryable += 1;
        } else {
            lost += 1;
        }
    }

    // ----- report -----
    let mut lat: Vec<Duration> = record
        .answers
        .iter()
        .filter(|a| a.1 != 0)
        .map(|a| a.2)
        .collect();
    let answered = lat.len();
    let p50 = percentile(&mut lat, 0.50);
    let p99 = percentile(&mut lat, 0.99);
    println!(
        "loadgen: setup {:?}, fault {:?}: {issued} requests over {} connections in {:.1} s = \
         {:.0} req/s; p50 {:.2} ms, p99 {:.2} ms ({answered} answered)",
        args.setup,
        args.fault,
        args.connections,
        load_time.as_secs_f64(),
        issued as f64 / load_time.as_secs_f64(),
        ms(p50),
        ms(p99)
    );
    let mut rows: Vec<_> = record.named.iter().collect();
    rows.sort();
    let mut line = String::new();
    let mut current = None;
    for ((c, s, name), n) in rows {
        if current != Some(*c) {
            if !line.is_empty() {
                println!("{line}");
            }
            line = format!("  {c:?}:");
            current = Some(*c);
        }
        if name.is_empty() {
            line.push_str(&format!(" {s}x{n}"));
        } else {
            line.push_str(&format!(" {s} {name} x{n};"));
        }
    }
    println!("{line}");
    if let Some((from, to)) = fault_window {
        let mut during: HashMap<u16, usize> = HashMap::new();
        let mut lat503 = Vec::new();
        // Requests in flight when the store goes away wait for the command timeout: that is
        // how a store learns it is down. Once it knows (a command timeout after the onset, and
        // a margin), it answers at once.
        let known = from + Duration::from_millis(args.command_timeout_ms + 250);
        let mut lat503_known = Vec::new();
        for (_, s, t, at) in &record.answers {
            if *at >= from && *at < to {
                *during.entry(*s).or_default() += 1;
                if *s == 503 {
                    lat503.push(*t);
                    if *at >= known {
                        lat503_known.push(*t);
                    }
                }
            }
        }
        let mut during: Vec<_> = during.into_iter().collect();
        during.sort();
        // Recovery: the first fresh delivery answered 200 among those sent after the fault.
        let recovered = record
            .answers
            .iter()
            .filter(|(c, s, _, at)| *c == Class::Fresh && *s == 200 && *at >= to)
            .map(|(_, _, _, at)| *at)
            .min();
        println!(
            "  fault {:?} from {:.1} s to {:.1} s: answers {during:?}; 503 p99 {:.2} ms ({} of \
             them), once the outage is known (sent {} ms after its onset) p50 {:.2} ms p99 {:.2} ms \
             ({} of them); first fresh 200 after it: {}",
            args.fault,
            from.as_secs_f64(),
            to.as_secs_f64(),
            ms(percentile(&mut lat503, 0.99)),
            lat503.len(),
            args.command_timeout_ms + 250,
            ms(percentile(&mut lat503_known, 0.50)),
            ms(percentile(&mut lat503_known, 0.99)),
            lat503_known.len(),
            recovered.map_or("none".to_owned(), |r| format!(
                "{:.0} ms later",
                ms(r.saturating_sub(to))
            )),
        );
    }
    println!(
        "  fresh deliveries {}: processed {}, refused with a retryable status to the end {}, \
         lost {lost}",
        deliveries.len(),
        deliveries.len() - lost - refused_retryable,
        refused_retryable
    );
    println!(
        "  false accepts {false_accepts} {false_by_class:?} (payloads that must never run and \
         ran: {never_ran}); double processing: same payload {double_same}, distinct payloads \
         {double_distinct}"
    );
    let ok = false_accepts == 0 && never_ran == 0 && lost == 0 && double_distinct == 0;
    println!("loadgen: {}", if ok { "PASS" } else { "FAIL" });
    Ok(ok)
}
