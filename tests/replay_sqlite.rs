//! The SQLite replay store on real files: the shared scenarios on a controlled clock, records
//! surviving a restart (a new process replays committed triples with other bodies: all
//! refused), two stores on one file (as two processes), capacity and fail-closed when full,
//! and the sweep.
// Tests and benches fail by panicking: unwrap, expect and panic are how they report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg(feature = "sqlite")]

mod replay_scenarios;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, SystemTime};

use mailgun_webhooks::{ErrorKind, LossPolicy, ReplayStore, SqliteReplayStore};
use replay_scenarios::*;

const START: u64 = 1_770_920_772;
const PENDING: Duration = Duration::from_secs(2);

/// A new, unique database file path (removed with its WAL files by [`Cleanup`]).
fn db_path(tag: &str) -> (PathBuf, Cleanup) {
    let p = std::env::temp_dir().join(format!("mgw-sqlite-{tag}-{}.sqlite3", unique_token()));
    (p.clone(), Cleanup(p))
}

struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Creates the file with its epoch an hour before `now`, so that deliveries signed around
/// `now` are provable (a new file's epoch is its creation: earlier deliveries go by the loss
/// policy, tested on its own below).
async fn create_an_hour_ago(path: &PathBuf, now: SystemTime) {
    let store = SqliteReplayStore::builder(path)
        .clock(ManualClock::at(now - Duration::from_secs(3600)))
        .sweep_interval(Duration::ZERO)
        .open()
        .await
        .expect("creates the file");
    store.pool().close().await;
}

async fn open(path: &PathBuf, clock: &ManualClock) -> SqliteReplayStore {
    create_an_hour_ago(path, clock.now()).await;
    SqliteReplayStore::builder(path)
        .clock(clock.clone())
        .pending_ttl(PENDING)
        .open()
        .await
        .expect("opens the file")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shared_scenarios_on_a_controlled_clock() {
    let clock = ManualClock::at(at(START));
    let (path, _cleanup) = db_path("scenarios");
    let store = open(&path, &clock).await;
    // Every scenario uses distinct deliveries, so one file serves them all.
    run_all(|| store.clone(), &clock, PENDING).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shared_scenarios_on_a_pool_of_four_connections() {
    // More connections than the default one: they contend on SQLite's lock (busy timeout)
    // instead of in the pool, and the outcomes must be the same.
    let clock = ManualClock::at(at(START));
    let (path, _cleanup) = db_path("scenarios4");
    create_an_hour_ago(&path, clock.now()).await;
    let store = SqliteReplayStore::builder(&path)
        .clock(clock.clone())
        .pending_ttl(PENDING)
        .max_connections(4)
        .open()
        .await
        .unwrap();
    run_all(|| store.clone(), &clock, PENDING).await;
}

/// The child half of `committed_triples_are_refused_after_a_restart`: run as a separate
/// process, it commits deliveries and prints their tokens, then exits.
#[tokio::test]
async fn child_commits_deliveries() {
    let Ok(path) = std::env::var("MGW_SQLITE_CHILD_DB") else {
        return; // only meaningful as the child process
    };
    let store = SqliteReplayStore::open(&path).await.unwrap();
    let now = SystemTime::now();
    let v = verifier(Duration::from_secs(3600));
    for _ in 0..20 {
        let token = unique_token();
        let d = delivery(&v, secs(now), &token, now);
        // Payload 1.
        let r = reserve(&store, &d).await.into_reservation().expect("fresh");
        store.commit(r).await.unwrap();
        println!("COMMITTED {} {token}", secs(now));
    }
}

#[tokio::test]
async fn committed_triples_are_refused_after_a_restart() {
    let (path, _cleanup) = db_path("restart");
    create_an_hour_ago(&path, SystemTime::now()).await;
    // Another process commits 20 deliveries and exits.
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_commits_deliveries",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("MGW_SQLITE_CHILD_DB", &path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let committed: Vec<(u64, String)> = stdout
        .lines()
        .filter_map(|l| l.split_once("COMMITTED ").map(|(_, rest)| rest))
        .map(|l| {
            let (ts, token) = l.split_once(' ').unwrap();
            (ts.parse().unwrap(), token.to_owned())
        })
        .collect();
    assert_eq!(committed.len(), 20, "{stdout}");

    // This process opens the same file afresh, as a restarted server would, and replays every
    // committed triple with other bodies: all refused as forgeries (401), never processed; and
    // with the same body: duplicates (200). No new epoch started: the file kept its records.
    let store = SqliteReplayStore::open(&path).await.unwrap();
    assert_eq!(store.epochs_started(), 0);
    assert_eq!(
        store.len().await.unwrap(),
        20 + 1,
        "20 records and the epoch marker"
    );
    let now = SystemTime::now();
    let v = verifier(Duration::from_secs(3600));
    for (ts, token) in &committed {
        let d = delivery(&v, *ts, token, now);
        for other in [2, 3, 200] {
            assert_eq!(
                seen_with(&store, &d, other).await,
                Seen::PayloadMismatch,
                "{token}"
            );
        }
        assert_eq!(reserve_seen(&store, &d).await, Seen::Duplicate, "{token}");
    }
    // A fresh delivery is still processed.
    let d = delivery(&v, secs(now), &unique_token(), now);
    assert_eq!(reserve_seen(&store, &d).await, Seen::Fresh);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file_share_records_and_exactly_one_reserves() {
    // Two pools on one file, as two processes on one host would have.
    let clock = ManualClock::at(at(START));
    let (path, _cleanup) = db_path("two");
    let a = open(&path, &clock).await;
    let b = open(&path, &clock).await;
    let v = verifier(Duration::from_secs(3600));
    for _ in 0..20 {
        let d = delivery(&v, START, &unique_token(), at(START));
        let c = claim(&d, 1);
        let (ra, rb) = tokio::join!(a.reserve(&c), b.reserve(&c));
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert_eq!(
            usize::from(ra.is_fresh()) + usize::from(rb.is_fresh()),
            1,
            "exactly one of two stores on one file reserves: {ra:?} {rb:?}"
        );
        let r = ra.into_reservation().or(rb.into_reservation()).unwrap();
        a.commit(r).await.unwrap();
        assert_eq!(reserve_seen(&b, &d).await, Seen::Duplicate);
    }
}

#[tokio::test]
async fn full_file_refuses_new_deliveries_and_still_knows_old_ones() {
    let clock = ManualClock::at(at(START));
    let (path, _cleanup) = db_path("full");
    create_an_hour_ago(&path, clock.now()).await;
    let store = SqliteReplayStore::builder(&path)
        .clock(clock.clone())
        .capacity(6) // 5 deliveries and the epoch marker
        .sweep_interval(Duration::ZERO)
        .open()
        .await
        .unwrap();
    let short: Vec<_> = (0..3).map(|_| delivery_expiring(at(START), 10)).collect();
    let long: Vec<_> = (0..2).map(|_| delivery_expiring(at(START), 1000)).collect();
    for d in short.iter().chain(&long) {
        let r = reserve(&store, d).await.into_reservation().unwrap();
        store.commit(r).await.unwrap();
    }
    assert_eq!(store.len().await.unwrap(), 6);
    // Full: a new delivery is refused (503), a recorded one is still a duplicate.
    let fresh = delivery_expiring(at(START), 1000);
    let err = store.reserve(&claim(&fresh, 1)).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::StoreFull);
    assert_eq!(err.status(), 503);
    assert_eq!(reserve_seen(&store, &long[0]).await, Seen::Duplicate);
    // Once the short records expired, the new delivery makes room by deleting them, and the
    // long ones are never evicted.
    clock.set(at(START + 11));
    assert_eq!(reserve_seen(&store, &fresh).await, Seen::Fresh);
    assert_eq!(store.len().await.unwrap(), 4);
    for d in &long {
        assert_eq!(reserve_seen(&store, d).await, Seen::Duplicate);
    }
}

#[tokio::test]
async fn purge_deletes_only_expired_records_in_batches() {
    let clock = ManualClock::at(at(START));
    let (path, _cleanup) = db_path("purge");
    create_an_hour_ago(&path, clock.now()).await;
    let store = SqliteReplayStore::builder(&path)
        .clock(clock.clone())
        .sweep_batch(7)
        .sweep_interval(Duration::ZERO)
        .open()
        .await
        .unwrap();
    for ttl in [10, 1000] {
        for _ in 0..30 {
            let d = delivery_expiring(at(START), ttl);
            let r = reserve(&store, &d).await.into_reservation().unwrap();
            store.commit(r).await.unwrap();
        }
    }
    assert_eq!(store.purge_expired().await.unwrap(), 0);
    clock.set(at(START + 10));
    assert_eq!(store.purge_expired().await.unwrap(), 30);
    assert_eq!(
        store.len().await.unwrap(),
        31,
        "the live records and the epoch marker"
    );
}

#[tokio::test]
async fn background_sweep_deletes_expired_records() {
    let (path, _cleanup) = db_path("sweep");
    create_an_hour_ago(&path, SystemTime::now()).await;
    let store = SqliteReplayStore::builder(&path)
        .sweep_interval(Duration::from_millis(100))
        .open()
        .await
        .unwrap();
    let now = SystemTime::now();
    for _ in 0..10 {
        let d = delivery_expiring(now, 1);
        let r = reserve(&store, &d).await.into_reservation().unwrap();
        store.commit(r).await.unwrap();
    }
    assert_eq!(store.len().await.unwrap(), 11);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while store.len().await.unwrap() > 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the sweeper did not run"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_new_or_emptied_file_fails_closed_for_deliveries_signed_before_its_epoch() {
    let clock = ManualClock::at(at(START));
    let (path, _cleanup) = db_path("epoch");
    let store = SqliteReplayStore::builder(&path)
        .clock(clock.clone())
        .open()
        .await
        .unwrap();
    assert_eq!(store.loss_policy(), LossPolicy::FailClosed);
    assert_eq!(store.epochs_started(), 1);
    assert_eq!(store.epoch().await.unwrap(), Some(START * 1000));
    let v = verifier(Duration::from_secs(3600));
    // Signed before the file existed: it cannot be proven unseen (503, retryable).
    let before = delivery(&v, START - 1, &unique_token(), at(START));
    let err = store.reserve(&claim(&before, 1)).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::SignedBeforeEpoch);
    assert_eq!(err.status(), 503);
    // Signed after: processed.
    clock.set(at(START + 10));
    let after = delivery(&v, START + 10, &unique_token(), at(START + 10));
    let r = reserve(&store, &after)
        .await
        .into_reservation()
        .expect("fresh");
    assert!(!r.is_unproven());
    store.commit(r).await.unwrap();

    // Someone empties the table (a restore from an old backup would do the same): the marker
    // goes with the records, the loss is detected, and the committed triple, now unrecorded,
    // is refused instead of processed with another body.
    sqlx::query("DELETE FROM mailgun_webhooks_replay")
        .execute(store.pool())
        .await
        .unwrap();
    clock.set(at(START + 20));
    let err = store.reserve(&claim(&after, 2)).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::SignedBeforeEpoch);
    assert_eq!(store.epochs_started(), 2);
    assert_eq!(store.epoch().await.unwrap(), Some((START + 20) * 1000));

    // Under `Accept`, the same delivery is processed, marked unproven.
    let accepting = SqliteReplayStore::builder(&path)
        .clock(clock.clone())
        .loss_policy(LossPolicy::Accept)
        .open()
        .await
        .unwrap();
    let r = reserve(&accepting, &after)
        .await
        .into_reservation()
        .expect("fresh");
    assert!(r.is_unproven());
    accepting.commit(r).await.unwrap();
    assert_eq!(reserve_seen(&store, &after).await, Seen::Duplicate);
}
