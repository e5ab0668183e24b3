//! Shared by the example servers (`#[path = "support/mod.rs"] mod support;`): configuration
//! from the environment and the choice of replay store.

use std::sync::Arc;
use std::time::Duration;

use mailgun_webhooks::{DynReplayStore, MemoryReplayStore, Receiver, SigningKey, Verifier};

/// The replay store, chosen at run time: Redis or memory.
pub type Store = Arc<dyn DynReplayStore>;

/// The port and the receiver, from the environment:
///
/// - `MAILGUN_WEBHOOK_SIGNING_KEY` (required): the HTTP webhook signing key;
/// - `PORT` (default 3000);
/// - `MAILGUN_WEBHOOK_MAX_AGE` (seconds, default 30600);
/// - `REDIS_URL`: record deliveries in Redis (feature `redis`), else in memory.
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
    Ok((port, Receiver::new(verifier.build(), store(name).await?)))
}

/// Redis when `REDIS_URL` is set (and the `redis` feature is on), else the in-memory store.
async fn store(name: &str) -> Result<Store, String> {
    match std::env::var("REDIS_URL") {
        #[cfg(feature = "redis")]
        Ok(url) => {
            let store = mailgun_webhooks::RedisReplayStore::connect(&url)
                .await
                .map_err(|e| format!("REDIS_URL: {e}"))?;
            println!("{name}: replay store: redis");
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
        Err(_) => {
            println!("{name}: replay store: memory (this process only)");
            Ok(Arc::new(MemoryReplayStore::new()))
        }
    }
}
