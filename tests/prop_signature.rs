//! Property tests: a signed triple verifies; any one-byte change to the timestamp, token or
//! signature does not; nothing panics on arbitrary input.

mod common;

use common::at;
use mailgun_webhooks::{Format, Limits, Signature, SigningKey, Unverified, Verifier, parse};
use proptest::prelude::*;

const NOW: u64 = 1_770_920_772;

fn verifier(key: &[u8]) -> Verifier {
    Verifier::builder(SigningKey::new(key))
        .max_age(std::time::Duration::from_secs(NOW))
        .max_skew(std::time::Duration::from_secs(1_000_000_000_000))
        .build()
}

fn verify(v: &Verifier, ts: &str, token: &str, sig: &str) -> bool {
    let u = Unverified::new(Signature::new(ts, token, sig), Format::Json, ());
    v.verify_at(u, at(NOW)).is_ok()
}

/// Replaces the byte at `i` with a different byte from `alphabet`.
fn mutate(s: &str, i: usize, pick: usize, alphabet: &[u8]) -> String {
    let mut b = s.as_bytes().to_vec();
    let i = i % b.len();
    let choices: Vec<u8> = alphabet.iter().copied().filter(|&c| c != b[i]).collect();
    b[i] = choices[pick % choices.len()];
    String::from_utf8(b).unwrap()
}

const DIGITS: &[u8] = b"0123456789";
const ALNUM: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const HEX: &[u8] = b"0123456789abcdef";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn signed_triples_verify(
        key in proptest::collection::vec(any::<u8>(), 0..200),
        ts in 0u64..=999_999_999_999,
        token in "[A-Za-z0-9]{1,256}",
    ) {
        // An empty or all-whitespace key never verifies (see `an_empty_key_never_verifies`).
        prop_assume!(!key.trim_ascii().is_empty());
        let v = verifier(&key);
        let ts = ts.to_string();
        let sig = SigningKey::new(&key).sign(&ts, &token);
        prop_assert!(verify(&v, &ts, &token, &sig));
    }

    #[test]
    fn one_byte_changes_fail(
        key in proptest::collection::vec(any::<u8>(), 1..100),
        ts in 1_000_000_000u64..=9_999_999_999,
        token in "[A-Za-z0-9]{50}",
        which in 0..3usize,
        i in any::<usize>(),
        pick in any::<usize>(),
    ) {
        let v = verifier(&key);
        let ts = ts.to_string();
        let sig = SigningKey::new(&key).sign(&ts, &token);
        let ok = match which {
            0 => verify(&v, &mutate(&ts, i, pick, DIGITS), &token, &sig),
            1 => verify(&v, &ts, &mutate(&token, i, pick, ALNUM), &sig),
            _ => verify(&v, &ts, &token, &mutate(&sig, i, pick, HEX)),
        };
        prop_assert!(!ok);
    }

    #[test]
    fn a_different_key_fails(
        key in proptest::collection::vec(any::<u8>(), 1..100),
        other in proptest::collection::vec(any::<u8>(), 1..100),
        token in "[A-Za-z0-9]{50}",
    ) {
        prop_assume!(key != other);
        let ts = NOW.to_string();
        let sig = SigningKey::new(&other).sign(&ts, &token);
        prop_assert!(!verify(&verifier(&key), &ts, &token, &sig));
    }

    #[test]
    fn verify_never_panics(ts in ".{0,20}", token in ".{0,300}", sig in ".{0,80}", now in any::<u64>()) {
        let v = Verifier::new(SigningKey::new("k"));
        let u = Unverified::new(Signature::new(ts, token, sig), Format::Json, ());
        let when = std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(now % (1 << 40)));
        let _ = v.verify_at(u, when.unwrap());
    }

    #[test]
    fn json_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse("application/json", &bytes, &Limits::default());
        let _ = mailgun_webhooks::Event::from_json(&bytes);
    }

    #[test]
    fn json_shapes_never_fail_a_signed_delivery(value in arb_json()) {
        // Whatever shape each event-data field has, a correctly signed body parses.
        let key = SigningKey::new("k");
        let ts = NOW.to_string();
        let token = "abc123";
        let fields = ["event", "timestamp", "id", "recipient", "tags", "user-variables", "message",
                      "delivery-status", "severity", "reason", "geolocation", "client-info", "url",
                      "flags", "envelope", "storage", "campaigns"];
        for field in fields {
            let mut event_data = serde_json::json!({"event": "failed"});
            event_data[field] = value.clone();
            let body = serde_json::json!({
                "signature": {"timestamp": ts, "token": token, "signature": key.sign(&ts, token)},
                "event-data": event_data,
            });
            let v = Verifier::new(key.clone());
            let u = v.parse("application/json", body.to_string().as_bytes());
            prop_assert!(u.is_ok(), "{field}: {:?}", u.err());
            prop_assert!(v.verify_at(u.unwrap(), at(NOW)).is_ok());
        }
    }
}

fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z-]{1,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
