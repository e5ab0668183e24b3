//! `PayloadDigest` values must never change: a record written by one version of the crate is
//! compared against a digest computed by the next. Every captured fixture, every example
//! payload and a set of tricky JSON bodies, each against the hex digest (or the error status)
//! the implementation produced when this test was written. `compute` and `compute_bytes` must
//! agree on each.
//!
//! To print the current values (after a deliberate, versioned change of the encoding only):
//! `MGW_PRINT_DIGESTS=1 cargo test --test digest_stability -- --nocapture`.
// Tests fail by panicking: unwrap, expect and panic are how they report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use mailgun_webhooks::{Limits, PayloadDigest};

mod common;
use common::{fixtures, split_request};

const JSON: &str = "application/json";

/// Every file under `dir`, sorted, recursively.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// The content type and body of a fixture file, `None` for a file that is not a body.
fn load(path: &Path) -> Option<(String, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let name = path.file_name().unwrap().to_str().unwrap();
    if name.ends_with(".json") {
        Some((JSON.to_owned(), bytes))
    } else if name.ends_with(".form") {
        Some(("application/x-www-form-urlencoded".to_owned(), bytes))
    } else if name.ends_with(".multipart") {
        let line = bytes.split(|&b| b == b'\n').next().unwrap();
        let boundary = std::str::from_utf8(line)
            .unwrap()
            .trim_end()
            .trim_start_matches("--")
            .to_owned();
        Some((format!("multipart/form-data; boundary={boundary}"), bytes))
    } else if name.ends_with(".txt") {
        split_request(&bytes)
    } else {
        None
    }
}

fn nest(depth: usize, open: &str, close: &str, inner: &str) -> String {
    format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
}

/// Tricky JSON bodies, by name.
fn tricky() -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(&str, String)> = vec![
        ("empty object", "{}".into()),
        ("empty array", "[]".into()),
        ("empty members", r#"{"a":{},"b":[],"c":"","":""}"#.into()),
        ("top-level null", "null".into()),
        ("top-level true", "true".into()),
        ("top-level number", "42".into()),
        ("top-level string", r#""signature""#.into()),
        (
            "top-level array with signature",
            r#"[{"signature":1}]"#.into(),
        ),
        ("only signature", r#"{"signature":{"token":"t"}}"#.into()),
        (
            "two signatures",
            r#"{"signature":1,"a":2,"signature":3}"#.into(),
        ),
        ("nested signature kept", r#"{"a":{"signature":1}}"#.into()),
        (
            "escaped signature key",
            r#"{"sign\u0061ture":1,"a":2}"#.into(),
        ),
        ("escape e-acute", r#"{"k":"caf\u00e9"}"#.into()),
        ("literal e-acute", "{\"k\":\"café\"}".into()),
        ("uppercase escape", r#"{"k":"caf\u00E9"}"#.into()),
        ("escaped key", r#"{"caf\u00e9":1}"#.into()),
        ("literal key", "{\"café\":1}".into()),
        ("surrogate pair", r#"{"k":"\ud83d\ude00"}"#.into()),
        ("literal astral", "{\"k\":\"😀\"}".into()),
        ("lone surrogate", r#"{"k":"\ud83d"}"#.into()),
        ("lone low surrogate", r#"{"k":"\ude00x"}"#.into()),
        ("short escapes", r#"{"k":"\"\\\/\b\f\n\r\t"}"#.into()),
        ("escaped nul", r#"{"k":"a\u0000b"}"#.into()),
        ("raw control char", "{\"k\":\"a\u{1}b\"}".into()),
        ("repeated keys", r#"{"a":1,"b":0,"a":2,"a":"x"}"#.into()),
        (
            "repeated keys swapped",
            r#"{"a":2,"b":0,"a":1,"a":"x"}"#.into(),
        ),
        ("repeated via escape", r#"{"a\u0062":1,"ab":2}"#.into()),
        (
            "repeated via escape swapped",
            r#"{"ab":2,"a\u0062":1}"#.into(),
        ),
        (
            "keys differ after escape",
            r#"{"a\u0062c":1,"a\u0062d":2,"abb":3}"#.into(),
        ),
        (
            "keys prefix order",
            r#"{"ab":1,"a":2,"a\u0000":3,"b":4,"B":5,"é":6,"z":7}"#.into(),
        ),
        (
            "repeated nested objects",
            r#"{"o":{"y":1,"x":2},"o":{"x":3}}"#.into(),
        ),
        (
            "whitespace everywhere",
            " \n\t\r{ \n\"a\" \t:\r [ 1 , { \"b\" : null } , \"c\" ] ,\n \"d\" : -0 } \n".into(),
        ),
        ("compact same", r#"{"a":[1,{"b":null},"c"],"d":-0}"#.into()),
        ("minus zero", r#"{"n":-0}"#.into()),
        ("zero", r#"{"n":0}"#.into()),
        ("minus zero float", r#"{"n":-0.0}"#.into()),
        ("zero float", r#"{"n":0.0}"#.into()),
        ("one vs one float", r#"[1,1.0,1e0,10E-1]"#.into()),
        ("u64 max", r#"[18446744073709551615]"#.into()),
        ("u64 max + 1", r#"[18446744073709551616]"#.into()),
        ("i64 min", r#"[-9223372036854775808]"#.into()),
        ("i64 min - 1", r#"[-9223372036854775809]"#.into()),
        ("negative", r#"[-1,-42]"#.into()),
        (
            "floats",
            r#"[0.1,-2.5,3.14159265358979323846,1.7976931348623157e308]"#.into(),
        ),
        (
            "exponents",
            r#"[1e5,1E+5,1e-5,-1.5e-300,5e-324,1e-400]"#.into(),
        ),
        ("overflow 1e400", r#"[1e400]"#.into()),
        ("overflow -1e400", r#"[-1e400]"#.into()),
        ("long mantissa", format!("[0.{}1]", "0".repeat(400))),
        ("bools and null", r#"{"t":true,"f":false,"n":null}"#.into()),
        ("string vs number", r#"{"a":"1"}"#.into()),
        ("number vs string", r#"{"a":1}"#.into()),
        ("length prefix a", r#"{"ab":"c"}"#.into()),
        ("length prefix b", r#"{"a":"bc"}"#.into()),
        ("arrays of arrays", "[[],[[]],[[],[]],{}]".into()),
        ("deep arrays 126", nest(126, "[", "]", "1")),
        ("deep arrays 127", nest(127, "[", "]", "1")),
        ("deep arrays 128", nest(128, "[", "]", "1")),
        ("deep arrays 129", nest(129, "[", "]", "1")),
        ("deep objects 127", nest(127, "{\"a\":", "}", "1")),
        ("deep objects 128", nest(128, "{\"a\":", "}", "1")),
        ("deep objects 129", nest(129, "{\"a\":", "}", "1")),
        ("deep mixed", nest(60, "{\"a\":[", "]}", "{}")),
        (
            "wide object",
            format!(
                "{{{}\"z\":0}}",
                (0..500)
                    .rev()
                    .map(|i| format!("\"k{i}\":{i},"))
                    .collect::<String>()
            ),
        ),
        (
            "wide array",
            format!(
                "[{}0]",
                (0..500).map(|i| format!("\"{i}\",")).collect::<String>()
            ),
        ),
        ("trailing garbage", r#"{"a":1}x"#.into()),
        ("trailing comma", r#"{"a":1,}"#.into()),
        ("trailing whitespace only", "{\"a\":1}   \n".into()),
        ("two documents", r#"{"a":1}{"b":2}"#.into()),
        ("empty body", "".into()),
        ("whitespace body", "  ".into()),
        ("unquoted key", "{a:1}".into()),
        ("single quotes", "{'a':1}".into()),
        ("nan", "[NaN]".into()),
        ("leading zero", "[01]".into()),
        ("bad escape", r#"{"a":"\x"}"#.into()),
        ("non-string key", "{1:2}".into()),
        ("long string 255", format!("[\"{}\"]", "x".repeat(255))),
        ("long string 256", format!("[\"{}\"]", "y".repeat(256))),
        (
            "long strings",
            format!(
                "{{\"a\":\"{}\",\"b\":\"{}\",\"c\":[\"{}\",1]}}",
                "a".repeat(300),
                "b".repeat(1000),
                "c".repeat(200)
            ),
        ),
        (
            "long key",
            format!("{{\"{}\":1,\"k\":\"v\"}}", "k".repeat(600)),
        ),
        (
            "long escaped string",
            format!("[\"{}\"]", "\\u00e9\\n".repeat(200)),
        ),
    ];
    let mut out: Vec<(String, Vec<u8>)> = v
        .drain(..)
        .map(|(n, b)| (n.to_owned(), b.into_bytes()))
        .collect();
    out.push(("bom".into(), b"\xef\xbb\xbf{\"a\":1}".to_vec()));
    out.push((
        "invalid utf-8 in string".into(),
        b"{\"a\":\"\xff\"}".to_vec(),
    ));
    out.push(("invalid utf-8 in key".into(), b"{\"\xc3\":1}".to_vec()));
    out.push(("overlong utf-8".into(), b"{\"a\":\"\xc0\xaf\"}".to_vec()));
    out
}

fn digest_of(ct: &str, body: &[u8]) -> String {
    let limits = Limits::default();
    let a = PayloadDigest::compute(ct, body, &limits);
    let b = PayloadDigest::compute_bytes(ct, body.to_vec(), &limits);
    match (a, b) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b, "compute and compute_bytes differ");
            a.to_string()
        }
        (Err(a), Err(b)) => {
            assert_eq!(a.status(), b.status(), "compute and compute_bytes differ");
            format!("error {}", a.status().as_u16())
        }
        (a, b) => panic!("compute and compute_bytes differ: {a:?} / {b:?}"),
    }
}

/// Every body with its name, in a fixed order.
fn all() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Vec::new();
    files(&root.join("examples/payloads"), &mut paths);
    if let Some(dir) = fixtures() {
        files(&dir, &mut paths);
    }
    for p in paths {
        if let Some((ct, body)) = load(&p) {
            let name = p
                .strip_prefix(root)
                .unwrap_or(&p)
                .to_string_lossy()
                .into_owned();
            out.push((name, digest_of(&ct, &body)));
        }
    }
    for (name, body) in tricky() {
        out.push((format!("tricky: {name}"), digest_of(JSON, &body)));
    }
    out
}

#[test]
fn digests_never_change() {
    let got = all();
    if std::env::var_os("MGW_PRINT_DIGESTS").is_some() {
        for (name, d) in &got {
            println!("    ({name:?}, {d:?}),");
        }
    }
    assert!(got.len() > 150, "only {} bodies", got.len());
    let mut checked = 0;
    for (name, d) in &got {
        let expected = GOLDEN
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no golden value for {name}"));
        assert_eq!(d, expected.1, "{name}");
        checked += 1;
    }
    assert_eq!(checked, got.len());
}

#[test]
fn the_set_covers_what_it_should() {
    // The interesting equalities and differences, so that the golden list is not all there is.
    let g = |name: &str| {
        GOLDEN
            .iter()
            .find(|(n, _)| *n == format!("tricky: {name}"))
            .unwrap()
            .1
    };
    assert_eq!(g("escape e-acute"), g("literal e-acute"));
    assert_eq!(g("escape e-acute"), g("uppercase escape"));
    assert_eq!(g("escaped key"), g("literal key"));
    assert_eq!(g("surrogate pair"), g("literal astral"));
    assert_eq!(g("whitespace everywhere"), g("compact same"));
    assert_ne!(g("repeated via escape"), g("repeated via escape swapped"));
    assert_ne!(g("repeated keys"), g("repeated keys swapped"));
    assert_ne!(g("string vs number"), g("number vs string"));
    assert_ne!(g("length prefix a"), g("length prefix b"));
    assert_ne!(g("minus zero float"), g("zero float"));
    assert!(g("trailing garbage").starts_with("error"));
    // The top-level signature member is not payload; a nested one is.
    assert_eq!(g("only signature"), g("empty object"));
    assert_ne!(g("nested signature kept"), g("empty object"));
}

/// The values the implementation produced when this test was written (never edit one to make
/// the test pass: a changed digest breaks every record a store holds).
const GOLDEN: &[(&str, &str)] = &[
    (
        "examples/payloads/accepted.json",
        "619c0b32ac3734becc32801d2fe5063f7394a30b82ae93e2c4bc92c809717c60",
    ),
    (
        "examples/payloads/clicked.json",
        "96219db0f5c620bf96a415be88fccfca7d744e0aa69818b3035f9e67a1725b65",
    ),
    (
        "examples/payloads/complained.json",
        "9024035a5c624c8fcaf9993cbf258e0a1aacdf1215daa1fa3a0c1f2419c2e057",
    ),
    (
        "examples/payloads/delivered.json",
        "115d40c7086cb6fac6906d65e99203b61d12a29f157c0a069af11acf18f16636",
    ),
    (
        "examples/payloads/failed-permanent.json",
        "ed49abcf888d9c376beec8e695657ab0a0060a1b5ee00987d572f0ebc25a591a",
    ),
    (
        "examples/payloads/failed-temporary.json",
        "f56394dc22565a8efdae57eb6a452bc751b9fea8ff2cdbac894dea55a848644b",
    ),
    (
        "examples/payloads/legacy-bounced.multipart",
        "4406f6f1f75b1a300f8c31540d6d196de5c1545065cbb71479974f116061010a",
    ),
    (
        "examples/payloads/legacy-delivered.form",
        "1fb5e8b56faef48590bf00f6c54a13c6acdc230141c58f120971b496138226e5",
    ),
    (
        "examples/payloads/list_member_upload_error.json",
        "0535be2f162f82904c528f95a1b0c1727c5e4f33814af195c5a6bc2a57d66ceb",
    ),
    (
        "examples/payloads/list_member_uploaded.json",
        "3b3015e27a0588ab523ca5069dc4569824d5c96b7a30fe8e5308e30f51cbf40c",
    ),
    (
        "examples/payloads/list_uploaded.json",
        "f27fcd40c8db0b78bbd2d32132a9f41c7216c59d62274d978b31589e74024be2",
    ),
    (
        "examples/payloads/opened.json",
        "81eed25d486f48799d8bccc67815116ee3d8169723a944d967a52aa26f465827",
    ),
    (
        "examples/payloads/rejected.json",
        "d20b680ce2658a83d5b47fdca339cef015f5412c9cd982cf83494a2312e45cdb",
    ),
    (
        "examples/payloads/route-forward.multipart",
        "59493e1d5ca5fb2e9a72568197004464e7a0426a32f09756d4e1772fbec3d834",
    ),
    (
        "examples/payloads/route-raw-mime.form",
        "4c893546cb1549ef904258a2a1c714eca8c48cc95c018b556cc77ee3ba4273c6",
    ),
    (
        "examples/payloads/route-store-notify.form",
        "9130d4f2556500292a7a27fab08d214bff9a98d713129cddf2225bed15fa07d3",
    ),
    (
        "examples/payloads/stored.json",
        "f309a713c9236a5e5913e34b594373f4e396f24cfb9ad8bf019ef24b280cbd16",
    ),
    (
        "examples/payloads/unsubscribed.json",
        "49dad23014b5d772387530806c3b608b84d6fd9f45a2b4533dd08b858301041d",
    ),
    (
        "../shared/fixtures/captured/anymail-django-anymail/inbound-parsed-basic.multipart",
        "9fe61789749982e62c1a6ba546466afe4cf553fec1bee42dd5bde17a4c7217f3",
    ),
    (
        "../shared/fixtures/captured/anymail-django-anymail/inbound-parsed-duplicate-content-id-map.multipart",
        "6c2ccd9d859624a39ed37a3b8ecfadfbeacb5483cd0201cc5b5671018e2bd085",
    ),
    (
        "../shared/fixtures/captured/anymail-django-anymail/inbound-parsed-odd-attachment-filenames.multipart",
        "0cbda0daeb81357bbbe1164923709e1d1c660b68152e215d10cb36f19b22b677",
    ),
    (
        "../shared/fixtures/captured/anymail-django-anymail/inbound-parsed-three-attachments-inline-cid.multipart",
        "13805d855bed7e323ad3e0d1478c5ae3c398ca2b1d237fbccf5f2d9bb82f00c4",
    ),
    (
        "../shared/fixtures/captured/anymail-django-anymail/inbound-raw-mime.multipart",
        "2d34047039e0e8d93dd71abed1de8adac240e63661404e1fbb8adf199e699a6d",
    ),
    (
        "../shared/fixtures/captured/anymail-django-anymail/inbound-store-notify-attachments-json.multipart",
        "6c9c2cf7834b8dc2603455c02a67a48266d870cc1eda6a67f36b8a124f21d706",
    ),
    (
        "../shared/fixtures/captured/anymail-django-anymail/json-accepted-delivery-status-null.json",
        "dfc40994fc3366b753b2aedc0bf20c020ee6917b90b29a2e71092d0e1b1f53c1",
    ),
    (
        "../shared/fixtures/captured/anymail-django-anymail/json-clicked-minimal.json",
        "fc97acef3b8a7a283e2f7b638cc9cd27871de7e72c010cad85e38eea55dfeacb",
    ),
    (
        "../shared/fixtures/captured/anymail-django-anymail/json-complained.json",
        "9ceac32e5cf5a9a3224c33b8c3ff02ef4bca1b86fe6af9d66dd5346907000168",
    ),
    (
        "../shared/fixtures/captured/anymail-django-anymail/json-delivered-complete.json",
        "8aa41c9138fea4e12236f79965b71d451a5716d9c8c8c3886f23602e256b240d",
    ),
    (
        "../shared/fixtures/captured/anymail-django-anymail/json-failed-permanent-bounce.json",
        "56f27a16c2cf78503ab19fbf900adf14b22e20ce95fc345a24406296e7e5adbc",
    ),
    (
        "../shared/fixtures/captured/anymail-django-anymail/json-failed-temporary-generic-nomx.json",
        "bbd5c03b3afbcd1cd12aafe966ee4c4c5f3cc9ce6de5e7322edb418945e73519",
    ),
    (
        "../shared/fixtures/captured/anymail-django-anymail/json-failed-temporary-greylisted.json",
        "c87e8811f93f1685c2a2957fb0200357b0c618ee3490d8036fe36779b1ed89ab",
    ),
    (
        "../shared/fixtures/captured/anymail-django-anymail/json-minimal-delivered-bad-signature.json",
        "cb28dd063dc0cdb91fb619b4eacb44e1be365ebdbb62e049340aae2fa3cee3cb",
    ),
    (
        "../shared/fixtures/captured/anymail-django-anymail/json-minimal-delivered-missing-signature.json",
        "cb28dd063dc0cdb91fb619b4eacb44e1be365ebdbb62e049340aae2fa3cee3cb",
    ),
    (
        "../shared/fixtures/captured/anymail-django-anymail/json-minimal-delivered.json",
        "cb28dd063dc0cdb91fb619b4eacb44e1be365ebdbb62e049340aae2fa3cee3cb",
    ),
    (
        "../shared/fixtures/captured/anymail-django-anymail/json-opened-tags-user-variables.json",
        "4c65f100fb8aabd4af448a804fdcc8ca7f9eaffecb5ab40873c62feefbdb73c3",
    ),
    (
        "../shared/fixtures/captured/anymail-django-anymail/json-rejected-no-recipient.json",
        "2a18cde99c259ac86f7ec5dea4f984f44456a926e648042e9c45d923545b8da6",
    ),
    (
        "../shared/fixtures/captured/anymail-django-anymail/json-unsubscribed.json",
        "e5941c71b273a7dc6d8624762a303dba9bb0c1f8beb050a9742425201d19e42b",
    ),
    (
        "../shared/fixtures/captured/anymail-django-anymail/legacy-bounced-550.multipart",
        "55dca830ca60f693b7d59cadbb5a46d5c7e58054c3d03a610179acaa401c7c96",
    ),
    (
        "../shared/fixtures/captured/anymail-django-anymail/legacy-bounced-code-5.1.1.multipart",
        "c9a9e9c27fab13fd2c0780b8a8d14cb92391c4a974ba245741da555f7acd2a69",
    ),
    (
        "../shared/fixtures/captured/anymail-django-anymail/legacy-clicked-custom-variables.multipart",
        "0703c5245c1ea06ce4cdfb3990bd58eb48693192ee14359f12e95115fca94761",
    ),
    (
        "../shared/fixtures/captured/anymail-django-anymail/legacy-clicked-user-variable-name-collisions.multipart",
        "14e3f53e47fba6d2bdb217f8935023a53525d499c6192913514dd44ff4be8bd2",
    ),
    (
        "../shared/fixtures/captured/anymail-django-anymail/legacy-delivered-minimal-to-inbound-url.multipart",
        "0c9913d00e0f20ce222b02f3ad8daff980b51f8061afade728608eb02181e6f4",
    ),
    (
        "../shared/fixtures/captured/anymail-django-anymail/legacy-delivered-repeated-x-mailgun-tag.multipart",
        "4db83e9c589c60febdfecf60fd2c49e8ffbe392641060e2d9a07b6b5af5fb4cf",
    ),
    (
        "../shared/fixtures/captured/anymail-django-anymail/legacy-delivered-x-mailgun-variables.multipart",
        "36157935fb2af5ec5a59df49b48f7302ac8930c7f85527eea2c02e8af326f859",
    ),
    (
        "../shared/fixtures/captured/anymail-django-anymail/legacy-delivered.multipart",
        "410f50a4ffafbecbedb8a0f33996effb7774ae334c705270bec90395f9ba2895",
    ),
    (
        "../shared/fixtures/captured/anymail-django-anymail/legacy-dropped-499-old.multipart",
        "a64fca67353791612384d6ab347d5b0271f67f8c05f3120006d5ba2c728a4b24",
    ),
    (
        "../shared/fixtures/captured/anymail-django-anymail/legacy-dropped-605-previously-bounced.multipart",
        "90e80593ffa7d8bf22786fc2b862661d9d9f3f2d612206fa1af9559fb964e300",
    ),
    (
        "../shared/fixtures/captured/anymail-django-anymail/legacy-dropped-607-spam.multipart",
        "f71d74c3a7145585d18dd2df9121246b4e3456ab311568e07b83a7f5b2510ff3",
    ),
    (
        "../shared/fixtures/captured/anymail-django-anymail/legacy-opened-repeated-tag.multipart",
        "b36c9ab30c4923b5bc63ae63abbf48a31cf81ac44b4a04af21c4a936613f944b",
    ),
    (
        "../shared/fixtures/captured/anymail-django-anymail/legacy-shaped-inbound-no-event.multipart",
        "9d1663a97db5542b5f134778599c50c8a262a0b709b62f41ec8738a50869b42f",
    ),
    (
        "../shared/fixtures/captured/cciw/inbound-raw-mime-dashboard-sample-post.form",
        "98439a23ab5c9d34d4c48d120e534ca53f6f2071cc808b40c97967f52c4ba672",
    ),
    (
        "../shared/fixtures/captured/cciw/legacy-bounced-dashboard-test-webhook.multipart",
        "abe90a9abfe801bf8cbbead7cf4864a8995887cf51703084a00b74f8a072c011",
    ),
    (
        "../shared/fixtures/captured/learnscripture/legacy-bounced-test-webhook-modified.multipart",
        "fbc502bb148889fa62a12c22e78eb6c63f027da617b26b92a439c5122ad690d9",
    ),
    (
        "../shared/fixtures/captured/mailgun-docs-site/securing-webhooks-signature-block-subaccount-parent-signature.json",
        "be05128726285053f8faa334894ead6c6d21bde02a60451d49faaa6f37526276",
    ),
    (
        "../shared/fixtures/captured/mailgun-docs-site/securing-webhooks-signature-block.json",
        "a912719c1b1cf3552cc155e1942cf61b78e1fbf9e8305c5e33fdc1bf46dd4847",
    ),
    (
        "../shared/fixtures/captured/mailgun-docs-site/webhook-payloads-accepted-event.event-data.json",
        "d6d5e59a33f97ca311b1d210e66998659ad8f49b050969a3adb115db6b77e4b2",
    ),
    (
        "../shared/fixtures/captured/mailgun-documentation/api-events-rst-event-accepted-routed.json",
        "3b4e52872d5dfd0f84ae2afaddbd34b6f25eef986877fddd8de3cf9790ba6af3",
    ),
    (
        "../shared/fixtures/captured/mailgun-documentation/api-events-rst-event-accepted.json",
        "5b031f57c1f66706937c11db5c9954542ed7b506b2d11c2176eb3c76c59aa0d2",
    ),
    (
        "../shared/fixtures/captured/mailgun-documentation/api-events-rst-event-clicked.repaired.json",
        "962272206af36eb9cafb89646c922b34c75a179850b72f7b704970f5680a7076",
    ),
    (
        "../shared/fixtures/captured/mailgun-documentation/api-events-rst-event-complained.repaired.json",
        "d653aa1d96d2448af8955598a1fae95d49fb34e72a0a79c397734bf3704e5292",
    ),
    (
        "../shared/fixtures/captured/mailgun-documentation/api-events-rst-event-delivered.json",
        "6fee58852060d72ee8be6fe523238b11a614de66b45dbb20776e2d40a9e34ac3",
    ),
    (
        "../shared/fixtures/captured/mailgun-documentation/api-events-rst-event-failed-permanent-delayed-bounce.repaired.json",
        "95022f44dd1d857bbb8ca9d51387938299cd12c2a2e2ebb75384d90d1393510e",
    ),
    (
        "../shared/fixtures/captured/mailgun-documentation/api-events-rst-event-failed-permanent-suppress-bounce.json",
        "60c76399717778e4ee1dba8474b2acc2d0e8ec3f67b9458acc83f81fe8613213",
    ),
    (
        "../shared/fixtures/captured/mailgun-documentation/api-events-rst-event-failed-temporary.json",
        "116eb56f42b969b4febe7cc11e7ab5203bf33fd5a53715968fa6b262800e0fc9",
    ),
    (
        "../shared/fixtures/captured/mailgun-documentation/api-events-rst-event-list-member-upload-error.repaired.json",
        "0856caacecc706a8e6fab1ca706bb63534b07bd1f1cf4adbd62159dffb2437ae",
    ),
    (
        "../shared/fixtures/captured/mailgun-documentation/api-events-rst-event-list-member-uploaded.json",
        "5215434fbdba65e24e41d699d518bfdc4256c32b0515d8a8380eed4289a69c67",
    ),
    (
        "../shared/fixtures/captured/mailgun-documentation/api-events-rst-event-list-uploaded.json",
        "522ee2ff5909ed417cf68a67b5cebca61f10f6a94c6544b89f1ad4994ad41ecc",
    ),
    (
        "../shared/fixtures/captured/mailgun-documentation/api-events-rst-event-opened.repaired.json",
        "4fff19577fecb4b187bab2ab88a4376ee03520f57dc4e9e03313f5411e275b38",
    ),
    (
        "../shared/fixtures/captured/mailgun-documentation/api-events-rst-event-rejected.repaired.json",
        "67abfc5a13809ddf7e65656b3513d73187bb8826c9fd1efc0023ec8a7e695b1c",
    ),
    (
        "../shared/fixtures/captured/mailgun-documentation/api-events-rst-event-stored.json",
        "492abb77a64fe780b602d35a3d570383aafcfdb137a5b817ac85db9933096b9a",
    ),
    (
        "../shared/fixtures/captured/mailgun-documentation/api-events-rst-event-unsubscribed.repaired.json",
        "812fa4aaf32c00bdb562bf9b3c55901f30570d827d4b89fe97d1cda02d6cecc0",
    ),
    (
        "../shared/fixtures/captured/mailgun-documentation/user-manual-opened-bot-apple.repaired.json",
        "b2ec6b0ee7787b2ea22d4b9480b19f213ce05009265d9f82b0167f261e88e2f7",
    ),
    (
        "../shared/fixtures/captured/mailgun-go/event-data-accepted-minimal.json",
        "144acdd104789908801d98d57546903d68428b1ffa2a64fc1a556eff99621db8",
    ),
    (
        "../shared/fixtures/captured/mailgun-go/event-data-accepted-nested-user-variables-null-fields.json",
        "1667c9eeb8afff82c581e35fcfa38f805a9598559a0a4835d5d1bf451245ef1e",
    ),
    (
        "../shared/fixtures/captured/mailgun-go/event-data-accepted-timestamp-as-string.json",
        "e0ec5f6b58c69692e15231edc55ca061e8e8f996555691d18c794b58506bae35",
    ),
    (
        "../shared/fixtures/captured/mailgun-go/event-data-accepted-user-variables-error-string.json",
        "0ec547931f9a4a7bdf2c8a4ba20bbf73cc67847b4be2efb42b4203c18d20a7f6",
    ),
    (
        "../shared/fixtures/captured/mailgun-go/event-data-delivered-message-attachments.json",
        "c41e0e0a21955164deafbcc07c53971942925b8b3a194e4cc2c9773b1cd38314",
    ),
    (
        "../shared/fixtures/captured/mailgun-go/event-data-stored.json",
        "ca655fe8edebeef13b41e355133636575fde75907352f4dc2e65a576681df3eb",
    ),
    (
        "../shared/fixtures/captured/mailgun-go/event-data-unknown-event-name.json",
        "df25d27dc4aed6147bec5bb19c50a3ebb7743e560900d316fc68d494707962ca",
    ),
    (
        "../shared/fixtures/captured/mailgun-go/events-api-response-page.json",
        "6a1e5b26888ac15361df7a57d294ab4830d140b168750cec634d1cbbfbbacd7c",
    ),
    (
        "../shared/fixtures/captured/management-api/php-get-webhook.json",
        "0367345cc75145570b0f4d70410d31aed072e8c57a7df41d79d86a5be048e0ae",
    ),
    (
        "../shared/fixtures/captured/management-api/php-list-webhooks-current-ids.json",
        "9c9857781ad388cd93a74160c72303e776032d98e746827a397dfd356c0ee349",
    ),
    (
        "../shared/fixtures/captured/management-api/php-list-webhooks-legacy-ids.json",
        "e66b2fe64e412554c205492fc725b4c91ff6e2bfb63b7545471a79851a903246",
    ),
    (
        "../shared/fixtures/captured/management-api/ruby-vcr-00-post-domains-domain-test-webhooks.json",
        "376cc07cfb4fcdd10bfb9b9eccb05486041de23a7ad78c04a79e1627e8d231dc",
    ),
    (
        "../shared/fixtures/captured/management-api/ruby-vcr-01-get-domains-domain-test-webhooks-accepted.json",
        "10ca9b048c5ef7be972477d3db87a562e0caac4bcd4fb2fe5816a6932fa630ff",
    ),
    (
        "../shared/fixtures/captured/management-api/ruby-vcr-02-get-domains-domain-test-webhooks.json",
        "6dbdd9965d321a0e2b51b3242b4e0a6a80d15ffd758d14bc37d89d278c25acc1",
    ),
    (
        "../shared/fixtures/captured/management-api/ruby-vcr-03-put-domains-domain-test-webhooks-accepted.json",
        "c1a90bccb2a582ee91ca17a26a8e45c7253fa1b97e5daf4a556765997a61457a",
    ),
    (
        "../shared/fixtures/captured/management-api/ruby-vcr-04-delete-domains-domain-test-webhooks-accepted.json",
        "67abbe0f1786bbd3aeffb3cdd4e375b62b13b8112f5c380f236ac1838aa1b8a6",
    ),
    (
        "../shared/fixtures/captured/multi_mail/inbound-parsed-invalid.form",
        "adc8fd744fdd40351b4ba5bbc37ba44834079f721480528fd6ecfa88c7d56d5e",
    ),
    (
        "../shared/fixtures/captured/multi_mail/inbound-parsed-invalid.http.txt",
        "adc8fd744fdd40351b4ba5bbc37ba44834079f721480528fd6ecfa88c7d56d5e",
    ),
    (
        "../shared/fixtures/captured/multi_mail/inbound-parsed-missing.form",
        "adc8fd744fdd40351b4ba5bbc37ba44834079f721480528fd6ecfa88c7d56d5e",
    ),
    (
        "../shared/fixtures/captured/multi_mail/inbound-parsed-missing.http.txt",
        "adc8fd744fdd40351b4ba5bbc37ba44834079f721480528fd6ecfa88c7d56d5e",
    ),
    (
        "../shared/fixtures/captured/multi_mail/inbound-parsed-spam.form",
        "9baaeffc154e15f8bbc12eab478aad19786b81c2b9bd70258875a7737801286e",
    ),
    (
        "../shared/fixtures/captured/multi_mail/inbound-parsed-spam.http.txt",
        "9baaeffc154e15f8bbc12eab478aad19786b81c2b9bd70258875a7737801286e",
    ),
    (
        "../shared/fixtures/captured/multi_mail/inbound-parsed-valid.http.txt",
        "a8b892fb2a94d18307f8d0471861ac4f75fade834830bb6d51530fcd351cdda2",
    ),
    (
        "../shared/fixtures/captured/multi_mail/inbound-parsed-valid.multipart",
        "a8b892fb2a94d18307f8d0471861ac4f75fade834830bb6d51530fcd351cdda2",
    ),
    (
        "../shared/fixtures/captured/multi_mail/inbound-raw-mime-invalid.form",
        "a4a898fd7e88b1886ae34a3befd3b7df8737f1829ef6393d027b0caaab572c58",
    ),
    (
        "../shared/fixtures/captured/multi_mail/inbound-raw-mime-invalid.http.txt",
        "a67dd145db449ee8e888d37892b3d5c9bb48fc4a0afff040c097dfb11bc389c1",
    ),
    (
        "../shared/fixtures/captured/multi_mail/inbound-raw-mime-missing.form",
        "a4a898fd7e88b1886ae34a3befd3b7df8737f1829ef6393d027b0caaab572c58",
    ),
    (
        "../shared/fixtures/captured/multi_mail/inbound-raw-mime-missing.http.txt",
        "a67dd145db449ee8e888d37892b3d5c9bb48fc4a0afff040c097dfb11bc389c1",
    ),
    (
        "../shared/fixtures/captured/multi_mail/inbound-raw-mime-spam.form",
        "98df56b4e9b5a3e0b74fe04e754375e64f4e7b3d6239a836a202cf8291e0bb20",
    ),
    (
        "../shared/fixtures/captured/multi_mail/inbound-raw-mime-spam.http.txt",
        "98df56b4e9b5a3e0b74fe04e754375e64f4e7b3d6239a836a202cf8291e0bb20",
    ),
    (
        "../shared/fixtures/captured/multi_mail/inbound-raw-mime-valid.form",
        "016768244191a483478f573aa497ad7f4423a89675cd04ed6f9dad1d466708c2",
    ),
    (
        "../shared/fixtures/captured/multi_mail/inbound-raw-mime-valid.http.txt",
        "016768244191a483478f573aa497ad7f4423a89675cd04ed6f9dad1d466708c2",
    ),
    (
        "../shared/fixtures/captured/signature-vectors/vectors.json",
        "470dda1a861a50a7cd81157995d3d1594059100254b9510c4876d4c56da90845",
    ),
    (
        "../shared/fixtures/captured/snowplow-enrich/json-clicked-dashboard-test-webhook-2022.json",
        "4ac6636536459226e2e4a1ce9d8351e3ca8ce27cc339278d3ffa29d73176908c",
    ),
    (
        "../shared/fixtures/captured/snowplow-enrich/json-delivered-dashboard-test-webhook-2022.json",
        "85af3fe7d512992bd7b45a08a159513a75384c6a23d99e6e71623563bde621c2",
    ),
    (
        "../shared/fixtures/captured/snowplow-enrich/json-opened-dashboard-test-webhook-2022.json",
        "0b8de10cb263ebe7e77ae6d1d4a12e93e1d458937d00ba16f88297a49e40b8c8",
    ),
    (
        "../shared/fixtures/captured/snowplow-enrich/json-unsubscribed-dashboard-test-webhook-2022.json",
        "9f8205f3a10c2fda5665655a424a0615fdc53da7bb3f2928d76af465fcf85776",
    ),
    (
        "../shared/fixtures/captured/snowplow-enrich/legacy-clicked-test-webhook-2016.form",
        "a6e465ddfb29f099057d3c9ba7fcc2c8894dd9ae29ddab1189c761d4fadd0307",
    ),
    (
        "../shared/fixtures/captured/snowplow-enrich/legacy-delivered-test-webhook-2016.form",
        "5f3f647448f2045bb7393e9e1957aa804ac2613451fab41fdea0569e264dc0eb",
    ),
    (
        "../shared/fixtures/captured/snowplow-enrich/legacy-delivered-test-webhook-2017.form",
        "53f33a6af1676d13708a9b8c355e8e599dc8626974ad03e23b73c7f60284e698",
    ),
    (
        "../shared/fixtures/captured/snowplow-enrich/legacy-dropped-test-webhook-2017-LF-line-endings.multipart",
        "error 400",
    ),
    (
        "../shared/fixtures/captured/snowplow-enrich/legacy-opened-test-webhook-2016.form",
        "d7a714a85376c2a1aeddc55541fa0a15c2e2752a2d0e2f1aaaec2dca2516c904",
    ),
    (
        "../shared/fixtures/captured/snowplow-enrich/legacy-unsubscribed-test-webhook-2016.form",
        "c333674cd76e7b0be2c7de8bd6e14db6b83b7fceffa073e418aebb5c56a2250c",
    ),
    (
        "../shared/fixtures/captured/symfony-mailgun-mailer/json-accepted.json",
        "2ace594a4a398f162e4f682eb218ef88a051581dffe894f9f195c8d3121818f8",
    ),
    (
        "../shared/fixtures/captured/symfony-mailgun-mailer/json-clicks.json",
        "8edbd1ddf2e940a324e236cd444119b7d471501af105b54592ec5ed9d1a3150d",
    ),
    (
        "../shared/fixtures/captured/symfony-mailgun-mailer/json-delivered_messages.json",
        "5fb40c47a94d939403a5165dce98651c0e0118ec3d510989ff7b85b93e5bf61f",
    ),
    (
        "../shared/fixtures/captured/symfony-mailgun-mailer/json-opens.json",
        "fc189fd8e499279a8e1e8dd24c9528aa61caca0adae6ac8d465bebaa7e175e5d",
    ),
    (
        "../shared/fixtures/captured/symfony-mailgun-mailer/json-permanent_failure.json",
        "ddb3db8367b62d41f67e3d4a64e83ee621b179b910aa16dd2025c560b09eaa81",
    ),
    (
        "../shared/fixtures/captured/symfony-mailgun-mailer/json-permanent_failure_no_description.json",
        "4e9cd43bf624b8ac11a7ed4c6ab8efcbfa9340233ae980c55f98e36b1c70d239",
    ),
    (
        "../shared/fixtures/captured/symfony-mailgun-mailer/json-spam_complaints.json",
        "1b5e5f51e0d981a604a4046a0e3e8241d36e546cafe6a65b12cc9bd806b89898",
    ),
    (
        "../shared/fixtures/captured/symfony-mailgun-mailer/json-suppression_failure.json",
        "3ae40432e4ce950cf6f2399ddb7aae85f29ee3f8ceb73a2d7b069b993ba7bb8d",
    ),
    (
        "../shared/fixtures/captured/symfony-mailgun-mailer/json-temporary_failure.json",
        "2662fadc3f2c8f7016d829023b75e7bd16375624f9eb148c3b1310c2af2acd39",
    ),
    (
        "../shared/fixtures/captured/symfony-mailgun-mailer/json-unsubscribes.json",
        "66c8c85e37d1618ca3fd95fff51f2557356b547e685750026288639606029292",
    ),
    (
        "tricky: empty object",
        "052df434159553f3ad9b8292bcf2fa8415c2377cccc0cc4cf0217046b33a29d2",
    ),
    (
        "tricky: empty array",
        "352a7a8395ced4b47fee6a6377ea344d8a7103043df9eed3b3195c81599a569c",
    ),
    (
        "tricky: empty members",
        "a17b0aab557c94654208013d4caa438302d5c75075e295920d1b1fbf0e3db8c3",
    ),
    (
        "tricky: top-level null",
        "06cc3dbba7674f958d52deafc87e1fa2c32a9c71827305b848ddd3f8bcdfdc11",
    ),
    (
        "tricky: top-level true",
        "467bc8372be94da81a5c6691d56f31a513fbb316569d97fd6bbb5a6239a80fec",
    ),
    (
        "tricky: top-level number",
        "ba0cde7b85a7aff41ebbe8ebff3cad928bac3563cfdea7de614b253a05649ea7",
    ),
    (
        "tricky: top-level string",
        "21ff1149c2c7ac60702c0646120128f53104d34b2175c01d141c23c019551908",
    ),
    (
        "tricky: top-level array with signature",
        "3deb45876ba12da4950919b8be485f2406a4748e7d9166a8fdcf57db66eb6f9f",
    ),
    (
        "tricky: only signature",
        "052df434159553f3ad9b8292bcf2fa8415c2377cccc0cc4cf0217046b33a29d2",
    ),
    (
        "tricky: two signatures",
        "dcd01a128abd60dee6f336952ec06c9038587621573ac464ebf1fe21a33d340b",
    ),
    (
        "tricky: nested signature kept",
        "d5ecc4e4239507332a2e71da0fc7b37668fc896f24d0fc1ae367d128c206c172",
    ),
    (
        "tricky: escaped signature key",
        "dcd01a128abd60dee6f336952ec06c9038587621573ac464ebf1fe21a33d340b",
    ),
    (
        "tricky: escape e-acute",
        "ba7c79393ef513894c4d23061748c86620b9b22b3b20479e56d5dbb0b4a477d5",
    ),
    (
        "tricky: literal e-acute",
        "ba7c79393ef513894c4d23061748c86620b9b22b3b20479e56d5dbb0b4a477d5",
    ),
    (
        "tricky: uppercase escape",
        "ba7c79393ef513894c4d23061748c86620b9b22b3b20479e56d5dbb0b4a477d5",
    ),
    (
        "tricky: escaped key",
        "ab160de4154612d6c77b1df85d9f1ed6526913eb0ca14ccefab270216ace29b5",
    ),
    (
        "tricky: literal key",
        "ab160de4154612d6c77b1df85d9f1ed6526913eb0ca14ccefab270216ace29b5",
    ),
    (
        "tricky: surrogate pair",
        "9d9321cd0ab775d03e24468571dc0456aee983fc2aabb931cbbbbd621b577871",
    ),
    (
        "tricky: literal astral",
        "9d9321cd0ab775d03e24468571dc0456aee983fc2aabb931cbbbbd621b577871",
    ),
    ("tricky: lone surrogate", "error 400"),
    ("tricky: lone low surrogate", "error 400"),
    (
        "tricky: short escapes",
        "57e6ffcda5ccc5e674690d1d65752b69ab980efc05c21eeecbf95084aa547837",
    ),
    (
        "tricky: escaped nul",
        "cc20d3c12b0719238edfb4c3af2b11eef69308d69358fb59209d81d9d4e1fd68",
    ),
    ("tricky: raw control char", "error 400"),
    (
        "tricky: repeated keys",
        "9c40026563ebadfa762d9b109562d0843af2c5a54f9ae80919ad85b02d39f7e2",
    ),
    (
        "tricky: repeated keys swapped",
        "27d14fc0dc6f6c9257b4d928567ccb89fe2b952b79c15546dff6ecff0fa95e45",
    ),
    (
        "tricky: repeated via escape",
        "f3ebe0691c539ab7308b58d72dea504ed08a5ece404e4b3a377bd3ad61ccd1e6",
    ),
    (
        "tricky: repeated via escape swapped",
        "647943eb788aa4e41d0be88a4c493ca2bd6a28ca61408ad773c0f1164b0f624e",
    ),
    (
        "tricky: keys differ after escape",
        "46233afb9d0185f8c610bc116d1f3665e976bb0ea9b4f63fccb6941bf72cd68a",
    ),
    (
        "tricky: keys prefix order",
        "f2a75a51e7ef0bc17a7aa2aa13856b1459911aeb112b855e47abc1d624be5337",
    ),
    (
        "tricky: repeated nested objects",
        "ca134bb08cab85924a903297f74d2a5228fac4abfa346b619e2372d28cf0a264",
    ),
    (
        "tricky: whitespace everywhere",
        "f68456a391f15b41cffdb23380be541cc2fe517c3e370853f94a1df901dea6b4",
    ),
    (
        "tricky: compact same",
        "f68456a391f15b41cffdb23380be541cc2fe517c3e370853f94a1df901dea6b4",
    ),
    (
        "tricky: minus zero",
        "87e5dff8ef66ad3fb719a9aba51f7ae0fc37e46bb2817896a11db0f6e1d435a8",
    ),
    (
        "tricky: zero",
        "b166354a176f3aaf3bb36006d08c3a7ebb7050f92afc9b41a8e9e4e705aa6dcc",
    ),
    (
        "tricky: minus zero float",
        "87e5dff8ef66ad3fb719a9aba51f7ae0fc37e46bb2817896a11db0f6e1d435a8",
    ),
    (
        "tricky: zero float",
        "be85a4345d0f86b81b00ec51b0e0e1087cf1129f54e8251161c6e76d4553577f",
    ),
    (
        "tricky: one vs one float",
        "ef5372258252ff28360d10b4190347ef7784bb9afe5d0d9a960c85853af67376",
    ),
    (
        "tricky: u64 max",
        "f08bd77fab0783cb7dabc724ba1428a0d5304a5d26cd413ceed958fa72a1aea2",
    ),
    (
        "tricky: u64 max + 1",
        "5cc7b4516d06b38e03909ae9f21e1f4e9586039c82bf7a661082c4cbfac2c930",
    ),
    (
        "tricky: i64 min",
        "44bc2fa4de963f1df449eddf04c84985e411d77842462cbe7193f0e0d3a18d8d",
    ),
    (
        "tricky: i64 min - 1",
        "90e3f9f9b12a651a8295eba4b98657a199b0eaebfd808c26dd236de1600d13f3",
    ),
    (
        "tricky: negative",
        "79dcb2e371aeba4fb3baadd57b28f8784f0cd2755f8258171c7f0766292ac279",
    ),
    (
        "tricky: floats",
        "99eb0ee5fc269d14ed2fb3269fad8f6ab5ba626f48728e9587564ffa0ef7e55d",
    ),
    (
        "tricky: exponents",
        "4799acc8f51553252794d4357927abaa3f54494aa4f508194b92e47092ef7a7c",
    ),
    ("tricky: overflow 1e400", "error 400"),
    ("tricky: overflow -1e400", "error 400"),
    (
        "tricky: long mantissa",
        "b4591b7f1fa87ab4e18dd2deab250bea90082e70925091598725caff45d0baa5",
    ),
    (
        "tricky: bools and null",
        "56376833d4cb35e547ef8ec0e3131c88cf9099788696611313d3727628ed0a0d",
    ),
    (
        "tricky: string vs number",
        "60cdb068a7488a4170dbe396f2d042b526a74b3839fd9f45b529b109daa307ca",
    ),
    (
        "tricky: number vs string",
        "bf3bad240b83cec6feebd5817c6a0db15e418e7f932bec031f80a775a3ea69ee",
    ),
    (
        "tricky: length prefix a",
        "c26adc8fea7b8ecb65951941b86303dd14f4c8ed8d28bfe86892d5536a2a63c4",
    ),
    (
        "tricky: length prefix b",
        "20885026ed8a88b1a5cc9d8daf16f2a6b718ee95169640b770b5648776d183c4",
    ),
    (
        "tricky: arrays of arrays",
        "a85b74422448618eb03b3771adbff3b009be9ed05905af3533d0179679276f7f",
    ),
    (
        "tricky: deep arrays 126",
        "7743fb8b1b6ab62c22cc7c272c8dd8d385f63530f0dfaa45ef11f460e1f53b32",
    ),
    (
        "tricky: deep arrays 127",
        "0f9dbe77284a07bc1b4e3e99328d47abf9f15b0f1eff0ced02a02a3dd264de2d",
    ),
    ("tricky: deep arrays 128", "error 400"),
    ("tricky: deep arrays 129", "error 400"),
    (
        "tricky: deep objects 127",
        "b5753895fb93b1d20c5c234395a559c800b1c1df6d55f269017504262bb1c88c",
    ),
    ("tricky: deep objects 128", "error 400"),
    ("tricky: deep objects 129", "error 400"),
    (
        "tricky: deep mixed",
        "97bcda5c85ed0fde2f25148524fff22d778c8294329dd96cd10663d4cf0fe398",
    ),
    (
        "tricky: wide object",
        "a1f6c9406d3a28ad6ecaa6819ff940dd0c67d3804180fceed98ff0576bff9241",
    ),
    (
        "tricky: wide array",
        "33de336b78caf5be58e560095a35fdcadc9dd9750c4f41db552bdb158ebf62fe",
    ),
    ("tricky: trailing garbage", "error 400"),
    ("tricky: trailing comma", "error 400"),
    (
        "tricky: trailing whitespace only",
        "bf3bad240b83cec6feebd5817c6a0db15e418e7f932bec031f80a775a3ea69ee",
    ),
    ("tricky: two documents", "error 400"),
    ("tricky: empty body", "error 400"),
    ("tricky: whitespace body", "error 400"),
    ("tricky: unquoted key", "error 400"),
    ("tricky: single quotes", "error 400"),
    ("tricky: nan", "error 400"),
    ("tricky: leading zero", "error 400"),
    ("tricky: bad escape", "error 400"),
    ("tricky: non-string key", "error 400"),
    ("tricky: bom", "error 400"),
    ("tricky: invalid utf-8 in string", "error 400"),
    ("tricky: invalid utf-8 in key", "error 400"),
    ("tricky: overlong utf-8", "error 400"),
    (
        "tricky: long string 255",
        "0d74198911f194f964d76645c066115256029c8d06e35f7bab85c822d7e7717e",
    ),
    (
        "tricky: long string 256",
        "da50639ba1f029cce483cb91cfc252fc1b495babd2dae5e744f07e2a6ef510c9",
    ),
    (
        "tricky: long strings",
        "17ca77c25986aea2231a34b1f475e1cb369adeed13f422a0d8e5925f95c96577",
    ),
    (
        "tricky: long key",
        "c643acf0faa7da473bb165b17af962fd84ded251a65c5e5bf9b82914f190cf52",
    ),
    (
        "tricky: long escaped string",
        "b55f4a846f98b2a3927b43c67a9463b58770eaea90847169a5c29a06c49e2818",
    ),
];
