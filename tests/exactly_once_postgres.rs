//! Exactly-once handling in the application's PostgreSQL transaction: a handler that writes a row
//! and then fails, panics, is dropped, or whose process is killed (SIGKILL) before the commit
//! leaves no row and no committed record, and the retry writes exactly one row; 64 concurrent
//! requests with one delivery run the handler once.
//!
//! `DATABASE_URL` points at the server (`.ci/postgres.sh` starts one). Without it the tests
//! print a loud notice and pass, except under `CI=true`, where they fail.
// Tests and benches fail by panicking: unwrap, expect and panic are how they report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg(feature = "postgres")]

#[path = "replay_scenarios/pg_server.rs"]
mod pg_server;
mod replay_scenarios;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use mailgun_webhooks::{ErrorKind, HandlerError, Outcome, PgReplayStore, SqlAdmission, Verified};
use pg_server::{OwnServer, database_url, in_ci};
use replay_scenarios::*;

/// The store (on a table of this run) and the application's table.
async fn setup(url: &str, table: &str) -> PgReplayStore {
    // Created with its epoch an hour ago, so that deliveries signed now are provable.
    PgReplayStore::builder(url)
        .table(table)
        .create_table(true)
        .clock(ManualClock::at(
            SystemTime::now() - Duration::from_secs(3600),
        ))
        .connect()
        .await
        .unwrap()
        .pool()
        .close()
        .await;
    let store = PgReplayStore::builder(url)
        .table(table)
        .create_table(true)
        .command_timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap();
    // Tests create it concurrently: IF NOT EXISTS can still race in the catalog; once more.
    let create = "CREATE TABLE IF NOT EXISTS events (token TEXT NOT NULL, body TEXT NOT NULL)";
    if sqlx::query(create).execute(store.pool()).await.is_err() {
        sqlx::query(create).execute(store.pool()).await.unwrap();
    }
    store
}

fn table() -> String {
    format!("mgw_eo_{}", unique_token())
}

async fn rows(store: &PgReplayStore, token: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE token = $1")
        .bind(token)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

fn fresh() -> (Verified<()>, String) {
    let now = SystemTime::now();
    let token = unique_token();
    (
        delivery(&verifier(Duration::from_secs(3600)), secs(now), &token, now),
        token,
    )
}

/// The handler every test uses: inserts one row for the delivery, then does `then`.
#[derive(Clone, Copy)]
enum Then {
    Succeed,
    Fail,
    Panic,
    Hang,
}

async fn deliver(
    store: &PgReplayStore,
    d: &Verified<()>,
    token: &str,
    then: Then,
) -> mailgun_webhooks::Result<Outcome<()>> {
    deliver_payload(store, d, 1, token, then).await
}

/// [`deliver`] with payload number `n`.
async fn deliver_payload(
    store: &PgReplayStore,
    d: &Verified<()>,
    n: u8,
    token: &str,
    then: Then,
) -> mailgun_webhooks::Result<Outcome<()>> {
    let token = token.to_owned();
    store
        .process(&claim(d, n), move |tx| {
            Box::pin(async move {
                sqlx::query("INSERT INTO events (token, body) VALUES ($1, 'a')")
                    .bind(&token)
                    .execute(&mut **tx)
                    .await?;
                match then {
                    Then::Succeed => Ok(()),
                    Then::Fail => Err(HandlerError::retry("the handler failed")),
                    Then::Panic => panic!("the handler panicked"),
                    Then::Hang => {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        Ok(())
                    }
                }
            })
        })
        .await
}

/// After the failed attempt: no row, the record not committed, the retry writes one row and
/// the next is a duplicate.
async fn retry_writes_exactly_one_row(store: &PgReplayStore, d: &Verified<()>, token: &str) {
    assert_eq!(rows(store, token).await, 0, "the failed attempt left a row");
    // The triple stays bound to the failed attempt's payload: another body is a forgery.
    let forged = deliver_payload(store, d, 2, token, Then::Succeed)
        .await
        .unwrap_err();
    assert_eq!(forged.kind(), &ErrorKind::PayloadMismatch);
    assert_eq!(forged.status(), 401);
    assert_eq!(rows(store, token).await, 0, "the forgery ran the handler");
    let first = deliver(store, d, token, Then::Succeed).await.unwrap();
    assert_eq!(first, Outcome::Processed(()));
    assert_eq!(rows(store, token).await, 1);
    let again = deliver(store, d, token, Then::Succeed).await.unwrap();
    assert_eq!(again, Outcome::Duplicate);
    let forged = deliver_payload(store, d, 3, token, Then::Succeed)
        .await
        .unwrap_err();
    assert_eq!(forged.kind(), &ErrorKind::PayloadMismatch);
    assert_eq!(rows(store, token).await, 1);
}

#[tokio::test]
async fn handler_error_rolls_back_and_the_retry_writes_one_row() {
    let Some(pg) = database_url("handler_error") else {
        return;
    };
    let url = pg.url();
    let store = setup(&url, &table()).await;
    let (d, token) = fresh();
    let err = deliver(&store, &d, &token, Then::Fail).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Handler);
    retry_writes_exactly_one_row(&store, &d, &token).await;
}

#[tokio::test]
async fn handler_panic_rolls_back_and_the_retry_writes_one_row() {
    let Some(pg) = database_url("handler_panic") else {
        return;
    };
    let url = pg.url();
    let store = setup(&url, &table()).await;
    let (d, token) = fresh();
    let err = deliver(&store, &d, &token, Then::Panic).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Handler);
    retry_writes_exactly_one_row(&store, &d, &token).await;
}

#[tokio::test]
async fn dropped_future_rolls_back_and_the_retry_writes_one_row() {
    let Some(pg) = database_url("dropped_future") else {
        return;
    };
    let url = pg.url();
    let store = setup(&url, &table()).await;
    let (d, token) = fresh();
    // The request is cancelled while the handler waits, after its insert.
    let cancelled = tokio::time::timeout(
        Duration::from_millis(200),
        deliver(&store, &d, &token, Then::Hang),
    )
    .await;
    assert!(cancelled.is_err(), "the handler should still be waiting");
    retry_writes_exactly_one_row(&store, &d, &token).await;
}

#[tokio::test]
async fn dropped_delivery_rolls_back() {
    let Some(pg) = database_url("dropped_delivery") else {
        return;
    };
    let url = pg.url();
    let store = setup(&url, &table()).await;
    let (d, token) = fresh();
    let SqlAdmission::Fresh(mut delivery) = store.begin(&claim(&d, 1)).await.unwrap() else {
        panic!("fresh");
    };
    sqlx::query("INSERT INTO events (token, body) VALUES ($1, 'a')")
        .bind(&token)
        .execute(&mut **delivery.transaction())
        .await
        .unwrap();
    drop(delivery);
    retry_writes_exactly_one_row(&store, &d, &token).await;
}

#[tokio::test]
async fn rejection_commits_the_handlers_writes() {
    let Some(pg) = database_url("rejection") else {
        return;
    };
    let url = pg.url();
    let store = setup(&url, &table()).await;
    let (d, token) = fresh();
    let t = token.clone();
    let err = store
        .process(&claim(&d, 1), move |tx| {
            Box::pin(async move {
                sqlx::query("INSERT INTO events (token, body) VALUES ($1, 'rejected')")
                    .bind(&t)
                    .execute(&mut **tx)
                    .await?;
                Err::<(), _>(HandlerError::reject("never acceptable"))
            })
        })
        .await
        .unwrap_err();
    assert_eq!(err.status(), 406);
    assert_eq!(rows(&store, &token).await, 1);
    let again = deliver(&store, &d, &token, Then::Succeed).await.unwrap();
    assert_eq!(again, Outcome::Duplicate);
    assert_eq!(rows(&store, &token).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_with_one_delivery_run_the_handler_once() {
    let Some(pg) = database_url("concurrent") else {
        return;
    };
    let url = pg.url();
    let store = setup(&url, &table()).await;
    let (d, token) = fresh();
    let (d, ran) = (Arc::new(d), Arc::new(AtomicUsize::new(0)));
    let barrier = Arc::new(tokio::sync::Barrier::new(64));
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (store, d, token, ran, barrier) = (
            store.clone(),
            d.clone(),
            token.clone(),
            ran.clone(),
            barrier.clone(),
        );
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store
                .process(&claim(&d, 1), move |tx| {
                    Box::pin(async move {
                        ran.fetch_add(1, Ordering::SeqCst);
                        sqlx::query("INSERT INTO events (token, body) VALUES ($1, 'a')")
                            .bind(&token)
                            .execute(&mut **tx)
                            .await?;
                        // Hold the transaction a little, so the others really wait.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok::<_, HandlerError>(())
                    })
                })
                .await
        }));
    }
    let mut processed = 0;
    let mut duplicate = 0;
    for t in tasks {
        match t.await.unwrap().expect("every request is answered 200") {
            Outcome::Processed(()) => processed += 1,
            Outcome::Duplicate => duplicate += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((processed, duplicate), (1, 63));
    assert_eq!(ran.load(Ordering::SeqCst), 1, "the handler ran once");
    assert_eq!(rows(&store, &token).await, 1);
}

/// The child half of `killed_between_write_and_commit`: writes the row in the delivery's
/// transaction, says so, and waits to be killed.
#[tokio::test]
async fn child_writes_and_waits_to_be_killed() {
    let (Ok(url), Ok(t), Ok(ts), Ok(token)) = (
        std::env::var("DATABASE_URL"),
        std::env::var("MGW_EO_TABLE"),
        std::env::var("MGW_EO_TS"),
        std::env::var("MGW_EO_TOKEN"),
    ) else {
        return; // only meaningful as the child process
    };
    let store = setup(&url, &t).await;
    let now = SystemTime::now();
    let d = delivery(
        &verifier(Duration::from_secs(3600)),
        ts.parse().unwrap(),
        &token,
        now,
    );
    let SqlAdmission::Fresh(mut delivery) = store.begin(&claim(&d, 1)).await.unwrap() else {
        panic!("fresh");
    };
    sqlx::query("INSERT INTO events (token, body) VALUES ($1, 'a')")
        .bind(&token)
        .execute(&mut **delivery.transaction())
        .await
        .unwrap();
    println!("WRITTEN");
    tokio::time::sleep(Duration::from_secs(60)).await;
    delivery.commit().await.unwrap();
}

#[tokio::test]
async fn killed_between_write_and_commit_then_the_retry_writes_one_row() {
    let Some(pg) = database_url("killed_between_write_and_commit") else {
        return;
    };
    let url = pg.url();
    let t = table();
    let store = setup(&url, &t).await;
    let (d, token) = fresh();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_writes_and_waits_to_be_killed",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("DATABASE_URL", &url)
        .env("MGW_EO_TABLE", &t)
        .env("MGW_EO_TS", d.signature().timestamp())
        .env("MGW_EO_TOKEN", &token)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let written = lines.any(|l| l.is_ok_and(|l| l.contains("WRITTEN")));
    assert!(written, "the child did not reach its write");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // The "restarted" server (this process, on the same file) processes the retry once.
    retry_writes_exactly_one_row(&store, &d, &token).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_killed_mid_load_no_double_rows_no_lost_deliveries() {
    // Needs the server binaries, not DATABASE_URL: the test kills its own server.
    let Some(server) = OwnServer::bin_dir().and_then(|_| OwnServer::start_new()) else {
        assert!(
            !in_ci(),
            "no PostgreSQL binaries (CI=true): source .ci/postgres.sh"
        );
        eprintln!("\n*** postgres_killed_mid_load: SKIPPED: no PostgreSQL binaries found ***\n");
        return;
    };
    PgReplayStore::builder(server.url())
        .create_table(true)
        .clock(ManualClock::at(
            SystemTime::now() - Duration::from_secs(3600),
        ))
        .connect()
        .await
        .unwrap()
        .pool()
        .close()
        .await;
    let store = PgReplayStore::builder(server.url())
        .command_timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap();
    sqlx::query("CREATE TABLE events (token TEXT NOT NULL, body TEXT NOT NULL)")
        .execute(store.pool())
        .await
        .unwrap();

    const DELIVERIES: usize = 400;
    let deliveries: Vec<_> = (0..DELIVERIES).map(|_| fresh()).collect();
    let answered_ok = Arc::new(AtomicUsize::new(0));
    let unavailable = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for chunk in deliveries.chunks(DELIVERIES / 16) {
        let (store, chunk) = (store.clone(), chunk.to_vec());
        let (answered_ok, unavailable) = (answered_ok.clone(), unavailable.clone());
        // Each task is a sender that retries a delivery until it gets 200, like Mailgun.
        tasks.push(tokio::spawn(async move {
            for (d, token) in chunk {
                let deadline = std::time::Instant::now() + Duration::from_secs(60);
                loop {
                    match deliver(&store, &d, &token, Then::Succeed).await {
                        Ok(_) => break,
                        Err(e) => {
                            assert!(e.is_retryable() || e.status() == 503, "{e}");
                            if e.status() == 503 {
                                unavailable.fetch_add(1, Ordering::SeqCst);
                            }
                            assert!(std::time::Instant::now() < deadline, "never answered 200");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
                answered_ok.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    // Kill the server once a quarter of the deliveries are answered; restart it a second later.
    while answered_ok.load(Ordering::SeqCst) < DELIVERIES / 4 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let killer = tokio::task::spawn_blocking({
        let (bin, dir, port) = (server.bin.clone(), server.dir.clone(), server.port);
        move || {
            let s = OwnServer { bin, dir, port };
            s.kill();
            std::thread::sleep(Duration::from_secs(1));
            s.start();
            std::mem::forget(s); // the outer handle owns the clean-up
        }
    });
    killer.await.unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(answered_ok.load(Ordering::SeqCst), DELIVERIES);
    assert!(
        unavailable.load(Ordering::SeqCst) > 0,
        "the outage was answered 503"
    );
    // Exactly one row per delivery: none lost, none doubled.
    let counts: Vec<(String, i64)> =
        sqlx::query_as("SELECT token, count(*) FROM events GROUP BY token")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(counts.len(), DELIVERIES, "every delivery has its row");
    assert!(
        counts.iter().all(|(_, n)| *n == 1),
        "a delivery was applied twice"
    );
    eprintln!(
        "postgres killed mid-load: {DELIVERIES} deliveries, {} answered 503 during the outage, \
         each applied once",
        unavailable.load(Ordering::SeqCst)
    );
}
