//! The message view on every captured raw-MIME route and bounce: the same subject, sender and
//! attachments as the parsed twin (where one exists) and as the message itself says.

mod common;

use std::path::Path;

use mailgun_webhooks::{Event, InboundMessage, Limits, Payload, parse};

fn load(dir: &Path, file: &str) -> Payload {
    let body = std::fs::read(dir.join(file)).unwrap();
    let ct = if body.starts_with(b"--") {
        let line = body.split(|&b| b == b'\n').next().unwrap();
        let boundary = String::from_utf8_lossy(&line[2..]).trim_end().to_owned();
        format!("multipart/form-data; boundary={boundary}")
    } else {
        "application/x-www-form-urlencoded".to_owned()
    };
    parse(&ct, &body, &Limits::default())
        .unwrap_or_else(|e| panic!("{file}: {e}"))
        .into_payload_unverified()
}

fn inbound(dir: &Path, file: &str) -> InboundMessage {
    load(dir, file).into_inbound().unwrap()
}

fn names_and_sizes(m: &InboundMessage) -> Vec<(String, usize)> {
    m.message()
        .unwrap()
        .attachments()
        .iter()
        .map(|a| (a.filename().unwrap_or_default().to_owned(), a.size()))
        .collect()
}

#[test]
fn multi_mail_raw_mime_matches_its_parsed_twin() {
    let Some(dir) = common::fixtures() else {
        return;
    };
    let raw = inbound(&dir, "multi_mail/inbound-raw-mime-valid.form");
    let parsed = inbound(&dir, "multi_mail/inbound-parsed-valid.multipart");
    assert!(raw.raw_mime().is_some() && parsed.raw_mime().is_none());
    let (rv, pv) = (raw.message().unwrap(), parsed.message().unwrap());
    assert_eq!(rv.subject(), Some("Test"));
    assert_eq!(rv.subject(), pv.subject());
    assert_eq!(raw.subject.as_deref(), rv.subject(), "as Mailgun posted it");
    let from = rv.from().unwrap();
    assert_eq!(from.address.as_deref(), Some("james@opennorth.ca"));
    assert_eq!(from.name.as_deref(), Some("James McKinney"));
    assert_eq!(pv.from(), rv.from());
    assert_eq!(rv.to(), pv.to());
    // The two captures are different sends of the same message: ids and dates differ, and
    // each view agrees with the headers Mailgun posted beside it.
    for (m, v) in [(&raw, rv), (&parsed, pv)] {
        let posted = m.field("Message-Id").unwrap().trim_matches(['<', '>']);
        assert_eq!(v.message_id(), Some(posted));
        assert!(v.date().is_some());
    }
    // The raw MIME's attachments are the parsed post's file parts, byte for byte.
    let raw_files = names_and_sizes(&raw);
    assert_eq!(raw_files, names_and_sizes(&parsed));
    assert_eq!(raw_files.len(), 2, "{raw_files:?}");
    assert_eq!(raw_files[0].0, "foo.txt");
    assert_eq!(raw_files[1].0, "bar.txt");
    for (r, p) in rv.attachments().iter().zip(pv.attachments()) {
        assert_eq!(r.data(), p.data());
        assert_eq!(r.safe_filename(), p.safe_filename());
    }
    assert!(rv.text().is_some_and(|t| !t.is_empty()));
}

#[test]
fn cciw_dashboard_sample_reads_like_the_message_says() {
    let Some(dir) = common::fixtures() else {
        return;
    };
    let m = inbound(&dir, "cciw/inbound-raw-mime-dashboard-sample-post.form");
    let v = m.message().unwrap();
    assert_eq!(v.subject(), Some("Re: Sample POST request"));
    assert_eq!(m.subject.as_deref(), v.subject());
    assert_eq!(
        v.from().unwrap(),
        &mailgun_webhooks::Mailbox::new(Some("Bob".into()), Some("bob@cciw.co.uk".into()))
    );
    assert_eq!(v.to()[0].address.as_deref(), Some("alice@cciw.co.uk"));
    assert_eq!(v.message_id(), Some("517ACC75.5010709@cciw.co.uk"));
    assert_eq!(v.in_reply_to(), ["517AC78B.5060404@cciw.co.uk"]);
    assert_eq!(v.references(), ["517AC78B.5060404@cciw.co.uk"]);
    assert!(v.text().unwrap().contains("This is Bob."));
    assert!(v.html().unwrap().contains("<html>"));
    // LF-only line endings; an inline image and an RFC 2231 (UTF-8, continued) file name.
    assert_eq!(
        names_and_sizes(&m),
        [
            ("crabby.gif".to_owned(), 2785),
            ("attached_\u{444}\u{430}\u{439}\u{43b}.txt".to_owned(), 32)
        ]
    );
    let (gif, txt) = (&v.attachments()[0], &v.attachments()[1]);
    assert!(gif.is_inline() && !txt.is_inline());
    assert_eq!(gif.content_id(), Some("part1.04060802.06030207@cciw.co.uk"));
    assert_eq!(gif.content_type(), Some("image/gif"));
    assert!(gif.data().starts_with(b"GIF89a"));
    assert_eq!(txt.data(), b"This is the content of the file\n");
    assert_eq!(
        v.header("X-Mailgun-Variables").map(|h| h.starts_with('{')),
        Some(true)
    );
}

#[test]
fn anymail_raw_mime_decodes_quoted_printable_utf8() {
    let Some(dir) = common::fixtures() else {
        return;
    };
    let m = inbound(&dir, "anymail-django-anymail/inbound-raw-mime.multipart");
    let v = m.message().unwrap();
    assert_eq!(v.subject(), Some("Raw MIME test"));
    let from = v.from().unwrap();
    assert_eq!(
        (from.name.as_deref(), from.address.as_deref()),
        (Some("A tester"), Some("test@example.org"))
    );
    assert_eq!(
        v.to()[0].address.as_deref(),
        Some("test@inbound.example.com")
    );
    assert_eq!(v.message_id(), Some("CAEPk3RKEx@mail.example.org"));
    assert_eq!(v.text().map(str::trim_end), Some("It's a body\u{2026}"));
    assert_eq!(
        v.html().map(str::trim_end),
        Some("<div dir=\"ltr\">It's a body\u{2026}</div>")
    );
    assert!(v.attachments().is_empty());
    // Mailgun posted no `subject` field here: the view is the only place it is.
    assert_eq!(m.subject, None);
}

#[test]
fn parsed_routes_fall_back_to_message_headers_and_map_content_ids() {
    let Some(dir) = common::fixtures() else {
        return;
    };
    let m = inbound(
        &dir,
        "anymail-django-anymail/inbound-parsed-basic.multipart",
    );
    assert_eq!(m.subject.as_deref(), Some("Test subject"));
    let v = m.message().unwrap();
    assert_eq!(v.subject(), Some("Test subject"));
    assert!(v.from().and_then(|f| f.address.as_deref()).is_some());
    assert!(m.from.is_some());

    let m = inbound(
        &dir,
        "anymail-django-anymail/inbound-parsed-three-attachments-inline-cid.multipart",
    );
    let v = m.message().unwrap();
    let inline: Vec<(&str, Option<&str>)> = v
        .attachments()
        .iter()
        .filter(|a| a.is_inline())
        .map(|a| (a.field_name(), a.content_id()))
        .collect();
    assert!(!inline.is_empty(), "content-id-map marks inline parts");
    for (field, cid) in &inline {
        let mapped = m
            .content_id_map
            .iter()
            .find(|(_, f)| f == field)
            .map(|(c, _)| c.trim_matches(['<', '>']));
        assert_eq!(*cid, mapped.filter(|c| !c.is_empty()), "{field}");
    }
    assert_eq!(m.attachment_count_mismatch(), None);
}

#[test]
fn bounces_carry_a_readable_message() {
    let Some(dir) = common::fixtures() else {
        return;
    };
    for file in [
        "cciw/legacy-bounced-dashboard-test-webhook.multipart",
        "learnscripture/legacy-bounced-test-webhook-modified.multipart",
    ] {
        let event = load(&dir, file).into_event().unwrap();
        let bounced = event.bounced_message().unwrap_or_else(|| panic!("{file}"));
        let v = bounced.message().unwrap();
        let raw = String::from_utf8_lossy(bounced.raw_mime().unwrap()).into_owned();
        let said = raw
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .map(str::trim);
        assert!(v.subject().is_some(), "{file}");
        assert_eq!(v.subject(), said, "{file}");
        let id = raw
            .lines()
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case("message-id").then_some(v)
            })
            .map(|v| v.trim().trim_matches(['<', '>']));
        assert_eq!(v.message_id(), id, "{file}");
        assert!(!v.headers().is_empty());
    }
    // JSON failed events carry the message's headers.
    let body = std::fs::read(dir.join("anymail-django-anymail/json-failed-permanent-bounce.json"))
        .unwrap();
    let event = parse("application/json", &body, &Limits::default())
        .unwrap()
        .into_payload_unverified()
        .into_event()
        .unwrap();
    let bounced = event.bounced_message().unwrap();
    let v = bounced.message().unwrap();
    assert_eq!(v.message_id(), event.message_id());
    assert!(v.message_id().is_some());
    assert_eq!(v.to()[0].address.as_deref(), Some("invalid@example.com"));
    // Only failed events carry one.
    let e = Event::from_json(br#"{"event":"delivered","message":{"headers":{"subject":"x"}}}"#)
        .unwrap();
    assert!(e.bounced_message().is_none());
}
