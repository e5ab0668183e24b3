//! A bounded, deterministic mutation run of the MIME view (the `fuzz/fuzz_targets/mime.rs`
//! target runs the same checks under cargo-fuzz): captured messages with bytes flipped,
//! structural tokens inserted and spans cut. Never a panic (debug assertions of the parser
//! included); errors are 400 or 413; attachments respect the file limit.

mod common;

use mailgun_webhooks::{InboundMessage, Limits, Payload, parse};

const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\n\n",
    b"--",
    b"--\r\n",
    b"Content-Type: multipart/mixed; boundary=",
    b"Content-Type: message/rfc822\r\n\r\n",
    b"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"=?utf-8?b?w6k=?=",
    b"filename*0*=utf-8''%2e%2e%2F; filename*1=CON",
    b"=\r\n",
    b"\xff\xfe",
    b";",
    b"\"",
];

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn seeds() -> Vec<Vec<u8>> {
    let mut out = vec![
        b"From: a@b\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n\
          Content-Type: text/plain\r\n\r\nhi\r\n--B\r\nContent-Type: message/rfc822\r\n\r\n\
          Subject: inner\r\n\r\nbody\r\n--B--\r\n"
            .to_vec(),
    ];
    let Some(dir) = common::fixtures() else {
        return out;
    };
    for file in [
        "cciw/inbound-raw-mime-dashboard-sample-post.form",
        "multi_mail/inbound-raw-mime-valid.form",
    ] {
        let body = std::fs::read(dir.join(file)).unwrap();
        let p = parse(
            "application/x-www-form-urlencoded",
            &body,
            &Limits::default(),
        )
        .unwrap();
        if let Payload::Inbound(m) = p.into_payload_unverified() {
            out.push(m.raw_mime().unwrap().to_vec());
        }
    }
    out
}

#[test]
fn mutated_messages_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let small = Limits::default().mime_depth(3).mime_parts(8).file(512);
    let seeds = seeds();
    let mut parsed = 0;
    for i in 0..3000 {
        let mut raw = seeds[i % seeds.len()].clone();
        for _ in 0..=rng.below(8) {
            let at = rng.below(raw.len() + 1);
            match rng.below(4) {
                0 if !raw.is_empty() => {
                    let at = at.min(raw.len() - 1);
                    raw[at] = rng.next() as u8;
                }
                1 => {
                    let t = TOKENS[rng.below(TOKENS.len())];
                    raw.splice(at..at, t.iter().copied());
                }
                2 => {
                    let end = (at + rng.below(200)).min(raw.len());
                    raw.drain(at..end);
                }
                _ => {
                    let end = (at + rng.below(64)).min(raw.len());
                    let copy = raw[at..end].to_vec();
                    let to = rng.below(raw.len() + 1);
                    raw.splice(to..to, copy);
                }
            }
        }
        for limits in [&Limits::default(), &small] {
            let msg = InboundMessage::from_mime(raw.clone(), limits);
            match msg.message() {
                Ok(view) => {
                    parsed += 1;
                    for a in view.attachments() {
                        assert!(a.size() as u64 <= limits.max_file());
                        assert!(!a.safe_filename().contains(['/', '\\']));
                    }
                }
                Err(e) => assert!([400, 413].contains(&e.status().as_u16()), "{e}"),
            }
        }
    }
    assert!(parsed > 3000, "most mutations still parse: {parsed}");
}
