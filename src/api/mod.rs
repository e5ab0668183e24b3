//! A typed async client for the parts of Mailgun's API that go with webhooks (feature `api`).
//!
//! - [webhooks](Client::webhooks): list, get, create, update and delete the webhooks of a domain
//!   (v3, up to three URLs per event; v4, one URL for many events) and of the account (v1);
//! - [stored messages](Client::fetch_stored_message): fetch what a `store(notify=...)` route
//!   kept, only from Mailgun's own storage hosts, under a size cap, streamed into any writer;
//! - [events](Client::events): page through the Events API, each item parsed as the same
//!   [`Event`](crate::Event) the webhooks give;
//! - [sending-side variables](SendingVariables): attach typed custom variables and tags when
//!   sending, so that `user_variables().deserialize()` gives them back in the webhook.
//!
//! ```no_run
//! use mailgun_webhooks::api::{Client, Region, WebhookId};
//!
//! # async fn demo() -> Result<(), mailgun_webhooks::api::ApiError> {
//! let client = Client::builder(std::env::var("MAILGUN_API_KEY").unwrap_or_default())
//!     .region(Region::Eu)
//!     .build()?;
//! let hooks = client.webhooks("mg.example.com");
//! hooks.create(&WebhookId::Delivered, &["https://example.com/webhooks/mailgun"]).await?;
//! for hook in hooks.list().await? {
//!     println!("{}: {:?}", hook.id, hook.urls);
//! }
//! # Ok(()) }
//! ```
//!
//! Requests authenticate with HTTP Basic `api:<API key>`. The key is never printed
//! (`Debug` shows `[redacted]`) and is only ever sent to the client's base URL and, for stored
//! messages, to `https` hosts under `mailgun.net`. Redirects are never followed.
//!
//! Retries: a 429 answer is retried for every method, a 5xx answer (and a connection error)
//! only for `GET`, `PUT` and `DELETE`, since a `POST` may have taken effect. The wait is the
//! server's `Retry-After` header or Mailgun's `{"retry-seconds": N}`, else an exponential
//! backoff from 250 ms; a wait longer than [`ClientBuilder::max_retry_wait`] is not waited for:
//! the error is returned at once.
//!
//! Every method is a future: dropping it cancels the request in flight; nothing is left behind
//! on this side (a request already sent may still take effect at Mailgun).

mod events;
mod sending;
mod stored;
mod webhooks;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};

pub use events::{EventItem, EventPages, EventsQuery};
pub use sending::SendingVariables;
pub use stored::{DEFAULT_MAX_DOWNLOAD, StoredFormat};
pub use webhooks::{
    AccountWebhook, AccountWebhooks, DomainWebhook, DomainWebhooks, WebhookId, WebhooksV4,
};

/// The longest error message kept from an API answer, in bytes.
const MAX_MESSAGE: usize = 300;

/// A Mailgun region: the base URL of its API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Region {
    /// `https://api.mailgun.net`
    #[default]
    Us,
    /// `https://api.eu.mailgun.net`
    Eu,
}

impl Region {
    /// The region's API base URL.
    pub fn base_url(self) -> &'static str {
        match self {
            Region::Us => "https://api.mailgun.net",
            Region::Eu => "https://api.eu.mailgun.net",
        }
    }

    /// `us` or `eu` (case-insensitive).
    pub fn from_name(name: &str) -> Option<Region> {
        if name.eq_ignore_ascii_case("us") {
            Some(Region::Us)
        } else if name.eq_ignore_ascii_case("eu") {
            Some(Region::Eu)
        } else {
            None
        }
    }
}

/// An error from the Mailgun API client.
///
/// Messages never contain the API key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The API answered 401.
    #[error(
        "mailgun api answered 401 unauthorized: check the API key (Mailgun dashboard: API \
         security, a private API key), not the webhook signing key, and the region"
    )]
    Unauthorized,
    /// The API answered another error status.
    #[error("mailgun api answered {status}: {message}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// Mailgun's `message` (or the start of the body), at most 300 bytes.
        message: String,
    },
    /// The request could not be sent or its answer not read (connection, timeout, TLS).
    #[error("request to the mailgun api failed: {0}")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The answer was not what the API documents.
    #[error("unexpected answer from the mailgun api: {0}")]
    InvalidResponse(String),
    /// An argument the API would refuse (no URL, more than three, an empty domain, ...).
    #[error("invalid argument: {0}")]
    InvalidInput(String),
    /// A stored message's URL is not an `https` URL on a `mailgun.net` host; nothing was sent.
    #[error(
        "refused to fetch a stored message from a URL that is not https on a mailgun.net host \
         (the API key is only sent to Mailgun)"
    )]
    UntrustedUrl,
    /// A download was larger than the configured cap.
    #[error("download exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The cap, in bytes.
        limit: u64,
    },
    /// Writing a download failed.
    #[error("writing the download failed: {0}")]
    Io(#[from] std::io::Error),
}

impl ApiError {
    /// The HTTP status the API answered, for [`Unauthorized`](Self::Unauthorized) and
    /// [`Status`](Self::Status).
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Unauthorized => Some(401),
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    fn transport(e: reqwest::Error) -> ApiError {
        // reqwest's message names the URL (without the key, which travels in a header).
        ApiError::Transport(Box::new(e))
    }
}

/// An API key, redacted in `Debug`.
#[derive(Clone)]
struct ApiKey(String);

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A Mailgun API client. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    base: String,
    key: ApiKey,
    max_retries: u32,
    max_retry_wait: Duration,
    max_download: u64,
    storage_origin: Option<String>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base)
            .field("api_key", &self.inner.key)
            .field("max_retries", &self.inner.max_retries)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Client`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ClientBuilder {
    key: ApiKey,
    base: String,
    timeout: Duration,
    connect_timeout: Duration,
    max_retries: u32,
    max_retry_wait: Duration,
    max_download: u64,
    storage_origin: Option<String>,
    user_agent: String,
}

impl ClientBuilder {
    /// The region (default US). Replaces a [`base_url`](Self::base_url).
    pub fn region(mut self, region: Region) -> Self {
        self.base = region.base_url().to_owned();
        self
    }

    /// A custom API base URL, such as a proxy or a test server (`http://127.0.0.1:8080`).
    /// The API key is sent to it.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base = url.into().trim_end_matches('/').to_owned();
        self
    }

    /// The whole-request timeout (default 30 s; downloads of stored messages included).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The connection timeout (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How many times a request is retried after a 429, a 5xx or a connection error
    /// (default 3; 0 disables retries).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// The longest wait before a retry (default 60 s). When the server asks for a longer
    /// wait (`Retry-After`, `retry-seconds`), the error is returned instead.
    pub fn max_retry_wait(mut self, wait: Duration) -> Self {
        self.max_retry_wait = wait;
        self
    }

    /// The largest stored message or attachment downloaded, in bytes (default
    /// [`DEFAULT_MAX_DOWNLOAD`], 64 MiB).
    pub fn max_download(mut self, bytes: u64) -> Self {
        self.max_download = bytes;
        self
    }

    /// Sends stored-message requests to `origin` (`http://127.0.0.1:8080`) instead of the
    /// storage host, with the same path and query: for tests and for an egress proxy.
    ///
    /// The URL is still checked first: a URL that is not `https` on a `mailgun.net` host is
    /// refused and nothing is sent anywhere.
    pub fn storage_origin(mut self, origin: impl Into<String>) -> Self {
        self.storage_origin = Some(origin.into().trim_end_matches('/').to_owned());
        self
    }

    /// The `User-Agent` header (default `mailgun-webhooks/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<Client, ApiError> {
        if self.key.0.trim().is_empty() {
            return Err(ApiError::InvalidInput(
                "the API key is empty (set MAILGUN_API_KEY or pass it)".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(self.user_agent)
            .build()
            .map_err(ApiError::transport)?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base: self.base,
                key: self.key,
                max_retries: self.max_retries,
                max_retry_wait: self.max_retry_wait,
                max_download: self.max_download,
                storage_origin: self.storage_origin,
            }),
        })
    }
}

/// One request, kept so that it can be sent again.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    method: Method,
    url: String,
    query: Vec<(String, String)>,
    form: Option<Vec<(String, String)>>,
    accept: Option<&'static str>,
}

impl Call {
    pub(crate) fn new(method: Method, url: String) -> Call {
        Call {
            method,
            url,
            query: Vec::new(),
            form: None,
            accept: None,
        }
    }

    pub(crate) fn query(mut self, name: &str, value: impl Into<String>) -> Call {
        self.query.push((name.to_owned(), value.into()));
        self
    }

    pub(crate) fn form(mut self, form: Vec<(String, String)>) -> Call {
        self.form = Some(form);
        self
    }

    pub(crate) fn accept(mut self, accept: &'static str) -> Call {
        self.accept = Some(accept);
        self
    }
}

impl Client {
    /// A client for the US region with default settings.
    pub fn new(api_key: impl Into<String>) -> Result<Client, ApiError> {
        Client::builder(api_key).build()
    }

    /// A builder: region or base URL, timeouts, retries, download cap.
    pub fn builder(api_key: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            key: ApiKey(api_key.into()),
            base: Region::Us.base_url().to_owned(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_retries: 3,
            max_retry_wait: Duration::from_secs(60),
            max_download: DEFAULT_MAX_DOWNLOAD,
            storage_origin: None,
            user_agent: concat!("mailgun-webhooks/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }

    /// The API base URL requests go to.
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    /// `base + path`, with each `{}`-free segment already escaped by the caller.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.inner.base)
    }

    /// Sends `call`, retrying as documented on the module; any status but 2xx is an error.
    pub(crate) async fn send(&self, call: &Call) -> Result<reqwest::Response, ApiError> {
        let idempotent = call.method != Method::POST;
        let mut attempt: u32 = 0;
        loop {
            let mut req = self
                .inner
                .http
                .request(call.method.clone(), &call.url)
                .basic_auth("api", Some(&self.inner.key.0));
            if !call.query.is_empty() {
                req = req.query(&call.query);
            }
            if let Some(form) = &call.form {
                req = req.form(form);
            }
            if let Some(accept) = call.accept {
                req = req.header(reqwest::header::ACCEPT, accept);
            }
            let retries_left = attempt < self.inner.max_retries;
            let response = match req.send().await {
                Ok(r) => r,
                Err(e) if retries_left && idempotent && (e.is_connect() || e.is_timeout()) => {
                    tokio::time::sleep(self.backoff(attempt, None).unwrap_or_default()).await;
                    attempt = attempt.saturating_add(1);
                    continue;
                }
                Err(e) => return Err(ApiError::transport(e)),
            };
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            if status == StatusCode::UNAUTHORIZED {
                return Err(ApiError::Unauthorized);
            }
            let retryable =
                status == StatusCode::TOO_MANY_REQUESTS || (status.is_server_error() && idempotent);
            let header_wait = retry_after(response.headers());
            let body = read_capped(response, 64 * 1024).await.unwrap_or_default();
            let wait = header_wait.or_else(|| retry_seconds(&body));
            if retryable
                && retries_left
                && let Some(wait) = self.backoff(attempt, wait)
            {
                // Dropping the future here only abandons the wait: nothing was sent yet.
                tokio::time::sleep(wait).await;
                attempt = attempt.saturating_add(1);
                continue;
            }
            return Err(ApiError::Status {
                status: status.as_u16(),
                message: error_message(&body),
            });
        }
    }

    /// The wait before retry number `attempt + 1`, or `None` when the server asks for more
    /// than `max_retry_wait`.
    fn backoff(&self, attempt: u32, asked: Option<Duration>) -> Option<Duration> {
        match asked {
            Some(wait) if wait > self.inner.max_retry_wait => None,
            Some(wait) => Some(wait),
            None => {
                let exp = Duration::from_millis(250).saturating_mul(2u32.saturating_pow(attempt));
                Some(exp.min(self.inner.max_retry_wait))
            }
        }
    }

    /// Sends `call` and decodes a JSON answer.
    pub(crate) async fn json(&self, call: &Call) -> Result<serde_json::Value, ApiError> {
        let response = self.send(call).await?;
        let body = read_capped(response, 16 * 1024 * 1024).await?;
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::InvalidResponse(format!("not JSON: {e}")))
    }
}

/// `Retry-After` in seconds (the HTTP-date form is ignored: backoff applies).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Mailgun's `{"retry-seconds": N}` rate-limit answer.
fn retry_seconds(body: &[u8]) -> Option<Duration> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let n = v.get("retry-seconds")?;
    let secs = n
        .as_u64()
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(|f| f.ceil() as u64)
        })
        .or_else(|| n.as_str().and_then(|s| s.trim().parse().ok()))?;
    Some(Duration::from_secs(secs))
}

/// Mailgun's `message` from an error answer, or the start of the body, bounded.
fn error_message(body: &[u8]) -> String {
    let text = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .or_else(|| v.get("Description"))
                .and_then(|m| m.as_str().map(str::to_owned))
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let text: String = text.chars().filter(|c| !c.is_control()).collect();
    truncate(text.trim(), MAX_MESSAGE)
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Reads a response body, refusing more than `limit` bytes.
async fn read_capped(mut response: reqwest::Response, limit: u64) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(ApiError::transport)? {
        let len = u64::try_from(out.len().saturating_add(chunk.len())).unwrap_or(u64::MAX);
        if len > limit {
            return Err(ApiError::TooLarge { limit });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Escapes one path segment (domain names, webhook ids).
fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Refuses an empty domain (which would address another endpoint).
fn domain(domain: &str) -> Result<String, ApiError> {
    let d = domain.trim();
    if d.is_empty() {
        return Err(ApiError::InvalidInput("the domain is empty".into()));
    }
    Ok(segment(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_redacted() {
        let client = Client::new("key-secret-123").unwrap();
        let dbg = format!("{client:?}");
        assert!(!dbg.contains("secret"), "{dbg}");
        assert!(dbg.contains("[redacted]"));
        assert!(!format!("{:?}", Client::builder("key-secret-123")).contains("secret"));
    }

    #[test]
    fn retry_seconds_and_messages() {
        assert_eq!(
            retry_seconds(br#"{"retry-seconds": 60}"#),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            retry_seconds(br#"{"retry-seconds": "2"}"#),
            Some(Duration::from_secs(2))
        );
        assert_eq!(retry_seconds(b"nope"), None);
        assert_eq!(
            error_message(br#"{"message":"Domain not found"}"#),
            "Domain not found"
        );
        assert_eq!(
            error_message(&[b'x'; 1000]).len(),
            MAX_MESSAGE + '…'.len_utf8()
        );
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
        assert!(domain(" ").is_err());
    }
}
