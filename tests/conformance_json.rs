//! Every JSON fixture under ../shared/fixtures/captured parses to its expected kind, and every
//! signed one verifies with its key at its signed time and with no other key.

mod common;

use std::fs;
use std::path::Path;

use common::{ANYMAIL_KEY, SYMFONY_KEY, at, fixtures};
use mailgun_webhooks::{
    DeliveryCode, ErrorKind, Event, EventKind, KeyId, KeyRing, Limits, Payload, Severity,
    SigningKey, Verifier, parse,
};

/// (file, expected kind, key that verifies it, or None when the key is unknown)
const ENVELOPES: &[(&str, EventKind, Option<&str>)] = &[
    (
        "anymail-django-anymail/json-accepted-delivery-status-null.json",
        EventKind::Accepted,
        Some(ANYMAIL_KEY),
    ),
    (
        "anymail-django-anymail/json-clicked-minimal.json",
        EventKind::Clicked,
        Some(ANYMAIL_KEY),
    ),
    (
        "anymail-django-anymail/json-complained.json",
        EventKind::Complained,
        Some(ANYMAIL_KEY),
    ),
    (
        "anymail-django-anymail/json-delivered-complete.json",
        EventKind::Delivered,
        Some(ANYMAIL_KEY),
    ),
    (
        "anymail-django-anymail/json-failed-permanent-bounce.json",
        EventKind::Failed,
        Some(ANYMAIL_KEY),
    ),
    (
        "anymail-django-anymail/json-failed-temporary-generic-nomx.json",
        EventKind::Failed,
        Some(ANYMAIL_KEY),
    ),
    (
        "anymail-django-anymail/json-failed-temporary-greylisted.json",
        EventKind::Failed,
        Some(ANYMAIL_KEY),
    ),
    (
        "anymail-django-anymail/json-minimal-delivered-bad-signature.json",
        EventKind::Delivered,
        Some("wrong signing key"),
    ),
    (
        "anymail-django-anymail/json-minimal-delivered.json",
        EventKind::Delivered,
        Some(ANYMAIL_KEY),
    ),
    (
        "anymail-django-anymail/json-opened-tags-user-variables.json",
        EventKind::Opened,
        Some(ANYMAIL_KEY),
    ),
    (
        "anymail-django-anymail/json-rejected-no-recipient.json",
        EventKind::Rejected,
        Some(ANYMAIL_KEY),
    ),
    (
        "anymail-django-anymail/json-unsubscribed.json",
        EventKind::Unsubscribed,
        Some(ANYMAIL_KEY),
    ),
    (
        "symfony-mailgun-mailer/json-accepted.json",
        EventKind::Accepted,
        Some(SYMFONY_KEY),
    ),
    (
        "symfony-mailgun-mailer/json-clicks.json",
        EventKind::Clicked,
        Some(SYMFONY_KEY),
    ),
    (
        "symfony-mailgun-mailer/json-delivered_messages.json",
        EventKind::Delivered,
        Some(SYMFONY_KEY),
    ),
    (
        "symfony-mailgun-mailer/json-opens.json",
        EventKind::Opened,
        Some(SYMFONY_KEY),
    ),
    (
        "symfony-mailgun-mailer/json-permanent_failure.json",
        EventKind::Failed,
        Some(SYMFONY_KEY),
    ),
    (
        "symfony-mailgun-mailer/json-permanent_failure_no_description.json",
        EventKind::Failed,
        Some(SYMFONY_KEY),
    ),
    (
        "symfony-mailgun-mailer/json-spam_complaints.json",
        EventKind::Complained,
        Some(SYMFONY_KEY),
    ),
    (
        "symfony-mailgun-mailer/json-suppression_failure.json",
        EventKind::Failed,
        Some(SYMFONY_KEY),
    ),
    (
        "symfony-mailgun-mailer/json-temporary_failure.json",
        EventKind::Failed,
        Some(SYMFONY_KEY),
    ),
    (
        "symfony-mailgun-mailer/json-unsubscribes.json",
        EventKind::Unsubscribed,
        Some(SYMFONY_KEY),
    ),
    (
        "snowplow-enrich/json-clicked-dashboard-test-webhook-2022.json",
        EventKind::Clicked,
        None,
    ),
    (
        "snowplow-enrich/json-delivered-dashboard-test-webhook-2022.json",
        EventKind::Delivered,
        None,
    ),
    (
        "snowplow-enrich/json-opened-dashboard-test-webhook-2022.json",
        EventKind::Opened,
        None,
    ),
    (
        "snowplow-enrich/json-unsubscribed-dashboard-test-webhook-2022.json",
        EventKind::Unsubscribed,
        None,
    ),
];

/// Bare `event-data` objects (no signature envelope).
const EVENT_DATA: &[(&str, EventKind)] = &[
    (
        "mailgun-docs-site/webhook-payloads-accepted-event.event-data.json",
        EventKind::Accepted,
    ),
    (
        "mailgun-documentation/api-events-rst-event-accepted-routed.json",
        EventKind::Accepted,
    ),
    (
        "mailgun-documentation/api-events-rst-event-accepted.json",
        EventKind::Accepted,
    ),
    (
        "mailgun-documentation/api-events-rst-event-clicked.repaired.json",
        EventKind::Clicked,
    ),
    (
        "mailgun-documentation/api-events-rst-event-complained.repaired.json",
        EventKind::Complained,
    ),
    (
        "mailgun-documentation/api-events-rst-event-delivered.json",
        EventKind::Delivered,
    ),
    (
        "mailgun-documentation/api-events-rst-event-failed-permanent-delayed-bounce.repaired.json",
        EventKind::Failed,
    ),
    (
        "mailgun-documentation/api-events-rst-event-failed-permanent-suppress-bounce.json",
        EventKind::Failed,
    ),
    (
        "mailgun-documentation/api-events-rst-event-failed-temporary.json",
        EventKind::Failed,
    ),
    (
        "mailgun-documentation/api-events-rst-event-list-member-upload-error.repaired.json",
        EventKind::ListMemberUploadError,
    ),
    (
        "mailgun-documentation/api-events-rst-event-list-member-uploaded.json",
        EventKind::ListMemberUploaded,
    ),
    (
        "mailgun-documentation/api-events-rst-event-list-uploaded.json",
        EventKind::ListUploaded,
    ),
    (
        "mailgun-documentation/api-events-rst-event-opened.repaired.json",
        EventKind::Opened,
    ),
    (
        "mailgun-documentation/api-events-rst-event-rejected.repaired.json",
        EventKind::Rejected,
    ),
    (
        "mailgun-documentation/api-events-rst-event-stored.json",
        EventKind::Stored,
    ),
    (
        "mailgun-documentation/api-events-rst-event-unsubscribed.repaired.json",
        EventKind::Unsubscribed,
    ),
    (
        "mailgun-documentation/user-manual-opened-bot-apple.repaired.json",
        EventKind::Opened,
    ),
    (
        "mailgun-go/event-data-accepted-minimal.json",
        EventKind::Accepted,
    ),
    (
        "mailgun-go/event-data-accepted-nested-user-variables-null-fields.json",
        EventKind::Accepted,
    ),
    (
        "mailgun-go/event-data-accepted-timestamp-as-string.json",
        EventKind::Accepted,
    ),
    (
        "mailgun-go/event-data-accepted-user-variables-error-string.json",
        EventKind::Accepted,
    ),
    (
        "mailgun-go/event-data-delivered-message-attachments.json",
        EventKind::Delivered,
    ),
    ("mailgun-go/event-data-stored.json", EventKind::Stored),
    (
        "mailgun-go/event-data-unknown-event-name.json",
        EventKind::Unknown,
    ),
];

fn read(dir: &Path, file: &str) -> Vec<u8> {
    fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn event_of(payload: Payload) -> Event {
    payload.into_event().expect("a tracking event")
}

#[test]
fn envelopes_parse_to_their_kind() {
    let Some(dir) = fixtures() else { return };
    for &(file, kind, _) in ENVELOPES {
        let u = parse("application/json", &read(&dir, file), &Limits::default())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(event_of(u.into_payload_unverified()).kind(), kind, "{file}");
    }
}

#[test]
fn signed_envelopes_verify_with_their_key_only() {
    let Some(dir) = fixtures() else { return };
    let all_keys = [
        ANYMAIL_KEY,
        SYMFONY_KEY,
        "wrong signing key",
        "foo",
        "key-api-not-signing",
    ];
    let mut verified = 0;
    for &(file, _, key) in ENVELOPES {
        let u = parse("application/json", &read(&dir, file), &Limits::default()).unwrap();
        let ts: u64 = u.signature().timestamp().parse().unwrap();
        for other in all_keys {
            let v = Verifier::new(SigningKey::new(other));
            let result = v.verify_at(u.clone(), at(ts));
            if Some(other) == key {
                let ok = result.unwrap_or_else(|e| panic!("{file} with its key: {e}"));
                assert_eq!(ok.matched_key(), KeyId::Primary);
                verified += 1;
            } else {
                let kind = result.unwrap_err().into_kind();
                assert_eq!(kind, ErrorKind::SignatureMismatch, "{file} with {other}");
            }
        }
        // A rotated-out key still verifies as a previous key.
        if let Some(key) = key {
            let ring =
                KeyRing::new(SigningKey::new("brand-new-key")).previous(SigningKey::new(key));
            let ok = Verifier::new(ring).verify_at(u.clone(), at(ts)).unwrap();
            assert_eq!(ok.matched_key(), KeyId::Previous(0), "{file}");
        }
    }
    assert_eq!(verified, 22);
}

#[test]
fn missing_signature_block_is_a_typed_error() {
    let Some(dir) = fixtures() else { return };
    let body = read(
        &dir,
        "anymail-django-anymail/json-minimal-delivered-missing-signature.json",
    );
    let err = parse("application/json", &body, &Limits::default()).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::MissingField { field: "signature" });
    assert_eq!(err.status(), 400);
}

#[test]
fn bare_event_data_parses_to_its_kind() {
    let Some(dir) = fixtures() else { return };
    for &(file, kind) in EVENT_DATA {
        let event = Event::from_json(&read(&dir, file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(event.kind(), kind, "{file}");
    }
}

#[test]
fn events_api_page_items_parse() {
    let Some(dir) = fixtures() else { return };
    let page: serde_json::Value =
        serde_json::from_slice(&read(&dir, "mailgun-go/events-api-response-page.json")).unwrap();
    let kinds: Vec<EventKind> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            Event::from_json(item.to_string().as_bytes())
                .unwrap()
                .kind()
        })
        .collect();
    assert_eq!(kinds, [EventKind::Accepted, EventKind::Delivered]);
}

#[test]
fn docs_verbatim_samples_are_clean_errors() {
    let Some(dir) = fixtures() else { return };
    let mut seen = 0;
    for entry in fs::read_dir(dir.join("mailgun-documentation")).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".verbatim.txt") {
            let bytes = fs::read(&path).unwrap();
            // The docs' samples have trailing commas, curly quotes and comments.
            let err = Event::from_json(&bytes).unwrap_err();
            assert_eq!(err.name(), "malformed", "{}", path.display());
            assert_eq!(err.status(), 400);
            seen += 1;
        }
    }
    assert_eq!(seen, 9);
}

#[test]
fn quirks_are_handled() {
    let Some(dir) = fixtures() else { return };
    let ev = |f: &str| Event::from_json(&read(&dir, f)).unwrap();
    let env = |f: &str| {
        event_of(
            parse("application/json", &read(&dir, f), &Limits::default())
                .unwrap()
                .into_payload_unverified(),
        )
    };

    // Event time keeps microseconds.
    let t = env("anymail-django-anymail/json-delivered-complete.json")
        .timestamp()
        .unwrap();
    assert_eq!((t.as_secs(), t.subsec_micros()), (1534108637, 153125));
    // A string event timestamp still parses (mailgun-go rejects it).
    let t = ev("mailgun-go/event-data-accepted-timestamp-as-string.json")
        .timestamp()
        .unwrap();
    assert!(t.as_secs() > 1_000_000_000);
    // user-variables as an error string, an empty array, nested JSON.
    let e = ev("mailgun-go/event-data-accepted-user-variables-error-string.json");
    assert!(
        e.user_variables()
            .unwrap()
            .load_error()
            .unwrap()
            .contains("Could not load")
    );
    let e = ev("mailgun-docs-site/webhook-payloads-accepted-event.event-data.json");
    assert!(e.user_variables().unwrap().is_empty());
    assert_eq!(e.data().unwrap().method.as_deref(), Some("http"));
    let e = ev("mailgun-go/event-data-accepted-nested-user-variables-null-fields.json");
    let d = e.data().unwrap();
    assert!(!d.user_variables.is_empty());
    assert_eq!(d.envelope.as_ref().unwrap().mail_from, None);
    assert_eq!(d.flags.as_ref().unwrap().is_routed, None);
    // delivery-status: null, and a missing recipient.
    let e = env("anymail-django-anymail/json-accepted-delivery-status-null.json");
    assert!(e.delivery_status().is_none());
    let e = env("anymail-django-anymail/json-rejected-no-recipient.json");
    assert!(e.recipient().is_none());
    assert!(e.reason().is_some());
    // clicked without url (dashboard test payload).
    assert!(
        env("symfony-mailgun-mailer/json-clicks.json")
            .url()
            .is_none()
    );
    // Failure severity, reason and numeric code; `\/` escapes decoded.
    let e = env("symfony-mailgun-mailer/json-suppression_failure.json");
    assert_eq!(e.severity(), Some(&Severity::Permanent));
    assert_eq!(e.reason(), Some("suppress-bounce"));
    assert_eq!(
        e.delivery_status().unwrap().code,
        Some(DeliveryCode::Number(605))
    );
    let e = env("symfony-mailgun-mailer/json-temporary_failure.json");
    assert_eq!(e.severity(), Some(&Severity::Temporary));
    let e = env("symfony-mailgun-mailer/json-accepted.json");
    let url = e
        .data()
        .unwrap()
        .storage
        .as_ref()
        .unwrap()
        .url
        .clone()
        .unwrap();
    assert!(url.starts_with("https://") && !url.contains('\\'), "{url}");
    // Opened with tags, geolocation and client info.
    let e = env("anymail-django-anymail/json-opened-tags-user-variables.json");
    assert!(!e.tags().is_empty());
    assert!(e.client_info().is_some() && e.geolocation().is_some());
    // Apple Mail Privacy Protection bot.
    let e = ev("mailgun-documentation/user-manual-opened-bot-apple.repaired.json");
    assert_eq!(e.client_info().unwrap().bot.as_deref(), Some("apple"));
    // Unknown event names are kept whole.
    match ev("mailgun-go/event-data-unknown-event-name.json") {
        Event::Unknown { name, raw, .. } => {
            assert_eq!(name, "unknown_event");
            assert_eq!(raw["event"], "unknown_event");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn docs_signature_blocks_do_not_verify() {
    let Some(dir) = fixtures() else { return };
    for file in [
        "mailgun-docs-site/securing-webhooks-signature-block.json",
        "mailgun-docs-site/securing-webhooks-signature-block-subaccount-parent-signature.json",
    ] {
        let block = String::from_utf8(read(&dir, file)).unwrap();
        let body = format!(r#"{{"signature":{block},"event-data":{{"event":"delivered"}}}}"#);
        let u = parse("application/json", body.as_bytes(), &Limits::default()).unwrap();
        let ring = KeyRing::new(SigningKey::new("k")).parent(SigningKey::new("parent"));
        let err = Verifier::new(ring)
            .verify_at(u, at(1770920772))
            .unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::SignatureMismatch, "{file}");
    }
}

#[test]
fn signature_vectors_behave_as_labelled() {
    let Some(dir) = fixtures() else { return };
    let vectors: Vec<serde_json::Value> =
        serde_json::from_slice(&read(&dir, "signature-vectors/vectors.json")).unwrap();
    assert!(vectors.len() >= 8);
    for v in &vectors {
        let s = |k: &str| v[k].as_str().unwrap().to_owned();
        let (ts, token, sig) = (s("timestamp"), s("token"), s("signature"));
        let body = serde_json::json!({
            "signature": {"timestamp": ts, "token": token, "signature": sig},
            "event-data": {"event": "delivered"},
        });
        let u = parse(
            "application/json",
            body.to_string().as_bytes(),
            &Limits::default(),
        )
        .unwrap();
        let now = ts.parse().unwrap();
        let result = Verifier::new(SigningKey::new(s("key"))).verify_at(u, at(now));
        let source = s("source");
        match (v["valid"].as_bool().unwrap(), result) {
            (true, Ok(ok)) => assert_eq!(ok.matched_key(), KeyId::Primary, "{source}"),
            (false, Err(e)) => {
                // Rejected for the right reason: a malformed signature (wrong length, upper
                // case) by its grammar, anything else by the HMAC.
                let expected = if sig.len() == 64 && !sig.bytes().any(|c| c.is_ascii_uppercase()) {
                    ErrorKind::SignatureMismatch
                } else {
                    ErrorKind::BadSignatureFormat
                };
                assert_eq!(e.kind(), &expected, "{source}");
            }
            (valid, result) => panic!("{source}: labelled valid={valid}, got {result:?}"),
        }
    }
}
