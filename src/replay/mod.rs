//! Replay protection: the [`ReplayStore`] contract (documented on the trait), its outcomes, the
//! stores, and the object-safe [`DynReplayStore`].

mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use crate::error::Result;
use crate::verify::{ReplayKey, Verified};

#[cfg(feature = "redis")]
pub use self::redis::{RedisReplayStore, RedisReplayStoreBuilder};
pub use memory::{MemoryReplayStore, MemoryReplayStoreBuilder};
#[cfg(feature = "postgres")]
pub use postgres::{PgReplayStore, PgReplayStoreBuilder};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use sql::{SqlAdmission, SqlDelivery, TransactionFuture};
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteReplayStore, SqliteReplayStoreBuilder};

/// A store that records each signed delivery so that it is processed once.
///
/// Implementations must make [`reserve`](Self::reserve) atomic: of any number of concurrent
/// calls with the same key, exactly one answers [`ReplayOutcome::Fresh`]. On any doubt (an
/// unreachable backend, a timeout, an unexpected reply) they must fail closed with an error such
/// as [`ErrorKind::StoreUnavailable`](crate::ErrorKind::StoreUnavailable), never answer `Fresh`.
///
/// # Why a replay store is part of verification
///
/// Mailgun signs `timestamp ‖ token`, **not the body**. A valid triple proves only that Mailgun
/// minted it; what binds it to one body is that it is accepted **once**. A store records every
/// accepted triple until its signature stops being fresh, so a captured triple cannot be
/// replayed with another body.
///
/// # The contract
///
/// A delivery goes through two phases:
///
/// 1. [`reserve`](ReplayStore::reserve) atomically records the delivery as *pending* and answers
///    [`ReplayOutcome::Fresh`] (with a [`Reservation`] that only this caller holds),
///    [`ReplayOutcome::Duplicate`] (already committed: answer 200 without acting) or
///    [`ReplayOutcome::InFlight`] (reserved by someone else and not committed yet: answer 409,
///    Mailgun retries later and finds it committed).
/// 2. [`commit`](ReplayStore::commit) when the handler succeeded, which keeps the record until
///    the delivery's expiry; or [`release`](ReplayStore::release) when it failed, which deletes
///    the pending record **only if it is still this reservation's**, so that Mailgun's retry is
///    processed instead of being refused as a replay.
///
/// A pending record has a short time to live of its own (60 s by default), so a process that
/// crashes between reserve and commit blocks the delivery for at most that long.
///
/// The key is [`Verified::replay_key`]: the SHA-256 of the exact signed string
/// `timestamp ‖ token`, whichever key verified it. Keying on the signed string instead of
/// the token alone also catches digit-shift variants of a seen delivery
/// (`"177092077" + "2…"` signs the same as `"1770920772" + "…"`). The expiry is
/// [`Verified::replay_expires_at`]: the *signed* timestamp plus `max_age` plus a minute, so a
/// record can never expire while its signature is still accepted.
///
/// Nothing is written before the signature verified: a [`ReplayKey`] can only be obtained from a
/// [`Verified`] value, which only a [`Verifier`](crate::Verifier) makes. The usual entry points,
/// [`ReplayStore::reserve_verified`] and the [`Receiver`](crate::Receiver), take the
/// `Verified` value itself.
///
/// # Defaults and why
///
/// | setting | default | why |
/// |---|---|---|
/// | `max_age` (verifier) | 8 h 30 min ([`DEFAULT_MAX_AGE`](crate::DEFAULT_MAX_AGE)) | Mailgun retries for about 8 hours, possibly with the original signature |
/// | `max_skew` (verifier) | 5 min ([`DEFAULT_MAX_SKEW`](crate::DEFAULT_MAX_SKEW)) | clock differences between Mailgun and this host |
/// | record lifetime | signed timestamp + `max_age` + 60 s | outlives the signature; the minute absorbs clock differences between hosts sharing a store |
/// | pending lifetime | 60 s | longer than a webhook handler should run; a crashed handler blocks the retry for at most a minute, and Mailgun's first retry comes 5 to 10 minutes later |
/// | [`MemoryReplayStore`] capacity | 1,000,000 records | about 32 deliveries per second sustained over the 8.5-hour window, in about 103 MB when full |
/// | `RedisReplayStore` (feature `redis`) timeouts | connect 1 s, command 250 ms | fail fast into a 503 that Mailgun retries |
///
/// # Does Mailgun resend the original signature on a retry?
///
/// Mailgun's documentation does not say; third parties say it does. The design costs no retried
/// event either way:
///
/// - **If retries reuse the original timestamp and token**, the 8.5-hour `max_age` still accepts
///   the last retry. A failed attempt released its reservation, so the retry is `Fresh` and is
///   processed. An attempt that succeeded but whose 200 was lost is committed, so its retry is a
///   `Duplicate`, answered 200 without running the handler again. A retry arriving while the
///   first attempt still runs gets 409, and Mailgun retries again later.
/// - **If retries are re-signed**, each attempt has its own key: the new one is `Fresh` and is
///   processed, and nothing about the old attempt's record can refuse it.
///
/// # Choosing a store
///
/// - [`MemoryReplayStore`]: bounded, fast, **protects one process only**.
/// - `RedisReplayStore` (feature `redis`): shared by every process
///   and replica that uses the same Redis and prefix.
/// - [`NoReplayCheck`]: no protection at all, for deployments that deduplicate elsewhere.
/// - Your own: implement [`ReplayStore`] (for example on a SQL table with a unique key).
///
/// # Generic first, `dyn` when needed
///
/// The methods return `impl Future + Send`, so a store works inside axum, actix-web and hyper
/// handlers, and the common use, [`Receiver<S>`](crate::Receiver), is generic over the store:
/// no allocation and no virtual call per request. Such a trait is not object-safe; when the
/// store must be chosen at run time (memory in development, Redis in production), use
/// [`DynReplayStore`]: every `ReplayStore` is one, and `Arc<dyn DynReplayStore>` and
/// `Box<dyn DynReplayStore>` are `ReplayStore`s again, at the cost of one boxed future per call.
///
/// `&S`, `Arc<S>` and `Box<S>` are stores when `S` is, so a store can be shared without
/// cloning it.
///
/// # Implementing
///
/// ```
/// use std::time::SystemTime;
/// use mailgun_webhooks::{ReplayKey, ReplayOutcome, ReplayStore, Reservation, Result};
///
/// /// Delegates to an inner store and counts reservations.
/// struct Counting<S> {
///     inner: S,
///     reserves: std::sync::atomic::AtomicU64,
/// }
///
/// impl<S: ReplayStore> ReplayStore for Counting<S> {
///     async fn reserve(&self, key: &ReplayKey, expires_at: SystemTime) -> Result<ReplayOutcome> {
///         self.reserves.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
///         self.inner.reserve(key, expires_at).await
///     }
///     async fn commit(&self, reservation: Reservation) -> Result<()> {
///         self.inner.commit(reservation).await
///     }
///     async fn release(&self, reservation: Reservation) -> Result<()> {
///         self.inner.release(reservation).await
///     }
/// }
/// ```
///
/// (An `async fn` in an impl satisfies the `impl Future + Send` signature as long as its body is
/// `Send`, which the compiler checks.)
pub trait ReplayStore: Send + Sync {
    /// Atomically records the delivery `key` as pending, unless it is already recorded.
    ///
    /// `expires_at` is when a committed record may be forgotten:
    /// [`Verified::replay_expires_at`]. Prefer [`reserve_verified`](Self::reserve_verified),
    /// which takes both from the verified delivery.
    fn reserve(
        &self,
        key: &ReplayKey,
        expires_at: SystemTime,
    ) -> impl Future<Output = Result<ReplayOutcome>> + Send;

    /// Marks a reserved delivery as processed, keeping its record until the reservation's
    /// [`expires_at`](Reservation::expires_at).
    ///
    /// The record is written even when the reservation itself has meanwhile expired (the
    /// handler ran for longer than the pending lifetime), because the delivery *was* processed.
    fn commit(&self, reservation: Reservation) -> impl Future<Output = Result<()>> + Send;

    /// Deletes a pending reservation so that a retry of the delivery is processed, but only if
    /// the record is still this reservation's: a reservation that expired and was taken by
    /// someone else, or a committed record, is left alone.
    fn release(&self, reservation: Reservation) -> impl Future<Output = Result<()>> + Send;

    /// Called, synchronously, when a reservation is dropped without being committed or released:
    /// the handler panicked or the request was cancelled.
    ///
    /// It must not block. The default does nothing, and the pending record expires after the
    /// store's pending lifetime; [`MemoryReplayStore`] releases the reservation at once.
    fn abandon(&self, reservation: Reservation) {
        let _ = reservation;
    }

    /// Reserves a verified delivery under its [`replay_key`](Verified::replay_key) until its
    /// [`replay_expires_at`](Verified::replay_expires_at).
    fn reserve_verified<P>(
        &self,
        verified: &Verified<P>,
    ) -> impl Future<Output = Result<ReplayOutcome>> + Send {
        let key = verified.replay_key();
        let expires_at = verified.replay_expires_at();
        async move { self.reserve(&key, expires_at).await }
    }
}

/// What [`ReplayStore::reserve`] found.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a fresh reservation must be committed or released"]
#[non_exhaustive]
pub enum ReplayOutcome {
    /// First time: the delivery is now reserved for this caller. Process it, then
    /// [`commit`](ReplayStore::commit) or [`release`](ReplayStore::release) the reservation.
    Fresh(Reservation),
    /// Already processed and committed: answer 200 without processing it again.
    Duplicate,
    /// Reserved by another request that has not finished: answer 409; Mailgun retries later.
    InFlight,
}

impl ReplayOutcome {
    /// True for [`ReplayOutcome::Fresh`].
    pub fn is_fresh(&self) -> bool {
        matches!(self, ReplayOutcome::Fresh(_))
    }

    /// True for [`ReplayOutcome::Duplicate`].
    pub fn is_duplicate(&self) -> bool {
        matches!(self, ReplayOutcome::Duplicate)
    }

    /// True for [`ReplayOutcome::InFlight`].
    pub fn is_in_flight(&self) -> bool {
        matches!(self, ReplayOutcome::InFlight)
    }

    /// The reservation, for [`ReplayOutcome::Fresh`].
    pub fn into_reservation(self) -> Option<Reservation> {
        match self {
            ReplayOutcome::Fresh(r) => Some(r),
            _ => None,
        }
    }
}

/// A pending record made by [`ReplayStore::reserve`], to be committed or released.
///
/// The `token` identifies this reservation among others of the same key over time (a
/// reservation may expire and be taken by a retry), so that a release deletes only its own
/// record. Its meaning belongs to the store that made it.
#[derive(PartialEq, Eq)]
#[must_use = "a reservation must be committed or released"]
pub struct Reservation {
    key: ReplayKey,
    expires_at: SystemTime,
    token: u128,
}

impl Reservation {
    /// For store implementations: a reservation of `key`, whose committed record lasts until
    /// `expires_at`, identified within the store by `token`.
    pub fn new(key: ReplayKey, expires_at: SystemTime, token: u128) -> Self {
        Reservation {
            key,
            expires_at,
            token,
        }
    }

    /// The delivery's key.
    pub fn key(&self) -> &ReplayKey {
        &self.key
    }

    /// When the committed record may be forgotten.
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// The store's identifier of this reservation.
    pub fn token(&self) -> u128 {
        self.token
    }
}

impl fmt::Debug for Reservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reservation")
            .field("key", &self.key)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// No replay protection: every delivery is [`Fresh`](ReplayOutcome::Fresh), nothing is
/// recorded.
///
/// **Dangerous with Mailgun.** The signature covers only `timestamp ‖ token`, not the body, so
/// without a replay store anyone who sees one delivery (a log line, a proxy, a leaked request)
/// can post the same signature with a body of their choosing, as often as they like, for as long
/// as the timestamp is fresh (8.5 hours by default). Use this only when deliveries are
/// deduplicated elsewhere by the same signed key: for example a queue consumer that inserts
/// [`Verified::replay_key`] under a unique constraint before acting, in the same transaction.
/// The name is meant to make that choice visible in code review.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoReplayCheck;

impl ReplayStore for NoReplayCheck {
    async fn reserve(&self, key: &ReplayKey, expires_at: SystemTime) -> Result<ReplayOutcome> {
        Ok(ReplayOutcome::Fresh(Reservation::new(*key, expires_at, 0)))
    }

    async fn commit(&self, _reservation: Reservation) -> Result<()> {
        Ok(())
    }

    async fn release(&self, _reservation: Reservation) -> Result<()> {
        Ok(())
    }
}

macro_rules! forward_replay_store {
    ($($ty:ty),*) => {$(
        impl<S: ReplayStore + ?Sized> ReplayStore for $ty {
            fn reserve(
                &self,
                key: &ReplayKey,
                expires_at: SystemTime,
            ) -> impl Future<Output = Result<ReplayOutcome>> + Send {
                (**self).reserve(key, expires_at)
            }

            fn commit(&self, reservation: Reservation) -> impl Future<Output = Result<()>> + Send {
                (**self).commit(reservation)
            }

            fn release(&self, reservation: Reservation) -> impl Future<Output = Result<()>> + Send {
                (**self).release(reservation)
            }

            fn abandon(&self, reservation: Reservation) {
                (**self).abandon(reservation)
            }
        }
    )*};
}

forward_replay_store!(&S, Arc<S>, Box<S>);

/// A boxed, `Send` future, as returned by [`DynReplayStore`].
type DynFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// The object-safe form of [`ReplayStore`], for choosing a store at run time.
///
/// Every [`ReplayStore`] implements it, and `Arc<dyn DynReplayStore>` and
/// `Box<dyn DynReplayStore>` implement [`ReplayStore`], so they plug into a
/// [`Receiver`](crate::Receiver). Each call allocates one boxed future; prefer the generic
/// form when the store type is known at compile time.
///
/// ```
/// use std::sync::Arc;
/// use mailgun_webhooks::{DynReplayStore, MemoryReplayStore, NoReplayCheck, Receiver,
///                        SigningKey, Verifier};
///
/// let dedup_elsewhere = false;
/// let store: Arc<dyn DynReplayStore> = if dedup_elsewhere {
///     Arc::new(NoReplayCheck)
/// } else {
///     Arc::new(MemoryReplayStore::new())
/// };
/// let receiver = Receiver::new(Verifier::new(SigningKey::new("key")), store);
/// # let _ = receiver;
/// ```
pub trait DynReplayStore: Send + Sync {
    /// [`ReplayStore::reserve`], boxed.
    fn reserve_dyn<'a>(
        &'a self,
        key: &'a ReplayKey,
        expires_at: SystemTime,
    ) -> Pin<Box<dyn Future<Output = Result<ReplayOutcome>> + Send + 'a>>;

    /// [`ReplayStore::commit`], boxed.
    fn commit_dyn(
        &self,
        reservation: Reservation,
    ) -> Pin<Box<dyn Future<Output = Result<()>> + Send + '_>>;

    /// [`ReplayStore::release`], boxed.
    fn release_dyn(
        &self,
        reservation: Reservation,
    ) -> Pin<Box<dyn Future<Output = Result<()>> + Send + '_>>;

    /// [`ReplayStore::abandon`].
    fn abandon_dyn(&self, reservation: Reservation);
}

impl<S: ReplayStore> DynReplayStore for S {
    fn reserve_dyn<'a>(
        &'a self,
        key: &'a ReplayKey,
        expires_at: SystemTime,
    ) -> DynFuture<'a, ReplayOutcome> {
        Box::pin(self.reserve(key, expires_at))
    }

    fn commit_dyn(&self, reservation: Reservation) -> DynFuture<'_, ()> {
        Box::pin(self.commit(reservation))
    }

    fn release_dyn(&self, reservation: Reservation) -> DynFuture<'_, ()> {
        Box::pin(self.release(reservation))
    }

    fn abandon_dyn(&self, reservation: Reservation) {
        self.abandon(reservation)
    }
}

impl<'a> ReplayStore for dyn DynReplayStore + 'a {
    async fn reserve(&self, key: &ReplayKey, expires_at: SystemTime) -> Result<ReplayOutcome> {
        self.reserve_dyn(key, expires_at).await
    }

    fn commit(&self, reservation: Reservation) -> impl Future<Output = Result<()>> + Send {
        self.commit_dyn(reservation)
    }

    fn release(&self, reservation: Reservation) -> impl Future<Output = Result<()>> + Send {
        self.release_dyn(reservation)
    }

    fn abandon(&self, reservation: Reservation) {
        self.abandon_dyn(reservation)
    }
}
