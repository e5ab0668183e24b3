//! A fake Mailgun API on 127.0.0.1:0 for the `api` and `cli` tests.
//!
//! It behaves like the real one where the client depends on it: HTTP Basic `api:<key>` or 401,
//! form validation (`id`, `url` repeated at most 3 times, `event_types`), the recorded
//! responses of `../shared/fixtures/captured/management-api/`, Events API pages linked by
//! `paging.next` until an empty page, a 429 with `retry-seconds` once, stored messages and
//! attachments. It records every request it gets.
//!
//! Domains choose the behaviour:
//! - `ruby.test`: the mailgun-ruby VCR recording (create, get, list, update, delete);
//! - `current.test` / `legacy.test`: the mailgun-php list fixtures (current / legacy ids);
//! - `ratelimited.test`: the first request answers 429 `{"retry-seconds": 1}`;
//! - `slowdown.test`: always 429 `{"retry-seconds": 3600}`;
//! - `flaky.test`: the first request answers 503 with `Retry-After: 1`;
//! - `events.test`: [`EVENT_COUNT`] events, paged; `hostile-paging.test`: the recorded Events
//!   page whose `paging.next` is `https://next`;
//! - anything else: 404 `{"message": "Domain not found"}`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub const API_KEY: &str = "key-fake-api-0123456789";
pub const EVENT_COUNT: usize = 7;
pub const STORED_MIME: &str = "From: Bob <bob@example.net>\r\nSubject: Stored\r\n\r\nHello.\r\n";
pub const ATTACHMENT: &[u8] = b"Invoice 10042: 3 items, 42.00 EUR total.";

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub form: Vec<(String, String)>,
    pub authorized: bool,
    pub accept: Option<String>,
}

impl Recorded {
    pub fn form_all(&self, name: &str) -> Vec<&str> {
        self.form
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    base: String,
    requests: Mutex<Vec<Recorded>>,
    rate_limited: AtomicBool,
    flaked: AtomicBool,
}

/// A running fake; stops when dropped.
pub struct FakeApi {
    pub addr: SocketAddr,
    pub base: String,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeApi {
    pub async fn start() -> FakeApi {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let state = Arc::new(State {
            base: base.clone(),
            ..State::default()
        });
        let s = state.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let s = s.clone();
                async move { handle(&s, method, uri, headers, body) }
            },
        );
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeApi {
            addr,
            base,
            state,
            task,
        }
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.state.requests.lock().unwrap().len()
    }
}

pub fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/captured")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (the shared fixtures are needed)", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn basic(key: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("api:{key}").into_bytes();
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(T[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}

fn answer(status: StatusCode, body: Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn message(status: StatusCode, msg: &str) -> Response {
    answer(status, json!({ "message": msg }))
}

/// The events of `events.test`, oldest first, with ids `ev-1` ...
pub fn events() -> Vec<Value> {
    (1..=EVENT_COUNT)
        .map(|i| {
            let kind = ["delivered", "opened", "failed", "clicked"][i % 4];
            let mut e =
                mailgun_webhooks::testing::sample_event_data(kind, 1_767_225_600 + i as u64)
                    .unwrap();
            e["id"] = json!(format!("ev-{i}"));
            e
        })
        .collect()
}

fn handle(s: &State, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(uri.query().unwrap_or_default()).unwrap_or_default();
    let is_form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let form: Vec<(String, String)> = if is_form {
        serde_urlencoded::from_bytes(&body).unwrap()
    } else {
        Vec::new()
    };
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == basic(API_KEY));
    let rec = Recorded {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: query.clone(),
        form: form.clone(),
        authorized,
        accept: headers
            .get("accept")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    s.requests.lock().unwrap().push(rec.clone());
    if !authorized {
        return (StatusCode::UNAUTHORIZED, "Forbidden").into_response();
    }
    let segs: Vec<&str> = uri.path().trim_start_matches('/').split('/').collect();
    match (method.as_str(), segs.as_slice()) {
        (_, ["v3", "domains", "ratelimited.test", ..])
            if !s.rate_limited.swap(true, Ordering::SeqCst) =>
        {
            answer(StatusCode::TOO_MANY_REQUESTS, json!({"retry-seconds": 1}))
        }
        (_, ["v3", "domains", "slowdown.test", ..]) => answer(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"retry-seconds": 3600}),
        ),
        ("GET", ["v3", "domains", "flaky.test", ..]) if !s.flaked.swap(true, Ordering::SeqCst) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [("retry-after", "1")],
            "try again",
        )
            .into_response(),
        (_, ["v3", "domains", domain, "webhooks", rest @ ..]) => v3(&method, domain, rest, &rec),
        (_, ["v4", "domains", _, "webhooks"]) => v4(&method, &rec),
        (_, ["v1", "webhooks", rest @ ..]) => v1(&method, rest, &rec),
        ("GET", ["v3", "domains", _, "messages", key]) => stored_message(key, &rec),
        ("GET", ["v3", "domains", _, "messages", key, "attachments", n]) => {
            if *key == "BIG" {
                return (StatusCode::OK, vec![b'x'; 4096]).into_response();
            }
            match *n {
                "0" => (
                    StatusCode::OK,
                    [("content-type", "text/plain")],
                    ATTACHMENT.to_vec(),
                )
                    .into_response(),
                _ => message(StatusCode::NOT_FOUND, "Attachment not found"),
            }
        }
        ("GET", ["v3", "events.test", "events", rest @ ..]) => events_page(s, rest, &rec),
        ("GET", ["v3", "hostile-paging.test", "events"]) => answer(
            StatusCode::OK,
            fixture("mailgun-go/events-api-response-page.json"),
        ),
        _ => message(StatusCode::NOT_FOUND, "Domain not found"),
    }
}

fn check_urls(urls: &[&str]) -> Option<Response> {
    if urls.is_empty() {
        return Some(message(StatusCode::BAD_REQUEST, "url is missing"));
    }
    if urls.len() > 3 {
        return Some(message(
            StatusCode::BAD_REQUEST,
            "at most 3 urls per webhook",
        ));
    }
    None
}

fn v3(method: &Method, domain: &str, rest: &[&str], rec: &Recorded) -> Response {
    let known = [
        "ruby.test",
        "current.test",
        "legacy.test",
        "ratelimited.test",
        "flaky.test",
    ];
    if !known.contains(&domain) {
        return message(StatusCode::NOT_FOUND, "Domain not found");
    }
    match (method.as_str(), rest) {
        ("GET", []) => match domain {
            "current.test" => answer(
                StatusCode::OK,
                fixture("management-api/php-list-webhooks-current-ids.json"),
            ),
            "legacy.test" => answer(
                StatusCode::OK,
                fixture("management-api/php-list-webhooks-legacy-ids.json"),
            ),
            _ => answer(
                StatusCode::OK,
                fixture("management-api/ruby-vcr-02-get-domains-domain-test-webhooks.json"),
            ),
        },
        ("GET", [id]) => match *id {
            "accepted" => answer(
                StatusCode::OK,
                fixture(
                    "management-api/ruby-vcr-01-get-domains-domain-test-webhooks-accepted.json",
                ),
            ),
            "clicked" => answer(
                StatusCode::OK,
                fixture("management-api/php-get-webhook.json"),
            ),
            _ => message(StatusCode::NOT_FOUND, "Webhook not found"),
        },
        ("POST", []) => {
            let ids = rec.form_all("id");
            if ids.len() != 1 || ids[0].is_empty() {
                return message(StatusCode::BAD_REQUEST, "id is missing");
            }
            if let Some(bad) = check_urls(&rec.form_all("url")) {
                return bad;
            }
            answer(
                StatusCode::OK,
                fixture("management-api/ruby-vcr-00-post-domains-domain-test-webhooks.json"),
            )
        }
        ("PUT", [_id]) => {
            if let Some(bad) = check_urls(&rec.form_all("url")) {
                return bad;
            }
            answer(
                StatusCode::OK,
                fixture(
                    "management-api/ruby-vcr-03-put-domains-domain-test-webhooks-accepted.json",
                ),
            )
        }
        ("DELETE", [_id]) => answer(
            StatusCode::OK,
            fixture("management-api/ruby-vcr-04-delete-domains-domain-test-webhooks-accepted.json"),
        ),
        _ => message(StatusCode::METHOD_NOT_ALLOWED, "not allowed"),
    }
}

fn v4(method: &Method, rec: &Recorded) -> Response {
    if method == Method::DELETE {
        return match rec.query("url") {
            Some(_) => message(StatusCode::OK, "Webhook has been deleted"),
            None => message(StatusCode::BAD_REQUEST, "url is missing"),
        };
    }
    let urls = rec.form_all("url");
    let events = rec.form_all("event_types");
    if urls.len() != 1 || events.is_empty() {
        return message(
            StatusCode::BAD_REQUEST,
            "one url and event_types are required",
        );
    }
    let map: serde_json::Map<String, Value> = events
        .iter()
        .map(|e| ((*e).to_owned(), json!({"urls": [urls[0]]})))
        .collect();
    answer(
        StatusCode::OK,
        json!({"message": "Webhook has been created", "webhooks": map}),
    )
}

fn v1(method: &Method, rest: &[&str], rec: &Recorded) -> Response {
    let hook = json!({"webhook_id": "wh-1", "url": "https://example.com/all",
                      "event_types": ["delivered", "permanent_fail"], "description": "all"});
    match (method.as_str(), rest) {
        ("GET", []) => answer(StatusCode::OK, json!({"webhooks": [hook]})),
        ("GET", ["wh-1"]) => answer(StatusCode::OK, hook),
        ("POST", []) | ("PUT", ["wh-1"]) => {
            if rec.form_all("url").len() != 1 || rec.form_all("event_types").is_empty() {
                return message(StatusCode::BAD_REQUEST, "url and event_types are required");
            }
            answer(
                StatusCode::OK,
                json!({"webhook_id": "wh-2", "message": "ok"}),
            )
        }
        ("DELETE", []) => match rec.query("webhook_ids") {
            Some(_) => message(StatusCode::OK, "Webhooks have been deleted"),
            None => message(StatusCode::BAD_REQUEST, "webhook_ids or all is required"),
        },
        _ => message(StatusCode::NOT_FOUND, "Webhook not found"),
    }
}

fn stored_message(key: &str, rec: &Recorded) -> Response {
    if key == "BIG" {
        return answer(StatusCode::OK, json!({"body-mime": "x".repeat(4096)}));
    }
    if key != "BAABAQ" {
        return message(StatusCode::NOT_FOUND, "Message not found");
    }
    if rec.accept.as_deref() == Some("message/rfc2822") {
        answer(
            StatusCode::OK,
            json!({"recipient": "support@mg.example.com", "sender": "bob@example.net",
                   "from": "Bob <bob@example.net>", "subject": "Stored",
                   "body-mime": STORED_MIME}),
        )
    } else {
        answer(
            StatusCode::OK,
            json!({"recipient": "support@mg.example.com", "sender": "bob@example.net",
                   "subject": "Stored", "body-plain": "Hello.\r\n",
                   "attachments": [{"name": "invoice.txt", "size": ATTACHMENT.len()}]}),
        )
    }
}

/// `/v3/events.test/events` (first page) and `/v3/events.test/events/page-N` (next pages).
fn events_page(s: &State, rest: &[&str], rec: &Recorded) -> Response {
    let all = events();
    let limit: usize = rec.query("limit").and_then(|l| l.parse().ok()).unwrap_or(3);
    let offset: usize = match rest {
        [] => 0,
        [page] => page
            .strip_prefix("page-")
            .and_then(|n| n.parse().ok())
            .unwrap_or(usize::MAX),
        _ => usize::MAX,
    };
    let items: Vec<Value> = all.iter().skip(offset).take(limit).cloned().collect();
    let next = offset.saturating_add(items.len());
    answer(
        StatusCode::OK,
        json!({
            "items": items,
            "paging": {
                "next": format!("{}/v3/events.test/events/page-{next}?limit={limit}", s.base),
                "previous": format!("{}/v3/events.test/events/page-0?limit={limit}", s.base),
                "first": format!("{}/v3/events.test/events/page-0?limit={limit}", s.base),
                "last": format!("{}/v3/events.test/events/page-{}?limit={limit}", s.base, all.len()),
            }
        }),
    )
}
