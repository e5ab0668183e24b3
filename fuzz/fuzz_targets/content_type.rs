//! The `Content-Type` parser: no panic; a boundary it returns is 1 to 70 RFC 2046 characters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailgun_webhooks::{ContentType, MediaType};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let Ok(ct) = ContentType::parse(s) else { return };
    match (ct.media_type(), ct.boundary()) {
        (MediaType::Multipart, Ok(b)) => {
            assert!((1..=70).contains(&b.len()), "{b:?}");
            assert!(
                b.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(&c)),
                "{b:?}"
            );
            assert!(!b.ends_with(' '));
        }
        (MediaType::Multipart, Err(_)) => {}
        (_, b) => assert!(b.is_err()),
    }
});
