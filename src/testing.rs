//! Helpers for testing your own webhook handlers: sign payloads and build signed request
//! bodies in all three encodings Mailgun uses.
//!
//! Enabled by the `test-util` feature; add it to your `[dev-dependencies]`:
//!
//! ```toml
//! mailgun-webhooks = { version = "0.1", features = ["test-util"] }
//! ```
//!
//! ```
//! use mailgun_webhooks::testing::{json_body, token, FormBody};
//! use mailgun_webhooks::{SigningKey, Verifier};
//!
//! let key = SigningKey::new("test-key");
//! let now = 1_700_000_000;
//! let signed = json_body(&key, now, &token(), serde_json::json!({"event": "delivered"}));
//! let verifier = Verifier::new(key.clone());
//! let unverified = verifier.parse(&signed.content_type, &signed.body)?;
//! # use std::time::{Duration, UNIX_EPOCH};
//! verifier.verify_at(unverified, UNIX_EPOCH + Duration::from_secs(now))?;
//!
//! // A legacy bounce, as multipart with the original message attached:
//! let bounce = FormBody::new()
//!     .field("event", "bounced")
//!     .field("recipient", "alice@example.com")
//!     .file("attachment-1", "message.mime", "application/octet-stream", b"Subject: hi\r\n\r\n".to_vec())
//!     .sign(&key, now, &token())
//!     .multipart();
//! assert!(bounce.content_type.starts_with("multipart/form-data; boundary="));
//! # Ok::<(), mailgun_webhooks::Error>(())
//! ```

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::event::EventKind;
use crate::key::SigningKey;
use crate::verify::{Clock, Format, Verifier};

/// A request body with the `Content-Type` to send it with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignedBody {
    /// The `Content-Type` header value.
    pub content_type: String,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl SignedBody {
    /// A body with its content type.
    pub fn new(content_type: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        SignedBody {
            content_type: content_type.into(),
            body: body.into(),
        }
    }

    /// A `POST /` request carrying the body, with its `Content-Type` and `Content-Length`:
    /// what Mailgun sends. Set another URI with `*request.uri_mut() = ...`. A `content_type`
    /// that is not a valid header value (you set the field yourself) is left out.
    ///
    /// ```
    /// use mailgun_webhooks::testing::Signer;
    /// use mailgun_webhooks::{EventKind, SigningKey};
    ///
    /// let request = Signer::new(SigningKey::new("test-key")).sample(EventKind::Opened).into_request();
    /// assert_eq!(request.method(), "POST");
    /// assert_eq!(request.headers()["content-type"], "application/json");
    /// assert_eq!(request.headers()["content-length"], request.body().len().to_string().as_str());
    /// ```
    pub fn into_request(self) -> http::Request<Bytes> {
        let length = self.body.len();
        let mut request = http::Request::new(Bytes::from(self.body));
        *request.method_mut() = http::Method::POST;
        let headers = request.headers_mut();
        if let Ok(value) = http::HeaderValue::from_str(&self.content_type) {
            headers.insert(http::header::CONTENT_TYPE, value);
        }
        headers.insert(
            http::header::CONTENT_LENGTH,
            http::HeaderValue::from(length),
        );
        request
    }
}

impl From<SignedBody> for http::Request<Bytes> {
    fn from(body: SignedBody) -> Self {
        body.into_request()
    }
}

/// An unsigned payload in the encoding it is posted in: a current webhook's `event-data`
/// (JSON), or the fields of a legacy webhook or a route post (urlencoded or multipart). Sign it
/// with a [`Signer`], or with [`sign`](Self::sign).
///
/// Make one with [`sample`], [`legacy_sample`], [`inbound_sample`], [`stored_sample`], or from
/// your own `serde_json::Value` (`Sample::from(value)`, JSON) or [`FormBody`].
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct Sample {
    content: Content,
}

#[derive(Debug, Clone, PartialEq)]
enum Content {
    Json(serde_json::Value),
    Form(FormBody),
    Multipart(FormBody),
}

impl Sample {
    /// A current JSON webhook whose `event-data` is `event_data`.
    pub fn json(event_data: serde_json::Value) -> Self {
        Sample {
            content: Content::Json(event_data),
        }
    }

    /// A form posted as `application/x-www-form-urlencoded` (its files are left out).
    pub fn form(form: FormBody) -> Self {
        Sample {
            content: Content::Form(form),
        }
    }

    /// A form posted as `multipart/form-data`.
    pub fn multipart(form: FormBody) -> Self {
        Sample {
            content: Content::Multipart(form),
        }
    }

    /// The encoding it is posted in.
    pub fn format(&self) -> Format {
        match self.content {
            Content::Json(_) => Format::Json,
            Content::Form(_) => Format::Form,
            Content::Multipart(_) => Format::Multipart,
        }
    }

    /// The `event-data` of a JSON sample.
    pub fn event_data(&self) -> Option<&serde_json::Value> {
        match &self.content {
            Content::Json(v) => Some(v),
            _ => None,
        }
    }

    /// The `event-data` of a JSON sample, to change before signing it.
    pub fn event_data_mut(&mut self) -> Option<&mut serde_json::Value> {
        match &mut self.content {
            Content::Json(v) => Some(v),
            _ => None,
        }
    }

    /// The fields of a form sample.
    pub fn form_body(&self) -> Option<&FormBody> {
        match &self.content {
            Content::Form(f) | Content::Multipart(f) => Some(f),
            Content::Json(_) => None,
        }
    }

    /// The same payload in `format`. A JSON sample becomes a form of its top-level members
    /// (strings as they are, other values as JSON text), the way legacy webhooks post their
    /// fields; a form becomes JSON as an object of its text fields (the last of repeated
    /// ones); a form changes between urlencoded and multipart as it is.
    pub fn encoded(self, format: Format) -> Sample {
        let form = match self.content {
            Content::Json(value) if format != Format::Json => {
                let mut form = FormBody::new();
                if let serde_json::Value::Object(map) = value {
                    for (name, value) in map {
                        form = match value {
                            serde_json::Value::String(s) => form.field(name, s),
                            other => form.field(name, other.to_string()),
                        };
                    }
                }
                form
            }
            Content::Json(value) => return Sample::json(value),
            Content::Form(form) | Content::Multipart(form) => form,
        };
        match format {
            Format::Form => Sample::form(form),
            Format::Multipart => Sample::multipart(form),
            _ => Sample::json(serde_json::Value::Object(
                form.fields
                    .into_iter()
                    .map(|(k, v)| (k, serde_json::Value::String(v)))
                    .collect(),
            )),
        }
    }

    /// Signs it with `key` at `timestamp` with `token`, encoded in its [`format`](Self::format).
    pub fn sign(&self, key: &SigningKey, timestamp: u64, token: &str) -> SignedBody {
        match &self.content {
            Content::Json(v) => json_body(key, timestamp, token, v.clone()),
            Content::Form(f) => f.clone().sign(key, timestamp, token).urlencoded(),
            Content::Multipart(f) => f.clone().sign(key, timestamp, token).multipart(),
        }
    }
}

impl From<serde_json::Value> for Sample {
    /// A JSON sample with this `event-data`.
    fn from(event_data: serde_json::Value) -> Self {
        Sample::json(event_data)
    }
}

impl From<FormBody> for Sample {
    /// Multipart when the form has files, urlencoded otherwise.
    fn from(form: FormBody) -> Self {
        if form.files.is_empty() {
            Sample::form(form)
        } else {
            Sample::multipart(form)
        }
    }
}

/// A realistic current JSON webhook of `kind`, dated now, with a fresh id: recipient
/// `alice@example.com`, tag `orders`, user variable `order_id` (`"10042"`). `Failed` is a
/// permanent failure (a bounce); [`EventKind::Unknown`] is an event named `future_event` that
/// this version does not know.
///
/// ```
/// use mailgun_webhooks::testing::{sample, Signer};
/// use mailgun_webhooks::{Event, EventKind, Payload, SigningKey};
///
/// let signer = Signer::new(SigningKey::new("test-key"));
/// let body = signer.sign(sample(EventKind::Delivered));
/// let verified = signer.verifier().parse_and_verify(&body.content_type, &body.body)?;
/// assert!(matches!(verified.payload(), Payload::Event(Event::Delivered(_))));
/// # Ok::<(), mailgun_webhooks::Error>(())
/// ```
pub fn sample(kind: EventKind) -> Sample {
    sample_at(kind, now())
}

fn sample_at(kind: EventKind, timestamp: u64) -> Sample {
    let data = sample_event_data(kind.as_str(), timestamp).unwrap_or_else(|| {
        let mut data = sample_event_data("complained", timestamp).unwrap_or_default();
        if let Some(map) = data.as_object_mut() {
            map.insert("event".to_owned(), "future_event".into());
        }
        data
    });
    Sample::json(data)
}

/// A legacy (pre-2018) webhook of `kind`, urlencoded (`.encoded(Format::Multipart)` for the
/// multipart form), or `None` for a kind that had no legacy webhook. `Failed` is posted as a
/// legacy `bounced`.
pub fn legacy_sample(kind: EventKind) -> Option<Sample> {
    legacy_form(kind.as_str(), now()).map(Sample::form)
}

/// A route's `forward()` post: a parsed message from `bob@example.net` to
/// `support@mg.example.com` with two attachments (multipart).
pub fn inbound_sample() -> Sample {
    // Infallible: the route encodings carry their one sample whatever the event name.
    sample_in("inbound", SampleEncoding::InboundParsed, now())
        .unwrap_or_else(|| Sample::form(FormBody::new()))
}

/// A route's `store(notify=...)` notification, with the message and attachment URLs
/// (urlencoded).
pub fn stored_sample() -> Sample {
    sample_in("store", SampleEncoding::StoreNotify, now())
        .unwrap_or_else(|| Sample::form(FormBody::new()))
}

/// Signs payloads with one key, at the time of its clock, with a fresh token per call, so
/// that each test's calls are short.
///
/// ```
/// use mailgun_webhooks::testing::{inbound_sample, FormBody, Signer};
/// use mailgun_webhooks::{EventKind, Format, SigningKey};
///
/// let signer = Signer::new(SigningKey::new("test-key")).at(1_700_000_000);
/// let verifier = signer.verifier(); // its clock stands at the same time
///
/// for body in [
///     signer.sample(EventKind::Failed),
///     signer.json(serde_json::json!({"event": "opened", "recipient": "alice@example.com"})),
///     signer.form(FormBody::new().field("event", "delivered")),
///     signer.sign(inbound_sample()),
/// ] {
///     verifier.parse_and_verify(&body.content_type, &body.body)?;
/// }
///
/// // One call to an `http::Request`, in any encoding:
/// let value = serde_json::json!({"event": "clicked", "url": "https://example.com"});
/// let request = signer.request_as(value, Format::Multipart);
/// assert!(request.headers()["content-type"].to_str().unwrap().starts_with("multipart/form-data"));
/// # Ok::<(), mailgun_webhooks::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Signer {
    key: SigningKey,
    clock: Option<Arc<dyn Clock>>,
    token: Option<String>,
}

impl Signer {
    /// A signer with `key` that signs at the current time.
    pub fn new(key: SigningKey) -> Self {
        Signer {
            key,
            clock: None,
            token: None,
        }
    }

    /// Signs at `timestamp` (unix seconds) from now on.
    pub fn at(self, timestamp: u64) -> Self {
        self.clock(ManualClock::at_secs(timestamp))
    }

    /// Signs at the time of `clock`: share a [`ManualClock`] with the verifier and the store.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Signs every payload with `token` instead of a fresh one: makes the same delivery twice
    /// (a duplicate, or a replay with another body).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The key.
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// The time it signs at now, in unix seconds.
    pub fn timestamp(&self) -> u64 {
        match &self.clock {
            Some(clock) => crate::verify::unix_secs(clock.now()),
            None => now(),
        }
    }

    /// A verifier of this key whose clock is the signer's (the system clock unless
    /// [`at`](Self::at) or [`clock`](Self::clock) set one), so what it signs is fresh.
    pub fn verifier(&self) -> Verifier {
        let builder = Verifier::builder(self.key.clone());
        match &self.clock {
            Some(clock) => builder.clock(SharedClock(Arc::clone(clock))).build(),
            None => builder.build(),
        }
    }

    fn next_token(&self) -> String {
        self.token.clone().unwrap_or_else(token)
    }

    /// Signs `sample` in its encoding.
    pub fn sign(&self, sample: impl Into<Sample>) -> SignedBody {
        sample
            .into()
            .sign(&self.key, self.timestamp(), &self.next_token())
    }

    /// A signed current JSON webhook of `kind` (see [`sample`]), dated at the signer's time.
    pub fn sample(&self, kind: EventKind) -> SignedBody {
        let ts = self.timestamp();
        sample_at(kind, ts).sign(&self.key, ts, &self.next_token())
    }

    /// A signed current JSON webhook whose `event-data` is `event_data`.
    pub fn json(&self, event_data: serde_json::Value) -> SignedBody {
        self.sign(Sample::json(event_data))
    }

    /// A signed urlencoded form (its files are left out).
    pub fn form(&self, form: FormBody) -> SignedBody {
        self.sign(Sample::form(form))
    }

    /// A signed multipart form.
    pub fn multipart(&self, form: FormBody) -> SignedBody {
        self.sign(Sample::multipart(form))
    }

    /// A signed `POST /` request of `sample` in its encoding (a `serde_json::Value` is a JSON
    /// webhook's `event-data`), with `Content-Type` and `Content-Length`.
    pub fn request(&self, sample: impl Into<Sample>) -> http::Request<Bytes> {
        self.sign(sample).into_request()
    }

    /// Like [`request`](Self::request), with the payload in `format` (see
    /// [`Sample::encoded`]).
    pub fn request_as(&self, sample: impl Into<Sample>, format: Format) -> http::Request<Bytes> {
        self.sign(sample.into().encoded(format)).into_request()
    }
}

/// A signer's clock, shared with the verifier it makes.
#[derive(Debug)]
struct SharedClock(Arc<dyn Clock>);

impl Clock for SharedClock {
    fn now(&self) -> SystemTime {
        self.0.now()
    }
}

/// A fresh 50-character token, unique within the process, like the ones Mailgun sends.
pub fn token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let digest = Sha256::new()
        .chain_update(n.to_le_bytes())
        .chain_update(nanos.to_le_bytes())
        .chain_update(std::process::id().to_le_bytes())
        .finalize();
    let mut s = crate::verify::hex_lower(&digest);
    s.truncate(50);
    s
}

/// The current time in unix seconds: sign at this time for a body the default verifier
/// accepts as fresh.
///
/// ```
/// use mailgun_webhooks::testing::{json_body, now, token};
/// use mailgun_webhooks::{SigningKey, Verifier};
///
/// let key = SigningKey::new("test-key");
/// let signed = json_body(&key, now(), &token(), serde_json::json!({"event": "opened"}));
/// let verified = Verifier::new(key).parse_and_verify(&signed.content_type, &signed.body)?;
/// # let _ = verified;
/// # Ok::<(), mailgun_webhooks::Error>(())
/// ```
pub fn now() -> u64 {
    crate::verify::unix_secs(SystemTime::now())
}

/// A current-format JSON webhook body: `{"signature": {...}, "event-data": event_data}`,
/// signed with `key` at `timestamp`.
pub fn json_body(
    key: &SigningKey,
    timestamp: u64,
    token: &str,
    event_data: serde_json::Value,
) -> SignedBody {
    let ts = timestamp.to_string();
    let body = serde_json::json!({
        "signature": {
            "timestamp": ts,
            "token": token,
            "signature": key.sign(&ts, token),
        },
        "event-data": event_data,
    });
    SignedBody {
        content_type: "application/json".to_owned(),
        body: body.to_string().into_bytes(),
    }
}

/// A file part of a [`FormBody`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct FilePart {
    field_name: String,
    filename: String,
    content_type: String,
    data: Vec<u8>,
}

/// A form body (legacy webhook or inbound route), encoded as urlencoded or multipart.
///
/// Fields keep their order and may repeat. [`sign`](Self::sign) appends `timestamp`, `token`
/// and `signature` last, as Mailgun does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct FormBody {
    fields: Vec<(String, String)>,
    files: Vec<FilePart>,
}

impl FormBody {
    /// An empty form.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a text field.
    pub fn field(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.fields.push((name.into(), value.into()));
        self
    }

    /// Appends a file part (multipart only; [`urlencoded`](Self::urlencoded) leaves files out).
    pub fn file(
        mut self,
        field_name: impl Into<String>,
        filename: impl Into<String>,
        content_type: impl Into<String>,
        data: impl Into<Vec<u8>>,
    ) -> Self {
        self.files.push(FilePart {
            field_name: field_name.into(),
            filename: filename.into(),
            content_type: content_type.into(),
            data: data.into(),
        });
        self
    }

    /// Appends `timestamp`, `token` and a `signature` made with `key`.
    pub fn sign(self, key: &SigningKey, timestamp: u64, token: &str) -> Self {
        let ts = timestamp.to_string();
        let signature = key.sign(&ts, token);
        self.field("timestamp", ts)
            .field("token", token)
            .field("signature", signature)
    }

    /// Encodes the text fields as `application/x-www-form-urlencoded`.
    pub fn urlencoded(&self) -> SignedBody {
        let mut body = String::new();
        for (i, (name, value)) in self.fields.iter().enumerate() {
            if i > 0 {
                body.push('&');
            }
            percent_encode(&mut body, name);
            body.push('=');
            percent_encode(&mut body, value);
        }
        SignedBody {
            content_type: "application/x-www-form-urlencoded".to_owned(),
            body: body.into_bytes(),
        }
    }

    /// Encodes the fields, then the files, as `multipart/form-data` (CRLF line endings).
    pub fn multipart(&self) -> SignedBody {
        let boundary = self.boundary();
        let mut body = Vec::new();
        for (name, value) in &self.fields {
            body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{}\"\r\n\r\n",
                    quote(name)
                )
                .as_bytes(),
            );
            body.extend_from_slice(value.as_bytes());
            body.extend_from_slice(b"\r\n");
        }
        for f in &self.files {
            body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\n\
                     Content-Type: {}\r\n\r\n",
                    quote(&f.field_name),
                    quote(&f.filename),
                    f.content_type
                )
                .as_bytes(),
            );
            body.extend_from_slice(&f.data);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        SignedBody {
            content_type: format!("multipart/form-data; boundary={boundary}"),
            body,
        }
    }

    /// A boundary that occurs in no field or file.
    fn boundary(&self) -> String {
        let mut n = 0u32;
        loop {
            let b = format!("mailgun-webhooks-test-boundary-{n}");
            let clash = self
                .fields
                .iter()
                .any(|(k, v)| k.contains(&b) || v.contains(&b))
                || self
                    .files
                    .iter()
                    .any(|f| f.data.windows(b.len()).any(|w| w == b.as_bytes()));
            if !clash {
                return b;
            }
            n = n.wrapping_add(1);
        }
    }
}

/// Escapes `"`, `\`, CR and LF in a `Content-Disposition` parameter (RFC 7578 style).
fn quote(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// `application/x-www-form-urlencoded` encoding: unreserved bytes as is, space as `+`.
fn percent_encode(out: &mut String, s: &str) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
}

/// A clock that stands still until you move it; share it between a verifier and a store.
///
/// ```
/// use mailgun_webhooks::testing::ManualClock;
/// use mailgun_webhooks::Clock;
/// use std::time::Duration;
/// let clock = ManualClock::at_secs(1_700_000_000);
/// clock.advance(Duration::from_secs(60));
/// assert_eq!(clock.secs(), 1_700_000_060);
/// # let _ = clock.now();
/// ```
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    secs: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock showing `secs` unix seconds.
    pub fn at_secs(secs: u64) -> Self {
        ManualClock {
            secs: Arc::new(AtomicU64::new(secs)),
        }
    }

    /// Sets the time, in unix seconds.
    pub fn set_secs(&self, secs: u64) {
        self.secs.store(secs, Ordering::SeqCst);
    }

    /// Moves the time forward (whole seconds).
    pub fn advance(&self, by: Duration) {
        self.secs.fetch_add(by.as_secs(), Ordering::SeqCst);
    }

    /// The time, in unix seconds.
    pub fn secs(&self) -> u64 {
        self.secs.load(Ordering::SeqCst)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH
            .checked_add(Duration::from_secs(self.secs()))
            .unwrap_or(UNIX_EPOCH)
    }
}

// ----- sample payloads by event kind and encoding (used by the CLI's `send`) -----

/// How a sample payload is encoded: the three ways Mailgun posts tracking events and the three
/// kinds of route posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SampleEncoding {
    /// A current JSON webhook (`application/json`).
    Json,
    /// A legacy (pre-2018) webhook as `application/x-www-form-urlencoded`.
    LegacyForm,
    /// A legacy webhook as `multipart/form-data`, with the original message attached as
    /// `attachment-1` (`message.mime`).
    LegacyMultipart,
    /// A route's `forward()` post: the parsed message with two attachments (multipart).
    InboundParsed,
    /// A route's `forward()` post to a URL ending in `mime`: the raw message in `body-mime`.
    InboundRawMime,
    /// A route's `store(notify=...)` notification, with the message and attachment URLs.
    StoreNotify,
}

/// The event names [`sample`] can build, in the current JSON format.
pub const SAMPLE_EVENTS: [&str; 14] = [
    "accepted",
    "rejected",
    "delivered",
    "failed",
    "permanent_fail",
    "temporary_fail",
    "opened",
    "clicked",
    "unsubscribed",
    "complained",
    "stored",
    "list_member_uploaded",
    "list_member_upload_error",
    "list_uploaded",
];

/// The event names that existed as legacy webhooks (`failed`/`permanent_fail` are posted as
/// a legacy `bounced`, `temporary_fail` as a legacy `dropped`).
const LEGACY_EVENTS: [&str; 8] = [
    "delivered",
    "failed",
    "permanent_fail",
    "temporary_fail",
    "opened",
    "clicked",
    "unsubscribed",
    "complained",
];

impl SampleEncoding {
    /// Every encoding.
    pub const ALL: [SampleEncoding; 6] = [
        SampleEncoding::Json,
        SampleEncoding::LegacyForm,
        SampleEncoding::LegacyMultipart,
        SampleEncoding::InboundParsed,
        SampleEncoding::InboundRawMime,
        SampleEncoding::StoreNotify,
    ];

    /// `json`, `legacy-form`, `legacy-multipart`, `inbound`, `raw-mime` or `store`.
    pub fn as_str(self) -> &'static str {
        match self {
            SampleEncoding::Json => "json",
            SampleEncoding::LegacyForm => "legacy-form",
            SampleEncoding::LegacyMultipart => "legacy-multipart",
            SampleEncoding::InboundParsed => "inbound",
            SampleEncoding::InboundRawMime => "raw-mime",
            SampleEncoding::StoreNotify => "store",
        }
    }

    /// The encoding named by [`as_str`](Self::as_str).
    pub fn from_name(name: &str) -> Option<SampleEncoding> {
        SampleEncoding::ALL.into_iter().find(|e| e.as_str() == name)
    }

    /// Whether this is a route post rather than a tracking event.
    pub fn is_route(self) -> bool {
        matches!(
            self,
            SampleEncoding::InboundParsed
                | SampleEncoding::InboundRawMime
                | SampleEncoding::StoreNotify
        )
    }

    /// The event names this encoding can carry; a route encoding carries one sample, named
    /// like the encoding.
    pub fn events(self) -> &'static [&'static str] {
        match self {
            SampleEncoding::Json => &SAMPLE_EVENTS,
            SampleEncoding::LegacyForm | SampleEncoding::LegacyMultipart => &LEGACY_EVENTS,
            SampleEncoding::InboundParsed => &["inbound"],
            SampleEncoding::InboundRawMime => &["raw-mime"],
            SampleEncoding::StoreNotify => &["store"],
        }
    }
}

impl std::fmt::Display for SampleEncoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A realistic `event-data` object for `event` (one of [`SAMPLE_EVENTS`]) at `timestamp`, with
/// a fresh id, or `None` for another name.
///
/// Every sample carries the recipient `alice@example.com`, the tag `orders` and the user
/// variable `order_id` (`"10042"`).
pub fn sample_event_data(event: &str, timestamp: u64) -> Option<serde_json::Value> {
    use serde_json::json;
    let mut id = token();
    id.truncate(22);
    let (name, extra) = match event {
        "accepted" => ("accepted", json!({"method": "HTTP"})),
        "rejected" => (
            "rejected",
            json!({"reject": {"reason": "Sandbox subdomains are for test purposes only",
                              "description": ""}}),
        ),
        "delivered" => (
            "delivered",
            json!({"delivery-status": {"code": 250, "message": "OK", "description": "",
                                       "attempt-no": 1, "tls": true, "mx-host": "mx.example.com"}}),
        ),
        "failed" | "permanent_fail" => (
            "failed",
            json!({"severity": "permanent", "reason": "bounce",
                   "delivery-status": {"code": 550, "attempt-no": 1,
                       "message": "5.1.1 The email account that you tried to reach does not exist",
                       "description": ""}}),
        ),
        "temporary_fail" => (
            "failed",
            json!({"severity": "temporary", "reason": "generic",
                   "delivery-status": {"code": 452, "attempt-no": 1, "retry-seconds": 600,
                       "message": "4.2.2 The email account that you tried to reach is over quota",
                       "description": ""}}),
        ),
        "opened" => (
            "opened",
            json!({"ip": "203.0.113.9", "geolocation": {"country": "US", "region": "CA",
                   "city": "San Francisco"},
                   "client-info": {"client-name": "Thunderbird", "client-type": "mobile browser",
                                   "client-os": "iOS", "device-type": "mobile",
                                   "user-agent": "Mozilla/5.0"}}),
        ),
        "clicked" => (
            "clicked",
            json!({"url": "https://shop.example.com/orders/10042", "ip": "203.0.113.9",
                   "geolocation": {"country": "US", "region": "CA", "city": "San Francisco"},
                   "client-info": {"client-name": "Firefox", "client-type": "browser",
                                   "client-os": "Linux", "device-type": "desktop",
                                   "user-agent": "Mozilla/5.0"}}),
        ),
        "unsubscribed" => ("unsubscribed", json!({"ip": "203.0.113.9"})),
        "complained" => ("complained", json!({})),
        "stored" => (
            "stored",
            json!({"storage": {"key": "AgEASDQ", "region": "us-east4",
                   "url": "https://storage-us-east4.api.mailgun.net/v3/domains/mg.example.com/messages/AgEASDQ"}}),
        ),
        "list_member_uploaded" => (
            "list_member_uploaded",
            json!({"mailing-list": {"address": "news@mg.example.com", "list-id": "news"},
                   "member": {"address": "alice@example.com", "name": "Alice",
                              "subscribed": true, "vars": {}}}),
        ),
        "list_member_upload_error" => (
            "list_member_upload_error",
            json!({"mailing-list": {"address": "news@mg.example.com", "list-id": "news"},
                   "task-id": "4321", "format": "csv", "upsert": "yes",
                   "member-description": "alice@example.com", "error": "invalid address"}),
        ),
        "list_uploaded" => (
            "list_uploaded",
            json!({"mailing-list": {"address": "news@mg.example.com", "list-id": "news"},
                   "is-upsert": true, "format": "csv", "task-id": "4321"}),
        ),
        _ => return None,
    };
    let mut data = json!({
        "id": id,
        "event": name,
        "timestamp": timestamp as f64 + 0.123456,
        "log-level": "info",
        "recipient": "alice@example.com",
        "recipient-domain": "example.com",
        "tags": ["orders"],
        "user-variables": {"order_id": "10042"},
        "envelope": {"sender": "bounce@mg.example.com", "targets": "alice@example.com",
                     "transport": "smtp"},
        "message": {"headers": {"to": "Alice <alice@example.com>",
                                "message-id": format!("{timestamp}.1.SAMPLE@mg.example.com"),
                                "from": "Shop <shop@mg.example.com>",
                                "subject": "Your order has shipped"},
                    "attachments": [], "size": 2150},
    });
    if let (Some(map), serde_json::Value::Object(extra)) = (data.as_object_mut(), extra) {
        map.extend(extra);
    }
    Some(data)
}

/// A signed sample body: event `event` in `encoding`, or the route sample of a route
/// encoding (`event` is then ignored). `None` when the encoding cannot carry the event (see
/// [`SampleEncoding::events`]). [`Signer::sample`] and [`sample`] are the short forms.
///
/// ```
/// use mailgun_webhooks::testing::{now, sample_body, token, SampleEncoding};
/// use mailgun_webhooks::{SigningKey, Verifier};
///
/// let key = SigningKey::new("test-key");
/// for encoding in SampleEncoding::ALL {
///     for event in encoding.events() {
///         let body = sample_body(event, encoding, &key, now(), &token()).unwrap();
///         Verifier::new(key.clone()).parse_and_verify(&body.content_type, &body.body)?;
///     }
/// }
/// # Ok::<(), mailgun_webhooks::Error>(())
/// ```
pub fn sample_body(
    event: &str,
    encoding: SampleEncoding,
    key: &SigningKey,
    timestamp: u64,
    token: &str,
) -> Option<SignedBody> {
    Some(sample_in(event, encoding, timestamp)?.sign(key, timestamp, token))
}

/// The unsigned sample of `event` in `encoding`, dated `timestamp`.
fn sample_in(event: &str, encoding: SampleEncoding, timestamp: u64) -> Option<Sample> {
    match encoding {
        SampleEncoding::Json => Some(Sample::json(sample_event_data(event, timestamp)?)),
        SampleEncoding::LegacyForm => Some(Sample::form(legacy_form(event, timestamp)?)),
        SampleEncoding::LegacyMultipart => Some(Sample::multipart(
            legacy_form(event, timestamp)?
                .field("attachment-count", "1")
                .file(
                    "attachment-1",
                    "message.mime",
                    "application/octet-stream",
                    SAMPLE_MIME.as_bytes().to_vec(),
                ),
        )),
        SampleEncoding::InboundParsed => Some(Sample::multipart(
            route_fields(FormBody::new())
                .field("body-plain", "Hello there.\r\n")
                .field("stripped-text", "Hello there.")
                .field("body-html", "<p>Hello there.</p>")
                .field("attachment-count", "2")
                .field("content-id-map", "{}")
                .file(
                    "attachment-1",
                    "invoice.txt",
                    "text/plain",
                    b"Invoice 10042: 3 items, 42.00 EUR total.".to_vec(),
                )
                .file(
                    "attachment-2",
                    "logo.png",
                    "image/png",
                    b"\x89PNG\r\n\x1a\n-not-really-a-png-".to_vec(),
                ),
        )),
        SampleEncoding::InboundRawMime => Some(Sample::form(
            route_fields(FormBody::new()).field("body-mime", SAMPLE_MIME),
        )),
        SampleEncoding::StoreNotify => {
            let url = "https://storage-us-east4.api.mailgun.net/v3/domains/mg.example.com/messages/BAABAQ";
            let attachments = serde_json::json!([{
                "url": format!("{url}/attachments/0"),
                "content-type": "text/plain",
                "name": "invoice.txt",
                "size": 41,
            }]);
            Some(Sample::form(
                route_fields(FormBody::new().field("domain", "mg.example.com"))
                    .field("body-plain", "Hello there.\r\n")
                    .field("message-url", url)
                    .field("attachments", attachments.to_string()),
            ))
        }
    }
}

/// The original message a legacy bounce attaches, and the raw-MIME route's `body-mime`.
const SAMPLE_MIME: &str = "From: Bob <bob@example.net>\r\nTo: support@mg.example.com\r\n\
    Subject: Hello\r\nMessage-Id: <hello-1@example.net>\r\nMime-Version: 1.0\r\n\
    Content-Type: text/plain\r\n\r\nHello there.\r\n";

/// The fields every inbound sample shares.
fn route_fields(form: FormBody) -> FormBody {
    let headers = serde_json::json!([
        ["From", "Bob <bob@example.net>"],
        ["To", "support@mg.example.com"],
        ["Subject", "Hello"],
        ["Message-Id", "<hello-1@example.net>"],
    ]);
    form.field("recipient", "support@mg.example.com")
        .field("sender", "bob@example.net")
        .field("from", "Bob <bob@example.net>")
        .field("subject", "Hello")
        .field("message-headers", headers.to_string())
        .field("Subject", "Hello")
}

/// A legacy webhook's fields (unsigned) for one of [`LEGACY_EVENTS`].
fn legacy_form(event: &str, timestamp: u64) -> Option<FormBody> {
    let legacy = match event {
        "delivered" => "delivered",
        "failed" | "permanent_fail" => "bounced",
        "temporary_fail" => "dropped",
        "opened" | "clicked" | "unsubscribed" | "complained" => event,
        _ => return None,
    };
    let message_id = format!("<{timestamp}.1.SAMPLE@mg.example.com>");
    let headers = serde_json::json!([
        ["Subject", "Your order has shipped"],
        ["From", "Shop <shop@mg.example.com>"],
        ["To", "Alice <alice@example.com>"],
        ["Message-Id", message_id],
        ["X-Mailgun-Variables", "{\"order_id\": \"10042\"}"],
    ]);
    let mut form = FormBody::new()
        .field("event", legacy)
        .field("recipient", "alice@example.com")
        .field("domain", "mg.example.com");
    form = match legacy {
        "bounced" => form.field("code", "550").field(
            "error",
            "5.1.1 The email account that you tried to reach does not exist.",
        ),
        "dropped" => form.field("reason", "old").field("code", "605").field(
            "description",
            "Not delivering to previously bounced address",
        ),
        "opened" | "clicked" | "unsubscribed" => form
            .field("ip", "203.0.113.9")
            .field("country", "US")
            .field("client-name", "Firefox")
            .field("message-id", message_id.trim_matches(['<', '>'])),
        _ => form,
    };
    if legacy == "clicked" {
        form = form.field("url", "https://shop.example.com/orders/10042");
    }
    if matches!(legacy, "delivered" | "bounced" | "dropped" | "complained") {
        form = form
            .field("message-headers", headers.to_string())
            .field("Message-Id", message_id.clone());
    }
    Some(
        form.field("tag", "orders")
            .field("order_id", "10042")
            .field("body-plain", ""),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail by panicking
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_alphanumeric() {
        let (a, b) = (token(), token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 50);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn urlencoding_round_trips_through_serde_urlencoded() {
        let body = FormBody::new()
            .field("a b", "x&y=z+%é")
            .field("a b", "2")
            .urlencoded();
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body.body).unwrap();
        assert_eq!(
            pairs,
            [
                ("a b".into(), "x&y=z+%é".into()),
                ("a b".into(), "2".into())
            ]
        );
    }

    #[test]
    fn boundary_avoids_content() {
        let f = FormBody::new().field("x", "--mailgun-webhooks-test-boundary-0");
        assert!(f.multipart().content_type.ends_with("boundary-1"));
    }
}
