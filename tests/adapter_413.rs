//! A client that writes its whole over-limit body before reading its answer (as Python's
//! `urllib` does) reads a `413`, from every adapter, over real loopback HTTP: the adapters read
//! and discard the rest of the body (bounded) and answer with `Connection: close`, instead of
//! closing the connection under a client still sending (a connection reset).
//!
//! Each server has a 256 KiB body limit; the client sends 8 MiB, with a `Content-Length` or
//! chunked without one. A control server that answers 413 without reading shows the reset
//! this guards against.
#![cfg(all(
    feature = "axum",
    feature = "hyper",
    feature = "actix-web",
    feature = "tower"
))]
// Tests fail by panicking: unwrap, expect and panic are how they report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use mailgun_webhooks::{
    Event, Limits, MemoryReplayStore, Receiver, SigningKey, Verified, Verifier,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const LIMIT: u64 = 256 << 10;
const BODY: usize = 8 << 20;

fn receiver() -> Receiver<MemoryReplayStore> {
    let verifier = Verifier::builder(SigningKey::new("adapter-413-key"))
        .limits(Limits::default().body(LIMIT))
        .build();
    Receiver::new(verifier, MemoryReplayStore::new())
}

async fn never_runs(_: Verified<Event>) -> Result<(), mailgun_webhooks::HandlerError> {
    panic!("an over-limit body must not reach the handler")
}

/// Serves each accepted connection with hyper's http1 on `service`.
fn serve_hyper<Svc>(listener: TcpListener, service: Svc)
where
    Svc: hyper::service::Service<Request<Incoming>, Response = Response<Full<Bytes>>>
        + Clone
        + Send
        + 'static,
    Svc::Future: Send + 'static,
    Svc::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = service.clone();
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

async fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

async fn hyper_server() -> SocketAddr {
    let (listener, addr) = listener().await;
    let receiver = receiver();
    let service = service_fn(move |req: Request<Incoming>| {
        let receiver = receiver.clone();
        async move {
            let response = mailgun_webhooks::hyper::receive(&receiver, req, never_runs).await;
            Ok::<_, Infallible>(response.into_response::<Full<Bytes>>())
        }
    });
    serve_hyper(listener, service);
    addr
}

/// The control: answers 413 at once, without reading the body, as the adapters used to.
async fn undrained_server() -> SocketAddr {
    let (listener, addr) = listener().await;
    let service = service_fn(|_req: Request<Incoming>| async {
        let mut response = Response::new(Full::new(Bytes::from_static(b"limit_exceeded")));
        *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
        Ok::<_, Infallible>(response)
    });
    serve_hyper(listener, service);
    addr
}

async fn axum_server() -> SocketAddr {
    use axum::routing::post;
    use mailgun_webhooks::axum::{Webhook, WebhookResponse};
    async fn tracking(webhook: Webhook<Event>) -> WebhookResponse {
        webhook.process(never_runs).await
    }
    let (listener, addr) = listener().await;
    let app = axum::Router::new()
        .route("/", post(tracking))
        .with_state(receiver());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// The tower layer under axum.
async fn tower_axum_server() -> SocketAddr {
    use axum::routing::post;
    use mailgun_webhooks::tower::WebhookLayer;
    let (listener, addr) = listener().await;
    let app = axum::Router::new()
        .route(
            "/",
            post(|| async {
                if true {
                    panic!("an over-limit body must not reach the inner service");
                }
                StatusCode::OK
            }),
        )
        .route_layer(WebhookLayer::new(receiver()));
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    addr
}

/// The tower layer in a plain hyper server, through hyper-util's `TowerToHyperService`.
async fn tower_hyper_server() -> SocketAddr {
    use hyper_util::service::TowerToHyperService;
    use mailgun_webhooks::tower::WebhookLayer;
    use tower::{Layer, ServiceExt};
    type Boxed = http_body_util::combinators::BoxBody<Bytes, hyper::Error>;
    let (listener, addr) = listener().await;
    let inner = tower::service_fn(|_req: Request<Boxed>| async {
        if true {
            panic!("an over-limit body must not reach the inner service");
        }
        Ok::<Response<Full<Bytes>>, Infallible>(Response::new(Full::default()))
    });
    let service = WebhookLayer::new(receiver())
        .layer(inner)
        .map_request(|req: Request<Incoming>| req.map(BodyExt::boxed));
    serve_hyper(listener, TowerToHyperService::new(service));
    addr
}

fn actix_server() -> SocketAddr {
    use actix_web::{App, HttpServer, web};
    use mailgun_webhooks::actix::{Webhook, WebhookResponse};
    async fn tracking(webhook: Webhook<Event>) -> WebhookResponse {
        webhook.process(never_runs).await
    }
    let (tx, rx) = std::sync::mpsc::channel::<SocketAddr>();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let receiver = web::Data::new(receiver());
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(receiver.clone())
                    // Over the receiver's limit: the receiver's 413.
                    .service(
                        web::resource("/")
                            .app_data(web::PayloadConfig::new(1 << 20))
                            .route(web::post().to(tracking)),
                    )
                    // Under the receiver's limit: actix's own 413 (`PayloadConfig`).
                    .service(
                        web::resource("/payload-config")
                            .app_data(web::PayloadConfig::new(64 << 10))
                            .route(web::post().to(tracking)),
                    )
            })
            .workers(1)
            .bind(("127.0.0.1", 0))
            .unwrap();
            tx.send(server.addrs()[0]).unwrap();
            server.run().await.unwrap();
        });
    });
    rx.recv().unwrap()
}

/// How the request's body is framed.
#[derive(Debug, Clone, Copy)]
enum Framing {
    ContentLength,
    Chunked,
}

/// Writes the whole request (head and 8 MiB of body) before reading anything, then reads the
/// answer's status line. An error (a reset while writing or reading) is returned as text.
async fn send_whole_body_then_read(
    addr: SocketAddr,
    path: &str,
    framing: Framing,
) -> Result<String, String> {
    let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let body = vec![b'x'; BODY];
    let head = match framing {
        Framing::ContentLength => format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {BODY}\r\n\r\n"
        ),
        Framing::Chunked => format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Transfer-Encoding: chunked\r\n\r\n"
        ),
    };
    let write = async {
        stream.write_all(head.as_bytes()).await?;
        match framing {
            Framing::ContentLength => stream.write_all(&body).await?,
            Framing::Chunked => {
                for chunk in body.chunks(64 << 10) {
                    stream
                        .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                        .await?;
                    stream.write_all(chunk).await?;
                    stream.write_all(b"\r\n").await?;
                }
                stream.write_all(b"0\r\n\r\n").await?;
            }
        }
        stream.flush().await
    };
    tokio::time::timeout(Duration::from_secs(30), write)
        .await
        .map_err(|_| "timed out writing".to_owned())?
        .map_err(|e| format!("writing: {e}"))?;
    let mut answer = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await?;
            answer.extend_from_slice(&buf[..n]);
            if n == 0 || answer.windows(4).any(|w| w == b"\r\n\r\n") {
                return Ok::<_, std::io::Error>(());
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .map_err(|_| "timed out reading".to_owned())?
        .map_err(|e| format!("reading: {e}"))?;
    let text = String::from_utf8_lossy(&answer).into_owned();
    Ok(text)
}

/// Asserts that the answer, over both framings, is a 413 that closes the connection.
async fn reads_413(addr: SocketAddr, path: &str) {
    for framing in [Framing::ContentLength, Framing::Chunked] {
        let answer = send_whole_body_then_read(addr, path, framing)
            .await
            .unwrap_or_else(|e| panic!("{framing:?}: no answer: {e}"));
        assert!(
            answer.starts_with("HTTP/1.1 413 "),
            "{framing:?}: {answer:?}"
        );
        assert!(
            answer.to_ascii_lowercase().contains("connection: close"),
            "{framing:?}: {answer:?}"
        );
    }
}

#[tokio::test]
async fn hyper_answers_a_client_that_sends_its_whole_body_first_413() {
    reads_413(hyper_server().await, "/").await;
}

#[tokio::test]
async fn axum_answers_a_client_that_sends_its_whole_body_first_413() {
    reads_413(axum_server().await, "/").await;
}

#[tokio::test]
async fn actix_answers_a_client_that_sends_its_whole_body_first_413() {
    let addr = actix_server();
    reads_413(addr, "/").await;
    reads_413(addr, "/payload-config").await;
}

#[tokio::test]
async fn tower_layer_under_axum_answers_a_client_that_sends_its_whole_body_first_413() {
    reads_413(tower_axum_server().await, "/").await;
}

#[tokio::test]
async fn tower_layer_in_hyper_answers_a_client_that_sends_its_whole_body_first_413() {
    reads_413(tower_hyper_server().await, "/").await;
}

/// `Expect: 100-continue`: the client has not sent its body, so the 413 comes at once,
/// without a `100 Continue` and without waiting for the body.
#[tokio::test]
async fn expect_continue_is_answered_413_at_once() {
    let addr = hyper_server().await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {BODY}\r\nExpect: 100-continue\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("answered without the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer:?}");
}

/// The control: a server that answers 413 without reading the body resets a client that
/// writes its whole body first (so the tests above would fail without the drain).
#[tokio::test]
async fn control_a_server_that_does_not_drain_resets_the_client() {
    let addr = undrained_server().await;
    let answer = send_whole_body_then_read(addr, "/", Framing::ContentLength).await;
    assert!(
        answer
            .as_ref()
            .map_or(true, |a| !a.starts_with("HTTP/1.1 413 ")),
        "{answer:?}"
    );
}
