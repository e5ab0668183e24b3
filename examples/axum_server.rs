//! A Mailgun webhook server on axum.
//!
//! ```text
//! MAILGUN_WEBHOOK_SIGNING_KEY=... cargo run --example axum_server --features axum
//! ```
//!
//! - `POST /webhooks/mailgun`: tracking events (delivered, failed, opened, ...);
//! - `POST /webhooks/mailgun/inbound`: inbound routes (`forward()`), with attachments.
//!
//! Environment:
//!
//! - `MAILGUN_WEBHOOK_SIGNING_KEY` (required): the HTTP webhook signing key;
//! - `PORT` (default 3000): listens on `127.0.0.1:$PORT`;
//! - `REDIS_URL`: record deliveries in Redis (build with `--features axum,redis`), else in
//!   memory;
//! - `MAILGUN_WEBHOOK_MAX_AGE` (seconds, default 30600): how old a signature may be. Raise it
//!   to replay the bundled samples in `examples/payloads/`, which were signed on 2026-01-01.
//!
//! It logs one line per delivery, and never the key.

use std::process::ExitCode;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
#[path = "support/mod.rs"]
mod support;

use mailgun_webhooks::axum::{Webhook, WebhookRejection, WebhookResponse};
use mailgun_webhooks::{Event, InboundMessage, Receiver, ReplayStore};

async fn tracking<S: ReplayStore + 'static>(
    webhook: Result<Webhook<Event, S>, WebhookRejection>,
) -> Response {
    let webhook = match webhook {
        Ok(webhook) => webhook,
        Err(rejection) => return refused(rejection),
    };
    let response = webhook
        .process(|event| async move {
            // The load harness's record of what ran (only when MAILGUN_WEBHOOK_LEDGER is set).
            support::ledger(event.token(), event.payload().recipient()).await;
            let event = event.payload();
            println!(
                "event {} recipient={} id={}",
                event.kind(),
                event.recipient().unwrap_or("-"),
                event.id().unwrap_or("-"),
            );
            // Your code here; return Err(..) to answer 500 and have Mailgun retry.
            Ok(())
        })
        .await;
    failed(response)
}

async fn inbound<S: ReplayStore + 'static>(
    webhook: Result<Webhook<InboundMessage, S>, WebhookRejection>,
) -> Response {
    let webhook = match webhook {
        Ok(webhook) => webhook,
        Err(rejection) => return refused(rejection),
    };
    let response = webhook
        .process(|message| async move {
            let message = message.payload();
            println!(
                "inbound from={} to={} subject={:?} attachments={}",
                message.sender.as_deref().unwrap_or("-"),
                message.recipient.as_deref().unwrap_or("-"),
                message.subject.as_deref().unwrap_or(""),
                message.attachments.len(),
            );
            Ok(())
        })
        .await;
    failed(response)
}

/// Logs a delivery refused before the handler ran, and answers it.
fn refused(rejection: WebhookRejection) -> Response {
    if rejection.is_duplicate() {
        println!("duplicate of a processed delivery: 200, not run again");
    } else {
        eprintln!(
            "refused {} {}: {rejection}",
            rejection.status().as_u16(),
            rejection.name()
        );
    }
    rejection.into_response()
}

/// Logs a delivery whose handler or commit failed, and answers it.
fn failed(response: WebhookResponse) -> Response {
    if let Some(e) = response.error() {
        eprintln!("failed {} {}: {e}", response.status().as_u16(), e.name());
    }
    response.into_response()
}

#[tokio::main]
async fn main() -> ExitCode {
    match support::config("axum_server").await {
        Ok((port, receiver)) => serve(port, receiver).await,
        Err(message) => {
            eprintln!("axum_server: {message}");
            ExitCode::from(2)
        }
    }
}

/// Serves both endpoints with `receiver` until the process is stopped.
async fn serve<S: ReplayStore + Clone + 'static>(port: u16, receiver: Receiver<S>) -> ExitCode {
    let max_body = usize::try_from(receiver.verifier().limits().max_body()).unwrap_or(usize::MAX);
    let app = Router::new()
        .route("/webhooks/mailgun", post(tracking::<S>))
        .route("/webhooks/mailgun/inbound", post(inbound::<S>))
        // axum reads at most 2 MiB by default; inbound mail, and a legacy bounce carrying the
        // original message, need up to the receiver's own limit.
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(receiver);
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("axum_server: cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "listening on http://127.0.0.1:{port} (POST /webhooks/mailgun, /webhooks/mailgun/inbound)"
    );
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("axum_server: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
