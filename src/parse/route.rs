//! Inbound routes: form fields mapped onto [`InboundMessage`] and [`StoredMessage`].
//!
//! The named fields (`recipient`, `sender`, `from`, `subject`, the bodies, `message-headers`
//! and `content-id-map`) are read from their first occurrence; names are case-sensitive, as
//! Mailgun also posts each MIME header under its own capitalisation (`Subject` besides
//! `subject`). The body fields (`body-plain`, `body-html`, `body-mime` and the stripped
//! variants) are moved into their typed place rather than copied, so that a large message is
//! held once; every other text field stays in `fields`, in order.
//!
//! `subject` and `from`, when Mailgun did not post them, are taken from `message-headers`.
//! An `attachment-count` that does not match the file parts is reported by
//! [`InboundMessage::attachment_count_mismatch`], not refused: the message is still Mailgun's.

use super::form_json;
use crate::error::Result;
use crate::inbound::{Attachment, InboundMessage, StoredMessage};
use crate::limits::NodeBudget;
use crate::message::MimeLimits;

/// A `forward()` post, parsed or raw MIME; `mime` bounds the lazy MIME view.
pub(super) fn inbound(
    texts: Vec<(String, String)>,
    files: Vec<Attachment>,
    budget: &NodeBudget,
    mime: MimeLimits,
) -> Result<InboundMessage> {
    let mut m = message(texts, files, budget)?;
    m.mime_limits = mime;
    Ok(m)
}

/// A `store(notify=...)` notification.
///
/// The application fetches `message-url` and the attachment URLs with its Mailgun API key, and
/// the email's sender can add a header of the same name (Mailgun posts every MIME header as a
/// field). So only `https` URLs on a `mailgun.net` host are taken: the first such `message-url`,
/// and the first `attachments` list whose every URL is one.
pub(super) fn stored(
    texts: Vec<(String, String)>,
    files: Vec<Attachment>,
    budget: &NodeBudget,
) -> Result<StoredMessage> {
    let values = |name: &'static str| {
        texts
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let message_url = values("message-url")
        .find(|v| is_mailgun_url(v))
        .map(str::to_owned);
    let mut attachments = Vec::new();
    for list in values("attachments") {
        let list = form_json::stored_attachments(list, budget)?;
        if list
            .iter()
            .all(|a| a.url.as_deref().is_some_and(is_mailgun_url))
        {
            attachments = list;
            break;
        }
    }
    Ok(StoredMessage {
        message_url,
        attachments,
        message: message(texts, files, budget)?,
    })
}

/// See [`crate::store_url`]: the strict, WHATWG-based host check.
pub(super) fn is_mailgun_url(url: &str) -> bool {
    crate::store_url::is_mailgun_storage_url(url)
}

fn message(
    texts: Vec<(String, String)>,
    files: Vec<Attachment>,
    budget: &NodeBudget,
) -> Result<InboundMessage> {
    let mut m = InboundMessage {
        attachments: files,
        fields: Vec::with_capacity(texts.len()),
        ..InboundMessage::default()
    };
    for (name, value) in texts {
        let moved = match name.as_str() {
            "body-plain" => &mut m.body_plain,
            "body-html" => &mut m.body_html,
            "body-mime" => &mut m.body_mime,
            "stripped-text" => &mut m.stripped_text,
            "stripped-signature" => &mut m.stripped_signature,
            "stripped-html" => &mut m.stripped_html,
            _ => {
                copy_named(&mut m, &name, &value, budget)?;
                m.fields.push((name, value));
                continue;
            }
        };
        if moved.is_none() {
            *moved = Some(value);
        } else {
            m.fields.push((name, value));
        }
    }
    // Parsed routes may omit `subject` and `from`; the message's own headers have them.
    if m.subject.is_none() {
        m.subject = m.header("Subject").map(str::to_owned);
    }
    if m.from.is_none() {
        m.from = m.header("From").map(str::to_owned);
    }
    Ok(m)
}

/// Fills the small named fields from their first occurrence (the value stays in `fields`).
fn copy_named(m: &mut InboundMessage, name: &str, value: &str, budget: &NodeBudget) -> Result<()> {
    let slot = match name {
        "recipient" => &mut m.recipient,
        "sender" => &mut m.sender,
        "from" => &mut m.from,
        "subject" => &mut m.subject,
        "message-headers" if m.message_headers.is_empty() => {
            m.message_headers = form_json::header_pairs(value, budget)?;
            return Ok(());
        }
        "content-id-map" if m.content_id_map.is_empty() => {
            m.content_id_map = form_json::object_pairs(value, budget)?;
            return Ok(());
        }
        _ => return Ok(()),
    };
    if slot.is_none() {
        *slot = Some(value.to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    #[test]
    fn stored_urls_must_be_mailgun_https() {
        for good in [
            "https://storage-us-east4.api.mailgun.net/v3/domains/x/messages/AB",
            "https://se.api.mailgun.net/v3/domains/x/messages/AB",
            "https://storage-europe-west1.api.eu.mailgun.net/v3/x",
        ] {
            assert!(is_mailgun_url(good), "{good}");
        }
        for bad in [
            "http://storage.api.mailgun.net/x",
            "https://evil.example/x.mailgun.net",
            "https://mailgun.net.evil.example/x",
            "https://user@storage.api.mailgun.net/x",
            "https://api.mailgun.net@evil.example/",
            "https://evilmailgun.net/",
            "javascript:alert(1)",
            // Read by a WHATWG parser (reqwest, browsers) as host `attacker.example`.
            "https://attacker.example\\.mailgun.net/v3/domains/x/messages/AB",
            "https://storage-europe-west1.api.eu.mailgun.net:443/v3/x",
        ] {
            assert!(!is_mailgun_url(bad), "{bad}");
        }
    }

    #[test]
    fn a_senders_message_url_header_is_not_taken() {
        let real = "https://storage-us-east4.api.mailgun.net/v3/domains/d/messages/M";
        let evil_list = r#"[{"url":"https://evil.example/a","name":"a.pdf"}]"#;
        let real_list =
            r#"[{"url":"https://storage-us-east4.api.mailgun.net/v3/a/0","name":"a.pdf"}]"#;
        let s = stored(
            texts(&[
                ("message-url", "https://evil.example/steal"),
                ("attachments", evil_list),
                ("message-url", real),
                ("attachments", real_list),
            ]),
            Vec::new(),
            &budget(),
        )
        .unwrap();
        assert_eq!(s.message_url.as_deref(), Some(real));
        assert_eq!(s.attachments.len(), 1);
        assert!(
            s.attachments[0]
                .url
                .as_deref()
                .unwrap()
                .contains("mailgun.net")
        );
        let s = stored(
            texts(&[("message-url", "https://evil.example/steal")]),
            Vec::new(),
            &budget(),
        )
        .unwrap();
        assert_eq!(s.message_url, None);
    }

    use super::*;

    fn budget() -> NodeBudget {
        NodeBudget::new(1 << 20)
    }

    fn mime() -> MimeLimits {
        MimeLimits::new(&crate::Limits::default())
    }

    fn texts(f: &[(&str, &str)]) -> Vec<(String, String)> {
        f.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn named_fields_first_occurrence_bodies_moved() {
        let m = inbound(
            texts(&[
                ("subject", "s1"),
                ("Subject", "S"),
                ("subject", "s2"),
                ("body-plain", "hello"),
                ("body-plain", "again"),
                (
                    "content-id-map",
                    r#"{"": "attachment-1", "": "attachment-2"}"#,
                ),
            ]),
            Vec::new(),
            &budget(),
            mime(),
        )
        .unwrap();
        assert_eq!(m.subject.as_deref(), Some("s1"));
        assert_eq!(m.field("Subject"), Some("S"));
        assert_eq!(m.body_plain.as_deref(), Some("hello"));
        assert_eq!(m.field("body-plain"), Some("hello"));
        assert_eq!(m.content_id_map.len(), 2);
        let names: Vec<&str> = m.fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "subject",
                "Subject",
                "subject",
                "body-plain",
                "content-id-map"
            ]
        );
    }

    #[test]
    fn attachment_count_mismatch_is_reported_not_refused() {
        let check = |c: &str, files: usize| {
            let files = (0..files)
                .map(|i| Attachment::new(format!("attachment-{i}"), None, None, b"x".to_vec()))
                .collect();
            inbound(texts(&[("attachment-count", c)]), files, &budget(), mime())
                .unwrap()
                .attachment_count_mismatch()
                .map(|m| (m.declared, m.received))
        };
        assert_eq!(check("2", 2), None);
        assert_eq!(check("3", 2), Some((Some(3), 2)));
        assert_eq!(check("99999999999999999999", 0), Some((None, 0)));
        assert_eq!(check("-1", 0), Some((None, 0)));
    }

    #[test]
    fn subject_and_from_fall_back_to_message_headers() {
        let headers = r#"[["From", "Bob <bob@example.org>"], ["Subject", "Test subject"]]"#;
        let m = inbound(
            texts(&[("message-headers", headers)]),
            Vec::new(),
            &budget(),
            mime(),
        )
        .unwrap();
        assert_eq!(m.subject.as_deref(), Some("Test subject"));
        assert_eq!(m.from.as_deref(), Some("Bob <bob@example.org>"));
        let m = inbound(
            texts(&[("subject", "posted"), ("message-headers", headers)]),
            Vec::new(),
            &budget(),
            mime(),
        )
        .unwrap();
        assert_eq!(m.subject.as_deref(), Some("posted"));
    }
}
