//! axum 0.8 routes on loopback, side by side (PERF.md, issue 14): the crate's extractor against
//! a read-only route and two hand-written baselines, every ratio from the same run.
//!
//! ```text
//! cargo bench --bench http_compare --features axum                      # about 1 min
//! cargo bench --bench http_compare --features axum -- --secs 3 --reps 7
//! ```
//!
//! Routes (all answer `200 ok` to a valid delivery):
//!
//! - `read`: reads the body, nothing else;
//! - `value` (the bare baseline, "(b)"): `serde_json::Value`, then a pre-keyed HMAC-SHA256 +
//!   hex decode + `subtle` compare of the signature block; no timestamp or replay check;
//! - `typed` ("(c)"): a hand-written borrowed struct (`&'a str` signature fields and
//!   `event-data`'s event, id, recipient; its timestamp as `f64`) + the same verify; no
//!   timestamp or replay check;
//! - `crate-noreplay`: the crate's `Webhook<LazyEvent, NoReplayCheck>` extractor, whose handler
//!   reads the event's kind, id and recipient;
//! - `crate-memory`: the crate's `Webhook<LazyEvent>` with `MemoryReplayStore`, the same
//!   handler;
//! - `crate-memory-eager`: `Webhook<Event>` (every field decoded before the handler runs) with
//!   the same store, the same handler.
//!
//! The body is PERF.md's delivered JSON (`examples/payloads/delivered.json`'s event, signed
//! with the test kit, pretty-printed). Every request carries a fresh token: the load generator
//! pre-signs a pool of tokens before the timed run and splices token and signature into the
//! body, so `crate-memory` records a fresh delivery each time (a pool too small for the run
//! is reported, and its answers counted as `duplicate`).
//!
//! The binary starts itself twice: a server (`--serve`: one thread, all routes) and a load
//! generator (`--client`: one thread, a closed loop over `--connections` keep-alive HTTP/1.1
//! connections, 64 by default). With `taskset` on `PATH` and two cores or more, the server runs
//! on CPU 0 and the load generator on CPU 1; otherwise it says so and they share the cores.
//! Routes take turns in `--reps` rounds (5) of `--secs` seconds (2) each, after a `--warmup`
//! (0.3 s) on fresh connections, starting each round with the next route. It prints, per route,
//! the median req/s and p99 over the rounds, and the ratio of req/s to the bare baseline and to
//! the borrowed struct (median, and the range over the rounds). Nothing is asserted.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use mailgun_webhooks::axum::{Webhook, WebhookResponse};
use mailgun_webhooks::{
    Event, LazyEvent, MemoryReplayStore, NoReplayCheck, Receiver, SigningKey, Verifier,
};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[path = "support/mod.rs"]
mod support;

#[path = "anymail/bodies.rs"]
mod bodies;

use support::Baseline;

/// Path and label of each route, in the order they are reported.
const ROUTES: [(&str, &str); 6] = [
    ("/read", "read body only"),
    ("/value", "(b) bare baseline: Value + pre-keyed verify"),
    ("/typed", "(c) borrowed struct + verify, no replay check"),
    ("/crate-noreplay", "crate Webhook<LazyEvent, NoReplayCheck>"),
    (
        "/crate-memory",
        "crate Webhook<LazyEvent>, MemoryReplayStore, fresh",
    ),
    (
        "/crate-memory-eager",
        "crate Webhook<Event>, MemoryReplayStore, fresh",
    ),
];
const BARE: usize = 1;
const TYPED: usize = 2;
const MEMORY: usize = 4;
const EAGER: usize = 5;

/// The value of `--name`, if given.
fn arg(name: &str) -> Option<String> {
    let mut args = std::env::args().skip_while(|a| a != name);
    args.next()?;
    args.next()
}

fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

fn machine_load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// CPU seconds (user + system) a process has used, from `/proc/PID/stat` (Linux; clock ticks
/// taken as 1/100 s, the usual `CLK_TCK`).
fn cpu_secs(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// Nanoseconds a thread has run on a CPU, from `/proc/PID/schedstat` (the server's main
/// thread, which runs all its work: its runtime has one thread).
fn run_ns(pid: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn main() {
    if flag("--serve") {
        serve();
    } else if let Some(route) = arg("--calls") {
        calls(&route);
    } else if let Some(addr) = arg("--client") {
        client(&addr);
    } else {
        orchestrate();
    }
}

// ----- the orchestrator: starts the server and the load generator, pinned when it can -----

/// `taskset -c CPU` when it can pin (the tool is on `PATH` and there are two cores or more).
fn pinned(cpu: u32, can_pin: bool) -> Command {
    let exe = std::env::current_exe().expect("current executable");
    if can_pin {
        let mut c = Command::new("taskset");
        c.arg("-c").arg(cpu.to_string()).arg(exe);
        c
    } else {
        Command::new(exe)
    }
}

/// Kills the server when the orchestrator ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn orchestrate() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let taskset = Command::new("taskset")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let can_pin = taskset && cores >= 2;
    println!(
        "http_compare: {cores} cores, load average {} at start",
        machine_load()
    );
    if can_pin {
        println!("pinning: server on CPU 0, load generator on CPU 1 (taskset)");
    } else if !taskset {
        println!(
            "!!! NOT PINNED: `taskset` is not on PATH (Debian: util-linux); server and load generator share the cores"
        );
    } else {
        println!("!!! NOT PINNED: one core only; server and load generator share it");
    }

    let mut server = pinned(0, can_pin)
        .arg("--serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the server");
    let stdout = server.stdout.take().expect("the server's stdout");
    let server = Server(server);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the server's address");
    let addr = line
        .trim()
        .strip_prefix("listening ")
        .expect("the server's address line")
        .to_owned();

    let mut client = pinned(1, can_pin);
    client
        .arg("--client")
        .arg(&addr)
        .arg("--server-pid")
        .arg(server.0.id().to_string());
    for name in ["--secs", "--reps", "--connections", "--warmup", "--pool"] {
        if let Some(v) = arg(name) {
            client.arg(name).arg(v);
        }
    }
    let started = Instant::now();
    let status = client.status().expect("run the load generator");
    let wall = started.elapsed().as_secs_f64();
    if let Some(cpu) = cpu_secs(&server.0.id().to_string()) {
        println!(
            "server CPU: {cpu:.1} s over {wall:.1} s of load ({:.0} % of one core; the rest went to other processes or idle)",
            100.0 * cpu / wall
        );
    }
    drop(server);
    println!("load average at end: {}", machine_load());
    if !status.success() {
        eprintln!("load generator failed: {status}");
        std::process::exit(1);
    }
}

// ----- the server: every route on one thread -----

/// (a) Reads the body, nothing else.
async fn read(body: Bytes) -> &'static str {
    std::hint::black_box(body.len());
    "ok"
}

/// (b) The bare baseline: `serde_json::Value`, then verify the signature block.
async fn value(State(baseline): State<Arc<Baseline>>, body: Bytes) -> (StatusCode, &'static str) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "malformed");
    };
    let s = &v["signature"];
    match (
        s["timestamp"].as_str(),
        s["token"].as_str(),
        s["signature"].as_str(),
    ) {
        (Some(ts), Some(token), Some(sig)) if baseline.verify(ts, token, sig) => {
            let e = &v["event-data"];
            std::hint::black_box((
                e["event"].as_str(),
                e["id"].as_str(),
                e["recipient"].as_str(),
            ));
            (StatusCode::OK, "ok")
        }
        _ => (StatusCode::UNAUTHORIZED, "signature_mismatch"),
    }
}

#[derive(Deserialize)]
struct TypedBody<'a> {
    #[serde(borrow)]
    signature: TypedSignature<'a>,
    #[serde(borrow, rename = "event-data")]
    event_data: TypedEvent<'a>,
}

#[derive(Deserialize)]
struct TypedSignature<'a> {
    timestamp: &'a str,
    token: &'a str,
    signature: &'a str,
}

#[derive(Deserialize)]
struct TypedEvent<'a> {
    event: &'a str,
    id: &'a str,
    recipient: &'a str,
    timestamp: f64,
}

/// (c) A hand-written borrowed struct, then the same verify.
async fn typed(State(baseline): State<Arc<Baseline>>, body: Bytes) -> (StatusCode, &'static str) {
    let Ok(b) = serde_json::from_slice::<TypedBody>(&body) else {
        return (StatusCode::BAD_REQUEST, "malformed");
    };
    let s = &b.signature;
    if !baseline.verify(s.timestamp, s.token, s.signature) {
        return (StatusCode::UNAUTHORIZED, "signature_mismatch");
    }
    let e = &b.event_data;
    std::hint::black_box((e.event, e.id, e.recipient, e.timestamp));
    (StatusCode::OK, "ok")
}

/// The crate's extractor with `LazyEvent`, on either store.
async fn crate_lazy<S>(webhook: Webhook<LazyEvent, S>) -> WebhookResponse
where
    S: mailgun_webhooks::ReplayStore + Clone + Send + Sync + 'static,
{
    webhook
        .process(|event| async move {
            let e = event.payload();
            std::hint::black_box((e.kind(), e.id(), e.recipient()));
            Ok(())
        })
        .await
}

/// The crate, with its memory replay store, decoding every field before the handler runs.
async fn crate_memory_eager(webhook: Webhook<Event>) -> WebhookResponse {
    webhook
        .process(|event| async move {
            let e = event.payload();
            std::hint::black_box((e.kind(), e.id(), e.recipient()));
            Ok(())
        })
        .await
}

/// Every route, on one router.
fn app() -> Router {
    let baseline = Arc::new(Baseline::new(bodies::KEY));
    let verifier = Verifier::new(SigningKey::new(bodies::KEY));
    Router::new()
        .route("/read", post(read))
        .merge(
            Router::new()
                .route("/value", post(value))
                .route("/typed", post(typed))
                .with_state(baseline),
        )
        .merge(
            Router::new()
                .route("/crate-noreplay", post(crate_lazy::<NoReplayCheck>))
                .with_state(Receiver::new(verifier.clone(), NoReplayCheck)),
        )
        .merge({
            // One store for both memory routes: the pool's tokens are fresh for either.
            let store = MemoryReplayStore::builder().capacity(4_000_000).build();
            Router::new()
                .route("/crate-memory", post(crate_lazy::<MemoryReplayStore>))
                .route("/crate-memory-eager", post(crate_memory_eager))
                .with_state(Receiver::new(verifier, store))
        })
}

/// A single-threaded Tokio runtime (the server, the load generator and `--calls` run on one).
fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Serves every route on one thread until its standard input closes (the orchestrator ended)
/// or ten minutes pass.
fn serve() {
    let runtime = current_thread();
    runtime.block_on(async {
        let app = app();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("listening {}", listener.local_addr().unwrap());
        std::io::stdout().flush().unwrap();
        // Ends the process when the orchestrator closes our stdin (or dies).
        std::thread::spawn(|| {
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
            std::process::exit(0);
        });
        let serve = axum::serve(listener, app);
        let _ = tokio::time::timeout(Duration::from_secs(600), serve).await;
    });
}

// ----- in process, for instruction counts -----

/// `--calls ROUTE [--n N]`: sends N fresh deliveries (1,000 by default) to ROUTE through the
/// router in process (`tower::ServiceExt::oneshot`, no sockets), checking each answers
/// `200 ok`. Run it under callgrind twice, with `--n N` and `--n 0`: the difference over N is
/// the route's instructions per request, steady on a shared machine.
///
/// ```text
/// valgrind --tool=callgrind --callgrind-out-file=cg.1000 target/release/deps/http_compare-* --calls /crate-memory --n 1000
/// valgrind --tool=callgrind --callgrind-out-file=cg.0 target/release/deps/http_compare-* --calls /crate-memory --n 0
/// ```
///
/// Both runs sign the same `--pool` of tokens (1,000 by default, at least N), so signing
/// cancels out of the difference of their totals.
fn calls(route: &str) {
    use tower::ServiceExt;
    let n: usize = arg("--n").map_or(1_000, |v| v.parse().expect("--n N"));
    let path = ROUTES
        .iter()
        .find(|(p, _)| *p == route)
        .unwrap_or_else(|| panic!("no route {route}"))
        .0;
    let runtime = current_thread();
    runtime.block_on(async {
        let app = app();
        let timestamp = mailgun_webhooks::testing::now();
        let template = Template::new(path, timestamp);
        // The same pool whatever N, so that signing it cancels out of the difference.
        // (`--pool` below N is raised to N: every request needs a fresh token.)
        let pool = Pool::sign(
            arg("--pool")
                .map_or(1_000, |v| v.parse().expect("--pool N"))
                .max(n),
            timestamp,
        );
        let head = find(&template.bytes, b"\r\n\r\n").unwrap() + 4;
        let (token_at, signature_at) = (template.token_at - head, template.signature_at - head);
        let body = template.bytes[head..].to_vec();
        let started = Instant::now();
        for i in 0..n {
            let mut body = body.clone();
            body[token_at..token_at + 50].copy_from_slice(&pool.tokens[i]);
            body[signature_at..signature_at + 64].copy_from_slice(&pool.signatures[i]);
            let request = axum::http::Request::post(path)
                .header("content-type", "application/json")
                .header("content-length", body.len())
                .body(axum::body::Body::from(body))
                .unwrap();
            let response = app.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
        }
        let ns = started.elapsed().as_nanos() as f64 / n.max(1) as f64;
        println!("{n} requests to {path}: 200, {ns:.0} ns each in process (including building each request)");
    });
}

// ----- the load generator -----

/// Pre-signed `(token, signature)` pairs, all signed at one timestamp.
struct Pool {
    tokens: Vec<[u8; 50]>,
    signatures: Vec<[u8; 64]>,
    /// The next pair for the `crate-memory` route, which must never see a token twice.
    fresh: AtomicUsize,
    /// The next pair for the other routes (reused in turn).
    reused: AtomicUsize,
    /// Fresh-route requests that found the pool used up and reused a token.
    wrapped: AtomicU64,
}

impl Pool {
    fn sign(n: usize, timestamp: u64) -> Pool {
        let key = SigningKey::new(bodies::KEY);
        let ts = timestamp.to_string();
        // 34 random hex digits, then a 16-digit counter: 50 hex digits, unique in the run.
        let prefix = mailgun_webhooks::testing::token();
        let (mut tokens, mut signatures) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for i in 0..n {
            let token = format!("{}{i:016x}", &prefix[..34]);
            let sig = key.sign(&ts, &token);
            tokens.push(<[u8; 50]>::try_from(token.as_bytes()).unwrap());
            signatures.push(<[u8; 64]>::try_from(sig.as_bytes()).unwrap());
        }
        Pool {
            tokens,
            signatures,
            fresh: AtomicUsize::new(0),
            reused: AtomicUsize::new(0),
            wrapped: AtomicU64::new(0),
        }
    }

    fn next(&self, fresh: bool) -> usize {
        let n = self.tokens.len();
        if fresh {
            let i = self.fresh.fetch_add(1, Ordering::Relaxed);
            if i >= n {
                self.wrapped.fetch_add(1, Ordering::Relaxed);
            }
            i % n
        } else {
            self.reused.fetch_add(1, Ordering::Relaxed) % n
        }
    }
}

/// A request's bytes, and where its token and signature go.
struct Template {
    bytes: Vec<u8>,
    token_at: usize,
    signature_at: usize,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl Template {
    /// A POST of the delivered body to `path`, signed at `timestamp`.
    fn new(path: &str, timestamp: u64) -> Template {
        let token = mailgun_webhooks::testing::token();
        let body = bodies::json_kind("delivered", timestamp, &token);
        let signature = SigningKey::new(bodies::KEY).sign(&timestamp.to_string(), &token);
        let mut bytes = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n",
            body.content_type,
            body.body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(&body.body);
        Template {
            token_at: find(&bytes, token.as_bytes()).unwrap(),
            signature_at: find(&bytes, signature.as_bytes()).unwrap(),
            bytes,
        }
    }
}

/// What one route did in one window.
#[derive(Default)]
struct Window {
    /// Latency of each request sent in the timed part, in nanoseconds.
    latencies: Vec<u64>,
    /// Answers other than `200 ok` (a `200 duplicate` counts here).
    not_ok: u64,
    io_errors: u64,
    /// CPU time the server ran during the timed part, in nanoseconds.
    server_ns: Option<u64>,
}

/// Reads one HTTP/1.1 response; returns its status and whether its body is `ok`.
async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<(u16, bool)> {
    buf.clear();
    loop {
        if s.read_buf(buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let Some(end) = find(buf, b"\r\n\r\n") else {
            continue;
        };
        let head = &buf[..end];
        let status = std::str::from_utf8(head.get(9..12).unwrap_or_default())
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let length: usize = head
            .split(|&b| b == b'\n')
            .find(|l| l.len() > 15 && l[..15].eq_ignore_ascii_case(b"content-length:"))
            .and_then(|l| std::str::from_utf8(&l[15..]).ok())
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let need = end + 4 + length;
        while buf.len() < need {
            if s.read_buf(buf).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
        return Ok((status, &buf[end + 4..need] == b"ok"));
    }
}

async fn connection(
    mut s: TcpStream,
    template: Arc<Template>,
    pool: Arc<Pool>,
    fresh: bool,
    start: Instant,
    end: Instant,
) -> Window {
    let mut request = template.bytes.clone();
    let mut buf = Vec::with_capacity(1024);
    let mut w = Window::default();
    loop {
        let i = pool.next(fresh);
        request[template.token_at..template.token_at + 50].copy_from_slice(&pool.tokens[i]);
        request[template.signature_at..template.signature_at + 64]
            .copy_from_slice(&pool.signatures[i]);
        let t0 = Instant::now();
        if t0 >= end {
            break;
        }
        if s.write_all(&request).await.is_err() {
            w.io_errors += 1;
            break;
        }
        match read_response(&mut s, &mut buf).await {
            Ok((status, ok)) => {
                if t0 >= start {
                    w.latencies.push(t0.elapsed().as_nanos() as u64);
                    if status != 200 || !ok {
                        w.not_ok += 1;
                    }
                }
            }
            Err(_) => {
                w.io_errors += 1;
                break;
            }
        }
    }
    w
}

/// How each window loads the server.
struct Load<'a> {
    addr: &'a str,
    connections: usize,
    warmup: Duration,
    secs: Duration,
    /// The server's process id, to read its CPU time.
    server_pid: Option<&'a str>,
}

/// One route for `warmup + secs` on fresh connections; only the last `secs` are recorded.
async fn window(
    load: &Load<'_>,
    template: &Arc<Template>,
    pool: &Arc<Pool>,
    fresh: bool,
) -> Window {
    let Load {
        addr,
        connections,
        warmup,
        secs,
        server_pid,
    } = *load;
    let mut streams = Vec::with_capacity(connections);
    for _ in 0..connections {
        let s = TcpStream::connect(addr)
            .await
            .expect("connect to the server");
        s.set_nodelay(true).unwrap();
        streams.push(s);
    }
    let start = Instant::now() + warmup;
    let end = start + secs;
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|s| {
            tokio::spawn(connection(
                s,
                template.clone(),
                pool.clone(),
                fresh,
                start,
                end,
            ))
        })
        .collect();
    // The server's CPU time over the timed part.
    let mut total = Window::default();
    tokio::time::sleep_until(start.into()).await;
    let before = server_pid.and_then(run_ns);
    tokio::time::sleep_until(end.into()).await;
    let after = server_pid.and_then(run_ns);
    total.server_ns = before.zip(after).map(|(b, a)| a.saturating_sub(b));
    for t in tasks {
        let w = t.await.unwrap();
        total.latencies.extend(w.latencies);
        total.not_ok += w.not_ok;
        total.io_errors += w.io_errors;
    }
    total
}

/// Median, minimum and maximum of `num[i] / den[i]` over the reps.
fn ratio_stats(num: &[f64], den: &[f64]) -> (f64, f64, f64) {
    let mut v: Vec<f64> = num.iter().zip(den).map(|(a, b)| a / b).collect();
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(0.0, f64::max);
    (median(&mut v), lo, hi)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn client(addr: &str) {
    let parse = |name: &str, default: f64| -> f64 {
        arg(name).map_or(default, |v| {
            v.parse().unwrap_or_else(|_| panic!("{name} N"))
        })
    };
    let secs = parse("--secs", 2.0);
    let reps = parse("--reps", 5.0) as usize;
    let connections = parse("--connections", 64.0) as usize;
    let warmup = parse("--warmup", 0.3);
    // Enough fresh tokens for 120k req/s on the fresh route.
    let pool_size = arg("--pool")
        .map_or((120_000.0 * (secs + warmup) * reps as f64) as usize, |v| {
            v.parse().expect("--pool N")
        });
    let runtime = current_thread();
    let server_pid = arg("--server-pid");
    let run_started = Instant::now();
    runtime.block_on(async {
        // The memory store's epoch is its first reservation: make it now, so that every
        // delivery of the pool (signed 2 s later) is provably fresh, not admitted unproven.
        let prime = Template::new("/crate-memory", mailgun_webhooks::testing::now());
        let mut s = TcpStream::connect(addr).await.expect("connect to the server");
        s.write_all(&prime.bytes).await.unwrap();
        let (status, ok) = read_response(&mut s, &mut Vec::new()).await.unwrap();
        assert!(status == 200 && ok, "the server refused a valid delivery ({status})");
        drop(s);

        let timestamp = mailgun_webhooks::testing::now() + 2;
        let signing = Instant::now();
        let pool = Arc::new(Pool::sign(pool_size, timestamp));
        let templates: Vec<Arc<Template>> = ROUTES
            .iter()
            .map(|(path, _)| Arc::new(Template::new(path, timestamp)))
            .collect();
        let body_len = templates[0].bytes.len() - find(&templates[0].bytes, b"\r\n\r\n").unwrap() - 4;
        println!(
            "delivered JSON body {body_len} bytes; {pool_size} tokens pre-signed in {:.1} s; \
             {connections} connections, {reps} reps × {} routes × {secs} s (+{warmup} s warm-up)",
            signing.elapsed().as_secs_f64(),
            ROUTES.len()
        );
        // Check every route once: each answers a valid delivery `200 ok`.
        for (t, (path, _)) in templates.iter().zip(ROUTES) {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let mut request = t.bytes.clone();
            let i = pool.next(false);
            request[t.token_at..t.token_at + 50].copy_from_slice(&pool.tokens[i]);
            request[t.signature_at..t.signature_at + 64].copy_from_slice(&pool.signatures[i]);
            s.write_all(&request).await.unwrap();
            let (status, ok) = read_response(&mut s, &mut Vec::new()).await.unwrap();
            assert!(status == 200 && ok, "{path} answered {status}");
        }

        let load = Load {
            addr,
            connections,
            warmup: Duration::from_secs_f64(warmup),
            secs: Duration::from_secs_f64(secs),
            server_pid: server_pid.as_deref(),
        };
        // rps[route][rep], p99 and p50 in ms.
        let mut rps = vec![Vec::new(); ROUTES.len()];
        let mut p99 = vec![Vec::new(); ROUTES.len()];
        let mut p50 = vec![Vec::new(); ROUTES.len()];
        let mut not_ok = vec![0u64; ROUTES.len()];
        let mut io_errors = vec![0u64; ROUTES.len()];
        // The server's CPU time per request, in µs (NaN without /proc).
        let mut cpu = vec![Vec::new(); ROUTES.len()];
        for rep in 0..reps {
            let mut line = format!("rep {}:", rep + 1);
            for k in 0..ROUTES.len() {
                let r = (rep + k) % ROUTES.len();
                let mut w = window(&load, &templates[r], &pool, r == MEMORY || r == EAGER).await;
                w.latencies.sort_unstable();
                let n = w.latencies.len();
                let q = |p: f64| {
                    w.latencies
                        .get(((n as f64 * p).ceil() as usize).saturating_sub(1))
                        .map_or(f64::NAN, |&ns| ns as f64 / 1e6)
                };
                rps[r].push(n as f64 / secs);
                p99[r].push(q(0.99));
                p50[r].push(q(0.50));
                cpu[r].push(w.server_ns.map_or(f64::NAN, |ns| ns as f64 / 1e3 / n as f64));
                not_ok[r] += w.not_ok;
                io_errors[r] += w.io_errors;
                line.push_str(&format!(" {}={:.0}", &ROUTES[r].0[1..], n as f64 / secs));
            }
            println!("{line}");
        }

        let by_rate = |r: usize, base: usize| ratio_stats(&rps[r], &rps[base]);
        let by_cpu = |r: usize, base: usize| ratio_stats(&cpu[base], &cpu[r]);
        let all: Vec<_> = (0..ROUTES.len())
            .map(|r| {
                [
                    by_rate(r, BARE),
                    by_rate(r, TYPED),
                    by_cpu(r, BARE),
                    by_cpu(r, TYPED),
                ]
            })
            .collect();
        println!(
            "\n{:<48} {:>9} {:>8} {:>8} {:>18} {:>18} {:>7}",
            "route (axum 0.8, medians over reps)",
            "req/s",
            "p50 ms",
            "p99 ms",
            "÷ (b) [range]",
            "÷ (c) [range]",
            "not ok"
        );
        let mut summary = Vec::new();
        for (r, (_, label)) in ROUTES.iter().enumerate() {
            let [(b, blo, bhi), (c, clo, chi), ..] = all[r];
            let row = (
                median(&mut rps[r]),
                median(&mut p50[r]),
                median(&mut p99[r]),
                b,
                c,
            );
            println!(
                "{label:<48} {:>9.0} {:>8.2} {:>8.2} {b:>5.2} [{blo:.2}–{bhi:.2}] {c:>5.2} [{clo:.2}–{chi:.2}] {:>7}",
                row.0,
                row.1,
                row.2,
                not_ok[r] + io_errors[r],
            );
            summary.push(row);
        }
        // On a shared machine the server does not get its core to itself: its CPU time per
        // request is steadier than req/s. The ratios below are (b)'s or (c)'s CPU time per
        // request over the route's: the throughput ratio on a core of its own.
        println!(
            "\n{:<48} {:>14} {:>18} {:>18}",
            "server CPU per request (medians over reps)",
            "µs/request",
            "÷ (b) [range]",
            "÷ (c) [range]",
        );
        let mut cpu_summary = Vec::new();
        for (r, (_, label)) in ROUTES.iter().enumerate() {
            let [_, _, (b, blo, bhi), (c, clo, chi)] = all[r];
            let us = median(&mut cpu[r]);
            println!(
                "{label:<48} {us:>14.2} {b:>5.2} [{blo:.2}–{bhi:.2}] {c:>5.2} [{clo:.2}–{chi:.2}]"
            );
            cpu_summary.push((b, c));
        }
        let wrapped = pool.wrapped.load(Ordering::Relaxed);
        if wrapped > 0 {
            println!("!!! the token pool ran out: {wrapped} crate-memory requests reused a token (raise --pool)");
        }
        if io_errors.iter().any(|&e| e > 0) {
            println!("!!! connection errors by route: {io_errors:?}");
        }
        let verdict = |met: bool| if met { "met" } else { "NOT met" };
        let (m, n, b, c) = (&summary[MEMORY], &summary[3], &summary[BARE], &summary[TYPED]);
        println!("\ntargets (issue 14 / PERF.md), medians of same-run ratios:");
        println!("  crate + MemoryReplayStore ≥ 1.00× (c): {:.2} ({})", m.4, verdict(m.4 >= 1.0));
        println!("  crate + MemoryReplayStore ≥ 1.30× (b): {:.2} ({})", m.3, verdict(m.3 >= 1.30));
        println!(
            "  crate + MemoryReplayStore p99 ≤ (b) and (c): {:.2} ms vs {:.2} / {:.2} ms ({})",
            m.2,
            b.2,
            c.2,
            verdict(m.2 <= b.2 && m.2 <= c.2)
        );
        println!("  crate, NoReplayCheck ≥ 1.10× (b) (PERF.md): {:.2} ({})", n.3, verdict(n.3 >= 1.10));
        let e = &summary[EAGER];
        println!(
            "  (eager Webhook<Event> + MemoryReplayStore: {:.2}× (c), {:.2}× (b))",
            e.4, e.3
        );
        let (mc, nc) = (cpu_summary[MEMORY], cpu_summary[3]);
        println!(
            "  by server CPU per request: crate + MemoryReplayStore {:.2}× (c) ({}), {:.2}× (b) ({}); NoReplayCheck {:.2}× (b) ({})",
            mc.1,
            verdict(mc.1 >= 1.0),
            mc.0,
            verdict(mc.0 >= 1.30),
            nc.0,
            verdict(nc.0 >= 1.10)
        );
        if let Some(cpu) = cpu_secs("self") {
            let wall = run_started.elapsed().as_secs_f64();
            println!(
                "load generator CPU: {cpu:.1} s over {wall:.1} s ({:.0} % of one core)",
                100.0 * cpu / wall
            );
        }
    });
}
