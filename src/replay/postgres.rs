//! A replay store on PostgreSQL, shared by every instance that uses the same table, with an
//! exactly-once entry point in the application's own transaction.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Row, Transaction};

use super::memory::unix_ms;
use super::sql::{
    self, COMMITTED, EPOCH, Judgement, PENDING, RELEASED, Record, SqlAdmission, StoreError,
    TransactionFuture, db_ms, store_error, timed,
};
use super::{LossPolicy, ReplayClaim, ReplayOutcome, ReplayStore, Reservation};
use crate::error::{Error, ErrorKind, Result};
use crate::receiver::{HandlerError, Outcome};
use crate::verify::{Clock, SystemClock};

/// The table the store uses unless told otherwise.
const DEFAULT_TABLE: &str = "mailgun_webhooks_replay";

/// The schema for `table` (the same statements as the shipped
/// `migrations/0001_mailgun_webhooks_replay.sql`, which uses the default name and also writes
/// the epoch marker).
fn schema(table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (
    key           BYTEA    NOT NULL PRIMARY KEY,
    digest        BYTEA,
    state         SMALLINT NOT NULL,
    token         BIGINT   NOT NULL,
    pending_until BIGINT   NOT NULL,
    expires_at    BIGINT   NOT NULL
);
CREATE INDEX IF NOT EXISTS {index}_expires_at ON {table} (expires_at);",
        index = table.replace('.', "_"),
    )
}

/// A replay store on PostgreSQL: the shared store for several instances on a database they
/// already have. Each delivery is one row of a table, keyed by its [`ReplayKey`](crate::ReplayKey).
///
/// ```no_run
/// # async fn run() -> mailgun_webhooks::Result<()> {
/// use mailgun_webhooks::{PgReplayStore, Receiver, SigningKey, Verifier};
///
/// let store = PgReplayStore::builder("postgres://app@127.0.0.1/app")
///     .create_table(true) // or run the shipped migration; see below
///     .connect()
///     .await?;
/// let receiver = Receiver::new(Verifier::new(SigningKey::new("key")), store);
/// # let _ = receiver;
/// # Ok(()) }
/// ```
///
/// # The table
///
/// ```sql
/// CREATE TABLE IF NOT EXISTS mailgun_webhooks_replay (
///     key           BYTEA    NOT NULL PRIMARY KEY, -- Verified::replay_key, 32 bytes
///     digest        BYTEA,                         -- the payload the triple is bound to
///     state         SMALLINT NOT NULL,             -- 0 pending, 1 committed, 2 released/bound, 3 epoch
///     token         BIGINT   NOT NULL,             -- the pending reservation's id
///     pending_until BIGINT   NOT NULL,             -- unix ms: a pending record lapses then
///     expires_at    BIGINT   NOT NULL              -- unix ms: the record may be deleted then
/// );
/// CREATE INDEX IF NOT EXISTS mailgun_webhooks_replay_expires_at
///     ON mailgun_webhooks_replay (expires_at);
/// ```
///
/// Create it either way:
///
/// - let the store do it: [`PgReplayStoreBuilder::create_table`]`(true)`, or call
///   [`PgReplayStore::create_table`] yourself (both idempotent);
/// - or apply the migration the crate ships, `migrations/0001_mailgun_webhooks_replay.sql`
///   (copy it into your migrations folder; for example `sqlx migrate run`).
///
/// Another table name ([`PgReplayStoreBuilder::table`]) gives another set of records: every
/// instance that must see the others' records uses the same table.
///
/// # How it works
///
/// - **reserve** is one statement, atomic on the primary key: `INSERT ... ON CONFLICT (key) DO
///   UPDATE ... WHERE <the record may be taken> RETURNING`. A record may be taken when it has
///   expired, or when it is a lapsed or released reservation of the same payload. Otherwise a
///   second statement reads the record to tell a duplicate from one in flight.
/// - **commit** sets the state to committed, keeping the record until the delivery's expiry
///   (signed timestamp + `max_age` + 60 s).
/// - **release** marks the reservation released (only if it is still this reservation's): the
///   row stays, keeping the triple bound to its payload.
/// - **expired records** are deleted by a background task every
///   [`sweep_interval`](PgReplayStoreBuilder::sweep_interval), in batches of
///   [`sweep_batch`](PgReplayStoreBuilder::sweep_batch) rows (`FOR UPDATE SKIP LOCKED`), so a
///   sweep never holds many locks or waits on a request. [`purge_expired`](Self::purge_expired)
///   sweeps on demand.
///
/// # Fail closed
///
/// Every database error, an unexpected value, or no answer within the
/// [`command_timeout`](PgReplayStoreBuilder::command_timeout) is
/// [`ErrorKind::StoreUnavailable`] (503), which Mailgun retries. The pool reconnects on its own
/// when the server returns.
///
/// # Exactly once, in your transaction
///
/// When the handler writes to the same database, use [`begin`](Self::begin) (or
/// [`process`](Self::process)) instead of a [`Receiver`](crate::Receiver): the delivery's record
/// is written in the transaction the handler writes in, so the effects and the record commit
/// together or not at all. See [`SqlDelivery`](crate::SqlDelivery).
///
/// Records expire on the store's clock ([`PgReplayStoreBuilder::clock`], the system clock by
/// default): keep the instances' clocks within a minute of each other (NTP). Clones share the
/// pool.
#[derive(Clone)]
pub struct PgReplayStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    table: String,
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

/// The statements, formatted once with the table name.
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
    fn new(t: &str) -> Self {
        // A new row only when the claim is provable since the table's epoch ($7: its earliest
        // receipt; i64::MAX skips the check); an existing row is judged by ON CONFLICT.
        let admit = format!(
            "(EXISTS (SELECT 1 FROM {t} WHERE key = $8 AND state = {EPOCH} AND pending_until <= $7) \
              OR EXISTS (SELECT 1 FROM {t} WHERE key = $1))"
        );
        Statements {
            // $1 key, $2 digest, $3 token, $4 pending_until, $5 expires_at, $6 now,
            // $7 earliest receipt, $8 marker
            reserve: format!(
                "INSERT INTO {t} AS r (key, digest, state, token, pending_until, expires_at) \
                 SELECT $1, $2, {PENDING}, $3, $4, $5 WHERE {admit} \
                 ON CONFLICT (key) DO UPDATE SET digest = EXCLUDED.digest, state = {PENDING}, \
                   token = EXCLUDED.token, pending_until = EXCLUDED.pending_until, \
                   expires_at = CASE WHEN r.expires_at <= $6 THEN EXCLUDED.expires_at \
                                     ELSE GREATEST(r.expires_at, EXCLUDED.expires_at) END \
                 WHERE r.state <> {EPOCH} AND (r.expires_at <= $6 \
                    OR (r.digest = EXCLUDED.digest \
                        AND (r.state = {RELEASED} \
                             OR (r.state = {PENDING} AND r.pending_until <= $6)))) \
                 RETURNING 1"
            ),
            // $1 key, $2 marker
            read: format!(
                "SELECT key = $2, state, digest, pending_until, expires_at FROM {t} \
                 WHERE key = $1 OR key = $2"
            ),
            // $1 key, $2 digest, $3 expires_at, $4 now: committed whatever happened to the
            // reservation meanwhile, unless the record holds another payload.
            commit: format!(
                "INSERT INTO {t} AS r (key, digest, state, token, pending_until, expires_at) \
                 VALUES ($1, $2, {COMMITTED}, 0, 0, $3) \
                 ON CONFLICT (key) DO UPDATE SET digest = EXCLUDED.digest, state = {COMMITTED}, \
                   token = 0, expires_at = GREATEST(r.expires_at, EXCLUDED.expires_at) \
                 WHERE r.state <> {EPOCH} AND (r.digest = EXCLUDED.digest OR r.expires_at <= $4)"
            ),
            // $1 key, $2 token
            release: format!(
                "UPDATE {t} SET state = {RELEASED} \
                 WHERE key = $1 AND state = {PENDING} AND token = $2"
            ),
            // $1 key, $2 digest, $3 expires_at, $4 now, $7 earliest receipt, $8 marker: the
            // binding, committed on its own ($5, $6 unused).
            bind: format!(
                "INSERT INTO {t} AS r (key, digest, state, token, pending_until, expires_at) \
                 SELECT $1, $2, {RELEASED}, 0, 0, $3 \
                 WHERE $5::bigint IS NOT NULL AND $6::bigint IS NOT NULL AND {admit} \
                 ON CONFLICT (key) DO UPDATE SET digest = EXCLUDED.digest, state = {RELEASED}, \
                   token = 0, pending_until = 0, expires_at = EXCLUDED.expires_at \
                 WHERE r.state <> {EPOCH} AND r.expires_at <= $4 \
                 RETURNING 1"
            ),
            // $1 key, $2 digest, $3 expires_at, $4 now: in the application's transaction;
            // waits on the row lock of a concurrent transaction of the same delivery.
            take: format!(
                "UPDATE {t} SET state = {COMMITTED}, token = 0, \
                   expires_at = GREATEST(expires_at, $3) \
                 WHERE key = $1 AND digest = $2 AND expires_at > $4 \
                   AND (state = {RELEASED} OR (state = {PENDING} AND pending_until <= $4)) \
                 RETURNING 1"
            ),
            // $1 marker, $2 now: starts an epoch if there is none.
            mark: format!(
                "INSERT INTO {t} (key, digest, state, token, pending_until, expires_at) \
                 VALUES ($1, NULL, {EPOCH}, 0, $2, {}) ON CONFLICT (key) DO NOTHING",
                i64::MAX
            ),
            // $1 now, $2 batch
            sweep: format!(
                "DELETE FROM {t} WHERE ctid = ANY(ARRAY( \
                   SELECT ctid FROM {t} WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED))"
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

impl PgReplayStore {
    /// The default lifetime of a pending reservation: 60 seconds.
    pub const DEFAULT_PENDING_TTL: Duration = Duration::from_secs(60);
    /// The default time one store statement may take: 1 second.
    pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(1);
    /// The default interval between sweeps of expired records: 60 seconds.
    pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(60);
    /// The default number of records one sweep statement deletes: 1,000.
    pub const DEFAULT_SWEEP_BATCH: u32 = 1_000;
    /// The default allowance for clock differences between the instances sharing the table:
    /// 60 seconds. See [`ReplayClaim::is_provable_since`].
    pub const DEFAULT_CLOCK_MARGIN: Duration = Duration::from_secs(60);
    /// The default table: `mailgun_webhooks_replay`.
    pub const DEFAULT_TABLE: &'static str = DEFAULT_TABLE;

    /// Connects to `url` (`postgres://user:password@host/db`) with the defaults; the table must
    /// exist (see [`create_table`](PgReplayStoreBuilder::create_table)).
    pub async fn connect(url: &str) -> Result<Self> {
        Self::builder(url).connect().await
    }

    /// Starts configuring a store that connects to `url`.
    pub fn builder(url: impl Into<String>) -> PgReplayStoreBuilder {
        PgReplayStoreBuilder::new(Source::Url(url.into()))
    }

    /// Starts configuring a store on the application's own pool (the exactly-once path then
    /// shares its connections).
    pub fn builder_with_pool(pool: PgPool) -> PgReplayStoreBuilder {
        PgReplayStoreBuilder::new(Source::Pool(pool))
    }

    /// Creates the store's table and index in `pool`'s database if they do not exist (the
    /// statements in the [type docs](Self)), under the name `table`, and starts its epoch (now,
    /// on the system clock) if it has none.
    pub async fn create_table(pool: &PgPool, table: &str) -> Result<()> {
        check_table_name(table)?;
        sqlx::raw_sql(&schema(table))
            .execute(pool)
            .await
            .map_err(sql::unavailable)?;
        sqlx::query(&Statements::new(table).mark)
            .bind(&sql::marker()[..])
            .bind(db_ms(unix_ms(std::time::SystemTime::now())))
            .execute(pool)
            .await
            .map(drop)
            .map_err(sql::unavailable)
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// The table.
    pub fn table(&self) -> &str {
        &self.inner.table
    }

    /// The lifetime of a pending reservation.
    pub fn pending_ttl(&self) -> Duration {
        Duration::from_millis(self.inner.pending_ttl_ms)
    }

    /// What the store does with a delivery signed before its epoch.
    pub fn loss_policy(&self) -> LossPolicy {
        self.inner.loss_policy
    }

    /// How many times this handle started a new epoch: the table had no epoch marker (it was
    /// new, emptied, or recreated: its records may have been lost).
    pub fn epochs_started(&self) -> u64 {
        self.inner.epochs_started.load(Ordering::Relaxed)
    }

    /// The table's epoch (unix milliseconds on the store's clock): its records are complete
    /// since then. `None` when it has none yet (the next operation starts one).
    pub async fn epoch(&self) -> Result<Option<u64>> {
        let epoch: Option<i64> = timed(
            self.inner.command_timeout,
            sqlx::query_scalar(&format!(
                "SELECT pending_until FROM {} WHERE key = $1 AND state = {EPOCH}",
                self.inner.table
            ))
            .bind(&sql::marker()[..])
            .fetch_optional(&self.inner.pool),
        )
        .await?;
        Ok(epoch.map(i64::unsigned_abs))
    }

    /// Deletes every expired record now, in batches, and returns how many were deleted.
    pub async fn purge_expired(&self) -> Result<u64> {
        purge(&self.inner).await
    }

    /// Starts an exactly-once delivery of `claim` (made by
    /// [`Receiver::claim`](crate::Receiver::claim)) in a new transaction of the store's pool:
    /// see [`SqlDelivery`](crate::SqlDelivery).
    ///
    /// 1. The triple's binding to its payload is written and committed on its own (one
    ///    statement; nothing if it is already recorded). The epoch and
    ///    [`LossPolicy`] apply here, as for [`reserve`](ReplayStore::reserve).
    /// 2. A transaction begins, and the record is marked committed in it (one statement). This
    ///    locks the row: a concurrent request with the same delivery waits here until this
    ///    transaction ends, then gets [`SqlAdmission::Duplicate`] (committed) or
    ///    [`SqlAdmission::Fresh`] (rolled back).
    ///
    /// Fails with [`ErrorKind::PayloadMismatch`] (401) when the triple is bound to another
    /// payload, [`ErrorKind::InFlight`] (409) when it is reserved through the two-phase
    /// [`ReplayStore`] methods and not settled, [`ErrorKind::SignedBeforeEpoch`] (503) under
    /// [`LossPolicy::FailClosed`], and [`ErrorKind::StoreUnavailable`] (503) on any database
    /// error. Dropping the returned future at any point leaves at most the binding (step 1).
    pub async fn begin(&self, claim: &ReplayClaim) -> Result<SqlAdmission<Postgres>> {
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
            let mut tx = timed(inner.command_timeout, inner.pool.begin()).await?;
            // No timeout here: waiting for a concurrent transaction of the same delivery is the
            // point. Its handler's own time bounds it.
            let took = sqlx::query(&inner.sql.take)
                .bind(key)
                .bind(digest)
                .bind(expires)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await
                .map_err(sql::unavailable)?;
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
                Judgement::Retry | Judgement::Refused => {}
                j => return Ok(Written::Found(j)),
            }
        }
        Err(store_error(StoreError::Unsettled))
    }
}

sql::shared_store_items!(PgReplayStore, Postgres, "$1");

impl fmt::Debug for PgReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgReplayStore")
            .field("table", &self.inner.table)
            .field("pending_ttl", &self.pending_ttl())
            .field("command_timeout", &self.inner.command_timeout)
            .finish_non_exhaustive()
    }
}

/// Deletes expired records in batches until a batch comes back short.
async fn purge(inner: &Inner) -> Result<u64> {
    let mut total = 0u64;
    loop {
        let now = db_ms(unix_ms(inner.clock.now()));
        let done = timed(
            inner.command_timeout,
            sqlx::query(&inner.sql.sweep)
                .bind(now)
                .bind(inner.sweep_batch)
                .execute(&inner.pool),
        )
        .await?
        .rows_affected();
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

/// A table name: an SQL identifier, optionally schema-qualified, in lowercase ASCII.
fn check_table_name(name: &str) -> Result<()> {
    let ok_part = |p: &str| {
        !p.is_empty()
            && p.len() <= 63
            && p.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() <= 2 && parts.iter().all(|p| ok_part(p)) {
        Ok(())
    } else {
        Err(Error::new(ErrorKind::NotConfigured {
            what: "the replay table name must be a lowercase sql identifier (schema.table allowed)",
        }))
    }
}

enum Source {
    Url(String),
    Pool(PgPool),
}

/// Configures a [`PgReplayStore`]. Made by [`PgReplayStore::builder`] or
/// [`PgReplayStore::builder_with_pool`].
#[must_use]
pub struct PgReplayStoreBuilder {
    source: Source,
    table: String,
    create_table: bool,
    max_connections: u32,
    pending_ttl: Duration,
    command_timeout: Duration,
    sweep_interval: Duration,
    sweep_batch: u32,
    clock: Arc<dyn Clock>,
    loss_policy: LossPolicy,
    clock_margin: Duration,
}

impl PgReplayStoreBuilder {
    fn new(source: Source) -> Self {
        PgReplayStoreBuilder {
            source,
            table: DEFAULT_TABLE.to_owned(),
            create_table: false,
            max_connections: 16,
            pending_ttl: PgReplayStore::DEFAULT_PENDING_TTL,
            command_timeout: PgReplayStore::DEFAULT_COMMAND_TIMEOUT,
            sweep_interval: PgReplayStore::DEFAULT_SWEEP_INTERVAL,
            sweep_batch: PgReplayStore::DEFAULT_SWEEP_BATCH,
            clock: Arc::new(SystemClock),
            loss_policy: LossPolicy::FailClosed,
            clock_margin: PgReplayStore::DEFAULT_CLOCK_MARGIN,
        }
    }

    /// What the store does with a delivery signed before the table's epoch (the table was
    /// new, emptied or recreated: records may be lost). Default: [`LossPolicy::FailClosed`]
    /// (503 [`ErrorKind::SignedBeforeEpoch`] until it is older than `max_age`).
    pub fn loss_policy(mut self, policy: LossPolicy) -> Self {
        self.loss_policy = policy;
        self
    }

    /// The allowance for clock differences between the instances sharing the table. Default:
    /// [`PgReplayStore::DEFAULT_CLOCK_MARGIN`] (60 s).
    pub fn clock_margin(mut self, margin: Duration) -> Self {
        self.clock_margin = margin;
        self
    }

    /// The table (`name` or `schema.name`, lowercase). Default:
    /// [`PgReplayStore::DEFAULT_TABLE`].
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// Create the table and its index when connecting, if they do not exist. Default: false
    /// (apply the shipped migration instead).
    pub fn create_table(mut self, create: bool) -> Self {
        self.create_table = create;
        self
    }

    /// The most connections the store's own pool opens (ignored with
    /// [`builder_with_pool`](PgReplayStore::builder_with_pool)). Default: 16.
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// How long a reservation stays pending if neither committed nor released. Default:
    /// [`PgReplayStore::DEFAULT_PENDING_TTL`] (60 s).
    pub fn pending_ttl(mut self, pending_ttl: Duration) -> Self {
        self.pending_ttl = pending_ttl;
        self
    }

    /// How long one store statement (or getting a connection) may take before the operation
    /// fails with [`ErrorKind::StoreUnavailable`]. Default:
    /// [`PgReplayStore::DEFAULT_COMMAND_TIMEOUT`] (1 s).
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// How often the background task deletes expired records; zero disables it (call
    /// [`purge_expired`](PgReplayStore::purge_expired) yourself). Default:
    /// [`PgReplayStore::DEFAULT_SWEEP_INTERVAL`] (60 s).
    pub fn sweep_interval(mut self, every: Duration) -> Self {
        self.sweep_interval = every;
        self
    }

    /// How many records one sweep statement deletes. Default:
    /// [`PgReplayStore::DEFAULT_SWEEP_BATCH`] (1,000).
    pub fn sweep_batch(mut self, rows: u32) -> Self {
        self.sweep_batch = rows.max(1);
        self
    }

    /// The clock that decides when records lapse. Default: [`SystemClock`].
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Connects (or takes the given pool), creates the table if asked, checks that the table
    /// answers, and starts the sweeper. Must run inside a Tokio runtime.
    ///
    /// Fails with [`ErrorKind::NotConfigured`] for a bad URL or table name and with
    /// [`ErrorKind::StoreUnavailable`] when the database cannot be reached or the table is
    /// missing. No message contains the URL.
    pub async fn connect(self) -> Result<PgReplayStore> {
        check_table_name(&self.table)?;
        let pool = match self.source {
            Source::Pool(pool) => pool,
            Source::Url(url) => {
                let options: sqlx::postgres::PgConnectOptions = url.parse().map_err(|_| {
                    Error::new(ErrorKind::NotConfigured {
                        what: "the postgres url does not parse",
                    })
                })?;
                PgPoolOptions::new()
                    .max_connections(self.max_connections)
                    .acquire_timeout(self.command_timeout)
                    .connect_with(options)
                    .await
                    .map_err(sql::unavailable)?
            }
        };
        if self.create_table {
            // The epoch marker is written below, on the store's clock.
            check_table_name(&self.table)?;
            sqlx::raw_sql(&schema(&self.table))
                .execute(&pool)
                .await
                .map_err(sql::unavailable)?;
        }
        timed(
            self.command_timeout,
            sqlx::query(&format!("SELECT 1 FROM {} LIMIT 1", self.table)).fetch_optional(&pool),
        )
        .await?;
        let inner = Arc::new(Inner {
            pool,
            sql: Statements::new(&self.table),
            table: self.table,
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
        let store = PgReplayStore { inner };
        // A table without its epoch marker (created without it, emptied or recreated) starts
        // an epoch now.
        store.mark().await?;
        Ok(store)
    }
}

impl fmt::Debug for PgReplayStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold a password: never printed.
        f.debug_struct("PgReplayStoreBuilder")
            .field("table", &self.table)
            .field("create_table", &self.create_table)
            .field("pending_ttl", &self.pending_ttl)
            .field("command_timeout", &self.command_timeout)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    /// The shipped migration writes the epoch marker under its key, in hex.
    #[test]
    fn the_migration_writes_the_marker_key() {
        let migration = include_str!("../../migrations/0001_mailgun_webhooks_replay.sql");
        let hex = crate::verify::hex_lower(&super::sql::marker());
        assert!(migration.contains(&format!("'\\x{hex}'")), "{hex}");
    }
}
