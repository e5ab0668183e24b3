//! A Mailgun webhook server on bare hyper 1.x (the same code serves any tower service).
//!
//! ```text
//! MAILGUN_WEBHOOK_SIGNING_KEY=... cargo run --example hyper_server --features hyper
//! ```
//!
//! - `POST /webhooks/mailgun`: tracking events (delivered, failed, opened, ...);
//! - `POST /webhooks/mailgun/inbound`: inbound routes (`forward()`), with attachments.
//!
//! Environment:
//!
//! - `MAILGUN_WEBHOOK_SIGNING_KEY` (required): the HTTP webhook signing key;
//! - `PORT` (default 3000): listens on `127.0.0.1:$PORT`;
//! - `REDIS_URL`: record deliveries in Redis (build with `--features hyper,redis`), else in
//!   memory;
//! - `MAILGUN_WEBHOOK_MAX_AGE` (seconds, default 30600): how old a signature may be. Raise it
//!   to replay the bundled samples in `examples/payloads/`, which were signed on 2026-01-01.
//!
//! It logs one line per delivery, and never the key.

use std::convert::Infallible;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
#[path = "support/mod.rs"]
mod support;

use mailgun_webhooks::hyper::{WebhookResponse, receive};
use mailgun_webhooks::{Event, InboundMessage, Receiver, ReplayStore};

async fn route<S: ReplayStore + Clone + 'static>(
    receiver: &Receiver<S>,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let response = match (req.method(), req.uri().path()) {
        (&Method::POST, "/webhooks/mailgun") => {
            receive(
                receiver,
                req,
                |event: mailgun_webhooks::Verified<Event>| async move {
                    // The load harness's record of what ran (only when MAILGUN_WEBHOOK_LEDGER is set).
                    support::ledger(event.token(), event.payload().recipient()).await;
                    let event: &Event = event.payload();
                    println!(
                        "event {} recipient={} id={}",
                        event.kind(),
                        event.recipient().unwrap_or("-"),
                        event.id().unwrap_or("-"),
                    );
                    // Your code here; return Err(..) to answer 500 and have Mailgun retry.
                    Ok(())
                },
            )
            .await
        }
        (&Method::POST, "/webhooks/mailgun/inbound") => {
            receive(receiver, req, |message| async move {
                let message: &InboundMessage = message.payload();
                println!(
                    "inbound from={} to={} subject={:?} attachments={}",
                    message.sender.as_deref().unwrap_or("-"),
                    message.recipient.as_deref().unwrap_or("-"),
                    message.subject.as_deref().unwrap_or(""),
                    message.attachments.len(),
                );
                Ok(())
            })
            .await
        }
        _ => {
            let mut not_found = Response::new(Full::from("not_found"));
            *not_found.status_mut() = StatusCode::NOT_FOUND;
            return not_found;
        }
    };
    log(&response);
    response.into_response()
}

/// Logs a delivery that was not processed.
fn log(response: &WebhookResponse) {
    if response.is_duplicate() {
        println!("duplicate of a processed delivery: 200, not run again");
    } else if let Some(e) = response.error() {
        eprintln!("refused {} {}: {e}", response.status().as_u16(), e.name());
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match support::config("hyper_server").await {
        Ok((port, receiver)) => serve(port, receiver).await,
        Err(message) => {
            eprintln!("hyper_server: {message}");
            ExitCode::from(2)
        }
    }
}

/// Serves both endpoints with `receiver` until the process is stopped.
async fn serve<S: ReplayStore + Clone + 'static>(port: u16, receiver: Receiver<S>) -> ExitCode {
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("hyper_server: cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "listening on http://127.0.0.1:{port} (POST /webhooks/mailgun, /webhooks/mailgun/inbound)"
    );
    let receiver = Arc::new(receiver);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                eprintln!("hyper_server: accept: {e}");
                continue;
            }
        };
        let receiver = Arc::clone(&receiver);
        let service = service_fn(move |req| {
            let receiver = Arc::clone(&receiver);
            async move { Ok::<_, Infallible>(route(&receiver, req).await) }
        });
        tokio::spawn(async move {
            // hyper's defaults are not stable: set the limits that matter explicitly.
            let served = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .max_buf_size(64 * 1024)
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                eprintln!("hyper_server: connection: {e}");
            }
        });
    }
}
