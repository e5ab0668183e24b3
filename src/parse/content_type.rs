//! `Content-Type` header parsing: the media type, and the multipart boundary.

use crate::error::{ErrorKind, Result};

/// The three media types Mailgun posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MediaType {
    /// `application/json`.
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
    /// `multipart/form-data`.
    Multipart,
}

impl MediaType {
    /// The media type's name: `application/json`, `application/x-www-form-urlencoded` or
    /// `multipart/form-data`.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Json => "application/json",
            MediaType::Form => "application/x-www-form-urlencoded",
            MediaType::Multipart => "multipart/form-data",
        }
    }
}

impl std::fmt::Display for MediaType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed `Content-Type` header value.
///
/// ```
/// use mailgun_webhooks::{ContentType, MediaType};
/// let ct = ContentType::parse("Multipart/Form-Data; boundary=\"abc\"")?;
/// assert_eq!(ct.media_type(), MediaType::Multipart);
/// assert_eq!(ct.boundary()?, "abc");
/// # Ok::<(), mailgun_webhooks::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentType {
    media: MediaType,
    boundary: Option<Result<String, &'static str>>,
}

/// RFC 2046: a boundary is 1 to 70 characters.
const MAX_BOUNDARY: usize = 70;

impl ContentType {
    /// Parses a header value. The media type is matched case-insensitively; parameters other
    /// than `boundary` are ignored.
    ///
    /// Returns [`UnsupportedContentType`](ErrorKind::UnsupportedContentType) for other types.
    pub fn parse(value: &str) -> Result<Self> {
        let mut parts = value.split(';');
        let essence = parts.next().unwrap_or_default().trim();
        let media = if essence.eq_ignore_ascii_case("application/json") {
            MediaType::Json
        } else if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            MediaType::Form
        } else if essence.eq_ignore_ascii_case("multipart/form-data") {
            MediaType::Multipart
        } else {
            return Err(ErrorKind::UnsupportedContentType.into());
        };
        let boundary = (media == MediaType::Multipart).then(|| boundary_param(parts));
        Ok(ContentType { media, boundary })
    }

    /// The media type.
    pub fn media_type(&self) -> MediaType {
        self.media
    }

    /// The multipart boundary: 1 to 70 characters from RFC 2046's set, given once.
    ///
    /// Returns a [`Malformed`](ErrorKind::Malformed) error (400) when it is missing, repeated
    /// with different values, too long or has a forbidden character, or when the media type is
    /// not multipart.
    pub fn boundary(&self) -> Result<&str> {
        match &self.boundary {
            Some(Ok(b)) => Ok(b),
            Some(Err(what)) => Err(ErrorKind::Malformed {
                what: (*what).into(),
            }
            .into()),
            None => Err(ErrorKind::Malformed {
                what: "a boundary is only defined for multipart/form-data".into(),
            }
            .into()),
        }
    }
}

fn boundary_param<'a>(params: impl Iterator<Item = &'a str>) -> Result<String, &'static str> {
    let mut found: Option<String> = None;
    for param in params {
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case("boundary") {
            continue;
        }
        let value = value.trim();
        let value = match value.strip_prefix('"') {
            Some(rest) => rest
                .strip_suffix('"')
                .ok_or("multipart boundary has an unterminated quote")?,
            None => value,
        };
        if value.is_empty() || value.len() > MAX_BOUNDARY {
            return Err("multipart boundary must be 1 to 70 characters");
        }
        if !value.bytes().all(is_bchar) || value.ends_with(' ') {
            return Err("multipart boundary has a character RFC 2046 does not allow");
        }
        match &found {
            Some(prev) if prev != value => {
                return Err("multipart boundary is given twice with different values");
            }
            _ => found = Some(value.to_owned()),
        }
    }
    found.ok_or("multipart/form-data without a boundary parameter")
}

/// RFC 2046 `bchars`.
fn is_bchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_ignore_case_and_params() {
        for (v, m) in [
            ("application/json", MediaType::Json),
            ("Application/JSON; charset=utf-8", MediaType::Json),
            ("application/x-www-form-urlencoded", MediaType::Form),
            ("multipart/form-data; boundary=x", MediaType::Multipart),
        ] {
            assert_eq!(ContentType::parse(v).unwrap().media_type(), m, "{v}");
        }
        for v in [
            "",
            "text/plain",
            "application/jsonx",
            "multipart/mixed; boundary=x",
        ] {
            assert_eq!(
                ContentType::parse(v).unwrap_err().into_kind(),
                ErrorKind::UnsupportedContentType,
                "{v}"
            );
        }
    }

    #[test]
    fn boundaries() {
        let b = |v: &str| ContentType::parse(v).unwrap().boundary().map(str::to_owned);
        assert_eq!(
            b("multipart/form-data; boundary=BoUnDaRy").unwrap(),
            "BoUnDaRy"
        );
        assert_eq!(b("multipart/form-data; BOUNDARY=\"a b\"").unwrap(), "a b");
        assert!(b("multipart/form-data; boundary=a; boundary=a").is_ok());
        for bad in [
            "multipart/form-data",
            "multipart/form-data; boundary=",
            "multipart/form-data; boundary=a; boundary=b",
            "multipart/form-data; boundary=\"abc",
            "multipart/form-data; boundary=a\rb",
            &format!("multipart/form-data; boundary={}", "x".repeat(71)),
        ] {
            assert_eq!(b(bad).unwrap_err().name(), "malformed", "{bad}");
        }
    }
}
