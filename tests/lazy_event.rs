//! `LazyEvent` reads the same values as the eager `Event` on every captured payload, every
//! sample kind and format, and on the shapes the lenient decoding handles; it refuses what
//! the eager path refuses before the handler runs.

mod common;

use std::fs;
use std::path::Path;

use bytes::Bytes;
use common::{fixtures, split_request};
use mailgun_webhooks::testing::{FormBody, ManualClock, Signer, legacy_sample};
use mailgun_webhooks::{
    ErrorKind, Event, EventKind, FromPayload, LazyEvent, Limit, Limits, Payload, SigningKey,
    Verified, Verifier,
};
use serde_json::value::RawValue;

const KEY: &str = "lazy-event-key";
const TS: u64 = 1_700_000_000;

fn verifier(limits: Limits) -> Verifier {
    Verifier::builder(SigningKey::new(KEY))
        .limits(limits)
        .clock(ManualClock::at_secs(TS))
        .build()
}

/// A JSON webhook whose `event-data` is exactly `event_data`, signed.
fn body(event_data: &str) -> Bytes {
    let key = SigningKey::new(KEY);
    let ts = TS.to_string();
    format!(
        r#"{{"signature":{{"timestamp":"{ts}","token":"tok-lazy","signature":"{}"}},"event-data":{event_data}}}"#,
        key.sign(&ts, "tok-lazy")
    )
    .into()
}

fn lazy(v: &Verifier, content_type: &str, body: Bytes) -> mailgun_webhooks::Result<LazyEvent> {
    let raw = v.verify_envelope_bytes(content_type, body)?;
    LazyEvent::from_raw_payload(raw).map(Verified::into_payload)
}

fn eager(v: &Verifier, content_type: &str, body: Bytes) -> mailgun_webhooks::Result<Event> {
    v.parse_and_verify_bytes(content_type, body)?
        .into_payload()
        .into_event()
}

/// Every accessor of `lazy` agrees with `event`, and so does its full decode.
fn assert_same(lazy: &LazyEvent, event: &Event, what: &str) {
    assert_eq!(lazy.kind(), event.kind(), "{what}: kind");
    assert_eq!(lazy.name(), event.name(), "{what}: name");
    assert_eq!(lazy.id(), event.id(), "{what}: id");
    assert_eq!(lazy.recipient(), event.recipient(), "{what}: recipient");
    assert_eq!(lazy.timestamp(), event.timestamp(), "{what}: timestamp");
    assert_eq!(lazy.event(), event, "{what}: full decode");
    assert_eq!(&lazy.clone().into_event(), event, "{what}: into_event");
}

/// Every captured file, sorted (none without the fixtures).
fn captured_files() -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack: Vec<_> = fixtures().into_iter().collect();
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The `event-data` text of every captured JSON webhook, exactly as captured.
fn captured_event_data() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for path in captured_files() {
        let Ok(text) = fs::read(&path) else { continue };
        let text = match split_request(&text) {
            Some((ct, body)) if ct.contains("json") => body,
            Some(_) => continue,
            None => text,
        };
        #[derive(serde::Deserialize)]
        struct Envelope<'a> {
            #[serde(rename = "event-data", borrow)]
            event_data: Option<&'a RawValue>,
        }
        if let Ok(Envelope {
            event_data: Some(raw),
        }) = serde_json::from_slice::<Envelope>(&text)
        {
            out.push((name(&path), raw.get().to_owned()));
        }
    }
    out
}

fn name(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[test]
fn every_captured_json_event_reads_as_the_eager_event() {
    let v = verifier(Limits::default());
    let all = captured_event_data();
    if fixtures().is_some() {
        assert!(all.len() >= 25, "only {} captured JSON events", all.len());
    }
    for (file, event_data) in &all {
        let b = body(event_data);
        let e = eager(&v, "application/json", b.clone());
        let l = lazy(&v, "application/json", b);
        match (e, l) {
            (Ok(e), Ok(l)) => {
                assert_same(&l, &e, file);
                if e.kind() != EventKind::Unknown {
                    assert_eq!(l.json(), Some(event_data.as_bytes()), "{file}");
                }
            }
            (Err(e), Err(l)) => assert_eq!(e.kind(), l.kind(), "{file}"),
            (e, l) => panic!("{file}: eager {e:?}, lazy {l:?}"),
        }
    }
}

#[test]
fn every_sample_kind_in_every_format_reads_as_the_eager_event() {
    let signer = Signer::new(SigningKey::new(KEY)).at(TS);
    let v = signer.verifier();
    for kind in EventKind::ALL {
        for format in [
            mailgun_webhooks::Format::Json,
            mailgun_webhooks::Format::Form,
            mailgun_webhooks::Format::Multipart,
        ] {
            let s = signer.sign(mailgun_webhooks::testing::sample(kind).encoded(format));
            let b = Bytes::from(s.body);
            let e = eager(&v, &s.content_type, b.clone()).unwrap();
            let l = lazy(&v, &s.content_type, b).unwrap();
            assert_same(&l, &e, &format!("{kind} as {format:?}"));
            assert_eq!(l.json().is_some(), format == mailgun_webhooks::Format::Json);
        }
    }
    // Legacy names (bounced, dropped) take the kinds `Event` gives them.
    let bounced = legacy_sample(EventKind::Failed).unwrap();
    let s = signer.sign(bounced.encoded(mailgun_webhooks::Format::Multipart));
    let b = Bytes::from(s.body);
    let l = lazy(&v, &s.content_type, b.clone()).unwrap();
    assert_same(
        &l,
        &eager(&v, &s.content_type, b).unwrap(),
        "legacy bounced",
    );
    assert_eq!(l.kind(), EventKind::Failed);
}

/// The fields and files of every captured legacy form event (signature fields left out).
fn captured_legacy_forms() -> Vec<(String, FormBody)> {
    let mut out = Vec::new();
    for path in captured_files() {
        let Some((ct, body)) = form_request(&path) else {
            continue;
        };
        if ct.contains("json") {
            continue;
        }
        let Ok(raw) = mailgun_webhooks::scan(&ct, &body, &Limits::default()) else {
            continue;
        };
        let Ok(Payload::Event(event)) = raw.parse_unverified().map(|p| p.into_payload_unverified())
        else {
            continue;
        };
        let Some(data) = event.data() else { continue };
        let mut form = FormBody::new();
        for (n, v) in &data.fields {
            if !["timestamp", "token", "signature"].contains(&n.as_str()) {
                form = form.field(n, v);
            }
        }
        for a in &data.attachments {
            form = form.file(
                a.field_name(),
                a.filename().unwrap_or("file"),
                a.content_type().unwrap_or("application/octet-stream"),
                a.data(),
            );
        }
        out.push((name(&path), form));
    }
    out
}

/// The content type and body of a captured form file (`.form`, `.multipart`, `.http.txt`).
fn form_request(path: &Path) -> Option<(String, Vec<u8>)> {
    let bytes = fs::read(path).ok()?;
    let name = path.to_str()?;
    if name.ends_with(".form") {
        Some(("application/x-www-form-urlencoded".to_owned(), bytes))
    } else if name.ends_with(".multipart") {
        let line = bytes.split(|&b| b == b'\n').next()?;
        let boundary = std::str::from_utf8(line)
            .ok()?
            .trim_end()
            .trim_start_matches("--");
        Some((format!("multipart/form-data; boundary={boundary}"), bytes))
    } else if name.ends_with(".http.txt") {
        split_request(&bytes)
    } else {
        None
    }
}

#[test]
fn every_captured_legacy_form_event_reads_as_the_eager_event() {
    let v = verifier(Limits::default());
    let all = captured_legacy_forms();
    if fixtures().is_some() {
        assert!(all.len() >= 10, "only {} captured legacy events", all.len());
    }
    let mut kept = 0;
    for (file, form) in all {
        let signed = form.sign(&SigningKey::new(KEY), TS, "tok-legacy");
        for body in [signed.urlencoded(), signed.multipart()] {
            let b = Bytes::from(body.body);
            let e = eager(&v, &body.content_type, b.clone()).unwrap();
            let l = lazy(&v, &body.content_type, b).unwrap();
            assert_same(&l, &e, &format!("{file} as {}", body.content_type));
            kept += usize::from(format!("{l:?}").contains("form_fields"));
        }
    }
    // Kept as fields, not decoded up front (unknown kinds are).
    if fixtures().is_some() {
        assert!(kept >= 10, "only {kept} kept as fields");
    }
}

#[test]
fn a_legacy_form_event_near_or_over_the_node_budget_is_decoded_before_the_handler() {
    let headers = |n: usize| {
        let pairs: Vec<_> = (0..n)
            .map(|i| serde_json::json!([format!("X-H{i}"), "v"]))
            .collect();
        serde_json::Value::from(pairs).to_string()
    };
    let signed = |headers: String| {
        FormBody::new()
            .field("event", "delivered")
            .field("recipient", "a@example.com")
            .field("message-headers", headers)
            .sign(&SigningKey::new(KEY), TS, "tok-budget")
            .urlencoded()
    };
    // 100 pairs cost 301 nodes exactly (a `[` and a `,` each, a `[` and the value), and the
    // lazy bound three times that: under a budget of 400, the event is decoded now and fits ...
    let v = verifier(Limits::default().json_nodes(400));
    let body = signed(headers(100));
    let l = lazy(&v, &body.content_type, body.body.clone().into()).unwrap();
    assert!(!format!("{l:?}").contains("form_fields"), "{l:?}");
    assert_same(
        &l,
        &eager(&v, &body.content_type, body.body.into()).unwrap(),
        "near the budget",
    );
    // ... under a budget of 300 it is refused (413), as the eager parse refuses it.
    let v = verifier(Limits::default().json_nodes(300));
    let body = signed(headers(100));
    let e = eager(&v, &body.content_type, body.body.clone().into()).unwrap_err();
    let l = lazy(&v, &body.content_type, body.body.into()).unwrap_err();
    assert!(matches!(
        l.kind(),
        ErrorKind::LimitExceeded {
            what: Limit::JsonNodes,
            ..
        }
    ));
    assert_eq!(e.kind(), l.kind());
    // A `\u` escape in `message-headers` is counted as the structure it could decode to: the
    // event stays lazy under the default budget, and decodes as the eager one does.
    let v = verifier(Limits::default());
    let body = signed(
        r#"[["X-Mailgun-Variables", "\u007b\"a\": 1}"], ["Subject", "caf\u00e9"]]"#.to_owned(),
    );
    let l = lazy(&v, &body.content_type, body.body.clone().into()).unwrap();
    assert!(format!("{l:?}").contains("form_fields"), "{l:?}");
    assert_same(
        &l,
        &eager(&v, &body.content_type, body.body.into()).unwrap(),
        "escaped",
    );
    assert_eq!(
        l.event().user_variables().and_then(|v| v.get::<u32>("a")),
        Some(1)
    );
}

#[test]
fn lenient_shapes_read_as_the_eager_event() {
    let v = verifier(Limits::default());
    for event_data in [
        // Escapes in values and in member names.
        r#"{"event":"delivered","recipient":"al\u0069ce@example.com","id":"a\"b"}"#,
        r#"{"\u0065vent":"opened","r\u0065cipient":"bob@example.com"}"#,
        // Numbers and booleans as text; null, lists and objects absent.
        r#"{"event":"clicked","id":12345,"recipient":true,"timestamp":"1529006854.329574"}"#,
        r#"{"event":"clicked","id":-7.5,"recipient":null,"timestamp":1529006854.5}"#,
        r#"{"event":"failed","id":["x"],"recipient":{"a":1},"timestamp":{"t":1}}"#,
        // The kind's name in any case; nested members of the same name are not the event's.
        r#"{"event":"DeLiVeReD","message":{"id":"inner","recipient":"no"},"id":"outer"}"#,
        // Unknown kinds, no kind at all, a kind that is not a string.
        r#"{"event":"brand-new","id":"x","recipient":"a@example.com"}"#,
        r#"{"id":"x"}"#,
        r#"{"event":5,"id":"x"}"#,
        r#"{"event":["delivered"]}"#,
        // Whitespace everywhere, empty strings, deep nesting elsewhere.
        " {\n \"event\" : \"accepted\" ,\t\"id\" : \"\" , \"recipient\":\"\" } ",
        r#"{"event":"stored","storage":{"a":[[[[[[{"b":[1,2,{"c":"d"}]}]]]]]]},"id":"s"}"#,
    ] {
        let b = body(event_data);
        let e = eager(&v, "application/json", b.clone()).unwrap();
        let l = lazy(&v, "application/json", b).unwrap();
        assert_same(&l, &e, event_data);
    }
}

#[test]
fn what_only_a_decode_checks_leaves_the_members_read_up_front() {
    let v = verifier(Limits::default());
    // serde_json checks a lone surrogate escape or a number's range when it decodes a value,
    // not when it skips one: the eager parse refuses these, the envelope pass does not.
    for event_data in [
        r#"{"event":"failed","id":"i-1","recipient":"a@example.com","timestamp":1.5,"log-level":"\udeeb"}"#,
        r#"{"event":"delivered","id":"i-2","recipient":"b@example.com","message":{"size":1e400}}"#,
    ] {
        let b = body(event_data);
        assert!(
            eager(&v, "application/json", b.clone()).is_err(),
            "{event_data}"
        );
        let l = lazy(&v, "application/json", b).unwrap();
        assert!(l.id().is_some() && l.recipient().is_some(), "{event_data}");
        let full = l.event();
        assert_eq!(l.kind(), full.kind(), "{event_data}");
        assert_eq!(l.id(), full.id(), "{event_data}");
        assert_eq!(l.recipient(), full.recipient(), "{event_data}");
        assert_eq!(l.timestamp(), full.timestamp(), "{event_data}");
        assert_eq!(&l.clone().into_event(), full, "{event_data}");
    }
}

#[test]
fn accessors_borrow_from_the_body() {
    let v = verifier(Limits::default());
    let b = body(r#"{"event":"delivered","id":"id-1","recipient":"a@example.com"}"#);
    let range = b.as_ptr() as usize..b.as_ptr() as usize + b.len();
    let l = lazy(&v, "application/json", b.clone()).unwrap();
    for s in [l.id().unwrap(), l.recipient().unwrap()] {
        assert!(range.contains(&(s.as_ptr() as usize)), "{s} is a copy");
    }
    // The event keeps the request's buffer, not a copy of `event-data`.
    let json = l.json().unwrap();
    assert!(range.contains(&(json.as_ptr() as usize)));
}

#[test]
fn a_repeated_member_is_read_leniently_the_last_one_winning() {
    let v = verifier(Limits::default());
    let data = r#"{"event":"delivered","recipient":"a@example.com","recipient":"b@example.com","message":{"size":1,"size":2}}"#;
    // The eager typed parse refuses it before the handler runs ...
    let b = body(data);
    assert!(matches!(
        eager(&v, "application/json", b.clone()).unwrap_err().kind(),
        ErrorKind::Malformed { .. }
    ));
    // ... the lazy one reads it, and its full decode agrees with its accessors.
    let l = lazy(&v, "application/json", b).unwrap();
    assert_eq!(l.kind(), EventKind::Delivered);
    assert_eq!(l.recipient(), Some("b@example.com"));
    assert_eq!(l.event().recipient(), Some("b@example.com"));
    assert_eq!(l.event().kind(), EventKind::Delivered);
    assert_eq!(
        l.event()
            .data()
            .and_then(|d| d.message.as_ref())
            .and_then(|m| m.size),
        Some(2)
    );
}

#[test]
fn refuses_what_the_eager_path_refuses_before_the_handler() {
    let v = verifier(Limits::default());
    for not_object in ["[]", "\"delivered\"", "17", "null"] {
        let err = lazy(&v, "application/json", body(not_object)).unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::Malformed { .. }),
            "{not_object}: {err:?}"
        );
        assert_eq!(err.status(), 400);
    }
    // Over the node budget: 413, as for `Event`.
    let small = verifier(Limits::default().json_nodes(50));
    let big = format!(
        r#"{{"event":"delivered","tags":[{}]}}"#,
        vec!["1"; 200].join(",")
    );
    let b = body(&big);
    let e = eager(&small, "application/json", b.clone()).unwrap_err();
    let l = lazy(&small, "application/json", b).unwrap_err();
    assert!(matches!(
        l.kind(),
        ErrorKind::LimitExceeded {
            what: Limit::JsonNodes,
            ..
        }
    ));
    assert_eq!(e.kind(), l.kind());
    // A forged body is refused before anything in `event-data` is read.
    let mut forged = body(r#"{"event":"delivered"}"#).to_vec();
    let at = forged.windows(8).position(|w| w == b"tok-lazy").unwrap();
    forged[at] = b'T';
    let err = lazy(&v, "application/json", forged.into()).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::SignatureMismatch));
}

#[test]
fn debug_shows_no_content() {
    let v = verifier(Limits::default());
    let l = lazy(
        &v,
        "application/json",
        body(r#"{"event":"delivered","recipient":"secret@example.com"}"#),
    )
    .unwrap();
    let shown = format!("{l:?}");
    assert!(!shown.contains("secret"), "{shown}");
    assert!(shown.contains("Delivered"), "{shown}");
}
