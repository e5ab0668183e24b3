//! Peak heap growth while receiving any body, forged or signed, in memory or streamed, stays
//! within twice the body plus 1 MiB.
#![no_main]

mod common;

use bytes::Bytes;
use futures_util::{FutureExt, stream};
use libfuzzer_sys::fuzz_target;
use mailgun_webhooks::{SigningKey, Verifier};
use peak_alloc::{PeakAlloc, peak_growth};

#[global_allocator]
static ALLOC: PeakAlloc = PeakAlloc;

const MIB: usize = 1 << 20;

fuzz_target!(|body: &[u8]| {
    let ct = common::content_type(body);
    let v = Verifier::new(SigningKey::new("fuzz-key"));
    let bound = 2 * body.len() + MIB;
    let (grew, _) = peak_growth(|| v.parse_and_verify(&ct, body).map(drop));
    assert!(grew <= bound, "in memory: grew {grew} > {bound}");
    let owned = Bytes::copy_from_slice(body);
    let chunks: Vec<Result<Bytes, std::io::Error>> = (0..body.len())
        .step_by(1024)
        .map(|i| Ok(owned.slice(i..(i + 1024).min(body.len()))))
        .collect();
    let (grew, _) = peak_growth(|| {
        v.parse_stream_and_verify(&ct, stream::iter(chunks))
            .now_or_never()
            .map(|r| r.map(drop))
    });
    assert!(grew <= bound, "streamed: grew {grew} > {bound}");
    // The typed parse too (what a signed body would cost), through the unverified path.
    let (grew, _) = peak_growth(|| mailgun_webhooks::parse(&ct, body, v.limits()).map(drop));
    assert!(grew <= bound, "typed: grew {grew} > {bound}");
});
