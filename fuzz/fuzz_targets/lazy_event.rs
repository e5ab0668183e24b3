//! `LazyEvent` on any `event-data`, signed: no panic; its accessors agree with its own full
//! decode; it refuses only what the eager typed parse refuses, and where both succeed the
//! full decode is the eager `Event`.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use mailgun_webhooks::testing::ManualClock;
use mailgun_webhooks::{Limits, SigningKey, Verifier, scan_bytes};

mod lazy_common;

const TS: &str = "1700000000";

fuzz_target!(|event_data: &[u8]| {
    let key = SigningKey::new("fuzz-key");
    let mut body = format!(
        r#"{{"signature":{{"timestamp":"{TS}","token":"fuzz-token","signature":"{}"}},"event-data":"#,
        key.sign(TS, "fuzz-token")
    )
    .into_bytes();
    body.extend_from_slice(event_data);
    body.push(b'}');
    let body = Bytes::from(body);
    let verifier = Verifier::builder(key)
        .clock(ManualClock::at_secs(1_700_000_000))
        .limits(Limits::default())
        .build();
    let ct = "application/json";
    let eager = verifier.parse_and_verify_bytes(ct, body.clone());
    let lazy = scan_bytes(ct, body, verifier.limits())
        .and_then(|raw| verifier.verify(raw))
        .and_then(|v| v.parse_lazy());
    match lazy {
        Ok(lazy) => {
            let lazy = lazy.payload();
            lazy_common::assert_consistent(lazy);
            if let Ok(eager) = eager {
                let eager = eager.into_payload().into_event().expect("a JSON body is an event");
                assert_eq!(lazy.event(), &eager);
            }
        }
        Err(e) => assert!(eager.is_err(), "only the lazy parse refused: {e:?}"),
    }
});
