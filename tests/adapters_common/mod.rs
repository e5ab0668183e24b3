//! The scenarios every framework adapter must pass, run against a real server on
//! 127.0.0.1:0 through a real HTTP client (hyper-util's legacy client).
//!
//! Each adapter test file starts its framework's server with a [`Recorder`] as the handler's
//! state, then runs these scenarios over HTTP only: nothing here knows which framework
//! answers.
#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use mailgun_webhooks::testing::{FormBody, SignedBody, json_body, now, token};
use mailgun_webhooks::{
    Event, EventKind, HandlerError, InboundMessage, KeyRing, Limits, MemoryReplayStore, Receiver,
    SigningKey, Verified, Verifier,
};
use tokio::io::AsyncWriteExt;

pub const KEY: &str = "adapter-test-signing-key";
/// The parent account's key (sub-account events carry a `parent-signature` under it).
pub const PARENT_KEY: &str = "adapter-test-parent-key";
/// Another Mailgun account's key, whose receiver shares the first one's store.
pub const KEY_B: &str = "adapter-test-signing-key-of-account-b";
pub const TRACKING: &str = "/webhooks/mailgun";
pub const INBOUND: &str = "/webhooks/mailgun/inbound";
/// Account B's tracking endpoint, on the same server and the same replay store.
pub const TRACKING_B: &str = "/b/webhooks/mailgun";
/// The receiver's body limit in these tests.
pub const MAX_BODY: u64 = 128 << 10;

/// The receiver every test server uses: the test key (with a parent key), default freshness, a
/// 128 KiB body limit.
pub fn receiver() -> Receiver<MemoryReplayStore> {
    receivers().0
}

/// Two receivers of two Mailgun accounts (the test key, and [`KEY_B`]) sharing one store.
pub fn receivers() -> (Receiver<MemoryReplayStore>, Receiver<MemoryReplayStore>) {
    receivers_on(MemoryReplayStore::new())
}

/// [`receivers`] on a given store.
pub fn receivers_on<S: mailgun_webhooks::ReplayStore + Clone>(
    store: S,
) -> (Receiver<S>, Receiver<S>) {
    let a = Verifier::builder(KeyRing::new(key()).parent(parent_key()))
        .limits(Limits::default().body(MAX_BODY))
        .build();
    let b = Verifier::builder(SigningKey::new(KEY_B))
        .limits(Limits::default().body(MAX_BODY))
        .build();
    (Receiver::new(a, store.clone()), Receiver::new(b, store))
}

pub fn parent_key() -> SigningKey {
    SigningKey::new(PARENT_KEY)
}

/// What one handler call saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Event {
        kind: EventKind,
        recipient: Option<String>,
    },
    Inbound {
        recipient: Option<String>,
        attachments: Vec<(String, Vec<u8>)>,
    },
}

/// The handlers' shared state: every call, by token, and which tokens already failed once.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    inner: Arc<Mutex<RecorderInner>>,
}

#[derive(Debug, Default)]
struct RecorderInner {
    calls: HashMap<String, Vec<Seen>>,
    failed: Vec<String>,
    /// Calls that ran to their end (after any sleep), by token.
    finished: HashMap<String, usize>,
}

impl Recorder {
    /// The tracking handler. A recipient starting with `slow` sleeps 300 ms; one starting with
    /// `fail-once` fails on its first call for a token and succeeds on the next; one starting
    /// with `panic-once` panics on its first call; one starting with `reject` rejects it
    /// ([`HandlerError::reject`]).
    pub async fn event(&self, verified: Verified<Event>) -> Result<(), HandlerError> {
        let token = verified.token().to_owned();
        let event = verified.into_payload();
        let recipient = event.recipient().map(str::to_owned);
        self.record(
            &token,
            Seen::Event {
                kind: event.kind(),
                recipient: recipient.clone(),
            },
        );
        let r = recipient.unwrap_or_default();
        if r.starts_with("slow") {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        if r.starts_with("hang") {
            // Long enough for the client to hang up while the handler awaits.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        if r.starts_with("panic-once") && self.first_failure(&token) {
            panic!("the handler panicked (on purpose, once)");
        }
        if r.starts_with("reject") {
            return Err(HandlerError::reject("not a recipient of ours"));
        }
        if r.starts_with("fail-once") {
            let mut inner = self.inner.lock().unwrap();
            if !inner.failed.contains(&token) {
                inner.failed.push(token);
                return Err("the database is down".into());
            }
        }
        *self
            .inner
            .lock()
            .unwrap()
            .finished
            .entry(token)
            .or_default() += 1;
        Ok(())
    }

    /// How many calls for `token` ran to their end.
    pub fn finished(&self, token: &str) -> usize {
        let inner = self.inner.lock().unwrap();
        inner.finished.get(token).copied().unwrap_or_default()
    }

    /// True the first time it is called for `token`.
    fn first_failure(&self, token: &str) -> bool {
        let mut inner = self.inner.lock().unwrap();
        if inner.failed.iter().any(|t| t == token) {
            return false;
        }
        inner.failed.push(token.to_owned());
        true
    }

    /// The inbound handler: records the attachments' names and bytes.
    pub async fn inbound(&self, verified: Verified<InboundMessage>) -> Result<(), HandlerError> {
        let token = verified.token().to_owned();
        let message = verified.into_payload();
        let attachments = message
            .attachments
            .iter()
            .map(|a| {
                (
                    a.filename().unwrap_or_default().to_owned(),
                    a.data().to_vec(),
                )
            })
            .collect();
        self.record(
            &token,
            Seen::Inbound {
                recipient: message.recipient.clone(),
                attachments,
            },
        );
        Ok(())
    }

    fn record(&self, token: &str, seen: Seen) {
        let mut inner = self.inner.lock().unwrap();
        inner.calls.entry(token.to_owned()).or_default().push(seen);
    }

    /// The calls made for `token`.
    pub fn calls(&self, token: &str) -> Vec<Seen> {
        let inner = self.inner.lock().unwrap();
        inner.calls.get(token).cloned().unwrap_or_default()
    }

    /// The number of handler calls, all tokens together.
    pub fn total(&self) -> usize {
        let inner = self.inner.lock().unwrap();
        inner.calls.values().map(Vec::len).sum()
    }
}

/// A status and body as the client received them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: StatusCode,
    pub body: String,
}

impl Reply {
    pub fn is(&self, status: u16, body: &str) -> bool {
        self.status.as_u16() == status && self.body == body
    }
}

/// A running server under test, and a client for it.
pub struct Harness {
    pub addr: SocketAddr,
    pub recorder: Recorder,
    client: Client<HttpConnector, BoxBody<Bytes, Infallible>>,
}

impl Harness {
    pub fn new(addr: SocketAddr, recorder: Recorder) -> Self {
        let client = Client::builder(TokioExecutor::new()).build_http();
        Harness {
            addr,
            recorder,
            client,
        }
    }

    /// POSTs a body with its content type and any extra headers.
    pub async fn send(
        &self,
        path: &str,
        content_type: &str,
        body: BoxBody<Bytes, Infallible>,
        extra: &[(&str, &str)],
    ) -> Reply {
        let mut req = Request::post(format!("http://{}{}", self.addr, path))
            .header(header::CONTENT_TYPE, content_type);
        for (name, value) in extra {
            req = req.header(*name, *value);
        }
        let response = self.client.request(req.body(body).unwrap()).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            body: String::from_utf8(body.to_vec()).unwrap(),
        }
    }

    /// POSTs a signed body with a `Content-Length`.
    pub async fn post(&self, path: &str, signed: &SignedBody) -> Reply {
        let body = Full::new(Bytes::from(signed.body.clone())).boxed();
        self.send(path, &signed.content_type, body, &[]).await
    }

    /// Sends a signed body over a raw TCP connection, waits `after` (the handler is running),
    /// then closes the connection without reading the answer: a client hang-up.
    pub async fn post_and_hang_up(&self, path: &str, signed: &SignedBody, after: Duration) {
        let mut stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            signed.content_type,
            signed.body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&signed.body).await.unwrap();
        stream.flush().await.unwrap();
        tokio::time::sleep(after).await;
        drop(stream);
    }

    /// POSTs a signed body in 1 KiB chunks with `Transfer-Encoding: chunked` (no length).
    pub async fn post_chunked(&self, path: &str, signed: &SignedBody) -> Reply {
        let chunks: Vec<Result<Frame<Bytes>, Infallible>> = signed
            .body
            .chunks(1024)
            .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
            .collect();
        let body = StreamBody::new(futures_util::stream::iter(chunks)).boxed();
        self.send(path, &signed.content_type, body, &[]).await
    }
}

pub fn key() -> SigningKey {
    SigningKey::new(KEY)
}

/// A delivered event for `recipient`, signed with `key` at `timestamp`, with a fresh token.
pub fn event_signed(key: &SigningKey, timestamp: u64, recipient: &str) -> (SignedBody, String) {
    let token = token();
    let body = json_body(
        key,
        timestamp,
        &token,
        serde_json::json!({
            "event": "delivered",
            "id": "evt-1",
            "timestamp": timestamp as f64 + 0.25,
            "recipient": recipient,
            "message": {"headers": {"message-id": "abc@example.com"}},
        }),
    );
    (body, token)
}

/// A delivered event for `recipient`, correctly signed now.
pub fn event(recipient: &str) -> (SignedBody, String) {
    event_signed(&key(), now(), recipient)
}

/// The event data of a delivered event for `recipient`.
pub fn event_data(timestamp: u64, recipient: &str) -> serde_json::Value {
    serde_json::json!({
        "event": "delivered",
        "id": "evt-1",
        "timestamp": timestamp as f64 + 0.25,
        "recipient": recipient,
        "message": {"headers": {"message-id": "abc@example.com"}},
    })
}

/// A delivered event for `recipient` under a given signed triple `(timestamp, token)`: another
/// body with the same signature is what an attacker holding one captured triple sends.
pub fn event_with(timestamp: u64, token: &str, recipient: &str) -> SignedBody {
    json_body(&key(), timestamp, token, event_data(timestamp, recipient))
}

/// A sub-account event: `signature` under the account's key (or garbled) and
/// `parent-signature` under the parent key.
pub fn sub_account_event(
    timestamp: u64,
    token: &str,
    recipient: &str,
    garbled: bool,
) -> SignedBody {
    let ts = timestamp.to_string();
    let signature = if garbled {
        "0".repeat(64)
    } else {
        key().sign(&ts, token)
    };
    let body = serde_json::json!({
        "signature": {
            "timestamp": ts,
            "token": token,
            "signature": signature,
            "parent-signature": parent_key().sign(&ts, token),
        },
        "event-data": event_data(timestamp, recipient),
    });
    json(body.to_string().into_bytes())
}

/// A JSON `SignedBody` of these bytes (`SignedBody` is non-exhaustive: made by the kit, then
/// changed).
pub fn json(body: Vec<u8>) -> SignedBody {
    let mut signed = json_body(&key(), 0, "t", serde_json::Value::Null);
    signed.body = body;
    signed
}

/// The same JSON document re-serialised: pretty-printed, keys in reverse order at every level.
pub fn reserialised(signed: &SignedBody) -> SignedBody {
    fn reverse(v: &serde_json::Value, out: &mut String) {
        match v {
            serde_json::Value::Object(m) => {
                out.push_str("{\n  ");
                let mut first = true;
                for (k, v) in m.iter().rev() {
                    if !first {
                        out.push_str(",\n  ");
                    }
                    first = false;
                    out.push_str(&serde_json::to_string(k).unwrap());
                    out.push_str(" : ");
                    reverse(v, out);
                }
                out.push_str("\n}");
            }
            other => out.push_str(&serde_json::to_string(other).unwrap()),
        }
    }
    let v: serde_json::Value = serde_json::from_slice(&signed.body).unwrap();
    let mut out = String::new();
    reverse(&v, &mut out);
    assert_ne!(out.as_bytes(), &signed.body[..]);
    json(out.into_bytes())
}

/// A urlencoded body re-encoded with every byte of every name and value as `%XX`.
pub fn fully_percent_encoded(signed: &SignedBody) -> SignedBody {
    let text = String::from_utf8(signed.body.clone()).unwrap();
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&text).unwrap();
    let enc = |s: &str| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
    let body = pairs
        .iter()
        .map(|(n, v)| format!("{}={}", enc(n), enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    let mut out = signed.clone();
    out.body = body.into_bytes();
    out
}

/// A multipart body with its boundary replaced by another one.
pub fn new_boundary(signed: &SignedBody) -> SignedBody {
    let old = signed
        .content_type
        .split("boundary=")
        .nth(1)
        .unwrap()
        .to_owned();
    let new = "------AnotherBoundary7MA4YWxkTrZu0gW";
    let text = String::from_utf8(signed.body.clone()).unwrap();
    let mut out = signed.clone();
    out.content_type = format!("multipart/form-data; boundary={new}");
    out.body = text.replace(&old, new).into_bytes();
    out
}

/// Three attachments whose bytes include every byte value, CRLFs and boundary-like lines.
pub fn attachments() -> Vec<(String, Vec<u8>)> {
    let every_byte: Vec<u8> = (0..=255u8).cycle().take(8 * 1024).collect();
    let mut tricky = b"--not-the-boundary\r\n\r\nContent-Disposition: x\r\n--\r\n".to_vec();
    tricky.extend(std::iter::repeat_n(0u8, 1000));
    tricky.extend_from_slice(b"\r\n");
    vec![
        ("report.pdf".to_owned(), every_byte),
        ("notes.txt".to_owned(), tricky),
        ("empty.bin".to_owned(), Vec::new()),
    ]
}

/// An inbound `forward()` post with [`attachments`], signed now, as multipart.
pub fn inbound_signed() -> (SignedBody, String) {
    let token = token();
    let mut form = FormBody::new()
        .field("recipient", "support@example.com")
        .field("sender", "alice@example.org")
        .field("subject", "Invoice")
        .field("body-plain", "See attached.")
        .field("attachment-count", "3");
    for (i, (name, data)) in attachments().into_iter().enumerate() {
        form = form.file(
            format!("attachment-{}", i + 1),
            name,
            "application/octet-stream",
            data,
        );
    }
    (form.sign(&key(), now(), &token).multipart(), token)
}

// ----- the scenarios -----

/// A valid JSON event answers 200 and the handler sees the typed event.
pub async fn valid_event(h: &Harness) {
    let (signed, token) = event("alice@example.com");
    let reply = h.post(TRACKING, &signed).await;
    assert!(reply.is(200, "ok"), "{reply:?}");
    assert_eq!(
        h.recorder.calls(&token),
        [Seen::Event {
            kind: EventKind::Delivered,
            recipient: Some("alice@example.com".into())
        }]
    );
}

/// The same request again answers 200 and the handler does not run again.
pub async fn duplicate(h: &Harness) {
    let (signed, token) = event("bob@example.com");
    assert!(h.post(TRACKING, &signed).await.is(200, "ok"));
    for _ in 0..3 {
        let again = h.post(TRACKING, &signed).await;
        assert!(again.is(200, "duplicate"), "{again:?}");
    }
    assert_eq!(h.recorder.calls(&token).len(), 1);
}

/// A wrong key and a stale timestamp each answer 401, and the handler never runs.
pub async fn wrong_key_and_stale(h: &Harness) {
    let (wrong, token) = event_signed(&SigningKey::new("not-the-key"), now(), "c@example.com");
    let reply = h.post(TRACKING, &wrong).await;
    assert!(reply.is(401, "signature_mismatch"), "{reply:?}");
    assert!(h.recorder.calls(&token).is_empty());

    let stale_at = now() - 9 * 3600; // the default max_age is 8 h 30 min
    let (stale, token) = event_signed(&key(), stale_at, "c@example.com");
    let reply = h.post(TRACKING, &stale).await;
    assert!(reply.is(401, "stale"), "{reply:?}");
    assert!(h.recorder.calls(&token).is_empty());

    let future_at = now() + 3600; // the default max_skew is 5 min
    let (future, token) = event_signed(&key(), future_at, "c@example.com");
    let reply = h.post(TRACKING, &future).await;
    assert!(reply.is(401, "from_future"), "{reply:?}");
    assert!(h.recorder.calls(&token).is_empty());

    // Nothing was reserved: the correctly signed delivery is processed afterwards.
    let (good, token) = event("c@example.com");
    assert!(h.post(TRACKING, &good).await.is(200, "ok"));
    assert_eq!(h.recorder.calls(&token).len(), 1);
}

/// A body over the limit answers 413, with a `Content-Length` (refused before reading) and
/// chunked (refused while reading), and the handler never runs.
pub async fn over_limit(h: &Harness) {
    let big = "x".repeat(usize::try_from(MAX_BODY).unwrap() + 1);
    let token = token();
    let form = FormBody::new()
        .field("recipient", "support@example.com")
        .file(
            "attachment-1",
            "big.bin",
            "application/octet-stream",
            big.into_bytes(),
        )
        .sign(&key(), now(), &token)
        .multipart();
    let reply = h.post(INBOUND, &form).await;
    assert!(reply.is(413, "limit_exceeded"), "{reply:?}");
    let reply = h.post_chunked(INBOUND, &form).await;
    assert!(reply.is(413, "limit_exceeded"), "{reply:?}");
    assert_eq!(h.recorder.total(), 0);
}

/// An inbound multipart post with 3 attachments answers 200, with the bytes intact; and
/// again when it arrives in chunks.
pub async fn inbound_attachments(h: &Harness) {
    for chunked in [false, true] {
        let (signed, token) = inbound_signed();
        let reply = if chunked {
            h.post_chunked(INBOUND, &signed).await
        } else {
            h.post(INBOUND, &signed).await
        };
        assert!(reply.is(200, "ok"), "chunked={chunked}: {reply:?}");
        assert_eq!(
            h.recorder.calls(&token),
            [Seen::Inbound {
                recipient: Some("support@example.com".into()),
                attachments: attachments()
            }],
            "chunked={chunked}"
        );
    }
}

/// 32 concurrent identical deliveries run the handler exactly once: one `ok`, every other
/// one `in_flight` (409, Mailgun retries) or `duplicate` (200).
pub async fn concurrent(h: &Harness) {
    let (signed, token) = event("slow@example.com");
    let replies = futures_util::future::join_all((0..32).map(|_| h.post(TRACKING, &signed))).await;
    assert_eq!(h.recorder.calls(&token).len(), 1, "{replies:?}");
    let ok = replies.iter().filter(|r| r.is(200, "ok")).count();
    let in_flight = replies.iter().filter(|r| r.is(409, "in_flight")).count();
    let duplicate = replies.iter().filter(|r| r.is(200, "duplicate")).count();
    assert_eq!(ok, 1, "{replies:?}");
    assert_eq!(ok + in_flight + duplicate, 32, "{replies:?}");
    // The handler sleeps 300 ms, so most copies arrive while it runs.
    assert!(in_flight > 0, "{replies:?}");
    // Mailgun's retry of a 409 finds the delivery committed.
    assert!(h.post(TRACKING, &signed).await.is(200, "duplicate"));
    assert_eq!(h.recorder.calls(&token).len(), 1);
}

/// A handler failure answers 500 and releases the delivery: the retry runs the handler again
/// and succeeds, and the one after that is a duplicate.
pub async fn failure_then_retry(h: &Harness) {
    let (signed, token) = event("fail-once@example.com");
    let reply = h.post(TRACKING, &signed).await;
    assert!(reply.is(500, "handler"), "{reply:?}");
    assert_eq!(h.recorder.calls(&token).len(), 1);
    let retry = h.post(TRACKING, &signed).await;
    assert!(retry.is(200, "ok"), "{retry:?}");
    assert_eq!(h.recorder.calls(&token).len(), 2);
    assert!(h.post(TRACKING, &signed).await.is(200, "duplicate"));
    assert_eq!(h.recorder.calls(&token).len(), 2);
}

/// A handler that panics answers 500 and releases the delivery: the retry is processed.
pub async fn panic_then_retry(h: &Harness) {
    let (signed, token) = event("panic-once@example.com");
    let reply = h.post(TRACKING, &signed).await;
    assert!(reply.is(500, "handler"), "{reply:?}");
    assert_eq!(h.recorder.calls(&token).len(), 1);
    let retry = h.post(TRACKING, &signed).await;
    assert!(retry.is(200, "ok"), "{retry:?}");
    assert_eq!(h.recorder.calls(&token).len(), 2);
}

/// An inbound post to the tracking endpoint, or an event to the inbound one, answers 400
/// without reserving it: the same delivery at the right endpoint is then processed.
pub async fn wrong_endpoint(h: &Harness) {
    let (inbound, token) = inbound_signed();
    let reply = h.post(TRACKING, &inbound).await;
    assert!(reply.is(400, "wrong_endpoint"), "{reply:?}");
    assert!(h.recorder.calls(&token).is_empty());
    assert!(h.post(INBOUND, &inbound).await.is(200, "ok"));

    let (event, token) = event("d@example.com");
    let reply = h.post(INBOUND, &event).await;
    assert!(reply.is(400, "wrong_endpoint"), "{reply:?}");
    assert!(h.post(TRACKING, &event).await.is(200, "ok"));
    assert_eq!(h.recorder.calls(&token).len(), 1);
}

/// A compressed body answers 415 before anything is read; a missing or unknown content
/// type answers 415; a malformed body 400.
pub async fn bad_requests(h: &Harness) {
    let (signed, token) = event("e@example.com");
    let body = Full::new(Bytes::from(signed.body.clone())).boxed();
    let reply = h
        .send(
            TRACKING,
            &signed.content_type,
            body,
            &[("content-encoding", "gzip")],
        )
        .await;
    assert!(reply.is(415, "unsupported_content_encoding"), "{reply:?}");

    let body = Full::new(Bytes::from(signed.body.clone())).boxed();
    let reply = h.send(TRACKING, "text/plain", body, &[]).await;
    assert!(reply.is(415, "unsupported_content_type"), "{reply:?}");

    let body = Full::new(Bytes::from_static(b"{\"signature\": ")).boxed();
    let reply = h.send(TRACKING, "application/json", body, &[]).await;
    assert!(reply.is(400, "malformed"), "{reply:?}");
    assert_eq!(h.recorder.total(), 0);

    // None of these reserved the delivery.
    assert!(h.post(TRACKING, &signed).await.is(200, "ok"));
    assert_eq!(h.recorder.calls(&token).len(), 1);
}

// ----- one signed delivery, one payload (issue 8) -----

/// A client hangs up while the handler awaits; the same triple is then sent with two other
/// bodies: both are refused (401 `payload_mismatch`) and never reach the handler. The handler
/// of the first request runs to completion on its own task and commits, so the original is a
/// duplicate afterwards.
pub async fn hang_up_then_other_bodies(h: &Harness) {
    let (ts, token) = (now(), token());
    let original = event_with(ts, &token, "hang-a@example.com");
    h.post_and_hang_up(TRACKING, &original, Duration::from_millis(150))
        .await;
    for other in ["attacker-b@example.com", "attacker-c@example.com"] {
        let reply = h.post(TRACKING, &event_with(ts, &token, other)).await;
        assert!(reply.is(401, "payload_mismatch"), "{other}: {reply:?}");
    }
    // The first handler call finishes although its client is gone.
    wait_for(|| h.recorder.finished(&token) == 1).await;
    for other in ["attacker-d@example.com", "hang-a@example.com "] {
        let reply = h.post(TRACKING, &event_with(ts, &token, other)).await;
        assert!(reply.is(401, "payload_mismatch"), "{other}: {reply:?}");
    }
    let reply = h.post(TRACKING, &original).await;
    assert!(reply.is(200, "duplicate"), "{reply:?}");
    assert_eq!(
        h.recorder.calls(&token),
        [Seen::Event {
            kind: EventKind::Delivered,
            recipient: Some("hang-a@example.com".into())
        }],
        "one side effect, from the first payload only"
    );
}

/// Polls `done` for up to 5 s.
pub async fn wait_for(done: impl Fn() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting");
}

/// A handler error releases the delivery for its own payload only: another body under the same
/// triple is refused; Mailgun's retry of the original is processed.
pub async fn failure_then_other_body(h: &Harness) {
    let (ts, token) = (now(), token());
    let original = event_with(ts, &token, "fail-once-x@example.com");
    assert!(h.post(TRACKING, &original).await.is(500, "handler"));
    let reply = h
        .post(TRACKING, &event_with(ts, &token, "attacker@example.com"))
        .await;
    assert!(reply.is(401, "payload_mismatch"), "{reply:?}");
    let reply = h.post(TRACKING, &original).await;
    assert!(reply.is(200, "ok"), "{reply:?}");
    let recipients: Vec<Seen> = h.recorder.calls(&token);
    assert_eq!(recipients.len(), 2);
    assert!(recipients.iter().all(
        |s| matches!(s, Seen::Event { recipient: Some(r), .. } if r == "fail-once-x@example.com")
    ));
}

/// A handler error, then Mailgun's retry of the same delivery re-encoded (re-serialised JSON; a
/// form as multipart with another boundary; every byte percent-encoded): processed.
pub async fn failure_then_same_delivery_reencoded(h: &Harness) {
    // JSON, re-serialised.
    let (ts, token) = (now(), token());
    let original = event_with(ts, &token, "fail-once-json@example.com");
    assert!(h.post(TRACKING, &original).await.is(500, "handler"));
    let reply = h.post(TRACKING, &reserialised(&original)).await;
    assert!(reply.is(200, "ok"), "{reply:?}");
    assert!(h.post(TRACKING, &original).await.is(200, "duplicate"));

    // A legacy form event: urlencoded first, then multipart, then percent-encoded otherwise.
    let token = mailgun_webhooks::testing::token();
    let form = FormBody::new()
        .field("event", "delivered")
        .field("recipient", "fail-once-form@example.com")
        .field("domain", "example.com")
        .field("message-headers", "[[\"Subject\", \"Hi & bye\"]]")
        .field("Message-Id", "<abc@example.com>")
        .sign(&key(), now(), &token);
    let urlencoded = form.urlencoded();
    assert!(h.post(TRACKING, &urlencoded).await.is(500, "handler"));
    let multipart = new_boundary(&form.multipart());
    let reply = h.post(TRACKING, &multipart).await;
    assert!(reply.is(200, "ok"), "{reply:?}");
    let reply = h.post(TRACKING, &fully_percent_encoded(&urlencoded)).await;
    assert!(reply.is(200, "duplicate"), "{reply:?}");
    // A changed value is another payload.
    let changed = FormBody::new()
        .field("event", "delivered")
        .field("recipient", "fail-once-form@example.com")
        .field("domain", "example.com")
        .field("message-headers", "[[\"Subject\", \"Hi & bye!\"]]")
        .field("Message-Id", "<abc@example.com>")
        .sign(&key(), now(), &token);
    let reply = h.post(TRACKING, &changed.urlencoded()).await;
    assert!(reply.is(401, "payload_mismatch"), "{reply:?}");
    assert_eq!(h.recorder.calls(&token).len(), 2);
}

/// A panicking handler: another body is refused, the same one is processed.
pub async fn panic_then_other_body(h: &Harness) {
    let (ts, token) = (now(), token());
    let original = event_with(ts, &token, "panic-once-y@example.com");
    assert!(h.post(TRACKING, &original).await.is(500, "handler"));
    let reply = h
        .post(TRACKING, &event_with(ts, &token, "attacker@example.com"))
        .await;
    assert!(reply.is(401, "payload_mismatch"), "{reply:?}");
    assert!(h.post(TRACKING, &original).await.is(200, "ok"));
    assert_eq!(h.recorder.calls(&token).len(), 2);
}

/// Two accounts share one store: whoever holds account A's key pre-commits a token of account
/// B under A; B's real delivery of that triple is still processed.
pub async fn two_accounts_on_one_store(h: &Harness) {
    let (ts, token) = (now(), token());
    let key_b = SigningKey::new(KEY_B);
    let planted = json_body(&key(), ts, &token, event_data(ts, "planted@example.com"));
    assert!(h.post(TRACKING, &planted).await.is(200, "ok"));
    let real = json_body(&key_b, ts, &token, event_data(ts, "real-b@example.com"));
    let reply = h.post(TRACKING_B, &real).await;
    assert!(reply.is(200, "ok"), "{reply:?}");
    assert!(h.post(TRACKING_B, &real).await.is(200, "duplicate"));
    assert_eq!(h.recorder.calls(&token).len(), 2);
}

/// A sub-account delivery (valid `signature` and `parent-signature`) whose client hangs up;
/// then the same triple with a garbled `signature`, the valid `parent-signature` and another
/// body: refused, because the parent key shares the account's namespace.
pub async fn parent_signature_variant_after_hang_up(h: &Harness) {
    let (ts, token) = (now(), token());
    let original = sub_account_event(ts, &token, "hang-parent@example.com", false);
    h.post_and_hang_up(TRACKING, &original, Duration::from_millis(150))
        .await;
    let variant = sub_account_event(ts, &token, "attacker@example.com", true);
    let reply = h.post(TRACKING, &variant).await;
    assert!(reply.is(401, "payload_mismatch"), "{reply:?}");
    wait_for(|| h.recorder.finished(&token) == 1).await;
    let reply = h.post(TRACKING, &variant).await;
    assert!(reply.is(401, "payload_mismatch"), "{reply:?}");
    // The same payload through the parent signature alone is the same delivery.
    let same = sub_account_event(ts, &token, "hang-parent@example.com", true);
    assert!(h.post(TRACKING, &same).await.is(200, "duplicate"));
    assert_eq!(h.recorder.calls(&token).len(), 1);
}

// ----- the README shows the code the doc tests compile -----

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The `no_run` example of an adapter module's docs, without the `//! ` prefixes.
pub fn module_example(path: &str) -> String {
    let source = read(path);
    let mut lines = source
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .map(|l| {
            l.strip_prefix("//! ")
                .unwrap_or(l.trim_start_matches("//!"))
        })
        .skip_while(|l| !l.starts_with("```no_run"));
    assert!(lines.next().is_some(), "no ```no_run example in {path}");
    lines
        .take_while(|l| !l.starts_with("```"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first ```rust block after the line `heading` in README.md.
pub fn readme_example(heading: &str) -> String {
    let readme = read("README.md");
    let mut lines = readme
        .lines()
        .skip_while(|l| *l != heading)
        .skip_while(|l| !l.starts_with("```rust"));
    assert!(
        lines.next().is_some(),
        "no ```rust block after {heading:?} in README.md"
    );
    lines
        .take_while(|l| *l != "```")
        .collect::<Vec<_>>()
        .join("\n")
}

/// Fails when README.md's snippet for a framework differs from the module's compiled doc test.
pub fn readme_matches_module_docs(heading: &str, module: &str) {
    let (readme, docs) = (readme_example(heading), module_example(module));
    assert!(docs.lines().count() > 20, "{module}: {docs}");
    assert_eq!(
        readme, docs,
        "README.md {heading:?} differs from the doc test in {module}"
    );
}
