//! The `Content-Disposition` header of a multipart part: its `name` and `filename`.
//!
//! Parsed here rather than taken from multer, whose parameter matching is case-sensitive,
//! gives up on `filename*=`, and drops a filename ending in a backslash (`"path\"`).
//!
//! - Parameter names are matched case-insensitively; the first occurrence of each counts.
//! - A quoted value honours `\"` and `\\` (some clients escape them); any other backslash is
//!   literal, so a Windows path such as `"\share\mail\a.msg"` is kept as sent. A quoted value
//!   whose closing quote is missing once escapes are honoured (`"path\"`) is re-read with no
//!   escapes, up to the first quote. Percent escapes (`%22`) are not decoded.
//! - `filename*=UTF-8''...` (RFC 5987, also `ISO-8859-1`) takes precedence over `filename`
//!   when it decodes.
//! - The name must be UTF-8; a filename that is not is decoded lossily.

use std::borrow::Cow;

/// The parameters of one `Content-Disposition` value.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Disposition<'a> {
    /// `name`, as raw bytes (checked for UTF-8 by the caller).
    pub(super) name: Option<Cow<'a, [u8]>>,
    /// `filename*` if it decodes, else `filename`.
    pub(super) filename: Option<String>,
}

impl<'a> Disposition<'a> {
    pub(super) fn parse(value: &'a [u8]) -> Disposition<'a> {
        let mut out = Disposition::default();
        let mut plain_filename = None;
        let mut extended = None;
        let mut rest = value;
        // Skip the disposition type (`form-data`).
        rest = rest
            .get(find(rest, b';').unwrap_or(rest.len())..)
            .unwrap_or_default();
        while let Some((param, value, after)) = next_param(rest) {
            rest = after;
            if param.eq_ignore_ascii_case(b"name") {
                out.name.get_or_insert(value);
            } else if param.eq_ignore_ascii_case(b"filename") {
                plain_filename.get_or_insert(value);
            } else if param.eq_ignore_ascii_case(b"filename*") && extended.is_none() {
                extended = Some(decode_extended(&value));
            }
        }
        out.filename = extended
            .flatten()
            .or_else(|| plain_filename.map(|f| String::from_utf8_lossy(&f).into_owned()));
        out
    }
}

fn find(s: &[u8], c: u8) -> Option<usize> {
    s.iter().position(|&b| b == c)
}

fn trim_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|b| b.is_ascii_whitespace()).count();
    s.get(n..).unwrap_or_default()
}

/// A parameter's name, its unquoted value, and the rest of the header after it.
type Param<'a> = (&'a [u8], Cow<'a, [u8]>, &'a [u8]);

/// Parses `; name=value` at the start of `s`.
fn next_param(s: &[u8]) -> Option<Param<'_>> {
    let mut s = trim_start(s);
    while let Some(rest) = s.strip_prefix(b";") {
        s = trim_start(rest);
    }
    if s.is_empty() {
        return None;
    }
    let end = s
        .iter()
        .position(|&b| b == b'=' || b == b';')
        .unwrap_or(s.len());
    let (name, rest) = s.split_at(end);
    let name = name.trim_ascii();
    let Some(rest) = rest.strip_prefix(b"=") else {
        return Some((name, Cow::Borrowed(&[]), rest));
    };
    let rest = trim_start(rest);
    if let Some(quoted) = rest.strip_prefix(b"\"") {
        let (value, after) = quoted_string(quoted);
        return Some((name, value, after));
    }
    let end = find(rest, b';').unwrap_or(rest.len());
    let (value, after) = rest.split_at(end);
    Some((name, Cow::Borrowed(value.trim_ascii()), after))
}

/// Reads a quoted string after its opening quote: the value and the rest after the closing
/// quote. See the module docs for the escaping rules.
fn quoted_string(s: &[u8]) -> (Cow<'_, [u8]>, &[u8]) {
    if let Some(q) = find(s, b'"') {
        let value = s.get(..q).unwrap_or_default();
        if !value.contains(&b'\\') {
            return (Cow::Borrowed(value), s.get(q + 1..).unwrap_or_default());
        }
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        match (c, s.get(i + 1)) {
            (b'\\', Some(&next @ (b'\\' | b'"'))) => {
                out.push(next);
                i += 2;
            }
            (b'"', _) => return (Cow::Owned(out), s.get(i + 1..).unwrap_or_default()),
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    // Unterminated with escapes honoured: read literally up to the first quote.
    match find(s, b'"') {
        Some(q) => (
            Cow::Borrowed(s.get(..q).unwrap_or_default()),
            s.get(q + 1..).unwrap_or_default(),
        ),
        None => (Cow::Borrowed(s), &[]),
    }
}

/// `charset'language'percent-encoded` (RFC 5987), for UTF-8 and ISO-8859-1.
fn decode_extended(value: &[u8]) -> Option<String> {
    let mut parts = value.splitn(3, |&b| b == b'\'');
    let charset = parts.next()?;
    let _language = parts.next()?;
    let encoded = parts.next()?;
    let bytes = percent_decode(encoded)?;
    if charset.eq_ignore_ascii_case(b"utf-8") {
        String::from_utf8(bytes).ok()
    } else if charset.eq_ignore_ascii_case(b"iso-8859-1") {
        Some(bytes.iter().map(|&b| char::from(b)).collect())
    } else {
        None
    }
}

fn percent_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        if c == b'%' {
            let hi = s.get(i + 1).and_then(|&h| char::from(h).to_digit(16))?;
            let lo = s.get(i + 2).and_then(|&l| char::from(l).to_digit(16))?;
            out.push(u8::try_from(hi * 16 + lo).ok()?);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(v: &str) -> (Option<String>, Option<String>) {
        let d = Disposition::parse(v.as_bytes());
        (
            d.name.map(|n| String::from_utf8(n.into_owned()).unwrap()),
            d.filename,
        )
    }

    fn some(a: &str, b: Option<&str>) -> (Option<String>, Option<String>) {
        (Some(a.to_owned()), b.map(str::to_owned))
    }

    #[test]
    fn plain() {
        assert_eq!(d(r#"form-data; name="a""#), some("a", None));
        assert_eq!(
            d(r#"form-data; name=a; filename=b.txt"#),
            some("a", Some("b.txt"))
        );
        assert_eq!(
            d(r#"form-data; NAME="a"; FILENAME="b""#),
            some("a", Some("b"))
        );
        assert_eq!(
            d(r#"form-data; filename="f;n.txt"; name="x""#),
            some("x", Some("f;n.txt"))
        );
        assert_eq!(d(r#"form-data; name="a"; name="b""#), some("a", None));
        assert_eq!(d(r#"form-data; filename="""#).1.as_deref(), Some(""));
        assert_eq!(d("form-data").0, None);
        assert_eq!(d("form-data; filename=\"x\"").0, None);
    }

    #[test]
    fn backslashes_and_quotes() {
        assert_eq!(
            d(r#"form-data; name="a"; filename="\share\mail\f.msg""#)
                .1
                .as_deref(),
            Some(r"\share\mail\f.msg")
        );
        assert_eq!(
            d(r#"form-data; name="a"; filename="path\""#).1.as_deref(),
            Some(r"path\")
        );
        assert_eq!(
            d(r#"form-data; name="a"; filename="a\"b""#).1.as_deref(),
            Some(r#"a"b"#)
        );
        assert_eq!(
            d(r#"form-data; name="a"; filename="a\\b""#).1.as_deref(),
            Some(r"a\b")
        );
        assert_eq!(
            d(r#"form-data; name="a"; filename="path\.."; x=1"#)
                .1
                .as_deref(),
            Some(r"path\..")
        );
        assert_eq!(
            d(r#"form-data; name="a"; filename="%22q%22""#).1.as_deref(),
            Some("%22q%22")
        );
        assert_eq!(
            d(r#"form-data; name="a"; filename="unterminated"#)
                .1
                .as_deref(),
            Some("unterminated")
        );
    }

    #[test]
    fn extended_filename() {
        assert_eq!(
            d(r#"form-data; name="attachment-1"; filename*=UTF-8''a%C3%A9.pdf; filename="a.pdf""#),
            some("attachment-1", Some("a\u{e9}.pdf"))
        );
        assert_eq!(
            d(r#"form-data; name="a"; filename*=iso-8859-1'en'%E9"#)
                .1
                .as_deref(),
            Some("\u{e9}")
        );
        // Undecodable: falls back to `filename`.
        assert_eq!(
            d(r#"form-data; name="a"; filename*=UTF-8''%FF; filename="b""#)
                .1
                .as_deref(),
            Some("b")
        );
        assert_eq!(d(r#"form-data; name="a"; filename*=koi8-r''x"#).1, None);
    }

    #[test]
    fn non_utf8_name_is_kept_as_bytes() {
        let v = Disposition::parse(b"form-data; name=\"\xff\"");
        assert_eq!(v.name.as_deref(), Some(&[0xff][..]));
    }
}
