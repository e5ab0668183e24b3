//! Replay protection: the [`ReplayStore`] contract (documented on the trait), its outcomes, the
//! stores, and the object-safe [`DynReplayStore`].

mod digest;
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
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};

use crate::error::Result;
use crate::key::KeyRing;
use crate::verify::{ReplayKey, Verified};

#[cfg(feature = "redis")]
pub use self::redis::{HealthWarning, RedisReplayStore, RedisReplayStoreBuilder, StoreHealth};
pub use digest::PayloadDigest;
pub use memory::{MemoryReplayStore, MemoryReplayStoreBuilder};
#[cfg(feature = "postgres")]
pub use postgres::{PgReplayStore, PgReplayStoreBuilder};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use sql::{SqlAdmission, SqlDelivery, TransactionFuture};
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteReplayStore, SqliteReplayStoreBuilder};

/// The account scope of replay records: receivers with different namespaces never see each
/// other's records in a shared store.
///
/// A [`Receiver`](crate::Receiver) uses the namespace of its key ring by default
/// ([`for_keys`](Self::for_keys)): an HMAC of a fixed label under the **primary** key, so the
/// previous and parent keys of the ring share it (a delivery whose `signature` is garbled but
/// whose `parent-signature` verifies still finds the original's record). That is safe for one
/// account with no configuration.
///
/// **Multi-tenant services and key rotation**: set a namespace by name
/// ([`named`](Self::named), for example the Mailgun account or domain), on every receiver of
/// that account ([`Receiver::namespace`](crate::Receiver::namespace)). A namespace derived from
/// the primary key changes when the primary key does; the new namespace starts with no records,
/// so each store treats it like a store that lost its records (its epoch starts at the first
/// use of the namespace, see [`ReplayStore`]): deliveries signed before the change are refused
/// with [`SignedBeforeEpoch`](crate::ErrorKind::SignedBeforeEpoch) under
/// [`LossPolicy::FailClosed`]. A named namespace keeps its records across rotations.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplayNamespace([u8; 32]);

impl ReplayNamespace {
    /// The namespace of a key ring: HMAC-SHA256 of a fixed label under its primary key.
    pub fn for_keys(keys: &KeyRing) -> Self {
        ReplayNamespace(keys.account_id())
    }

    /// A namespace chosen by name: SHA-256 of a fixed label and `name`. Use the same name on
    /// every receiver of one account, and different names for different accounts.
    pub fn named(name: &str) -> Self {
        let mut h = Sha256::new();
        h.update(b"mailgun-webhooks replay namespace name v1\0");
        h.update(name.as_bytes());
        ReplayNamespace(h.finalize().into())
    }

    /// A namespace from its 32 bytes, as a store reads it back.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        ReplayNamespace(bytes)
    }

    /// The namespace's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for ReplayNamespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReplayNamespace({self})")
    }
}

impl fmt::Display for ReplayNamespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::verify::hex_lower(&self.0))
    }
}

/// What a store does with a delivery signed before its [epoch](ReplayStore#store-epochs-and-loss):
/// a delivery it cannot prove it has never seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LossPolicy {
    /// Refuse it with [`ErrorKind::SignedBeforeEpoch`](crate::ErrorKind::SignedBeforeEpoch)
    /// (503, retryable) until its signature is stale. The default of stores meant to be durable
    /// (`RedisReplayStore`, SQL stores), where a loss is an incident: no captured triple can be
    /// replayed with another body after a loss, at the price of refusing Mailgun's retries of
    /// deliveries signed before it (which Mailgun gives up on after about 8 hours).
    FailClosed,
    /// Process it, and say so: the reservation is [unproven](Reservation::is_unproven) and the
    /// [`Outcome`](crate::Outcome) is [`ProcessedUnproven`](crate::Outcome::ProcessedUnproven).
    /// No delivery is lost to a loss, at the price of reopening every triple signed before it
    /// (within `max_age`) for one more body.
    Accept,
}

impl LossPolicy {
    /// `fail_closed` or `accept`: a stable name for logs and configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            LossPolicy::FailClosed => "fail_closed",
            LossPolicy::Accept => "accept",
        }
    }
}

impl fmt::Display for LossPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a delivery asks of a [`ReplayStore`]: its key, its payload, its account and its times.
///
/// Made from a [`Verified`] delivery only (nothing is written for an unverified request). The
/// [`Receiver`](crate::Receiver) makes one per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayClaim {
    key: ReplayKey,
    namespace: ReplayNamespace,
    digest: PayloadDigest,
    signed_at: u64,
    expires_at: u64,
    max_skew_ms: u64,
}

impl ReplayClaim {
    /// The claim of `verified`, whose payload has digest `digest`, in the account
    /// `namespace`, verified with a `max_skew` of [`Verifier::max_skew`](crate::Verifier::max_skew).
    pub fn new<P>(
        verified: &Verified<P>,
        namespace: ReplayNamespace,
        digest: PayloadDigest,
        max_skew: Duration,
    ) -> Self {
        ReplayClaim {
            key: verified.replay_key_in(&namespace),
            namespace,
            digest,
            signed_at: verified.timestamp(),
            expires_at: verified.replay_expires_at_secs(),
            max_skew_ms: u64::try_from(max_skew.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// The record's key: the signed triple in its namespace ([`Verified::replay_key_in`]).
    pub fn key(&self) -> &ReplayKey {
        &self.key
    }

    /// The account namespace (already folded into [`key`](Self::key); stores keep one epoch per
    /// namespace).
    pub fn namespace(&self) -> &ReplayNamespace {
        &self.namespace
    }

    /// The payload's digest, which the record keeps.
    pub fn digest(&self) -> &PayloadDigest {
        &self.digest
    }

    /// The signed timestamp, in unix seconds.
    pub fn signed_at_secs(&self) -> u64 {
        self.signed_at
    }

    /// When the record may be forgotten: [`Verified::replay_expires_at`].
    pub fn expires_at(&self) -> SystemTime {
        secs_to_time(self.expires_at)
    }

    /// [`expires_at`](Self::expires_at) in unix seconds.
    pub fn expires_at_secs(&self) -> u64 {
        self.expires_at
    }

    /// [`expires_at`](Self::expires_at) in unix milliseconds.
    pub fn expires_at_ms(&self) -> u64 {
        self.expires_at.saturating_mul(1000)
    }

    /// The verifier's `max_skew`: how far ahead of the receiving host's clock a signature may be.
    pub fn max_skew(&self) -> Duration {
        Duration::from_millis(self.max_skew_ms)
    }

    /// The earliest time, in unix milliseconds on the store's clock, at which this delivery can
    /// have been received before: the signed timestamp minus `max_skew` minus `clock_margin`
    /// (the largest difference between the store's clock and the receiving hosts').
    pub fn earliest_receipt_ms(&self, clock_margin: Duration) -> u64 {
        let margin = u64::try_from(clock_margin.as_millis()).unwrap_or(u64::MAX);
        self.signed_at
            .saturating_mul(1000)
            .saturating_sub(self.max_skew_ms)
            .saturating_sub(margin)
    }

    /// True when a store whose records are complete since `epoch_ms` (unix milliseconds, its
    /// own clock) would have a record of any earlier receipt of this delivery: see
    /// [the contract](ReplayStore#store-epochs-and-loss). Every store decides with this rule.
    pub fn is_provable_since(&self, epoch_ms: u64, clock_margin: Duration) -> bool {
        self.earliest_receipt_ms(clock_margin) >= epoch_ms
    }
}

/// A store that records each signed delivery, bound to its payload, so that a signed triple is
/// acted on **with one payload, once**.
///
/// # Why a replay store is part of verification
///
/// Mailgun signs `timestamp ‖ token`, **not the body**. A valid triple proves only that Mailgun
/// minted it; what binds it to one body is the store: it records every triple it admits
/// together with the [digest of its payload](PayloadDigest), until the signature stops being
/// fresh, so that a captured triple cannot be used with another body, not even after the first
/// attempt failed, was cancelled or crashed.
///
/// # The contract
///
/// Every method gets or returns a [`ReplayClaim`]: the record's [key](ReplayClaim::key) (the
/// exact signed string `timestamp ‖ token` in the account's [namespace](ReplayNamespace)), the
/// payload's [digest](ReplayClaim::digest), the signed time and the [expiry](ReplayClaim::expires_at)
/// (signed timestamp + `max_age` + 60 s: a record never expires while its signature is
/// accepted). A record is in one of three states, and **always keeps the digest of the payload
/// it was first reserved with**:
///
/// | state | how it gets there | lives until |
/// |---|---|---|
/// | *pending(D, nonce, until)* | `reserve` | the claim's expiry; *pending* only until `until` = now + the store's pending lifetime |
/// | *released(D)* | `release`, `abandon`, or a pending lifetime that ran out | the claim's expiry |
/// | *committed(D)* | `commit` | the claim's expiry |
///
/// [`reserve`](Self::reserve) atomically (of any number of concurrent calls with one key,
/// exactly one can get `Fresh`) answers, for a claim with digest `C`:
///
/// | record found | answer |
/// |---|---|
/// | none, claim provable since the epoch (below) | [`Fresh`](ReplayOutcome::Fresh): record *pending(C)* |
/// | none, claim **not** provable, [`LossPolicy::FailClosed`] | `Err(`[`SignedBeforeEpoch`](crate::ErrorKind::SignedBeforeEpoch)`)` (503), nothing written |
/// | none, claim **not** provable, [`LossPolicy::Accept`] | `Fresh`, with an [unproven](Reservation::is_unproven) reservation: record *pending(C)* |
/// | any state with digest `D ≠ C` | [`PayloadMismatch`](ReplayOutcome::PayloadMismatch): a forgery, 401 [`ErrorKind::PayloadMismatch`](crate::ErrorKind::PayloadMismatch); never handed to a handler; the record is unchanged |
/// | *committed(C)* | [`Duplicate`](ReplayOutcome::Duplicate) (200, no side effects) |
/// | *pending(C)*, still pending | [`InFlight`](ReplayOutcome::InFlight) (409) |
/// | *released(C)*, or *pending(C)* past its pending lifetime | `Fresh`: record *pending(C)* with a new nonce |
///
/// [`commit`](Self::commit) makes the record *committed(C)* (also when the reservation expired
/// or the record vanished meanwhile: the delivery *was* processed), unless the record holds
/// another digest, which it leaves alone. [`release`](Self::release) makes a record that still
/// holds this reservation's nonce *released(C)*: it keeps the binding, so that Mailgun's retry
/// of the same payload is processed and nothing else is. [`abandon`](Self::abandon) is the
/// synchronous, best-effort form of `release` for a reservation dropped unsettled (a panic, a
/// cancelled future); if it does nothing, the pending lifetime runs out and the record behaves
/// as released.
///
/// On any doubt (an unreachable backend, a timeout, an unexpected reply) a store fails closed
/// with [`ErrorKind::StoreUnavailable`](crate::ErrorKind::StoreUnavailable) (503), never
/// answers `Fresh`. A reserve whose reply was lost may have been written: its record is
/// *pending(C)* and behaves as released once its pending lifetime runs out, still bound to `C`.
///
/// Nothing is written before the signature verified: a claim can only be made from a
/// [`Verified`] value, which only a [`Verifier`](crate::Verifier) makes.
///
/// # Store epochs and loss
///
/// A store knows since when its records of a namespace are complete: its **epoch** (unix
/// milliseconds on the store's clock). It starts when the namespace is first used in the store,
/// and moves to "now" whenever the store finds that records may have been lost: for
/// [`MemoryReplayStore`] the process start (or the namespace's first use); for
/// `RedisReplayStore` a marker key per namespace whose disappearance (a restart without
/// persistence, `FLUSHALL`, `FLUSHDB`, eviction, a failover to a replica that never had it)
/// is noticed on the next reserve. A store that cannot tell must take "now" at every start.
///
/// A claim is **provable** when any earlier receipt of it would have happened after the epoch
/// and so be on record: [`ReplayClaim::is_provable_since`]`(epoch, clock_margin)`, that is
/// `signed_at − max_skew − clock_margin ≥ epoch`, where `max_skew` is the verifier's (a
/// signature may be that far ahead of the receiving host's clock) and `clock_margin` the store's
/// allowance for the difference between its clock and the receiving hosts' (60 s for Redis, 0
/// for memory, configurable). A claim that is not provable and finds no record goes by the
/// store's [`LossPolicy`]; one that finds a record is answered by the table above, whatever
/// the epoch. A delivery signed after the loss (beyond `max_skew` + margin) is processed
/// normally.
///
/// # Payload digests
///
/// [`PayloadDigest::compute`] defines "the same payload": the same decoded content whatever
/// its framing (multipart boundary, percent-encoding, JSON whitespace, key order and escapes).
/// A changed value, field or file is another payload. See its docs for the encoding.
///
/// # Defaults and why
///
/// | setting | default | why |
/// |---|---|---|
/// | `max_age` (verifier) | 8 h 30 min ([`DEFAULT_MAX_AGE`](crate::DEFAULT_MAX_AGE)) | Mailgun retries for about 8 hours, possibly with the original signature |
/// | `max_skew` (verifier) | 5 min ([`DEFAULT_MAX_SKEW`](crate::DEFAULT_MAX_SKEW)) | clock differences between Mailgun and this host |
/// | record lifetime | signed timestamp + `max_age` + 60 s | outlives the signature; the minute absorbs clock differences between hosts sharing a store |
/// | pending lifetime | 60 s | longer than a webhook handler should run; a crashed handler blocks the retry of the same payload for at most a minute |
/// | loss policy | `FailClosed` (Redis, SQL); `Accept` ([`MemoryReplayStore::new`]) | a durable store's loss is an incident; a memory store loses everything on every restart by nature |
/// | [`MemoryReplayStore`] capacity | 1,000,000 records | about 32 deliveries per second sustained over the 8.5-hour window |
/// | `RedisReplayStore` (feature `redis`) timeouts | connect 1 s, command 250 ms | fail fast into a 503 that Mailgun retries |
///
/// # Does Mailgun resend the original signature on a retry?
///
/// Mailgun's documentation does not say; third parties say it does. The design costs no
/// retried event either way:
///
/// - **If retries reuse the original timestamp and token**, the 8.5-hour `max_age` still
///   accepts the last retry. A failed attempt released its reservation, bound to its payload,
///   so the retry (the same payload, whatever its framing) is `Fresh` and is processed. An
///   attempt that succeeded but whose 200 was lost is committed, so its retry is a `Duplicate`.
///   A retry arriving while the first attempt still runs gets 409, and Mailgun retries later.
/// - **If retries are re-signed**, each attempt has its own key and is processed.
///
/// # Choosing a store
///
/// - [`MemoryReplayStore`]: bounded, fast, **protects one process only**, forgets everything on
///   restart.
/// - `RedisReplayStore` (feature `redis`): shared by every process and replica that uses the
///   same Redis and prefix; detects data loss.
/// - [`NoReplayCheck`]: no protection at all, for deployments that deduplicate elsewhere.
/// - Your own: implement this trait with the tables above (for example on a SQL table with a
///   unique key and a table of epochs).
///
/// # Generic first, `dyn` when needed
///
/// The methods return `impl Future + Send`, so a store works inside axum, actix-web and hyper
/// handlers, and [`Receiver<S>`](crate::Receiver) is generic over the store. When the store
/// must be chosen at run time, use [`DynReplayStore`]: every `ReplayStore` is one, and
/// `Arc<dyn DynReplayStore>` and `Box<dyn DynReplayStore>` are `ReplayStore`s again.
/// `&S`, `Arc<S>` and `Box<S>` are stores when `S` is.
///
/// # Implementing
///
/// ```
/// use mailgun_webhooks::{ReplayClaim, ReplayOutcome, ReplayStore, Reservation, Result};
///
/// /// Delegates to an inner store and counts reservations.
/// struct Counting<S> {
///     inner: S,
///     reserves: std::sync::atomic::AtomicU64,
/// }
///
/// impl<S: ReplayStore> ReplayStore for Counting<S> {
///     async fn reserve(&self, claim: &ReplayClaim) -> Result<ReplayOutcome> {
///         self.reserves.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
///         self.inner.reserve(claim).await
///     }
///     async fn commit(&self, reservation: Reservation) -> Result<()> {
///         self.inner.commit(reservation).await
///     }
///     async fn release(&self, reservation: Reservation) -> Result<()> {
///         self.inner.release(reservation).await
///     }
/// }
/// ```
pub trait ReplayStore: Send + Sync {
    /// Atomically reserves the claim, or reports what the store already holds for its key:
    /// see the [contract](Self#the-contract).
    fn reserve(&self, claim: &ReplayClaim) -> impl Future<Output = Result<ReplayOutcome>> + Send;

    /// Marks a reserved delivery as processed (*committed*, bound to its digest) until the
    /// claim's expiry, even if the reservation's pending lifetime ran out meanwhile.
    fn commit(&self, reservation: Reservation) -> impl Future<Output = Result<()>> + Send;

    /// Marks a pending reservation as *released*, keeping its digest, so that a retry with the
    /// same payload is processed; only if the record still holds this reservation's nonce.
    fn release(&self, reservation: Reservation) -> impl Future<Output = Result<()>> + Send;

    /// Called, synchronously, when a reservation is dropped without being committed or released
    /// (the handler panicked or the request future was dropped). It must not block. The default
    /// does nothing: the pending lifetime runs out and the record behaves as released, still
    /// bound to its digest.
    fn abandon(&self, reservation: Reservation) {
        let _ = reservation;
    }

    /// Whether this store binds each claim to its payload, that is whether it reads
    /// [`ReplayClaim::digest`]. `true` by default, as the [contract](Self#the-contract) asks;
    /// only a store that checks nothing, such as [`NoReplayCheck`], answers `false`, and
    /// then the [`Receiver`](crate::Receiver) skips computing the digest (a pass over the
    /// body and SHA-256 over its encoding) and gives the claim an all-zero one.
    fn binds_payloads(&self) -> bool {
        true
    }
}

/// What [`ReplayStore::reserve`] found.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a fresh reservation must be committed or released"]
#[non_exhaustive]
pub enum ReplayOutcome {
    /// First time with this payload (or a retry of a released one): the delivery is now
    /// reserved for this caller. Process it, then [`commit`](ReplayStore::commit) or
    /// [`release`](ReplayStore::release) the reservation.
    Fresh(Reservation),
    /// Already processed and committed with this payload: answer 200 without processing it.
    Duplicate,
    /// Reserved with this payload by another request that has not finished: answer 409.
    InFlight,
    /// The signed triple is on record with **another payload**: a forgery (the signature does
    /// not cover the body). Answer 401 ([`ErrorKind::PayloadMismatch`](crate::ErrorKind::PayloadMismatch)).
    PayloadMismatch,
}

impl fmt::Display for ReplayOutcome {
    /// `fresh`, `duplicate`, `in_flight` or `payload_mismatch` (the reservation is not shown).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReplayOutcome::Fresh(_) => "fresh",
            ReplayOutcome::Duplicate => "duplicate",
            ReplayOutcome::InFlight => "in_flight",
            ReplayOutcome::PayloadMismatch => "payload_mismatch",
        })
    }
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

    /// True for [`ReplayOutcome::PayloadMismatch`].
    pub fn is_payload_mismatch(&self) -> bool {
        matches!(self, ReplayOutcome::PayloadMismatch)
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
/// The `token` (nonce) identifies this reservation among others of the same key over time (a
/// released reservation may be taken again by a retry), so that a release settles only its
/// own record. Its meaning belongs to the store that made it.
#[derive(PartialEq, Eq)]
#[must_use = "a reservation must be committed or released"]
pub struct Reservation {
    claim: ReplayClaim,
    token: u128,
    unproven: bool,
}

impl Reservation {
    /// For store implementations: a reservation of `claim`, identified within the store by
    /// `token`.
    pub fn new(claim: ReplayClaim, token: u128) -> Self {
        Reservation {
            claim,
            token,
            unproven: false,
        }
    }

    /// For store implementations under [`LossPolicy::Accept`]: marks a reservation of a claim
    /// that was not [provable](ReplayClaim::is_provable_since).
    pub fn unproven(mut self) -> Self {
        self.unproven = true;
        self
    }

    /// True when the store could not prove the delivery unseen (it was signed before the
    /// store's epoch) and reserved it under [`LossPolicy::Accept`]: it may be a replay.
    pub fn is_unproven(&self) -> bool {
        self.unproven
    }

    /// The claim it reserves.
    pub fn claim(&self) -> &ReplayClaim {
        &self.claim
    }

    /// The delivery's key.
    pub fn key(&self) -> &ReplayKey {
        &self.claim.key
    }

    /// The payload's digest.
    pub fn digest(&self) -> &PayloadDigest {
        &self.claim.digest
    }

    /// When the committed record may be forgotten.
    pub fn expires_at(&self) -> SystemTime {
        self.claim.expires_at()
    }

    /// The store's identifier of this reservation.
    pub fn token(&self) -> u128 {
        self.token
    }
}

impl fmt::Debug for Reservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reservation")
            .field("key", &self.claim.key)
            .field("digest", &self.claim.digest)
            .field("unproven", &self.unproven)
            .finish_non_exhaustive()
    }
}

fn secs_to_time(secs: u64) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_secs(secs))
        .unwrap_or(UNIX_EPOCH + Duration::from_secs(u64::from(u32::MAX) * 100))
}

/// No replay protection: every delivery is [`Fresh`](ReplayOutcome::Fresh), nothing is
/// recorded.
///
/// **Dangerous with Mailgun.** The signature covers only `timestamp ‖ token`, not the body, so
/// without a replay store anyone who sees one delivery (a log line, a proxy, a leaked request)
/// can post the same signature with a body of their choosing, as often as they like, for as long
/// as the timestamp is fresh (8.5 hours by default). Use this only when deliveries are
/// deduplicated elsewhere by the same signed key: for example a queue consumer that inserts
/// [`Verified::replay_key_in`] under a unique constraint before acting, in the same transaction.
/// The name is meant to make that choice visible in code review.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoReplayCheck;

impl ReplayStore for NoReplayCheck {
    async fn reserve(&self, claim: &ReplayClaim) -> Result<ReplayOutcome> {
        Ok(ReplayOutcome::Fresh(Reservation::new(*claim, 0)))
    }

    async fn commit(&self, _reservation: Reservation) -> Result<()> {
        Ok(())
    }

    async fn release(&self, _reservation: Reservation) -> Result<()> {
        Ok(())
    }

    /// It records nothing: no digest is computed for it.
    fn binds_payloads(&self) -> bool {
        false
    }
}

macro_rules! forward_replay_store {
    ($($ty:ty),*) => {$(
        impl<S: ReplayStore + ?Sized> ReplayStore for $ty {
            fn reserve(
                &self,
                claim: &ReplayClaim,
            ) -> impl Future<Output = Result<ReplayOutcome>> + Send {
                (**self).reserve(claim)
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

            fn binds_payloads(&self) -> bool {
                (**self).binds_payloads()
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
        claim: &'a ReplayClaim,
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

    /// [`ReplayStore::binds_payloads`].
    fn binds_payloads_dyn(&self) -> bool {
        true
    }
}

impl<S: ReplayStore> DynReplayStore for S {
    fn reserve_dyn<'a>(&'a self, claim: &'a ReplayClaim) -> DynFuture<'a, ReplayOutcome> {
        Box::pin(self.reserve(claim))
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

    fn binds_payloads_dyn(&self) -> bool {
        self.binds_payloads()
    }
}

impl<'a> ReplayStore for dyn DynReplayStore + 'a {
    async fn reserve(&self, claim: &ReplayClaim) -> Result<ReplayOutcome> {
        self.reserve_dyn(claim).await
    }

    fn commit(&self, reservation: Reservation) -> impl Future<Output = Result<()>> + Send {
        self.commit_dyn(reservation)
    }

    fn release(&self, reservation: Reservation) -> impl Future<Output = Result<()>> + Send {
        self.release_dyn(reservation)
    }

    fn binds_payloads(&self) -> bool {
        self.binds_payloads_dyn()
    }

    fn abandon(&self, reservation: Reservation) {
        self.abandon_dyn(reservation)
    }
}
