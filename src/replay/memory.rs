//! A bounded, sharded, in-process replay store.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
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

/// The state of a committed record. Pending reservations have states from `1 << COUNTER_BITS`
/// up (see [`Table::pending_state`]).
const DONE: u64 = 0;
/// The state of a released record (bound to its digest, free for the same payload).
const RELEASED: u64 = 1;
/// The low bits of a pending state: a per-shard counter, so that two reservations of one key
/// never share a token. The high bits hold the end of the pending lifetime.
const COUNTER_BITS: u32 = 20;
/// The latest end of a pending lifetime a state can hold (unix milliseconds, about the year
/// 280,000): later ones are clamped to it.
const MAX_PENDING_MS: u64 = (1 << (64 - COUNTER_BITS)) - 2;
/// The most namespaces one store keeps an epoch for (receivers are configured, not sent, so
/// this is never reached in practice; beyond it a new namespace is refused with `StoreFull`).
const MAX_NAMESPACES: usize = 4096;
/// Each sub-table of a shard is swept of its expired records about this often (in
/// milliseconds), one sub-table at a time.
const SWEEP_INTERVAL_MS: u64 = 60_000;
/// The records a sub-table is sized for: 80 % of a 4,096-bucket table (hashbrown tables are at
/// most 7/8 full, so uniform keys stay below the next doubling with a margin of over six
/// standard deviations). A sweep or a growth of one sub-table is bounded by its size.
const SUB_RECORDS: usize = 3_276;
/// The most sub-tables per shard (beyond 13 million records per shard, sub-tables grow larger
/// instead; nothing is allocated up front but the sub-tables' 40-byte headers).
const MAX_SUBS: usize = 4096;
/// When a full shard makes room, it sweeps at most this many sub-tables (those holding expired
/// records) before refusing, so that no operation holds the lock long.
const FULL_SWEEPS: usize = 4;

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
/// Expired records are removed as the store goes, in small steps: each shard is split into
/// sub-tables of a few thousand records, and a shard that takes new records sweeps one
/// sub-table at a time, each about once a minute; a full shard sweeps up to four sub-tables
/// that hold expired records before refusing a new one (a small store has one sub-table, which
/// such a sweep covers whole). No operation scans more than one sub-table's worth of records per
/// sweep (tens of microseconds), whatever the store's size. So the store's size follows the
/// deliveries of the freshness window, not everything it has ever seen.
/// [`purge_expired`](Self::purge_expired) sweeps every sub-table on demand.
///
/// The default capacity, 1,000,000, holds every delivery of the freshness window at up to about
/// **32 deliveries per second** sustained (a committed record lives `max_age` + 60 s =
/// 30,660 s with the default `max_age`): about 117,000 per hour, 2.8 million per day. Raise it,
/// or shorten `max_age`, for more.
///
/// # Concurrency
///
/// Records are spread over shards (by default the next power of two of four times the
/// available parallelism), each a `Mutex` over its sub-tables, on its own cache line. A key's
/// shard and sub-table come from its first 8 bytes and its hash from the next 8: keys are
/// SHA-256 digests, uniformly random and not chosen by senders, so no further hashing is
/// needed. An operation locks one shard for a hash-table lookup and insert; there is no global
/// lock. The capacity is split evenly among the shards, and uniform keys fill them evenly: the
/// first shard fills when the store holds about 99 % of its capacity (at the default size).
///
/// # Memory
///
/// A record is 40 bytes plus one control byte in its hash table: the first 16 bytes of the
/// replay key, the first 12 bytes of the payload digest, the expiry in unix seconds (a `u32`,
/// saturating in 2106) and an 8-byte state (committed, released, or pending with the end of its
/// lifetime in milliseconds and a reservation counter). Sub-tables are sized for the store's
/// capacity, so a **full store costs about 52 bytes per record** (41 bytes at 80 % load);
/// a partly full one between 47 and 94 bytes per record, as its sub-tables grow in powers of
/// two (`tests/replay_memory_footprint.rs` counts it).
///
/// Truncating keys and digests is safe to astronomical odds. Two distinct deliveries share a
/// record only if their 128-bit key prefixes are equal: for a store of `n` live records, a new
/// delivery does so with probability `n / 2^128` (below `2^-106` at 4 million records; below
/// `2^-66` over a trillion deliveries), and a sender cannot aim for it (keys are SHA-256 of a
/// string Mailgun signs). Two payloads count as the same only if their digests agree on 96 bits,
/// which an attacker holding a signed triple can only reach by a second preimage of 96 bits of
/// SHA-256 (2^96 work).
///
/// Memory is allocated as records arrive, not up front (except the sub-tables' 40-byte
/// headers); a table keeps the size it reached (its freed slots are reused).
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

/// One lock and its sub-tables, alone on a cache line (128 bytes: x86 prefetches line pairs).
#[repr(align(128))]
struct Shard {
    table: Mutex<Table>,
}

struct Table {
    /// The sub-tables; a key's is chosen by [`Table::sub_of`].
    subs: Box<[Sub]>,
    /// Records held in all sub-tables.
    len: usize,
    /// Most records this shard may hold.
    capacity: usize,
    /// The next time (unix milliseconds) a new record may trigger the sweep of a sub-table.
    next_sweep: u64,
    /// The sub-table the next sweep looks at.
    cursor: usize,
    /// Milliseconds between two periodic sweeps: `SWEEP_INTERVAL_MS` / the sub-table count.
    sweep_every_ms: u64,
    /// The counter of pending states (low `COUNTER_BITS` bits used).
    counter: u64,
}

struct Sub {
    records: HashMap<Key, Record, BuildHasherDefault<KeyHasher>>,
    /// No record of this sub-table expires before this time (unix milliseconds). A lower
    /// bound: a commit that extends a record does not raise it; a sweep recomputes it.
    earliest_expiry: u64,
}

impl Sub {
    fn new() -> Self {
        Sub {
            records: HashMap::default(),
            earliest_expiry: u64::MAX,
        }
    }
}

/// A record: 24 bytes (40 with its key).
#[derive(Clone, Copy)]
struct Record {
    /// `DONE` for a committed record, `RELEASED` for a released one, otherwise a pending
    /// reservation: the end of its lifetime and a counter (see [`Table::pending_state`]), also
    /// its token.
    state: u64,
    /// The first 12 bytes of the digest of the payload the record is bound to.
    digest: [u8; 12],
    /// Unix seconds; the record is gone from this instant on.
    expires_s: u32,
}

impl Record {
    #[inline]
    fn expires_ms(&self) -> u64 {
        u64::from(self.expires_s) * 1000
    }

    #[inline]
    fn is_live(&self, now_ms: u64) -> bool {
        now_ms < self.expires_ms()
    }

    /// For a pending record, the end of its lifetime (unix milliseconds).
    #[inline]
    fn pending_until(&self) -> Option<u64> {
        (self.state >> COUNTER_BITS).checked_sub(1)
    }
}

/// The first 12 bytes of a payload digest.
#[inline]
fn short_digest(digest: &PayloadDigest) -> [u8; 12] {
    let [a, b, c, d, e, f, g, h, i, j, k, l, ..] = *digest.as_bytes();
    [a, b, c, d, e, f, g, h, i, j, k, l]
}

/// Unix seconds in a `u32`, saturating (in 2106).
#[inline]
fn secs_u32(secs: u64) -> u32 {
    u32::try_from(secs).unwrap_or(u32::MAX)
}

/// A table key: the first 16 bytes of the replay key (already a SHA-256 digest), as two
/// little-endian words. The shard and the sub-table come from the first word, the hash from the
/// second, so they are independent.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key([u64; 2]);

impl Key {
    #[inline]
    fn of(key: &ReplayKey) -> Self {
        let [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, ..] = *key.as_bytes();
        Key([
            u64::from_le_bytes([a, b, c, d, e, f, g, h]),
            u64::from_le_bytes([i, j, k, l, m, n, o, p]),
        ])
    }
}

impl Hash for Key {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0[1]);
    }
}

/// Passes through the `u64` that [`Key`] writes.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used by `Key`; a plain FNV-1a in case anything else is ever hashed.
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
        self.inner.shards.iter().map(|s| s.lock().len).sum()
    }

    /// True when the store holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every expired record now and returns how many were removed. Never needed for
    /// correctness; it returns memory to the tables' free space sooner. Locks each shard once
    /// per sub-table, so that it never holds a lock for more than one sub-table's sweep.
    pub fn purge_expired(&self) -> usize {
        let now = self.now_ms();
        let mut removed = 0;
        for shard in self.inner.shards.iter() {
            let subs = shard.lock().subs.len();
            for i in 0..subs {
                removed += shard.lock().sweep_sub(i, now);
            }
        }
        removed
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
        let key = Key::of(claim.key());
        let digest = short_digest(claim.digest());
        let pending_until = now.saturating_add(self.inner.pending_ttl_ms);
        let expires_s = secs_u32(claim.expires_at_secs());
        let mut table = self.shard(claim.key()).lock();
        if now >= table.next_sweep {
            table.sweep_next(now);
        }
        let table: &mut Table = &mut table;
        let sub = table.sub_of(key);
        let full = table.len >= table.capacity;
        // Taken before it is known to be needed (a counter value skipped is harmless).
        let state = table.pending_state(pending_until);
        let mut unproven = false;
        let record = |state| Record {
            state,
            digest,
            expires_s,
        };
        // One probe on the hot path: the entry is filled in place unless the shard is full.
        match table.subs[sub].records.entry(key) {
            Entry::Occupied(mut e) => {
                let existing = *e.get();
                if existing.is_live(now) {
                    if existing.digest != digest {
                        return Ok(ReplayOutcome::PayloadMismatch);
                    }
                    if existing.state == DONE {
                        return Ok(ReplayOutcome::Duplicate);
                    }
                    if let Some(until) = existing.pending_until()
                        && now < until
                    {
                        return Ok(ReplayOutcome::InFlight);
                    }
                    // Released, or pending past its lifetime: the same payload may be retried.
                } else {
                    // An expired record of the same key is replaced in place.
                    unproven = self.unproven(claim, now)?;
                }
                e.insert(record(state));
            }
            Entry::Vacant(v) => {
                unproven = self.unproven(claim, now)?;
                if full {
                    table.make_room(now)?;
                    table.put(sub, key, record(state));
                } else {
                    v.insert(record(state));
                    table.len += 1;
                }
            }
        }
        table.subs[sub].note_expiry(expires_s);
        let reservation = Reservation::new(*claim, u128::from(state));
        Ok(ReplayOutcome::Fresh(if unproven {
            reservation.unproven()
        } else {
            reservation
        }))
    }

    /// Whether a new record for `claim` is unproven (signed before the epoch, under
    /// `LossPolicy::Accept`), or the error of `LossPolicy::FailClosed`.
    fn unproven(&self, claim: &ReplayClaim, now: u64) -> Result<bool> {
        let epoch = self.epoch(claim.namespace(), now)?;
        if claim.is_provable_since(epoch, self.inner.clock_margin) {
            return Ok(false);
        }
        match self.inner.loss_policy {
            LossPolicy::FailClosed => Err(ErrorKind::SignedBeforeEpoch.into()),
            LossPolicy::Accept => Ok(true),
        }
    }

    fn commit_now(&self, reservation: &Reservation) -> Result<()> {
        let claim = reservation.claim();
        let key = Key::of(claim.key());
        let digest = short_digest(claim.digest());
        let expires_s = secs_u32(claim.expires_at_secs());
        let now = self.now_ms();
        let mut table = self.shard(claim.key()).lock();
        let sub = table.sub_of(key);
        let present = match table.subs[sub].records.get_mut(&key) {
            Some(existing) if existing.is_live(now) => {
                if existing.digest != digest {
                    // Bound to another payload (only possible after a loss under `Accept`):
                    // never rebind a record.
                    return Ok(());
                }
                let keep = if existing.state == DONE {
                    existing.expires_s.max(expires_s)
                } else {
                    expires_s
                };
                *existing = Record {
                    state: DONE,
                    digest,
                    expires_s: keep,
                };
                table.subs[sub].note_expiry(expires_s);
                return Ok(());
            }
            Some(_) => true,
            None => false,
        };
        // Our record expired (and may have been removed) while the handler ran; the delivery
        // was processed all the same, so record it.
        if !present && table.len >= table.capacity {
            table.make_room(now)?;
        }
        table.put(
            sub,
            key,
            Record {
                state: DONE,
                digest,
                expires_s,
            },
        );
        Ok(())
    }

    fn release_now(&self, reservation: &Reservation) {
        let key = Key::of(reservation.key());
        let mut table = self.shard(reservation.key()).lock();
        let sub = table.sub_of(key);
        if let Some(r) = table.subs[sub].records.get_mut(&key)
            && r.pending_until().is_some()
            && u128::from(r.state) == reservation.token()
        {
            // Keeps the binding: only the same payload may be retried.
            r.state = RELEASED;
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
    fn new(capacity: usize) -> Self {
        let subs = capacity.div_ceil(SUB_RECORDS).clamp(1, MAX_SUBS);
        Table {
            subs: (0..subs).map(|_| Sub::new()).collect(),
            len: 0,
            capacity,
            next_sweep: 0,
            cursor: 0,
            sweep_every_ms: (SWEEP_INTERVAL_MS / u64::try_from(subs).unwrap_or(1)).max(1),
            counter: 0,
        }
    }

    /// The sub-table of `key`: bits 32..64 of its first word scaled to the sub-table count
    /// (the shard takes the low bits).
    #[inline]
    fn sub_of(&self, key: Key) -> usize {
        let n = u64::try_from(self.subs.len()).unwrap_or(1);
        // `n` is at most `MAX_SUBS`, so the product fits and the result is below `n`.
        usize::try_from(((key.0[0] >> 32) * n) >> 32).unwrap_or(0)
    }

    /// A new pending state: `pending_until + 1` in the high bits (so it is never `DONE` or
    /// `RELEASED`), the shard's counter in the low bits (so that two reservations of one key
    /// never share a token, even in the same millisecond).
    #[inline]
    fn pending_state(&mut self, pending_until: u64) -> u64 {
        let counter = self.counter & ((1 << COUNTER_BITS) - 1);
        self.counter = self.counter.wrapping_add(1);
        ((pending_until.min(MAX_PENDING_MS) + 1) << COUNTER_BITS) | counter
    }

    /// Inserts or replaces the record of `key` in sub-table `sub`.
    #[inline]
    fn put(&mut self, sub: usize, key: Key, record: Record) {
        let s = &mut self.subs[sub];
        if s.records.insert(key, record).is_none() {
            self.len += 1;
        }
        s.note_expiry(record.expires_s);
    }

    /// The periodic sweep: sweeps the next sub-table if it may hold expired records, and
    /// schedules the next one.
    #[cold]
    fn sweep_next(&mut self, now: u64) {
        let i = self.cursor;
        self.cursor = (i + 1) % self.subs.len();
        if now >= self.subs[i].earliest_expiry {
            self.sweep_sub(i, now);
        }
        self.next_sweep = now.saturating_add(self.sweep_every_ms);
    }

    /// Called when the shard is full: sweeps up to `FULL_SWEEPS` sub-tables that may hold
    /// expired records, stopping once one record is gone, then fails with `StoreFull` if none
    /// could be dropped.
    #[cold]
    fn make_room(&mut self, now: u64) -> Result<()> {
        let n = self.subs.len();
        let mut swept = 0;
        for _ in 0..n {
            let i = self.cursor;
            self.cursor = (i + 1) % n;
            if now >= self.subs[i].earliest_expiry {
                self.sweep_sub(i, now);
                swept += 1;
                if self.len < self.capacity || swept >= FULL_SWEEPS {
                    break;
                }
            }
        }
        if self.len >= self.capacity {
            return Err(ErrorKind::StoreFull.into());
        }
        Ok(())
    }

    /// Drops every expired record of sub-table `i` and returns how many.
    fn sweep_sub(&mut self, i: usize, now: u64) -> usize {
        let Some(sub) = self.subs.get_mut(i) else {
            return 0;
        };
        let before = sub.records.len();
        let mut earliest = u64::MAX;
        sub.records.retain(|_, r| {
            let live = r.is_live(now);
            if live {
                earliest = earliest.min(r.expires_ms());
            }
            live
        });
        sub.earliest_expiry = earliest;
        let removed = before.saturating_sub(sub.records.len());
        self.len = self.len.saturating_sub(removed);
        removed
    }
}

impl Sub {
    #[inline]
    fn note_expiry(&mut self, expires_s: u32) {
        self.earliest_expiry = self.earliest_expiry.min(u64::from(expires_s) * 1000);
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

    /// Builds the store. Allocates only the shards and their sub-tables' headers; records are
    /// allocated as they arrive.
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
                table: Mutex::new(Table::new(base + usize::from(i < extra))),
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

    /// A claim for `token` signed at `ts` with key `k`, verified at `ts` with `max_age` zero
    /// (so that it expires as soon as the clock moves), with an all-zero payload digest.
    fn zero_age_claim(token: &str, ts: u64) -> ReplayClaim {
        let v = crate::Verifier::builder(crate::SigningKey::new("k"))
            .max_age(Duration::ZERO)
            .build();
        let sig = crate::Signature::new(
            ts.to_string(),
            token.to_owned(),
            crate::SigningKey::new("k").sign(&ts.to_string(), token),
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
    }

    #[test]
    fn record_layout_is_40_bytes() {
        assert_eq!(std::mem::size_of::<(Key, Record)>(), 40);
    }

    #[test]
    fn sub_tables_follow_the_capacity() {
        let t = |cap: usize| Table::new(cap).subs.len();
        assert_eq!(t(0), 1);
        assert_eq!(t(100), 1);
        assert_eq!(t(SUB_RECORDS), 1);
        assert_eq!(t(SUB_RECORDS + 1), 2);
        assert_eq!(t(125_000), 39);
        assert_eq!(t(usize::MAX), MAX_SUBS);
        // Every sub-table gets keys: the index covers 0..n.
        let table = Table::new(125_000);
        let mut seen = vec![false; table.subs.len()];
        for i in 0..100_000u64 {
            let k = Key([i.wrapping_mul(0x9e37_79b9_7f4a_7c15), 0]);
            seen[table.sub_of(k)] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn pending_states_are_never_done_or_released_and_carry_their_end() {
        let mut t = Table::new(1);
        for until in [0, 1, 60_000, 1_770_000_000_000, MAX_PENDING_MS, u64::MAX] {
            let a = t.pending_state(until);
            let b = t.pending_state(until);
            assert_ne!(
                a, b,
                "two reservations in one millisecond have distinct tokens"
            );
            for state in [a, b] {
                assert!(state > RELEASED);
                let r = Record {
                    state,
                    digest: [0; 12],
                    expires_s: 0,
                };
                assert_eq!(r.pending_until(), Some(until.min(MAX_PENDING_MS)));
            }
        }
        for state in [DONE, RELEASED] {
            let r = Record {
                state,
                digest: [0; 12],
                expires_s: 0,
            };
            assert_eq!(r.pending_until(), None);
        }
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
        // One shard of one sub-table (a small store): its sweep covers every record.
        let store = MemoryReplayStore::builder()
            .clock(clock.clone())
            .shards(1)
            .capacity(1000)
            .pending_ttl(Duration::from_secs(1))
            .build();
        // A delivery signed at `ts` (its record expires at `ts` + 60 s).
        let key = |i: u8, ts: u64| zero_age_claim(&format!("t{i}"), ts);
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
    fn a_large_shard_sweeps_one_sub_table_at_a_time() {
        let clock = Arc::new(At(std::sync::Mutex::new(1_000_000)));
        let store = MemoryReplayStore::builder()
            .clock(clock.clone())
            .shards(1)
            .capacity(10 * SUB_RECORDS)
            .build();
        let subs = store.inner.shards[0].lock().subs.len();
        assert_eq!(subs, 10);
        let claim = |i: usize, ts: u64| zero_age_claim(&format!("t{i}"), ts);
        let set = |ms: u64| *clock.0.lock().unwrap() = ms;
        // 2,000 records expiring at 1,001,000 ms, spread over the ten sub-tables.
        for i in 0..2000 {
            let _ = store.reserve_now(&claim(i, 941)).unwrap();
        }
        assert_eq!(store.len(), 2000);
        // Each periodic sweep (every 6 s with ten sub-tables) takes one sub-table: after one,
        // a tenth or so is gone, never all.
        set(1_001_000 + 6_000);
        let _ = store.reserve_now(&claim(5000, 1_100)).unwrap();
        let left = store.len();
        assert!(
            (1_600..2_000).contains(&left),
            "{left} left after one sweep"
        );
        // Within a minute, every sub-table was swept once.
        for step in 1..=10 {
            set(1_001_000 + 6_000 * (step + 1));
            let _ = store
                .reserve_now(&claim(5000 + step as usize, 1_100))
                .unwrap();
        }
        assert_eq!(store.len(), 11);
    }

    #[test]
    fn a_full_large_shard_makes_room_within_a_few_sub_tables() {
        let clock = Arc::new(At(std::sync::Mutex::new(1_000_000)));
        let store = MemoryReplayStore::builder()
            .clock(clock.clone())
            .shards(1)
            .capacity(2 * SUB_RECORDS)
            .build();
        let claim = |i: usize, ts: u64| zero_age_claim(&format!("f{i}"), ts);
        for i in 0..2 * SUB_RECORDS {
            let _ = store.reserve_now(&claim(i, 941)).unwrap();
        }
        let full = store.reserve_now(&claim(1_000_000, 941)).unwrap_err();
        assert_eq!(full.kind(), &ErrorKind::StoreFull);
        *clock.0.lock().unwrap() = 1_001_000;
        let _ = store.reserve_now(&claim(1_000_001, 1_000)).unwrap();
        let held = store.len();
        assert!(
            held < 2 * SUB_RECORDS && held > 1,
            "one sub-table swept: {held}"
        );
    }
}
