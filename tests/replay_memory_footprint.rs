//! The memory store's heap per record, counted by a global allocator (issue 14: at most 64
//! bytes per record), and its bound: a full store allocates nothing more.
// Tests and benches fail by panicking: unwrap, expect and panic are how they report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod replay_scenarios;

use std::time::Duration;

use futures_util::FutureExt;
use mailgun_webhooks::{ErrorKind, MemoryReplayStore, ReplayClaim, ReplayStore};
use replay_scenarios::*;

#[global_allocator]
static ALLOC: peak_alloc::PeakAlloc = peak_alloc::PeakAlloc;

const START: u64 = 1_770_920_772;

/// The heap counter is global: the tests of this binary run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `n` distinct claims signed at `START`.
fn claims(n: usize, tag: &str) -> Vec<ReplayClaim> {
    let v = verifier(Duration::from_secs(3600));
    (0..n)
        .map(|i| claim(&delivery(&v, START, &format!("{tag}{i}"), at(START)), 1))
        .collect()
}

/// Reserves and commits `c`, returning the heap it grew by (the store's allocations alone:
/// the claim is made beforehand), or `None` when the store is full.
fn add(store: &MemoryReplayStore, c: &ReplayClaim) -> Option<isize> {
    let before = peak_alloc::current() as isize;
    let r = match store.reserve(c).now_or_never().unwrap() {
        Ok(o) => o.into_reservation().unwrap(),
        Err(e) => {
            assert_eq!(e.kind(), &ErrorKind::StoreFull);
            return None;
        }
    };
    store.commit(r).now_or_never().unwrap().unwrap();
    Some(peak_alloc::current() as isize - before)
}

#[test]
fn a_full_store_costs_at_most_64_bytes_per_record_and_then_nothing_more() {
    const N: usize = 100_000;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let clock = ManualClock::at(at(START));
    let base = peak_alloc::current();
    let store = MemoryReplayStore::builder()
        .clock(clock.clone())
        .capacity(N)
        .shards(1)
        .build();
    let headers = peak_alloc::current() - base;
    let pool = claims(N + 1_000, "f");
    let mut grown = 0isize;
    let mut held = 0usize;
    for c in &pool[..N] {
        grown += add(&store, c).expect("one shard takes its whole capacity");
        held += 1;
    }
    assert_eq!(store.len(), N);
    let total = grown as f64 + headers as f64;
    let per_record = total / held as f64;
    eprintln!(
        "heap: {headers} bytes of headers, {grown} bytes of tables for {held} records = \
         {per_record:.1} bytes per record"
    );
    // 40-byte records and a control byte, in sub-tables of 4,096 buckets sized for the
    // capacity: 31 sub-tables of about 3,226 records, 41 * 4,096 * 31 / 100,000 = 52.1 bytes.
    assert!(
        (41.0..=64.0).contains(&per_record),
        "{per_record} bytes per record"
    );

    // Full: every further delivery is refused (503), and nothing more is allocated.
    let before = peak_alloc::current();
    for c in &pool[N..] {
        assert_eq!(add(&store, c), None);
    }
    assert_eq!(
        peak_alloc::current(),
        before,
        "a full store allocates nothing"
    );
    assert_eq!(store.len(), N);
}

#[test]
fn a_half_full_store_costs_at_most_twice_as_much_per_record() {
    const CAPACITY: usize = 100_000;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let clock = ManualClock::at(at(START));
    let store = MemoryReplayStore::builder()
        .clock(clock.clone())
        .capacity(CAPACITY)
        .shards(1)
        .build();
    let pool = claims(CAPACITY / 2, "h");
    let grown: isize = pool.iter().map(|c| add(&store, c).unwrap()).sum();
    let per_record = grown as f64 / pool.len() as f64;
    eprintln!("half full: {per_record:.1} bytes per record");
    // Sub-tables grow in powers of two: from 47 to 94 bytes per record when partly full.
    assert!(per_record <= 2.0 * 47.0, "{per_record} bytes per record");
}
