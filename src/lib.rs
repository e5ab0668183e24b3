//! Receive [Mailgun] webhooks and inbound routes safely and fast.
//!
//! `mailgun-webhooks` turns the `Content-Type` and body of a request Mailgun posted into a
//! verified, typed value, from inside whatever web framework you already use:
//!
//! - **Parse** the three encodings Mailgun posts (current JSON, legacy urlencoded and multipart
//!   forms, inbound routes) under strict [`Limits`], without panicking on any input.
//! - **Verify** the HMAC-SHA256 signature in constant time against a [`KeyRing`] (rotation and
//!   sub-account parent keys), with a freshness window and checked time arithmetic.
//! - **Type** the result: an [`Event`] enum for tracking events, lenient about every field's
//!   shape, or an [`InboundMessage`] / [`StoredMessage`] for routes.
//!
//! [Mailgun]: https://www.mailgun.com
//!
//! # Quick start
//!
//! A [`Receiver`] runs the whole pipeline inside your existing handler: parse, verify, check
//! the replay store, run your code, then commit the delivery (or release it if your code
//! failed, so that Mailgun's retry is processed):
//!
//! ```
//! use mailgun_webhooks::http::StatusCode; // `http` is re-exported: no extra dependency
//! use mailgun_webhooks::{
//!     Event, HandlerError, MemoryReplayStore, Payload, Receiver, SigningKey, Verifier,
//! };
//!
//! async fn webhook(receiver: &Receiver, content_type: &str, body: &[u8]) -> StatusCode {
//!     let result = receiver
//!         .receive(content_type, body, |verified| async move {
//!             match verified.payload() {
//!                 Payload::Event(Event::Delivered(data)) => {
//!                     println!("delivered to {:?}", data.recipient)
//!                 }
//!                 Payload::Event(Event::Failed(data)) => {
//!                     println!("failed: {:?} {:?}", data.severity, data.reason)
//!                 }
//!                 Payload::Event(other) => println!("{} for {:?}", other.kind(), other.recipient()),
//!                 _ => return Err(HandlerError::reject("not a tracking event")),
//!             }
//!             Ok(())
//!         })
//!         .await;
//!     // The right status for Mailgun, whatever happened (see the table below).
//!     match result {
//!         Ok(outcome) => outcome.status(),
//!         Err(e) => e.status(),
//!     }
//! }
//!
//! // One receiver per process, shared by every request.
//! let receiver = Receiver::new(
//!     Verifier::new(SigningKey::new("your-webhook-signing-key")),
//!     MemoryReplayStore::new(),
//! );
//! # let _ = webhook(&receiver, "application/json", b"{}");
//! ```
//!
//! With axum, actix-web or hyper, the [adapters](#frameworks) do this in an extractor. Each
//! stage also stands alone: [`scan`] gives an [`Unverified`] payload with its signed fields,
//! [`Verifier::verify`] (or [`Verifier::verify_at`], for queues and tests) a [`Verified`] one,
//! [`Verified::parse`] its typed payload, and a [`ReplayStore`] records it. Only a
//! [`Verifier`] can make a [`Verified`] value.
//!
//! # Inbound mail and bounces
//!
//! [`InboundMessage::message`] reads a route's message the same way whether Mailgun posted it
//! parsed or as raw MIME (`body-mime`, parsed on first access with `mail-parser`, bounded by
//! [`Limits`]): a [`MessageView`] with from, to, subject, date, ids, decoded bodies and
//! [`Attachment`]s. [`Event::bounced_message`] gives the same view of the message a failed
//! delivery bounced, so a handler can match the bounce to what it sent:
//!
//! ```
//! use mailgun_webhooks::{Event, Payload};
//!
//! fn handle(payload: &Payload) -> mailgun_webhooks::Result<()> {
//!     match payload {
//!         Payload::Inbound(msg) => {
//!             let view = msg.message()?;
//!             for file in view.attachments() {
//!                 // Never use `file.filename()` as a path.
//!                 println!("{} ({} bytes)", file.safe_filename(), file.size());
//!             }
//!         }
//!         Payload::Event(event) => {
//!             if let Some(bounced) = event.bounced_message() {
//!                 println!("bounced: {:?}", bounced.message()?.message_id());
//!             }
//!         }
//!         _ => {}
//!     }
//!     Ok(())
//! }
//! ```
//!
//! # Frameworks
//!
//! Each adapter is one module behind a feature named after its framework, built only on this
//! crate's public API. Its `Webhook<T>` extractor verifies and reserves the delivery, and its
//! `process` method runs your code and commits (success) or releases (failure) the
//! reservation; a duplicate of a committed delivery answers 200 without running your code.
//!
//! | feature | module | what it adds |
//! |---|---|---|
//! | `axum` | `axum` | `FromRequest` extractor, configuration from state through `FromRef` |
//! | `actix-web` | `actix` | `FromRequest` extractor, configuration from `app_data` |
//! | `hyper` | `hyper` | functions over any `http_body::Body`: hyper 1.x and tower services |
//! | `tower` | `tower` | a tower `Layer` that verifies and reserves, puts the payload in the request's extensions, commits on 2xx or 406 |
//! | `redis` | | `RedisReplayStore`, a replay store shared by several processes |
//! | `test-util` | `testing` | sign payloads and build signed bodies in all three encodings |
//! | `api` | `api` | async Mailgun API client: webhooks, stored messages, events, sending variables |
//! | `cli` | | the `mailgun-webhooks` command-line tool (`cargo install mailgun-webhooks --features cli`) |
//! | `metrics` | | counters and histograms on the `metrics` facade ([observability](#observability)) |
//! | `tracing` | | one `mailgun_webhooks.delivery` span per delivery, without personal data ([observability](#observability)) |
//! | `serde` | | `Serialize` for [`Event`], [`InboundMessage`], [`StoredMessage`], [`Payload`]; `Serialize`/`Deserialize` for [`VerifiedEnvelope`] ([queues](#queues-and-storage)) |
//!
//! The default build parses all three encodings, verifies and types them; no feature is needed
//! for a framework-agnostic receiver.
//!
//! # Observability
//!
//! With the feature `tracing`, [`Receiver::receive`] and every adapter open one span,
//! `mailgun_webhooks.delivery` (target `mailgun_webhooks`), per delivery, with the fields
//! `format`, `payload_kind`, `event_kind`, `key_id` (which key matched: `primary`,
//! `previous[i]`, `parent`), `outcome` (`processed`, `processed_unproven`, `duplicate`,
//! `error`), `status`, `error_kind` ([`Error::name`]) and `duration_ms`, and emit one event in it:
//!
//! | what happened | level |
//! |---|---|
//! | processed | `INFO` |
//! | duplicate of a committed delivery | `DEBUG` |
//! | signature mismatch (with the signing-key hint), stale or future timestamp, payload mismatch | `WARN` |
//! | handler failed (500; the handler's error text is not logged) | `WARN` |
//! | replay store unavailable or full, signed before the store's epoch | `ERROR` |
//! | any other refusal (400, 406, 409, 413, 415) | `INFO` |
//!
//! **No personal data is recorded**: no email address, subject, body, user variable, token,
//! signature or header, and not the handler's error (its text can quote the payload). Log what
//! you need from inside your handler, where the span is current. `tests/observe.rs` runs every
//! bundled and captured payload through a capturing subscriber and checks that none of their
//! values appears.
//!
//! With the feature `metrics` (the [`metrics`](https://docs.rs/metrics) 0.24 facade; install
//! any recorder, such as `metrics-exporter-prometheus`), the same paths record, with labels of
//! low cardinality only (never a domain, address or token):
//!
//! | name | type | labels | when |
//! |---|---|---|---|
//! | `mailgun_webhooks_deliveries_total` | counter | `outcome` (`processed`, `processed_unproven`, `duplicate`, `error`), `error_kind` ([`Error::name`] or `none`), `payload_kind` (`event`, `inbound`, `stored`, `unknown` before verification), `event_kind` ([`EventKind::as_str`] or `none`), `format` (`json`, `form`, `multipart`, `unknown`), `key` (`primary`, `previous`, `parent`, `none`) | once per delivery |
//! | `mailgun_webhooks_signature_age_seconds` | histogram | | once per verified delivery: now minus the signed timestamp (negative when signed in the future); clock skew shows here before it causes 401s |
//! | `mailgun_webhooks_delivery_seconds` | histogram | | once per delivery: verification, replay store and handler |
//! | `mailgun_webhooks_replay_store_seconds` | histogram | `op` (`reserve`, `commit`, `release`), `result` (`fresh`, `fresh_unproven`, `duplicate`, `in_flight`, `payload_mismatch` for `reserve`; `ok` for the others; [`Error::name`] on failure) | once per replay-store call the crate makes: a slow or failing store shows here |
//! | `mailgun_webhooks_replay_store_abandoned_total` | counter | | once per reservation abandoned by a dropped future (a hang-up under `process_local`, or your own code dropping an [`Admitted`]) |
//!
//! # Queues and storage
//!
//! Inside a handler, [`Verified::raw_body`] and [`Verified::content_type`] give the request
//! exactly as received (every adapter keeps the body it read; [`Receiver::receive`] borrows
//! yours, so there you already hold it). [`Verified::to_envelope`] turns the delivery into a
//! [`VerifiedEnvelope`]: body, content type, signed fields, matched key and receive time,
//! `Serialize` and `Deserialize` with the feature `serde`. A worker, in another process and
//! without the key, calls [`VerifiedEnvelope::parse`] to get the same [`Payload`] the live path
//! gave. It does **not** verify again: enqueue only what you verified and reserved, and treat
//! write access to the queue as the power to forge deliveries (see the envelope's
//! [trust boundary](VerifiedEnvelope#trust-boundary)). With the feature `serde`, [`Event`],
//! [`InboundMessage`], [`StoredMessage`] and [`Payload`] also implement `Serialize` (an event
//! in the shape of Mailgun's `event-data`, which [`Event::from_json`] reads back).
//!
//! # Idempotency
//!
//! Mailgun delivers at least once, and the same event can also come through the events API.
//! Use the key that matches what must happen once:
//!
//! | once per | key |
//! |---|---|
//! | delivery (a POST and Mailgun's retries of it) | [`Verified::replay_key`] (32 bytes, `Display` as hex); in a worker, [`VerifiedEnvelope::replay_key`], equal to it |
//! | event, across webhooks and events API backfills | the event's `id` **with** its `timestamp` ([`Event::id`], [`Event::timestamp`], to the microsecond) |
//!
//! - The replay key is the hash of the signed `timestamp ‖ token`. The [`Receiver`] and the
//!   adapters already record it (in the receiver's namespace, [`Verified::replay_key_in`]), so
//!   a committed delivery never runs the handler again; a worker behind a queue keeps its own
//!   record of it, in the same transaction as its effects, because a queue can deliver twice.
//! - An event fetched from the events API (a backfill, the CLI's `backfill`) has no signature,
//!   hence no replay key: key it on `(id, timestamp)`, and key the webhook path on the same pair
//!   when both paths feed one table. It also holds if Mailgun ever re-signs a retry (a new
//!   token is a new replay key, for the same event).
//! - [`EventData::id`] alone is **not** an idempotency key: Mailgun makes it unique only within
//!   a day, so two events can share it. Inbound messages have no event id; use the replay key
//!   (or the message's `Message-Id` for "this message once", whatever route it came through).
//! - **Exactly once with SQL** (features `sqlite`, `postgres`): instead of reserve, then
//!   commit, `begin(&receiver.claim(&verified, digest))` on `SqliteReplayStore` or
//!   `PgReplayStore` writes the delivery's replay record in an open transaction and returns
//!   `SqlAdmission::Fresh(SqlDelivery)` (`Duplicate`: answer 200); write your effects through
//!   its `transaction()`, then `commit()`: record and effects become visible together or not
//!   at all. It needs the [`Verified`] value, so it runs where the delivery is received; a
//!   worker fed by a queue gets the same guarantee from a unique index on the envelope's replay
//!   key in its own table. For "once per event", add a unique index on `(event id, timestamp)`
//!   in the same transaction.
//!
//! # Security model
//!
//! Mailgun signs `hex(HMAC-SHA256(key, timestamp ‖ token))`. **The signature does not cover
//! the body.** A valid `(timestamp, token, signature)` triple proves only that Mailgun minted
//! it; anyone who sees one delivery can attach the same triple to a body of their choosing
//! while the timestamp is fresh. What binds a triple to one body is that it is **accepted only
//! once**, so replay protection is part of verification, not an extra:
//!
//! - the replay store is keyed by the exact signed string `timestamp ‖ token` (hashed),
//!   whichever key verified it, which also catches digit-shift variants and a replay that
//!   keeps a sub-account's `parent-signature` but garbles its `signature`;
//! - nothing is written to the store before the signature verified;
//! - a delivery is reserved, then committed when the handler succeeds or released when it
//!   fails, so that Mailgun's retry of a failed delivery is processed rather than refused;
//! - a record lives until its signature is no longer fresh, so a replay can never outlive it.
//!
//! Use the **webhook signing key** (Mailgun dashboard: Sending, Webhooks, "HTTP webhook signing
//! key"), not the private API key: that mix-up is the most common cause of signature
//! mismatches. Routes are signed with the same key.
//!
//! # HTTP statuses
//!
//! Mailgun retries every status except 200 and 406 for about 8 hours. [`Error::status`] follows
//! this policy, so that no failure on the receiving side loses an event:
//!
//! | condition | status |
//! |---|---|
//! | processed | 200 |
//! | duplicate of a committed delivery | 200 (the handler does not run again) |
//! | duplicate still in flight | 409 |
//! | malformed body, missing or ill-formed signature fields, wrong endpoint | 400 |
//! | signature mismatch, stale or future timestamp | 401 |
//! | body, field, part or attachment over its limit | 413 |
//! | unsupported content type or encoding | 415 |
//! | replay store unavailable or full | 503 |
//! | handler failed, receiver not configured | 500 |
//! | the application's own permanent rejection | 406 |
//!
//! # The pipeline
//!
//! ```text
//! bytes + content type
//!   └─ scan (envelope pass: the signed fields; payload raw)  -> Unverified<RawPayload>
//!       └─ verify (sync, pure: syntax, freshness, HMAC)       -> Verified<RawPayload>
//!           └─ parse (typed, under Limits::json_nodes)        -> Verified<Payload>
//!               └─ admit (async, ReplayStore)                 -> Admitted: commit or release
//!                   └─ payload                                -> Event / InboundMessage / StoredMessage
//! ```
//!
//! Nothing inside the payload (the `event-data` object, JSON in form fields, user variables)
//! is decoded before the signature verified: rejecting a forged body costs the envelope pass
//! and one HMAC. [`Verifier::parse_and_verify`] and [`Verifier::parse_stream_and_verify`] run
//! the first three stages in one call; [`scan`], [`Verifier::verify`] and [`Verified::parse`]
//! run them one by one (a queue-first service keeps a [`VerifiedEnvelope`], see
//! [queues](#queues-and-storage)).
//! [`parse()`] and [`parse_stream`] parse without verifying, for tools.
//!
//! Peak heap growth while parsing any body within [`Limits`], forged or signed, in memory or
//! streamed, stays within twice the body plus 1 MiB, and [`Limits::in_flight`] caps the bytes
//! being parsed at once across requests (503 beyond it).
//!
//! The source follows the pipeline: `error` and `key` at the bottom, the typed values
//! (`inbound`, `event`, `payload`), `limits` and `verify`, then `parse` (the envelope pass and
//! the typed parse), then `replay`, `receiver` and the adapters. No module imports one below it
//! in that order.
//!
//! # Defaults
//!
//! | setting | default | why |
//! |---|---|---|
//! | `max_age` | 8 h 30 min | Mailgun retries for about 8 hours, possibly with the original signature |
//! | `max_skew` | 5 min | clock differences between Mailgun and this host |
//! | replay record lifetime | signed timestamp + `max_age` + 60 s | outlives the signature |
//! | pending reservation | 60 s | a crashed handler blocks Mailgun's retry for at most a minute |
//! | [`MemoryReplayStore`] capacity | 1,000,000 records (~100 MB) | about 32 events/s over the window; fails closed when full |
//! | [`Limits`] | 32 MiB body, 1 MiB JSON, 25 MiB file, 100 files, 1,000 fields | see [`Limits`] |
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

// The layering of these modules is described under "The pipeline" above: no cycles.
mod error;
mod event;
mod inbound;
mod key;
mod lenient;
mod limits;
mod message;
mod observe;
mod parse;
mod payload;
mod queue;
mod receiver;
mod replay;
#[cfg(feature = "serde")]
mod serialize;
mod store_url;
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod testing;
mod verify;

pub use error::{Error, ErrorKind, Limit, PayloadKind, Result, Stage};

/// The `http` crate (1.x), re-exported because public signatures use its types
/// ([`http::StatusCode`], [`http::Request`], [`http::HeaderMap`]): a handler can name them
/// without adding `http` to its own dependencies.
pub use http;

/// The README's Rust blocks, compiled and run as doc tests (`cargo test --doc --all-features`;
/// its examples use every integration, so they are compiled when all of them are on).
#[cfg(all(
    doctest,
    feature = "axum",
    feature = "actix-web",
    feature = "hyper",
    feature = "api",
    feature = "sqlite",
    feature = "postgres",
    feature = "tower",
    feature = "serde",
    feature = "test-util"
))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
pub use event::{
    AttachmentInfo, Campaign, ClientInfo, DeliveryCode, DeliveryStatus, Envelope, Event, EventData,
    EventKind, EventTime, Flags, Geolocation, IdObject, LazyEvent, MailingList, Member, Message,
    MessageHeaders, NameObject, Reject, Severity, Storage, UnknownData, UserVariables,
};
pub use inbound::{
    Attachment, AttachmentCountMismatch, InboundMessage, StoredAttachment, StoredMessage,
};
pub use key::{KeyId, KeyRing, SigningKey};
pub use limits::Limits;
pub use message::{Mailbox, MessageView};
pub use parse::{ContentType, MediaType, RawPayload, parse, scan, scan_bytes, scan_stream};
pub use parse::{parse_stream_sized, scan_stream_sized};
pub use payload::Payload;
pub use queue::VerifiedEnvelope;
pub use verify::{
    Clock, DEFAULT_MAX_AGE, DEFAULT_MAX_SKEW, Format, ReplayKey, Signature, SystemClock,
    Unverified, Verified, Verifier, VerifierBuilder,
};

/// Internal checks exposed to the fuzz targets in `fuzz/` (built with `--cfg fuzzing`); not
/// part of the API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    /// The strict host check on `store()` notification URLs.
    pub fn is_mailgun_storage_url(url: &str) -> bool {
        crate::store_url::is_mailgun_storage_url(url)
    }
}

// ----- replay protection and the receiver (src/replay/, src/receiver.rs) -----
pub use receiver::{Admission, Admitted, HandlerError, Outcome, Receiver, ReservationGuard};
pub use replay::{
    DynReplayStore, LossPolicy, MemoryReplayStore, MemoryReplayStoreBuilder, NoReplayCheck,
    PayloadDigest, ReplayClaim, ReplayNamespace, ReplayOutcome, ReplayStore, Reservation,
};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use replay::{HealthWarning, RedisReplayStore, RedisReplayStoreBuilder, StoreHealth};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use replay::{PgReplayStore, PgReplayStoreBuilder};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
pub use replay::{SqlAdmission, SqlDelivery, TransactionFuture};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use replay::{SqliteReplayStore, SqliteReplayStoreBuilder};
// ----- end replay -----

// ----- form, multipart and inbound parsing (src/parse/form.rs, multipart.rs) -----
pub use parse::parse_stream;
// ----- end form -----

// ----- Mailgun API client (src/api/) -----
#[cfg(feature = "api")]
#[cfg_attr(docsrs, doc(cfg(feature = "api")))]
pub mod api;
// ----- end api -----

// ----- framework adapters (src/adapters/) -----
#[cfg(any(
    feature = "axum",
    feature = "actix-web",
    feature = "hyper",
    feature = "tower"
))]
mod adapters;
#[cfg(feature = "actix-web")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix-web")))]
pub use adapters::actix;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use adapters::axum;
#[cfg(feature = "hyper")]
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
pub use adapters::hyper;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub use adapters::tower;
#[cfg(any(
    feature = "axum",
    feature = "actix-web",
    feature = "hyper",
    feature = "tower"
))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(
        feature = "axum",
        feature = "actix-web",
        feature = "hyper",
        feature = "tower"
    )))
)]
pub use adapters::{FromPayload, Webhook, WebhookResponse};
// ----- end adapters -----
