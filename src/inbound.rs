//! Inbound mail posted by routes: [`InboundMessage`], [`Attachment`] and [`StoredMessage`].

use std::fmt;
use std::sync::OnceLock;

use bytes::Bytes;

use crate::error::{ErrorKind, Result};
use crate::limits::Limits;
use crate::message::{MessageView, MimeLimits, header_block, parse_header_block, parse_mime};

/// A message posted by a route's `forward()` action.
///
/// Mailgun posts either the parsed message (text and HTML bodies, stripped variants,
/// attachments as file parts) or, when the route URL ends in `mime`, the raw message in
/// [`body_mime`](Self::body_mime). Either way it also posts every MIME header of the message
/// as its own field, with its original capitalisation; those are in [`fields`](Self::fields).
///
/// Named fields are read from their first occurrence, names compared case-sensitively (Mailgun
/// sends both `subject` and the message's `Subject` header). Read any field by name with
/// [`field`](Self::field).
///
/// ```
/// use mailgun_webhooks::{parse, Limits};
/// let body = b"recipient=in%40example.com&sender=bob%40example.org&subject=Hi&Subject=Hi\
///              &body-plain=Hello&X-Mailgun-Sflag=No&timestamp=1700000000&token=abc&signature=00";
/// let msg = parse("application/x-www-form-urlencoded", body, &Limits::default())?
///     .into_payload_unverified() // verify it first in real code
///     .into_inbound()?;
/// assert_eq!(msg.recipient.as_deref(), Some("in@example.com"));
/// assert_eq!(msg.body_plain.as_deref(), Some("Hello"));
/// assert_eq!(msg.field("X-Mailgun-Sflag"), Some("No"));
/// # Ok::<(), mailgun_webhooks::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct InboundMessage {
    /// The SMTP recipient (`RCPT TO`).
    pub recipient: Option<String>,
    /// The SMTP sender (`MAIL FROM`); may differ from `from`.
    pub sender: Option<String>,
    /// The `From` header.
    pub from: Option<String>,
    /// The `Subject` header.
    pub subject: Option<String>,
    /// The text body.
    pub body_plain: Option<String>,
    /// The HTML body.
    pub body_html: Option<String>,
    /// The text body without quoted parts and signature.
    pub stripped_text: Option<String>,
    /// The signature removed from the text body.
    pub stripped_signature: Option<String>,
    /// The HTML body without quoted parts.
    pub stripped_html: Option<String>,
    /// The whole message as MIME, for routes whose URL ends in `mime`.
    pub body_mime: Option<String>,
    /// The message's headers, in order, from the `message-headers` field.
    pub message_headers: Vec<(String, String)>,
    /// Content-ID to attachment field name (`attachment-1`), in order; keys may repeat.
    pub content_id_map: Vec<(String, String)>,
    /// The attached files.
    pub attachments: Vec<Attachment>,
    /// Every text field as sent, in order, names case-sensitive and repeated names kept (this
    /// includes the per-header fields such as `Received` and `X-Mailgun-Sflag`), except the
    /// first `body-plain`, `body-html`, `body-mime`, `stripped-text`, `stripped-signature` and
    /// `stripped-html`: those are moved into their own fields above, so that a large message
    /// is held once. [`field`](Self::field) finds those too.
    pub fields: Vec<(String, String)>,
    /// Raw MIME that did not come as a `body-mime` field (a bounce's `message.mime`).
    pub(crate) raw_mime: Option<Bytes>,
    pub(crate) mime_limits: MimeLimits,
    pub(crate) view: ViewCache,
}

/// The message view, computed on first access. Equality and `Debug` ignore it: it is derived
/// from the other fields.
#[derive(Clone, Default)]
pub(crate) struct ViewCache(OnceLock<std::result::Result<MessageView, ErrorKind>>);

impl PartialEq for ViewCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl fmt::Debug for ViewCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "parsed"
        } else {
            "not parsed yet"
        })
    }
}

/// `attachment-count` as Mailgun sent it, when it does not match the file parts received
/// (a truncated or altered body, or a Mailgun quirk): see
/// [`InboundMessage::attachment_count_mismatch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AttachmentCountMismatch {
    /// The declared count; `None` when it is not a number.
    pub declared: Option<u32>,
    /// The file parts received.
    pub received: usize,
}

/// The headers the message view reads, with the posted field names that may carry them.
const VIEW_HEADERS: [(&str, &[&str]); 9] = [
    ("From", &["from", "From"]),
    ("To", &["To"]),
    ("Cc", &["Cc"]),
    ("Reply-To", &["Reply-To"]),
    ("Subject", &["subject", "Subject"]),
    ("Date", &["Date"]),
    ("Message-Id", &["Message-Id"]),
    ("In-Reply-To", &["In-Reply-To"]),
    ("References", &["References"]),
];

impl InboundMessage {
    /// The first text field named exactly `name` (case-sensitive, as Mailgun sends both
    /// `subject` and `Subject`), including the body fields kept outside
    /// [`fields`](Self::fields).
    pub fn field(&self, name: &str) -> Option<&str> {
        let body = match name {
            "body-plain" => &self.body_plain,
            "body-html" => &self.body_html,
            "body-mime" => &self.body_mime,
            "stripped-text" => &self.stripped_text,
            "stripped-signature" => &self.stripped_signature,
            "stripped-html" => &self.stripped_html,
            _ => &None,
        };
        body.as_deref().or_else(|| {
            self.fields
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        })
    }

    /// The first header named `name`, case-insensitively, from `message-headers`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.message_headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A message from raw MIME bytes (an `.eml` file, a bounce's `message.mime`), read under
    /// `limits` when first accessed through [`message`](Self::message).
    ///
    /// ```
    /// use mailgun_webhooks::{InboundMessage, Limits};
    /// let raw = b"From: Bob <bob@example.org>\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n\r\nHello\r\n";
    /// let msg = InboundMessage::from_mime(raw.to_vec(), &Limits::default());
    /// let view = msg.message()?;
    /// assert_eq!(view.subject(), Some("café"));
    /// assert_eq!(view.from().and_then(|m| m.address.as_deref()), Some("bob@example.org"));
    /// assert_eq!(view.text(), Some("Hello\r\n"));
    /// # Ok::<(), mailgun_webhooks::Error>(())
    /// ```
    pub fn from_mime(raw: impl Into<Vec<u8>>, limits: &Limits) -> Self {
        Self::from_mime_bytes(Bytes::from(raw.into()), MimeLimits::new(limits))
    }

    pub(crate) fn from_mime_bytes(raw: Bytes, mime_limits: MimeLimits) -> Self {
        InboundMessage {
            raw_mime: Some(raw),
            mime_limits,
            ..InboundMessage::default()
        }
    }

    /// The raw MIME message, if there is one: a raw-MIME route's `body-mime`, or the bytes
    /// given to [`from_mime`](Self::from_mime).
    pub fn raw_mime(&self) -> Option<&[u8]> {
        self.raw_mime
            .as_deref()
            .or(self.body_mime.as_deref().map(str::as_bytes))
    }

    /// The message, read the same way whatever way it arrived.
    ///
    /// - Raw MIME ([`raw_mime`](Self::raw_mime)): parsed on the first call (later calls return
    ///   the same view), with [`mail_parser`] under the [`Limits`] the body was parsed with
    ///   ([`mime_depth`](Limits::mime_depth), [`mime_parts`](Limits::mime_parts), each decoded
    ///   attachment against [`file`](Limits::file)). Anything the MIME lacks is taken from
    ///   the posted fields.
    /// - Parsed routes: from the posted fields (`from`, `subject`, the per-header fields),
    ///   falling back to `message-headers`; the bodies from `body-plain` and `body-html`; the
    ///   posted files as attachments, those named in `content-id-map` marked inline with
    ///   their content id.
    ///
    /// # Errors
    ///
    /// [`LimitExceeded`](ErrorKind::LimitExceeded) (413) when the MIME is over a limit;
    /// [`Malformed`](ErrorKind::Malformed) (400) when it has no header at all. The posted
    /// fields stay readable either way.
    ///
    /// ```
    /// use mailgun_webhooks::{parse, Limits};
    /// let body = b"recipient=in%40example.com&sender=bob%40example.org\
    ///              &message-headers=%5B%5B%22Subject%22%2C+%22Hi%22%5D%5D\
    ///              &body-plain=Hello&timestamp=1700000000&token=abc&signature=00";
    /// let msg = parse("application/x-www-form-urlencoded", body, &Limits::default())?
    ///     .into_payload_unverified() // verify it first in real code
    ///     .into_inbound()?;
    /// let view = msg.message()?;
    /// assert_eq!(view.subject(), Some("Hi")); // from `message-headers`
    /// assert_eq!(view.text(), Some("Hello"));
    /// # Ok::<(), mailgun_webhooks::Error>(())
    /// ```
    pub fn message(&self) -> Result<&MessageView> {
        self.view
            .0
            .get_or_init(|| self.read_view())
            .as_ref()
            .map_err(|kind| kind.clone().into())
    }

    fn read_view(&self) -> std::result::Result<MessageView, ErrorKind> {
        let posted = self.fields_view();
        match self.raw_mime() {
            Some(raw) => {
                let mut view = parse_mime(raw, self.mime_limits)?;
                view.fill_from(posted);
                Ok(view)
            }
            None => Ok(posted),
        }
    }

    /// The view of the posted fields.
    fn fields_view(&self) -> MessageView {
        let posted = VIEW_HEADERS.iter().filter_map(|(header, names)| {
            let value = names.iter().find_map(|n| self.field(n));
            Some((*header, value.or_else(|| self.header(header))?))
        });
        let block = header_block(posted);
        let mut view = parse_header_block(block.as_bytes());
        view.set_posted(
            self.body_plain.clone(),
            self.body_html.clone(),
            self.message_headers.clone(),
            self.attachments_with_content_ids(),
        );
        view
    }

    /// The posted files, those named in `content-id-map` marked inline with their content id.
    fn attachments_with_content_ids(&self) -> Vec<Attachment> {
        self.attachments
            .iter()
            .map(|a| {
                let cid = self
                    .content_id_map
                    .iter()
                    .find(|(_, field)| field == a.field_name())
                    .map(|(cid, _)| crate::event::strip_angle_brackets(cid).to_owned());
                match cid {
                    Some(cid) => {
                        let cid = (!cid.is_empty()).then_some(cid);
                        a.clone().with_content_id(cid, true)
                    }
                    None => a.clone(),
                }
            })
            .collect()
    }

    /// `attachment-count` when it does not match the number of files received.
    ///
    /// Mailgun's count and the parts disagree when a body was truncated or altered, and on
    /// some legacy posts; the message is still delivered, so this is reported rather than
    /// refused.
    pub fn attachment_count_mismatch(&self) -> Option<AttachmentCountMismatch> {
        let declared = self.field("attachment-count")?.trim().parse::<u32>().ok();
        let received = self.attachments.len();
        if declared.and_then(|n| usize::try_from(n).ok()) == Some(received) {
            return None;
        }
        Some(AttachmentCountMismatch { declared, received })
    }
}

/// A notification posted by a route's `store(notify=...)` action.
///
/// The message itself stays on Mailgun's servers (for up to 3 days): fetch it from
/// [`message_url`](Self::message_url) with your API key. Its attachments are listed with their
/// URLs, not included.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct StoredMessage {
    /// Where to fetch (or delete) the stored message, with your API key.
    ///
    /// Only an `https` URL on a `mailgun.net` host is taken: the email's sender can add a
    /// `message-url` header, which Mailgun posts as a field too, and it must not receive your
    /// API key. The raw values stay in the message's `fields`.
    pub message_url: Option<String>,
    /// The stored attachments: the first `attachments` list whose every URL is an `https` URL
    /// on a `mailgun.net` host (for the reason given at [`message_url`](Self::message_url)).
    pub attachments: Vec<StoredAttachment>,
    /// The message fields that came with the notification (no file attachments).
    pub message: InboundMessage,
}

/// An attachment of a stored message, by URL.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, rename_all = "kebab-case")]
#[non_exhaustive]
pub struct StoredAttachment {
    /// Where to fetch the attachment.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub url: Option<String>,
    /// The attachment's file name, as sent.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub name: Option<String>,
    /// The attachment's MIME type.
    #[serde(deserialize_with = "crate::lenient::string")]
    pub content_type: Option<String>,
    /// The attachment's size in bytes.
    #[serde(deserialize_with = "crate::lenient::u64")]
    pub size: Option<u64>,
}

/// A file posted as a multipart file part: an inbound attachment, or a legacy bounce's
/// `message.mime`.
///
/// [`filename`](Self::filename) is exactly what the sender put in the part's
/// `Content-Disposition`: untrusted, possibly empty, possibly `..\..\x`. To store the file,
/// use [`safe_filename`](Self::safe_filename) and join it under a directory you control.
#[derive(Clone, PartialEq)]
pub struct Attachment {
    field_name: String,
    filename: Option<String>,
    content_type: Option<String>,
    data: Bytes,
    content_id: Option<String>,
    inline: bool,
}

impl Attachment {
    /// An attachment. `field_name` is the form field (`attachment-1`); `filename` is the raw
    /// file name as sent.
    pub fn new(
        field_name: impl Into<String>,
        filename: Option<String>,
        content_type: Option<String>,
        data: impl Into<Vec<u8>>,
    ) -> Self {
        Attachment {
            field_name: field_name.into(),
            filename,
            content_type,
            data: Bytes::from(data.into()),
            content_id: None,
            inline: false,
        }
    }

    pub(crate) fn from_bytes(
        field_name: String,
        filename: Option<String>,
        content_type: Option<String>,
        data: Bytes,
    ) -> Self {
        Attachment {
            field_name,
            filename,
            content_type,
            data,
            content_id: None,
            inline: false,
        }
    }

    pub(crate) fn with_content_id(mut self, content_id: Option<String>, inline: bool) -> Self {
        self.content_id = content_id;
        self.inline = inline;
        self
    }

    /// The bytes, shared.
    pub(crate) fn bytes(&self) -> Bytes {
        self.data.clone()
    }

    /// The `Content-ID` (without angle brackets) by which the message's HTML refers to this
    /// part (`cid:...`), if any.
    pub fn content_id(&self) -> Option<&str> {
        self.content_id.as_deref()
    }

    /// True for a part shown inside the message (`Content-Disposition: inline`, or named in
    /// a parsed route's `content-id-map`) rather than attached to it.
    pub fn is_inline(&self) -> bool {
        self.inline
    }

    /// The form field the file came in, such as `attachment-1` (for a part of a MIME
    /// message, `attachment-N` by its position).
    pub fn field_name(&self) -> &str {
        &self.field_name
    }

    /// The file name exactly as sent, if any. Untrusted: never use it as a path.
    pub fn filename(&self) -> Option<&str> {
        self.filename.as_deref()
    }

    /// The part's `Content-Type`, as sent.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// The file's bytes.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The file's bytes, owned.
    pub fn into_data(self) -> Vec<u8> {
        self.data.into()
    }

    /// The file's size in bytes.
    pub fn size(&self) -> usize {
        self.data.len()
    }

    /// A file name that is safe to join under a directory.
    ///
    /// It never contains `/`, `\`, `:`, `..`, a control or bidirectional-override character,
    /// never starts with a dot, is never empty or a Windows device name (`CON`, `NUL.txt`, ...
    /// get a leading `_`), and is at most 255 bytes. Path components of the original are
    /// joined with `_` (`../../etc/passwd` becomes `etc_passwd`); an empty result falls back to
    /// the field name (`attachment-1`).
    ///
    /// ```
    /// # use mailgun_webhooks::Attachment;
    /// let a = Attachment::new("attachment-1", Some("..\\..\\win.ini".into()), None, b"x".to_vec());
    /// assert_eq!(a.safe_filename(), "win.ini");
    /// ```
    pub fn safe_filename(&self) -> String {
        let name = sanitize(self.filename.as_deref().unwrap_or_default());
        if !name.is_empty() {
            return name;
        }
        let fallback = sanitize(&self.field_name);
        if fallback.is_empty() {
            "attachment".to_owned()
        } else {
            fallback
        }
    }
}

impl fmt::Debug for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attachment")
            .field("field_name", &self.field_name)
            .field("filename", &self.filename)
            .field("content_type", &self.content_type)
            .field("size", &self.data.len())
            .field("content_id", &self.content_id)
            .field("inline", &self.inline)
            .finish()
    }
}

const MAX_FILENAME: usize = 255;

/// Characters that act as path separators once normalised, or are forbidden on Windows.
fn is_separator(c: char) -> bool {
    matches!(
        c,
        '/' | '\\'
            | ':'
            | '\u{2044}' // FRACTION SLASH
            | '\u{2215}' // DIVISION SLASH
            | '\u{29F8}' // BIG SOLIDUS
            | '\u{FF0F}' // FULLWIDTH SOLIDUS
            | '\u{FF3C}' // FULLWIDTH REVERSE SOLIDUS
            | '\u{FE68}' // SMALL REVERSE SOLIDUS
    )
}

fn is_dropped(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'
        )
}

fn sanitize(raw: &str) -> String {
    let cleaned: String = raw
        .chars()
        .filter(|&c| !is_dropped(c))
        .map(|c| match c {
            '<' | '>' | '"' | '|' | '?' | '*' => '_',
            c => c,
        })
        .collect();
    let parts: Vec<&str> = cleaned
        .split(is_separator)
        .map(|p| p.trim_matches(|c: char| c == '.' || c.is_whitespace()))
        .filter(|p| !p.is_empty())
        .collect();
    let mut name = parts.join("_");
    while name.contains("..") {
        name = name.replace("..", ".");
    }
    // Truncate and trim first, then check: a check made before truncating can be undone by
    // it (`"NUL" + 252 spaces + "x.pdf"` truncates to `NUL`).
    let mut name = truncate_trimmed(&name, MAX_FILENAME);
    if is_windows_device(&name) {
        name = truncate_trimmed(&format!("_{name}"), MAX_FILENAME);
    }
    name
}

/// `name` without leading and trailing dots and white space, cut to at most `max` bytes (at a
/// character boundary), then trimmed again at the end.
fn truncate_trimmed(name: &str, max: usize) -> String {
    let trim = |c: char| c == '.' || c.is_whitespace();
    let name = name.trim_matches(trim);
    let mut cut = name.len().min(max);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    name.get(..cut)
        .unwrap_or_default()
        .trim_end_matches(trim)
        .to_owned()
}

fn is_windows_device(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or_default().trim_end();
    let upper = stem.to_ascii_uppercase();
    matches!(
        upper.as_str(),
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$"
    ) || ((upper.starts_with("COM") || upper.starts_with("LPT"))
        && upper.chars().count() == 4
        && upper
            .chars()
            .nth(3)
            .is_some_and(|c| c.is_ascii_digit() || "¹²³".contains(c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn safe(name: &str) -> String {
        Attachment::new("attachment-3", Some(name.to_owned()), None, Vec::new()).safe_filename()
    }

    #[test]
    fn traversal_and_separators() {
        assert_eq!(safe("../../etc/passwd"), "etc_passwd");
        assert_eq!(safe("..\\..\\win.ini"), "win.ini");
        assert_eq!(safe("C:\\x"), "C_x");
        assert_eq!(safe("\\\\server\\share\\f.txt"), "server_share_f.txt");
        assert_eq!(safe("a\u{FF0F}b\u{2215}c"), "a_b_c");
        assert_eq!(safe("report.pdf"), "report.pdf");
    }

    #[test]
    fn fallbacks_and_devices() {
        for empty in ["", ".", "..", "...", "/", "\u{0}\r\n", " . "] {
            assert_eq!(safe(empty), "attachment-3", "{empty:?}");
        }
        assert_eq!(safe("CON"), "_CON");
        assert_eq!(safe("nul.txt"), "_nul.txt");
        assert_eq!(safe("COM1"), "_COM1");
        assert_eq!(safe("com\u{b9}.txt"), "_com\u{b9}.txt");
        assert_eq!(safe("console.txt"), "console.txt");
        assert_eq!(safe(".bashrc"), "bashrc");
        assert_eq!(safe("evil\u{202E}txt.exe"), "eviltxt.exe");
        let long = safe(&"é".repeat(10_000));
        assert!(long.len() <= 255 && !long.is_empty());
    }

    #[test]
    fn device_names_are_checked_after_truncation() {
        // Truncating to 255 bytes and trimming the spaces leaves `NUL`.
        let name = format!("NUL{}x.pdf", " ".repeat(252));
        assert_eq!(safe(&name), "_NUL");
        let name = format!("com1{}x", " ".repeat(300));
        assert_eq!(safe(&name), "_com1");
        // A device name that needs the whole 255 bytes keeps within them once prefixed.
        let name = format!("aux.{}", "x".repeat(251));
        let s = safe(&name);
        assert!(s.len() <= 255 && s.starts_with("_aux."), "{s}");
    }

    #[test]
    fn invariants_hold_for_awkward_names() {
        let names = [
            "a..b",
            "..a..",
            "x/../y",
            "a\\..\\..\\b",
            ". .",
            "a:b:c",
            "\u{0}.",
        ];
        for n in names {
            let s = safe(n);
            assert!(!s.is_empty());
            assert!(
                !s.contains(['/', '\\', ':']) && !s.contains(".."),
                "{n:?} -> {s:?}"
            );
            assert!(!s.starts_with('.') && !s.chars().any(char::is_control));
            assert_eq!(safe(&s), s, "idempotent for {n:?}");
        }
    }
}
