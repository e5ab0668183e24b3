//! Keeping a verified delivery for later: the raw body on [`Verified`], and
//! [`VerifiedEnvelope`], which carries a delivery to a queue, a table or another process and
//! is parsed there without verifying again.
//!
//! Sits above `parse`, `replay` and `receiver` in the pipeline's order: it only adds entry
//! points that keep the body those already verify, and a value built from a [`Verified`] one.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::error::{ErrorKind, Result};
use crate::key::KeyId;
use crate::limits::Limits;
use crate::parse::RawPayload;
use crate::payload::Payload;
use crate::receiver::Receiver;
use crate::replay::{PayloadDigest, ReplayStore};
use crate::verify::{ReplayKey, Signature, Verified};

impl<S: ReplayStore> Receiver<S> {
    /// [`verify_request`](Self::verify_request) for a body you own: the verified value keeps
    /// it (see [`Verified::raw_body`]). The framework adapters use it, so the body is reachable
    /// inside `Webhook::process`. The body is moved in, not copied (and, as with
    /// [`Verifier::parse_and_verify_bytes`](crate::Verifier::parse_and_verify_bytes), a multipart body is parsed without a copy of it).
    pub fn verify_request_bytes(
        &self,
        content_type: &str,
        body: impl Into<Bytes>,
    ) -> Result<(Verified<Payload>, PayloadDigest)> {
        let body = body.into();
        let verified = self
            .verifier()
            .parse_and_verify_bytes(content_type, body.clone())?;
        // After the signature verified, as `verify_request` does; from the shared body, so
        // that a multipart body is not copied for its digest either.
        let digest = PayloadDigest::compute_bytes(content_type, body, self.verifier().limits())?;
        Ok((verified, digest))
    }

    /// [`verify_request_bytes`](Self::verify_request_bytes) without the typed parse: the
    /// envelope pass, verification and the payload digest; the result keeps the body. The
    /// adapters decode the payload after this, as the endpoint's type asks
    /// ([`FromPayload::from_raw_payload`](crate::FromPayload::from_raw_payload)).
    #[cfg_attr(
        not(any(
            feature = "axum",
            feature = "actix-web",
            feature = "hyper",
            feature = "tower"
        )),
        allow(dead_code)
    )]
    pub(crate) fn verify_envelope_request_bytes(
        &self,
        content_type: &str,
        body: Bytes,
    ) -> Result<(Verified<RawPayload>, PayloadDigest)> {
        let raw = self
            .verifier()
            .verify_envelope_bytes(content_type, body.clone())?;
        // Only for the store: a store that does not read it gets an all-zero one, not computed
        // (the public entry points that return the digest always compute it, since a caller
        // may deduplicate with it elsewhere).
        let digest = if self.store().binds_payloads() {
            PayloadDigest::compute_bytes(content_type, body.clone(), self.verifier().limits())?
        } else {
            PayloadDigest::from_bytes([0; 32])
        };
        Ok((raw.with_body(content_type, body), digest))
    }
}

impl<P> Verified<P> {
    /// The delivery as a [`VerifiedEnvelope`], to queue or store and parse later, when the
    /// body was kept ([`raw_body`](Self::raw_body) is `Some`: in every adapter's handler, and
    /// after [`Verifier::parse_and_verify_bytes`](crate::Verifier::parse_and_verify_bytes)). `None` otherwise; then use
    /// [`to_envelope_with`](Self::to_envelope_with) with the body you hold.
    ///
    /// The body is shared, not copied. **Make the envelope after the delivery is reserved**
    /// (inside the handler): see [`VerifiedEnvelope`] for the trust boundary.
    pub fn to_envelope(&self) -> Option<VerifiedEnvelope> {
        let body = self.body()?;
        Some(self.envelope(body.content_type.clone(), body.bytes.clone()))
    }

    /// The delivery as a [`VerifiedEnvelope`], with the content type and body this value was
    /// verified from (for [`Receiver::receive`](crate::Receiver::receive), whose caller holds
    /// the body). Another body is caught when the envelope is parsed, if its signed fields
    /// differ; its payload is not checked (see [`VerifiedEnvelope::parse`]).
    pub fn to_envelope_with(&self, content_type: &str, body: impl Into<Bytes>) -> VerifiedEnvelope {
        self.envelope(content_type.to_owned(), body.into())
    }

    fn envelope(&self, content_type: String, body: Bytes) -> VerifiedEnvelope {
        VerifiedEnvelope {
            content_type,
            body,
            signature: self.signature().clone(),
            matched_key: self.matched_key(),
            received_at_ms: unix_ms(self.verified_at()),
        }
    }
}

/// A verified delivery, kept to be processed later: its content type and raw body, its signed
/// fields, the key that verified it and when. With the feature `serde` it implements
/// `Serialize` and `Deserialize`, so it can go onto a queue, into a table or to another
/// process, and be [parsed](Self::parse) there into the same [`Payload`] the live path gives,
/// **without verifying again**.
///
/// ```
/// use std::time::Duration;
/// use mailgun_webhooks::{Limits, SigningKey, Verifier, VerifiedEnvelope};
///
/// let key = SigningKey::new("key");
/// let body = format!(
///     r#"{{"signature":{{"timestamp":"1700000000","token":"abc","signature":"{}"}},
///         "event-data":{{"event":"delivered","id":"e1","recipient":"a@example.com"}}}}"#,
///     key.sign("1700000000", "abc"),
/// );
/// # let key = Verifier::builder(key).max_age(Duration::from_secs(u64::MAX)); // an old sample
/// let verifier = key.build();
/// // Where the delivery is received (an adapter's handler gets the same `Verified` value):
/// let verified = verifier.parse_and_verify_bytes("application/json", body)?;
/// let envelope = verified.to_envelope().expect("the body was kept");
///
/// #[cfg(feature = "serde")] // `Serialize` and `Deserialize` need the feature `serde`
/// let envelope: VerifiedEnvelope = {
///     let queued = serde_json::to_string(&envelope).unwrap(); // onto the queue...
///     serde_json::from_str(&queued).unwrap() // ...and off it, in a worker
/// };
/// let event = envelope.parse(&Limits::default())?.into_event()?; // no key needed
/// assert_eq!(event.id(), Some("e1"));
/// assert_eq!(envelope.replay_key(), verified.replay_key());
/// # Ok::<(), mailgun_webhooks::Error>(())
/// ```
///
/// # Trust boundary
///
/// **An envelope is trusted because of where it comes from, not because of what it holds.**
/// Parsing it does not check the signature (the key may not even be in the worker), the
/// freshness window, or the replay store: those were checked when it was received.
///
/// - **Only enqueue what you verified**, and only after the delivery was reserved in the
///   replay store (inside `process`, or after [`Receiver::admit`](crate::Receiver::admit)):
///   the signature does not cover the body, so a verified triple is bound to its body only by
///   the replay store. An envelope made from a delivery that was never reserved may carry a
///   replayed triple with a forged body.
/// - **Anyone who can write to the queue or table can forge deliveries**: a deserialized
///   envelope is whatever was written. Give the queue the access control you give the handler's
///   effects, and do not accept envelopes from outside the service.
/// - **The replay check happened at receive time.** A queue that delivers twice hands the
///   worker the same envelope twice: make the worker idempotent on
///   [`replay_key`](Self::replay_key) (see the crate docs' [idempotency](crate#idempotency)).
/// - No key material is in it: the signed fields are those Mailgun posted in the body
///   (`Debug` prints neither the signatures nor the body). A leaked envelope's triple cannot be
///   replayed with another body: the replay store binds it to this payload
///   ([`PayloadDigest`]) until it is no longer fresh.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifiedEnvelope {
    content_type: String,
    body: Bytes,
    signature: Signature,
    matched_key: KeyId,
    received_at_ms: u64,
}

impl VerifiedEnvelope {
    /// The request's `Content-Type` header value, as received.
    pub fn content_type(&self) -> &str {
        &self.content_type
    }

    /// The request body, byte for byte as received.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The signed fields (`timestamp`, `token`, `signature`, `parent-signature`) as received.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// Which key verified the signature.
    pub fn matched_key(&self) -> KeyId {
        self.matched_key
    }

    /// When the delivery was verified ([`Verified::verified_at`]), to the millisecond.
    pub fn received_at(&self) -> SystemTime {
        UNIX_EPOCH
            .checked_add(Duration::from_millis(self.received_at_ms))
            .unwrap_or(UNIX_EPOCH)
    }

    /// The delivery's identity, equal to the [`Verified::replay_key`] it was made from: the
    /// key under which "this delivery was handled" is recorded once (see
    /// [idempotency](crate#idempotency)).
    pub fn replay_key(&self) -> ReplayKey {
        ReplayKey::of(&self.signature)
    }

    /// The digest of the payload ([`PayloadDigest::compute`] over the kept body), under the
    /// limits the body was received with.
    pub fn payload_digest(&self, limits: &Limits) -> Result<PayloadDigest> {
        PayloadDigest::compute(&self.content_type, &self.body, limits)
    }

    /// The typed payload, as the live path parses it under the same `limits` (give the
    /// receiving side's [`Limits`]): the same [`Payload`], [`Event`](crate::Event),
    /// [`InboundMessage`](crate::InboundMessage) or [`StoredMessage`](crate::StoredMessage).
    ///
    /// **It does not verify the signature** (see the [trust boundary](Self#trust-boundary)):
    /// a body edited in the queue parses as edited. It checks only that the body's signed fields
    /// are the envelope's, which catches an envelope paired with the wrong body
    /// ([`Malformed`](ErrorKind::Malformed), 400). Otherwise it fails as the live parse would
    /// (400, 413, 415), which cannot happen for an envelope made from a body that parsed under
    /// the same limits.
    pub fn parse(&self, limits: &Limits) -> Result<Payload> {
        let unverified = crate::parse::parse(&self.content_type, &self.body, limits)?;
        if unverified.signature() != &self.signature {
            return Err(ErrorKind::Malformed {
                what: "the envelope's signature fields differ from its body's".into(),
            }
            .into());
        }
        Ok(unverified.into_payload_unverified())
    }
}

/// Neither the body (personal data) nor the signatures (see [`Signature`]'s `Debug`).
impl fmt::Debug for VerifiedEnvelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedEnvelope")
            .field("content_type", &self.content_type)
            .field("body_len", &self.body.len())
            .field("signature", &self.signature)
            .field("matched_key", &self.matched_key)
            .field("received_at_ms", &self.received_at_ms)
            .finish()
    }
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(feature = "serde")]
mod wire {
    //! The serialized form: a versioned map. The body is a UTF-8 string when it is valid UTF-8
    //! (`{"utf8": "..."}`), standard base64 with padding otherwise (`{"base64": "..."}`).

    use std::borrow::Cow;

    use bytes::Bytes;
    use serde::de::{self, Deserializer};
    use serde::ser::Serializer;
    use serde::{Deserialize, Serialize};

    use super::VerifiedEnvelope;
    use crate::key::KeyId;
    use crate::verify::Signature;

    const VERSION: u32 = 1;

    #[derive(Serialize, Deserialize)]
    struct Wire<'a> {
        version: u32,
        #[serde(borrow)]
        content_type: Cow<'a, str>,
        #[serde(borrow)]
        body: Body<'a>,
        #[serde(borrow)]
        signature: Signed<'a>,
        #[serde(borrow)]
        matched_key: Cow<'a, str>,
        received_at_ms: u64,
    }

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Body<'a> {
        Utf8(#[serde(borrow)] Cow<'a, str>),
        Base64(#[serde(borrow)] Cow<'a, str>),
    }

    #[derive(Serialize, Deserialize)]
    struct Signed<'a> {
        #[serde(borrow)]
        timestamp: Cow<'a, str>,
        #[serde(borrow)]
        token: Cow<'a, str>,
        #[serde(borrow)]
        signature: Cow<'a, str>,
        #[serde(
            borrow,
            default,
            rename = "parent-signature",
            skip_serializing_if = "Option::is_none"
        )]
        parent_signature: Option<Cow<'a, str>>,
    }

    impl Serialize for VerifiedEnvelope {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let body = match std::str::from_utf8(&self.body) {
                Ok(text) => Body::Utf8(Cow::Borrowed(text)),
                Err(_) => Body::Base64(Cow::Owned(base64_encode(&self.body))),
            };
            let sig = &self.signature;
            Wire {
                version: VERSION,
                content_type: Cow::Borrowed(&self.content_type),
                body,
                signature: Signed {
                    timestamp: Cow::Borrowed(sig.timestamp()),
                    token: Cow::Borrowed(sig.token()),
                    signature: Cow::Borrowed(sig.signature()),
                    parent_signature: sig.parent().map(Cow::Borrowed),
                },
                matched_key: Cow::Owned(self.matched_key.to_string()),
                received_at_ms: self.received_at_ms,
            }
            .serialize(s)
        }
    }

    impl<'de> Deserialize<'de> for VerifiedEnvelope {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let wire = Wire::deserialize(d)?;
            if wire.version != VERSION {
                return Err(de::Error::custom(format_args!(
                    "unsupported envelope version {}",
                    wire.version
                )));
            }
            let body = match wire.body {
                Body::Utf8(text) => Bytes::from(text.into_owned()),
                Body::Base64(text) => base64_decode(&text)
                    .map(Bytes::from)
                    .ok_or_else(|| de::Error::custom("the envelope's body is not valid base64"))?,
            };
            let matched_key = key_id(&wire.matched_key)
                .ok_or_else(|| de::Error::custom("unknown matched_key"))?;
            let s = wire.signature;
            let mut signature = Signature::new(s.timestamp, s.token, s.signature);
            if let Some(parent) = s.parent_signature {
                signature = signature.parent_signature(parent);
            }
            Ok(VerifiedEnvelope {
                content_type: wire.content_type.into_owned(),
                body,
                signature,
                matched_key,
                received_at_ms: wire.received_at_ms,
            })
        }
    }

    /// The inverse of `KeyId`'s `Display`: `primary`, `previous[i]`, `parent`.
    fn key_id(s: &str) -> Option<KeyId> {
        match s {
            "primary" => Some(KeyId::Primary),
            "parent" => Some(KeyId::Parent),
            _ => {
                let digits = s.strip_prefix("previous[")?.strip_suffix(']')?;
                if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
                    return None;
                }
                digits.parse().ok().map(KeyId::Previous)
            }
        }
    }

    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    /// Standard base64 (RFC 4648 §4) with padding.
    pub(super) fn base64_encode(data: &[u8]) -> String {
        let mut out = String::with_capacity(data.len().div_ceil(3).saturating_mul(4));
        for chunk in data.chunks(3) {
            let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
            let n = (byte(0) << 16) | (byte(1) << 8) | byte(2);
            for i in 0..4 {
                if i <= chunk.len() {
                    let sextet = (n >> (18 - 6 * i)) & 63;
                    out.push(char::from(ALPHABET[sextet as usize]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    fn sextet(c: u8) -> Option<u32> {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        Some(u32::from(v))
    }

    /// Strict standard base64 with padding: no whitespace, padding only at the end, and the
    /// bits a padded quantum drops must be zero (one encoding per byte string).
    pub(super) fn base64_decode(text: &str) -> Option<Vec<u8>> {
        let b = text.as_bytes();
        if !b.len().is_multiple_of(4) {
            return None;
        }
        let quads = b.len() / 4;
        let mut out = Vec::with_capacity(quads.saturating_mul(3));
        for (i, quad) in b.chunks_exact(4).enumerate() {
            let pad = if i + 1 == quads {
                quad.iter().rev().take_while(|&&c| c == b'=').count()
            } else {
                0
            };
            if pad > 2 {
                return None;
            }
            let mut n: u32 = 0;
            for (j, &c) in quad.iter().enumerate() {
                let v = if j >= 4 - pad { 0 } else { sextet(c)? };
                n = (n << 6) | v;
            }
            let dropped = match pad {
                1 => n & 0xff,
                2 => n & 0xffff,
                _ => 0,
            };
            if dropped != 0 {
                return None;
            }
            let bytes = n.to_be_bytes();
            out.extend_from_slice(bytes.get(1..4 - pad).unwrap_or_default());
        }
        Some(out)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn base64_matches_rfc_4648_vectors() {
            for (plain, encoded) in [
                ("", ""),
                ("f", "Zg=="),
                ("fo", "Zm8="),
                ("foo", "Zm9v"),
                ("foob", "Zm9vYg=="),
                ("fooba", "Zm9vYmE="),
                ("foobar", "Zm9vYmFy"),
            ] {
                assert_eq!(base64_encode(plain.as_bytes()), encoded);
                assert_eq!(base64_decode(encoded).unwrap(), plain.as_bytes());
            }
            let all: Vec<u8> = (0..=255).collect();
            assert_eq!(base64_decode(&base64_encode(&all)).unwrap(), all);
            assert_eq!(base64_encode(&[0xff, 0xfe]), "//4=");
        }

        #[test]
        fn base64_decoding_is_strict() {
            for bad in [
                "Zg=", "Zg", "Z===", "Zh==", "Zm9=", "Zg==Zg==", "Zm 9v", "Zm9v\n", "Zm-_",
            ] {
                assert!(base64_decode(bad).is_none(), "{bad:?}");
            }
        }

        #[test]
        fn key_ids_round_trip() {
            for k in [
                KeyId::Primary,
                KeyId::Previous(0),
                KeyId::Previous(12),
                KeyId::Parent,
            ] {
                assert_eq!(key_id(&k.to_string()), Some(k));
            }
            for bad in [
                "",
                "Primary",
                "previous[]",
                "previous[-1]",
                "previous[1",
                "previous[+1]",
            ] {
                assert_eq!(key_id(bad), None, "{bad:?}");
            }
        }
    }
}
