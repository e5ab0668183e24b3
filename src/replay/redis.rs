//! A replay store on Redis, shared by every process that uses the same server and prefix.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::future::Future;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime};

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{AsyncConnectionConfig, Client, RedisResult, Script};

use super::{LossPolicy, ReplayClaim, ReplayNamespace, ReplayOutcome, ReplayStore, Reservation};
use crate::error::{Error, ErrorKind, Result};
use crate::verify::ReplayKey;

/// Atomic reserve, with the payload binding and the namespace's epoch.
///
/// Values: `p:<digest>:<pending until, ms>:<nonce>` (pending), `r:<digest>` (released),
/// `d:<digest>` (committed); every record expires at the claim's expiry (`PXAT`). The epoch
/// marker `KEYS[2]` holds the time (server ms) since which this namespace's records are complete;
/// when it is missing (first use, restart without persistence, `FLUSHALL`, `FLUSHDB`, eviction,
/// failover to a replica that never had it) it is set to now.
///
/// Returns `{answer, epoch, reset}`: 0 fresh, 6 fresh but unproven, 1 duplicate, 2 in flight,
/// 3 unknown value, 4 payload mismatch, 5 signed before the epoch (fail closed); `reset` is 1
/// when this call started a new epoch.
const RESERVE: &str = r"
pcall(function() redis.replicate_commands() end)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local epoch = nil
local reset = 0
local e = redis.call('GET', KEYS[2])
if e then epoch = tonumber(e) end
if not epoch then
  epoch = now
  redis.call('SET', KEYS[2], string.format('%d', now))
  reset = 1
end
local pending = 'p:' .. ARGV[1] .. ':' .. string.format('%d', now + tonumber(ARGV[3])) .. ':' .. ARGV[2]
local v = redis.call('GET', KEYS[1])
if v then
  local state = string.sub(v, 1, 2)
  if state ~= 'p:' and state ~= 'r:' and state ~= 'd:' then
    return {3, epoch, reset}
  end
  if string.sub(v, 3, 66) ~= ARGV[1] then
    return {4, epoch, reset}
  end
  if state == 'd:' then
    return {1, epoch, reset}
  end
  if state == 'p:' then
    local until_ms = tonumber(string.sub(v, 68, string.find(v, ':', 68, true) - 1))
    if until_ms and until_ms > now then
      return {2, epoch, reset}
    end
  end
  redis.call('SET', KEYS[1], pending, 'KEEPTTL')
  return {0, epoch, reset}
end
local answer = 0
if tonumber(ARGV[5]) < epoch then
  if ARGV[6] == 'closed' then
    return {5, epoch, reset}
  end
  answer = 6
end
redis.call('SET', KEYS[1], pending, 'PXAT', ARGV[4])
return {answer, epoch, reset}
";

/// Commits: `d:<digest>` until the claim's expiry (`PXAT`, Redis 6.2 or later), unless the
/// record is bound to another payload. A time in the past deletes the key at once.
const COMMIT: &str = r"
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 3, 66) ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], 'd:' .. ARGV[1], 'PXAT', ARGV[2])
return 1
";

/// Compare-and-release: a record still pending under this reservation's nonce becomes
/// `r:<digest>`, keeping its expiry.
const RELEASE: &str = r"
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 2) == 'p:' and string.sub(v, -string.len(ARGV[1]) - 1) == ':' .. ARGV[1] then
  redis.call('SET', KEYS[1], 'r:' .. string.sub(v, 3, 66), 'KEEPTTL')
  return 1
end
return 0
";

/// A replay store on Redis, shared by every process, replica and [`Receiver`](crate::Receiver)
/// that uses the same server and key prefix. It needs Redis 6.2 or later (`SET ... PXAT`).
///
/// ```no_run
/// # async fn run() -> mailgun_webhooks::Result<()> {
/// use mailgun_webhooks::{Receiver, RedisReplayStore, SigningKey, Verifier};
///
/// let store = RedisReplayStore::connect("redis://127.0.0.1:6379/").await?;
/// for warning in store.health().await?.warnings() {
///     eprintln!("replay store: {warning}");
/// }
/// let receiver = Receiver::new(Verifier::new(SigningKey::new("key")), store);
/// # let _ = receiver;
/// # Ok(()) }
/// ```
///
/// # How it works
///
/// Each operation is one round trip running one small Lua script, atomic on the server, that
/// implements the [`ReplayStore`] contract:
///
/// - a record `<prefix><hex key>` holds `p:<digest>:<pending until>:<nonce>` (pending),
///   `r:<digest>` (released) or `d:<digest>` (committed), and expires at the claim's expiry
///   (`PXAT`, signed timestamp + `max_age` + 60 s, derived from signed data only, so every
///   process writes the same one). The pending lifetime is checked against Redis's clock
///   (`TIME`) inside the script, so a record outlives its pending state and keeps its payload
///   binding whatever happens to the request.
/// - an epoch marker `<prefix>epoch:<hex namespace>` per account namespace holds the time
///   (Redis's clock, ms) since which that namespace's records are complete. It has no expiry.
///   When a reserve finds it missing (first use, a restart without persistence, `FLUSHALL`,
///   `FLUSHDB`, eviction of the marker, a failover to a replica that never had it), it sets it
///   to now: deliveries signed before that are not provable, and the [`LossPolicy`]
///   (default [`FailClosed`](LossPolicy::FailClosed)) decides. [`epochs_started`](Self::epochs_started)
///   counts how often this handle saw that happen.
///
/// The record and its namespace's marker are two keys of one script, so this store does not
/// support Redis Cluster (use one primary, optionally with replicas).
///
/// # Fail closed, and fast
///
/// Any error, an unexpected reply, or no reply within the command timeout is
/// [`ErrorKind::StoreUnavailable`] (503): Mailgun retries, so an outage delays events instead of
/// accepting unchecked ones. After [`failure_threshold`](RedisReplayStoreBuilder::failure_threshold)
/// consecutive failures (3), or at once after one connection-level failure (refused, reset,
/// broken pipe: the connection is gone, not slow), reserves answer 503 at once, without
/// touching the network, while a
/// background task pings Redis every [`cool_down`](RedisReplayStoreBuilder::cool_down) (1 s);
/// the store recovers on its own once a ping answers (without a Tokio runtime to probe from,
/// requests try Redis again after each cool-down). Commits and releases always try
/// (a handler that ran should be recorded if at all possible). Before that, while any
/// operation waits on a Redis that has answered nothing for
/// [`suspect_after`](RedisReplayStoreBuilder::suspect_after) (20 ms), new reserves answer 503
/// at once too ("suspect"): only the requests already sent wait for the command timeout, so a
/// stalled Redis holds a handful of requests, not every request of the first 250 ms. A reserve whose reply was lost
/// may have been written: its record is pending, bound to its payload, and a retry of the same
/// payload gets 409 until the pending lifetime runs out, then is processed.
///
/// # Requirements on the Redis server
///
/// [`health`](Self::health) checks them; the example servers print its warnings at startup.
///
/// - Redis 6.2 or later, with scripting (`EVAL`) allowed; the scripts are loaded when
///   connecting, so a server that refuses them fails at start.
/// - The `noeviction` policy, or a `volatile-*` policy with memory headroom: `allkeys-*`
///   policies can evict records (reopening replays) and the epoch marker (which this store then
///   notices, at the price of refusing earlier deliveries under `FailClosed`).
/// - Persistence (AOF, ideally `appendfsync always`, or RDB): without it, a restart loses every
///   record; the store notices (the marker is gone) and fails closed, but Mailgun's retries of
///   the deliveries signed before the restart are then refused.
/// - Not a replica: writes would fail.
/// - Keep the clocks of Redis and the receiving hosts within the
///   [`clock_margin`](RedisReplayStoreBuilder::clock_margin) (60 s) of each other (NTP).
///
/// Use it from a Tokio runtime. Clones share the connection.
#[derive(Clone)]
pub struct RedisReplayStore {
    inner: Arc<Inner>,
}

struct Inner {
    conn: ConnectionManager,
    prefix: String,
    pending_ttl_ms: u64,
    command_timeout: Duration,
    connect_timeout: Duration,
    loss_policy: LossPolicy,
    clock_margin: Duration,
    nonce_seed: u64,
    counter: AtomicU64,
    reserve: Script,
    commit: Script,
    release: Script,
    breaker: Breaker,
    epochs_started: AtomicU64,
}

/// The fail-fast state: consecutive failures, and until when reserves answer 503 at once.
struct Breaker {
    threshold: u32,
    cool_down: Duration,
    start: Instant,
    failures: AtomicU32,
    /// Milliseconds since `start`; 0 when closed.
    open_until: AtomicU64,
    probing: AtomicBool,
    /// Operations waiting on Redis now.
    in_flight: AtomicU64,
    /// When `in_flight` last went from 0 to 1 (ms since `start`).
    busy_since: AtomicU64,
    /// When Redis last answered anything (ms since `start`).
    last_reply: AtomicU64,
    /// How long Redis may owe every answer before new reserves are refused (ms).
    suspect_after_ms: u64,
}

impl Breaker {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn is_open(&self) -> bool {
        let until = self.open_until.load(Ordering::Acquire);
        until != 0 && self.now_ms() < until
    }

    /// Suspect: some operation is waiting on Redis, and Redis has answered nothing for longer
    /// than `suspect_after` while one was waiting (replies on the connection come in order, so
    /// a stalled or lost connection shows as silence). New reserves are refused at once until
    /// an answer arrives or the waiting operations time out (and count as failures).
    fn is_suspect(&self) -> bool {
        if self.in_flight.load(Ordering::Acquire) == 0 {
            return false;
        }
        let owed_since = self
            .busy_since
            .load(Ordering::Acquire)
            .max(self.last_reply.load(Ordering::Acquire));
        self.now_ms().saturating_sub(owed_since) > self.suspect_after_ms
    }

    /// Marks one operation as waiting on Redis until the guard is dropped (also when the
    /// operation's future is dropped).
    fn enter(&self) -> InFlight<'_> {
        if self.in_flight.load(Ordering::Acquire) == 0 {
            self.busy_since.store(self.now_ms(), Ordering::Release);
        }
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self)
    }

    fn replied(&self) {
        self.last_reply.store(self.now_ms(), Ordering::Release);
    }

    /// A connection-level failure (refused, reset, broken pipe, dropped): opens at once; true
    /// when a probe should start.
    fn tripped(&self) -> bool {
        self.failures.store(self.threshold, Ordering::Release);
        if self.open_until.load(Ordering::Acquire) != u64::MAX {
            self.open_for_cool_down();
        }
        !self.probing.swap(true, Ordering::AcqRel)
    }

    fn cool_down_ms(&self) -> u64 {
        u64::try_from(self.cool_down.as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    fn succeeded(&self) {
        self.failures.store(0, Ordering::Release);
        self.open_until.store(0, Ordering::Release);
    }

    /// Counts a failure; true when the breaker just opened and a probe should start.
    fn failed(&self) -> bool {
        let n = self
            .failures
            .fetch_add(1, Ordering::AcqRel)
            .saturating_add(1);
        if n >= self.threshold {
            if self.open_until.load(Ordering::Acquire) != u64::MAX {
                self.open_for_cool_down();
            }
            return !self.probing.swap(true, Ordering::AcqRel);
        }
        false
    }

    /// Opens for one cool-down (the fallback when no probe runs).
    fn open_for_cool_down(&self) {
        let until = self.now_ms().saturating_add(self.cool_down_ms()).max(1);
        self.open_until.store(until, Ordering::Release);
    }
}

/// One operation waiting on Redis; see [`Breaker::enter`].
struct InFlight<'a>(&'a Breaker);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What [`RedisReplayStore::health`] found that makes the store unsafe or weaker than it
/// should be.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HealthWarning {
    /// Neither AOF nor RDB snapshots are enabled: a restart loses every record.
    PersistenceOff,
    /// Persistence could not be checked (`CONFIG GET` is not allowed, as on some managed
    /// services); check it yourself.
    PersistenceUnknown,
    /// An eviction policy other than `noeviction` (or `volatile-*`, which never evicts this
    /// store's epoch markers and evicts records only under memory pressure): live records can be
    /// evicted.
    Eviction {
        /// The configured `maxmemory-policy`.
        policy: String,
    },
    /// A Redis older than 6.2 (`SET ... PXAT` and `KEEPTTL` are missing).
    OldVersion {
        /// The server's `redis_version`.
        version: String,
    },
    /// The server is a replica: writes fail, and a promoted replica may lack recent records.
    Replica,
}

impl fmt::Display for HealthWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HealthWarning::PersistenceOff => f.write_str(
                "persistence is off (no AOF, no RDB): a Redis restart forgets every record; \
                 the store notices and fails closed, refusing retries of earlier deliveries",
            ),
            HealthWarning::PersistenceUnknown => {
                f.write_str("persistence could not be checked (CONFIG GET refused)")
            }
            HealthWarning::Eviction { policy } => write!(
                f,
                "maxmemory-policy is {policy}: live replay records can be evicted \
                 (use noeviction)"
            ),
            HealthWarning::OldVersion { version } => {
                write!(
                    f,
                    "redis {version} is older than 6.2, which this store needs"
                )
            }
            HealthWarning::Replica => f.write_str("the server is a replica: writes will fail"),
        }
    }
}

/// The result of [`RedisReplayStore::health`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreHealth {
    version: String,
    warnings: Vec<HealthWarning>,
}

impl StoreHealth {
    /// The server's version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// What makes the store unsafe; empty when all is well.
    pub fn warnings(&self) -> &[HealthWarning] {
        &self.warnings
    }

    /// True when there is no warning.
    pub fn is_healthy(&self) -> bool {
        self.warnings.is_empty()
    }
}

impl RedisReplayStore {
    /// The default key prefix: `mailgun-webhooks:replay:`.
    pub const DEFAULT_PREFIX: &'static str = "mailgun-webhooks:replay:";
    /// The default time to establish a connection: 1 second.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
    /// The default time for one store operation to answer: 250 ms.
    pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_millis(250);
    /// The default lifetime of a pending reservation: 60 seconds. See
    /// [`MemoryReplayStore::DEFAULT_PENDING_TTL`](crate::MemoryReplayStore::DEFAULT_PENDING_TTL).
    pub const DEFAULT_PENDING_TTL: Duration = Duration::from_secs(60);
    /// The default allowance for clock differences between Redis and the receiving hosts: 60 s.
    pub const DEFAULT_CLOCK_MARGIN: Duration = Duration::from_secs(60);
    /// The default number of consecutive failures after which reserves fail fast: 3.
    pub const DEFAULT_FAILURE_THRESHOLD: u32 = 3;
    /// The default fail-fast cool-down between probes: 1 second.
    pub const DEFAULT_COOL_DOWN: Duration = Duration::from_secs(1);
    /// The default silence after which a store with a waiting operation refuses new reserves
    /// at once: 20 ms.
    pub const DEFAULT_SUSPECT_AFTER: Duration = Duration::from_millis(20);

    /// Connects with the default settings. `url` is a Redis URL such as
    /// `redis://127.0.0.1:6379/0` or `rediss://user:password@host/`.
    ///
    /// Fails with [`ErrorKind::StoreUnavailable`] when Redis cannot be reached within the
    /// connect timeout or refuses the scripts, and with [`ErrorKind::NotConfigured`] when the URL
    /// does not parse. Neither message contains the URL.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::builder(url).connect().await
    }

    /// Starts configuring a store.
    pub fn builder(url: impl Into<String>) -> RedisReplayStoreBuilder {
        Self::builder_from(Source::Url(url.into()))
    }

    /// Starts configuring a store on a connection manager the application already has (its
    /// own connection and reconnection settings apply; the store's
    /// [`connect_timeout`](RedisReplayStoreBuilder::connect_timeout) does not). The store
    /// clones it, so the application keeps using it; every store operation still runs under
    /// the store's [`command_timeout`](RedisReplayStoreBuilder::command_timeout).
    /// [`connect`](RedisReplayStoreBuilder::connect) loads the scripts on it.
    pub fn builder_with_connection_manager(conn: ConnectionManager) -> RedisReplayStoreBuilder {
        Self::builder_from(Source::Manager(conn))
    }

    fn builder_from(source: Source) -> RedisReplayStoreBuilder {
        RedisReplayStoreBuilder {
            source,
            prefix: Self::DEFAULT_PREFIX.to_owned(),
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            command_timeout: Self::DEFAULT_COMMAND_TIMEOUT,
            pending_ttl: Self::DEFAULT_PENDING_TTL,
            loss_policy: LossPolicy::FailClosed,
            clock_margin: Self::DEFAULT_CLOCK_MARGIN,
            failure_threshold: Self::DEFAULT_FAILURE_THRESHOLD,
            cool_down: Self::DEFAULT_COOL_DOWN,
            suspect_after: Self::DEFAULT_SUSPECT_AFTER,
        }
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The lifetime of a pending reservation.
    pub fn pending_ttl(&self) -> Duration {
        Duration::from_millis(self.inner.pending_ttl_ms)
    }

    /// The time one operation may take before it fails.
    pub fn command_timeout(&self) -> Duration {
        self.inner.command_timeout
    }

    /// The time to establish a connection.
    pub fn connect_timeout(&self) -> Duration {
        self.inner.connect_timeout
    }

    /// What the store does with a delivery signed before its epoch.
    pub fn loss_policy(&self) -> LossPolicy {
        self.inner.loss_policy
    }

    /// How many times this handle saw a namespace start a new epoch (first use, or records
    /// lost: restart without persistence, `FLUSHALL`, eviction of the marker, ...). For metrics
    /// and alerts: after the first use of each namespace it should stay put.
    pub fn epochs_started(&self) -> u64 {
        self.inner.epochs_started.load(Ordering::Relaxed)
    }

    /// True while reserves fail fast (after consecutive failures, until a probe succeeds).
    pub fn is_failing_fast(&self) -> bool {
        self.inner.breaker.is_open()
    }

    /// The Redis key under which a delivery is recorded: the prefix and the key in hex.
    pub fn redis_key(&self, key: &ReplayKey) -> String {
        format!("{}{key}", self.inner.prefix)
    }

    /// The Redis key of a namespace's epoch marker.
    pub fn epoch_key(&self, namespace: &ReplayNamespace) -> String {
        format!("{}epoch:{namespace}", self.inner.prefix)
    }

    /// Checks that Redis answers, for health endpoints: `PING` under the command timeout.
    pub async fn ping(&self) -> Result<()> {
        ping(&self.inner).await
    }

    /// Reports what makes this Redis unsafe as a replay store: persistence off, an eviction
    /// policy that can drop records, a version older than 6.2, a replica. Call it at startup
    /// and print the warnings (the example servers do), or from a health endpoint.
    pub async fn health(&self) -> Result<StoreHealth> {
        let mut conn = self.inner.conn.clone();
        let info: String = self
            .run(async {
                ::redis::cmd("INFO")
                    .arg("everything")
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(|v| v.trim().to_owned())
        };
        let version = field("redis_version").unwrap_or_default();
        let mut warnings = Vec::new();
        let parsed: Vec<u32> = version
            .split('.')
            .take(2)
            .map(|p| p.parse().unwrap_or(0))
            .collect();
        if parsed.as_slice() < [6, 2].as_slice() {
            warnings.push(HealthWarning::OldVersion {
                version: version.clone(),
            });
        }
        if field("role").as_deref() == Some("slave") {
            warnings.push(HealthWarning::Replica);
        }
        let policy = field("maxmemory_policy").unwrap_or_default();
        if !policy.is_empty() && policy != "noeviction" && !policy.starts_with("volatile-") {
            warnings.push(HealthWarning::Eviction { policy });
        }
        if field("aof_enabled").as_deref() != Some("1") {
            let mut conn = self.inner.conn.clone();
            let save: Result<Vec<String>> = self
                .run(async {
                    ::redis::cmd("CONFIG")
                        .arg("GET")
                        .arg("save")
                        .query_async(&mut conn)
                        .await
                })
                .await;
            match save {
                Ok(pair) if pair.get(1).is_some_and(|v| !v.trim().is_empty()) => {}
                Ok(_) => warnings.push(HealthWarning::PersistenceOff),
                Err(_) => warnings.push(HealthWarning::PersistenceUnknown),
            }
        }
        Ok(StoreHealth { version, warnings })
    }

    fn next_token(&self) -> u128 {
        let n = self.inner.counter.fetch_add(1, Ordering::Relaxed);
        (u128::from(self.inner.nonce_seed) << 64) | u128::from(n)
    }

    /// Runs one operation under the command timeout; every failure is `StoreUnavailable`.
    async fn run<T>(&self, op: impl Future<Output = RedisResult<T>>) -> Result<T> {
        tracked(&self.inner, op).await
    }

    async fn reserve_claim(&self, claim: &ReplayClaim) -> Result<ReplayOutcome> {
        let breaker = &self.inner.breaker;
        if breaker.is_open() {
            // No network wait while Redis is known to be down.
            return Err(Error::with_source(
                ErrorKind::StoreUnavailable,
                StoreError::FailingFast,
            ));
        }
        if breaker.is_suspect() {
            // No network wait while another operation waits on a silent Redis.
            return Err(Error::with_source(
                ErrorKind::StoreUnavailable,
                StoreError::Suspect(Duration::from_millis(breaker.suspect_after_ms)),
            ));
        }
        let token = self.next_token();
        let nonce = format!("{token:032x}");
        let mut conn = self.inner.conn.clone();
        let script = &self.inner.reserve;
        let policy = match self.inner.loss_policy {
            LossPolicy::FailClosed => "closed",
            LossPolicy::Accept => "accept",
        };
        let mut invocation = script.prepare_invoke();
        invocation
            .key(self.redis_key(claim.key()))
            .key(self.epoch_key(claim.namespace()))
            .arg(claim.digest().to_string())
            .arg(nonce)
            .arg(self.inner.pending_ttl_ms)
            .arg(claim.expires_at_ms().max(1))
            .arg(claim.earliest_receipt_ms(self.inner.clock_margin))
            .arg(policy);
        // Dropped while waiting: the script may have run; its record is pending, bound to
        // this payload, and behaves as released after the pending lifetime.
        let answer: Result<(i64, i64, i64)> = self
            .run(async move { invocation.invoke_async(&mut conn).await })
            .await;
        let (answer, _epoch, reset) = match answer {
            Ok(a) => {
                breaker.succeeded();
                a
            }
            Err(e) => {
                if breaker.failed() {
                    start_probe(&self.inner);
                }
                return Err(e);
            }
        };
        if reset == 1 {
            self.inner.epochs_started.fetch_add(1, Ordering::Relaxed);
        }
        match answer {
            0 => Ok(ReplayOutcome::Fresh(Reservation::new(*claim, token))),
            6 => Ok(ReplayOutcome::Fresh(
                Reservation::new(*claim, token).unproven(),
            )),
            1 => Ok(ReplayOutcome::Duplicate),
            2 => Ok(ReplayOutcome::InFlight),
            4 => Ok(ReplayOutcome::PayloadMismatch),
            5 => Err(ErrorKind::SignedBeforeEpoch.into()),
            _ => Err(Error::with_source(
                ErrorKind::StoreUnavailable,
                StoreError::UnexpectedValue,
            )),
        }
    }

    async fn commit_reservation(&self, reservation: Reservation) -> Result<()> {
        let claim = reservation.claim();
        let mut conn = self.inner.conn.clone();
        let mut invocation = self.inner.commit.prepare_invoke();
        invocation
            .key(self.redis_key(claim.key()))
            .arg(claim.digest().to_string())
            .arg(claim.expires_at_ms().max(1));
        self.run(async move { invocation.invoke_async::<i64>(&mut conn).await })
            .await
            .map(drop)
    }

    async fn release_reservation(&self, reservation: Reservation) -> Result<()> {
        release(
            &self.inner,
            &self.redis_key(reservation.key()),
            reservation.token(),
        )
        .await
    }
}

async fn run<T>(timeout: Duration, op: impl Future<Output = RedisResult<T>>) -> Result<T> {
    match tokio::time::timeout(timeout, op).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Error::with_source(ErrorKind::StoreUnavailable, e)),
        Err(_) => Err(Error::with_source(
            ErrorKind::StoreUnavailable,
            StoreError::Timeout(timeout),
        )),
    }
}

/// Runs one operation under the command timeout, as seen by the breaker: it counts as waiting
/// on Redis (for the suspect state) until it ends or is dropped, an answer marks Redis as
/// alive, and a connection-level failure (not a slow reply) opens the breaker at once.
async fn tracked<T>(inner: &Arc<Inner>, op: impl Future<Output = RedisResult<T>>) -> Result<T> {
    let timeout = inner.command_timeout;
    let breaker = &inner.breaker;
    let _waiting = breaker.enter();
    // Dropped while waiting: the guard leaves the in-flight count; nothing else is held.
    match tokio::time::timeout(timeout, op).await {
        Ok(Ok(v)) => {
            breaker.replied();
            Ok(v)
        }
        Ok(Err(e)) => {
            if is_connection_failure(&e) {
                if breaker.tripped() {
                    start_probe(inner);
                }
            } else {
                // Redis answered, with an error.
                breaker.replied();
            }
            Err(Error::with_source(ErrorKind::StoreUnavailable, e))
        }
        Err(_) => Err(Error::with_source(
            ErrorKind::StoreUnavailable,
            StoreError::Timeout(timeout),
        )),
    }
}

/// Refused, reset, broken pipe, dropped: the connection is gone, not slow.
fn is_connection_failure(e: &::redis::RedisError) -> bool {
    !e.is_timeout() && (e.is_io_error() || e.is_connection_refusal() || e.is_connection_dropped())
}

async fn ping(inner: &Arc<Inner>) -> Result<()> {
    let mut conn = inner.conn.clone();
    tracked(inner, async move {
        ::redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(drop)
    })
    .await
}

async fn release(inner: &Arc<Inner>, redis_key: &str, token: u128) -> Result<()> {
    let mut conn = inner.conn.clone();
    let mut invocation = inner.release.prepare_invoke();
    invocation.key(redis_key).arg(format!("{token:032x}"));
    tracked(inner, async move {
        invocation.invoke_async::<i64>(&mut conn).await
    })
    .await
    .map(drop)
}

/// Keeps the breaker open while a probe pings Redis every cool-down, and closes it once a ping
/// answers. Holds only a weak reference: the task ends when the store is dropped. If the task
/// is dropped (its runtime shut down), the breaker falls back to one cool-down, after which
/// requests try Redis again.
fn start_probe(inner: &Arc<Inner>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        // No runtime to probe from: requests try Redis again after the cool-down.
        inner.breaker.probing.store(false, Ordering::Release);
        return;
    };
    // Open until the probe succeeds: no request waits on a Redis known to be down.
    inner.breaker.open_until.store(u64::MAX, Ordering::Release);
    let guard = ProbeGuard(Arc::downgrade(inner));
    runtime.spawn(async move {
        loop {
            let cool_down = match guard.0.upgrade() {
                Some(inner) => inner.breaker.cool_down,
                None => return,
            };
            tokio::time::sleep(cool_down).await;
            let Some(inner) = guard.0.upgrade() else {
                return;
            };
            if ping(&inner).await.is_ok() {
                inner.breaker.succeeded();
                return;
            }
        }
    });
}

/// Ends a probe: whatever way the task ends, probing stops, and a breaker the probe did not
/// close falls back to one cool-down.
struct ProbeGuard(Weak<Inner>);

impl Drop for ProbeGuard {
    fn drop(&mut self) {
        if let Some(inner) = self.0.upgrade() {
            if inner.breaker.open_until.load(Ordering::Acquire) == u64::MAX {
                inner.breaker.open_for_cool_down();
            }
            inner.breaker.probing.store(false, Ordering::Release);
        }
    }
}

impl ReplayStore for RedisReplayStore {
    fn reserve(&self, claim: &ReplayClaim) -> impl Future<Output = Result<ReplayOutcome>> + Send {
        self.reserve_claim(claim)
    }

    fn commit(&self, reservation: Reservation) -> impl Future<Output = Result<()>> + Send {
        self.commit_reservation(reservation)
    }

    fn release(&self, reservation: Reservation) -> impl Future<Output = Result<()>> + Send {
        self.release_reservation(reservation)
    }

    /// Releases the reservation on a task of the current Tokio runtime (without one, the
    /// pending lifetime runs out instead). Either way the record stays bound to its payload.
    fn abandon(&self, reservation: Reservation) {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let inner = Arc::clone(&self.inner);
            let key = self.redis_key(reservation.key());
            let token = reservation.token();
            runtime.spawn(async move {
                let _ = release(&inner, &key, token).await;
            });
        }
    }
}

impl fmt::Debug for RedisReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisReplayStore")
            .field("prefix", &self.inner.prefix)
            .field("pending_ttl", &self.pending_ttl())
            .field("command_timeout", &self.inner.command_timeout)
            .field("connect_timeout", &self.inner.connect_timeout)
            .field("loss_policy", &self.inner.loss_policy)
            .field("clock_margin", &self.inner.clock_margin)
            .finish_non_exhaustive()
    }
}

/// Configures a [`RedisReplayStore`]. Made by [`RedisReplayStore::builder`].
#[must_use]
pub struct RedisReplayStoreBuilder {
    source: Source,
    prefix: String,
    connect_timeout: Duration,
    command_timeout: Duration,
    pending_ttl: Duration,
    loss_policy: LossPolicy,
    clock_margin: Duration,
    failure_threshold: u32,
    cool_down: Duration,
    suspect_after: Duration,
}

impl RedisReplayStoreBuilder {
    /// The prefix of every key the store writes. Default:
    /// [`RedisReplayStore::DEFAULT_PREFIX`]. Every process that must see the others' records
    /// uses the same prefix.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long establishing a connection may take, at start and on reconnection. Default:
    /// [`RedisReplayStore::DEFAULT_CONNECT_TIMEOUT`] (1 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one store operation may take before it fails with
    /// [`ErrorKind::StoreUnavailable`]. Default: [`RedisReplayStore::DEFAULT_COMMAND_TIMEOUT`]
    /// (250 ms).
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// How long a reservation stays pending (a retry of the same payload gets 409) if it is
    /// neither committed nor released. Default: [`RedisReplayStore::DEFAULT_PENDING_TTL`]
    /// (60 s); at least 1 ms.
    pub fn pending_ttl(mut self, pending_ttl: Duration) -> Self {
        self.pending_ttl = pending_ttl;
        self
    }

    /// What to do with a delivery signed before the store's epoch (records lost). Default:
    /// [`LossPolicy::FailClosed`]. See [`LossPolicy`] for the costs.
    pub fn loss_policy(mut self, policy: LossPolicy) -> Self {
        self.loss_policy = policy;
        self
    }

    /// The largest difference allowed between Redis's clock and the receiving hosts'. Default:
    /// [`RedisReplayStore::DEFAULT_CLOCK_MARGIN`] (60 s). After a loss, deliveries signed up to
    /// `max_skew` + this margin after it are not provable.
    pub fn clock_margin(mut self, margin: Duration) -> Self {
        self.clock_margin = margin;
        self
    }

    /// How many consecutive failures make reserves fail fast. Default:
    /// [`RedisReplayStore::DEFAULT_FAILURE_THRESHOLD`] (3); at least 1.
    pub fn failure_threshold(mut self, failures: u32) -> Self {
        self.failure_threshold = failures.max(1);
        self
    }

    /// How long reserves fail fast before the next probe may close the breaker. Default:
    /// [`RedisReplayStore::DEFAULT_COOL_DOWN`] (1 s).
    pub fn cool_down(mut self, cool_down: Duration) -> Self {
        self.cool_down = cool_down;
        self
    }

    /// How long Redis may stay silent while an operation waits on it before new reserves are
    /// refused with 503 at once (the "suspect" state: no network wait, fail closed), until an
    /// answer arrives or the waiting operations time out. Default:
    /// [`RedisReplayStore::DEFAULT_SUSPECT_AFTER`] (20 ms). Redis answers in well under a
    /// millisecond; raise it if a busy host makes it miss this (503s with a healthy Redis), or
    /// set it to the command timeout to turn the state off.
    pub fn suspect_after(mut self, silence: Duration) -> Self {
        self.suspect_after = silence;
        self
    }

    /// Connects, checks that Redis answers and accepts the scripts, and builds the store.
    ///
    /// See [`RedisReplayStore::connect`] for the errors.
    pub async fn connect(self) -> Result<RedisReplayStore> {
        let scripts = [
            Script::new(RESERVE),
            Script::new(COMMIT),
            Script::new(RELEASE),
        ];
        let url = match &self.source {
            Source::Url(url) => url.clone(),
            Source::Manager(conn) => {
                let mut conn = conn.clone();
                let load = async {
                    for script in &scripts {
                        script.load_async(&mut conn).await?;
                    }
                    Ok::<_, ::redis::RedisError>(())
                };
                start(self.command_timeout.saturating_mul(4), load).await?;
                return Ok(self.build(conn, scripts));
            }
        };
        let client = Client::open(url.as_str()).map_err(|_| {
            Error::new(ErrorKind::NotConfigured {
                what: "the redis url does not parse",
            })
        })?;

        // One direct connection first: it fails fast, with the real cause (refused, timed out,
        // authentication), where the connection manager would keep retrying. It also loads the
        // scripts, so a server that refuses scripting fails here.
        let probe_config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.command_timeout));
        let probe = async {
            let mut conn = client
                .get_multiplexed_async_connection_with_config(&probe_config)
                .await?;
            for script in &scripts {
                script.load_async(&mut conn).await?;
            }
            Ok::<_, ::redis::RedisError>(())
        };
        let budget = self
            .connect_timeout
            .saturating_add(self.command_timeout.saturating_mul(4));
        start(budget, probe).await?;

        // Reconnection: attempts about a second apart (the redis crate's backoff starts at 1 s;
        // max_delay caps it there), four per round; a round that fails ends, and the next
        // operation starts another. Operations never wait longer than the command timeout.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.command_timeout))
            .set_number_of_retries(3)
            .set_max_delay(Duration::from_secs(1));
        let conn = start(
            self.connect_timeout.saturating_add(self.command_timeout),
            ConnectionManager::new_with_config(client, config),
        )
        .await?;
        Ok(self.build(conn, scripts))
    }

    fn build(self, conn: ConnectionManager, scripts: [Script; 3]) -> RedisReplayStore {
        let [reserve, commit, release] = scripts;
        RedisReplayStore {
            inner: Arc::new(Inner {
                conn,
                prefix: self.prefix,
                pending_ttl_ms: u64::try_from(self.pending_ttl.as_millis())
                    .unwrap_or(u64::MAX)
                    .max(1),
                command_timeout: self.command_timeout,
                connect_timeout: self.connect_timeout,
                loss_policy: self.loss_policy,
                clock_margin: self.clock_margin,
                nonce_seed: RandomState::new().hash_one((std::process::id(), SystemTime::now())),
                counter: AtomicU64::new(0),
                reserve,
                commit,
                release,
                breaker: Breaker {
                    threshold: self.failure_threshold,
                    cool_down: self.cool_down,
                    start: Instant::now(),
                    failures: AtomicU32::new(0),
                    open_until: AtomicU64::new(0),
                    probing: AtomicBool::new(false),
                    in_flight: AtomicU64::new(0),
                    busy_since: AtomicU64::new(0),
                    last_reply: AtomicU64::new(0),
                    suspect_after_ms: u64::try_from(self.suspect_after.as_millis())
                        .unwrap_or(u64::MAX),
                },
                epochs_started: AtomicU64::new(0),
            }),
        }
    }
}

impl fmt::Debug for RedisReplayStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold a password: never printed.
        f.debug_struct("RedisReplayStoreBuilder")
            .field("url", &"<redacted>")
            .field("prefix", &self.prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("command_timeout", &self.command_timeout)
            .field("pending_ttl", &self.pending_ttl)
            .field("loss_policy", &self.loss_policy)
            .field("clock_margin", &self.clock_margin)
            .field("failure_threshold", &self.failure_threshold)
            .field("cool_down", &self.cool_down)
            .field("suspect_after", &self.suspect_after)
            .finish()
    }
}

/// Where a builder gets its connection.
enum Source {
    Url(String),
    Manager(ConnectionManager),
}

/// Runs a start-up step under `budget`; every failure is `StoreUnavailable`.
async fn start<T>(budget: Duration, step: impl Future<Output = RedisResult<T>>) -> Result<T> {
    run(budget, step).await
}

/// Why a Redis operation failed, beyond the redis crate's own errors.
#[derive(Debug)]
enum StoreError {
    Timeout(Duration),
    UnexpectedValue,
    FailingFast,
    Suspect(Duration),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Timeout(d) => write!(f, "redis did not answer within {} ms", d.as_millis()),
            StoreError::UnexpectedValue => f.write_str(
                "a replay key holds a value this store did not write (check the key prefix)",
            ),
            StoreError::FailingFast => f.write_str(
                "redis failed repeatedly: failing fast until a background probe succeeds",
            ),
            StoreError::Suspect(d) => write!(
                f,
                "failing fast: redis has not answered a waiting operation for over {} ms",
                d.as_millis()
            ),
        }
    }
}

impl std::error::Error for StoreError {}
