//! A replay store on Redis, shared by every process that uses the same server and prefix.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::future::Future;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{AsyncConnectionConfig, Client, RedisResult, Script};

use super::memory::unix_ms;
use super::{ReplayOutcome, ReplayStore, Reservation};
use crate::error::{Error, ErrorKind, Result};
use crate::verify::ReplayKey;

/// `SET NX PX` of the pending marker; when the key exists, tells a committed record from a
/// pending one in the same atomic step. Returns 0 fresh, 1 duplicate, 2 in flight, 3 unknown.
const RESERVE: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 0
end
local v = redis.call('GET', KEYS[1])
if v == 'done' then
  return 1
end
if type(v) == 'string' and string.sub(v, 1, 8) == 'pending:' then
  return 2
end
return 3
";

/// Writes the committed marker and its absolute expiry in one command (`PXAT`, Redis 6.2 or
/// later), so no failure can leave a record without an expiry; a time in the past deletes the
/// key at once.
const COMMIT: &str = r"
redis.call('SET', KEYS[1], 'done', 'PXAT', ARGV[1])
return 1
";

/// Compare-and-delete: removes the key only if it still holds this reservation's marker.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
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
/// let receiver = Receiver::new(Verifier::new(SigningKey::new("key")), store);
/// # let _ = receiver;
/// # Ok(()) }
/// ```
///
/// # How it works
///
/// Each operation is one round trip running one small Lua script, atomic on the server:
///
/// - **reserve**: `SET <prefix><hex key> pending:<nonce> NX PX <pending ttl>`; when the key
///   exists, its value tells a committed delivery (`done`: duplicate) from a pending one
///   (in flight). The nonce is unique to this reservation (128 bits: a per-store random seed and
///   a counter).
/// - **commit**: `SET <key> done PXAT <expiry>`, at the delivery's expiry (signed timestamp +
///   `max_age` + 60 s). The expiry is absolute and derived from signed data only, so every
///   process writes the same one whatever its clock.
/// - **release**: deletes the key only if it still holds this reservation's
///   `pending:<nonce>` (compare-and-delete), so an expired reservation never deletes another
///   request's.
///
/// # Fail closed
///
/// Any error, an unexpected reply, or no reply within the command timeout is
/// [`ErrorKind::StoreUnavailable`] (503): Mailgun retries, so an outage delays events instead of
/// accepting unchecked ones. A reserve whose reply was lost may have been written; its pending
/// marker expires after the pending lifetime, and until then a retry gets 409. The connection is
/// re-established in the background after Redis restarts or the network recovers (about a
/// second after Redis is back), without restarting the process.
///
/// # Requirements on the Redis server
///
/// - Scripting (`EVAL`) must be allowed; the scripts are loaded when connecting, so a server
///   that refuses them fails at start rather than on the first delivery.
/// - Use the `noeviction` policy, or a `volatile-*` policy with memory headroom: an eviction
///   policy such as `allkeys-lru` can drop live records and reopen replays.
/// - Persistence (AOF or RDB) decides whether records survive a Redis restart. Without it, a
///   restart forgets every record, and deliveries seen before it can be replayed while their
///   signature is fresh.
/// - Keep the clocks of Redis and the receiving hosts within a minute of each other (NTP):
///   records expire on Redis's clock at signed timestamp + `max_age` + 60 s.
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
    nonce_seed: u64,
    counter: AtomicU64,
    reserve: Script,
    commit: Script,
    release: Script,
}

impl RedisReplayStore {
    /// The default key prefix: `mailgun-webhooks:replay:`.
    pub const DEFAULT_PREFIX: &'static str = "mailgun-webhooks:replay:";
    /// The default time to establish a connection: 1 second.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
    /// The default time for one store operation to answer: 250 ms. A store that does not answer
    /// in time is treated as unavailable (503), so requests fail fast instead of piling up.
    pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_millis(250);
    /// The default lifetime of a pending reservation: 60 seconds. See
    /// [`MemoryReplayStore::DEFAULT_PENDING_TTL`](crate::MemoryReplayStore::DEFAULT_PENDING_TTL).
    pub const DEFAULT_PENDING_TTL: Duration = Duration::from_secs(60);

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
        RedisReplayStoreBuilder {
            url: url.into(),
            prefix: Self::DEFAULT_PREFIX.to_owned(),
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            command_timeout: Self::DEFAULT_COMMAND_TIMEOUT,
            pending_ttl: Self::DEFAULT_PENDING_TTL,
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

    /// The Redis key under which a delivery is recorded: the prefix and the key in hex.
    pub fn redis_key(&self, key: &ReplayKey) -> String {
        format!("{}{key}", self.inner.prefix)
    }

    /// Checks that Redis answers, for health endpoints: `PING` under the command timeout.
    pub async fn ping(&self) -> Result<()> {
        let mut conn = self.inner.conn.clone();
        self.run(async move {
            ::redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .map(drop)
        })
        .await
    }

    fn next_token(&self) -> u128 {
        let n = self.inner.counter.fetch_add(1, Ordering::Relaxed);
        (u128::from(self.inner.nonce_seed) << 64) | u128::from(n)
    }

    /// Runs one operation under the command timeout; every failure is `StoreUnavailable`.
    async fn run<T>(&self, op: impl Future<Output = RedisResult<T>>) -> Result<T> {
        match tokio::time::timeout(self.inner.command_timeout, op).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(Error::with_source(ErrorKind::StoreUnavailable, e)),
            Err(_) => Err(Error::with_source(
                ErrorKind::StoreUnavailable,
                StoreError::Timeout(self.inner.command_timeout),
            )),
        }
    }

    async fn reserve_key(&self, key: &ReplayKey, expires_at: SystemTime) -> Result<ReplayOutcome> {
        let redis_key = self.redis_key(key);
        let token = self.next_token();
        let marker = format!("pending:{token:032x}");
        let mut conn = self.inner.conn.clone();
        let script = &self.inner.reserve;
        let ttl = self.inner.pending_ttl_ms;
        let answer: i64 = self
            .run(async move {
                script
                    .key(redis_key)
                    .arg(marker)
                    .arg(ttl)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        match answer {
            0 => Ok(ReplayOutcome::Fresh(Reservation::new(
                *key, expires_at, token,
            ))),
            1 => Ok(ReplayOutcome::Duplicate),
            2 => Ok(ReplayOutcome::InFlight),
            _ => Err(Error::with_source(
                ErrorKind::StoreUnavailable,
                StoreError::UnexpectedValue,
            )),
        }
    }

    async fn commit_reservation(&self, reservation: Reservation) -> Result<()> {
        let redis_key = self.redis_key(reservation.key());
        // PXAT needs a positive time; 1 ms after 1970 deletes the key like any past time.
        let at = unix_ms(reservation.expires_at()).max(1);
        let mut conn = self.inner.conn.clone();
        let script = &self.inner.commit;
        self.run(async move {
            script
                .key(redis_key)
                .arg(at)
                .invoke_async::<i64>(&mut conn)
                .await
        })
        .await
        .map(drop)
    }

    async fn release_reservation(&self, reservation: Reservation) -> Result<()> {
        let redis_key = self.redis_key(reservation.key());
        let marker = format!("pending:{:032x}", reservation.token());
        let mut conn = self.inner.conn.clone();
        let script = &self.inner.release;
        self.run(async move {
            script
                .key(redis_key)
                .arg(marker)
                .invoke_async::<i64>(&mut conn)
                .await
        })
        .await
        .map(drop)
    }
}

impl ReplayStore for RedisReplayStore {
    fn reserve(
        &self,
        key: &ReplayKey,
        expires_at: SystemTime,
    ) -> impl Future<Output = Result<ReplayOutcome>> + Send {
        self.reserve_key(key, expires_at)
    }

    fn commit(&self, reservation: Reservation) -> impl Future<Output = Result<()>> + Send {
        self.commit_reservation(reservation)
    }

    fn release(&self, reservation: Reservation) -> impl Future<Output = Result<()>> + Send {
        self.release_reservation(reservation)
    }
}

impl fmt::Debug for RedisReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisReplayStore")
            .field("prefix", &self.inner.prefix)
            .field("pending_ttl", &self.pending_ttl())
            .field("command_timeout", &self.inner.command_timeout)
            .field("connect_timeout", &self.inner.connect_timeout)
            .finish_non_exhaustive()
    }
}

/// Configures a [`RedisReplayStore`]. Made by [`RedisReplayStore::builder`].
#[must_use]
pub struct RedisReplayStoreBuilder {
    url: String,
    prefix: String,
    connect_timeout: Duration,
    command_timeout: Duration,
    pending_ttl: Duration,
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

    /// How long a reservation stays pending if it is neither committed nor released. Default:
    /// [`RedisReplayStore::DEFAULT_PENDING_TTL`] (60 s). Redis counts it in milliseconds; at
    /// least 1 ms.
    pub fn pending_ttl(mut self, pending_ttl: Duration) -> Self {
        self.pending_ttl = pending_ttl;
        self
    }

    /// Connects, checks that Redis answers and accepts the scripts, and builds the store.
    ///
    /// See [`RedisReplayStore::connect`] for the errors.
    pub async fn connect(self) -> Result<RedisReplayStore> {
        let client = Client::open(self.url.as_str()).map_err(|_| {
            Error::new(ErrorKind::NotConfigured {
                what: "the redis url does not parse",
            })
        })?;
        let scripts = [
            Script::new(RESERVE),
            Script::new(COMMIT),
            Script::new(RELEASE),
        ];

        // One direct connection first: it fails fast, with the real cause (refused, timed out,
        // authentication), where the connection manager would keep retrying. It also loads the
        // scripts, so a server that refuses scripting fails here.
        let probe_config = AsyncConnectionConfig::new()
            .set_connection_timeout(self.connect_timeout)
            .set_response_timeout(self.command_timeout);
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
            .set_connection_timeout(self.connect_timeout)
            .set_response_timeout(self.command_timeout)
            .set_number_of_retries(3)
            .set_max_delay(1000);
        let conn = start(
            self.connect_timeout.saturating_add(self.command_timeout),
            ConnectionManager::new_with_config(client, config),
        )
        .await?;

        let [reserve, commit, release] = scripts;
        Ok(RedisReplayStore {
            inner: Arc::new(Inner {
                conn,
                prefix: self.prefix,
                pending_ttl_ms: u64::try_from(self.pending_ttl.as_millis())
                    .unwrap_or(u64::MAX)
                    .max(1),
                command_timeout: self.command_timeout,
                connect_timeout: self.connect_timeout,
                nonce_seed: RandomState::new().hash_one((std::process::id(), SystemTime::now())),
                counter: AtomicU64::new(0),
                reserve,
                commit,
                release,
            }),
        })
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
            .finish()
    }
}

/// Runs a start-up step under `budget`; every failure is `StoreUnavailable`.
async fn start<T>(budget: Duration, step: impl Future<Output = RedisResult<T>>) -> Result<T> {
    match tokio::time::timeout(budget, step).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Error::with_source(ErrorKind::StoreUnavailable, e)),
        Err(_) => Err(Error::with_source(
            ErrorKind::StoreUnavailable,
            StoreError::Timeout(budget),
        )),
    }
}

/// Why a Redis operation failed, beyond the redis crate's own errors.
#[derive(Debug)]
enum StoreError {
    Timeout(Duration),
    UnexpectedValue,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Timeout(d) => write!(f, "redis did not answer within {} ms", d.as_millis()),
            StoreError::UnexpectedValue => f.write_str(
                "a replay key holds a value this store did not write (check the key prefix)",
            ),
        }
    }
}

impl std::error::Error for StoreError {}
