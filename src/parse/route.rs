//! Inbound routes: form fields mapped onto [`InboundMessage`] and [`StoredMessage`].
//!
//! The named fields (`recipient`, `sender`, `from`, `subject`, the bodies, `message-headers`
//! and `content-id-map`) are read from their first occurrence; names are case-sensitive, as
//! Mailgun also posts each MIME header under its own capitalisation (`Subject` besides
//! `subject`). The body fields (`body-plain`, `body-html`, `body-mime` and the stripped
//! variants) are moved into their typed place rather than copied, so that a large message is
//! held once; every other text field stays in `fields`, in order.
//!
//! `attachment-count`, when present on a `forward()` post, must equal the number of file
//! parts: a mismatch means a truncated or altered body ([`Malformed`](ErrorKind::Malformed),
//! 400). The check is not applied to legacy tracking events, where Mailgun sends
//! `attachment-count: 1` on drops that carry no attachment.

use super::form_json;
use crate::error::{ErrorKind, Result};
use crate::inbound::{Attachment, InboundMessage, StoredMessage};

/// A `forward()` post, parsed or raw MIME.
pub(super) fn inbound(
    texts: Vec<(String, String)>,
    files: Vec<Attachment>,
) -> Result<InboundMessage> {
    check_attachment_count(&texts, files.len())?;
    Ok(message(texts, files))
}

/// A `store(notify=...)` notification.
pub(super) fn stored(texts: Vec<(String, String)>, files: Vec<Attachment>) -> StoredMessage {
    let first = |name: &str| {
        texts
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let message_url = first("message-url").map(str::to_owned);
    let attachments = first("attachments").map_or_else(Vec::new, form_json::stored_attachments);
    StoredMessage {
        message_url,
        attachments,
        message: message(texts, files),
    }
}

fn message(texts: Vec<(String, String)>, files: Vec<Attachment>) -> InboundMessage {
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
                copy_named(&mut m, &name, &value);
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
    m
}

/// Fills the small named fields from their first occurrence (the value stays in `fields`).
fn copy_named(m: &mut InboundMessage, name: &str, value: &str) {
    let slot = match name {
        "recipient" => &mut m.recipient,
        "sender" => &mut m.sender,
        "from" => &mut m.from,
        "subject" => &mut m.subject,
        "message-headers" if m.message_headers.is_empty() => {
            m.message_headers = form_json::header_pairs(value);
            return;
        }
        "content-id-map" if m.content_id_map.is_empty() => {
            m.content_id_map = form_json::object_pairs(value);
            return;
        }
        _ => return,
    };
    if slot.is_none() {
        *slot = Some(value.to_owned());
    }
}

/// `attachment-count` must be a number equal to the number of file parts.
fn check_attachment_count(texts: &[(String, String)], files: usize) -> Result<()> {
    let Some((_, count)) = texts.iter().find(|(n, _)| n == "attachment-count") else {
        return Ok(());
    };
    let Ok(count) = count.trim().parse::<u32>() else {
        return Err(ErrorKind::Malformed {
            what: "field `attachment-count` is not a number".into(),
        }
        .into());
    };
    if usize::try_from(count).ok() != Some(files) {
        return Err(ErrorKind::Malformed {
            what: format!(
                "field `attachment-count` says {count} but the body has {files} file parts \
                 (truncated or altered body?)"
            )
            .into(),
        }
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn attachment_count_must_match() {
        let kind = |c: &str, files: usize| {
            let files = (0..files)
                .map(|i| Attachment::new(format!("attachment-{i}"), None, None, b"x".to_vec()))
                .collect();
            inbound(texts(&[("attachment-count", c)]), files).map_err(|e| e.into_kind())
        };
        assert!(kind("2", 2).is_ok());
        assert!(matches!(kind("3", 2), Err(ErrorKind::Malformed { .. })));
        assert!(matches!(
            kind("99999999999999999999", 0),
            Err(ErrorKind::Malformed { .. })
        ));
        assert!(matches!(kind("-1", 0), Err(ErrorKind::Malformed { .. })));
    }
}
