//! `LazyEvent` on any urlencoded form, signed (the signature fields appended), under a node
//! budget picked by the first byte: no panic; its accessors agree with its own full decode; it
//! refuses only what the eager parse refuses (a route's form: the same `wrong_endpoint`); where
//! both give an event, its full decode is the eager `Event`.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use mailgun_webhooks::testing::ManualClock;
use mailgun_webhooks::{Limits, SigningKey, Verifier, scan_bytes};

mod lazy_common;

const TS: &str = "1700000000";

fuzz_target!(|input: &[u8]| {
    // Budgets from 16 to 8,192 nodes, so that the bound that keeps a form event lazy is
    // crossed both ways.
    let (nodes, fields) = match input.split_first() {
        Some((b, rest)) => (16u64 << (b % 10), rest),
        None => (8192, input),
    };
    let key = SigningKey::new("fuzz-key");
    let mut body = fields.to_vec();
    body.extend_from_slice(
        format!(
            "&timestamp={TS}&token=fuzz-token&signature={}",
            key.sign(TS, "fuzz-token")
        )
        .as_bytes(),
    );
    let body = Bytes::from(body);
    let verifier = Verifier::builder(key)
        .clock(ManualClock::at_secs(1_700_000_000))
        .limits(Limits::default().json_nodes(nodes))
        .build();
    let ct = "application/x-www-form-urlencoded";
    let eager = verifier
        .parse_and_verify_bytes(ct, body.clone())
        .map(|v| v.into_payload().into_event());
    let lazy = scan_bytes(ct, body, verifier.limits())
        .and_then(|raw| verifier.verify(raw))
        .and_then(|v| v.parse_lazy());
    match (lazy, eager) {
        (Ok(lazy), eager) => {
            let lazy = lazy.payload();
            lazy_common::assert_consistent(lazy);
            match eager {
                Ok(Ok(eager)) => assert_eq!(lazy.event(), &eager),
                other => panic!("only the eager parse refused: {other:?}"),
            }
        }
        (Err(e), Ok(Ok(_))) => panic!("only the lazy parse refused: {e:?}"),
        (Err(e), Ok(Err(eager))) | (Err(e), Err(eager)) => assert_eq!(e.kind(), eager.kind()),
    }
});
