//! Shared by the example servers (`#[path = "support/mod.rs"] mod support;`): configuration
//! from the environment and the choice of replay store.

#![allow(dead_code)]

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

#[allow(unused_imports)] // unused when every build of the examples has the `sqlite` feature
use mailgun_webhooks::MemoryReplayStore;
use mailgun_webhooks::{DynReplayStore, Receiver, SigningKey, Verifier};

/// The replay store, chosen at run time: Redis or memory.
pub type Store = Arc<dyn DynReplayStore>;

/// The port and the receiver, from the environment:
///
/// - `MAILGUN_WEBHOOK_SIGNING_KEY` (required): the HTTP webhook signing key;
/// - `PORT` (default 3000);
/// - `MAILGUN_WEBHOOK_MAX_AGE` (seconds, default 30600);
/// - `MAILGUN_WEBHOOK_MAX_SKEW` (seconds, default 300), `MAILGUN_WEBHOOK_MAX_BODY` (bytes);
/// - `DATABASE_URL`: record deliveries in PostgreSQL (`postgres://`, feature `postgres`) or a
///   SQLite file (`sqlite:PATH`, feature `sqlite`); without it:
/// - `REDIS_URL`: record deliveries in Redis (feature `redis`), else in a SQLite file in the
///   working directory (feature `sqlite`), else in memory; the Redis
///   store's health warnings are printed at startup;
/// - for the load harness (`examples/loadgen.rs`): `REPLAY_PREFIX`, `REPLAY_PENDING_TTL_MS`,
///   `REPLAY_CLOCK_MARGIN_MS`, `REPLAY_COMMAND_TIMEOUT_MS` (Redis), and `MAILGUN_WEBHOOK_LEDGER` (see [`ledger`]).
///
/// The error is a message for the operator, which never contains the key.
pub async fn config(name: &str) -> Result<(u16, Receiver<Store>), String> {
    let key = std::env::var("MAILGUN_WEBHOOK_SIGNING_KEY")
        .ok()
        .filter(|k| !k.trim().is_empty())
        .ok_or_else(|| {
            "MAILGUN_WEBHOOK_SIGNING_KEY is not set: export the HTTP webhook signing key \
             (Mailgun dashboard: Sending > Webhooks), not the API key"
                .to_owned()
        })?;
    let port = match std::env::var("PORT") {
        Ok(port) => port
            .parse()
            .map_err(|_| format!("PORT is not a port number: {port:?}"))?,
        Err(_) => 3000,
    };
    let mut verifier = Verifier::builder(SigningKey::new(key));
    if let Ok(secs) = std::env::var("MAILGUN_WEBHOOK_MAX_AGE") {
        let secs = secs
            .parse()
            .map_err(|_| format!("MAILGUN_WEBHOOK_MAX_AGE is not a number of seconds: {secs:?}"))?;
        verifier = verifier.max_age(Duration::from_secs(secs));
    }
    if let Some(secs) = env_u64("MAILGUN_WEBHOOK_MAX_SKEW")? {
        verifier = verifier.max_skew(Duration::from_secs(secs));
    }
    if let Some(bytes) = env_u64("MAILGUN_WEBHOOK_MAX_BODY")? {
        verifier = verifier.limits(mailgun_webhooks::Limits::default().body(bytes));
    }
    Ok((port, Receiver::new(verifier.build(), store(name).await?)))
}

/// `MAILGUN_WEBHOOK_STORE=memory` forces the in-memory store; otherwise `DATABASE_URL` (postgres
/// or sqlite), else Redis when `REDIS_URL` is set, else a SQLite file in the working directory
/// (feature `sqlite`), else the in-memory store.
async fn store(name: &str) -> Result<Store, String> {
    // `MAILGUN_WEBHOOK_STORE=memory` forces the in-memory store (tests that start the examples).
    if std::env::var("MAILGUN_WEBHOOK_STORE").is_ok_and(|v| v == "memory") {
        println!("{name}: replay store: memory (this process only)");
        return Ok(Arc::new(MemoryReplayStore::new()));
    }
    if let Ok(url) = std::env::var("DATABASE_URL") {
        return sql_store(name, &url).await;
    }
    match std::env::var("REDIS_URL") {
        #[cfg(feature = "redis")]
        Ok(url) => {
            let mut builder = mailgun_webhooks::RedisReplayStore::builder(url);
            if let Ok(prefix) = std::env::var("REPLAY_PREFIX") {
                builder = builder.prefix(prefix);
            }
            if let Some(ms) = env_u64("REPLAY_PENDING_TTL_MS")? {
                builder = builder.pending_ttl(Duration::from_millis(ms));
            }
            if let Some(ms) = env_u64("REPLAY_COMMAND_TIMEOUT_MS")? {
                builder = builder.command_timeout(Duration::from_millis(ms));
            }
            if let Some(ms) = env_u64("REPLAY_CLOCK_MARGIN_MS")? {
                builder = builder.clock_margin(Duration::from_millis(ms));
            }
            let store = builder
                .connect()
                .await
                .map_err(|e| format!("REDIS_URL: {e}"))?;
            println!("{name}: replay store: redis");
            // What makes this Redis unsafe as a replay store, once at startup.
            match store.health().await {
                Ok(health) if health.is_healthy() => {
                    println!("{name}: redis {}: healthy", health.version());
                }
                Ok(health) => {
                    for warning in health.warnings() {
                        eprintln!("{name}: warning: replay store: {warning}");
                    }
                }
                Err(e) => eprintln!("{name}: warning: redis health check failed: {e}"),
            }
            Ok(Arc::new(store))
        }
        #[cfg(not(feature = "redis"))]
        Ok(_) => {
            eprintln!(
                "{name}: warning: REDIS_URL is set but this example was built without the \
                 `redis` feature; using the in-memory store, which protects this process only"
            );
            Ok(Arc::new(MemoryReplayStore::new()))
        }
        #[cfg(feature = "sqlite")]
        Err(_) => sql_store(name, "sqlite:mailgun-webhooks-replay.sqlite3").await,
        #[cfg(not(feature = "sqlite"))]
        Err(_) => {
            println!("{name}: replay store: memory (this process only)");
            Ok(Arc::new(MemoryReplayStore::new()))
        }
    }
}

/// A SQL store from a `postgres://` or `sqlite:` URL (features `postgres`, `sqlite`), with the
/// same `REPLAY_*` settings as Redis.
async fn sql_store(name: &str, url: &str) -> Result<Store, String> {
    let pending = env_u64("REPLAY_PENDING_TTL_MS")?.map(Duration::from_millis);
    let timeout = env_u64("REPLAY_COMMAND_TIMEOUT_MS")?.map(Duration::from_millis);
    let margin = env_u64("REPLAY_CLOCK_MARGIN_MS")?.map(Duration::from_millis);
    #[cfg(feature = "postgres")]
    if url.starts_with("postgres") {
        let mut b = mailgun_webhooks::PgReplayStore::builder(url).create_table(true);
        if let Some(d) = pending {
            b = b.pending_ttl(d);
        }
        if let Some(d) = timeout {
            b = b.command_timeout(d);
        }
        if let Some(d) = margin {
            b = b.clock_margin(d);
        }
        let store = b
            .connect()
            .await
            .map_err(|e| format!("DATABASE_URL: {e}"))?;
        println!("{name}: replay store: postgres (table {})", store.table());
        return Ok(Arc::new(store));
    }
    #[cfg(feature = "sqlite")]
    if let Some(path) = url.strip_prefix("sqlite:") {
        let path = path.trim_start_matches("//");
        let mut b = mailgun_webhooks::SqliteReplayStore::builder(path);
        if let Some(d) = pending {
            b = b.pending_ttl(d);
        }
        if let Some(d) = timeout {
            b = b.command_timeout(d);
        }
        if let Some(d) = margin {
            b = b.clock_margin(d);
        }
        let store = b.open().await.map_err(|e| format!("sqlite {path}: {e}"))?;
        println!("{name}: replay store: sqlite ({path})");
        return Ok(Arc::new(store));
    }
    let _ = (url, pending, timeout, margin);
    Err(format!(
        "{name}: DATABASE_URL is not a postgres:// or sqlite: URL this build supports \
         (features `postgres`, `sqlite`)"
    ))
}

fn env_u64(name: &str) -> Result<Option<u64>, String> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .map(Some)
            .map_err(|_| format!("{name} is not a whole number: {v:?}")),
        Err(_) => Ok(None),
    }
}

/// The handler's record of what ran, for the load harness: when `MAILGUN_WEBHOOK_LEDGER` names
/// a file, each processed tracking event appends one line `token recipient` to it (one
/// `write` per line on a file opened for appending, so lines of several servers never mix and
/// a killed server loses no completed line). A recipient starting with `hang` first sleeps
/// 300 ms, so that the harness can hang up while the handler awaits. Without the variable it
/// does nothing.
pub async fn ledger(token: &str, recipient: Option<&str>) {
    static FILE: OnceLock<Option<Mutex<std::fs::File>>> = OnceLock::new();
    let file = FILE.get_or_init(|| {
        let path = std::env::var_os("MAILGUN_WEBHOOK_LEDGER")?;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()
            .map(Mutex::new)
    });
    let Some(file) = file else { return };
    let recipient = recipient.unwrap_or("-");
    if recipient.starts_with("hang") {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let line = format!("{token} {recipient}\n");
    if let Ok(mut f) = file.lock() {
        let _ = f.write_all(line.as_bytes());
    }
}
