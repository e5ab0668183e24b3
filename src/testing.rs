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

use sha2::{Digest, Sha256};

use crate::key::SigningKey;
use crate::verify::Clock;

/// A request body with the `Content-Type` to send it with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignedBody {
    /// The `Content-Type` header value.
    pub content_type: String,
    /// The body bytes.
    pub body: Vec<u8>,
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
