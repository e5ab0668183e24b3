//! Property tests: a body signed and encoded by `mailgun_webhooks::testing` (JSON, urlencoded
//! or multipart) parses and verifies back without losing a field, a filename or a byte, also
//! when it arrives in arbitrary chunks.

use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::{FutureExt, stream};
use mailgun_webhooks::testing::{FormBody, SignedBody, json_body, token};
use mailgun_webhooks::{
    Event, EventKind, Format, InboundMessage, Limits, Payload, SigningKey, Verifier, parse,
    parse_stream,
};
use proptest::prelude::*;
use serde_json::{Value, json};

const NOW: u64 = 1_700_000_000;

fn key() -> SigningKey {
    SigningKey::new("prop-test-key")
}

fn verify(body: &SignedBody) -> (Format, Payload) {
    let verifier = Verifier::builder(key()).build();
    let unverified = parse(&body.content_type, &body.body, &Limits::default())
        .unwrap_or_else(|e| panic!("{}: {e}", body.content_type));
    let verified = verifier
        .verify_at(unverified, UNIX_EPOCH + Duration::from_secs(NOW))
        .unwrap_or_else(|e| panic!("{}: {e}", body.content_type));
    (verified.format(), verified.into_payload())
}

/// Fields whose name changes what the body is, or is a file by name; kept out of the
/// random names.
fn is_special(name: &str) -> bool {
    matches!(
        name,
        "event" | "message-url" | "attachments" | "attachment-count"
    ) || name.starts_with("attachment-")
}

/// Field names: printable, possibly non-ASCII, never `"` (which `testing` percent-encodes in a
/// multipart name) or a control character; plus the names Mailgun gives special treatment.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[^\"\\p{Cc}]{1,24}",
        1 => prop::sample::select(vec![
            "subject", "Subject", "recipient", "sender", "from", "body-plain", "body-html",
            "stripped-text", "stripped-signature", "stripped-html", "body-mime", "Received",
            "X-Mailgun-Sflag", "timestamp", "token", "message-headers", "content-id-map",
        ])
        .prop_map(str::to_owned),
    ]
    .prop_filter("special names", |n| !is_special(n))
}

/// Any text, control characters and CRLF included.
fn value() -> impl Strategy<Value = String> {
    prop_oneof!["\\PC{0,40}", "[\\s\\S]{0,40}", Just(String::new())]
}

fn fields() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((name(), value()), 0..12)
}

#[derive(Debug, Clone)]
struct File {
    filename: String,
    content_type: &'static str,
    data: Vec<u8>,
}

fn files() -> impl Strategy<Value = Vec<File>> {
    let file = (
        "[^\"\\p{Cc}]{0,30}",
        prop::sample::select(vec![
            "application/octet-stream",
            "text/plain; charset=utf-8",
            "message/rfc822",
        ]),
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(filename, content_type, data)| File {
            filename,
            content_type,
            data,
        });
    prop::collection::vec(file, 0..4)
}

fn form(fields: &[(String, String)], files: &[File], tok: &str) -> FormBody {
    let mut body = FormBody::new();
    for (n, v) in fields {
        body = body.field(n.clone(), v.clone());
    }
    for (i, f) in files.iter().enumerate() {
        body = body.file(
            format!("attachment-{}", i + 1),
            f.filename.clone(),
            f.content_type,
            f.data.clone(),
        );
    }
    body.sign(&key(), NOW, tok)
}

/// The fields an inbound message must hold: every field sent, in order, except the first of
/// each body field, which is in its own place.
fn expected_fields(sent: &[(String, String)]) -> Vec<(String, String)> {
    let moved = [
        "body-plain",
        "body-html",
        "body-mime",
        "stripped-text",
        "stripped-signature",
        "stripped-html",
    ];
    let mut seen = Vec::new();
    sent.iter()
        .filter(|(n, _)| {
            if moved.contains(&n.as_str()) && !seen.contains(n) {
                seen.push(n.clone());
                return false;
            }
            true
        })
        .cloned()
        .collect()
}

fn with_signature(fields: &[(String, String)], tok: &str) -> Vec<(String, String)> {
    let mut all = fields.to_vec();
    all.push(("timestamp".into(), NOW.to_string()));
    all.push(("token".into(), tok.to_owned()));
    all.push(("signature".into(), key().sign(&NOW.to_string(), tok)));
    all
}

fn assert_inbound(m: &InboundMessage, sent: &[(String, String)], files: &[File]) {
    assert_eq!(m.fields, expected_fields(sent));
    let first = |name: &str| {
        sent.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    for name in [
        "body-plain",
        "body-html",
        "body-mime",
        "stripped-text",
        "subject",
        "recipient",
    ] {
        assert_eq!(m.field(name), first(name), "{name}");
    }
    assert_eq!(m.body_plain.as_deref(), first("body-plain"));
    assert_eq!(m.subject.as_deref(), first("subject"));
    assert_eq!(m.attachments.len(), files.len());
    for (i, (a, f)) in m.attachments.iter().zip(files).enumerate() {
        assert_eq!(a.field_name(), format!("attachment-{}", i + 1));
        assert_eq!(a.filename(), Some(f.filename.as_str()));
        assert_eq!(a.content_type(), Some(f.content_type));
        assert_eq!(a.data(), f.data.as_slice());
        let safe = a.safe_filename();
        assert!(!safe.is_empty() && safe.len() <= 255);
        assert!(!safe.contains(['/', '\\']) && !safe.contains("..") && !safe.starts_with('.'));
    }
}

proptest! {
    #[test]
    fn json_round_trips(
        recipient in "\\PC{0,30}",
        tags in prop::collection::vec("\\PC{0,12}", 0..4),
        vars in prop::collection::btree_map("[a-z_]{1,8}", value(), 0..5),
    ) {
        let tok = token();
        let data = json!({
            "event": "delivered",
            "recipient": recipient,
            "tags": tags,
            "user-variables": vars,
        });
        let (format, payload) = verify(&json_body(&key(), NOW, &tok, data));
        prop_assert_eq!(format, Format::Json);
        let Payload::Event(Event::Delivered(d)) = payload else { panic!("not delivered") };
        prop_assert_eq!(d.recipient.as_deref(), Some(recipient.as_str()));
        prop_assert_eq!(&d.tags, &tags);
        for (k, v) in &vars {
            prop_assert_eq!(d.user_variables.get_raw(k), Some(&Value::String(v.clone())));
        }
        prop_assert_eq!(d.user_variables.len(), vars.len());
    }

    #[test]
    fn urlencoded_inbound_round_trips(sent in fields()) {
        let tok = token();
        let (format, payload) = verify(&form(&sent, &[], &tok).urlencoded());
        prop_assert_eq!(format, Format::Form);
        let m = payload.into_inbound().unwrap();
        assert_inbound(&m, &with_signature(&sent, &tok), &[]);
    }

    #[test]
    fn multipart_inbound_round_trips(sent in fields(), files in files()) {
        let tok = token();
        let body = form(&sent, &files, &tok).multipart();
        let (format, payload) = verify(&body);
        prop_assert_eq!(format, Format::Multipart);
        let m = payload.into_inbound().unwrap();
        assert_inbound(&m, &with_signature(&sent, &tok), &files);
    }

    #[test]
    fn legacy_events_keep_every_field(
        sent in fields(),
        event in prop::sample::select(vec!["delivered", "opened", "clicked", "bounced", "dropped"]),
        multipart in any::<bool>(),
    ) {
        let tok = token();
        let mut all = vec![("event".to_owned(), event.to_owned())];
        // A `sender` field marks a route post (whose MIME headers could include `event`), so a
        // legacy event with a custom variable of that name is read as inbound: documented.
        all.extend(sent.into_iter().filter(|(n, _)| n != "sender"));
        let body = form(&all, &[], &tok);
        let body = if multipart { body.multipart() } else { body.urlencoded() };
        let (_, payload) = verify(&body);
        let e = payload.into_event().unwrap();
        let expected = match event {
            "bounced" | "dropped" => EventKind::Failed,
            other => EventKind::from_name(other).unwrap(),
        };
        prop_assert_eq!(e.kind(), expected);
        let d = e.data().unwrap();
        prop_assert_eq!(&d.fields, &with_signature(&all, &tok));
        prop_assert_eq!(d.event.as_deref(), Some(event));
        prop_assert_eq!(d.timestamp.map(|t| t.as_secs()), Some(NOW));
    }

    #[test]
    fn chunked_multipart_parses_like_the_whole(
        sent in fields(),
        files in files(),
        sizes in prop::collection::vec(1usize..64, 1..32),
    ) {
        let body = form(&sent, &files, &token()).multipart();
        let whole = parse(&body.content_type, &body.body, &Limits::default()).unwrap();
        let mut chunks = Vec::new();
        let mut rest = body.body.as_slice();
        for size in sizes.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let n = (*size).min(rest.len());
            chunks.push(Ok::<_, std::io::Error>(Bytes::copy_from_slice(&rest[..n])));
            rest = &rest[n..];
        }
        let streamed = parse_stream(&body.content_type, stream::iter(chunks), &Limits::default())
            .now_or_never()
            .unwrap()
            .unwrap();
        prop_assert_eq!(
            format!("{:?} {:?}", whole.signature(), whole.payload_unverified()),
            format!("{:?} {:?}", streamed.signature(), streamed.payload_unverified())
        );
    }

    /// Whatever the bytes, parsing returns (no panic), in memory and streamed alike.
    #[test]
    fn arbitrary_bodies_never_panic(
        body in prop::collection::vec(any::<u8>(), 0..400),
        ct in prop::sample::select(vec![
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=b",
            "multipart/form-data; boundary=--x",
        ]),
    ) {
        let limits = Limits::default().part_headers(64);
        let memory = parse(ct, &body, &limits);
        let chunks: Vec<Result<Bytes, std::io::Error>> =
            body.chunks(7).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        let streamed = parse_stream(ct, stream::iter(chunks), &limits).now_or_never().unwrap();
        prop_assert_eq!(memory.is_ok(), streamed.is_ok());
    }
}

/// A Windows device name, by an independent reading of the rule: the part before the first
/// dot, without trailing spaces and dots, in any case (`COM¹` included).
fn is_device_name(s: &str) -> bool {
    let stem = s.split('.').next().unwrap_or_default();
    let stem = stem.trim_end_matches([' ', '.']).to_uppercase();
    let reserved = ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"];
    if reserved.contains(&stem.as_str()) {
        return true;
    }
    let chars: Vec<char> = stem.chars().collect();
    chars.len() == 4
        && (stem.starts_with("COM") || stem.starts_with("LPT"))
        && (chars[3].is_ascii_digit() || "¹²³".contains(chars[3]))
}

fn filename() -> impl Strategy<Value = String> {
    let device = prop::sample::select(vec![
        "NUL",
        "nul",
        "Con",
        "aux",
        "PRN",
        "com1",
        "LPT9",
        "COM\u{b9}",
        "conin$",
    ]);
    prop_oneof![
        "\\PC{0,40}",
        "[\\s\\S]{0,300}",
        // A device name, padding that truncation removes, then anything.
        (device.clone(), "[ .]{0,2}", "\\PC{0,12}")
            .prop_map(|(d, sep, tail)| format!("{d}{sep}{tail}")),
        (device, " {240,300}", "\\PC{1,12}").prop_map(|(d, pad, tail)| format!("{d}{pad}{tail}")),
        ("[./\\\\ ]{0,6}", "\\PC{0,300}").prop_map(|(a, b)| format!("{a}{b}")),
    ]
}

proptest! {
    /// `safe_filename` is never empty, never a device name, never has a separator or a
    /// control character, is at most 255 bytes, and is stable.
    #[test]
    fn safe_filename_invariants(raw in filename(), field in "\\PC{0,20}") {
        let a = mailgun_webhooks::Attachment::new(field, Some(raw.clone()), None, Vec::new());
        let s = a.safe_filename();
        prop_assert!(!s.is_empty(), "{raw:?}");
        prop_assert!(s.len() <= 255, "{raw:?} -> {} bytes", s.len());
        prop_assert!(!is_device_name(&s), "{raw:?} -> {s:?}");
        prop_assert!(!s.contains(['/', '\\', ':']) && !s.contains(".."), "{raw:?} -> {s:?}");
        prop_assert!(!s.chars().any(char::is_control), "{raw:?} -> {s:?}");
        prop_assert!(!s.starts_with('.') && !s.ends_with(['.', ' ']), "{raw:?} -> {s:?}");
        let again = mailgun_webhooks::Attachment::new("f", Some(s.clone()), None, Vec::new());
        prop_assert_eq!(again.safe_filename(), s);
    }
}
