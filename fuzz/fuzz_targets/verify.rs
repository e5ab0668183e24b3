//! The verifier against an independent model: syntax, freshness and HMAC written again here
//! from the specification, with the `hmac` crate directly.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use libfuzzer_sys::fuzz_target;
use mailgun_webhooks::{KeyId, Signature, SigningKey, Verifier};
use sha2::Sha256;

const MAX_AGE: u64 = 900;
const MAX_SKEW: u64 = 300;

/// What the verifier must answer: `Ok` or the error's name.
fn model(key: &[u8], ts: &str, token: &str, sig: &str, now: u64) -> Result<(), &'static str> {
    if key.iter().all(|&b| b == 0 || b.is_ascii_whitespace()) {
        return Err("not_configured");
    }
    if ts.is_empty() {
        return Err("missing_field");
    }
    if ts.len() > 12 || !ts.bytes().all(|c| c.is_ascii_digit()) {
        return Err("bad_timestamp");
    }
    if token.is_empty() {
        return Err("missing_field");
    }
    if token.len() > 256 || !token.bytes().all(|c| c.is_ascii_graphic()) {
        return Err("bad_token");
    }
    if sig.is_empty() {
        return Err("missing_field");
    }
    if sig.len() != 64 || !sig.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return Err("bad_signature_format");
    }
    let t: u64 = ts.parse().unwrap();
    if t <= now && now - t > MAX_AGE {
        return Err("stale");
    }
    if t > now && t - now > MAX_SKEW {
        return Err("from_future");
    }
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(ts.as_bytes());
    mac.update(token.as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if expected == sig { Ok(()) } else { Err("signature_mismatch") }
}

fuzz_target!(|data: &[u8]| {
    // key \0 ts \0 token \0 sig, then 8 bytes of clock offset (or the correct signature when
    // the sig field is "!", so that the Ok path is reached).
    let (text, clock) = data.split_at(data.len().saturating_sub(8));
    let text = String::from_utf8_lossy(text);
    let mut parts = text.splitn(4, '\0');
    let (key, ts, token, sig) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let mut offset = [0u8; 8];
    offset[..clock.len()].copy_from_slice(clock);
    let offset = i64::from_le_bytes(offset) % 2000;
    let base: u64 = ts.parse().unwrap_or(1_700_000_000).min(999_999_999_999);
    let now = base.saturating_add_signed(offset);
    let sig = if sig == "!" {
        SigningKey::new(key).sign(ts, token)
    } else {
        sig.to_owned()
    };
    let v = Verifier::builder(SigningKey::new(key))
        .max_age(Duration::from_secs(MAX_AGE))
        .max_skew(Duration::from_secs(MAX_SKEW))
        .build();
    let got = v
        .check_signature(
            &Signature::new(ts, token, sig.as_str()),
            UNIX_EPOCH + Duration::from_secs(now),
        )
        .map_err(|e| e.name());
    let want = model(key.as_bytes(), ts, token, &sig, now);
    assert_eq!(got.map(|_| ()), want, "key {key:?} ts {ts:?} token {token:?} now {now}");
    if want.is_ok() {
        assert_eq!(
            v.check_signature(&Signature::new(ts, token, sig.as_str()), UNIX_EPOCH + Duration::from_secs(now))
                .ok(),
            Some(KeyId::Primary)
        );
    }
});
