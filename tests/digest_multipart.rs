//! The multipart `PayloadDigest` reads the body in place (multer handed 64 KiB windows, the
//! values found in the body by the envelope's framing scanner run in lockstep). This keeps the
//! implementation it replaced (multer handed the whole body as one chunk, each value kept as
//! multer's chunks) as an oracle and checks, on random multipart bodies, that both give the same
//! digest and refuse the same bodies with the same error.
//!
//! `PROPTEST_CASES=5000 cargo test --test digest_multipart` for a longer run.
// Tests fail by panicking: unwrap, expect and panic are how they report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use mailgun_webhooks::{ContentType, ErrorKind, Limit, Limits, MediaType, PayloadDigest};
use proptest::prelude::*;

mod oracle {
    //! The multipart digest as it was computed before it read the body in place (issue 14f):
    //! the same code, but for the `Result` plumbing.
    use std::convert::Infallible;

    use bytes::Bytes;
    use futures_util::FutureExt;
    use mailgun_webhooks::{ContentType, ErrorKind, Limit, Limits};
    use sha2::{Digest as _, Sha256};

    const DOMAIN: &[u8] = b"mailgun-webhooks payload v1\0";
    const SIGNED: [&[u8]; 4] = [b"timestamp", b"token", b"signature", b"parent-signature"];

    /// `PayloadDigest::compute` of a multipart body, as it was.
    pub fn digest(content_type: &str, body: &[u8], limits: &Limits) -> Result<[u8; 32], ErrorKind> {
        let ct = ContentType::parse(content_type).map_err(|e| e.into_kind())?;
        if u64::try_from(body.len()).map_or(true, |n| n > limits.max_body()) {
            return Err(ErrorKind::LimitExceeded {
                what: Limit::Body,
                limit: limits.max_body(),
            });
        }
        let mut h = Sha256::new();
        h.update(DOMAIN);
        let boundary = ct.boundary().map_err(|e| e.into_kind())?;
        multipart(&mut h, boundary, Bytes::copy_from_slice(body), limits)?;
        Ok(h.finalize().into())
    }

    fn put_bytes(h: &mut Sha256, tag: u8, bytes: &[u8]) {
        h.update([tag]);
        h.update(u64::try_from(bytes.len()).unwrap_or(u64::MAX).to_be_bytes());
        h.update(bytes);
    }

    fn put_opt(h: &mut Sha256, bytes: Option<&[u8]>) {
        match bytes {
            Some(b) => put_bytes(h, b'+', b),
            None => h.update([b'-']),
        }
    }

    fn last_signed<'a>(names: impl Iterator<Item = &'a [u8]>) -> [Option<usize>; 4] {
        let mut last = [None; 4];
        for (i, name) in names.enumerate() {
            if let Some(slot) = SIGNED.iter().position(|s| *s == name)
                && let Some(entry) = last.get_mut(slot)
            {
                *entry = Some(i);
            }
        }
        last
    }

    struct Part {
        name: String,
        filename: Option<String>,
        content_type: Option<String>,
        data: Vec<Bytes>,
    }

    fn put_chunks(h: &mut Sha256, tag: u8, chunks: &[Bytes]) {
        let len: usize = chunks.iter().map(Bytes::len).sum();
        h.update([tag]);
        h.update(u64::try_from(len).unwrap_or(u64::MAX).to_be_bytes());
        for c in chunks {
            h.update(c);
        }
    }

    fn multipart(
        h: &mut Sha256,
        boundary: &str,
        body: Bytes,
        limits: &Limits,
    ) -> Result<(), ErrorKind> {
        let per_field = limits
            .max_file()
            .max(limits.max_text_field())
            .max(limits.max_body());
        let constraints = multer::Constraints::new().size_limit(
            multer::SizeLimit::new()
                .whole_stream(limits.max_body())
                .per_field(per_field),
        );
        let stream = futures_util::stream::iter([Ok::<Bytes, Infallible>(body)]);
        let mut reader = multer::Multipart::with_constraints(stream, boundary, constraints);
        let malformed = || ErrorKind::Malformed {
            what: "the multipart body does not parse".into(),
        };
        let max_parts = usize::try_from(limits.max_parts()).unwrap_or(usize::MAX);
        let read = async {
            let mut parts = Vec::new();
            while let Some(mut field) = reader.next_field().await.map_err(|_| malformed())? {
                if parts.len() >= max_parts {
                    return Err(ErrorKind::LimitExceeded {
                        what: Limit::Parts,
                        limit: u64::from(limits.max_parts()),
                    });
                }
                let name = field.name().ok_or_else(malformed)?.to_owned();
                let filename = field.file_name().map(str::to_owned);
                let content_type = field.content_type().map(ToString::to_string);
                let mut data = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(|_| malformed())? {
                    data.push(chunk);
                }
                parts.push(Part {
                    name,
                    filename,
                    content_type,
                    data,
                });
            }
            Ok(parts)
        };
        let parts = read.now_or_never().unwrap_or_else(|| Err(malformed()))?;
        let last = last_signed(
            parts
                .iter()
                .map(|p| p.name.as_bytes())
                .collect::<Vec<_>>()
                .into_iter(),
        );
        h.update(b"F");
        for (i, part) in parts.iter().enumerate() {
            if last.contains(&Some(i)) && part.filename.is_none() {
                continue;
            }
            match &part.filename {
                None => {
                    h.update(b"t");
                    put_bytes(h, b'n', part.name.as_bytes());
                    put_chunks(h, b'v', &part.data);
                }
                Some(filename) => {
                    h.update(b"f");
                    put_bytes(h, b'n', part.name.as_bytes());
                    put_bytes(h, b'v', filename.as_bytes());
                    put_opt(h, part.content_type.as_deref().map(str::as_bytes));
                    put_chunks(h, b'd', &part.data);
                }
            }
        }
        Ok(())
    }
}

/// The new digest, from a slice and from `Bytes`, against the oracle: the same digest, or the
/// same error.
fn check(ct: &str, body: &[u8], limits: &Limits) -> Result<(), TestCaseError> {
    assert_eq!(
        ContentType::parse(ct).unwrap().media_type(),
        MediaType::Multipart
    );
    let old = oracle::digest(ct, body, limits);
    let new = PayloadDigest::compute(ct, body, limits)
        .map(|d| *d.as_bytes())
        .map_err(|e| e.into_kind());
    prop_assert_eq!(&new, &old, "compute");
    let from_bytes = PayloadDigest::compute_bytes(ct, Bytes::copy_from_slice(body), limits)
        .map(|d| *d.as_bytes())
        .map_err(|e| e.into_kind());
    prop_assert_eq!(&from_bytes, &old, "compute_bytes");
    Ok(())
}

const BOUNDARIES: [&str; 5] = [
    "b",
    "AaB03x",
    "----WebKitFormBoundary7MA4YWxkTrZu0gW",
    "x-y_z.9",
    "mailgun-webhooks-test-boundary-0",
];

const NAMES: [&str; 10] = [
    "timestamp",
    "token",
    "signature",
    "parent-signature",
    "recipient",
    "attachment-1",
    "attachment-2",
    "body-plain",
    "a b",
    "\u{e9}t\u{e9}",
];

const CONTENT_TYPES: [&str; 6] = [
    "text/plain",
    "application/octet-stream",
    "text/plain; charset=\"utf-8\"",
    "IMAGE/PNG",
    "not a media type",
    "message/rfc822",
];

/// A run of bytes: mostly what makes framing hard (CR, LF, dashes, a boundary's start), some
/// arbitrary bytes (invalid UTF-8 among them).
fn atoms(max: usize) -> impl Strategy<Value = Vec<u8>> {
    let atom = prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..8),
        2 => Just(b"\r\n".to_vec()),
        1 => Just(b"\r".to_vec()),
        1 => Just(b"\n".to_vec()),
        1 => Just(b"\r\n-".to_vec()),
        1 => Just(b"\r\n--".to_vec()),
        1 => Just(b"--".to_vec()),
        1 => Just(b"\r\n\r\n".to_vec()),
        1 => Just("h\u{e9}".as_bytes().to_vec()),
        1 => Just(vec![0xff, 0xfe, 0xc3]),
    ];
    prop::collection::vec(atom, 0..max).prop_map(|a| a.concat())
}

/// A long stretch, so that the 64 KiB windows end anywhere in a body (also inside a
/// delimiter, or just after a CR).
fn filler() -> impl Strategy<Value = Vec<u8>> {
    let unit = prop_oneof![
        Just(b"a".to_vec()),
        Just(b"\r\n-".to_vec()),
        Just(b"0123456789abcdef\r".to_vec()),
    ];
    (unit, 0usize..200_000).prop_map(|(u, n)| u.iter().copied().cycle().take(n).collect())
}

#[derive(Debug, Clone)]
struct PartSpec {
    name: usize,
    /// `Some(filename)` for a file.
    filename: Option<String>,
    content_type: Option<usize>,
    value: Vec<u8>,
    /// Header-block variations: lower-case header names, the filename first, an extra header,
    /// transport padding after the boundary, a header block over the 8 KiB limit.
    style: u8,
}

fn part() -> impl Strategy<Value = PartSpec> {
    (
        0..NAMES.len(),
        prop::option::weighted(
            0.4,
            prop_oneof![
                Just(String::new()),
                Just("a.txt".to_owned()),
                Just("r\u{e9}sum\u{e9}.pdf".to_owned()),
                Just("x;y=z.bin".to_owned()),
            ],
        ),
        prop::option::of(0..CONTENT_TYPES.len()),
        prop_oneof![
            6 => atoms(12),
            1 => filler(),
            1 => Just(Vec::new()),
        ],
        any::<u8>(),
    )
        .prop_map(|(name, filename, content_type, value, style)| PartSpec {
            name,
            filename,
            content_type,
            value,
            style,
        })
}

#[derive(Debug, Clone)]
struct BodySpec {
    boundary: usize,
    preamble: Vec<u8>,
    parts: Vec<PartSpec>,
    epilogue: Vec<u8>,
    /// 0: as built; else a damage (truncated, no close delimiter, a bare LF, a part without
    /// a disposition or a name, a byte changed).
    damage: u8,
    at: usize,
    max_parts: Option<u32>,
}

fn body_spec() -> impl Strategy<Value = BodySpec> {
    (
        0..BOUNDARIES.len(),
        prop_oneof![
            4 => Just(Vec::new()),
            4 => atoms(6),
            // Over the 8 KiB the framing scanner allows: the digest falls back to multer alone.
            1 => Just(vec![b'p'; 9000]),
        ],
        prop::collection::vec(part(), 0..9),
        prop_oneof![Just(Vec::new()), Just(b"\r\n".to_vec()), atoms(6)],
        prop_oneof![3 => Just(0u8), 1 => 1u8..8],
        any::<usize>(),
        prop::option::weighted(0.15, 1u32..6),
    )
        .prop_map(
            |(boundary, preamble, parts, epilogue, damage, at, max_parts)| BodySpec {
                boundary,
                preamble,
                parts,
                epilogue,
                damage,
                at,
                max_parts,
            },
        )
}

fn render(spec: &BodySpec) -> (String, Vec<u8>) {
    let b = BOUNDARIES[spec.boundary];
    let mut body = spec.preamble.clone();
    for (i, p) in spec.parts.iter().enumerate() {
        let pad = if p.style & 1 != 0 { " \t " } else { "" };
        body.extend_from_slice(format!("--{b}{pad}\r\n").as_bytes());
        let cd = if p.style & 2 != 0 {
            "content-disposition"
        } else {
            "Content-Disposition"
        };
        let name = NAMES[p.name];
        let mut disposition = match &p.filename {
            Some(f) if p.style & 4 != 0 => {
                format!("{cd}: form-data; filename=\"{f}\"; name=\"{name}\"")
            }
            Some(f) => format!("{cd}: form-data; name=\"{name}\"; filename=\"{f}\""),
            None => format!("{cd}: form-data; name=\"{name}\""),
        };
        match spec.damage {
            4 if i == spec.at % spec.parts.len() => disposition = "X-Not: a disposition".into(),
            5 if i == spec.at % spec.parts.len() => disposition = format!("{cd}: form-data"),
            _ => {}
        }
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(b"\r\n");
        if let Some(ct) = p.content_type {
            body.extend_from_slice(format!("Content-Type: {}\r\n", CONTENT_TYPES[ct]).as_bytes());
        }
        if p.style & 8 != 0 {
            body.extend_from_slice(b"X-Extra: 1\r\n");
        }
        if p.style & 0xf0 == 0xf0 {
            // Over the part-header limit: the digest falls back to multer alone.
            body.extend_from_slice(format!("X-Long: {}\r\n", "h".repeat(9000)).as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(&p.value);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{b}--").as_bytes());
    body.extend_from_slice(&spec.epilogue);
    match spec.damage {
        1 => body.truncate(spec.at % body.len().max(1)),
        2 => {
            let close = format!("--{b}--");
            let at = body
                .windows(close.len())
                .rposition(|w| w == close.as_bytes())
                .unwrap();
            body.truncate(at);
        }
        3 => {
            // The first boundary line ends in a bare LF.
            let open = format!("--{b}\r\n");
            if let Some(at) = body.windows(open.len()).position(|w| w == open.as_bytes()) {
                body.remove(at + open.len() - 2);
            }
        }
        6 | 7 if !body.is_empty() => {
            let at = spec.at % body.len();
            body[at] = body[at].wrapping_add(1 + spec.damage);
        }
        _ => {}
    }
    (format!("multipart/form-data; boundary={b}"), body)
}

fn limits(spec: &BodySpec) -> Limits {
    match spec.max_parts {
        Some(n) => Limits::default().parts(n),
        None => Limits::default(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256)
    ))]

    #[test]
    fn random_multipart_bodies_digest_as_the_oracle_does(spec in body_spec()) {
        let (ct, body) = render(&spec);
        check(&ct, &body, &limits(&spec))?;
    }
}

/// Renders bodies from a fixed seed (not shrunk), so that the cases below are known.
fn sample(n: usize, f: impl Fn(&mut BodySpec)) -> Vec<(BodySpec, String, Vec<u8>)> {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    (0..n)
        .map(|_| {
            let mut spec = body_spec().new_tree(&mut runner).unwrap().current();
            f(&mut spec);
            let (ct, body) = render(&spec);
            (spec, ct, body)
        })
        .collect()
}

#[test]
fn the_generated_bodies_mostly_parse_so_the_comparison_is_not_of_errors() {
    let bodies = sample(200, |s| {
        s.damage = 0;
        s.max_parts = None;
    });
    let mut ok = 0;
    for (spec, ct, body) in &bodies {
        check(ct, body, &limits(spec)).unwrap();
        ok += usize::from(PayloadDigest::compute(ct, body, &Limits::default()).is_ok());
    }
    assert!(ok * 10 >= bodies.len() * 9, "{ok} of {}", bodies.len());
}

#[test]
fn every_damage_and_the_part_limit_give_the_oracle_s_error() {
    let mut kinds = std::collections::BTreeSet::new();
    for damage in 1..8 {
        for (spec, ct, body) in sample(40, |s| {
            s.damage = damage;
            if s.parts.is_empty() {
                s.parts.push(s_part());
            }
        }) {
            check(&ct, &body, &limits(&spec)).unwrap();
            if let Err(e) = PayloadDigest::compute(&ct, &body, &limits(&spec)) {
                kinds.insert(format!("{:?}", e.into_kind()));
            }
        }
    }
    for (spec, ct, body) in sample(40, |s| {
        s.damage = 0;
        s.max_parts = Some(1);
        s.parts.extend([s_part(), s_part()]);
    }) {
        check(&ct, &body, &limits(&spec)).unwrap();
        assert_eq!(
            PayloadDigest::compute(&ct, &body, &limits(&spec))
                .unwrap_err()
                .into_kind(),
            ErrorKind::LimitExceeded {
                what: Limit::Parts,
                limit: 1
            }
        );
    }
    // Malformed bodies were among them (the oracle's own message: the new digest's errors are
    // its errors).
    assert!(
        kinds.contains("Malformed { what: \"the multipart body does not parse\" }"),
        "{kinds:?}"
    );
}

fn s_part() -> PartSpec {
    PartSpec {
        name: 4,
        filename: None,
        content_type: None,
        value: b"v".to_vec(),
        style: 0,
    }
}

#[test]
fn large_values_with_delimiter_like_bytes_at_every_window_edge() {
    // Values of CRs and half delimiters, sized so that a 64 KiB window ends at each offset of
    // the delimiter that follows them.
    let b = "mailgun-webhooks-test-boundary-0";
    for shift in 0..(b.len() + 6) {
        for unit in [&b"\r\n-"[..], b"\r", b"a"] {
            let mut body = Vec::new();
            let head = format!(
                "--{b}\r\nContent-Disposition: form-data; name=\"attachment-1\"; filename=\"f\"\r\n\r\n"
            );
            body.extend_from_slice(head.as_bytes());
            let n = (64 << 10) - head.len() - shift;
            body.extend(unit.iter().copied().cycle().take(n));
            body.extend_from_slice(format!("\r\n--{b}\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\nt\r\n--{b}--\r\n").as_bytes());
            let ct = format!("multipart/form-data; boundary={b}");
            check(&ct, &body, &Limits::default()).unwrap();
            assert!(PayloadDigest::compute(&ct, &body, &Limits::default()).is_ok());
        }
    }
}
