//! The JSON `PayloadDigest` is a hand-written single pass over the body; this keeps the
//! implementation it replaced (serde_json into a borrowed tree, members sorted, the tree
//! hashed) as an oracle and checks, on random documents, that both give the same digest and
//! refuse the same bodies with the same error.
//!
//! `PROPTEST_CASES=20000 cargo test --test digest_oracle` for a longer run.
// Tests fail by panicking: unwrap, expect and panic are how they report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::borrow::Cow;
use std::fmt;

use mailgun_webhooks::{ErrorKind, Limits, PayloadDigest};
use proptest::prelude::*;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use sha2::{Digest as _, Sha256};

mod oracle {
    //! The JSON digest as it was computed before the single pass (PayloadDigest, issue 14d).
    use super::*;

    enum Canon<'a> {
        Null,
        Bool(bool),
        U(u64),
        I(i64),
        F(f64),
        S(Cow<'a, str>),
        A(Vec<Canon<'a>>),
        O(Vec<(Key<'a>, Canon<'a>)>),
    }

    impl<'de> Deserialize<'de> for Canon<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(CanonVisitor)
        }
    }

    struct CanonVisitor;

    impl<'de> Visitor<'de> for CanonVisitor {
        type Value = Canon<'de>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON value")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Canon<'de>, E> {
            Ok(Canon::Null)
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Canon<'de>, E> {
            Ok(Canon::Bool(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Canon<'de>, E> {
            Ok(Canon::U(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Canon<'de>, E> {
            Ok(Canon::I(v))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Canon<'de>, E> {
            Ok(Canon::F(v))
        }
        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Canon<'de>, E> {
            Ok(Canon::S(Cow::Borrowed(v)))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Canon<'de>, E> {
            Ok(Canon::S(Cow::Owned(v.to_owned())))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Canon<'de>, E> {
            Ok(Canon::S(Cow::Owned(v)))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Canon<'de>, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element()? {
                items.push(item);
            }
            Ok(Canon::A(items))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Canon<'de>, A::Error> {
            let mut members = Vec::new();
            while let Some(member) = map.next_entry::<Key<'de>, Canon<'de>>()? {
                members.push(member);
            }
            members.sort_by(|a, b| a.0.0.cmp(&b.0.0));
            Ok(Canon::O(members))
        }
    }

    struct Key<'a>(Cow<'a, str>);

    impl<'de> Deserialize<'de> for Key<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_str(KeyVisitor)
        }
    }

    struct KeyVisitor;

    impl<'de> Visitor<'de> for KeyVisitor {
        type Value = Key<'de>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object key")
        }
        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
            Ok(Key(Cow::Borrowed(v)))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
            Ok(Key(Cow::Owned(v.to_owned())))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
            Ok(Key(Cow::Owned(v)))
        }
    }

    fn word(h: &mut Sha256, tag: u8, w: [u8; 8]) {
        h.update([tag]);
        h.update(w);
    }

    fn len(n: usize) -> [u8; 8] {
        u64::try_from(n).unwrap().to_be_bytes()
    }

    fn put_members(h: &mut Sha256, members: &[&(Key<'_>, Canon<'_>)]) {
        word(h, b'o', len(members.len()));
        for (k, v) in members {
            word(h, b's', len(k.0.len()));
            h.update(k.0.as_bytes());
            put(h, v);
        }
    }

    fn put(h: &mut Sha256, value: &Canon<'_>) {
        match value {
            Canon::Null => h.update(b"n"),
            Canon::Bool(true) => h.update(b"t"),
            Canon::Bool(false) => h.update(b"f"),
            Canon::U(n) => word(h, b'u', n.to_be_bytes()),
            Canon::I(n) => word(h, b'i', n.to_be_bytes()),
            Canon::F(x) => word(h, b'd', x.to_bits().to_be_bytes()),
            Canon::S(s) => {
                word(h, b's', len(s.len()));
                h.update(s.as_bytes());
            }
            Canon::A(items) => {
                word(h, b'a', len(items.len()));
                for item in items {
                    put(h, item);
                }
            }
            Canon::O(members) => put_members(h, &members.iter().collect::<Vec<_>>()),
        }
    }

    /// The digest, or `None` where the old code refused the body (400, "does not parse").
    pub fn digest(body: &[u8]) -> Option<[u8; 32]> {
        let value: Canon<'_> = serde_json::from_slice(body).ok()?;
        let mut h = Sha256::new();
        h.update(b"mailgun-webhooks payload v1\0");
        h.update(b"J");
        match &value {
            Canon::O(members) => put_members(
                &mut h,
                &members
                    .iter()
                    .filter(|m| m.0.0 != "signature")
                    .collect::<Vec<_>>(),
            ),
            other => put(&mut h, other),
        }
        Some(h.finalize().into())
    }
}

const JSON: &str = "application/json";

/// Both implementations on `body`: the same digest, or both refusing it as malformed (400).
fn check(body: &[u8]) -> Result<(), TestCaseError> {
    let limits = Limits::default();
    let new = PayloadDigest::compute(JSON, body, &limits);
    let new_bytes = PayloadDigest::compute_bytes(JSON, body.to_vec(), &limits);
    let old = oracle::digest(body);
    let shown = String::from_utf8_lossy(body);
    match (&new, old) {
        (Ok(d), Some(o)) => prop_assert_eq!(*d.as_bytes(), o, "{}", shown),
        (Err(e), None) => {
            prop_assert!(
                matches!(e.kind(), ErrorKind::Malformed { .. }),
                "{}: {:?}",
                shown,
                e
            );
            prop_assert_eq!(e.status().as_u16(), 400);
        }
        _ => prop_assert!(false, "new {:?}, oracle {:?} on {}", new, old, shown),
    }
    match (&new, &new_bytes) {
        (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
        (Err(a), Err(b)) => prop_assert_eq!(a.status(), b.status()),
        _ => prop_assert!(false, "compute and compute_bytes disagree on {}", shown),
    }
    Ok(())
}

/// A document as a tree, rendered with random choices by [`render`].
#[derive(Clone, Debug)]
enum J {
    Null,
    Bool(bool),
    /// The number's text, written as it is.
    Num(String),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
    /// Text written as it is (mostly not valid JSON, or a tricky escape).
    Raw(String),
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        "-?(0|[1-9][0-9]{0,3})",
        "-?[1-9][0-9]{15,24}",
        "-?(0|[1-9][0-9]{0,20})\\.[0-9]{1,25}",
        "-?(0|[1-9][0-9]{0,20})(\\.[0-9]{1,20})?[eE][+-]?[0-9]{1,3}",
        prop::sample::select(vec![
            "-0",
            "0",
            "-0.0",
            "-0e5",
            "0e-400",
            "18446744073709551615",
            "18446744073709551616",
            "9999999999999999999",
            "10000000000000000000",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "-18446744073709551616",
            "1e400",
            "-1e400",
            "1e308",
            "1.7976931348623157e308",
            "1.7976931348623158e308",
            "1.7976931348623159e308",
            "2.2250738585072011e-308",
            "2.2250738585072014e-308",
            "4.9e-324",
            "2.4703282292062327e-324",
            "2.4703282292062328e-324",
            "1e-400",
            "0.1",
            "0.30000000000000004",
            "9007199254740993",
            "9007199254740993.0",
            "123456789012345678901234567890e-10",
            "1.00000000000000011102230246251565404236316680908203125",
            "7.038531e-26",
            "1e23",
            "8.98846567431158e307",
            "1E+2",
            "1e-0",
        ])
        .prop_map(str::to_owned),
    ]
}

/// Text that is rarely valid JSON on its own, or a tricky string.
fn raw() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "\"\\uD800\"",
        "\"\\uDC00\"",
        "\"\\uD800\\u0041\"",
        "\"\\uD800\\n\"",
        "\"\\uD800x\"",
        "\"\\uDBFF\\uDFFF\"",
        "\"\\uD83D\\uDE00\"",
        "\"\\ud83d\\ude00\"",
        "\"\\uD83D\\uD83D\\uDE00\"",
        "\"\\u00e9\\u00E9\"",
        "\"\\u0000\"",
        "\"\\u12\"",
        "\"\\u12G4\"",
        "\"\\x41\"",
        "\"\\'\"",
        "\"a\u{1}b\"",
        "\"tab\there\"",
        "\"\u{7f}\"",
        "\"unterminated",
        "01",
        "-01",
        "1.",
        ".5",
        "+1",
        "1e",
        "1e+",
        "-",
        "--1",
        "1.5.3",
        "0x10",
        "NaN",
        "Infinity",
        "-Infinity",
        "tru",
        "nul",
        "falsey",
        "True",
        "[1,]",
        "[,1]",
        "{\"a\":1,}",
        "{\"a\"}",
        "{\"a\" 1}",
        "{1:2}",
        "{'a':1}",
        "[",
        "]",
        "}",
        "[1 2]",
        "\"\"",
        "",
        "\u{feff}1",
    ])
    .prop_map(str::to_owned)
}

fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            "a",
            "b",
            "signature",
            "event",
            "id",
            "Signature",
            "signaturf",
            "é",
            "😀",
        ])
        .prop_map(str::to_owned),
        "[a-c\"\\\\/\\x00-\\x1f\\x7fé€😀\u{fffd}\u{10ffff} ]{0,12}",
        ".{0,40}",
        "[a-z]{200,300}",
    ]
}

/// A random document; with `raw`, some leaves are tricky or invalid text.
fn tree(raw_weight: u32) -> impl Strategy<Value = J> {
    let leaf = prop_oneof![
        1 => Just(J::Null),
        1 => any::<bool>().prop_map(J::Bool),
        4 => number().prop_map(J::Num),
        4 => string().prop_map(J::Str),
        raw_weight => raw().prop_map(J::Raw),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(J::Arr),
            prop::collection::vec((string(), inner), 0..8).prop_map(J::Obj),
        ]
    })
}

/// A small deterministic generator for rendering choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.0 | 1;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn ws(out: &mut String, rng: &mut Rng) {
    for _ in 0..rng.below(4).saturating_sub(1) {
        out.push([' ', '\n', '\t', '\r'][rng.below(4) as usize]);
    }
}

fn render_str(s: &str, out: &mut String, rng: &mut Rng) {
    out.push('"');
    for c in s.chars() {
        let must = c == '"' || c == '\\' || u32::from(c) < 0x20;
        match rng.below(if must { 2 } else { 4 }) {
            0 => {
                // A \u escape (a surrogate pair beyond the BMP), either case.
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    if rng.below(2) == 0 {
                        out.push_str(&format!("\\u{u:04x}"));
                    } else {
                        out.push_str(&format!("\\u{u:04X}"));
                    }
                }
            }
            1 => match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '/' => out.push_str("\\/"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
                c => out.push(c),
            },
            _ => out.push(c),
        }
    }
    out.push('"');
}

fn render(j: &J, out: &mut String, rng: &mut Rng) {
    match j {
        J::Null => out.push_str("null"),
        J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        J::Num(n) | J::Raw(n) => out.push_str(n),
        J::Str(s) => render_str(s, out, rng),
        J::Arr(items) => {
            out.push('[');
            ws(out, rng);
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                    ws(out, rng);
                }
                render(item, out, rng);
                ws(out, rng);
            }
            out.push(']');
        }
        J::Obj(members) => {
            out.push('{');
            ws(out, rng);
            for (i, (k, v)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                    ws(out, rng);
                }
                render_str(k, out, rng);
                ws(out, rng);
                out.push(':');
                ws(out, rng);
                render(v, out, rng);
                ws(out, rng);
            }
            out.push('}');
        }
    }
}

fn rendered(j: &J, seed: u64) -> String {
    let mut rng = Rng(seed);
    let mut out = String::new();
    ws(&mut out, &mut rng);
    render(j, &mut out, &mut rng);
    ws(&mut out, &mut rng);
    out
}

/// The same document with every object's members in another order, a repeated key keeping
/// its values in their order (so the same payload).
fn shuffled(j: &J, rng: &mut Rng) -> J {
    match j {
        J::Arr(items) => J::Arr(items.iter().map(|i| shuffled(i, rng)).collect()),
        J::Obj(members) => {
            let members: Vec<(String, J)> = members
                .iter()
                .map(|(k, v)| (k.clone(), shuffled(v, rng)))
                .collect();
            let mut order: Vec<usize> = (0..members.len()).collect();
            for i in (1..order.len()).rev() {
                order.swap(i, rng.below(i as u64 + 1) as usize);
            }
            // Keys in the new order, values of each key in document order.
            let keys: Vec<&String> = order.iter().map(|&i| &members[i].0).collect();
            let mut used = vec![false; members.len()];
            let out = keys
                .iter()
                .map(|k| {
                    let i = (0..members.len())
                        .find(|&i| !used[i] && &members[i].0 == *k)
                        .unwrap();
                    used[i] = true;
                    ((*k).clone(), members[i].1.clone())
                })
                .collect();
            J::Obj(out)
        }
        other => other.clone(),
    }
}

fn has_raw(j: &J) -> bool {
    match j {
        J::Raw(_) => true,
        J::Arr(items) => items.iter().any(has_raw),
        J::Obj(members) => members.iter().any(|(_, v)| has_raw(v)),
        _ => false,
    }
}

/// Byte-level damage: a byte removed, replaced or inserted.
fn mutate(body: &mut Vec<u8>, rng: &mut Rng) {
    const BYTES: &[u8] = b"\"\\u{}[],:0-.eE+ \x00\x1f\x7f\x80\xbf\xc0\xc3\xed\xa0\xf4\xf5\xffDd8";
    if body.is_empty() {
        body.push(BYTES[rng.below(BYTES.len() as u64) as usize]);
        return;
    }
    let at = rng.below(body.len() as u64) as usize;
    let b = BYTES[rng.below(BYTES.len() as u64) as usize];
    match rng.below(3) {
        0 => {
            body.remove(at);
        }
        1 => body[at] = b,
        _ => body.insert(at, b),
    }
}

fn nest(depth: usize, seed: u64) -> String {
    let mut rng = Rng(seed);
    let mut open = String::new();
    let mut close = String::new();
    for _ in 0..depth {
        if rng.below(2) == 0 {
            open.push('[');
            close.insert(0, ']');
        } else {
            open.push_str("{\"k\":");
            close.insert(0, '}');
        }
    }
    format!("{open}1{close}")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(512)
    ))]

    #[test]
    fn random_documents_digest_as_the_oracle_does(
        t in prop_oneof![tree(0), tree(1)],
        seed in any::<u64>(),
        other in any::<u64>(),
        damage in 0u8..4,
    ) {
        let body = rendered(&t, seed);
        check(body.as_bytes())?;
        // A top-level object, where the `signature` member is left out.
        let wrapped = J::Obj(vec![
            ("signature".to_owned(), J::Obj(vec![("token".to_owned(), J::Str("t".to_owned()))])),
            ("event-data".to_owned(), t.clone()),
            ("signature".to_owned(), t.clone()),
        ]);
        check(rendered(&wrapped, seed).as_bytes())?;
        let mut rng = Rng(other);
        // Another rendering of the same payload: same digest (when it has one).
        if !has_raw(&t) {
            let again = rendered(&shuffled(&wrapped, &mut rng), other);
            check(again.as_bytes())?;
            let a = PayloadDigest::compute(JSON, rendered(&wrapped, seed).as_bytes(), &Limits::default());
            let b = PayloadDigest::compute(JSON, again.as_bytes(), &Limits::default());
            if let (Ok(a), Ok(b)) = (a, b) {
                prop_assert_eq!(a, b);
            }
        }
        let mut damaged = body.into_bytes();
        for _ in 0..damage {
            mutate(&mut damaged, &mut rng);
        }
        check(&damaged)?;
    }

    #[test]
    fn nesting_is_refused_where_serde_json_refuses_it(depth in 120usize..136, seed in any::<u64>()) {
        check(nest(depth, seed).as_bytes())?;
    }

    #[test]
    fn raw_string_bytes_are_checked_as_serde_json_checks_them(
        pad in "[a-z ]{0,20}",
        bytes in prop::collection::vec(prop::sample::select(
            b"ab\"\\u0\x00\x1f\x7f\x80\xbf\xc3\xa9\xe2\x82\xac\xed\xa0\xf0\x9f\x98\x80\xff".to_vec()), 0..40),
    ) {
        let mut body = format!("[\"{pad}").into_bytes();
        body.extend_from_slice(&bytes);
        body.extend_from_slice(b"\"]");
        check(&body)?;
    }

    #[test]
    fn random_bytes_digest_as_the_oracle_does(body in prop::collection::vec(
        prop::sample::select(b"{}[]\",:\\ u0123456789-+.eEtrufalsn\xc3\xa9\x00\xff".to_vec()), 0..40)
    ) {
        check(&body)?;
    }
}

#[test]
fn nesting_limit_is_the_same() {
    for depth in 1..140 {
        for seed in 0..4 {
            let body = nest(depth, seed);
            let old = oracle::digest(body.as_bytes());
            let new = PayloadDigest::compute(JSON, body.as_bytes(), &Limits::default());
            assert_eq!(old.is_some(), new.is_ok(), "depth {depth}");
            if let (Some(o), Ok(n)) = (old, new) {
                assert_eq!(o, *n.as_bytes());
            }
        }
    }
    assert!(oracle::digest(nest(127, 0).as_bytes()).is_some());
    assert!(oracle::digest(nest(128, 0).as_bytes()).is_none());
}

#[test]
fn large_objects_with_repeated_keys_keep_their_values_in_order() {
    // Beyond the few members a small sort handles by insertion (stable either way).
    let mut rng = Rng(7);
    for n in [20usize, 50, 200] {
        let members: Vec<String> = (0..n)
            .map(|i| format!("\"k{}\":{i}", rng.below(5)))
            .collect();
        let body = format!("{{{}}}", members.join(","));
        check(body.as_bytes()).unwrap();
        let nested = format!("[{body},{{\"signature\":1,\"x\":{body}}}]");
        check(nested.as_bytes()).unwrap();
    }
}
