//! The ordered fields of a form body, shared by the urlencoded and multipart readers, and how
//! they become a [`Payload`].
//!
//! # Which occurrence of a repeated field counts
//!
//! Form bodies are ordered multimaps: Mailgun repeats names legitimately (`Received`, `tag`)
//! and, on legacy webhooks, merges custom variables into the top level, so that a variable
//! named like an event field arrives as a second occurrence of that field. Mailgun then puts
//! its own value **last** for `timestamp`, `token` and `signature` and **first** for every
//! other field. So:
//!
//! - the signature fields `timestamp`, `token`, `signature` and `parent-signature` are read
//!   from their **last** occurrence (the one value the verifier, the freshness check and the
//!   replay key all use);
//! - every other typed field is read from its **first** occurrence;
//! - every occurrence stays available, in order, in the payload's `fields` (legacy events keep
//!   the non-Mailgun occurrences of a known field as user variables too).
//!
//! # Which payload a form is
//!
//! A field `event` without a field `sender` makes it a legacy tracking event. Route posts
//! always carry Mailgun's `sender` field, and every MIME header of the email as a field of its
//! own, so an `event` header written by the email's sender cannot turn a route post into a
//! tracking event (the price: a legacy event whose custom variable is named `sender` is read as
//! a route post). Otherwise a `message-url` that is an `https` URL on a `mailgun.net` host, or
//! an `attachments` field holding a JSON list, makes it a `store()` notification. Anything else
//! is an inbound message (`forward()`), parsed or raw MIME (`body-mime`).

use super::{Payload, legacy, route};
use crate::error::{ErrorKind, Limit, Result};
use crate::inbound::Attachment;
use crate::limits::{Limits, NodeBudget};
use crate::message::MimeLimits;
use crate::verify::Signature;

/// How exactly a field's value decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decoded {
    /// Decoded without any replacement.
    Exact,
    /// A `%` escape was invalid and kept as is (urlencoded only).
    BadPercent,
    /// The bytes were not UTF-8 and were decoded lossily.
    BadUtf8,
}

/// The signature fields, in the order of [`FieldSet::last`].
const SIGNED: [&str; 4] = ["timestamp", "token", "signature", "parent-signature"];
const TIMESTAMP: usize = 0;
const TOKEN: usize = 1;
const SIGNATURE: usize = 2;
const PARENT: usize = 3;

/// The fields of a form body, in order, with the limits on their number and names.
#[derive(Debug)]
pub(super) struct FieldSet<'l> {
    limits: &'l Limits,
    texts: Vec<(String, String)>,
    files: Vec<Attachment>,
    /// Index in `texts` of the last occurrence of each signature field, and how it decoded.
    last: [Option<(usize, Decoded)>; 4],
    parts: u32,
    file_parts: u32,
}

impl<'l> FieldSet<'l> {
    pub(super) fn new(limits: &'l Limits) -> Self {
        FieldSet {
            limits,
            texts: Vec::with_capacity(32),
            files: Vec::new(),
            last: [None; 4],
            parts: 0,
            file_parts: 0,
        }
    }

    /// Counts one more field named `name` against the part, file and field-name limits. Call
    /// it before reading the field's value.
    pub(super) fn admit(&mut self, name: &str, is_file: bool) -> Result<()> {
        self.parts = self.parts.saturating_add(1);
        if self.parts > self.limits.max_parts() {
            return Err(limit(Limit::Parts, u64::from(self.limits.max_parts())));
        }
        if u64::try_from(name.len()).map_or(true, |n| n > self.limits.max_field_name()) {
            return Err(limit(Limit::FieldName, self.limits.max_field_name()));
        }
        if is_file {
            self.file_parts = self.file_parts.saturating_add(1);
            if self.file_parts > self.limits.max_files() {
                return Err(limit(Limit::Files, u64::from(self.limits.max_files())));
            }
        }
        Ok(())
    }

    /// The most bytes the value of a field may have, and which limit that is: the file limit
    /// for files, the body limit for a raw MIME route's `body-mime`, the text-field limit for
    /// any other text field.
    pub(super) fn value_limit(&self, name: &str, is_file: bool) -> (Limit, u64) {
        value_limit(self.limits, name, is_file)
    }

    pub(super) fn push_text(&mut self, name: String, value: String, decoded: Decoded) {
        if let Some(slot) = SIGNED.iter().position(|s| *s == name)
            && let Some(entry) = self.last.get_mut(slot)
        {
            *entry = Some((self.texts.len(), decoded));
        }
        self.texts.push((name, value));
    }

    pub(super) fn push_file(&mut self, file: Attachment) {
        self.files.push(file);
    }

    /// Extracts the signature: the end of the envelope pass. Nothing has been decoded but the
    /// fields themselves (no JSON inside them).
    pub(super) fn into_fields(self) -> Result<(Signature, Fields)> {
        let signature = self.signature()?;
        Ok((
            signature,
            Fields {
                texts: self.texts,
                files: self.files,
                used: self.last.iter().flatten().map(|(i, _)| *i).collect(),
            },
        ))
    }

    /// The last `signature`, `timestamp` and `token` (checked in that order, so that an
    /// unsigned body reports the missing `signature`), and `parent-signature` if present.
    fn signature(&self) -> Result<Signature> {
        let signature = self.signed(SIGNATURE)?.ok_or(missing(SIGNATURE))?;
        let timestamp = self.signed(TIMESTAMP)?.ok_or(missing(TIMESTAMP))?;
        let token = self.signed(TOKEN)?.ok_or(missing(TOKEN))?;
        let sig = Signature::new(timestamp, token, signature);
        Ok(match self.signed(PARENT)? {
            Some(parent) => sig.parent_signature(parent),
            None => sig,
        })
    }

    /// The value of a signature field, which must have decoded exactly.
    fn signed(&self, slot: usize) -> Result<Option<&str>> {
        let Some(Some((index, decoded))) = self.last.get(slot) else {
            return Ok(None);
        };
        let field = SIGNED.get(slot).copied().unwrap_or("signature");
        let what = match decoded {
            Decoded::Exact => {
                return Ok(self.texts.get(*index).map(|(_, v)| v.as_str()));
            }
            Decoded::BadPercent => format!("invalid percent-encoding in field `{field}`"),
            Decoded::BadUtf8 => format!("field `{field}` is not valid UTF-8"),
        };
        Err(ErrorKind::Malformed { what: what.into() }.into())
    }
}

/// The fields of a form body once the envelope pass is done: every text field decoded (no
/// JSON inside them), files as they arrived, and which fields were the signed ones.
#[derive(Clone)]
pub(super) struct Fields {
    pub(super) texts: Vec<(String, String)>,
    pub(super) files: Vec<Attachment>,
    /// Indices in `texts` of the signature fields that were used.
    pub(super) used: Vec<usize>,
}

impl Fields {
    /// How many text fields and files there are, for `Debug`.
    pub(super) fn summary(&self) -> (usize, usize) {
        (self.texts.len(), self.files.len())
    }

    /// Classifies the fields into a payload, decoding the JSON inside them (after
    /// verification) under the request's node budget. `timestamp` is the signed one.
    pub(super) fn finish(
        self,
        timestamp: &str,
        budget: &NodeBudget,
        mime: MimeLimits,
    ) -> Result<Payload> {
        // A route post carries Mailgun's `sender` field and every MIME header of the email as
        // a field, so an `event` header added by the email's sender must not turn it into a
        // tracking event; legacy tracking posts never have `sender`.
        Ok(if self.is_event() {
            Payload::Event(legacy::event(
                self.texts, self.files, &self.used, timestamp, budget,
            )?)
        } else if self
            .texts
            .iter()
            .any(|(n, v)| n == "message-url" && route::is_mailgun_url(v))
            || self
                .first("attachments")
                .is_some_and(super::form_json::is_json_list)
        {
            Payload::Stored(Box::new(route::stored(self.texts, self.files, budget)?))
        } else {
            Payload::Inbound(Box::new(route::inbound(
                self.texts, self.files, budget, mime,
            )?))
        })
    }

    /// Whether these fields are a legacy tracking event (see the module's documentation).
    pub(super) fn is_event(&self) -> bool {
        self.has("event") && !self.has("sender")
    }

    fn has(&self, name: &str) -> bool {
        self.texts.iter().any(|(n, _)| n == name)
    }

    pub(super) fn first(&self, name: &str) -> Option<&str> {
        self.texts
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn missing(slot: usize) -> ErrorKind {
    ErrorKind::MissingField {
        field: SIGNED.get(slot).copied().unwrap_or("signature"),
    }
}

pub(super) fn limit(what: Limit, limit: u64) -> crate::Error {
    ErrorKind::LimitExceeded { what, limit }.into()
}

/// See [`FieldSet::value_limit`].
pub(super) fn value_limit(limits: &Limits, name: &str, is_file: bool) -> (Limit, u64) {
    if is_file {
        (Limit::File, limits.max_file())
    } else if name == "body-mime" {
        (Limit::Body, limits.max_body())
    } else {
        (Limit::TextField, limits.max_text_field())
    }
}

/// True for `attachment-1`, `attachment-2`, ...: Mailgun's names for file parts, which are
/// files even when the part has no `filename` parameter.
pub(super) fn is_attachment_name(name: &str) -> bool {
    name.strip_prefix("attachment-")
        .is_some_and(|n| !n.is_empty() && n.len() <= 9 && n.bytes().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(limits: &Limits, fields: &[(&str, &str)]) -> Result<Signature> {
        let mut s = FieldSet::new(limits);
        for (n, v) in fields {
            s.admit(n, false)?;
            s.push_text((*n).to_owned(), (*v).to_owned(), Decoded::Exact);
        }
        s.into_fields().map(|(sig, _)| sig)
    }

    #[test]
    fn last_signature_fields_win() {
        let l = Limits::default();
        let u = set(
            &l,
            &[
                ("token", "user"),
                ("timestamp", "user"),
                ("signature", "user"),
                ("token", "t"),
                ("timestamp", "1"),
                ("signature", "s"),
            ],
        )
        .unwrap();
        let s = &u;
        assert_eq!((s.timestamp(), s.token(), s.signature()), ("1", "t", "s"));
        assert_eq!(s.parent(), None);
    }

    #[test]
    fn missing_fields_are_named_signature_first() {
        let l = Limits::default();
        let kind = |f: &[(&str, &str)]| set(&l, f).unwrap_err().into_kind();
        assert_eq!(kind(&[]), ErrorKind::MissingField { field: "signature" });
        assert_eq!(
            kind(&[("signature", "s")]),
            ErrorKind::MissingField { field: "timestamp" }
        );
        assert_eq!(
            kind(&[("signature", "s"), ("timestamp", "1")]),
            ErrorKind::MissingField { field: "token" }
        );
    }

    #[test]
    fn a_bad_earlier_occurrence_is_harmless_but_a_bad_last_one_is_not() {
        let l = Limits::default();
        let mut s = FieldSet::new(&l);
        s.push_text("token".into(), "\u{FFFD}".into(), Decoded::BadUtf8);
        for (n, v) in [("token", "t"), ("timestamp", "1"), ("signature", "s")] {
            s.push_text(n.into(), v.into(), Decoded::Exact);
        }
        assert!(s.into_fields().is_ok());

        let mut s = FieldSet::new(&l);
        for (n, v) in [("token", "t"), ("signature", "s")] {
            s.push_text(n.into(), v.into(), Decoded::Exact);
        }
        s.push_text("timestamp".into(), "%ZZ".into(), Decoded::BadPercent);
        let msg = s.into_fields().err().unwrap().to_string();
        assert_eq!(
            msg,
            "malformed body: invalid percent-encoding in field `timestamp`"
        );
    }

    #[test]
    fn counts_and_names_are_limited() {
        let l = Limits::default().parts(2).files(1).field_name(4);
        let mut s = FieldSet::new(&l);
        s.admit("a", true).unwrap();
        assert_eq!(
            s.admit("b", true).unwrap_err().into_kind(),
            ErrorKind::LimitExceeded {
                what: Limit::Files,
                limit: 1
            }
        );
        assert_eq!(
            s.admit("c", false).unwrap_err().into_kind(),
            ErrorKind::LimitExceeded {
                what: Limit::Parts,
                limit: 2
            }
        );
        let mut s = FieldSet::new(&l);
        assert_eq!(
            s.admit("abcde", false).unwrap_err().into_kind(),
            ErrorKind::LimitExceeded {
                what: Limit::FieldName,
                limit: 4
            }
        );
    }

    #[test]
    fn attachment_names() {
        for yes in ["attachment-1", "attachment-10", "attachment-007"] {
            assert!(is_attachment_name(yes), "{yes}");
        }
        for no in [
            "attachment-",
            "attachment-x",
            "attachments",
            "Attachment-1",
            "attachment-1 ",
        ] {
            assert!(!is_attachment_name(no), "{no}");
        }
    }
}
