//! Memory of the lazy MIME parse on hostile shapes, counted with a global allocator (a count,
//! not a timing). One test function, so that nothing else allocates meanwhile.

use mailgun_webhooks::{InboundMessage, Limits};
use peak_alloc::PeakAlloc;

#[global_allocator]
static PEAK: PeakAlloc = PeakAlloc;

const SIZE: usize = 2 << 20;

fn repeat(head: &str, unit: &str, tail: &str) -> Vec<u8> {
    let mut s = String::from(head);
    while s.len() + unit.len() + tail.len() < SIZE {
        s.push_str(unit);
    }
    s.push_str(tail);
    s.into_bytes()
}

fn shapes() -> Vec<(&'static str, Vec<u8>)> {
    let mut nested = String::from("Subject: deep\n");
    let mut i = 0;
    while nested.len() < SIZE / 2 {
        nested.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=b{i}\n\n--b{i}\n"
        ));
        i += 1;
    }
    vec![
        ("header lines", repeat("", "a:b\n", "\nbody")),
        ("folded address list", repeat("To: ", "a,", "\n\nbody")),
        ("address list", repeat("To: ", "<a@b>,", "\n\nbody")),
        (
            "content-type parameters",
            repeat("Content-Type: text/plain", ";a=b", "\n\nbody"),
        ),
        ("references", repeat("References: ", "<a>", "\n\nbody")),
        (
            "tiny parts",
            repeat(
                "Content-Type: multipart/mixed; boundary=b\n\n",
                "--b\n\n",
                "--b--",
            ),
        ),
        (
            "tiny parts with headers",
            repeat(
                "Content-Type: multipart/mixed; boundary=b\n\n",
                "--b\nc:d\n\nx\n",
                "--b--",
            ),
        ),
        (
            "digest of empty messages",
            repeat(
                "Content-Type: multipart/digest; boundary=b\n\n",
                "--b\n\n",
                "--b--",
            ),
        ),
        (
            "message/rfc822 chain",
            repeat("", "Content-Type: message/rfc822\n\n", "body"),
        ),
        (
            "folded rfc822 chain",
            repeat("", "Content-Type:\n message/rfc822\n\n", "body"),
        ),
        (
            "dash runs",
            repeat(
                "Subject: x\n\n",
                "-------------------------------------------------------------------------\n",
                "",
            ),
        ),
        ("nested multiparts", nested.into_bytes()),
        // Shapes just under the structure bound, which are parsed.
        (
            "sparse header lines",
            repeat("", &format!("a:{}\n", "b".repeat(32)), "\nbody"),
        ),
        (
            "sparse parts",
            repeat(
                "Content-Type: multipart/mixed; boundary=b\n\n",
                &format!("--b\nc:d\n\n{}\n", "x".repeat(64)),
                "--b--",
            ),
        ),
        (
            "sparse parameters",
            repeat(
                "Content-Type: text/plain",
                &format!(";a={}", "b".repeat(14)),
                "\n\nbody",
            ),
        ),
        (
            "sparse rfc822 chain",
            repeat(
                "",
                &format!("Content-Type: message/rfc822\nX:{}\n\n", "y".repeat(40)),
                "body",
            ),
        ),
        (
            "sparse digest",
            repeat(
                "Content-Type: multipart/digest; boundary=b\n\n",
                &format!("--b\n\n{}\n", "z".repeat(60)),
                "--b--",
            ),
        ),
        ("sparse nested", {
            let mut n = String::from("Subject: deep\n");
            let mut i = 0;
            while n.len() < SIZE / 2 {
                n.push_str(&format!(
                    "Content-Type: multipart/mixed; boundary=b{i}\nX: {}\n\n--b{i}\n",
                    "p".repeat(40)
                ));
                i += 1;
            }
            n.into_bytes()
        }),
        (
            "plain text",
            repeat(
                "Subject: x\n\n",
                "Dear reader, this is a line of prose; it has commas, and: colons.\n",
                "",
            ),
        ),
    ]
}

#[test]
fn peak_heap_of_the_mime_view_is_bounded() {
    // Default part limit (its 4 KiB per part are below 8 times these sizes); deep nesting
    // allowed, so that the structure bound is what is tested.
    let limits = Limits::default().mime_depth(128);
    let mut report = Vec::new();
    for (name, raw) in shapes() {
        let len = raw.len();
        let msg = InboundMessage::from_mime(raw, &limits);
        let (growth, outcome) = peak_alloc::peak_growth(|| match msg.message() {
            Ok(v) => format!("ok, {} attachments", v.attachments().len()),
            Err(e) => format!("{e}"),
        });
        drop(msg);
        report.push(format!(
            "{name:>26}: {len} B -> peak +{growth} B ({:.1}x) {outcome}",
            growth as f64 / len as f64
        ));
        // The documented bound: the structure (8x + 1 MiB) plus the decoded text and files.
        assert!(
            growth <= 12 * len + (2 << 20),
            "{name}: {growth} B for {len} B ({outcome})"
        );
    }
    eprintln!("{}", report.join("\n"));
}
