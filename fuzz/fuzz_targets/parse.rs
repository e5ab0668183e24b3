//! `parse`, `scan` and `parse_and_verify` on any body: no panic; `parse` succeeds exactly when
//! the envelope pass and the typed parse do; a forged body never verifies.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use mailgun_webhooks::{Limits, SigningKey, Verifier, parse, scan};

fuzz_target!(|body: &[u8]| {
    let ct = common::content_type(body);
    let limits = Limits::default().part_headers(1024);
    let parsed = parse(&ct, body, &limits);
    let scanned = scan(&ct, body, &limits);
    if let Ok(p) = &parsed {
        let s = scanned.as_ref().expect("parse succeeded but the envelope pass failed");
        assert_eq!(p.signature(), s.signature());
        assert_eq!(p.format(), s.format());
    }
    if let Ok(s) = scanned {
        let typed = s.parse_unverified();
        assert_eq!(typed.is_ok(), parsed.is_ok());
    }
    // Whatever the body says, nothing verifies without the key.
    let v = Verifier::builder(SigningKey::new("fuzz-key")).limits(limits).build();
    if let Ok(v) = v.parse_and_verify(&ct, body) {
        panic!("verified without the key: {:?}", v.signature());
    }
});
