//! A Mailgun webhook server on actix-web 4.
//!
//! ```text
//! MAILGUN_WEBHOOK_SIGNING_KEY=... cargo run --example actix_server --features actix-web
//! ```
//!
//! - `POST /webhooks/mailgun`: tracking events (delivered, failed, opened, ...);
//! - `POST /webhooks/mailgun/inbound`: inbound routes (`forward()`), with attachments.
//!
//! Environment:
//!
//! - `MAILGUN_WEBHOOK_SIGNING_KEY` (required): the HTTP webhook signing key;
//! - `PORT` (default 3000): listens on `127.0.0.1:$PORT`;
//! - `REDIS_URL`: record deliveries in Redis (build with `--features actix-web,redis`), else
//!   in memory;
//! - `MAILGUN_WEBHOOK_MAX_AGE` (seconds, default 30600): how old a signature may be. Raise it
//!   to replay the bundled samples in `examples/payloads/`, which were signed on 2026-01-01.
//!
//! It logs one line per delivery, and never the key.

use std::process::ExitCode;

use actix_web::{App, HttpServer, web};
#[path = "support/mod.rs"]
mod support;

use mailgun_webhooks::actix::{Webhook, WebhookRejection, WebhookResponse};
use mailgun_webhooks::{Event, InboundMessage, Receiver, ReplayStore};

async fn tracking<S: ReplayStore + 'static>(
    webhook: Result<Webhook<Event, S>, WebhookRejection>,
) -> Result<WebhookResponse, WebhookRejection> {
    let response = webhook
        .map_err(refused)?
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
    Ok(failed(response))
}

async fn inbound<S: ReplayStore + 'static>(
    webhook: Result<Webhook<InboundMessage, S>, WebhookRejection>,
) -> Result<WebhookResponse, WebhookRejection> {
    let response = webhook
        .map_err(refused)?
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
    Ok(failed(response))
}

/// Logs a delivery refused before the handler ran.
fn refused(rejection: WebhookRejection) -> WebhookRejection {
    if rejection.is_duplicate() {
        println!("duplicate of a processed delivery: 200, not run again");
    } else {
        eprintln!(
            "refused {} {}: {rejection}",
            rejection.status().as_u16(),
            rejection.name()
        );
    }
    rejection
}

/// Logs a delivery whose handler or commit failed.
fn failed(response: WebhookResponse) -> WebhookResponse {
    if let Some(e) = response.error() {
        eprintln!("failed {} {}: {e}", response.status().as_u16(), e.name());
    }
    response
}

fn main() -> ExitCode {
    actix_web::rt::System::new().block_on(async {
        match support::config("actix_server").await {
            Ok((port, receiver)) => serve(port, receiver).await,
            Err(message) => {
                eprintln!("actix_server: {message}");
                ExitCode::from(2)
            }
        }
    })
}

/// Serves both endpoints with `receiver` until the process is stopped.
async fn serve<S: ReplayStore + Clone + 'static>(port: u16, receiver: Receiver<S>) -> ExitCode {
    let max_body = usize::try_from(receiver.verifier().limits().max_body()).unwrap_or(usize::MAX);
    let receiver = web::Data::new(receiver);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(receiver.clone())
            // actix reads at most 256 KiB by default; inbound mail, and a legacy bounce carrying
            // the original message, need up to the receiver's own limit.
            .app_data(web::PayloadConfig::new(max_body))
            .route("/webhooks/mailgun", web::post().to(tracking::<S>))
            .route("/webhooks/mailgun/inbound", web::post().to(inbound::<S>))
    })
    .bind(("127.0.0.1", port));
    let server = match server {
        Ok(server) => server,
        Err(e) => {
            eprintln!("actix_server: cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "listening on http://127.0.0.1:{port} (POST /webhooks/mailgun, /webhooks/mailgun/inbound)"
    );
    if let Err(e) = server.run().await {
        eprintln!("actix_server: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
