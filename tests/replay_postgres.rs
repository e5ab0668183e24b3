//! The PostgreSQL replay store against a real server: the shared scenarios on a controlled
//! clock, two stores (as two instances) sharing a table, other tables isolated, the schema
//! from the shipped migration, and the sweep.
//!
//! `DATABASE_URL` points at the server (`.ci/postgres.sh` starts one). Without it each test
//! starts a server of its own from Debian's `postgresql` binaries; without those it fails under
//! `CI=true` and otherwise prints one `SKIPPED` line that `cargo test` shows.
// Tests and benches fail by panicking: unwrap, expect and panic are how they report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg(feature = "postgres")]

#[path = "replay_scenarios/pg_server.rs"]
mod pg_server;
mod replay_scenarios;

use std::time::{Duration, SystemTime};

use mailgun_webhooks::{ErrorKind, LossPolicy, PgReplayStore, ReplayStore};
use pg_server::database_url;
use replay_scenarios::*;

const START: u64 = 1_770_920_772;
const PENDING: Duration = Duration::from_secs(2);

/// A table unique to this run and call.
fn table() -> String {
    format!("mgw_test_{}", unique_token())
}

/// Creates `table` with its epoch an hour before `now`, so that deliveries signed around `now`
/// are provable (a new table's epoch is its creation: earlier deliveries go by the loss policy,
/// tested on its own below).
async fn create_an_hour_ago(url: &str, table: &str, now: SystemTime) {
    let s = PgReplayStore::builder(url)
        .table(table)
        .create_table(true)
        .clock(ManualClock::at(now - Duration::from_secs(3600)))
        .sweep_interval(Duration::ZERO)
        .connect()
        .await
        .expect("creates the table");
    s.pool().close().await;
}

async fn store(url: &str, table: &str, clock: &ManualClock) -> PgReplayStore {
    create_an_hour_ago(url, table, clock.now()).await;
    PgReplayStore::builder(url)
        .table(table)
        .create_table(true)
        .clock(clock.clone())
        .pending_ttl(PENDING)
        .connect()
        .await
        .expect("connects to DATABASE_URL")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shared_scenarios_on_a_controlled_clock() {
    let Some(pg) = database_url("shared_scenarios_on_a_controlled_clock") else {
        return;
    };
    let url = pg.url();
    let clock = ManualClock::at(at(START));
    let store = store(&url, &table(), &clock).await;
    run_all(|| store.clone(), &clock, PENDING).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_share_a_table_and_exactly_one_reserves() {
    let Some(pg) = database_url("two_instances_share_a_table_and_exactly_one_reserves") else {
        return;
    };
    let url = pg.url();
    let clock = ManualClock::at(at(START));
    let t = table();
    let a = store(&url, &t, &clock).await;
    let b = store(&url, &t, &clock).await; // its own pool, as another instance has
    let other = store(&url, &table(), &clock).await;
    let v = verifier(Duration::from_secs(3600));
    for _ in 0..20 {
        let d = delivery(&v, START, &unique_token(), at(START));
        let c = claim(&d, 1);
        let (ra, rb) = tokio::join!(a.reserve(&c), b.reserve(&c));
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert_eq!(
            usize::from(ra.is_fresh()) + usize::from(rb.is_fresh()),
            1,
            "{ra:?} {rb:?}"
        );
        let r = ra.into_reservation().or(rb.into_reservation()).unwrap();
        b.commit(r).await.unwrap();
        assert_eq!(reserve_seen(&a, &d).await, Seen::Duplicate);
        // Another table is another set of records.
        let r = reserve(&other, &d).await.into_reservation().expect("fresh");
        other.release(r).await.unwrap();
    }
}

#[tokio::test]
async fn the_shipped_migration_creates_a_table_the_store_uses() {
    let Some(pg) = database_url("the_shipped_migration_creates_a_table_the_store_uses") else {
        return;
    };
    let url = pg.url();
    let schema = format!("mgw_mig_{}", unique_token());
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let migration = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations/0001_mailgun_webhooks_replay.sql"),
    )
    .unwrap();
    // The migration uses the default, unqualified name: run it in a schema of its own.
    sqlx::raw_sql(&format!(
        "CREATE SCHEMA {schema}; SET search_path TO {schema}; {migration}"
    ))
    .execute(&pool)
    .await
    .unwrap();
    let store = PgReplayStore::builder(&url)
        .table(format!("{schema}.{}", PgReplayStore::DEFAULT_TABLE))
        .clock_margin(Duration::ZERO) // one host: the test's
        .connect()
        .await
        .expect("the migrated table is usable");
    // The migration started the epoch: connecting did not start another.
    assert_eq!(store.epochs_started(), 0);
    assert!(store.epoch().await.unwrap().is_some());
    // A delivery signed a little after the migration ran.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let now = SystemTime::now();
    let d = delivery(
        &verifier(Duration::from_secs(60)),
        secs(now),
        &unique_token(),
        now,
    );
    let r = reserve(&store, &d).await.into_reservation().unwrap();
    store.commit(r).await.unwrap();
    assert_eq!(reserve_seen(&store, &d).await, Seen::Duplicate);
}

#[tokio::test]
async fn a_missing_table_fails_at_connect() {
    let Some(pg) = database_url("a_missing_table_fails_at_connect") else {
        return;
    };
    let url = pg.url();
    let err = PgReplayStore::builder(&url)
        .table(table())
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.status(), 503);
    let err = PgReplayStore::builder(&url)
        .table("Robert'); DROP TABLE x;--")
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.status(), 500, "{err}");
}

#[tokio::test]
async fn purge_deletes_only_expired_records_in_batches() {
    let Some(pg) = database_url("purge_deletes_only_expired_records_in_batches") else {
        return;
    };
    let url = pg.url();
    let clock = ManualClock::at(at(START));
    let t = table();
    create_an_hour_ago(&url, &t, clock.now()).await;
    let store = PgReplayStore::builder(&url)
        .table(t)
        .create_table(true)
        .clock(clock.clone())
        .sweep_batch(7)
        .sweep_interval(Duration::ZERO)
        .connect()
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
    let left: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {}", store.table()))
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(left, 31, "the live records and the epoch marker");
}

#[tokio::test]
async fn a_new_or_emptied_table_fails_closed_for_deliveries_signed_before_its_epoch() {
    let Some(pg) = database_url("a_new_or_emptied_table_fails_closed") else {
        return;
    };
    let url = pg.url();
    let clock = ManualClock::at(at(START));
    let t = table();
    let store = PgReplayStore::builder(&url)
        .table(&t)
        .create_table(true)
        .clock(clock.clone())
        .clock_margin(Duration::ZERO)
        .connect()
        .await
        .unwrap();
    assert_eq!(store.loss_policy(), LossPolicy::FailClosed);
    assert_eq!(store.epochs_started(), 1);
    let v = verifier(Duration::from_secs(3600));
    let before = delivery(&v, START - 1, &unique_token(), at(START));
    let err = store.reserve(&claim(&before, 1)).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::SignedBeforeEpoch);
    assert_eq!(err.status(), 503);
    clock.set(at(START + 10));
    let after = delivery(&v, START + 10, &unique_token(), at(START + 10));
    let r = reserve(&store, &after)
        .await
        .into_reservation()
        .expect("fresh");
    store.commit(r).await.unwrap();
    assert_eq!(seen_with(&store, &after, 2).await, Seen::PayloadMismatch);

    // TRUNCATE (or a restore of an old backup): the loss is detected; the committed triple is
    // refused, with any body, instead of processed.
    sqlx::query(&format!("TRUNCATE {t}"))
        .execute(store.pool())
        .await
        .unwrap();
    clock.set(at(START + 20));
    for n in [1, 2] {
        let err = store.reserve(&claim(&after, n)).await.unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::SignedBeforeEpoch);
    }
    assert_eq!(store.epochs_started(), 2);
    assert_eq!(store.epoch().await.unwrap(), Some((START + 20) * 1000));
}
