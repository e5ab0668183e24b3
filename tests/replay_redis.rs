//! The Redis replay store against a real `redis-server`: the shared scenarios in real time, the
//! keys and TTLs it writes, sharing between stores, a model-based property test, and fault
//! tests (Redis stopped, paused, restarted, unreachable at start) on servers of their own.
//!
//! `REDIS_URL` points at the shared server (`.ci/redis.sh` starts one). Without it each test
//! starts a `redis-server` of its own (`REDIS_SERVER_BIN`, or `redis-server` on `PATH`) on a
//! free port; when there is none, a test fails under `CI=true` and otherwise passes after
//! printing one `SKIPPED` line that `cargo test` shows. The fault tests always start their own,
//! so they can stop and restart it without disturbing the shared one.
// Tests and benches fail by panicking: unwrap, expect and panic are how they report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg(feature = "redis")]

mod replay_scenarios;

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use mailgun_webhooks::{
    ErrorKind, HealthWarning, LossPolicy, RedisReplayStore, ReplayOutcome, ReplayStore, Verified,
};
use replay_scenarios::*;

/// Short enough to keep the tests quick, long enough not to lapse on a loaded machine.
const PENDING: Duration = Duration::from_millis(1000);

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Prints a line the test harness does not capture (`eprintln!` output is shown only for
/// failing tests), so that a skipped test is visible in a plain `cargo test`.
fn skipped(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// The Redis a test runs on: the shared one (`REDIS_URL`) or one of its own.
enum TestRedis {
    Shared(String),
    Own(OwnRedis),
}

impl TestRedis {
    fn url(&self) -> String {
        match self {
            TestRedis::Shared(url) => url.clone(),
            TestRedis::Own(server) => server.url(),
        }
    }
}

/// The shared server (`REDIS_URL`), else a `redis-server` of the test's own from
/// `REDIS_SERVER_BIN` or `PATH`; else `None` with a visible line, and a failure under `CI=true`.
fn redis_url(test: &str) -> Option<TestRedis> {
    match std::env::var("REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(TestRedis::Shared(url)),
        _ => server_bin(test).map(|bin| TestRedis::Own(OwnRedis::start(bin))),
    }
}

/// A key prefix unique to this run and call, so runs never see each other's records.
fn prefix() -> String {
    format!("mgw-test:{}:", unique_token())
}

/// A store for the contract scenarios: each test has a prefix of its own, so every namespace is
/// new and its epoch starts at the first reserve; the scenarios' deliveries are signed before
/// that, so they are run under `LossPolicy::Accept` (the loss tests below use the default,
/// `FailClosed`).
async fn connect(url: &str, prefix: &str) -> RedisReplayStore {
    RedisReplayStore::builder(url)
        .prefix(prefix)
        .pending_ttl(PENDING)
        .loss_policy(LossPolicy::Accept)
        .connect()
        .await
        .expect("connects to REDIS_URL")
}

/// A store with the default loss policy (`FailClosed`) and no clock margin (one host).
async fn connect_fail_closed(url: &str, prefix: &str) -> RedisReplayStore {
    let store = RedisReplayStore::builder(url)
        .prefix(prefix)
        .pending_ttl(PENDING)
        .clock_margin(Duration::ZERO)
        .connect()
        .await
        .expect("connects");
    assert_eq!(store.loss_policy(), LossPolicy::FailClosed);
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shared_scenarios_in_real_time() {
    let Some(redis) = redis_url("shared_scenarios_in_real_time") else {
        return;
    };
    let url = redis.url();
    let p = prefix();
    let store = connect(&url, &p).await;
    // Every scenario gets a clone: a handle on the same connection.
    run_all(|| store.clone(), &RealTime, PENDING).await;
}

#[tokio::test]
async fn two_stores_on_one_redis_see_each_others_records() {
    let Some(redis) = redis_url("two_stores_on_one_redis_see_each_others_records") else {
        return;
    };
    let url = redis.url();
    let p = prefix();
    let a = connect(&url, &p).await;
    let b = connect(&url, &p).await; // another connection, as another process would have
    let other = connect(&url, &prefix()).await;
    let now = SystemTime::now();
    let d = delivery(
        &verifier(Duration::from_secs(60)),
        secs(now),
        &unique_token(),
        now,
    );

    let r = reserve(&a, &d).await.into_reservation().expect("fresh");
    assert_eq!(reserve_seen(&b, &d).await, Seen::InFlight);
    a.commit(r).await.unwrap();
    assert_eq!(reserve_seen(&b, &d).await, Seen::Duplicate);
    // A different prefix is a different store.
    assert_eq!(reserve_seen(&other, &d).await, Seen::Fresh);
}

/// The keys, values and TTLs the store writes, read back with plain Redis commands.
#[tokio::test]
async fn writes_pending_then_done_with_the_right_ttls() {
    let Some(redis) = redis_url("writes_pending_then_done_with_the_right_ttls") else {
        return;
    };
    let url = redis.url();
    let p = prefix();
    let store = RedisReplayStore::builder(&url)
        .prefix(&p)
        .pending_ttl(Duration::from_secs(60))
        .loss_policy(LossPolicy::Accept)
        .connect()
        .await
        .unwrap();
    let mut raw = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let now = SystemTime::now();
    let v = verifier(Duration::from_secs(3600));
    let d = delivery(&v, secs(now), &unique_token(), now);
    let c = claim(&d, 1);
    let key = store.redis_key(c.key());
    assert_eq!(key, format!("{p}{}", c.key()));
    assert_eq!(key.len(), p.len() + 64);
    let digest = payload(1).to_string();

    let r = reserve(&store, &d).await.into_reservation().expect("fresh");
    let value: String = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut raw)
        .await
        .unwrap();
    let fields: Vec<&str> = value.split(':').collect();
    assert_eq!(fields[0], "p", "{value}");
    assert_eq!(fields[1], digest, "{value}");
    let until: u128 = fields[2].parse().unwrap();
    let now_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    assert!(
        (now_ms + 58_000..=now_ms + 60_000).contains(&until),
        "{value}"
    );
    assert_eq!(fields[3], format!("{:032x}", r.token()));
    // The record (and its payload binding) lives until the delivery's expiry, not the
    // pending lifetime.
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(
        (3_600_000..=3_660_000).contains(&pttl),
        "record PTTL {pttl}"
    );
    // The namespace's epoch marker exists and has no expiry.
    let marker_ttl: i64 = redis::cmd("PTTL")
        .arg(store.epoch_key(&namespace()))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(marker_ttl, -1);

    store.commit(r).await.unwrap();
    let value: String = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(value, format!("d:{digest}"));
    // Expires at the signed timestamp + max_age + 60 s, to the millisecond.
    let at_ms: i64 = redis::cmd("PEXPIRETIME")
        .arg(&key)
        .query_async(&mut raw)
        .await
        .unwrap();
    let expected = d
        .replay_expires_at()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    assert_eq!(at_ms as u128, expected);
    assert_eq!(
        d.replay_expires_at_secs(),
        secs(now) + 3600 + 60,
        "expiry = signed timestamp + max_age + 60 s"
    );

    // Release is compare-and-set: a stale reservation leaves the committed record alone.
    let stale = mailgun_webhooks::Reservation::new(c, 1);
    store.release(stale).await.unwrap();
    assert_eq!(reserve_seen(&store, &d).await, Seen::Duplicate);

    // A record whose expiry has passed is not written at all.
    let old = delivery_expiring(now - Duration::from_secs(10), 1);
    let r = reserve(&store, &old)
        .await
        .into_reservation()
        .expect("fresh");
    store.commit(r).await.unwrap();
    let exists: i64 = redis::cmd("EXISTS")
        .arg(store.redis_key(claim(&old, 1).key()))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(exists, 0);
}

#[tokio::test]
async fn a_foreign_value_under_a_replay_key_fails_closed() {
    let Some(redis) = redis_url("a_foreign_value_under_a_replay_key_fails_closed") else {
        return;
    };
    let url = redis.url();
    let p = prefix();
    let store = connect(&url, &p).await;
    let mut raw = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let now = SystemTime::now();
    let d = delivery(
        &verifier(Duration::from_secs(60)),
        secs(now),
        &unique_token(),
        now,
    );
    let key = store.redis_key(claim(&d, 1).key());
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg("something else")
        .arg("EX")
        .arg(60)
        .query_async(&mut raw)
        .await
        .unwrap();
    let err = store.reserve(&claim(&d, 1)).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::StoreUnavailable);
    // A key of another type: the script errors, and that fails closed too.
    let _: () = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut raw)
        .await
        .unwrap();
    let _: () = redis::cmd("LPUSH")
        .arg(&key)
        .arg("x")
        .query_async(&mut raw)
        .await
        .unwrap();
    let err = store.reserve(&claim(&d, 1)).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::StoreUnavailable);
    assert_eq!(err.status().as_u16(), 503);
}

#[tokio::test]
async fn ping_and_debug_do_not_leak_the_url() {
    let Some(redis) = redis_url("ping_and_debug_do_not_leak_the_url") else {
        return;
    };
    let url = redis.url();
    let store = connect(&url, &prefix()).await;
    store.ping().await.unwrap();
    let debug = format!("{store:?}");
    assert!(!debug.contains(&url), "{debug}");
    let builder = format!(
        "{:?}",
        RedisReplayStore::builder("redis://:hunter2@127.0.0.1:1/")
    );
    assert!(!builder.contains("hunter2"), "{builder}");
}

/// RELIABILITY.md §4.4 item 10 on Redis: random reserve/commit/release sequences against a
/// model (no clock moves: Redis keeps real time; the time-based rules are the scenarios' job).
#[tokio::test]
async fn redis_store_matches_the_model() {
    let Some(redis) = redis_url("redis_store_matches_the_model") else {
        return;
    };
    let url = redis.url();
    let cases: usize = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(48, |n: usize| n.min(200));
    let now = SystemTime::now();
    let v = verifier(Duration::from_secs(3600));
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15 ^ secs(now));
    for case in 0..cases {
        let store = connect(&url, &prefix()).await;
        let ds: Vec<Verified<()>> = (0..4)
            .map(|_| delivery(&v, secs(now), &unique_token(), now))
            .collect();
        // key -> Some(pending token), or None when committed; released records are `Released`.
        let mut model: HashMap<usize, Rec> = HashMap::new();
        let mut held: Vec<(usize, mailgun_webhooks::Reservation)> = Vec::new();
        let steps = 5 + rng.next() as usize % 60;
        for step in 0..steps {
            let what = rng.next() % 4;
            let ctx = format!("case {case} step {step}");
            if what < 2 || held.is_empty() {
                let k = rng.next() as usize % ds.len();
                if model.contains_key(&k) {
                    let other = store.reserve(&claim(&ds[k], 2)).await.unwrap();
                    assert_eq!(other, ReplayOutcome::PayloadMismatch, "{ctx}");
                }
                let got = store.reserve(&claim(&ds[k], 1)).await.unwrap();
                match model.get(&k) {
                    None | Some(Rec::Released) => {
                        let r = got
                            .into_reservation()
                            .unwrap_or_else(|| panic!("{ctx}: fresh"));
                        model.insert(k, Rec::Pending(r.token()));
                        held.push((k, r));
                    }
                    Some(Rec::Done) => assert_eq!(got, ReplayOutcome::Duplicate, "{ctx}"),
                    Some(Rec::Pending(_)) => assert_eq!(got, ReplayOutcome::InFlight, "{ctx}"),
                }
            } else {
                let (k, r) = held.remove(rng.next() as usize % held.len());
                let token = r.token();
                if what == 2 {
                    store.commit(r).await.unwrap();
                    model.insert(k, Rec::Done);
                } else {
                    store.release(r).await.unwrap();
                    if model.get(&k) == Some(&Rec::Pending(token)) {
                        model.insert(k, Rec::Released);
                    }
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rec {
    Pending(u128),
    Released,
    Done,
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

// ----- fault tests, each on a redis-server of its own -----

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn server_bin(test: &str) -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("REDIS_SERVER_BIN").filter(|b| !b.is_empty()) {
        return Some(PathBuf::from(bin));
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("redis-server"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            !in_ci(),
            "{test}: no redis-server binary and no REDIS_URL (CI=true): source .ci/redis.sh"
        );
        skipped(
            test,
            "no REDIS_URL, no redis-server on PATH, no REDIS_SERVER_BIN (apt-get install redis-server)",
        );
    }
    found
}

/// A redis-server of this test's own, killed when dropped.
struct OwnRedis {
    bin: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    fn start(bin: PathBuf) -> Self {
        let mut r = OwnRedis {
            bin,
            port: free_port(),
            child: None,
        };
        r.restart();
        r
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Starts the server on its port (again), without persistence, and waits until it answers.
    fn restart(&mut self) {
        assert!(self.child.is_none());
        let child = Command::new(&self.bin)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            // Anything it writes (the health test turns AOF on) goes to the temporary directory.
            .arg("--dir")
            .arg(std::env::temp_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starts redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (SIGKILL: no goodbye to the clients).
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let ok = Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} {pid}");
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = Command::new("kill")
                .args(["-CONT", &c.id().to_string()])
                .status();
        }
        self.kill();
    }
}

fn fresh_delivery() -> Verified<()> {
    let now = SystemTime::now();
    delivery(
        &verifier(Duration::from_secs(3600)),
        secs(now),
        &unique_token(),
        now,
    )
}

/// Waits until the store serves a reserve again, and returns how long that took.
async fn wait_until_serving(store: &RedisReplayStore, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let d = fresh_delivery();
        if let Ok(o) = store.reserve(&claim(&d, 1)).await {
            let r = o.into_reservation().expect("a new delivery is fresh");
            store.release(r).await.unwrap();
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "the store did not recover within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Redis stopped mid-run: every operation fails with 503 within the command timeout and no new
/// delivery is ever accepted; Redis restarted: the same store recovers by itself. Records made
/// before a restart without persistence are lost (a documented limitation, asserted here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_then_restarted() {
    let Some(bin) = server_bin("redis_stopped_then_restarted") else {
        return;
    };
    let mut server = OwnRedis::start(bin);
    let store = connect(&server.url(), &prefix()).await;

    let before = fresh_delivery();
    let r = reserve(&store, &before)
        .await
        .into_reservation()
        .expect("fresh");
    store.commit(r).await.unwrap();
    let outstanding = reserve(&store, &fresh_delivery())
        .await
        .into_reservation()
        .expect("fresh");

    server.kill();
    // Down for longer than one round of reconnection attempts (four, about a second apart), so
    // that recovery after a long outage is exercised too.
    let down = Instant::now();
    let mut i = 0;
    while down.elapsed() < Duration::from_secs(7) {
        i += 1;
        let d = fresh_delivery();
        let started = Instant::now();
        let result = store.reserve(&claim(&d, 1)).await;
        let took = started.elapsed();
        let err = result.expect_err("no delivery is accepted while Redis is down");
        assert_eq!(
            err.kind(),
            &ErrorKind::StoreUnavailable,
            "attempt {i}: {err}"
        );
        assert_eq!(err.status().as_u16(), 503);
        assert!(err.is_retryable());
        // Fails fast: the command timeout is 250 ms (with slack for a loaded machine).
        assert!(took < Duration::from_secs(1), "attempt {i} took {took:?}");
        // Duplicates are not answered 200 from a guess either.
        assert!(store.reserve(&claim(&before, 1)).await.is_err());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("{i} attempts refused while Redis was down");
    let err = store.commit(outstanding).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::StoreUnavailable);
    assert!(store.ping().await.is_err());

    server.restart();
    let took = wait_until_serving(&store, Duration::from_secs(10)).await;
    eprintln!("recovered {took:?} after the restart");
    store.ping().await.unwrap();
    let d = fresh_delivery();
    let r = reserve(&store, &d).await.into_reservation().expect("fresh");
    store.commit(r).await.unwrap();
    assert_eq!(reserve_seen(&store, &d).await, Seen::Duplicate);
    // Without persistence, the restart forgot the record made before it.
    assert_eq!(reserve_seen(&store, &before).await, Seen::Fresh);
}

/// Redis paused (SIGSTOP: connections stay open, nothing answers): operations time out into
/// 503 within the command timeout; resumed, the store serves again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_paused_then_resumed() {
    let Some(bin) = server_bin("redis_paused_then_resumed") else {
        return;
    };
    let server = OwnRedis::start(bin);
    let store = connect(&server.url(), &prefix()).await;
    assert_eq!(store.command_timeout(), Duration::from_millis(250));
    let d = fresh_delivery();
    let r = reserve(&store, &d).await.into_reservation().expect("fresh");
    store.commit(r).await.unwrap();

    server.signal("-STOP");
    // The first failures wait for the command timeout...
    for _ in 0..RedisReplayStore::DEFAULT_FAILURE_THRESHOLD {
        let started = Instant::now();
        let err = store
            .reserve(&claim(&fresh_delivery(), 1))
            .await
            .unwrap_err();
        let took = started.elapsed();
        assert_eq!(err.kind(), &ErrorKind::StoreUnavailable);
        assert!(
            (Duration::from_millis(200)..Duration::from_secs(1)).contains(&took),
            "a timeout after {took:?}"
        );
        let msg = format!("{}", std::error::Error::source(&err).unwrap());
        assert!(
            msg.contains("did not answer") || msg.contains("timed out"),
            "{msg}"
        );
    }
    // ... then the store fails fast: no network wait while Redis is known to be down.
    assert!(store.is_failing_fast());
    for _ in 0..50 {
        let started = Instant::now();
        let err = store
            .reserve(&claim(&fresh_delivery(), 1))
            .await
            .unwrap_err();
        let took = started.elapsed();
        assert_eq!(err.kind(), &ErrorKind::StoreUnavailable);
        assert!(
            took < Duration::from_millis(50),
            "a fast failure took {took:?}"
        );
        let msg = format!("{}", std::error::Error::source(&err).unwrap());
        assert!(msg.contains("failing fast"), "{msg}");
    }

    server.signal("-CONT");
    wait_until_serving(&store, Duration::from_secs(10)).await;
    assert_eq!(reserve_seen(&store, &d).await, Seen::Duplicate);
}

/// Sends 150 reserves 4 ms apart (about 250 req/s, each on a task of its own) into an outage
/// and counts how many waited on the network: those whose error is not one of the store's
/// fail-fast answers. Returns (waited on the network, failed fast).
async fn reserves_into_outage(store: &RedisReplayStore) -> (usize, usize) {
    let mut tasks = Vec::new();
    for _ in 0..150 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let d = fresh_delivery();
            let started = Instant::now();
            let err = store
                .reserve(&claim(&d, 1))
                .await
                .expect_err("no delivery is accepted while Redis is out");
            assert_eq!(err.kind(), &ErrorKind::StoreUnavailable, "{err}");
            let source = std::error::Error::source(&err).unwrap().to_string();
            (source.contains("failing fast"), started.elapsed())
        }));
        tokio::time::sleep(Duration::from_millis(4)).await;
    }
    let (mut network, mut fast) = (0, 0);
    let mut fast_max = Duration::ZERO;
    for t in tasks {
        let (was_fast, took) = t.await.unwrap();
        if was_fast {
            fast += 1;
            fast_max = fast_max.max(took);
        } else {
            network += 1;
        }
    }
    eprintln!(
        "{network} reserves waited on the network, {fast} failed fast (slowest {fast_max:?})"
    );
    (network, fast)
}

/// Issue 8: during an outage only the requests already sent to Redis wait; from the first
/// connection-level failure (killed) or once Redis has been silent for `suspect_after` while a
/// request waits (paused), every new reserve answers 503 without touching the network. Before
/// this, every reserve of the first command timeout (250 ms, about 60 here) waited on the
/// network.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_holds_only_the_requests_already_sent() {
    let Some(bin) = server_bin("outage_holds_only_the_requests_already_sent") else {
        return;
    };
    for fault in ["pause", "kill"] {
        let mut server = OwnRedis::start(bin.clone());
        let store = connect(&server.url(), &prefix()).await;
        assert_eq!(store.command_timeout(), Duration::from_millis(250));
        let r = reserve(&store, &fresh_delivery())
            .await
            .into_reservation()
            .expect("fresh");
        store.commit(r).await.unwrap();
        match fault {
            "pause" => server.signal("-STOP"),
            _ => server.kill(),
        }
        let (network, fast) = reserves_into_outage(&store).await;
        // The first reserves (those of the first `suspect_after`, 20 ms: about 5) wait; the
        // rest fail fast. Generous for a loaded machine, far below the ~60 of a breaker that
        // waits for three timeouts.
        assert!(
            network <= 20,
            "{fault}: {network} reserves waited on the network"
        );
        assert_eq!(network + fast, 150);
        match fault {
            "pause" => {
                server.signal("-CONT");
                wait_until_serving(&store, Duration::from_secs(10)).await;
            }
            _ => {
                server.restart();
                wait_until_serving(&store, Duration::from_secs(10)).await;
            }
        }
        assert!(!store.is_failing_fast());
    }
}

/// A store built on the application's own connection manager shares records with one built
/// from the URL, and the application keeps using its connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn built_from_an_existing_connection_manager() {
    let Some(redis) = redis_url("built_from_an_existing_connection_manager") else {
        return;
    };
    let url = redis.url();
    let p = prefix();
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut manager = redis::aio::ConnectionManager::new(client).await.unwrap();
    let store = RedisReplayStore::builder_with_connection_manager(manager.clone())
        .prefix(&p)
        .pending_ttl(PENDING)
        .loss_policy(LossPolicy::Accept)
        .connect()
        .await
        .unwrap();
    let other = connect(&url, &p).await;
    let d = fresh_delivery();
    let r = reserve(&store, &d).await.into_reservation().expect("fresh");
    store.commit(r).await.unwrap();
    assert_eq!(reserve_seen(&other, &d).await, Seen::Duplicate);
    let pong: String = redis::cmd("PING").query_async(&mut manager).await.unwrap();
    assert_eq!(pong, "PONG");
}

/// Redis unreachable at start: a clear 503 error within the connect timeout, without the URL
/// (which may hold a password) in the message.
#[tokio::test]
async fn redis_unreachable_at_start() {
    let port = free_port(); // nothing listens there
    let url = format!("redis://:s3cret-password@127.0.0.1:{port}/");
    let started = Instant::now();
    let err = RedisReplayStore::connect(&url).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.kind(), &ErrorKind::StoreUnavailable);
    assert_eq!(err.status().as_u16(), 503);
    let full = format!("{err} / {:?}", err);
    assert!(!full.contains("s3cret"), "{full}");
    assert!(full.contains("replay store unavailable"), "{full}");
    let source = std::error::Error::source(&err)
        .expect("the cause is kept")
        .to_string();
    assert!(source.to_lowercase().contains("refused"), "{source}");

    let err = RedisReplayStore::connect("not a url").await.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::NotConfigured { .. }),
        "{err}"
    );
    assert!(!err.to_string().contains("not a url"));
}

// ----- store loss (issue 8): each on a redis-server of its own -----

/// How the store lost its records.
#[derive(Debug, Clone, Copy)]
enum Loss {
    RestartWithoutPersistence,
    FlushAll,
    FlushDb,
    MarkerDeleted,
}

async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Commits deliveries, loses the records, then: replays of the committed triples with the
/// same and with other payloads are refused (`SignedBeforeEpoch`, 503) under the default
/// `FailClosed`; a delivery signed after the loss (beyond `max_skew` + the clock margin) is
/// processed; and the same losses under `Accept` process the replays and say so.
async fn loss_is_detected(loss: Loss) {
    let test = format!("loss_is_detected({loss:?})");
    let Some(bin) = server_bin(&test) else {
        return;
    };
    let mut server = OwnRedis::start(bin);
    let p = prefix();
    let store = connect_fail_closed(&server.url(), &p).await;
    // A verifier with a short max_skew, so that "signed after the loss" comes quickly.
    let skew = Duration::from_secs(1);
    let v = mailgun_webhooks::Verifier::builder(mailgun_webhooks::SigningKey::new(KEY))
        .max_skew(skew)
        .build();
    let rx = mailgun_webhooks::Receiver::new(v.clone(), store.clone());
    let accept = mailgun_webhooks::Receiver::new(
        v.clone(),
        RedisReplayStore::builder(server.url())
            .prefix(&p)
            .clock_margin(Duration::ZERO)
            .loss_policy(LossPolicy::Accept)
            .connect()
            .await
            .unwrap(),
    );
    let ran = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let handler = |ran: &std::sync::Arc<std::sync::atomic::AtomicUsize>| {
        let ran = ran.clone();
        move |_| async move {
            ran.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<_, mailgun_webhooks::HandlerError>(())
        }
    };
    let json = |ts: u64, token: &str, recipient: &str| {
        mailgun_webhooks::testing::json_body(
            &mailgun_webhooks::SigningKey::new(KEY),
            ts,
            token,
            serde_json::json!({"event": "delivered", "recipient": recipient}),
        )
    };
    // The namespace's epoch starts at its first reserve (here a delivery signed a minute ago,
    // which is refused: it cannot be proven unseen); then wait until one signed now is
    // provable.
    let early = json(
        secs(SystemTime::now()) - 60,
        &unique_token(),
        "early@example.com",
    );
    let e = rx
        .receive(&early.content_type, &early.body, handler(&ran))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::SignedBeforeEpoch, "{test}");
    tokio::time::sleep(skew + Duration::from_millis(1100)).await;
    let ts = secs(SystemTime::now());
    let tokens: Vec<String> = (0..3).map(|_| unique_token()).collect();
    for t in &tokens {
        let b = json(ts, t, "a@example.com");
        let o = rx.receive(&b.content_type, &b.body, handler(&ran)).await;
        assert!(!o.unwrap().is_unproven(), "{test}");
    }
    assert_eq!(ran.load(std::sync::atomic::Ordering::SeqCst), 3);
    let epochs = store.epochs_started();

    match loss {
        Loss::RestartWithoutPersistence => {
            server.kill();
            server.restart();
            wait_until_serving(
                &connect(&server.url(), &prefix()).await,
                Duration::from_secs(10),
            )
            .await;
        }
        Loss::FlushAll | Loss::FlushDb => {
            let cmd = if matches!(loss, Loss::FlushAll) {
                "FLUSHALL"
            } else {
                "FLUSHDB"
            };
            let _: () = redis::cmd(cmd)
                .query_async(&mut raw(&server.url()).await)
                .await
                .unwrap();
        }
        Loss::MarkerDeleted => {
            let marker = store.epoch_key(rx.namespace());
            let n: i64 = redis::cmd("DEL")
                .arg(marker)
                .query_async(&mut raw(&server.url()).await)
                .await
                .unwrap();
            assert_eq!(n, 1, "{test}: the marker existed");
        }
    }

    // Replays of the committed triples, same and other payloads: refused, handler not run.
    for t in &tokens {
        for recipient in ["a@example.com", "attacker@example.com"] {
            let b = json(ts, t, recipient);
            let mut attempt = 0;
            let result = loop {
                // Right after a restart the connection may still be re-established.
                match rx.receive(&b.content_type, &b.body, handler(&ran)).await {
                    Err(e) if e.kind() == &ErrorKind::StoreUnavailable && attempt < 40 => {
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    other => break other,
                }
            };
            match (loss, recipient) {
                // Only the marker went: the records still answer (and the epoch restarts).
                (Loss::MarkerDeleted, "a@example.com") => {
                    assert!(result.unwrap().is_duplicate(), "{test}");
                }
                (Loss::MarkerDeleted, _) => {
                    let e = result.unwrap_err();
                    assert_eq!(e.kind(), &ErrorKind::PayloadMismatch, "{test}: {e}");
                }
                _ => {
                    let e = result.unwrap_err();
                    assert_eq!(
                        e.kind(),
                        &ErrorKind::SignedBeforeEpoch,
                        "{test}: {recipient}: {e}"
                    );
                    assert_eq!(e.status().as_u16(), 503);
                    assert!(e.is_retryable());
                }
            }
        }
    }
    assert_eq!(
        ran.load(std::sync::atomic::Ordering::SeqCst),
        3,
        "{test}: no false accept"
    );
    assert!(
        store.epochs_started() > epochs,
        "{test}: the new epoch was noticed"
    );

    // A delivery signed after the loss (beyond max_skew + margin) is processed.
    tokio::time::sleep(skew + Duration::from_millis(1100)).await;
    let fresh = json(secs(SystemTime::now()), &unique_token(), "new@example.com");
    let o = rx
        .receive(&fresh.content_type, &fresh.body, handler(&ran))
        .await
        .unwrap();
    assert!(o.into_processed().is_some());
    assert_eq!(ran.load(std::sync::atomic::Ordering::SeqCst), 4);

    // Under `Accept`, a replay of a pre-loss triple whose record is gone is processed and
    // flagged.
    if matches!(loss, Loss::MarkerDeleted) {
        return;
    }
    let b = json(ts, &tokens[0], "attacker@example.com");
    let mut attempt = 0;
    let o = loop {
        // This store's connection may still be re-established after the restart.
        match accept
            .receive(&b.content_type, &b.body, handler(&ran))
            .await
        {
            Err(e) if e.kind() == &ErrorKind::StoreUnavailable && attempt < 40 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => break other.unwrap(),
        }
    };
    assert!(o.is_unproven(), "{test}: {o:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loss_restart_without_persistence_fails_closed() {
    loss_is_detected(Loss::RestartWithoutPersistence).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loss_flushall_fails_closed() {
    loss_is_detected(Loss::FlushAll).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loss_flushdb_fails_closed() {
    loss_is_detected(Loss::FlushDb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loss_marker_deleted_fails_closed() {
    loss_is_detected(Loss::MarkerDeleted).await;
}

/// The health check names what is unsafe: persistence off and an evicting policy on a server
/// started that way; nothing of the kind on one with AOF and `noeviction`.
#[tokio::test]
async fn health_check_reports_unsafe_settings() {
    let Some(bin) = server_bin("health_check_reports_unsafe_settings") else {
        return;
    };
    let server = OwnRedis::start(bin);
    let store = connect(&server.url(), &prefix()).await;
    let mut conn = raw(&server.url()).await;
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("allkeys-lru")
        .query_async(&mut conn)
        .await
        .unwrap();
    let health = store.health().await.unwrap();
    assert!(!health.is_healthy());
    assert!(
        health.warnings().contains(&HealthWarning::PersistenceOff),
        "{health:?}"
    );
    assert!(
        health.warnings().contains(&HealthWarning::Eviction {
            policy: "allkeys-lru".into()
        }),
        "{health:?}"
    );
    assert!(!health.warnings().contains(&HealthWarning::Replica));
    for w in health.warnings() {
        eprintln!("warning: {w}");
    }
    for (name, value) in [("maxmemory-policy", "noeviction"), ("appendonly", "yes")] {
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg(name)
            .arg(value)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    let health = store.health().await.unwrap();
    assert!(health.is_healthy(), "{health:?}");
    assert!(health.version() >= "6.2", "{health:?}");
}
