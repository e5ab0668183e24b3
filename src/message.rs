//! The message view: one way to read a message, whether a route posted it parsed or as raw
//! MIME, or a bounce carried it.
//!
//! Raw MIME is read with [`mail_parser`] (fuzzed, tolerant of bad charsets, broken base64,
//! RFC 2047 and RFC 2231 names and nested `message/rfc822`), under bounds taken from
//! [`Limits`]:
//!
//! - before parsing, a single pass over the bytes bounds what the parse can allocate (its
//!   parts, headers, parameters and attached messages); a message whose structure could need
//!   more than 8 times its size plus 1 MiB (or 4 KiB per part allowed by
//!   [`Limits::mime_parts`], if that is more) is refused ([`Limit::MimeParts`]). Measured on
//!   hostile shapes (`tests/mime_memory.rs`), the whole view then peaks under 12 times the
//!   message plus 2 MiB, decoded bodies and attachments included;
//! - only the headers the view reads are parsed into structures, from their first
//!   occurrence, each capped at 64 KiB; every other header is kept raw;
//! - attached messages nest without recursion, in the parse and when dropped;
//! - after parsing, the nesting depth ([`Limits::mime_depth`]) and the number of parts
//!   ([`Limits::mime_parts`]) are checked exactly;
//! - each decoded attachment counts against [`Limits::file`], and all of them together
//!   against [`Limits::body`].
//!
//! Exceeding any of them is a [`LimitExceeded`](ErrorKind::LimitExceeded) error from
//! [`InboundMessage::message`](crate::InboundMessage::message); the fields Mailgun posted stay
//! readable.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use mail_parser::{
    Address, Encoding, HeaderName, HeaderValue, MessageParser, MimeHeaders, PartType,
};

use crate::error::{ErrorKind, Limit};
use crate::inbound::Attachment;
use crate::limits::Limits;

/// A mailbox from an address header: a display name and an address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Mailbox {
    /// The display name, decoded (RFC 2047), if any.
    pub name: Option<String>,
    /// The address (`bob@example.com`), if any.
    pub address: Option<String>,
}

impl Mailbox {
    /// A mailbox.
    pub fn new(name: Option<String>, address: Option<String>) -> Self {
        Mailbox { name, address }
    }
}

/// A message, read the same way whatever way it arrived: from raw MIME (a raw-MIME route's
/// `body-mime`, a bounce's `message.mime`) or from the fields of a parsed route.
///
/// Get it from [`InboundMessage::message`](crate::InboundMessage::message) or
/// [`Event::bounced_message`](crate::Event::bounced_message).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct MessageView {
    from: Option<Mailbox>,
    to: Vec<Mailbox>,
    cc: Vec<Mailbox>,
    reply_to: Vec<Mailbox>,
    subject: Option<String>,
    date: Option<i64>,
    message_id: Option<String>,
    in_reply_to: Vec<String>,
    references: Vec<String>,
    text: Option<String>,
    html: Option<String>,
    headers: Vec<(String, String)>,
    attachments: Vec<Attachment>,
}

impl MessageView {
    /// The `From` header's first mailbox.
    pub fn from(&self) -> Option<&Mailbox> {
        self.from.as_ref()
    }

    /// The `To` header's mailboxes (groups flattened).
    pub fn to(&self) -> &[Mailbox] {
        &self.to
    }

    /// The `Cc` header's mailboxes.
    pub fn cc(&self) -> &[Mailbox] {
        &self.cc
    }

    /// The `Reply-To` header's mailboxes.
    pub fn reply_to(&self) -> &[Mailbox] {
        &self.reply_to
    }

    /// The `Subject`, decoded to UTF-8 (RFC 2047).
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// The `Date` header as a time, if it parsed (the raw value is in
    /// [`header`](Self::header)`("Date")`).
    pub fn date(&self) -> Option<SystemTime> {
        let secs = u64::try_from(self.date?).ok()?;
        UNIX_EPOCH.checked_add(Duration::from_secs(secs))
    }

    /// The `Date` header as Unix seconds (negative before 1970).
    pub fn date_unix(&self) -> Option<i64> {
        self.date
    }

    /// The `Message-Id`, without angle brackets.
    pub fn message_id(&self) -> Option<&str> {
        self.message_id.as_deref()
    }

    /// The `In-Reply-To` ids, without angle brackets.
    pub fn in_reply_to(&self) -> &[String] {
        &self.in_reply_to
    }

    /// The `References` ids, without angle brackets, oldest first.
    pub fn references(&self) -> &[String] {
        &self.references
    }

    /// The text body, decoded to UTF-8 from its charset (an unknown charset is read as UTF-8,
    /// invalid sequences replaced).
    pub fn text(&self) -> Option<&str> {
        self.text.as_deref()
    }

    /// The HTML body, decoded to UTF-8 from its charset.
    pub fn html(&self) -> Option<&str> {
        self.html.as_deref()
    }

    /// The top-level headers, in order, names as sent, values raw (not decoded).
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The first top-level header named `name`, case-insensitively, raw.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The attachments, decoded, in order (an attached message is one attachment, its own
    /// attachments stay inside it). Inline parts (images referenced by `cid:`) are included,
    /// marked by [`Attachment::is_inline`].
    pub fn attachments(&self) -> &[Attachment] {
        &self.attachments
    }

    pub(crate) fn set_posted(
        &mut self,
        text: Option<String>,
        html: Option<String>,
        headers: Vec<(String, String)>,
        attachments: Vec<Attachment>,
    ) {
        self.text = text;
        self.html = html;
        self.headers = headers;
        self.attachments = attachments;
    }

    /// Fills what this view lacks from `other` (a MIME message without a `Subject` keeps the
    /// subject Mailgun posted).
    pub(crate) fn fill_from(&mut self, other: MessageView) {
        fn opt<T>(a: &mut Option<T>, b: Option<T>) {
            if a.is_none() {
                *a = b;
            }
        }
        fn list<T>(a: &mut Vec<T>, b: Vec<T>) {
            if a.is_empty() {
                *a = b;
            }
        }
        opt(&mut self.from, other.from);
        list(&mut self.to, other.to);
        list(&mut self.cc, other.cc);
        list(&mut self.reply_to, other.reply_to);
        opt(&mut self.subject, other.subject);
        opt(&mut self.date, other.date);
        opt(&mut self.message_id, other.message_id);
        list(&mut self.in_reply_to, other.in_reply_to);
        list(&mut self.references, other.references);
        opt(&mut self.text, other.text);
        opt(&mut self.html, other.html);
        list(&mut self.headers, other.headers);
    }
}

/// The bounds of a MIME parse, copied from [`Limits`] so that a message can be read later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MimeLimits {
    depth: u32,
    parts: u32,
    file: u64,
    total: u64,
}

impl MimeLimits {
    pub(crate) fn new(limits: &Limits) -> Self {
        MimeLimits {
            depth: limits.max_mime_depth().min(128),
            parts: limits.max_mime_parts(),
            file: limits.max_file(),
            total: limits.max_body(),
        }
    }
}

impl Default for MimeLimits {
    fn default() -> Self {
        MimeLimits::new(&Limits::default())
    }
}

fn over(what: Limit, limit: u64) -> ErrorKind {
    ErrorKind::LimitExceeded { what, limit }
}

/// Allocation estimates (bytes) of one item of the structural parse, measured on mail-parser
/// 0.11 (`tests/mime_memory.rs` checks the resulting bound with a counting allocator).
const COST_ITEM: u64 = 256;
const COST_PARAMETER: u64 = 128;
/// An attached message (and the parser's saved state while inside it).
const COST_MESSAGE: u64 = 1536;

/// An upper bound of what parsing `raw` can allocate for its structure, from one pass over
/// the bytes. Every header needs a line with a `:`; every part a run of dashes before its
/// boundary (or a `message/rfc822` header, on a line with a `:`); every parameter of a
/// `Content-Type` or `Content-Disposition` a `;`. Every other header is kept raw (no
/// allocation of its own), and the view's few structured headers are parsed apart, capped.
pub(crate) fn structure_estimate(raw: &[u8]) -> u64 {
    // The parts of a digest are attached messages by default.
    let run_cost = if contains_ignore_case(raw, b"digest") {
        COST_MESSAGE
    } else {
        COST_ITEM
    };
    let mut items: u64 = 1;
    let mut runs: u64 = 0;
    let mut messages: u64 = 0;
    let mut parameters: u64 = 0;
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', raw).chain(std::iter::once(raw.len())) {
        let line = raw.get(start..end).unwrap_or_default();
        start = end + 1;
        let continued = matches!(line.first(), Some(b' ' | b'\t'));
        // Most lines (base64, prose) have none of these and continue no header: skip them
        // after one SIMD scan.
        let first = memchr::memchr3(b'-', b':', b';', line);
        if first.is_none() && !continued {
            continue;
        }
        let first = first.unwrap_or(line.len());
        let mut dashes: u32 = 0;
        let mut colon = None;
        let mut semicolons: u64 = 0;
        for (i, &b) in line.iter().enumerate().skip(first) {
            match b {
                b'-' => {
                    dashes = dashes.saturating_add(1);
                    continue;
                }
                b':' if colon.is_none() => colon = Some(i),
                b';' => semicolons += 1,
                _ => {}
            }
            // A run can start one part: the rest of its line is then read as a header
            // (further matches in it only close multiparts, which allocates nothing).
            runs += u64::from(dashes >= 2);
            dashes = 0;
        }
        runs += u64::from(dashes >= 2);
        let name = colon.and_then(|c| line.get(..c));
        if colon.is_some() {
            items += 1;
        }
        // mail-parser ignores white space inside a header name.
        let is = |want: &[u8]| {
            name.is_some_and(|n| {
                let mut n = n.iter().filter(|b| !b.is_ascii_whitespace());
                want.iter()
                    .all(|w| n.next().is_some_and(|c| c.eq_ignore_ascii_case(w)))
                    && n.next().is_none()
            })
        };
        let content_type = is(b"content-type");
        if continued || content_type || is(b"content-disposition") {
            parameters += semicolons;
        }
        if (continued || content_type) && contains_ignore_case(line, b"message") {
            messages += 1;
        }
    }
    items
        .saturating_mul(COST_ITEM)
        .saturating_add(runs.saturating_mul(run_cost))
        .saturating_add(messages.saturating_mul(COST_MESSAGE))
        .saturating_add(parameters.saturating_mul(COST_PARAMETER))
}

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    memchr::memchr2_iter(
        first.to_ascii_lowercase(),
        first.to_ascii_uppercase(),
        haystack,
    )
    .any(|i| {
        haystack
            .get(i + 1..i + needle.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(rest))
    })
}

/// What a message of `len` bytes may allocate for its structure: 8 times its size plus 1 MiB,
/// or 4 KiB per allowed part ([`Limits::mime_parts`]) if that is more.
pub(crate) fn structure_budget(len: usize, parts: u32) -> u64 {
    let by_size = u64::try_from(len)
        .unwrap_or(u64::MAX)
        .saturating_mul(8)
        .saturating_add(1 << 20);
    by_size.max(u64::from(parts).saturating_mul(4 << 10))
}

/// The structural parse: only what finding the parts needs is parsed; every other header is
/// kept raw (borrowed, no allocation per value).
fn structure_parser() -> MessageParser {
    MessageParser::new()
        .header_content_type(HeaderName::ContentType)
        .header_content_type(HeaderName::ContentDisposition)
        .default_header_raw()
}

/// The view's headers, parsed from a small block of their (capped) raw values.
fn view_parser() -> MessageParser {
    MessageParser::new()
        .with_minimal_headers()
        .with_message_ids()
        .default_header_ignore()
}

/// The headers the view reads.
const VIEW_HEADERS: [HeaderName<'static>; 9] = [
    HeaderName::From,
    HeaderName::To,
    HeaderName::Cc,
    HeaderName::ReplyTo,
    HeaderName::Subject,
    HeaderName::Date,
    HeaderName::MessageId,
    HeaderName::InReplyTo,
    HeaderName::References,
];

/// The longest value of a view header that is parsed (address lists and ids allocate per
/// item); the raw value stays whole in [`MessageView::headers`].
const MAX_VIEW_HEADER: usize = 64 << 10;

/// Parses raw MIME into a view, under `limits`.
pub(crate) fn parse_mime(raw: &[u8], limits: MimeLimits) -> Result<MessageView, ErrorKind> {
    if structure_estimate(raw) > structure_budget(raw.len(), limits.parts) {
        return Err(over(Limit::MimeParts, u64::from(limits.parts)));
    }
    // mail-parser recovers from inconsistent structures, but asserts on some of them in
    // debug builds (`debug_assert!`); such a message is malformed, never a panic.
    let parsed = std::panic::catch_unwind(|| structure_parser().parse(raw)).map_err(|_| {
        ErrorKind::Malformed {
            what: "the MIME structure is inconsistent".into(),
        }
    })?;
    let msg = FlatDrop(parsed);
    let Some(msg) = msg.0.as_ref() else {
        return Err(ErrorKind::Malformed {
            what: "the MIME message has no header".into(),
        });
    };
    check_shape(msg, limits)?;
    let mut view = read_headers(msg);
    view.text = msg
        .text_part(0)
        .filter(|p| matches!(p.body, PartType::Text(_)))
        .and_then(|p| p.text_contents())
        .map(str::to_owned);
    view.html = msg
        .html_part(0)
        .filter(|p| p.is_text_html())
        .and_then(|p| p.text_contents())
        .map(str::to_owned);
    view.attachments = attachments(msg, raw, limits)?;
    Ok(view)
}

/// Drops a parsed message without recursion: attached messages nest as deep as the input
/// does, and the default drop would recurse once per level.
struct FlatDrop<'x>(Option<mail_parser::Message<'x>>);

impl Drop for FlatDrop<'_> {
    fn drop(&mut self) {
        let mut stack: Vec<mail_parser::Message<'_>> = self.0.take().into_iter().collect();
        while let Some(mut m) = stack.pop() {
            for part in m.parts.drain(..) {
                if let PartType::Message(inner) = part.body {
                    stack.push(inner);
                }
            }
        }
    }
}

/// Parses a header block of the view's headers (built from posted fields, or from the raw
/// values of a message's own headers).
pub(crate) fn parse_header_block(block: &[u8]) -> MessageView {
    view_parser()
        .parse_headers(block)
        .map(|m| read_view_headers(&m))
        .unwrap_or_default()
}

/// A header block of the view's headers from raw header values, one line each, capped.
pub(crate) fn header_block<'a>(headers: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut block = String::new();
    for (name, value) in headers {
        let mut cut = value.len().min(MAX_VIEW_HEADER);
        while !value.is_char_boundary(cut) {
            cut -= 1;
        }
        block.push_str(name);
        block.push_str(": ");
        // One line per header: a value cannot add headers.
        block.extend(
            value
                .get(..cut)
                .unwrap_or_default()
                .chars()
                .map(|c| if c == '\r' || c == '\n' { ' ' } else { c }),
        );
        block.push_str("\r\n");
    }
    block.push_str("\r\n");
    block
}

/// Checks the depth and the number of parts, without recursion.
fn check_shape(msg: &mail_parser::Message<'_>, limits: MimeLimits) -> Result<(), ErrorKind> {
    let mut parts: u64 = 0;
    // (message, part index, depth)
    let mut stack = vec![(msg, 0u32, 0u32)];
    while let Some((m, id, depth)) = stack.pop() {
        if depth > limits.depth {
            return Err(over(Limit::MimeDepth, u64::from(limits.depth)));
        }
        parts += 1;
        if parts > u64::from(limits.parts) {
            return Err(over(Limit::MimeParts, u64::from(limits.parts)));
        }
        let Some(part) = m.part(id) else { continue };
        match &part.body {
            PartType::Multipart(ids) => {
                for &sub in ids {
                    // A multipart lists itself first when it has no other structure.
                    if sub != id {
                        stack.push((m, sub, depth + 1));
                    }
                }
            }
            PartType::Message(inner) if !inner.parts.is_empty() => {
                stack.push((inner, 0, depth + 1));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The view's headers of a parsed message: the first of each, re-parsed from its raw value.
fn read_headers(msg: &mail_parser::Message<'_>) -> MessageView {
    let raw: Vec<(String, String)> = msg
        .headers_raw()
        .map(|(n, v)| (n.to_owned(), v.trim().to_owned()))
        .collect();
    let wanted = VIEW_HEADERS.iter().filter_map(|h| {
        let value = msg.root_part().headers().iter().find(|x| x.name == *h)?;
        Some((h.as_str(), value.value().as_text()?))
    });
    let mut view = parse_header_block(header_block(wanted).as_bytes());
    view.headers = raw;
    view
}

fn read_view_headers(msg: &mail_parser::Message<'_>) -> MessageView {
    let ids = |h: &HeaderValue<'_>| -> Vec<String> {
        match h {
            HeaderValue::Text(t) => vec![t.to_string()],
            HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
            _ => Vec::new(),
        }
    };
    let list = |a: Option<&Address<'_>>| -> Vec<Mailbox> {
        a.map(|a| a.iter().map(mailbox).collect())
            .unwrap_or_default()
    };
    MessageView {
        from: msg.from().and_then(Address::first).map(mailbox),
        to: list(msg.to()),
        cc: list(msg.cc()),
        reply_to: list(msg.reply_to()),
        subject: msg.subject().map(str::to_owned),
        date: msg.date().map(mail_parser::DateTime::to_timestamp),
        message_id: msg.message_id().map(str::to_owned),
        in_reply_to: ids(msg.in_reply_to()),
        references: ids(msg.references()),
        ..MessageView::default()
    }
}

fn mailbox(a: &mail_parser::Addr<'_>) -> Mailbox {
    Mailbox {
        name: a.name().map(str::to_owned),
        address: a.address().map(str::to_owned),
    }
}

fn attachments(
    msg: &mail_parser::Message<'_>,
    raw: &[u8],
    limits: MimeLimits,
) -> Result<Vec<Attachment>, ErrorKind> {
    let mut out = Vec::new();
    let mut total: u64 = 0;
    for (i, part) in msg.attachments().enumerate() {
        if part.is_multipart() {
            continue;
        }
        // An attached message that was not transfer-encoded is a slice of the raw message;
        // mail-parser's own copy of it is the whole enclosing message.
        let data: &[u8] = match &part.body {
            PartType::Message(_) if part.encoding == Encoding::None => raw
                .get(part.raw_body_offset() as usize..part.raw_end_offset() as usize)
                .unwrap_or_default(),
            _ => part.contents(),
        };
        let size = u64::try_from(data.len()).unwrap_or(u64::MAX);
        if size > limits.file {
            return Err(over(Limit::File, limits.file));
        }
        total = total.saturating_add(size);
        if total > limits.total {
            return Err(over(Limit::Body, limits.total));
        }
        let content_type = part.content_type().map(|ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub),
            None => ct.ctype().to_owned(),
        });
        let disposition = part.content_disposition();
        let inline = disposition.map_or(
            matches!(part.body, PartType::InlineBinary(_)) || part.content_id().is_some(),
            |d| d.is_inline(),
        );
        let content_id = part
            .content_id()
            .map(|c| crate::event::strip_angle_brackets(c).to_owned());
        let field = format!("attachment-{}", i.saturating_add(1));
        out.push(
            Attachment::from_bytes(
                field,
                part.attachment_name().map(str::to_owned),
                content_type,
                Bytes::copy_from_slice(data),
            )
            .with_content_id(content_id, inline),
        );
    }
    Ok(out)
}
