//! Signature verification: syntax, freshness, and constant-time HMAC comparison.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::error::{ErrorKind, Result};
pub(crate) use crate::key::hex_lower;
use crate::key::{KeyId, KeyRing, hex_tag_eq, lower_hex_64};
use crate::limits::Limits;

/// The encoding a request body arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// `application/json`: the current webhook format.
    Json,
    /// `application/x-www-form-urlencoded`: legacy webhooks and inbound routes.
    Form,
    /// `multipart/form-data`: legacy webhooks and inbound routes with attachments.
    Multipart,
}

impl Format {
    /// `"json"`, `"form"` or `"multipart"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Form => "form",
            Format::Multipart => "multipart",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Longest accepted timestamp: 12 digits is the year 33658, and cannot overflow a `u64`.
const MAX_TIMESTAMP_DIGITS: usize = 12;
/// Windows longer than this (about 31,700 years) are treated as this, so that expiry times
/// always fit a [`SystemTime`].
const MAX_WINDOW_SECS: u64 = 1_000_000_000_000;
/// Longest accepted token. Mailgun sends 50 characters; tests in the wild use fewer.
pub(crate) const MAX_TOKEN_LEN: usize = 256;

/// The default `max_age`: 8 h 30 min, Mailgun's retry window plus margin. See
/// [`VerifierBuilder::max_age`].
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(8 * 3600 + 30 * 60);
/// The default `max_skew`: 5 minutes. See [`VerifierBuilder::max_skew`].
pub const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(300);
/// Added to a record's lifetime in the replay store beyond the freshness window, to absorb
/// clock differences between the hosts that share a store.
pub(crate) const REPLAY_MARGIN_SECS: u64 = 60;

/// The signed fields of a delivery, exactly as they arrived.
///
/// Mailgun signs `hex(HMAC-SHA256(key, timestamp ‖ token))`. The strings are kept verbatim:
/// the HMAC is computed over the received text, never over a re-formatted number.
#[derive(Clone, PartialEq, Eq)]
pub struct Signature {
    timestamp: String,
    token: String,
    signature: String,
    parent_signature: Option<String>,
}

impl Signature {
    /// The three signed fields, as received.
    pub fn new(
        timestamp: impl Into<String>,
        token: impl Into<String>,
        signature: impl Into<String>,
    ) -> Self {
        Signature {
            timestamp: timestamp.into(),
            token: token.into(),
            signature: signature.into(),
            parent_signature: None,
        }
    }

    /// Adds the `parent-signature` that Mailgun sends for events of a sub-account.
    #[must_use]
    pub fn parent_signature(mut self, parent_signature: impl Into<String>) -> Self {
        self.parent_signature = Some(parent_signature.into());
        self
    }

    /// The `timestamp` field: unix seconds, as text.
    pub fn timestamp(&self) -> &str {
        &self.timestamp
    }

    /// The `token` field: a random string, 50 characters from Mailgun.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The `signature` field: 64 lowercase hex characters.
    pub fn signature(&self) -> &str {
        &self.signature
    }

    /// The `parent-signature` field, present on sub-account events.
    pub fn parent(&self) -> Option<&str> {
        self.parent_signature.as_deref()
    }
}

/// Prints the timestamp and token but never the signatures: a logged valid triple could be
/// replayed with another body once its reservation is released.
impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |s: &str| if s.is_empty() { "" } else { "<redacted>" };
        f.debug_struct("Signature")
            .field("timestamp", &self.timestamp)
            .field("token", &self.token)
            .field("signature", &redacted(&self.signature))
            .field(
                "parent_signature",
                &self.parent_signature.as_deref().map(redacted),
            )
            .finish()
    }
}

/// A source of the current time, for the freshness check and the replay store.
///
/// The default is [`SystemClock`]. Tests inject their own, or call
/// [`Verifier::verify_at`] with an explicit time.
pub trait Clock: fmt::Debug + Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> SystemTime {
        (**self).now()
    }
}

/// Whole unix seconds of `t`; times before 1970 count as 0.
pub(crate) fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A parsed request whose signature has not been checked yet.
///
/// Made by [`scan`](crate::scan()) (an [`Unverified<RawPayload>`](crate::RawPayload): only
/// the signed fields found, the payload kept raw) or [`parse`](crate::parse()), turned into
/// [`Verified`] by [`Verifier::verify`]. Nothing in it is trustworthy: the signature does not
/// cover the body.
#[derive(Debug, Clone)]
pub struct Unverified<P = crate::payload::Payload> {
    signature: Signature,
    format: Format,
    payload: P,
}

impl<P> Unverified<P> {
    /// Pairs a payload with the signature fields that came with it.
    pub fn new(signature: Signature, format: Format, payload: P) -> Self {
        Unverified {
            signature,
            format,
            payload,
        }
    }

    /// The signature fields.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// The body's encoding.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The unverified payload. Do not act on it before verifying.
    pub fn payload_unverified(&self) -> &P {
        &self.payload
    }

    /// The signature and the payload, apart.
    pub(crate) fn into_parts(self) -> (Signature, P) {
        (self.signature, self.payload)
    }

    /// Discards the signature and returns the payload, unverified.
    pub fn into_payload_unverified(self) -> P {
        self.payload
    }
}

/// A payload whose signature verified and whose timestamp is fresh.
///
/// Only a [`Verifier`] makes one. It is not yet protected against replay: pass it to a
/// [`ReplayStore`](crate::ReplayStore) (or let the [`Receiver`](crate::Receiver) do it) before
/// acting on the payload, because Mailgun's signature does not cover the body.
#[derive(Debug, Clone)]
pub struct Verified<P = crate::payload::Payload> {
    signature: Signature,
    format: Format,
    payload: P,
    timestamp: u64,
    key: KeyId,
    expires_at: u64,
    /// The time the signature was checked against (the clock's, or `verify_at`'s).
    verified_at: SystemTime,
    /// The request's content type and body, when the crate was given the body as owned bytes.
    body: Option<RawBody>,
    /// What the payload is, for logs and metrics, once it was decoded (set on the adapters'
    /// path, which converts the payload before it records the delivery's shape).
    kinds: Option<(crate::error::PayloadKind, Option<crate::event::EventKind>)>,
}

/// A request's content type and body, kept with its [`Verified`] value (a shared handle on
/// the buffer the body was read into: no copy).
#[derive(Clone)]
pub(crate) struct RawBody {
    pub(crate) content_type: String,
    pub(crate) bytes: bytes::Bytes,
}

/// The length only: a body holds personal data.
impl fmt::Debug for RawBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawBody")
            .field("content_type", &self.content_type)
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl<P> Verified<P> {
    /// The signature fields.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// The signed timestamp, in unix seconds.
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// The token.
    pub fn token(&self) -> &str {
        &self.signature.token
    }

    /// Which key verified the signature.
    pub fn matched_key(&self) -> KeyId {
        self.key
    }

    /// The body's encoding.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The verified payload.
    pub fn payload(&self) -> &P {
        &self.payload
    }

    /// Consumes the wrapper, returning the payload.
    pub fn into_payload(self) -> P {
        self.payload
    }

    /// Transforms the payload, keeping the proof of verification.
    pub fn map<Q>(self, f: impl FnOnce(P) -> Q) -> Verified<Q> {
        Verified {
            signature: self.signature,
            format: self.format,
            payload: f(self.payload),
            timestamp: self.timestamp,
            key: self.key,
            expires_at: self.expires_at,
            verified_at: self.verified_at,
            body: self.body,
            kinds: self.kinds,
        }
    }

    /// Transforms the payload with a step that can fail (the typed parse after verification),
    /// keeping the proof of verification.
    pub(crate) fn try_map_with<Q>(
        self,
        f: impl FnOnce(&Signature, P) -> Result<Q>,
    ) -> Result<Verified<Q>> {
        let payload = f(&self.signature, self.payload)?;
        Ok(Verified {
            signature: self.signature,
            format: self.format,
            payload,
            timestamp: self.timestamp,
            key: self.key,
            expires_at: self.expires_at,
            verified_at: self.verified_at,
            body: self.body,
            kinds: self.kinds,
        })
    }

    /// The identity of the signed triple, in no account's namespace (issue 8: stores record a
    /// delivery under [`replay_key_in`](Self::replay_key_in) its account's namespace instead).
    ///
    /// It is the SHA-256 of the exact signed string `timestamp ‖ token` (after a fixed domain
    /// tag). Keying on the signed string rather than on the token alone also catches
    /// digit-shift variants (`"142059145" + "2e4…"` signs the same as `"1420591452" + "e4…"`).
    ///
    /// It does not depend on which key verified the delivery: a sub-account delivery carries
    /// both `signature` and `parent-signature`, and a replay that keeps the parent signature
    /// but garbles the other must still find the record of the original.
    pub fn replay_key(&self) -> ReplayKey {
        ReplayKey::of(&self.signature)
    }

    /// When the signature was verified: the verifier's clock at [`Verifier::verify`], or the
    /// time given to [`Verifier::verify_at`]. The time a delivery was received, for a queue.
    pub fn verified_at(&self) -> SystemTime {
        self.verified_at
    }

    /// The request body exactly as received, when the crate was given it as owned bytes: in
    /// the handler of every framework adapter (`Webhook::process`), and after
    /// [`Verifier::parse_and_verify_bytes`] or
    /// [`Receiver::verify_request_bytes`](crate::Receiver::verify_request_bytes). `None` when
    /// the body was borrowed ([`Verifier::parse_and_verify`], [`Receiver::receive`](crate::Receiver::receive)):
    /// the crate does not copy a body to keep it; the caller still holds it.
    ///
    /// It is a shared handle on the buffer the body was read into, so the buffer lives as long
    /// as this value (in an adapter, until the handler returns). Mailgun's signature does not
    /// cover it: it is the body that came with a verified signature, bound to it by the replay
    /// store (see the [security model](crate#security-model)).
    pub fn raw_body(&self) -> Option<&[u8]> {
        self.body.as_ref().map(|b| &b.bytes[..])
    }

    /// The request's `Content-Type` header value, as received, when the body was kept (see
    /// [`raw_body`](Self::raw_body)).
    pub fn content_type(&self) -> Option<&str> {
        self.body.as_ref().map(|b| b.content_type.as_str())
    }

    /// Keeps the request's content type and body with this value (the crate's own entry points
    /// call it with the body they verified).
    /// Records what the payload is, for logs and metrics.
    pub(crate) fn with_kinds(
        mut self,
        kinds: (crate::error::PayloadKind, Option<crate::event::EventKind>),
    ) -> Self {
        self.kinds = Some(kinds);
        self
    }

    /// What the payload is, when recorded ([`with_kinds`](Self::with_kinds)).
    pub(crate) fn kinds(
        &self,
    ) -> Option<(crate::error::PayloadKind, Option<crate::event::EventKind>)> {
        self.kinds
    }

    pub(crate) fn with_body(mut self, content_type: &str, bytes: bytes::Bytes) -> Self {
        self.body = Some(RawBody {
            content_type: content_type.to_owned(),
            bytes,
        });
        self
    }

    /// The kept body, if any.
    pub(crate) fn body(&self) -> Option<&RawBody> {
        self.body.as_ref()
    }

    // ----- issue 8: replay keys scoped by account (keep this block when restructuring) -----
    /// The key under which a [`ReplayStore`](crate::ReplayStore) records this delivery for
    /// the account `namespace`: SHA-256 of a domain tag, the namespace and the exact signed
    /// string `timestamp ‖ token`. Receivers of different accounts sharing one store never see
    /// each other's records. [`Receiver`](crate::Receiver) uses it with the namespace of its key
    /// ring (or the one it was given).
    pub fn replay_key_in(&self, namespace: &crate::ReplayNamespace) -> ReplayKey {
        // Why `timestamp ‖ token` is hashed a second time here, after the HMAC hashed it
        // (issue 14, "one hash per delivery"; two SHA-256 blocks, about 7% of a JSON delivery's
        // instructions): the HMAC's inner hash is keyed by whichever key verified the delivery,
        // while this key must be the same for the primary, a previous and the parent key (a
        // replay that keeps `parent-signature` and garbles `signature` must find the original's
        // record), and must be computable without any key (`VerifiedEnvelope::replay_key` in a
        // worker). Deriving it from the primary key's tag would need a second HMAC on every
        // delivery verified by another key, and a key in every worker.
        let mut h = Sha256::new();
        h.update(b"mailgun-webhooks replay v2\0");
        h.update(namespace.as_bytes());
        h.update(self.signature.timestamp.as_bytes());
        h.update(self.signature.token.as_bytes());
        ReplayKey(h.finalize().into())
    }
    // ----- end issue 8 -----

    /// When the replay record of this delivery may be forgotten: after the signature stops
    /// being accepted (the signed timestamp plus `max_age`), plus a minute of margin.
    pub fn replay_expires_at(&self) -> SystemTime {
        // Up to 3 * 10^12 s: fits every platform's SystemTime but Windows', where a time that
        // far out is clamped to one that is still far beyond any freshness window.
        UNIX_EPOCH
            .checked_add(Duration::from_secs(self.expires_at))
            .unwrap_or(UNIX_EPOCH + Duration::from_secs(u64::from(u32::MAX) * 100))
    }

    /// [`replay_expires_at`](Self::replay_expires_at) in unix seconds.
    pub fn replay_expires_at_secs(&self) -> u64 {
        self.expires_at
    }
}

/// The identity of a signed delivery in a [`ReplayStore`](crate::ReplayStore): 32 bytes,
/// printed as lowercase hex. See [`Verified::replay_key`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplayKey([u8; 32]);

impl ReplayKey {
    /// The replay key of a signed triple, in no namespace ([`Verified::replay_key`]).
    pub(crate) fn of(signature: &Signature) -> ReplayKey {
        let mut h = Sha256::new();
        h.update(b"mailgun-webhooks replay v1\0");
        h.update(signature.timestamp.as_bytes());
        h.update(signature.token.as_bytes());
        ReplayKey(h.finalize().into())
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for ReplayKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReplayKey({self})")
    }
}

impl fmt::Display for ReplayKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex_lower(&self.0))
    }
}

/// Verifies Mailgun signatures: syntax, freshness, then HMAC against a [`KeyRing`].
///
/// Build one per process and share it (it is `Send + Sync` and cheap to clone):
///
/// ```
/// use std::time::Duration;
/// use mailgun_webhooks::{SigningKey, Verifier};
///
/// let verifier = Verifier::builder(SigningKey::new("my-webhook-signing-key"))
///     .max_age(Duration::from_secs(15 * 60))
///     .build();
/// # let _ = verifier;
/// ```
///
/// Verification checks, in this order, and stops at the first failure:
/// 1. syntax of the three fields (1–12 digit timestamp, a token of 1–256 visible ASCII
///    characters, 64 lowercase hex signature), before any HMAC is computed;
/// 2. freshness: no older than `max_age`, no further ahead than `max_skew` (both inclusive),
///    with checked arithmetic;
/// 3. HMAC-SHA256 of `timestamp ‖ token` under each signature key, compared in constant time;
///    then `parent-signature` under the parent key.
#[derive(Clone, Debug)]
pub struct Verifier {
    inner: Arc<VerifierInner>,
}

#[derive(Debug)]
struct VerifierInner {
    keys: KeyRing,
    max_age: u64,
    max_skew: u64,
    clock: Arc<dyn Clock>,
    limits: Limits,
}

impl Verifier {
    /// A verifier with default settings.
    pub fn new(keys: impl Into<KeyRing>) -> Self {
        Verifier::builder(keys).build()
    }

    /// Starts configuring a verifier.
    pub fn builder(keys: impl Into<KeyRing>) -> VerifierBuilder {
        VerifierBuilder {
            keys: keys.into(),
            max_age: DEFAULT_MAX_AGE,
            max_skew: DEFAULT_MAX_SKEW,
            clock: Arc::new(SystemClock),
            limits: Limits::default(),
        }
    }

    // ----- issue 8: the account's replay namespace (keep when restructuring) -----
    /// The replay namespace of this verifier's key ring: see
    /// [`ReplayNamespace::for_keys`](crate::ReplayNamespace::for_keys).
    pub fn replay_namespace(&self) -> crate::ReplayNamespace {
        crate::ReplayNamespace::for_keys(&self.inner.keys)
    }
    // ----- end issue 8 -----

    /// The limits applied by [`parse_and_verify`](Self::parse_and_verify) and the other
    /// parsing entry points of this verifier.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// The configured `max_age`.
    pub fn max_age(&self) -> Duration {
        Duration::from_secs(self.inner.max_age)
    }

    /// The configured `max_skew`.
    pub fn max_skew(&self) -> Duration {
        Duration::from_secs(self.inner.max_skew)
    }

    /// The clock used by [`verify`](Self::verify).
    pub fn clock(&self) -> &dyn Clock {
        &*self.inner.clock
    }

    /// Verifies at the clock's current time.
    pub fn verify<P>(&self, unverified: Unverified<P>) -> Result<Verified<P>> {
        self.verify_at(unverified, self.inner.clock.now())
    }

    /// Verifies as if the current time were `now`.
    pub fn verify_at<P>(&self, unverified: Unverified<P>, now: SystemTime) -> Result<Verified<P>> {
        let (timestamp, key) = self.check(&unverified.signature, unix_secs(now))?;
        let expires_at = timestamp
            .saturating_add(self.inner.max_age)
            .saturating_add(REPLAY_MARGIN_SECS);
        Ok(Verified {
            signature: unverified.signature,
            format: unverified.format,
            payload: unverified.payload,
            timestamp,
            key,
            expires_at,
            verified_at: now,
            body: None,
            kinds: None,
        })
    }

    /// Checks a bare signature triple at `now` and returns the key that matched.
    ///
    /// This does no replay check and gives no [`Verified`] value; prefer
    /// [`verify`](Self::verify).
    pub fn check_signature(&self, signature: &Signature, now: SystemTime) -> Result<KeyId> {
        self.check(signature, unix_secs(now)).map(|(_, key)| key)
    }

    fn check(&self, sig: &Signature, now: u64) -> Result<(u64, KeyId)> {
        let inner = &*self.inner;
        if !inner.keys.is_usable() {
            return Err(ErrorKind::NotConfigured {
                what: "the signing key is empty",
            }
            .into());
        }
        // 1. Syntax, before any HMAC.
        let timestamp = parse_timestamp(&sig.timestamp)?;
        check_token(&sig.token)?;
        let main = lower_hex_64(sig.signature.as_bytes());
        let parent = match (&sig.parent_signature, inner.keys.parent_key()) {
            (Some(p), Some(_)) => lower_hex_64(p.as_bytes()),
            _ => None,
        };
        if main.is_none() && parent.is_none() {
            return Err(if sig.signature.is_empty() {
                ErrorKind::MissingField { field: "signature" }.into()
            } else {
                ErrorKind::BadSignatureFormat.into()
            });
        }

        // 2. Freshness, inclusive bounds, no overflow.
        if timestamp <= now {
            let age = now - timestamp;
            if age > inner.max_age {
                return Err(ErrorKind::Stale {
                    age,
                    max_age: inner.max_age,
                }
                .into());
            }
        } else {
            let ahead = timestamp - now;
            if ahead > inner.max_skew {
                return Err(ErrorKind::FromFuture {
                    ahead,
                    max_skew: inner.max_skew,
                }
                .into());
            }
        }

        // 3. HMAC, compared in the hex domain: our tag is hex-encoded without branches or
        //    tables and compared with all 64 received bytes at once (`hex_tag_eq`), which is
        //    constant time and skips decoding the received hex.
        let ts = sig.timestamp.as_bytes();
        let token = sig.token.as_bytes();
        if let Some(expected) = main {
            for (id, key) in inner.keys.signature_keys() {
                if hex_tag_eq(&key.sign_parts(ts, token), expected) {
                    return Ok((timestamp, id));
                }
            }
        }
        if let (Some(expected), Some(key)) = (parent, inner.keys.parent_key())
            && hex_tag_eq(&key.sign_parts(ts, token), expected)
        {
            return Ok((timestamp, KeyId::Parent));
        }
        Err(ErrorKind::SignatureMismatch.into())
    }
}

/// Configures a [`Verifier`]. Made by [`Verifier::builder`].
#[derive(Debug)]
#[must_use]
pub struct VerifierBuilder {
    keys: KeyRing,
    max_age: Duration,
    max_skew: Duration,
    clock: Arc<dyn Clock>,
    limits: Limits,
}

impl VerifierBuilder {
    /// How old a signed timestamp may be. Default: [`DEFAULT_MAX_AGE`], 8 h 30 min. Values
    /// above 10^12 seconds count as 10^12 seconds.
    ///
    /// Mailgun retries a failed delivery for about 8 hours, and there is evidence (Hookdeck,
    /// PostHog) that retries resend the original `timestamp`, `token` and `signature`. A
    /// shorter window would then turn every late retry into a rejection and lose the event for
    /// good. A long window is safe because every accepted triple is recorded by the replay store
    /// until it stops being fresh, so a captured signature cannot be replayed with another body.
    /// If Mailgun is shown to re-sign retries, 15 minutes is enough.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// How far in the future a signed timestamp may be, for clock skew between Mailgun and this
    /// host. Default: [`DEFAULT_MAX_SKEW`], 5 minutes.
    pub fn max_skew(mut self, max_skew: Duration) -> Self {
        self.max_skew = max_skew;
        self
    }

    /// The clock used for freshness. Default: [`SystemClock`].
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Limits for parsing request bodies. Default: [`Limits::default`].
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Builds the verifier.
    pub fn build(self) -> Verifier {
        Verifier {
            inner: Arc::new(VerifierInner {
                keys: self.keys,
                max_age: self.max_age.as_secs().min(MAX_WINDOW_SECS),
                max_skew: self.max_skew.as_secs().min(MAX_WINDOW_SECS),
                clock: self.clock,
                limits: self.limits,
            }),
        }
    }
}

/// Parses `^[0-9]{1,12}$` into seconds. Twelve digits cannot overflow a `u64`.
fn parse_timestamp(s: &str) -> Result<u64> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Err(ErrorKind::MissingField { field: "timestamp" }.into());
    }
    if b.len() > MAX_TIMESTAMP_DIGITS {
        return Err(ErrorKind::BadTimestamp.into());
    }
    let mut n: u64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return Err(ErrorKind::BadTimestamp.into());
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(c - b'0')))
            .ok_or(ErrorKind::BadTimestamp)?;
    }
    Ok(n)
}

fn check_token(s: &str) -> Result<()> {
    if s.is_empty() {
        return Err(ErrorKind::MissingField { field: "token" }.into());
    }
    // Printable ASCII (0x21..=0x7e), checked without an early exit so that the loop
    // vectorises (the token is public).
    let graphic = s
        .bytes()
        .fold(true, |ok, c| ok & (c.wrapping_sub(0x21) < 0x5e));
    if s.len() > MAX_TOKEN_LEN || !graphic {
        return Err(ErrorKind::BadToken.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::SigningKey;

    const NOW: u64 = 1_700_000_000;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn signed(key: &str, ts: &str, token: &str) -> Signature {
        Signature::new(ts, token, SigningKey::new(key).sign(ts, token))
    }

    fn check(v: &Verifier, sig: Signature, now: u64) -> Result<KeyId> {
        v.check_signature(&sig, at(now))
    }

    fn kind(r: Result<KeyId>) -> ErrorKind {
        r.unwrap_err().into_kind()
    }

    #[test]
    fn debug_never_prints_a_signature() {
        let sig = signed("k", "1700000000", "tok").parent_signature("beef");
        let shown = format!("{sig:?}");
        assert!(
            shown.contains("tok") && shown.contains("<redacted>"),
            "{shown}"
        );
        assert!(
            !shown.contains(sig.signature()) && !shown.contains("beef"),
            "{shown}"
        );
    }

    #[test]
    fn accepts_a_good_signature() {
        let v = Verifier::new(SigningKey::new("k"));
        assert_eq!(
            check(&v, signed("k", "1700000000", "abc"), NOW).unwrap(),
            KeyId::Primary
        );
    }

    #[test]
    fn freshness_bounds_are_inclusive() {
        let v = Verifier::builder(SigningKey::new("k"))
            .max_age(Duration::from_secs(100))
            .max_skew(Duration::from_secs(10))
            .build();
        let ts = NOW.to_string();
        let sig = signed("k", &ts, "t");
        assert!(check(&v, sig.clone(), NOW + 100).is_ok());
        assert_eq!(
            kind(check(&v, sig.clone(), NOW + 101)),
            ErrorKind::Stale {
                age: 101,
                max_age: 100
            }
        );
        assert!(check(&v, sig.clone(), NOW - 10).is_ok());
        assert_eq!(
            kind(check(&v, sig, NOW - 11)),
            ErrorKind::FromFuture {
                ahead: 11,
                max_skew: 10
            }
        );
    }

    #[test]
    fn extreme_times_do_not_overflow() {
        let v = Verifier::builder(SigningKey::new("k"))
            .max_age(Duration::from_secs(u64::MAX))
            .max_skew(Duration::from_secs(u64::MAX))
            .build();
        let sig = signed("k", "999999999999", "t");
        assert!(v.check_signature(&sig, UNIX_EPOCH).is_ok());
        assert!(
            v.check_signature(&signed("k", "0", "t"), at(MAX_WINDOW_SECS))
                .is_ok()
        );
        let expiry = v
            .verify_at(Unverified::new(sig, Format::Json, ()), UNIX_EPOCH)
            .unwrap()
            .replay_expires_at();
        assert!(expiry > at(MAX_WINDOW_SECS));
        let strict = Verifier::new(SigningKey::new("k"));
        assert!(matches!(
            kind(check(&strict, signed("k", "0", "t"), 4 * MAX_WINDOW_SECS)),
            ErrorKind::Stale { .. }
        ));
    }

    #[test]
    fn rotation_and_parent() {
        let ring = KeyRing::new(SigningKey::new("new"))
            .previous(SigningKey::new("old"))
            .parent(SigningKey::new("parent"));
        let v = Verifier::new(ring);
        assert_eq!(
            check(&v, signed("old", "1700000000", "t"), NOW).unwrap(),
            KeyId::Previous(0)
        );
        let p = SigningKey::new("parent").sign("1700000000", "t");
        let sig = Signature::new("1700000000", "t", "garbage").parent_signature(p);
        assert_eq!(check(&v, sig, NOW).unwrap(), KeyId::Parent);
        // A parent signature is ignored when no parent key is configured.
        let v = Verifier::new(SigningKey::new("new"));
        let p = SigningKey::new("parent").sign("1700000000", "t");
        let sig = Signature::new("1700000000", "t", "garbage").parent_signature(p);
        assert_eq!(kind(check(&v, sig, NOW)), ErrorKind::BadSignatureFormat);
    }

    #[test]
    fn syntax_is_checked_before_hmac() {
        let v = Verifier::new(SigningKey::new("k"));
        let good = SigningKey::new("k").sign("1700000000", "t");
        let bad_ts = [
            "",
            "-1",
            "+1700000000",
            " 1",
            "1\n",
            "1.5",
            "1e9",
            "１２",
            "1234567890123",
        ];
        for ts in bad_ts {
            let k = kind(check(&v, Signature::new(ts, "t", &good), NOW));
            assert!(
                matches!(k, ErrorKind::BadTimestamp | ErrorKind::MissingField { .. }),
                "{ts:?}: {k:?}"
            );
        }
        for token in ["a b", "a\tb", "ü", "", &"a".repeat(257)] {
            let k = kind(check(&v, Signature::new("1700000000", token, &good), NOW));
            assert!(
                matches!(
                    k,
                    ErrorKind::BadToken | ErrorKind::MissingField { field: "token" }
                ),
                "{token:?}: {k:?}"
            );
        }
        for s in [
            &good[..63],
            &good[..32],
            &good.to_uppercase(),
            "g".repeat(64).as_str(),
        ] {
            assert_eq!(
                kind(check(&v, Signature::new("1700000000", "t", s), NOW)),
                ErrorKind::BadSignatureFormat,
                "{s}"
            );
        }
        assert_eq!(
            kind(check(&v, Signature::new("1700000000", "t", ""), NOW)),
            ErrorKind::MissingField { field: "signature" }
        );
    }

    #[test]
    fn replay_key_covers_the_signed_string_whichever_key_matched() {
        let ring = KeyRing::new(SigningKey::new("sub")).parent(SigningKey::new("parent"));
        let v = Verifier::builder(ring)
            .max_age(Duration::from_secs(NOW))
            .build();
        let sub_sig = SigningKey::new("sub").sign("1700000000", "9abc");
        let parent_sig = SigningKey::new("parent").sign("1700000000", "9abc");
        let verify = |sig: Signature| {
            v.verify_at(Unverified::new(sig, Format::Json, ()), at(NOW))
                .unwrap()
        };
        let a =
            verify(Signature::new("1700000000", "9abc", &sub_sig).parent_signature(&parent_sig));
        assert_eq!(a.matched_key(), KeyId::Primary);
        // The same delivery with the signature garbled verifies through the parent key, and
        // must map to the same record, or the replay would be accepted with another body.
        let garbled = "0".repeat(64);
        let b =
            verify(Signature::new("1700000000", "9abc", &garbled).parent_signature(&parent_sig));
        assert_eq!(b.matched_key(), KeyId::Parent);
        assert_eq!(a.replay_key(), b.replay_key());
        // Digit shift: same signed string, same signature, same replay key.
        let c = verify(Signature::new("170000000", "09abc", &sub_sig));
        assert_eq!(a.replay_key(), c.replay_key());
        // Another delivery, another key.
        let d = verify(signed("sub", "1700000000", "9abd"));
        assert_ne!(a.replay_key(), d.replay_key());
        assert_eq!(a.replay_expires_at_secs(), 2 * NOW + 60);
    }

    #[test]
    fn empty_keys_fail_closed() {
        let v = Verifier::new(SigningKey::new(""));
        let sig = signed("", "1700000000", "t");
        assert_eq!(
            kind(check(&v, sig.clone(), NOW)),
            ErrorKind::NotConfigured {
                what: "the signing key is empty"
            }
        );
        // An empty previous or parent key is skipped, never matched.
        let v = Verifier::new(KeyRing::new(SigningKey::new("k")).previous(SigningKey::new("")));
        assert_eq!(kind(check(&v, sig, NOW)), ErrorKind::SignatureMismatch);
        let v = Verifier::new(KeyRing::new(SigningKey::new("k")).parent(SigningKey::new(" ")));
        let p = SigningKey::new(" ").sign("1700000000", "t");
        let sig = Signature::new("1700000000", "t", "x").parent_signature(p);
        assert_eq!(kind(check(&v, sig, NOW)), ErrorKind::BadSignatureFormat);
        // A zeroed key (a failed read) is not configured either: `""` signs for it.
        let v = Verifier::new(SigningKey::new([0u8; 32]));
        assert_eq!(
            kind(check(&v, signed("", "1700000000", "t"), NOW)),
            ErrorKind::NotConfigured {
                what: "the signing key is empty"
            }
        );
    }
}
