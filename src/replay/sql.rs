//! What the SQL stores share: the exactly-once delivery held in the application's transaction,
//! and the error mapping.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::time::Duration;

use futures_util::FutureExt;
use sqlx::{Database, Transaction};

use crate::error::{Error, ErrorKind, Result};
use crate::receiver::{HandlerError, Outcome};
use crate::verify::ReplayKey;

/// Record states, as stored in the `state` column.
pub(crate) const PENDING: i16 = 0;
pub(crate) const COMMITTED: i16 = 1;
/// Released (a handler failed) or only bound (the exactly-once path writes the binding first):
/// the triple is bound to its payload, and may be processed again with the same payload.
pub(crate) const RELEASED: i16 = 2;
/// The table's epoch marker: one row, under [`MARKER`], whose `pending_until` is the epoch
/// (unix ms) and which never expires. Emptying or recreating the table removes it with the
/// records, and the next operation starts a new epoch: the loss is detected.
pub(crate) const EPOCH: i16 = 3;

/// The key of the epoch marker: SHA-256 of a fixed string, which no delivery's key (SHA-256 of
/// a prefixed signed string) can equal. Hex: `82e3fab5…ac583b` (the shipped migration writes it).
pub(crate) fn marker() -> [u8; 32] {
    use sha2::{Digest as _, Sha256};
    Sha256::digest(b"mailgun-webhooks sql replay epoch v1").into()
}

/// A record as read back: `(state, digest, pending_until, expires_at)`.
pub(crate) struct Record {
    pub(crate) state: i16,
    pub(crate) digest: Option<Vec<u8>>,
    pub(crate) pending_until: i64,
    pub(crate) expires_at: i64,
}

/// What a store does after its write found nothing to do.
pub(crate) enum Judgement {
    Duplicate,
    InFlight,
    Mismatch,
    /// The record changed under the write (expired, lapsed, released meanwhile): write again.
    Retry,
    /// No epoch marker: start a new epoch (first use, or the records were lost), then write
    /// again.
    NoEpoch,
    /// No record, signed before the epoch, `FailClosed`.
    SignedBeforeEpoch,
    /// No record, signed before the epoch, `Accept`: write without the epoch condition, and
    /// mark the reservation unproven.
    Unproven,
    /// No record, provable: the write was refused by something else (the capacity guard).
    Refused,
}

/// Judges a claim by its record (`None` when there is no live one) and the table's epoch, as the
/// [`ReplayStore`](super::ReplayStore) contract's table says.
pub(crate) fn judge(
    record: Option<&Record>,
    epoch: Option<i64>,
    claim: &super::ReplayClaim,
    now: i64,
    policy: super::LossPolicy,
    clock_margin: Duration,
) -> crate::error::Result<Judgement> {
    if let Some(r) = record.filter(|r| r.expires_at > now) {
        if r.digest.as_deref() != Some(&claim.digest().as_bytes()[..]) {
            return Ok(Judgement::Mismatch);
        }
        return match r.state {
            COMMITTED => Ok(Judgement::Duplicate),
            PENDING if r.pending_until > now => Ok(Judgement::InFlight),
            PENDING | RELEASED => Ok(Judgement::Retry),
            _ => Err(store_error(StoreError::UnexpectedValue)),
        };
    }
    let Some(epoch) = epoch else {
        return Ok(Judgement::NoEpoch);
    };
    if claim.is_provable_since(epoch.unsigned_abs(), clock_margin) {
        return Ok(Judgement::Refused);
    }
    Ok(match policy {
        super::LossPolicy::Accept => Judgement::Unproven,
        _ => Judgement::SignedBeforeEpoch,
    })
}

/// The earliest receipt of a claim, as the epoch condition of the writes compares it.
pub(crate) fn earliest(claim: &super::ReplayClaim, clock_margin: Duration) -> i64 {
    db_ms(claim.earliest_receipt_ms(clock_margin))
}

/// The future a transactional handler returns: it borrows the transaction for `'t`.
pub type TransactionFuture<'t, T, E> =
    Pin<Box<dyn Future<Output = std::result::Result<T, E>> + Send + 't>>;

/// What [`PgReplayStore::begin`](crate::PgReplayStore::begin) or
/// [`SqliteReplayStore::begin`](crate::SqliteReplayStore::begin) found.
#[derive(Debug)]
#[must_use = "a fresh delivery must be committed, or dropped to roll back"]
#[non_exhaustive]
pub enum SqlAdmission<DB: Database> {
    /// First time (or a retry after a rollback): the delivery's record is written in the open
    /// transaction; write your effects in it, then [`commit`](SqlDelivery::commit).
    Fresh(SqlDelivery<DB>),
    /// Already processed and committed: answer 200 without acting.
    Duplicate,
}

impl<DB: Database> SqlAdmission<DB> {
    /// True for [`SqlAdmission::Duplicate`].
    pub fn is_duplicate(&self) -> bool {
        matches!(self, SqlAdmission::Duplicate)
    }

    /// The delivery, if it is fresh.
    pub fn into_fresh(self) -> Option<SqlDelivery<DB>> {
        match self {
            SqlAdmission::Fresh(d) => Some(d),
            SqlAdmission::Duplicate => None,
        }
    }
}

/// A delivery whose replay record is written, uncommitted, in an open database transaction.
///
/// Write the handler's effects through [`transaction`](Self::transaction), then
/// [`commit`](Self::commit): the effects and the record become visible together, or neither
/// does. Until then the record's row is locked, so a concurrent request with the same delivery
/// waits and then sees either the committed delivery (a duplicate, 200) or, if this one rolled
/// back, nothing (it is processed).
///
/// **Dropping it rolls back** (sqlx rolls back a dropped transaction when its connection is next
/// used or returned to the pool), and so do a panic unwinding through it, a cancelled request
/// and a killed process (the server aborts the transaction of a closed connection). The triple
/// stays bound to its payload in every case: the binding was committed before the transaction
/// began, so a retry with the same payload is processed and another payload is refused.
pub struct SqlDelivery<DB: Database> {
    tx: Transaction<'static, DB>,
    key: ReplayKey,
    unproven: bool,
}

impl<DB: Database> SqlDelivery<DB> {
    pub(crate) fn new(tx: Transaction<'static, DB>, key: ReplayKey, unproven: bool) -> Self {
        SqlDelivery { tx, key, unproven }
    }

    /// True when the store could not prove the delivery unseen (signed before the store's
    /// epoch) and admitted it under [`LossPolicy::Accept`](crate::LossPolicy::Accept): it may be
    /// a replay; log it.
    pub fn is_unproven(&self) -> bool {
        self.unproven
    }

    /// The open transaction, for the handler's writes (`&mut **delivery.transaction()` is an
    /// executor).
    pub fn transaction(&mut self) -> &mut Transaction<'static, DB> {
        &mut self.tx
    }

    /// The delivery's key.
    pub fn key(&self) -> &ReplayKey {
        &self.key
    }

    /// Commits the transaction: the handler's effects and the delivery's record together.
    ///
    /// An error is [`ErrorKind::StoreUnavailable`] (503): whether the commit happened is then
    /// unknown to this process, and Mailgun's retry finds out (a duplicate if it did).
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await.map_err(unavailable)
    }

    /// Rolls the transaction back: neither the effects nor the record are kept, and the retry
    /// of the delivery (with the same payload) is processed.
    pub async fn rollback(self) -> Result<()> {
        self.tx.rollback().await.map_err(unavailable)
    }
}

impl<DB: Database> fmt::Debug for SqlDelivery<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlDelivery")
            .field("key", &self.key)
            .field("unproven", &self.unproven)
            .finish_non_exhaustive()
    }
}

/// Runs a transactional handler on an admission: the closure form of `begin` + `commit`.
pub(crate) async fn process<DB, F, T, E>(
    admission: SqlAdmission<DB>,
    handler: F,
) -> Result<Outcome<T>>
where
    DB: Database,
    F: for<'t> FnOnce(&'t mut Transaction<'static, DB>) -> TransactionFuture<'t, T, E>,
    E: Into<HandlerError>,
{
    let mut delivery = match admission {
        SqlAdmission::Fresh(d) => d,
        SqlAdmission::Duplicate => return Ok(Outcome::Duplicate),
    };
    // A panic drops the handler's future (and its borrow of the transaction) before the
    // transaction is rolled back below.
    let ran = AssertUnwindSafe(handler(&mut delivery.tx))
        .catch_unwind()
        .await;
    match ran {
        Ok(Ok(value)) => {
            let unproven = delivery.unproven;
            delivery.commit().await?;
            Ok(if unproven {
                Outcome::ProcessedUnproven(value)
            } else {
                Outcome::Processed(value)
            })
        }
        Ok(Err(e)) => {
            let e = e.into();
            if e.is_rejection() {
                // Recorded with whatever the handler wrote, so that retries are duplicates.
                delivery.commit().await?;
            } else {
                // If the rollback fails, the server rolls back when the connection closes.
                let _ = delivery.rollback().await;
            }
            Err(e.into_error())
        }
        Err(panic) => {
            drop(panic);
            let _ = delivery.rollback().await;
            Err(Error::with_source(ErrorKind::Handler, HandlerPanicked))
        }
    }
}

/// The handler panicked; the source of an [`ErrorKind::Handler`] error.
#[derive(Debug)]
struct HandlerPanicked;

impl fmt::Display for HandlerPanicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the handler panicked")
    }
}

impl std::error::Error for HandlerPanicked {}

/// Every database error is `StoreUnavailable` (503, fail closed). sqlx's messages name the
/// failing operation or the server's error, never the connection URL or bound values.
pub(crate) fn unavailable(e: sqlx::Error) -> Error {
    Error::with_source(ErrorKind::StoreUnavailable, e)
}

/// Runs one store operation under `timeout`; every failure is `StoreUnavailable`.
pub(crate) async fn timed<T>(
    timeout: Duration,
    op: impl Future<Output = std::result::Result<T, sqlx::Error>>,
) -> Result<T> {
    match tokio::time::timeout(timeout, op).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(unavailable(e)),
        Err(_) => Err(Error::with_source(
            ErrorKind::StoreUnavailable,
            StoreError::Timeout(timeout),
        )),
    }
}

/// Why a SQL store operation failed, beyond sqlx's own errors.
#[derive(Debug)]
pub(crate) enum StoreError {
    Timeout(Duration),
    /// The record kept changing under this operation (a sweep, a concurrent writer).
    Unsettled,
    /// The table holds a state this store did not write.
    UnexpectedValue,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Timeout(d) => {
                write!(f, "the database did not answer within {} ms", d.as_millis())
            }
            StoreError::Unsettled => f.write_str("the replay record kept changing; try again"),
            StoreError::UnexpectedValue => {
                f.write_str("a replay record holds a state this store did not write")
            }
        }
    }
}

impl std::error::Error for StoreError {}

pub(crate) fn store_error(e: StoreError) -> Error {
    Error::with_source(ErrorKind::StoreUnavailable, e)
}

/// A token for a reservation: a per-store random seed and a counter, as 63 bits (it is kept in
/// a signed 64-bit column).
pub(crate) fn seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new()
        .hash_one((std::process::id(), std::time::SystemTime::now()))
}

/// `u64` milliseconds as the `BIGINT` the tables use, saturating.
pub(crate) fn db_ms(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// The items [`SqliteReplayStore`](crate::SqliteReplayStore) and
/// [`PgReplayStore`](crate::PgReplayStore) share word for word but for the `sqlx` database type:
/// the exactly-once `process`, reading and judging a record, the epoch marker, and the
/// [`ReplayStore`](crate::ReplayStore) methods. Invoked in each store's module, whose imports the
/// items use; what differs (opening the transaction, the capacity guard) stays in the modules.
macro_rules! shared_store_items {
    ($store:ident, $db:ident, $placeholder:literal) => {
        impl $store {
            /// Runs `handler` in the delivery's transaction, exactly once: [`begin`](Self::begin), the
            /// handler, then commit on success or roll back on failure, as
            /// [`Admitted::process`](crate::Admitted::process) does for the two-phase stores:
            ///
            /// - `Ok(value)`: committed (effects and record), `Ok(Outcome::Processed(value))`
            ///   (`ProcessedUnproven` when admitted under [`LossPolicy::Accept`] before the epoch);
            /// - a duplicate: `Ok(Outcome::Duplicate)`, the handler does not run;
            /// - [`HandlerError::reject`]: committed (with the handler's writes), then
            ///   [`ErrorKind::Rejected`] (406);
            /// - any other error, or a panic (caught): rolled back, [`ErrorKind::Handler`] (500), and
            ///   Mailgun's retry (the same payload) is processed.
            ///
            /// ```no_run
            #[doc = concat!(" # async fn run(store: mailgun_webhooks::", stringify!($store), ",")]
            #[doc = concat!(" #              receiver: mailgun_webhooks::Receiver<mailgun_webhooks::", stringify!($store), ">,")]
            /// #              content_type: &str, body: &[u8]) -> mailgun_webhooks::Result<()> {
            /// let (verified, digest) = receiver.verify_request(content_type, body)?;
            /// let claim = receiver.claim(&verified, digest);
            /// let token = verified.token().to_owned();
            /// let outcome = store
            ///     .process(&claim, |tx| {
            ///         Box::pin(async move {
            #[doc = concat!("             sqlx::query(\"INSERT INTO events (token) VALUES (", $placeholder, ")\")")]
            ///                 .bind(token)
            ///                 .execute(&mut **tx)
            ///                 .await?;
            ///             Ok::<_, mailgun_webhooks::HandlerError>(())
            ///         })
            ///     })
            ///     .await?;
            /// # let _ = outcome;
            /// # Ok(()) }
            /// ```
            pub async fn process<F, T, E>(&self, claim: &ReplayClaim, handler: F) -> Result<Outcome<T>>
            where
                F: for<'t> FnOnce(&'t mut Transaction<'static, $db>) -> TransactionFuture<'t, T, E>,
                E: Into<HandlerError>,
            {
                let admission = self.begin(claim).await?;
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

            fn judge(
                &self,
                record: Option<&Record>,
                epoch: Option<i64>,
                claim: &ReplayClaim,
                now: i64,
            ) -> Result<Judgement> {
                let inner = &self.inner;
                sql::judge(
                    record,
                    epoch,
                    claim,
                    now,
                    inner.loss_policy,
                    inner.clock_margin,
                )
            }

            /// Reads the claim's record and the table's epoch in one statement.
            async fn read<'c, X>(
                &self,
                conn: X,
                claim: &ReplayClaim,
            ) -> Result<(Option<Record>, Option<i64>)>
            where
                X: sqlx::Executor<'c, Database = $db>,
            {
                let rows = timed(
                    self.inner.command_timeout,
                    sqlx::query(&self.inner.sql.read)
                        .bind(&claim.key().as_bytes()[..])
                        .bind(&sql::marker()[..])
                        .fetch_all(conn),
                )
                .await?;
                let (mut record, mut epoch) = (None, None);
                for row in rows {
                    let is_marker: bool = row.try_get(0).map_err(sql::unavailable)?;
                    let r = Record {
                        state: row.try_get(1).map_err(sql::unavailable)?,
                        digest: row.try_get(2).map_err(sql::unavailable)?,
                        pending_until: row.try_get(3).map_err(sql::unavailable)?,
                        expires_at: row.try_get(4).map_err(sql::unavailable)?,
                    };
                    if is_marker {
                        epoch = Some(r.pending_until);
                    } else {
                        record = Some(r);
                    }
                }
                Ok((record, epoch))
            }

            /// Starts an epoch now if the table has none.
            async fn mark(&self) -> Result<()> {
                let inner = &self.inner;
                let started = timed(
                    inner.command_timeout,
                    sqlx::query(&inner.sql.mark)
                        .bind(&sql::marker()[..])
                        .bind(db_ms(self.now_ms()))
                        .execute(&inner.pool),
                )
                .await?
                .rows_affected();
                if started > 0 {
                    inner.epochs_started.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            }

            async fn reserve_claim(&self, claim: &ReplayClaim) -> Result<ReplayOutcome> {
                Ok(match self.write(Write::Reserve, claim).await? {
                    Written::Yes { token, unproven } => {
                        let r = Reservation::new(*claim, u128::from(token.unsigned_abs()));
                        ReplayOutcome::Fresh(if unproven { r.unproven() } else { r })
                    }
                    Written::Found(Judgement::Duplicate) => ReplayOutcome::Duplicate,
                    Written::Found(Judgement::InFlight) => ReplayOutcome::InFlight,
                    Written::Found(Judgement::Mismatch) => ReplayOutcome::PayloadMismatch,
                    Written::Found(Judgement::SignedBeforeEpoch) => {
                        return Err(ErrorKind::SignedBeforeEpoch.into());
                    }
                    Written::Found(_) => return Err(store_error(StoreError::Unsettled)),
                })
            }

            async fn commit_reservation(&self, reservation: Reservation) -> Result<()> {
                let inner = &self.inner;
                let claim = reservation.claim();
                timed(
                    inner.command_timeout,
                    sqlx::query(&inner.sql.commit)
                        .bind(&claim.key().as_bytes()[..])
                        .bind(&claim.digest().as_bytes()[..])
                        .bind(db_ms(claim.expires_at_ms()))
                        .bind(db_ms(self.now_ms()))
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

        /// The error (or duplicate) a judgement of an unwritable claim answers on the exactly-once path.
        fn refused(j: Judgement) -> Result<SqlAdmission<$db>> {
            match j {
                Judgement::Duplicate => Ok(SqlAdmission::Duplicate),
                Judgement::InFlight => Err(ErrorKind::InFlight.into()),
                Judgement::Mismatch => Err(ErrorKind::PayloadMismatch.into()),
                Judgement::SignedBeforeEpoch => Err(ErrorKind::SignedBeforeEpoch.into()),
                _ => Err(store_error(StoreError::Unsettled)),
            }
        }

        impl ReplayStore for $store {
            async fn reserve(&self, claim: &ReplayClaim) -> Result<ReplayOutcome> {
                self.reserve_claim(claim).await
            }

            async fn commit(&self, reservation: Reservation) -> Result<()> {
                self.commit_reservation(reservation).await
            }

            async fn release(&self, reservation: Reservation) -> Result<()> {
                self.release_reservation(reservation).await
            }
        }
    };
}
pub(crate) use shared_store_items;
