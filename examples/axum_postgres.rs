//! Exactly-once Mailgun webhooks on axum and PostgreSQL: each delivered or failed event is
//! stored in a table **in the same transaction as its replay record**, so an event is applied
//! once even if the process dies between the two, and a retry after a failure applies it once.
//!
//! ```text
//! DATABASE_URL=postgres://user@127.0.0.1/app MAILGUN_WEBHOOK_SIGNING_KEY=... \
//!     cargo run --example axum_postgres --features postgres
//! ```
//!
//! - `POST /webhooks/mailgun`: tracking events; delivered and failed ones are stored in
//!   `mailgun_events`, others acknowledged (and recorded, so their replays are duplicates).
//! - `PORT` (default 3000): listens on `127.0.0.1:$PORT`.
//! - `MAILGUN_WEBHOOK_MAX_AGE` (seconds, default 30600): how old a signature may be.
//!
//! What each answer means: 200 stored (or a duplicate of a stored delivery: nothing written
//! again); 409 the same delivery is being stored right now; 500 the insert failed and was rolled
//! back (Mailgun retries, and the retry is stored once); 503 the database is unreachable, or the
//! delivery was signed before the replay table existed (Mailgun retries); 401 a bad signature,
//! or a seen signature with another body (a forgery); 400/413/415 the request was not a valid
//! delivery, and nothing touched the database.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use mailgun_webhooks::{
    Event, HandlerError, Payload, PgReplayStore, Receiver, SigningKey, Verifier,
};

/// The receiver verifies and makes the claims; its store runs the transactions.
type App = Arc<Receiver<PgReplayStore>>;

/// The application's table. The replay records live in `mailgun_webhooks_replay`.
const EVENTS: &str = "CREATE TABLE IF NOT EXISTS mailgun_events (
    token       TEXT        NOT NULL,
    event       TEXT        NOT NULL,
    recipient   TEXT,
    message_id  TEXT,
    reason      TEXT,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now()
)";

async fn tracking(State(app): State<App>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // Parse and verify first (and digest the payload): nothing touches the database before
    // the signature is valid.
    let (verified, digest) = match app.verify_request(content_type, &body) {
        Ok(v) => v,
        Err(e) => {
            println!("refused: {} ({})", e.status(), e.kind().name());
            return e.status();
        }
    };
    // What to store, taken out of the payload before the transaction.
    let row = match verified.payload() {
        Payload::Event(event @ (Event::Delivered(_) | Event::Failed(_))) => Some((
            event.kind().as_str().to_owned(),
            event.recipient().map(str::to_owned),
            event.id().map(str::to_owned),
            match event {
                Event::Failed(data) => data.reason.clone(),
                _ => None,
            },
        )),
        _ => None,
    };
    let token = verified.token().to_owned();
    // The record's key (the signed triple in this account's namespace) bound to this payload.
    let claim = app.claim(&verified, digest);
    let outcome = app
        .store()
        .process(&claim, move |tx| {
            Box::pin(async move {
                if let Some((event, recipient, message_id, reason)) = row {
                    sqlx::query(
                        "INSERT INTO mailgun_events (token, event, recipient, message_id, reason) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(&token)
                    .bind(event)
                    .bind(recipient)
                    .bind(message_id)
                    .bind(reason)
                    .execute(&mut **tx)
                    .await?;
                }
                // Returning Err(..) rolls back the insert and the record: Mailgun retries.
                Ok::<_, HandlerError>(())
            })
        })
        .await;
    match outcome {
        Ok(o) if o.is_duplicate() => {
            println!("duplicate: already stored");
            StatusCode::OK
        }
        Ok(_) => {
            println!("stored");
            StatusCode::OK
        }
        Err(e) => {
            println!("not stored: {} ({})", e.status(), e.kind().name());
            e.status()
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("axum_postgres: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let url = std::env::var("DATABASE_URL")
        .map_err(|_| "DATABASE_URL is not set: a postgres:// URL".to_owned())?;
    let key = std::env::var("MAILGUN_WEBHOOK_SIGNING_KEY")
        .ok()
        .filter(|k| !k.trim().is_empty())
        .ok_or("MAILGUN_WEBHOOK_SIGNING_KEY is not set: the HTTP webhook signing key")?;
    let port: u16 = std::env::var("PORT")
        .ok()
        .map(|p| p.parse().map_err(|_| format!("PORT is not a port: {p:?}")))
        .transpose()?
        .unwrap_or(3000);
    let mut verifier = Verifier::builder(SigningKey::new(key));
    if let Ok(secs) = std::env::var("MAILGUN_WEBHOOK_MAX_AGE") {
        let secs = secs
            .parse()
            .map_err(|_| format!("MAILGUN_WEBHOOK_MAX_AGE is not seconds: {secs:?}"))?;
        verifier = verifier.max_age(Duration::from_secs(secs));
    }
    // The replay table: created here for the example; in production, apply the shipped
    // migration (migrations/0001_mailgun_webhooks_replay.sql) with your others.
    let store = PgReplayStore::builder(url)
        .create_table(true)
        .connect()
        .await
        .map_err(|e| format!("DATABASE_URL: {e}"))?;
    sqlx::query(EVENTS)
        .execute(store.pool())
        .await
        .map_err(|e| format!("creating mailgun_events: {e}"))?;
    println!(
        "axum_postgres: replay store: postgres (table {})",
        store.table()
    );

    let app = Router::new()
        .route("/webhooks/mailgun", post(tracking))
        .layer(DefaultBodyLimit::max(1 << 20))
        .with_state(Arc::new(Receiver::new(verifier.build(), store)));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("binding 127.0.0.1:{port}: {e}"))?;
    println!("axum_postgres: listening on http://127.0.0.1:{port}/webhooks/mailgun");
    axum::serve(listener, app)
        .await
        .map_err(|e| format!("server: {e}"))
}
