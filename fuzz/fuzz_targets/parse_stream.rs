//! `parse_stream` under random chunking agrees with `parse` on the same body: the same
//! payload, or both an error.
#![no_main]

mod common;

use bytes::Bytes;
use futures_util::{FutureExt, stream};
use libfuzzer_sys::fuzz_target;
use mailgun_webhooks::{Limits, parse, parse_stream};

fuzz_target!(|body: &[u8]| {
    let ct = common::content_type(body);
    let limits = Limits::default().part_headers(1024);
    let whole = parse(&ct, body, &limits);
    let mut chunks = Vec::new();
    let mut rest = body;
    let mut sizes = common::chunk_sizes(body);
    while !rest.is_empty() {
        let n = sizes.next().unwrap_or(1).min(rest.len());
        chunks.push(Ok::<_, std::io::Error>(Bytes::copy_from_slice(&rest[..n])));
        rest = &rest[n..];
    }
    let streamed = parse_stream(&ct, stream::iter(chunks), &limits)
        .now_or_never()
        .expect("an always-ready stream finishes at once");
    match (&whole, &streamed) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.signature(), b.signature());
            assert_eq!(
                format!("{:?}", a.payload_unverified()),
                format!("{:?}", b.payload_unverified())
            );
        }
        // Both refuse it. Which fault is reported first may differ when a multipart body has
        // several: streamed, the framing guard checks every ready byte before multer parses
        // them; in memory, it runs one part behind multer.
        (Err(_), Err(_)) => {}
        (a, b) => panic!("in memory {a:?}, streamed {b:?}"),
    }
});
