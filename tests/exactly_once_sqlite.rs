//! Exactly-once handling in the application's SQLite transaction: a handler that writes a row
//! and then fails, panics, is dropped, or whose process is killed (SIGKILL) before the commit
//! leaves no row and no committed record, and the retry writes exactly one row; 64 concurrent
//! requests with one delivery run the handler once.
// Tests and benches fail by panicking: unwrap, expect and panic are how they report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg(feature = "sqlite")]

mod replay_scenarios;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use mailgun_webhooks::{
    ErrorKind, HandlerError, Outcome, SqlAdmission, SqliteReplayStore, Verified,
};
use replay_scenarios::*;

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

fn db_path(tag: &str) -> (PathBuf, Cleanup) {
    let p = std::env::temp_dir().join(format!("mgw-eo-{tag}-{}.sqlite3", unique_token()));
    (p.clone(), Cleanup(p))
}

/// The store and the application's table, in one file.
async fn setup(path: &PathBuf) -> SqliteReplayStore {
    // Created with its epoch an hour ago, so that deliveries signed now are provable.
    SqliteReplayStore::builder(path)
        .clock(ManualClock::at(
            SystemTime::now() - Duration::from_secs(3600),
        ))
        .open()
        .await
        .unwrap()
        .pool()
        .close()
        .await;
    let store = SqliteReplayStore::open(path).await.unwrap();
    sqlx::query("CREATE TABLE IF NOT EXISTS events (token TEXT NOT NULL, body TEXT NOT NULL)")
        .execute(store.pool())
        .await
        .unwrap();
    store
}

async fn rows(store: &SqliteReplayStore, token: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE token = ?1")
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
    store: &SqliteReplayStore,
    d: &Verified<()>,
    token: &str,
    then: Then,
) -> mailgun_webhooks::Result<Outcome<()>> {
    deliver_payload(store, d, 1, token, then).await
}

/// [`deliver`] with payload number `n`.
async fn deliver_payload(
    store: &SqliteReplayStore,
    d: &Verified<()>,
    n: u8,
    token: &str,
    then: Then,
) -> mailgun_webhooks::Result<Outcome<()>> {
    let token = token.to_owned();
    store
        .process(&claim(d, n), move |tx| {
            Box::pin(async move {
                sqlx::query("INSERT INTO events (token, body) VALUES (?1, 'a')")
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
async fn retry_writes_exactly_one_row(store: &SqliteReplayStore, d: &Verified<()>, token: &str) {
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
    let (path, _c) = db_path("err");
    let store = setup(&path).await;
    let (d, token) = fresh();
    let err = deliver(&store, &d, &token, Then::Fail).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Handler);
    retry_writes_exactly_one_row(&store, &d, &token).await;
}

#[tokio::test]
async fn handler_panic_rolls_back_and_the_retry_writes_one_row() {
    let (path, _c) = db_path("panic");
    let store = setup(&path).await;
    let (d, token) = fresh();
    let err = deliver(&store, &d, &token, Then::Panic).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Handler);
    retry_writes_exactly_one_row(&store, &d, &token).await;
}

#[tokio::test]
async fn dropped_future_rolls_back_and_the_retry_writes_one_row() {
    let (path, _c) = db_path("drop");
    let store = setup(&path).await;
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
    let (path, _c) = db_path("dropd");
    let store = setup(&path).await;
    let (d, token) = fresh();
    let SqlAdmission::Fresh(mut delivery) = store.begin(&claim(&d, 1)).await.unwrap() else {
        panic!("fresh");
    };
    sqlx::query("INSERT INTO events (token, body) VALUES (?1, 'a')")
        .bind(&token)
        .execute(&mut **delivery.transaction())
        .await
        .unwrap();
    drop(delivery);
    retry_writes_exactly_one_row(&store, &d, &token).await;
}

#[tokio::test]
async fn rejection_commits_the_handlers_writes() {
    let (path, _c) = db_path("reject");
    let store = setup(&path).await;
    let (d, token) = fresh();
    let t = token.clone();
    let err = store
        .process(&claim(&d, 1), move |tx| {
            Box::pin(async move {
                sqlx::query("INSERT INTO events (token, body) VALUES (?1, 'rejected')")
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
    let (path, _c) = db_path("conc");
    let store = setup(&path).await;
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
                        sqlx::query("INSERT INTO events (token, body) VALUES (?1, 'a')")
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
    let (Ok(path), Ok(ts), Ok(token)) = (
        std::env::var("MGW_EO_DB"),
        std::env::var("MGW_EO_TS"),
        std::env::var("MGW_EO_TOKEN"),
    ) else {
        return; // only meaningful as the child process
    };
    let store = setup(&PathBuf::from(path)).await;
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
    sqlx::query("INSERT INTO events (token, body) VALUES (?1, 'a')")
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
    let (path, _c) = db_path("kill");
    let store = setup(&path).await;
    let (d, token) = fresh();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_writes_and_waits_to_be_killed",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("MGW_EO_DB", &path)
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
