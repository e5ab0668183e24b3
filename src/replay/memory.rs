//! A bounded, sharded, in-process replay store.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{
    LossPolicy, PayloadDigest, ReplayClaim, ReplayNamespace, ReplayOutcome, ReplayStore,
    Reservation,
};
use crate::error::{ErrorKind, Result};
use crate::verify::{Clock, ReplayKey, SystemClock};

/// The state of a committed record. Pending reservations get tokens from `FIRST_TOKEN` up.
const DONE: u64 = 0;
/// The state of a released record (bound to its digest, free for the same payload).
const RELEASED: u64 = 1;
/// The first pending token.
const FIRST_TOKEN: u64 = 2;
/// The most namespaces one store keeps an epoch for (receivers are configured, not sent, so
/// this is never reached in practice; beyond it a new namespace is refused with `StoreFull`).
const MAX_NAMESPACES: usize = 4096;
/// A shard drops its expired records at most this often (in milliseconds) when not full.
const SWEEP_INTERVAL_MS: u64 = 60_000;

/// A bounded replay store in this process's memory.
///
/// **It protects one process only.** Each process has its own records, so a replay that
/// reaches another replica, or this one after a restart, is not recognised. If you run several
/// instances behind a load balancer, or restart within the freshness window (8.5 hours by
/// default), use a shared store such as `RedisReplayStore` (feature `redis`).
///
/// ```
/// use std::time::Duration;
/// use mailgun_webhooks::MemoryReplayStore;
///
/// let store = MemoryReplayStore::new(); // 1,000,000 records, 60 s pending lifetime
/// let small = MemoryReplayStore::builder()
///     .capacity(10_000)
///     .pending_ttl(Duration::from_secs(30))
///     .build();
/// assert_eq!(small.capacity(), 10_000);
/// # let _ = store;
/// ```
///
/// # Restarts and the loss policy
///
/// Its records live as long as the process: after a restart (every deploy) it has forgotten
/// every delivery it processed. Its **epoch** (see [`ReplayStore`](crate::ReplayStore#store-epochs-and-loss))
/// is the first use of a receiver's namespace in this process, and a delivery signed before
/// that (minus `max_skew` and [`clock_margin`](MemoryReplayStoreBuilder::clock_margin)) cannot be
/// proven unseen. The [`LossPolicy`] decides:
///
/// - [`LossPolicy::Accept`], what [`new`](Self::new) takes: such a delivery is processed, and
///   the outcome says so ([`Outcome::ProcessedUnproven`](crate::Outcome::ProcessedUnproven)).
///   The cost: for `max_age` after each restart (8.5 hours by default), anyone holding a triple
///   captured before the restart can use it once more, with a body of their choosing.
/// - [`LossPolicy::FailClosed`] (`MemoryReplayStore::builder().loss_policy(LossPolicy::FailClosed)`):
///   such a delivery is refused with 503 ([`SignedBeforeEpoch`](crate::ErrorKind::SignedBeforeEpoch)).
///   The cost: Mailgun's retries of every delivery signed before a restart are refused until
///   Mailgun gives up on them (about 8 hours): each deploy loses the deliveries that were
///   failing or in flight when it happened.
///
/// To pay neither, use a durable shared store (Redis with persistence, or a SQL store).
///
/// # Bounded, and fail-closed when full
///
/// The store holds at most [`capacity`](Self::capacity) records, pending and committed. A
/// record is kept until its expiry ([`Verified::replay_expires_at`](crate::Verified::replay_expires_at)
/// for committed ones, the pending lifetime for reservations) and **never evicted before**:
/// evicting a live record would let its signature be replayed with another body. When the store
/// is full, a new delivery is refused with [`ErrorKind::StoreFull`] (503), which Mailgun retries,
/// while duplicates of recorded deliveries are still recognised.
///
/// Expired records are removed as the store goes: a new reservation of the same key reuses its
/// slot; a shard that takes a new record sweeps out its expired ones at most once a minute; and
/// a full shard sweeps before refusing a record. A sweep scans one shard and runs only when at
/// least one of its records has expired. So the store's size follows the deliveries of the
/// freshness window, not everything it has ever seen. [`purge_expired`](Self::purge_expired)
/// sweeps every shard on demand.
///
/// The default capacity, 1,000,000, holds every delivery of the freshness window at up to about
/// **32 deliveries per second** sustained (a committed record lives `max_age` + 60 s =
/// 30,660 s with the default `max_age`): about 117,000 per hour, 2.8 million per day. Raise it,
/// or shorten `max_age`, for more.
///
/// # Concurrency
///
/// Records are spread over shards (by default the next power of two of four times the
/// available parallelism), each a `Mutex<HashMap>` on its own cache line. A key's shard comes
/// from its first bytes and its hash from other bytes: keys are SHA-256 digests, uniformly
/// random and not chosen by senders, so no further hashing is needed. An operation locks one
/// shard for a hash-table lookup and insert; there is no global lock. The capacity is split
/// evenly among the shards, and uniform keys fill them evenly: the first shard fills when the
/// store holds about 99 % of its capacity (at the default size).
///
/// # Memory
///
/// A record is 88 bytes (a 32-byte key, the 32-byte payload digest, an 8-byte expiry, an 8-byte
/// end of the pending lifetime and an 8-byte state) plus one control byte in the hash table.
/// Tables grow in powers of two and are at most 7/8 full, so a record costs between about 100
/// and 200 bytes. A full default store on 2 CPUs has 8 tables of 2^18 slots: **187 MB, about
/// 187 bytes per record** (`tests/replay_memory.rs` measures the resident-memory growth of
/// filling one such table).
///
/// Memory is allocated as records arrive, not up front; a table keeps the size it reached (its
/// freed slots are reused).
///
/// # Clones share the store
///
/// `MemoryReplayStore` is a handle: clones share the same records, like an `Arc`.
#[derive(Clone)]
pub struct MemoryReplayStore {
    inner: Arc<Inner>,
}

struct Inner {
    shards: Box<[Shard]>,
    mask: u64,
    capacity: usize,
    pending_ttl_ms: u64,
    clock: Arc<dyn Clock>,
    loss_policy: LossPolicy,
    clock_margin: Duration,
    /// The epoch of each namespace: its first use in this store (unix milliseconds).
    epochs: RwLock<HashMap<ReplayNamespace, u64>>,
}

/// One lock and its table, alone on a cache line (128 bytes: x86 prefetches line pairs).
#[repr(align(128))]
struct Shard {
    table: Mutex<Table>,
}

struct Table {
    records: HashMap<Slot, Record, BuildHasherDefault<SlotHasher>>,
    /// Most records this shard may hold.
    capacity: usize,
    /// No record of this shard expires before this time (unix milliseconds). A lower bound:
    /// removing records does not raise it; a purge recomputes it.
    earliest_expiry: u64,
    /// The next time (unix milliseconds) a new record may trigger a sweep of expired records.
    next_sweep: u64,
    /// The next pending token; never `DONE`.
    next_token: u64,
}

#[derive(Clone, Copy)]
struct Record {
    /// Unix milliseconds; the record is gone from this instant on.
    expires_ms: u64,
    /// Unix milliseconds; a pending record behaves as released from this instant on.
    pending_until: u64,
    /// `DONE` for a committed record, `RELEASED` for a released one, otherwise the pending
    /// reservation's token.
    token: u64,
    /// The payload the record is bound to.
    digest: PayloadDigest,
}

impl Record {
    #[inline]
    fn is_live(&self, now_ms: u64) -> bool {
        now_ms < self.expires_ms
    }
}

/// A table key: the replay key, hashed by taking 8 of its bytes (it is already a SHA-256
/// digest). The shard is chosen from bytes 0..8, the hash from bytes 8..16, so the two are
/// independent.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Slot(ReplayKey);

impl Hash for Slot {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        let [_, _, _, _, _, _, _, _, a, b, c, d, e, f, g, h, ..] = *self.0.as_bytes();
        state.write_u64(u64::from_le_bytes([a, b, c, d, e, f, g, h]));
    }
}

/// Passes through the `u64` that [`Slot`] writes.
#[derive(Default)]
struct SlotHasher(u64);

impl Hasher for SlotHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used by `Slot`; a plain FNV-1a in case anything else is ever hashed.
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

impl MemoryReplayStore {
    /// The default capacity: 1,000,000 records. See the [type docs](Self).
    pub const DEFAULT_CAPACITY: usize = 1_000_000;

    /// The default lifetime of a pending reservation: 60 seconds.
    ///
    /// Longer than a webhook handler should take (Mailgun's own request timeout is short and
    /// heavy work belongs in a queue), short enough that a handler that crashed without
    /// releasing blocks the delivery for at most a minute; Mailgun's first retry comes 5 to 10
    /// minutes after a failure.
    pub const DEFAULT_PENDING_TTL: Duration = Duration::from_secs(60);

    /// A store with the default capacity and pending lifetime, on the system clock.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A store that holds at most `capacity` records, with the other defaults.
    pub fn with_capacity(capacity: usize) -> Self {
        Self::builder().capacity(capacity).build()
    }

    /// Starts configuring a store.
    pub fn builder() -> MemoryReplayStoreBuilder {
        MemoryReplayStoreBuilder {
            capacity: Self::DEFAULT_CAPACITY,
            pending_ttl: Self::DEFAULT_PENDING_TTL,
            shards: None,
            clock: Arc::new(SystemClock),
            loss_policy: LossPolicy::Accept,
            clock_margin: Duration::ZERO,
        }
    }

    /// The most records the store holds.
    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }

    /// The number of shards.
    pub fn shards(&self) -> usize {
        self.inner.shards.len()
    }

    /// The lifetime of a pending reservation.
    pub fn pending_ttl(&self) -> Duration {
        Duration::from_millis(self.inner.pending_ttl_ms)
    }

    /// The number of records held, including expired ones not removed yet. Locks each shard in
    /// turn: meant for metrics, not for every request.
    pub fn len(&self) -> usize {
        self.inner
            .shards
            .iter()
            .map(|s| s.lock().records.len())
            .sum()
    }

    /// True when the store holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every expired record now and returns how many were removed. Never needed for
    /// correctness; it returns memory to the tables' free space sooner. Locks each shard in
    /// turn.
    pub fn purge_expired(&self) -> usize {
        let now = self.now_ms();
        self.inner.shards.iter().map(|s| s.lock().purge(now)).sum()
    }

    fn now_ms(&self) -> u64 {
        unix_ms(self.inner.clock.now())
    }

    #[inline]
    fn shard(&self, key: &ReplayKey) -> &Shard {
        let [a, b, c, d, e, f, g, h, ..] = *key.as_bytes();
        let i = u64::from_le_bytes([a, b, c, d, e, f, g, h]) & self.inner.mask;
        // `mask` is below the number of shards, which is a `usize`.
        &self.inner.shards[usize::try_from(i).unwrap_or_default()]
    }

    /// The epoch of `namespace` in this store: its first use (unix milliseconds).
    fn epoch(&self, namespace: &ReplayNamespace, now: u64) -> Result<u64> {
        let epochs = self
            .inner
            .epochs
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(&e) = epochs.get(namespace) {
            return Ok(e);
        }
        drop(epochs);
        let mut epochs = self
            .inner
            .epochs
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if epochs.len() >= MAX_NAMESPACES && !epochs.contains_key(namespace) {
            return Err(ErrorKind::StoreFull.into());
        }
        Ok(*epochs.entry(*namespace).or_insert(now))
    }

    fn reserve_now(&self, claim: &ReplayClaim) -> Result<ReplayOutcome> {
        let now = self.now_ms();
        let key = claim.key();
        let digest = *claim.digest();
        let pending_until = now.saturating_add(self.inner.pending_ttl_ms);
        let expires_ms = claim.expires_at_ms();
        let mut table = self.shard(key).lock();
        let slot = Slot(*key);
        if now >= table.next_sweep {
            table.sweep(now);
        }
        let mut unproven = false;
        match table.records.get(&slot).filter(|r| r.is_live(now)).copied() {
            Some(existing) => {
                if existing.digest != digest {
                    return Ok(ReplayOutcome::PayloadMismatch);
                }
                if existing.token == DONE {
                    return Ok(ReplayOutcome::Duplicate);
                }
                if existing.token != RELEASED && now < existing.pending_until {
                    return Ok(ReplayOutcome::InFlight);
                }
                // Released, or pending past its lifetime: the same payload may be retried.
            }
            None => {
                let epoch = self.epoch(claim.namespace(), now)?;
                if !claim.is_provable_since(epoch, self.inner.clock_margin) {
                    match self.inner.loss_policy {
                        LossPolicy::FailClosed => {
                            return Err(ErrorKind::SignedBeforeEpoch.into());
                        }
                        LossPolicy::Accept => unproven = true,
                    }
                }
                if table.records.len() >= table.capacity && !table.records.contains_key(&slot) {
                    table.make_room(now)?;
                }
            }
        }
        let token = table.take_token();
        table.records.insert(
            slot,
            Record {
                expires_ms,
                pending_until,
                token,
                digest,
            },
        );
        table.note_expiry(expires_ms);
        let reservation = Reservation::new(*claim, u128::from(token));
        Ok(ReplayOutcome::Fresh(if unproven {
            reservation.unproven()
        } else {
            reservation
        }))
    }

    fn commit_now(&self, reservation: &Reservation) -> Result<()> {
        let claim = reservation.claim();
        let expires_ms = claim.expires_at_ms();
        let digest = *claim.digest();
        let now = self.now_ms();
        let mut table = self.shard(claim.key()).lock();
        let slot = Slot(*claim.key());
        match table.records.get_mut(&slot).filter(|r| r.is_live(now)) {
            Some(existing) => {
                if existing.digest != digest {
                    // Bound to another payload (only possible after a loss under `Accept`):
                    // never rebind a record.
                    return Ok(());
                }
                let keep = if existing.token == DONE {
                    existing.expires_ms.max(expires_ms)
                } else {
                    expires_ms
                };
                *existing = Record {
                    expires_ms: keep,
                    pending_until: 0,
                    token: DONE,
                    digest,
                };
            }
            None => {
                // Our record expired and was removed while the handler ran; the delivery was
                // processed all the same, so record it.
                if table.records.len() >= table.capacity && !table.records.contains_key(&slot) {
                    table.make_room(now)?;
                }
                table.records.insert(
                    slot,
                    Record {
                        expires_ms,
                        pending_until: 0,
                        token: DONE,
                        digest,
                    },
                );
            }
        }
        table.note_expiry(expires_ms);
        Ok(())
    }

    fn release_now(&self, reservation: &Reservation) {
        let mut table = self.shard(reservation.key()).lock();
        let slot = Slot(*reservation.key());
        if let Some(r) = table.records.get_mut(&slot)
            && r.token >= FIRST_TOKEN
            && u128::from(r.token) == reservation.token()
        {
            // Keeps the binding: only the same payload may be retried.
            r.token = RELEASED;
            r.pending_until = 0;
        }
    }

    /// How this store treats a delivery signed before its epoch (the namespace's first use in
    /// this process).
    pub fn loss_policy(&self) -> LossPolicy {
        self.inner.loss_policy
    }

    /// The clock margin allowed when deciding whether a delivery was signed after the epoch.
    pub fn clock_margin(&self) -> Duration {
        self.inner.clock_margin
    }
}

impl Default for MemoryReplayStore {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryReplayStore")
            .field("capacity", &self.inner.capacity)
            .field("shards", &self.inner.shards.len())
            .field("pending_ttl", &self.pending_ttl())
            .field("clock", &self.inner.clock)
            .finish_non_exhaustive()
    }
}

impl ReplayStore for MemoryReplayStore {
    async fn reserve(&self, claim: &ReplayClaim) -> Result<ReplayOutcome> {
        self.reserve_now(claim)
    }

    async fn commit(&self, reservation: Reservation) -> Result<()> {
        self.commit_now(&reservation)
    }

    async fn release(&self, reservation: Reservation) -> Result<()> {
        self.release_now(&reservation);
        Ok(())
    }

    fn abandon(&self, reservation: Reservation) {
        self.release_now(&reservation);
    }
}

impl Shard {
    /// Locks the table. A panic while the lock was held cannot leave a record half-written
    /// (records are replaced whole), so a poisoned lock is recovered rather than propagated.
    #[inline]
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Table {
    #[inline]
    fn take_token(&mut self) -> u64 {
        let token = self.next_token;
        self.next_token = match token.checked_add(1) {
            Some(next) => next,
            None => FIRST_TOKEN,
        };
        token
    }

    #[inline]
    fn note_expiry(&mut self, expires_ms: u64) {
        self.earliest_expiry = self.earliest_expiry.min(expires_ms);
    }

    /// The periodic sweep: drops expired records if any may exist, and schedules the next one.
    #[cold]
    fn sweep(&mut self, now: u64) {
        if now >= self.earliest_expiry {
            self.purge(now);
        }
        self.next_sweep = now.saturating_add(SWEEP_INTERVAL_MS);
    }

    /// Called when the table is full: drops expired records if any may exist, then fails with
    /// `StoreFull` if none could be dropped.
    fn make_room(&mut self, now: u64) -> Result<()> {
        if now >= self.earliest_expiry {
            self.purge(now);
        }
        if self.records.len() >= self.capacity {
            return Err(ErrorKind::StoreFull.into());
        }
        Ok(())
    }

    /// Drops every expired record and returns how many.
    fn purge(&mut self, now: u64) -> usize {
        let before = self.records.len();
        let mut earliest = u64::MAX;
        self.records.retain(|_, r| {
            let live = r.is_live(now);
            if live {
                earliest = earliest.min(r.expires_ms);
            }
            live
        });
        self.earliest_expiry = earliest;
        before.saturating_sub(self.records.len())
    }
}

/// Configures a [`MemoryReplayStore`]. Made by [`MemoryReplayStore::builder`].
#[derive(Debug)]
#[must_use]
pub struct MemoryReplayStoreBuilder {
    capacity: usize,
    pending_ttl: Duration,
    shards: Option<usize>,
    clock: Arc<dyn Clock>,
    loss_policy: LossPolicy,
    clock_margin: Duration,
}

impl MemoryReplayStoreBuilder {
    /// The most records the store holds, pending and committed. Default:
    /// [`MemoryReplayStore::DEFAULT_CAPACITY`] (1,000,000). Zero refuses every delivery.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// How long a reservation stays pending if it is neither committed nor released. Default:
    /// [`MemoryReplayStore::DEFAULT_PENDING_TTL`] (60 s). Keep it above your handler's
    /// timeout: a reservation that expires while its handler still runs lets a concurrent retry
    /// run the handler a second time.
    pub fn pending_ttl(mut self, pending_ttl: Duration) -> Self {
        self.pending_ttl = pending_ttl;
        self
    }

    /// The number of shards, rounded up to a power of two, and lowered so that every shard
    /// holds at least one record. Default: the next power of two of four times
    /// [`std::thread::available_parallelism`].
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = Some(shards);
        self
    }

    /// The clock that decides when records expire. Default: [`SystemClock`]. Use the same
    /// clock as the [`Verifier`](crate::Verifier).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// What to do with a delivery signed before the store's epoch (the first use of the
    /// receiver's namespace in this process, usually its start), which the store cannot prove
    /// unseen because the records of the previous process are gone. Default:
    /// [`LossPolicy::Accept`]; see the [type docs](MemoryReplayStore#restarts-and-the-loss-policy)
    /// for what each choice costs.
    pub fn loss_policy(mut self, policy: LossPolicy) -> Self {
        self.loss_policy = policy;
        self
    }

    /// The largest difference allowed between the store's clock and the verifier's, added to
    /// `max_skew` when deciding whether a delivery was signed after the epoch. Default: zero
    /// (one process, one clock).
    pub fn clock_margin(mut self, margin: Duration) -> Self {
        self.clock_margin = margin;
        self
    }

    /// Builds the store. Allocates only the shards; records are allocated as they arrive.
    pub fn build(self) -> MemoryReplayStore {
        let requested = self.shards.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(1, usize::from)
                .saturating_mul(4)
        });
        let mut shards = requested
            .max(1)
            .checked_next_power_of_two()
            .unwrap_or(1 << (usize::BITS - 1));
        while shards > 1 && shards > self.capacity {
            shards /= 2;
        }
        let base = self.capacity / shards;
        let extra = self.capacity % shards;
        let tables: Box<[Shard]> = (0..shards)
            .map(|i| Shard {
                table: Mutex::new(Table {
                    records: HashMap::default(),
                    capacity: base + usize::from(i < extra),
                    earliest_expiry: u64::MAX,
                    next_sweep: 0,
                    next_token: FIRST_TOKEN,
                }),
            })
            .collect();
        MemoryReplayStore {
            inner: Arc::new(Inner {
                mask: u64::try_from(shards - 1).unwrap_or(0),
                shards: tables,
                capacity: self.capacity,
                pending_ttl_ms: u64::try_from(self.pending_ttl.as_millis()).unwrap_or(u64::MAX),
                clock: self.clock,
                loss_policy: self.loss_policy,
                clock_margin: self.clock_margin,
                epochs: RwLock::new(HashMap::new()),
            }),
        }
    }
}

/// Unix milliseconds of `t`, saturating; times before 1970 count as 0.
pub(crate) fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_layout_is_88_bytes() {
        assert_eq!(std::mem::size_of::<(Slot, Record)>(), 88);
    }

    #[test]
    fn shard_counts_are_powers_of_two_within_capacity() {
        let s = MemoryReplayStore::builder().shards(5).capacity(100).build();
        assert_eq!(s.shards(), 8);
        let s = MemoryReplayStore::builder().shards(64).capacity(3).build();
        assert_eq!(s.shards(), 2);
        let s = MemoryReplayStore::builder().shards(8).capacity(0).build();
        assert_eq!(s.shards(), 1);
        let total: usize = s.inner.shards.iter().map(|s| s.lock().capacity).sum();
        assert_eq!(total, 0);
        let s = MemoryReplayStore::builder().shards(4).capacity(10).build();
        let caps: Vec<usize> = s.inner.shards.iter().map(|s| s.lock().capacity).collect();
        assert_eq!(caps, [3, 3, 2, 2]);
    }

    #[derive(Debug)]
    struct At(std::sync::Mutex<u64>);

    impl Clock for At {
        fn now(&self) -> SystemTime {
            UNIX_EPOCH
                + Duration::from_millis(*self.0.lock().unwrap_or_else(PoisonError::into_inner))
        }
    }

    #[test]
    fn a_shard_sweeps_expired_records_once_a_minute() {
        let clock = Arc::new(At(std::sync::Mutex::new(1_000_000)));
        let store = MemoryReplayStore::builder()
            .clock(clock.clone())
            .shards(1)
            .pending_ttl(Duration::from_secs(1))
            .build();
        // A delivery signed at `ts` (its record expires at `ts` + 60 s).
        let key = |i: u8, ts: u64| {
            let v = crate::Verifier::builder(crate::SigningKey::new("k"))
                .max_age(Duration::ZERO)
                .build();
            let sig = crate::Signature::new(
                ts.to_string(),
                format!("t{i}"),
                crate::SigningKey::new("k").sign(&ts.to_string(), &format!("t{i}")),
            );
            let verified = v
                .verify_at(
                    crate::Unverified::new(sig, crate::Format::Json, ()),
                    UNIX_EPOCH + Duration::from_secs(ts),
                )
                .unwrap();
            ReplayClaim::new(
                &verified,
                v.replay_namespace(),
                PayloadDigest::from_bytes([0; 32]),
                Duration::ZERO,
            )
        };
        let set = |ms: u64| *clock.0.lock().unwrap() = ms;
        let reserve = |i: u8, ts: u64| {
            store
                .reserve_now(&key(i, ts))
                .unwrap()
                .into_reservation()
                .unwrap()
        };
        // Ten records expiring at 1,001,000 ms.
        for i in 0..10 {
            let _ = reserve(i, 941);
        }
        assert_eq!(store.len(), 10);
        // Expired, but the last sweep (at the first record) was less than a minute ago.
        set(1_000_000 + 59_999);
        let _ = reserve(10, 1030);
        assert_eq!(store.len(), 11);
        // A minute later, the next new record sweeps out the expired ones (not the live 11th).
        set(1_000_000 + 60_000);
        let _ = reserve(11, 1030);
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn token_wraps_past_done() {
        let mut t = Table {
            records: HashMap::default(),
            capacity: 1,
            earliest_expiry: u64::MAX,
            next_sweep: 0,
            next_token: u64::MAX,
        };
        assert_eq!(t.take_token(), u64::MAX);
        assert_eq!(t.take_token(), FIRST_TOKEN);
    }
}
