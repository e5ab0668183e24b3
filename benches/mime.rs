//! The cost of the lazy MIME parse of a raw-MIME route post (`body-mime`), for a 1 MiB and a
//! 25 MiB message, beside the same run's baseline: parsing and verifying the same body without
//! reading the MIME. Run with `cargo bench --bench mime --features test-util`.
//!
//! Time: interleaved medians (the two functions take turns in short rounds, so that a change
//! of machine load affects both alike). Memory: peak heap growth of one call, counted by a
//! global allocator.

use std::hint::black_box;
use std::time::{Duration, UNIX_EPOCH};

use mailgun_webhooks::testing::FormBody;
use mailgun_webhooks::{Limits, SigningKey, Verifier};
use peak_alloc::PeakAlloc;

#[path = "support/mod.rs"]
mod support;

#[global_allocator]
static PEAK: PeakAlloc = PeakAlloc;

const KEY: &str = "demo-webhook-signing-key";
const NOW: u64 = 1_767_225_600;
const TOKEN: &str = "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0";

/// A message of about `size` bytes: headers, a text and an HTML part, and a PDF-like base64
/// attachment taking the rest.
fn message(size: usize) -> String {
    let mut m = String::from(
        "From: Alice Liddell <alice@example.com>\r\nTo: support@mg.example.com\r\n\
         Subject: =?utf-8?q?Invoice_n=C2=B0_80342?=\r\nDate: Fri, 03 May 2013 18:26:27 +0000\r\n\
         Message-ID: <20130503182626.18666.16540@example.com>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n--outer\r\n\
         Content-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n--alt\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
         Hello, please find the invoice attached.=0D=0A\r\n--alt\r\n\
         Content-Type: text/html; charset=utf-8\r\n\r\n<p>Hello, please find the invoice attached.</p>\r\n\
         --alt--\r\n--outer\r\nContent-Type: application/pdf; name=\"invoice.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"invoice.pdf\"\r\n\r\n",
    );
    let line = "JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMgMCBSL0ZpbHRlci9GbGF0ZUR\r\n";
    while m.len() + line.len() + 12 < size {
        m.push_str(line);
    }
    m.push_str("--outer--\r\n");
    m
}

fn main() {
    let key = SigningKey::new(KEY);
    let verifier = Verifier::builder(key.clone())
        .max_age(Duration::from_secs(3600))
        .limits(Limits::default())
        .build();
    let now = UNIX_EPOCH + Duration::from_secs(NOW);
    println!("lazy MIME parse of a raw-MIME route post (multipart/form-data, body-mime):");
    for (label, size, rounds, per_round) in [
        ("1 MiB", 1usize << 20, 21, 4u32),
        ("25 MiB", 25 << 20, 7, 1),
    ] {
        let signed = FormBody::new()
            .field("recipient", "support@mg.example.com")
            .field("sender", "alice@example.com")
            .field("body-mime", message(size))
            .sign(&key, NOW, TOKEN)
            .multipart();
        let (ct, body) = (signed.content_type.as_str(), signed.body.as_slice());
        let baseline = || {
            let v = verifier
                .verify_at(verifier.parse(ct, body).unwrap(), now)
                .unwrap();
            black_box(v)
        };
        let ours = || {
            let v = baseline();
            let msg = v.payload().as_inbound().unwrap();
            let view = msg.message().unwrap();
            assert_eq!(view.attachments().len(), 1);
            black_box(view.attachments()[0].size());
            black_box(v)
        };
        // Memory: peak growth of one call each.
        let peak = |f: &dyn Fn()| peak_alloc::peak_growth(f).0;
        let mem_base = peak(&|| drop(baseline()));
        let mem_ours = peak(&|| drop(ours()));
        let mime = message(size);
        let parser_only = || {
            black_box(mail_parser::MessageParser::default().parse(mime.as_bytes()));
        };
        let times = support::interleaved(
            &mut [&mut || drop(baseline()), &mut || drop(ours()), &mut || {
                parser_only()
            }],
            rounds,
            per_round,
        );
        let mib = |b: usize| b as f64 / f64::from(1u32 << 20);
        println!(
            "  {label} message ({} B body): time {:.2} ms -> {:.2} ms ({:.2}x); \
             peak heap {:.1} MiB -> {:.1} MiB ({:.2}x); of which mail-parser alone {:.2} ms",
            body.len(),
            times[0] / 1e6,
            times[1] / 1e6,
            times[1] / times[0],
            mib(mem_base),
            mib(mem_ours),
            mem_ours as f64 / mem_base as f64,
            times[2] / 1e6,
        );
    }
}
