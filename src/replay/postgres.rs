//! A replay store on PostgreSQL, shared by every instance that uses the same table, with an
//! exactly-once entry point in the application's own transaction.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Row, Transaction};

use super::memory::unix_ms;
use super::sql::{
    self, COMMITTED, PENDING, RELEASED, SqlAdmission, StoreError, TransactionFuture, db_ms,
    store_error, timed,
};
use super::{ReplayOutcome, ReplayStore, Reservation};
use crate::error::{Error, ErrorKind, Result};
use crate::receiver::{HandlerError, Outcome};
use crate::verify::{Clock, ReplayKey, SystemClock, Verified};

/// The table the store uses unless told otherwise.
const DEFAULT_TABLE: &str = "mailgun_webhooks_replay";

/// The schema for `table` (the same statements as the shipped
/// `migrations/0001_mailgun_webhooks_replay.sql`, which uses the default name).
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
/// already have. Each delivery is one row of a table, keyed by its [`ReplayKey`].
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
///     state         SMALLINT NOT NULL,             -- 0 pending, 1 committed, 2 released/bound
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
    sweep: String,
}

impl Statements {
    fn new(t: &str) -> Self {
        Statements {
            // $1 key, $2 digest, $3 token, $4 pending_until, $5 expires_at, $6 now
            reserve: format!(
                "INSERT INTO {t} AS r (key, digest, state, token, pending_until, expires_at) \
                 VALUES ($1, $2, {PENDING}, $3, $4, $5) \
                 ON CONFLICT (key) DO UPDATE SET digest = EXCLUDED.digest, state = {PENDING}, \
                   token = EXCLUDED.token, pending_until = EXCLUDED.pending_until, \
                   expires_at = CASE WHEN r.expires_at <= $6 THEN EXCLUDED.expires_at \
                                     ELSE GREATEST(r.expires_at, EXCLUDED.expires_at) END \
                 WHERE r.expires_at <= $6 \
                    OR (r.digest IS NOT DISTINCT FROM EXCLUDED.digest \
                        AND (r.state = {RELEASED} \
                             OR (r.state = {PENDING} AND r.pending_until <= $6))) \
                 RETURNING 1"
            ),
            read: format!(
                "SELECT state, digest, pending_until, expires_at FROM {t} WHERE key = $1"
            ),
            // $1 key, $2 expires_at: committed whatever happened to the reservation meanwhile
            // (the delivery was processed).
            commit: format!(
                "INSERT INTO {t} AS r (key, digest, state, token, pending_until, expires_at) \
                 VALUES ($1, NULL, {COMMITTED}, 0, 0, $2) \
                 ON CONFLICT (key) DO UPDATE SET state = {COMMITTED}, token = 0, \
                   expires_at = GREATEST(r.expires_at, EXCLUDED.expires_at)"
            ),
            // $1 key, $2 token
            release: format!(
                "UPDATE {t} SET state = {RELEASED} \
                 WHERE key = $1 AND state = {PENDING} AND token = $2"
            ),
            // $1 key, $2 digest, $3 expires_at, $4 now: the binding, committed on its own.
            bind: format!(
                "INSERT INTO {t} AS r (key, digest, state, token, pending_until, expires_at) \
                 VALUES ($1, $2, {RELEASED}, 0, 0, $3) \
                 ON CONFLICT (key) DO UPDATE SET digest = EXCLUDED.digest, state = {RELEASED}, \
                   token = 0, pending_until = 0, expires_at = EXCLUDED.expires_at \
                 WHERE r.expires_at <= $4"
            ),
            // $1 key, $2 digest, $3 expires_at, $4 now: in the application's transaction;
            // waits on the row lock of a concurrent transaction of the same delivery.
            take: format!(
                "UPDATE {t} SET state = {COMMITTED}, token = 0, \
                   expires_at = GREATEST(expires_at, $3) \
                 WHERE key = $1 AND digest IS NOT DISTINCT FROM $2 AND expires_at > $4 \
                   AND (state = {RELEASED} OR (state = {PENDING} AND pending_until <= $4)) \
                 RETURNING 1"
            ),
            // $1 now, $2 batch
            sweep: format!(
                "DELETE FROM {t} WHERE ctid = ANY(ARRAY( \
                   SELECT ctid FROM {t} WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED))"
            ),
        }
    }
}

/// What a record read says about a delivery.
enum Found {
    Duplicate,
    InFlight,
    /// Gone or takeable since the write was tried: try again.
    Retry,
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
    /// statements in the [type docs](Self)), under the name `table`.
    pub async fn create_table(pool: &PgPool, table: &str) -> Result<()> {
        check_table_name(table)?;
        sqlx::raw_sql(&schema(table))
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

    /// Deletes every expired record now, in batches, and returns how many were deleted.
    pub async fn purge_expired(&self) -> Result<u64> {
        purge(&self.inner).await
    }

    /// Starts an exactly-once delivery in a new transaction of the store's pool: see
    /// [`SqlDelivery`](crate::SqlDelivery).
    ///
    /// 1. The triple's binding to its payload is written and committed on its own (one
    ///    statement; nothing if it is already recorded).
    /// 2. A transaction begins, and the record is marked committed in it (one statement). This
    ///    locks the row: a concurrent request with the same delivery waits here until this
    ///    transaction ends, then gets [`SqlAdmission::Duplicate`] (committed) or
    ///    [`SqlAdmission::Fresh`] (rolled back).
    ///
    /// Fails with [`ErrorKind::InFlight`] (409) when the delivery is reserved through the
    /// two-phase [`ReplayStore`] methods and not settled, and with
    /// [`ErrorKind::StoreUnavailable`] (503) on any database error. Dropping the returned
    /// future at any point leaves at most the binding (step 1) behind.
    pub async fn begin<P>(&self, verified: &Verified<P>) -> Result<SqlAdmission<Postgres>> {
        let key = verified.replay_key();
        let expires = db_ms(verified.replay_expires_at_secs().saturating_mul(1000));
        let digest: Option<Vec<u8>> = None;
        let inner = &self.inner;
        for _ in 0..3 {
            let now = db_ms(self.now_ms());
            timed(
                inner.command_timeout,
                sqlx::query(&inner.sql.bind)
                    .bind(&key.as_bytes()[..])
                    .bind(digest.as_deref())
                    .bind(expires)
                    .bind(now)
                    .execute(&inner.pool),
            )
            .await?;
            let mut tx = timed(inner.command_timeout, inner.pool.begin()).await?;
            // No timeout here: waiting for a concurrent transaction of the same delivery is the
            // point. Its handler's own time bounds it.
            let took = sqlx::query(&inner.sql.take)
                .bind(&key.as_bytes()[..])
                .bind(digest.as_deref())
                .bind(expires)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await
                .map_err(sql::unavailable)?;
            if took.is_some() {
                return Ok(SqlAdmission::Fresh(sql::SqlDelivery::new(tx, key)));
            }
            let found = self.classify(&mut *tx, &key, now).await?;
            drop(tx); // rolls back: nothing was written in it
            match found {
                Found::Duplicate => return Ok(SqlAdmission::Duplicate),
                Found::InFlight => return Err(ErrorKind::InFlight.into()),
                Found::Retry => continue,
            }
        }
        Err(store_error(StoreError::Unsettled))
    }

    /// Runs `handler` in the delivery's transaction, exactly once: [`begin`](Self::begin), the
    /// handler, then commit on success or roll back on failure, as
    /// [`Admitted::process`](crate::Admitted::process) does for the two-phase stores:
    ///
    /// - `Ok(value)`: committed (effects and record), `Ok(Outcome::Processed(value))`;
    /// - a duplicate: `Ok(Outcome::Duplicate)`, the handler does not run;
    /// - [`HandlerError::reject`]: committed (with the handler's writes), then
    ///   [`ErrorKind::Rejected`] (406);
    /// - any other error, or a panic (caught): rolled back, [`ErrorKind::Handler`] (500), and
    ///   Mailgun's retry is processed.
    ///
    /// ```no_run
    /// # async fn run(store: mailgun_webhooks::PgReplayStore,
    /// #              verified: mailgun_webhooks::Verified<mailgun_webhooks::Payload>)
    /// #              -> mailgun_webhooks::Result<()> {
    /// let id = verified.signature().token().to_owned();
    /// let outcome = store
    ///     .process(&verified, |tx| {
    ///         Box::pin(async move {
    ///             sqlx::query("INSERT INTO events (token) VALUES ($1)")
    ///                 .bind(id)
    ///                 .execute(&mut **tx)
    ///                 .await?;
    ///             Ok::<_, mailgun_webhooks::HandlerError>(())
    ///         })
    ///     })
    ///     .await?;
    /// # let _ = outcome;
    /// # Ok(()) }
    /// ```
    pub async fn process<P, F, T, E>(
        &self,
        verified: &Verified<P>,
        handler: F,
    ) -> Result<Outcome<T>>
    where
        F: for<'t> FnOnce(&'t mut Transaction<'static, Postgres>) -> TransactionFuture<'t, T, E>,
        E: Into<HandlerError>,
    {
        let admission = self.begin(verified).await?;
        sql::process(admission, handler).await
    }

    fn now_ms(&self) -> u64 {
        unix_ms(self.inner.clock.now())
    }

    fn next_token(&self) -> i64 {
        let n = self.inner.counter.fetch_add(1, Ordering::Relaxed);
        // 63 bits: positive in a BIGINT; 0 is never a pending token.
        let t = (self.inner.seed ^ n.rotate_left(32)) & (i64::MAX as u64);
        i64::try_from(t.max(1)).unwrap_or(1)
    }

    async fn classify<'c, X>(&self, conn: X, key: &ReplayKey, now: i64) -> Result<Found>
    where
        X: sqlx::Executor<'c, Database = Postgres>,
    {
        let row = timed(
            self.inner.command_timeout,
            sqlx::query(&self.inner.sql.read)
                .bind(&key.as_bytes()[..])
                .fetch_optional(conn),
        )
        .await?;
        let Some(row) = row else {
            return Ok(Found::Retry);
        };
        let state: i16 = row.try_get(0).map_err(sql::unavailable)?;
        let pending_until: i64 = row.try_get(2).map_err(sql::unavailable)?;
        let expires_at: i64 = row.try_get(3).map_err(sql::unavailable)?;
        if expires_at <= now {
            return Ok(Found::Retry);
        }
        match state {
            COMMITTED => Ok(Found::Duplicate),
            PENDING if pending_until > now => Ok(Found::InFlight),
            PENDING | RELEASED => Ok(Found::Retry),
            _ => Err(store_error(StoreError::UnexpectedValue)),
        }
    }

    async fn reserve_key(&self, key: &ReplayKey, expires_at: SystemTime) -> Result<ReplayOutcome> {
        let inner = &self.inner;
        let expires = db_ms(unix_ms(expires_at));
        let digest: Option<Vec<u8>> = None;
        for _ in 0..3 {
            let now_ms = self.now_ms();
            let now = db_ms(now_ms);
            let token = self.next_token();
            let pending_until = db_ms(now_ms.saturating_add(inner.pending_ttl_ms));
            let row = timed(
                inner.command_timeout,
                sqlx::query(&inner.sql.reserve)
                    .bind(&key.as_bytes()[..])
                    .bind(digest.as_deref())
                    .bind(token)
                    .bind(pending_until)
                    .bind(expires)
                    .bind(now)
                    .fetch_optional(&inner.pool),
            )
            .await?;
            if row.is_some() {
                let token = u128::from(token.unsigned_abs());
                return Ok(ReplayOutcome::Fresh(Reservation::new(
                    *key, expires_at, token,
                )));
            }
            match self.classify(&inner.pool, key, now).await? {
                Found::Duplicate => return Ok(ReplayOutcome::Duplicate),
                Found::InFlight => return Ok(ReplayOutcome::InFlight),
                Found::Retry => continue,
            }
        }
        Err(store_error(StoreError::Unsettled))
    }

    async fn commit_reservation(&self, reservation: Reservation) -> Result<()> {
        let inner = &self.inner;
        timed(
            inner.command_timeout,
            sqlx::query(&inner.sql.commit)
                .bind(&reservation.key().as_bytes()[..])
                .bind(db_ms(unix_ms(reservation.expires_at())))
                .execute(&inner.pool),
        )
        .await
        .map(drop)
    }

    async fn release_reservation(&self, reservation: Reservation) -> Result<()> {
        let inner = &self.inner;
        let token = i64::try_from(reservation.token()).unwrap_or(-1);
        timed(
            inner.command_timeout,
            sqlx::query(&inner.sql.release)
                .bind(&reservation.key().as_bytes()[..])
                .bind(token)
                .execute(&inner.pool),
        )
        .await
        .map(drop)
    }
}

impl ReplayStore for PgReplayStore {
    async fn reserve(&self, key: &ReplayKey, expires_at: SystemTime) -> Result<ReplayOutcome> {
        self.reserve_key(key, expires_at).await
    }

    async fn commit(&self, reservation: Reservation) -> Result<()> {
        self.commit_reservation(reservation).await
    }

    async fn release(&self, reservation: Reservation) -> Result<()> {
        self.release_reservation(reservation).await
    }
}

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
        }
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
            PgReplayStore::create_table(&pool, &self.table).await?;
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
            seed: sql::seed(),
            counter: AtomicU64::new(0),
        });
        spawn_sweeper(Arc::downgrade(&inner), self.sweep_interval);
        Ok(PgReplayStore { inner })
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
