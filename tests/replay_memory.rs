//! The in-memory replay store: the shared scenarios on a controlled clock, capacity and
//! fail-closed behaviour, a model-based property test, a concurrency stress test, and the
//! measured memory per record.
// Tests and benches fail by panicking: unwrap, expect and panic are how they report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod replay_scenarios;

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use futures_util::FutureExt;
use mailgun_webhooks::{ErrorKind, MemoryReplayStore, ReplayOutcome, ReplayStore, Verified};
use proptest::prelude::*;
use replay_scenarios::*;

const START: u64 = 1_770_920_772;
const PENDING: Duration = Duration::from_secs(2);

fn store(clock: &ManualClock) -> MemoryReplayStore {
    MemoryReplayStore::builder()
        .clock(clock.clone())
        .pending_ttl(PENDING)
        .build()
}

/// Runs a memory-store future, which never waits.
fn now<F: std::future::Future>(f: F) -> F::Output {
    f.now_or_never().expect("the memory store never waits")
}

/// `n` distinct deliveries, all expiring at `START + ttl` seconds.
fn deliveries(n: usize, ttl: u64) -> Vec<Verified<()>> {
    (0..n).map(|_| delivery_expiring(at(START), ttl)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shared_scenarios_on_a_controlled_clock() {
    let clock = ManualClock::at(at(START));
    run_all(|| store(&clock), &clock, PENDING).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shared_scenarios_with_one_shard() {
    let clock = ManualClock::at(at(START));
    let make = || {
        MemoryReplayStore::builder()
            .clock(clock.clone())
            .pending_ttl(PENDING)
            .shards(1)
            .capacity(100)
            .build()
    };
    run_all(make, &clock, PENDING).await;
}

#[test]
fn defaults() {
    let s = MemoryReplayStore::new();
    assert_eq!(s.capacity(), 1_000_000);
    assert_eq!(s.pending_ttl(), Duration::from_secs(60));
    assert!(s.shards().is_power_of_two());
    assert!(s.is_empty());
}

#[test]
fn full_store_fails_closed_with_503_and_keeps_live_records() {
    let clock = ManualClock::at(at(START));
    let s = MemoryReplayStore::builder()
        .clock(clock.clone())
        .capacity(3)
        .shards(1)
        .build();
    let ds = deliveries(5, 100);
    let mut held = Vec::new();
    for d in &ds[..3] {
        held.push(
            now(s.reserve(&claim(d, 1)))
                .unwrap()
                .into_reservation()
                .unwrap(),
        );
    }
    let err = now(s.reserve(&claim(&ds[3], 1))).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::StoreFull);
    assert_eq!(err.status().as_u16(), 503);
    assert!(err.is_retryable());
    assert_eq!(s.len(), 3);

    // Full, but live records are still recognised: nothing was evicted.
    assert_eq!(
        now(s.reserve(&claim(&ds[0], 1))).unwrap(),
        ReplayOutcome::InFlight
    );
    let first = held.remove(0);
    now(s.commit(first)).unwrap();
    assert_eq!(
        now(s.reserve(&claim(&ds[0], 1))).unwrap(),
        ReplayOutcome::Duplicate
    );

    // A released record keeps its payload binding until it expires: it still counts, and the
    // same payload may take it again.
    now(s.release(held.remove(0))).unwrap();
    assert_eq!(
        now(s.reserve(&claim(&ds[3], 1))).unwrap_err().kind(),
        &ErrorKind::StoreFull
    );
    assert_eq!(
        now(s.reserve(&claim(&ds[1], 2))).unwrap(),
        ReplayOutcome::PayloadMismatch
    );
    assert!(now(s.reserve(&claim(&ds[1], 1))).unwrap().is_fresh());
}

#[test]
fn expired_records_make_room() {
    let clock = ManualClock::at(at(START));
    let s = MemoryReplayStore::builder()
        .clock(clock.clone())
        .capacity(2)
        .shards(1)
        .pending_ttl(Duration::from_secs(10))
        .build();
    let short = deliveries(2, 5); // committed records expiring at START + 5
    let later = deliveries(2, 100);
    for d in &short {
        let r = now(s.reserve(&claim(d, 1)))
            .unwrap()
            .into_reservation()
            .unwrap();
        now(s.commit(r)).unwrap();
    }
    assert_eq!(
        now(s.reserve(&claim(&later[0], 1))).unwrap_err().kind(),
        &ErrorKind::StoreFull
    );

    clock.set(at(START + 5) - Duration::from_millis(1));
    assert_eq!(
        now(s.reserve(&claim(&later[0], 1))).unwrap_err().kind(),
        &ErrorKind::StoreFull
    );
    assert_eq!(
        now(s.reserve(&claim(&short[0], 1))).unwrap(),
        ReplayOutcome::Duplicate
    );

    clock.set(at(START + 5));
    assert!(now(s.reserve(&claim(&later[0], 1))).unwrap().is_fresh());
    assert!(now(s.reserve(&claim(&later[1], 1))).unwrap().is_fresh());
    assert_eq!(
        s.len(),
        2,
        "the expired records were purged, not kept beside the new ones"
    );
}

#[test]
fn pending_reservations_expire_and_count_towards_capacity() {
    let clock = ManualClock::at(at(START));
    let s = MemoryReplayStore::builder()
        .clock(clock.clone())
        .capacity(1)
        .shards(1)
        .pending_ttl(Duration::from_secs(60))
        .build();
    let ds = deliveries(2, 1000);
    let _crashed = now(s.reserve(&claim(&ds[0], 1))).unwrap();
    assert_eq!(
        now(s.reserve(&claim(&ds[1], 1))).unwrap_err().kind(),
        &ErrorKind::StoreFull
    );
    clock.advance(Duration::from_secs(60));
    // Past its pending lifetime the record still holds the binding until its expiry.
    assert_eq!(
        now(s.reserve(&claim(&ds[1], 1))).unwrap_err().kind(),
        &ErrorKind::StoreFull
    );
    assert_eq!(
        now(s.reserve(&claim(&ds[0], 2))).unwrap(),
        ReplayOutcome::PayloadMismatch
    );
    assert!(now(s.reserve(&claim(&ds[0], 1))).unwrap().is_fresh());
}

#[test]
fn purge_expired_removes_only_expired_records() {
    let clock = ManualClock::at(at(START));
    let s = store(&clock);
    for d in deliveries(10, 5).iter().chain(&deliveries(5, 50)) {
        let r = now(s.reserve(&claim(d, 1)))
            .unwrap()
            .into_reservation()
            .unwrap();
        now(s.commit(r)).unwrap();
    }
    assert_eq!(s.purge_expired(), 0);
    clock.set(at(START + 5));
    assert_eq!(s.purge_expired(), 10);
    assert_eq!(s.len(), 5);
}

#[test]
fn a_commit_after_the_reservation_expired_still_records_the_delivery() {
    let clock = ManualClock::at(at(START));
    let s = store(&clock);
    let d = &deliveries(1, 1000)[0];
    let r = now(s.reserve(&claim(d, 1)))
        .unwrap()
        .into_reservation()
        .unwrap();
    clock.advance(PENDING * 2);
    now(s.commit(r)).unwrap();
    assert_eq!(
        now(s.reserve(&claim(d, 1))).unwrap(),
        ReplayOutcome::Duplicate
    );
}

#[test]
fn multi_shard_capacity_is_never_exceeded() {
    let clock = ManualClock::at(at(START));
    let s = MemoryReplayStore::builder()
        .clock(clock.clone())
        .capacity(64)
        .shards(8)
        .build();
    let ds = deliveries(200, 1000);
    let mut fresh = 0;
    for d in &ds {
        match now(s.reserve(&claim(d, 1))) {
            Ok(o) => {
                assert!(o.is_fresh());
                fresh += 1;
            }
            Err(e) => assert_eq!(e.kind(), &ErrorKind::StoreFull),
        }
    }
    assert_eq!(fresh, 64, "each of the 8 shards holds exactly 8 records");
    assert_eq!(s.len(), 64);
}

#[test]
fn abandon_releases_at_once_keeping_the_binding() {
    let clock = ManualClock::at(at(START));
    let s = store(&clock);
    let d = &deliveries(1, 1000)[0];
    let r = now(s.reserve(&claim(d, 1)))
        .unwrap()
        .into_reservation()
        .unwrap();
    s.abandon(r);
    assert_eq!(
        now(s.reserve(&claim(d, 2))).unwrap(),
        ReplayOutcome::PayloadMismatch
    );
    assert!(now(s.reserve(&claim(d, 1))).unwrap().is_fresh());
}

#[test]
fn loss_policy_decides_deliveries_signed_before_the_first_use() {
    let clock = ManualClock::at(at(START));
    let v = verifier(Duration::from_secs(3600));
    let before = delivery(&v, START - 10, &unique_token(), at(START));
    let after = delivery(&v, START + 1, &unique_token(), at(START + 1));
    // A delivery that may have been received before the store's first use (the skew
    // allowance reaches back past it) is not provable either.
    let skewed = delivery(&v, START + 1, &unique_token(), at(START + 1));
    let skew = |d: &Verified<()>| {
        mailgun_webhooks::ReplayClaim::new(d, namespace(), payload(1), Duration::from_secs(5))
    };

    let closed = MemoryReplayStore::builder()
        .clock(clock.clone())
        .loss_policy(mailgun_webhooks::LossPolicy::FailClosed)
        .build();
    // The namespace's epoch starts at its first use: START.
    let e = now(closed.reserve(&claim(&before, 1))).unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::SignedBeforeEpoch);
    assert_eq!(e.status().as_u16(), 503);
    assert!(e.is_retryable());
    assert_eq!(e.name(), "signed_before_epoch");
    assert_eq!(
        now(closed.reserve(&skew(&skewed))).unwrap_err().kind(),
        &ErrorKind::SignedBeforeEpoch
    );
    let r = now(closed.reserve(&claim(&after, 1)))
        .unwrap()
        .into_reservation()
        .unwrap();
    assert!(!r.is_unproven());
    now(closed.commit(r)).unwrap();

    let accept = MemoryReplayStore::builder().clock(clock.clone()).build();
    assert_eq!(accept.loss_policy(), mailgun_webhooks::LossPolicy::Accept);
    let r = now(accept.reserve(&claim(&before, 1)))
        .unwrap()
        .into_reservation()
        .unwrap();
    assert!(r.is_unproven(), "accepted, and says so");
    now(accept.commit(r)).unwrap();
    // Once on record it is an ordinary duplicate, and another payload a mismatch.
    assert_eq!(
        now(accept.reserve(&claim(&before, 1))).unwrap(),
        ReplayOutcome::Duplicate
    );
    assert_eq!(
        now(accept.reserve(&claim(&before, 2))).unwrap(),
        ReplayOutcome::PayloadMismatch
    );
}

#[test]
fn clones_share_records() {
    let clock = ManualClock::at(at(START));
    let a = store(&clock);
    let b = a.clone();
    let d = &deliveries(1, 1000)[0];
    let r = now(a.reserve(&claim(d, 1)))
        .unwrap()
        .into_reservation()
        .unwrap();
    assert_eq!(
        now(b.reserve(&claim(d, 1))).unwrap(),
        ReplayOutcome::InFlight
    );
    now(a.commit(r)).unwrap();
    assert_eq!(
        now(b.reserve(&claim(d, 1))).unwrap(),
        ReplayOutcome::Duplicate
    );
}

/// RELIABILITY.md §4.6: 64 tasks × 2,000 reserves over 1,000 deliveries on a multi-threaded
/// runtime; every delivery is won exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stress_each_delivery_is_won_exactly_once() {
    let s = MemoryReplayStore::new();
    let now = SystemTime::now();
    let ds = std::sync::Arc::new(deliveries_at(now, 1000));
    let mut tasks = Vec::new();
    for task in 0..64usize {
        let (s, ds) = (s.clone(), ds.clone());
        tasks.push(tokio::spawn(async move {
            let mut wins = Vec::new();
            for i in 0..2000usize {
                let k = (i * 7 + task * 13) % ds.len();
                if let ReplayOutcome::Fresh(r) = s.reserve(&claim(&ds[k], 1)).await.unwrap() {
                    wins.push(k);
                    // Release a third of the wins: those deliveries can be won again.
                    if i % 3 == 0 {
                        s.release(r).await.unwrap();
                        wins.pop();
                    } else {
                        s.commit(r).await.unwrap();
                    }
                }
                if i % 64 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            wins
        }));
    }
    let mut won = vec![0u32; ds.len()];
    for t in tasks {
        for k in t.await.unwrap() {
            won[k] += 1;
        }
    }
    assert!(
        won.iter().all(|&n| n <= 1),
        "a delivery was committed twice"
    );
    let committed = won.iter().filter(|&&n| n == 1).count();
    for (k, d) in ds.iter().enumerate() {
        let o = s.reserve(&claim(d, 1)).await.unwrap();
        if won[k] == 1 {
            assert_eq!(o, ReplayOutcome::Duplicate);
        } else {
            // Never committed (every win of it was released), so it is free.
            assert!(o.is_fresh());
        }
    }
    assert!(committed > 900, "{committed}");
}

fn deliveries_at(now: SystemTime, n: usize) -> Vec<Verified<()>> {
    let v = verifier(Duration::from_secs(60));
    (0..n)
        .map(|_| delivery(&v, secs(now), &unique_token(), now))
        .collect()
}

/// Memory per record, measured: the growth of this process's resident memory while one shard
/// fills up. The default store on a 2-CPU host has 8 shards of 125,000 records each, so one
/// shard of 125,000 records gives the per-record figure of a full default store (the bench
/// `benches/replay.rs` measures the whole 1,000,000 in a release build). Linux only.
#[test]
fn memory_per_record_is_measured() {
    fn rss_bytes() -> Option<u64> {
        let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
        let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
        Some(pages * 4096)
    }
    const N: usize = 125_000;
    if rss_bytes().is_none() {
        eprintln!("no /proc/self/statm: memory not measured on this platform");
        return;
    }
    let clock = ManualClock::at(at(START));
    let s = MemoryReplayStore::builder()
        .clock(clock.clone())
        .capacity(N)
        .shards(1)
        .build();
    let v = verifier(Duration::from_secs(3600));
    let claims: Vec<_> = (0..N)
        .map(|i| claim(&delivery(&v, START, &format!("m{i}"), at(START)), 1))
        .collect();
    let before = rss_bytes().unwrap();
    for c in &claims {
        let r = now(s.reserve(c)).unwrap().into_reservation().unwrap();
        now(s.commit(r)).unwrap();
    }
    let after = rss_bytes().unwrap();
    assert_eq!(s.len(), N);
    let per_record = after.saturating_sub(before) as f64 / N as f64;
    eprintln!(
        "memory: {:.2} MB for {N} records in one shard = {per_record:.1} bytes per record",
        after.saturating_sub(before) as f64 / 1e6
    );
    // 40-byte records + 1 control byte, in 39 sub-tables of 4,096 buckets sized for the
    // capacity: 41 * 4,096 * 39 / 125,000 = 52.4 bytes. Allow for other tests in this process
    // (tests/replay_memory_footprint.rs counts the heap exactly).
    assert!(
        (45.0..=64.0).contains(&per_record),
        "{per_record} bytes per record"
    );
}

// ----- model-based property test (RELIABILITY.md §4.4 item 10) -----

#[derive(Debug, Clone)]
enum Op {
    Reserve(usize),
    Commit(usize),
    Release(usize),
    Abandon(usize),
    Advance(u64),
    Purge,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..KEYS).prop_map(Op::Reserve),
        2 => any::<usize>().prop_map(Op::Commit),
        1 => any::<usize>().prop_map(Op::Release),
        1 => any::<usize>().prop_map(Op::Abandon),
        2 => (0u64..4000).prop_map(Op::Advance),
        1 => Just(Op::Purge),
    ]
}

const KEYS: usize = 6;
const CAPACITY: usize = 3;
const MODEL_PENDING_MS: u64 = 1500;
/// Record lifetimes of the keys, in seconds after the start.
const LIFETIMES: [u64; KEYS] = [1, 2, 3, 5, 8, 1000];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Fresh,
    Duplicate,
    InFlight,
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Pending under a token until a time (ms).
    Pending(u64, u64),
    Released,
    Done,
}

/// The specification: a map of live records on a fake clock. Every record lives until its
/// delivery's expiry whatever its state (the payload binding); a pending one behaves as
/// released once its pending lifetime has run out.
struct Model {
    now_ms: u64,
    /// key -> (state, expiry in ms)
    records: HashMap<usize, (State, u64)>,
    next_token: u64,
}

impl Model {
    fn live(&self, k: usize) -> Option<(State, u64)> {
        self.records
            .get(&k)
            .copied()
            .filter(|&(_, exp)| self.now_ms < exp)
    }

    fn live_count(&self) -> usize {
        (0..KEYS).filter(|&k| self.live(k).is_some()).count()
    }

    fn reserve(&mut self, k: usize, expires_ms: u64) -> (Answer, Option<u64>) {
        match self.live(k) {
            Some((State::Done, _)) => return (Answer::Duplicate, None),
            Some((State::Pending(_, until), _)) if self.now_ms < until => {
                return (Answer::InFlight, None);
            }
            Some(_) => {}
            None if self.live_count() >= CAPACITY => return (Answer::Full, None),
            None => {}
        }
        self.next_token += 1;
        let t = self.next_token;
        self.records.insert(
            k,
            (
                State::Pending(t, self.now_ms + MODEL_PENDING_MS),
                expires_ms,
            ),
        );
        (Answer::Fresh, Some(t))
    }

    fn commit(&mut self, k: usize, expires_ms: u64) -> Answer {
        if self.live(k).is_none() && self.live_count() >= CAPACITY {
            return Answer::Full;
        }
        let exp = match self.live(k) {
            Some((State::Done, e)) => e.max(expires_ms),
            _ => expires_ms,
        };
        self.records.insert(k, (State::Done, exp));
        Answer::Fresh
    }

    fn release(&mut self, k: usize, token: u64) {
        if let Some((State::Pending(t, _), exp)) = self.live(k)
            && t == token
        {
            self.records.insert(k, (State::Released, exp));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(512)
    ))]

    #[test]
    fn memory_store_matches_the_model(ops in prop::collection::vec(op(), 5..500)) {
        let clock = ManualClock::at(at(START));
        let store = MemoryReplayStore::builder()
            .clock(clock.clone())
            .capacity(CAPACITY)
            .shards(1)
            .pending_ttl(Duration::from_millis(MODEL_PENDING_MS))
            .build();
        let ds: Vec<Verified<()>> = LIFETIMES
            .iter()
            .map(|&l| delivery_expiring(at(START), l))
            .collect();
        let mut model = Model { now_ms: 0, records: HashMap::new(), next_token: 0 };
        // Outstanding reservations: (key, the store's reservation, the model's token).
        let mut held = Vec::new();
        for op in ops {
            match op {
                Op::Reserve(k) => {
                    let got = now(store.reserve(&claim(&ds[k], 1)));
                    let (want, token) = model.reserve(k, LIFETIMES[k] * 1000);
                    let got = match got {
                        Ok(ReplayOutcome::Fresh(r)) => {
                            if let Some(t) = token {
                                held.push((k, r, t));
                            }
                            Answer::Fresh
                        }
                        Ok(ReplayOutcome::Duplicate) => Answer::Duplicate,
                        Ok(ReplayOutcome::InFlight) => Answer::InFlight,
                        Ok(other) => panic!("an outcome this test does not know: {other:?}"),
                        Err(e) => {
                            prop_assert_eq!(e.kind(), &ErrorKind::StoreFull);
                            Answer::Full
                        }
                    };
                    prop_assert_eq!(got, want, "reserve({})", k);
                }
                Op::Commit(i) | Op::Release(i) | Op::Abandon(i) if !held.is_empty() => {
                    let i = i % held.len();
                    let (k, r, t) = held.remove(i);
                    match op {
                        Op::Commit(_) => {
                            let expires_ms = LIFETIMES[k] * 1000;
                            let got = match now(store.commit(r)) {
                                Ok(()) => Answer::Fresh,
                                Err(e) => {
                                    prop_assert_eq!(e.kind(), &ErrorKind::StoreFull);
                                    Answer::Full
                                }
                            };
                            prop_assert_eq!(got, model.commit(k, expires_ms), "commit({})", k);
                        }
                        Op::Release(_) => {
                            now(store.release(r)).unwrap();
                            model.release(k, t);
                        }
                        _ => {
                            store.abandon(r);
                            model.release(k, t);
                        }
                    }
                }
                Op::Commit(_) | Op::Release(_) | Op::Abandon(_) => {}
                Op::Advance(ms) => {
                    clock.advance(Duration::from_millis(ms));
                    model.now_ms += ms;
                }
                Op::Purge => {
                    store.purge_expired();
                }
            }
            prop_assert!(store.len() <= CAPACITY);
            // Every key answers as the model says. A probe with another payload never changes
            // the state: a live record answers PayloadMismatch whatever its state. A probe with
            // the same payload changes nothing for pending and committed records.
            for (k, d) in ds.iter().enumerate() {
                if let Some((state, _)) = model.live(k) {
                    prop_assert_eq!(now(store.reserve(&claim(d, 2))).unwrap(), ReplayOutcome::PayloadMismatch, "probe {}", k);
                    let want = match state {
                        State::Done => ReplayOutcome::Duplicate,
                        State::Pending(_, until) if model.now_ms < until => ReplayOutcome::InFlight,
                        _ => continue,
                    };
                    prop_assert_eq!(now(store.reserve(&claim(d, 1))).unwrap(), want, "probe {}", k);
                }
            }
        }
    }
}
