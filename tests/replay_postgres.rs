//! The PostgreSQL replay store against a real server: the shared scenarios on a controlled
//! clock, two stores (as two instances) sharing a table, other tables isolated, the schema
//! from the shipped migration, and the sweep.
//!
//! `DATABASE_URL` points at the server (`.ci/postgres.sh` starts one). Without it the tests
//! print a notice and pass, except under `CI=true`, where they fail.
// Tests and benches fail by panicking: unwrap, expect and panic are how they report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg(feature = "postgres")]

mod replay_scenarios;

use std::time::{Duration, SystemTime};

use mailgun_webhooks::{PgReplayStore, ReplayStore};
use replay_scenarios::*;

const START: u64 = 1_770_920_772;
const PENDING: Duration = Duration::from_secs(2);

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The server's URL, or `None` (with a loud notice) when it is not configured outside CI.
fn database_url(test: &str) -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => Some(url),
        _ => {
            assert!(
                !in_ci(),
                "{test}: DATABASE_URL is not a postgres URL (CI=true): source .ci/postgres.sh"
            );
            eprintln!(
                "\n*** {test}: SKIPPED: DATABASE_URL is not set to a postgres URL \
                 (source .ci/postgres.sh to run it) ***\n"
            );
            None
        }
    }
}

/// A table unique to this run and call.
fn table() -> String {
    format!("mgw_test_{}", unique_token())
}

async fn store(url: &str, table: &str, clock: &ManualClock) -> PgReplayStore {
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
    let Some(url) = database_url("shared_scenarios_on_a_controlled_clock") else {
        return;
    };
    let clock = ManualClock::at(at(START));
    let store = store(&url, &table(), &clock).await;
    run_all(|| store.clone(), &clock, PENDING).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_share_a_table_and_exactly_one_reserves() {
    let Some(url) = database_url("two_instances_share_a_table_and_exactly_one_reserves") else {
        return;
    };
    let clock = ManualClock::at(at(START));
    let t = table();
    let a = store(&url, &t, &clock).await;
    let b = store(&url, &t, &clock).await; // its own pool, as another instance has
    let other = store(&url, &table(), &clock).await;
    let v = verifier(Duration::from_secs(3600));
    for _ in 0..20 {
        let d = delivery(&v, START, &unique_token(), at(START));
        let (ra, rb) = tokio::join!(a.reserve_verified(&d), b.reserve_verified(&d));
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
    let Some(url) = database_url("the_shipped_migration_creates_a_table_the_store_uses") else {
        return;
    };
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
        .connect()
        .await
        .expect("the migrated table is usable");
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
    let Some(url) = database_url("a_missing_table_fails_at_connect") else {
        return;
    };
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
    let Some(url) = database_url("purge_deletes_only_expired_records_in_batches") else {
        return;
    };
    let clock = ManualClock::at(at(START));
    let store = PgReplayStore::builder(&url)
        .table(table())
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
    assert_eq!(left, 30);
}
