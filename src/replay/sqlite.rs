//! A durable replay store in one SQLite file (WAL), with an exactly-once entry point in the
//! application's own transaction.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};

use super::memory::unix_ms;
use super::sql::{
    self, COMMITTED, EPOCH, Judgement, PENDING, RELEASED, Record, SqlAdmission, StoreError,
    TransactionFuture, db_ms, store_error, timed,
};
use super::{LossPolicy, ReplayClaim, ReplayOutcome, ReplayStore, Reservation};
use crate::error::{ErrorKind, Result};
use crate::receiver::{HandlerError, Outcome};
use crate::verify::{Clock, SystemClock};

/// The records' table.
const TABLE: &str = "mailgun_webhooks_replay";

/// The schema: the records (and the epoch marker), a one-row table with their count, and the
/// triggers that keep the count (so that every process sharing the file sees the same count).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS mailgun_webhooks_replay (
    key           BLOB    NOT NULL PRIMARY KEY,
    digest        BLOB,
    state         INTEGER NOT NULL,
    token         INTEGER NOT NULL,
    pending_until INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS mailgun_webhooks_replay_expires_at
    ON mailgun_webhooks_replay (expires_at);
CREATE TABLE IF NOT EXISTS mailgun_webhooks_replay_meta (
    id      INTEGER NOT NULL PRIMARY KEY CHECK (id = 0),
    records INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS mailgun_webhooks_replay_count_insert
    AFTER INSERT ON mailgun_webhooks_replay
    BEGIN UPDATE mailgun_webhooks_replay_meta SET records = records + 1 WHERE id = 0; END;
CREATE TRIGGER IF NOT EXISTS mailgun_webhooks_replay_count_delete
    AFTER DELETE ON mailgun_webhooks_replay
    BEGIN UPDATE mailgun_webhooks_replay_meta SET records = records - 1 WHERE id = 0; END;
";

/// A durable replay store in one SQLite file: the default for a single instance.
///
/// ```no_run
/// # async fn run() -> mailgun_webhooks::Result<()> {
/// use mailgun_webhooks::{Receiver, SigningKey, SqliteReplayStore, Verifier};
///
/// let store = SqliteReplayStore::open("replay.sqlite3").await?;
/// let receiver = Receiver::new(Verifier::new(SigningKey::new("key")), store);
/// # let _ = receiver;
/// # Ok(()) }
/// ```
///
/// # Durable
///
/// Records live in the file, so they **survive restarts**: a delivery committed before a
/// deploy is still a duplicate after it, and its triple cannot be replayed with another body
/// while its signature is fresh. The file is opened in WAL mode with `synchronous = NORMAL`: a
/// commit survives a crash of the process; a power loss may lose the last commits before the
/// operating system wrote them (use [`SqliteReplayStoreBuilder::synchronous_full`] to sync every
/// commit).
///
/// # Concurrency
///
/// SQLite has one writer at a time. Within a process, the store's pool has one connection by
/// default ([`max_connections`](SqliteReplayStoreBuilder::max_connections)), so concurrent tasks
/// queue in the pool instead of polling SQLite's lock. Several processes on one host may open
/// the same file: each statement is atomic on the file's write lock, and a process waits up to
/// the [`busy_timeout`](SqliteReplayStoreBuilder::busy_timeout) for another's. (Not on a
/// network file system: SQLite's locks need a local one.)
///
/// # Bounded, and fail-closed when full
///
/// The file holds at most [`capacity`](SqliteReplayStoreBuilder::capacity) records (default
/// 1,000,000, as [`MemoryReplayStore`](crate::MemoryReplayStore)); when it is full, and no
/// expired record can be deleted, a new delivery is refused with [`ErrorKind::StoreFull`] (503)
/// while duplicates are still recognised. Live records are never evicted. Expired records are
/// deleted by a background task in small batches, each its own short write, so a sweep never
/// holds the write lock for long; [`purge_expired`](SqliteReplayStore::purge_expired) sweeps
/// on demand.
///
/// # Exactly once, in your transaction
///
/// When the handler writes to the same file, use [`begin`](Self::begin) (or
/// [`process`](Self::process)): the delivery's record is written in the transaction the handler
/// writes in. See [`SqlDelivery`](crate::SqlDelivery). With SQLite that transaction holds the
/// file's write lock while the handler runs: keep handlers short.
///
/// Records expire on the store's clock ([`SqliteReplayStoreBuilder::clock`], the system clock
/// by default). Clones share the pool.
#[derive(Clone)]
pub struct SqliteReplayStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: SqlitePool,
    capacity: i64,
    pending_ttl_ms: u64,
    command_timeout: Duration,
    sweep_batch: i64,
    clock: Arc<dyn Clock>,
    loss_policy: LossPolicy,
    clock_margin: Duration,
    epochs_started: AtomicU64,
    seed: u64,
    counter: AtomicU64,
    sql: Statements,
}

/// The statements.
struct Statements {
    reserve: String,
    read: String,
    commit: String,
    release: String,
    bind: String,
    take: String,
    mark: String,
    sweep: String,
}

impl Statements {
    fn new(t: &str, meta: &str) -> Self {
        // A new row only when the claim is provable since the file's epoch (?7: its earliest
        // receipt; i64::MAX skips the check) and the file holds fewer than ?9 records; an
        // existing row is judged by ON CONFLICT.
        let admit = format!(
            "((EXISTS (SELECT 1 FROM {t} WHERE key = ?8 AND state = {EPOCH} AND pending_until <= ?7) \
               AND (SELECT records FROM {meta} WHERE id = 0) < ?9) \
              OR EXISTS (SELECT 1 FROM {t} WHERE key = ?1))"
        );
        Statements {
            // ?1 key, ?2 digest, ?3 token, ?4 pending_until, ?5 expires_at, ?6 now,
            // ?7 earliest receipt, ?8 marker, ?9 capacity
            reserve: format!(
                "INSERT INTO {t} AS r (key, digest, state, token, pending_until, expires_at) \
                 SELECT ?1, ?2, {PENDING}, ?3, ?4, ?5 WHERE {admit} \
                 ON CONFLICT (key) DO UPDATE SET digest = excluded.digest, state = {PENDING}, \
                   token = excluded.token, pending_until = excluded.pending_until, \
                   expires_at = CASE WHEN r.expires_at <= ?6 THEN excluded.expires_at \
                                     ELSE max(r.expires_at, excluded.expires_at) END \
                 WHERE r.state <> {EPOCH} AND (r.expires_at <= ?6 \
                    OR (r.digest = excluded.digest \
                        AND (r.state = {RELEASED} \
                             OR (r.state = {PENDING} AND r.pending_until <= ?6)))) \
                 RETURNING 1"
            ),
            // ?1 key, ?2 marker
            read: format!(
                "SELECT key = ?2, state, digest, pending_until, expires_at FROM {t} \
                 WHERE key = ?1 OR key = ?2"
            ),
            // ?1 key, ?2 digest, ?3 expires_at, ?4 now
            commit: format!(
                "INSERT INTO {t} AS r (key, digest, state, token, pending_until, expires_at) \
                 VALUES (?1, ?2, {COMMITTED}, 0, 0, ?3) \
                 ON CONFLICT (key) DO UPDATE SET digest = excluded.digest, state = {COMMITTED}, \
                   token = 0, expires_at = max(r.expires_at, excluded.expires_at) \
                 WHERE r.state <> {EPOCH} AND (r.digest = excluded.digest OR r.expires_at <= ?4)"
            ),
            // ?1 key, ?2 token
            release: format!(
                "UPDATE {t} SET state = {RELEASED} \
                 WHERE key = ?1 AND state = {PENDING} AND token = ?2"
            ),
            // ?1 key, ?2 digest, ?3 expires_at, ?4 now, ?7 earliest, ?8 marker, ?9 capacity
            bind: format!(
                "INSERT INTO {t} AS r (key, digest, state, token, pending_until, expires_at) \
                 SELECT ?1, ?2, {RELEASED}, 0, 0, ?3 WHERE {admit} \
                 ON CONFLICT (key) DO UPDATE SET digest = excluded.digest, state = {RELEASED}, \
                   token = 0, pending_until = 0, expires_at = excluded.expires_at \
                 WHERE r.state <> {EPOCH} AND r.expires_at <= ?4 \
                 RETURNING 1"
            ),
            // ?1 key, ?2 digest, ?3 expires_at, ?4 now: in the application's transaction.
            take: format!(
                "UPDATE {t} SET state = {COMMITTED}, token = 0, \
                   expires_at = max(expires_at, ?3) \
                 WHERE key = ?1 AND digest = ?2 AND expires_at > ?4 \
                   AND (state = {RELEASED} OR (state = {PENDING} AND pending_until <= ?4)) \
                 RETURNING 1"
            ),
            // ?1 marker, ?2 now: starts an epoch if there is none.
            mark: format!(
                "INSERT INTO {t} (key, digest, state, token, pending_until, expires_at) \
                 VALUES (?1, NULL, {EPOCH}, 0, ?2, {}) ON CONFLICT (key) DO NOTHING",
                i64::MAX
            ),
            // ?1 now, ?2 batch
            sweep: format!(
                "DELETE FROM {t} WHERE rowid IN ( \
                   SELECT rowid FROM {t} WHERE expires_at <= ?1 LIMIT ?2)"
            ),
        }
    }
}

/// Which write a claim goes through: the two-phase reservation, or the exactly-once binding.
#[derive(Clone, Copy)]
enum Write {
    Reserve,
    Bind,
}

/// What a write ended with.
enum Written {
    /// Written; `true` when unproven (signed before the epoch, `LossPolicy::Accept`).
    Yes { token: i64, unproven: bool },
    /// Not written: the existing record is a duplicate, in flight, another payload, or (for a
    /// binding) one that may be taken.
    Found(Judgement),
}

impl SqliteReplayStore {
    /// The default capacity: 1,000,000 records.
    pub const DEFAULT_CAPACITY: u64 = 1_000_000;
    /// The default lifetime of a pending reservation: 60 seconds.
    pub const DEFAULT_PENDING_TTL: Duration = Duration::from_secs(60);
    /// The default time one store operation may take, waiting for the write lock included:
    /// 5 seconds.
    pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
    /// The default interval between sweeps of expired records: 60 seconds.
    pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(60);
    /// The default number of records one sweep statement deletes: 500.
    pub const DEFAULT_SWEEP_BATCH: u32 = 500;
    /// The default allowance for clock differences between the processes sharing the file: 0
    /// (one host, one clock).
    pub const DEFAULT_CLOCK_MARGIN: Duration = Duration::ZERO;

    /// Opens (creating it if needed) the store in the file at `path`, with the defaults.
    pub async fn open(path: impl AsRef<std::path::Path>) -> Result<Self> {
        Self::builder(path).open().await
    }

    /// Starts configuring a store in the file at `path`.
    pub fn builder(path: impl AsRef<std::path::Path>) -> SqliteReplayStoreBuilder {
        SqliteReplayStoreBuilder::new(Source::Path(path.as_ref().to_path_buf()))
    }

    /// Starts configuring a store in the database of the application's own pool (the
    /// exactly-once path then shares its connections). The pool should be opened in WAL mode;
    /// the store creates its tables in it.
    pub fn builder_with_pool(pool: SqlitePool) -> SqliteReplayStoreBuilder {
        SqliteReplayStoreBuilder::new(Source::Pool(pool))
    }

    /// The pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.inner.pool
    }

    /// The most records the file holds.
    pub fn capacity(&self) -> u64 {
        self.inner.capacity.unsigned_abs()
    }

    /// The lifetime of a pending reservation.
    pub fn pending_ttl(&self) -> Duration {
        Duration::from_millis(self.inner.pending_ttl_ms)
    }

    /// The number of records in the file, expired ones not yet deleted included.
    pub async fn len(&self) -> Result<u64> {
        let n: i64 = timed(
            self.inner.command_timeout,
            sqlx::query_scalar(&format!("SELECT records FROM {TABLE}_meta WHERE id = 0"))
                .fetch_one(&self.inner.pool),
        )
        .await?;
        Ok(n.unsigned_abs())
    }

    /// Deletes every expired record now, in batches, and returns how many were deleted.
    pub async fn purge_expired(&self) -> Result<u64> {
        purge(&self.inner).await
    }

    /// What the store does with a delivery signed before its epoch.
    pub fn loss_policy(&self) -> LossPolicy {
        self.inner.loss_policy
    }

    /// How many times this handle started a new epoch: the file had no epoch marker (it was
    /// new, emptied, or replaced: its records may have been lost).
    pub fn epochs_started(&self) -> u64 {
        self.inner.epochs_started.load(Ordering::Relaxed)
    }

    /// The file's epoch (unix milliseconds on the store's clock): its records are complete
    /// since then. `None` when it has none yet (the next operation starts one).
    pub async fn epoch(&self) -> Result<Option<u64>> {
        let epoch: Option<i64> = timed(
            self.inner.command_timeout,
            sqlx::query_scalar(&format!(
                "SELECT pending_until FROM {TABLE} WHERE key = ?1 AND state = {EPOCH}"
            ))
            .bind(&sql::marker()[..])
            .fetch_optional(&self.inner.pool),
        )
        .await?;
        Ok(epoch.map(i64::unsigned_abs))
    }

    /// Starts an exactly-once delivery of `claim` (made by
    /// [`Receiver::claim`](crate::Receiver::claim)) in a new write transaction (`BEGIN IMMEDIATE`) of the store's pool:
    /// see [`SqlDelivery`](crate::SqlDelivery).
    ///
    /// 1. The triple's binding to its payload is written and committed on its own (one
    ///    statement; nothing if it is already recorded). The epoch and
    ///    [`LossPolicy`] apply here, as for [`reserve`](ReplayStore::reserve).
    /// 2. A write transaction begins, and the record is marked committed in it (one
    ///    statement). A concurrent request with the same delivery waits for the write lock (in
    ///    the pool, or on the file from another process) until this transaction ends, then gets [`SqlAdmission::Duplicate`] (committed) or
    ///    [`SqlAdmission::Fresh`] (rolled back).
    ///
    /// Fails with [`ErrorKind::PayloadMismatch`] (401) when the triple is bound to another
    /// payload, [`ErrorKind::InFlight`] (409) when it is reserved through the two-phase
    /// [`ReplayStore`] methods and not settled, [`ErrorKind::SignedBeforeEpoch`] (503) under
    /// [`LossPolicy::FailClosed`], and [`ErrorKind::StoreUnavailable`] (503) on any database
    /// error. Dropping the returned future at any point leaves at most the binding (step 1).
    pub async fn begin(&self, claim: &ReplayClaim) -> Result<SqlAdmission<Sqlite>> {
        let inner = &self.inner;
        let key = &claim.key().as_bytes()[..];
        let digest = &claim.digest().as_bytes()[..];
        let expires = db_ms(claim.expires_at_ms());
        for _ in 0..4 {
            let now = db_ms(self.now_ms());
            let unproven = match self.write(Write::Bind, claim).await? {
                Written::Yes { unproven, .. } => unproven,
                Written::Found(Judgement::Retry) => false, // bound already: take it below
                Written::Found(j) => return refused(j),
            };
            let mut tx = timed(
                inner.command_timeout,
                inner.pool.begin_with("BEGIN IMMEDIATE"),
            )
            .await?;
            let took = timed(
                inner.command_timeout,
                sqlx::query(&inner.sql.take)
                    .bind(key)
                    .bind(digest)
                    .bind(expires)
                    .bind(now)
                    .fetch_optional(&mut *tx),
            )
            .await?;
            if took.is_some() {
                return Ok(SqlAdmission::Fresh(sql::SqlDelivery::new(
                    tx,
                    *claim.key(),
                    unproven,
                )));
            }
            let (record, epoch) = self.read(&mut *tx, claim).await?;
            drop(tx); // rolls back: nothing was written in it
            match self.judge(record.as_ref(), epoch, claim, now)? {
                Judgement::Retry | Judgement::NoEpoch | Judgement::Refused => continue,
                j => return refused(j),
            }
        }
        Err(store_error(StoreError::Unsettled))
    }

    /// Writes a reservation or a binding for `claim`, applying the epoch and the loss policy;
    /// when nothing is written, says why.
    async fn write(&self, write: Write, claim: &ReplayClaim) -> Result<Written> {
        let inner = &self.inner;
        let mut check_epoch = true;
        for _ in 0..4 {
            let now_ms = self.now_ms();
            let now = db_ms(now_ms);
            let token = self.next_token();
            let pending_until = db_ms(now_ms.saturating_add(inner.pending_ttl_ms));
            let earliest = if check_epoch {
                sql::earliest(claim, inner.clock_margin)
            } else {
                i64::MAX
            };
            let statement = match write {
                Write::Reserve => &inner.sql.reserve,
                Write::Bind => &inner.sql.bind,
            };
            let query = sqlx::query(statement).bind(&claim.key().as_bytes()[..]);
            let query = match write {
                Write::Reserve => query
                    .bind(&claim.digest().as_bytes()[..])
                    .bind(token)
                    .bind(pending_until)
                    .bind(db_ms(claim.expires_at_ms()))
                    .bind(now),
                Write::Bind => query
                    .bind(&claim.digest().as_bytes()[..])
                    .bind(db_ms(claim.expires_at_ms()))
                    .bind(now)
                    .bind(0_i64)
                    .bind(0_i64),
            };
            let row = timed(
                inner.command_timeout,
                query
                    .bind(earliest)
                    .bind(&sql::marker()[..])
                    .bind(inner.capacity)
                    .fetch_optional(&inner.pool),
            )
            .await?;
            if row.is_some() {
                return Ok(Written::Yes {
                    token,
                    unproven: !check_epoch,
                });
            }
            let (record, epoch) = self.read(&inner.pool, claim).await?;
            match self.judge(record.as_ref(), epoch, claim, now)? {
                Judgement::NoEpoch => self.mark().await?,
                Judgement::Unproven => check_epoch = false,
                Judgement::Retry if matches!(write, Write::Bind) => {
                    return Ok(Written::Found(Judgement::Retry));
                }
                Judgement::Retry => {}
                // The capacity guard: delete a batch of expired records, or refuse.
                Judgement::Refused => self.make_room().await?,
                j => return Ok(Written::Found(j)),
            }
        }
        Err(store_error(StoreError::Unsettled))
    }

    /// The file is full: deletes one batch of expired records, or fails with `StoreFull`.
    async fn make_room(&self) -> Result<()> {
        if purge_batch(&self.inner).await? == 0 {
            return Err(ErrorKind::StoreFull.into());
        }
        Ok(())
    }
}

sql::shared_store_items!(SqliteReplayStore, Sqlite, "?1");

impl fmt::Debug for SqliteReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteReplayStore")
            .field("capacity", &self.inner.capacity)
            .field("pending_ttl", &self.pending_ttl())
            .field("command_timeout", &self.inner.command_timeout)
            .finish_non_exhaustive()
    }
}

/// Deletes one batch of expired records (one short write) and returns how many.
async fn purge_batch(inner: &Inner) -> Result<u64> {
    let now = db_ms(unix_ms(inner.clock.now()));
    Ok(timed(
        inner.command_timeout,
        sqlx::query(&inner.sql.sweep)
            .bind(now)
            .bind(inner.sweep_batch)
            .execute(&inner.pool),
    )
    .await?
    .rows_affected())
}

/// Deletes expired records in batches until a batch comes back short, letting requests take
/// the connection between batches.
async fn purge(inner: &Inner) -> Result<u64> {
    let mut total = 0u64;
    loop {
        let done = purge_batch(inner).await?;
        total = total.saturating_add(done);
        if done < inner.sweep_batch.unsigned_abs() {
            return Ok(total);
        }
        tokio::task::yield_now().await;
    }
}

/// The background sweep: holds only a weak handle, so it ends when the last store clone is
/// dropped. Errors are ignored (the next sweep tries again; records are never read as live
/// after their expiry anyway).
fn spawn_sweeper(inner: Weak<Inner>, every: Duration) {
    if every.is_zero() {
        return;
    }
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let Some(inner) = inner.upgrade() else {
                return;
            };
            let _ = purge(&inner).await;
        }
    });
}

enum Source {
    Path(std::path::PathBuf),
    Pool(SqlitePool),
}

/// Configures a [`SqliteReplayStore`]. Made by [`SqliteReplayStore::builder`] or
/// [`SqliteReplayStore::builder_with_pool`].
#[must_use]
pub struct SqliteReplayStoreBuilder {
    source: Source,
    capacity: u64,
    max_connections: u32,
    busy_timeout: Duration,
    synchronous_full: bool,
    pending_ttl: Duration,
    command_timeout: Duration,
    sweep_interval: Duration,
    sweep_batch: u32,
    clock: Arc<dyn Clock>,
    loss_policy: LossPolicy,
    clock_margin: Duration,
}

impl SqliteReplayStoreBuilder {
    fn new(source: Source) -> Self {
        SqliteReplayStoreBuilder {
            source,
            capacity: SqliteReplayStore::DEFAULT_CAPACITY,
            max_connections: 1,
            busy_timeout: Duration::from_secs(5),
            synchronous_full: false,
            pending_ttl: SqliteReplayStore::DEFAULT_PENDING_TTL,
            command_timeout: SqliteReplayStore::DEFAULT_COMMAND_TIMEOUT,
            sweep_interval: SqliteReplayStore::DEFAULT_SWEEP_INTERVAL,
            sweep_batch: SqliteReplayStore::DEFAULT_SWEEP_BATCH,
            clock: Arc::new(SystemClock),
            loss_policy: LossPolicy::FailClosed,
            clock_margin: SqliteReplayStore::DEFAULT_CLOCK_MARGIN,
        }
    }

    /// What the store does with a delivery signed before the file's epoch (the file was new,
    /// or replaced: records may be lost). Default: [`LossPolicy::FailClosed`] (503
    /// [`ErrorKind::SignedBeforeEpoch`] until it is older than `max_age`).
    pub fn loss_policy(mut self, policy: LossPolicy) -> Self {
        self.loss_policy = policy;
        self
    }

    /// The allowance for clock differences between the processes sharing the file. Default:
    /// [`SqliteReplayStore::DEFAULT_CLOCK_MARGIN`] (0: one host).
    pub fn clock_margin(mut self, margin: Duration) -> Self {
        self.clock_margin = margin;
        self
    }

    /// The most records the file holds, pending and committed. Default:
    /// [`SqliteReplayStore::DEFAULT_CAPACITY`] (1,000,000). Every process sharing the file
    /// should use the same.
    pub fn capacity(mut self, capacity: u64) -> Self {
        self.capacity = capacity;
        self
    }

    /// The most connections of the store's own pool. Default: 1 (SQLite has one writer; more
    /// connections wait on the file's lock instead of in the pool). Ignored with
    /// [`builder_with_pool`](SqliteReplayStore::builder_with_pool).
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// How long a statement waits for another process's write lock. Default: 5 s.
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Sync the file on every commit (`synchronous = FULL`), so that a power loss cannot lose a
    /// commit; slower. Default: false (`NORMAL`: a crash of the process loses nothing).
    pub fn synchronous_full(mut self, full: bool) -> Self {
        self.synchronous_full = full;
        self
    }

    /// How long a reservation stays pending if neither committed nor released. Default:
    /// [`SqliteReplayStore::DEFAULT_PENDING_TTL`] (60 s).
    pub fn pending_ttl(mut self, pending_ttl: Duration) -> Self {
        self.pending_ttl = pending_ttl;
        self
    }

    /// How long one store operation (getting the connection included) may take before it
    /// fails with [`ErrorKind::StoreUnavailable`]. Default:
    /// [`SqliteReplayStore::DEFAULT_COMMAND_TIMEOUT`] (5 s).
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// How often the background task deletes expired records; zero disables it. Default:
    /// [`SqliteReplayStore::DEFAULT_SWEEP_INTERVAL`] (60 s).
    pub fn sweep_interval(mut self, every: Duration) -> Self {
        self.sweep_interval = every;
        self
    }

    /// How many records one sweep statement deletes. Default:
    /// [`SqliteReplayStore::DEFAULT_SWEEP_BATCH`] (500).
    pub fn sweep_batch(mut self, rows: u32) -> Self {
        self.sweep_batch = rows.max(1);
        self
    }

    /// The clock that decides when records lapse. Default: [`SystemClock`].
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Opens the file (creating it and the tables if needed) and starts the sweeper. Must run
    /// inside a Tokio runtime. Fails with [`ErrorKind::StoreUnavailable`] when the file cannot
    /// be opened or written.
    pub async fn open(self) -> Result<SqliteReplayStore> {
        let pool = match self.source {
            Source::Pool(pool) => pool,
            Source::Path(path) => {
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(if self.synchronous_full {
                        SqliteSynchronous::Full
                    } else {
                        SqliteSynchronous::Normal
                    })
                    .busy_timeout(self.busy_timeout);
                SqlitePoolOptions::new()
                    .max_connections(self.max_connections)
                    .acquire_timeout(self.command_timeout)
                    .connect_with(options)
                    .await
                    .map_err(sql::unavailable)?
            }
        };
        sqlx::raw_sql(SCHEMA)
            .execute(&pool)
            .await
            .map_err(sql::unavailable)?;
        sqlx::query(&format!(
            "INSERT OR IGNORE INTO {TABLE}_meta (id, records) VALUES (0, 0)"
        ))
        .execute(&pool)
        .await
        .map_err(sql::unavailable)?;
        let inner = Arc::new(Inner {
            pool,
            sql: Statements::new(TABLE, &format!("{TABLE}_meta")),
            capacity: i64::try_from(self.capacity).unwrap_or(i64::MAX),
            pending_ttl_ms: u64::try_from(self.pending_ttl.as_millis()).unwrap_or(u64::MAX),
            command_timeout: self.command_timeout,
            sweep_batch: i64::from(self.sweep_batch),
            clock: self.clock,
            loss_policy: self.loss_policy,
            clock_margin: self.clock_margin,
            epochs_started: AtomicU64::new(0),
            seed: sql::seed(),
            counter: AtomicU64::new(0),
        });
        spawn_sweeper(Arc::downgrade(&inner), self.sweep_interval);
        let store = SqliteReplayStore { inner };
        // A new file (or one whose records were deleted) starts its epoch now.
        store.mark().await?;
        Ok(store)
    }
}

impl fmt::Debug for SqliteReplayStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteReplayStoreBuilder")
            .field("capacity", &self.capacity)
            .field("max_connections", &self.max_connections)
            .field("pending_ttl", &self.pending_ttl)
            .field("command_timeout", &self.command_timeout)
            .finish_non_exhaustive()
    }
}
