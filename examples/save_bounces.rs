//! Saves what bounced, and what arrived, to a directory: the use case of Mailgun's guide to
//! webhooks, on axum.
//!
//! ```text
//! MAILGUN_WEBHOOK_SIGNING_KEY=... SAVE_DIR=./saved cargo run --example save_bounces --features axum
//! ```
//!
//! - `POST /webhooks/mailgun`: tracking events. A failed delivery that carries the bounced
//!   message (a legacy `bounced`/`dropped` post with `message.mime`) has it saved as is.
//! - `POST /webhooks/mailgun/inbound`: inbound routes (parsed or raw MIME). Each attachment is
//!   saved, decoded.
//!
//! Each verified delivery gets its own directory under `SAVE_DIR` (default `./saved`), named
//! from its replay key, and each file is saved under its [`Attachment::safe_filename`], with
//! `-2`, `-3`, ... before the extension when a name is taken: a sender's file name can never
//! leave the directory, overwrite a file, or collide with another attachment.
//!
//! It logs the recipient and the failure reason of each delivery, and nothing else about the
//! message (no subject, sender or content): those are personal data.
//!
//! Environment: as `axum_server` (`MAILGUN_WEBHOOK_SIGNING_KEY`, `PORT`, `REDIS_URL`,
//! `MAILGUN_WEBHOOK_MAX_AGE`), plus `SAVE_DIR`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
#[path = "support/mod.rs"]
mod support;

use mailgun_webhooks::axum::{Webhook, WebhookRejection};
use mailgun_webhooks::{
    Attachment, Event, HandlerError, InboundMessage, Receiver, ReplayStore, Verified,
};

#[derive(Clone)]
struct App<S: ReplayStore + Clone> {
    receiver: Receiver<S>,
    dir: Arc<PathBuf>,
}

impl<S: ReplayStore + Clone> FromRef<App<S>> for Receiver<S> {
    fn from_ref(app: &App<S>) -> Self {
        app.receiver.clone()
    }
}

async fn tracking<S: ReplayStore + Clone + 'static>(
    axum::extract::State(app): axum::extract::State<App<S>>,
    webhook: Result<Webhook<Event, S>, WebhookRejection>,
) -> Response {
    let webhook = match webhook {
        Ok(webhook) => webhook,
        Err(rejection) => return rejection.into_response(),
    };
    webhook
        .process(|verified: Verified<Event>| async move {
            let event = verified.payload();
            println!(
                "event {} recipient={} reason={}",
                event.kind(),
                event.recipient().unwrap_or("-"),
                event.reason().unwrap_or("-"),
            );
            let Some(bounced) = event.bounced_message() else {
                return Ok(());
            };
            let Some(raw) = bounced.raw_mime() else {
                return Ok(());
            };
            let file = Attachment::new("message.mime", Some("message.mime".into()), None, raw);
            save(&app.dir, &verified, vec![file]).await
        })
        .await
        .into_response()
}

async fn inbound<S: ReplayStore + Clone + 'static>(
    axum::extract::State(app): axum::extract::State<App<S>>,
    webhook: Result<Webhook<InboundMessage, S>, WebhookRejection>,
) -> Response {
    let webhook = match webhook {
        Ok(webhook) => webhook,
        Err(rejection) => return rejection.into_response(),
    };
    webhook
        .process(|verified: Verified<InboundMessage>| async move {
            let message = verified.payload();
            // A raw-MIME route's attachments are inside the message; if it is over a limit,
            // answer 500 so that the delivery is kept for a fixed build (Mailgun retries).
            let files = match message.message() {
                Ok(view) => view.attachments().to_vec(),
                Err(e) => return Err(HandlerError::retry(e)),
            };
            println!(
                "inbound recipient={} files={}",
                message.recipient.as_deref().unwrap_or("-"),
                files.len()
            );
            save(&app.dir, &verified, files).await
        })
        .await
        .into_response()
}

/// Saves `files` into the delivery's own directory, on a blocking thread.
///
/// If the client hangs up while this runs, the handler still runs to completion on its own task
/// (`Webhook::process` spawns it) and the delivery is committed, so Mailgun's retry is answered
/// `duplicate`. If saving fails, the reservation is released (still bound to this payload) and the
/// retry writes into the same directory, next to the first copy (a file is never overwritten).
async fn save<T>(dir: &Path, verified: &Verified<T>, files: Vec<Attachment>) -> HandlerResult {
    if files.is_empty() {
        return Ok(());
    }
    let key: String = verified.replay_key().as_bytes()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let dir = dir.join(format!("{}-{key}", verified.timestamp()));
    tokio::task::spawn_blocking(move || write_all(&dir, &files))
        .await
        .map_err(HandlerError::retry)?
        .map_err(HandlerError::retry)
}

type HandlerResult = Result<(), HandlerError>;

fn write_all(dir: &Path, files: &[Attachment]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for file in files {
        let name = file.safe_filename();
        let (stem, ext) = match name.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() => (stem, format!(".{ext}")),
            _ => (name.as_str(), String::new()),
        };
        let mut written = false;
        for n in 1..=1000u32 {
            let candidate = if n == 1 {
                name.clone()
            } else {
                format!("{stem}-{n}{ext}")
            };
            // `create_new` never follows into or replaces an existing file.
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(dir.join(&candidate))
            {
                Ok(mut f) => {
                    f.write_all(file.data())?;
                    written = true;
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        if !written {
            return Err(std::io::Error::other("more than 1000 files with one name"));
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let (port, receiver) = match support::config("save_bounces").await {
        Ok(config) => config,
        Err(message) => {
            eprintln!("save_bounces: {message}");
            return ExitCode::from(2);
        }
    };
    let dir = PathBuf::from(std::env::var("SAVE_DIR").unwrap_or_else(|_| "saved".into()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("save_bounces: cannot create {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    let max_body = usize::try_from(receiver.verifier().limits().max_body()).unwrap_or(usize::MAX);
    let app = Router::new()
        .route("/webhooks/mailgun", post(tracking::<support::Store>))
        .route("/webhooks/mailgun/inbound", post(inbound::<support::Store>))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(App {
            receiver,
            dir: Arc::new(dir),
        });
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("save_bounces: cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("save_bounces: listening on http://127.0.0.1:{port}");
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("save_bounces: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
