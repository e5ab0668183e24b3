//! Legacy and inbound `application/x-www-form-urlencoded` bodies.
//!
//! Pairs are split on `&` and `=` and decoded here rather than by `form_urlencoded`, which
//! replaces invalid escapes and invalid UTF-8 silently. The signature fields (`timestamp`,
//! `token`, `signature`, `parent-signature`) must decode exactly: an invalid `%` escape or
//! invalid UTF-8 there is a [`Malformed`](crate::ErrorKind::Malformed) error naming the field. Every
//! other name and value is decoded leniently (an invalid escape is kept as written, invalid
//! UTF-8 becomes U+FFFD), so that a correctly signed delivery is never refused because of
//! one field's shape.
//!
//! Empty pairs (`a=1&&b=2`) are skipped; a pair without `=` has an empty value. Every other
//! pair counts against [`Limits::parts`]; names against [`Limits::field_name`]; values against
//! [`Limits::text_field`] (`body-mime`: [`Limits::body`]). A value whose encoded length is over
//! three times its limit is refused before it is decoded. Which occurrence of a repeated field
//! counts is described in the [`fields`](super::fields) module.

use super::fields::{Decoded, FieldSet, Fields, limit};
use crate::error::{Limit, Result};
use crate::limits::Limits;
use crate::verify::Signature;

/// The envelope pass over a urlencoded body: every pair split and decoded (no JSON inside the
/// values), and the signature fields found.
pub(crate) fn scan(body: &[u8], limits: &Limits) -> Result<(Signature, Fields)> {
    let mut set = FieldSet::new(limits);
    let mut start = 0;
    for amp in memchr::memchr_iter(b'&', body).chain([body.len()]) {
        add_pair(&mut set, body.get(start..amp).unwrap_or_default(), limits)?;
        start = amp.saturating_add(1);
    }
    set.into_fields()
}

/// The envelope pass over a urlencoded body that arrives in chunks: pairs are decoded as soon
/// as they are complete, so that the raw body is never held whole (only the pair being read).
/// Gives the same fields and the same errors as [`scan`] on the whole body.
pub(crate) struct StreamScan<'l> {
    set: FieldSet<'l>,
    limits: &'l Limits,
    partial: Vec<u8>,
}

impl<'l> StreamScan<'l> {
    pub(crate) fn new(limits: &'l Limits) -> Self {
        StreamScan {
            set: FieldSet::new(limits),
            limits,
            partial: Vec::new(),
        }
    }

    /// The next bytes of the body (the caller checks the body limit).
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Result<()> {
        let mut rest = chunk;
        while let Some(amp) = memchr::memchr(b'&', rest) {
            let (head, tail) = rest.split_at(amp);
            if self.partial.is_empty() {
                add_pair(&mut self.set, head, self.limits)?;
            } else {
                self.partial.extend_from_slice(head);
                let pair = std::mem::take(&mut self.partial);
                add_pair(&mut self.set, &pair, self.limits)?;
            }
            rest = tail.get(1..).unwrap_or_default();
        }
        // Grown exactly, not doubled: a pair can be as long as the body.
        self.partial.reserve_exact(rest.len());
        self.partial.extend_from_slice(rest);
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Result<(Signature, Fields)> {
        let pair = std::mem::take(&mut self.partial);
        add_pair(&mut self.set, &pair, self.limits)?;
        self.set.into_fields()
    }
}

/// One `name=value` pair (empty pairs are skipped).
fn add_pair(set: &mut FieldSet<'_>, pair: &[u8], limits: &Limits) -> Result<()> {
    if pair.is_empty() {
        return Ok(());
    }
    let (raw_name, raw_value) = match memchr::memchr(b'=', pair) {
        Some(eq) => (
            pair.get(..eq).unwrap_or_default(),
            pair.get(eq + 1..).unwrap_or_default(),
        ),
        None => (pair, &[][..]),
    };
    check_encoded(raw_name.len(), limits.max_field_name(), || {
        limit(Limit::FieldName, limits.max_field_name())
    })?;
    let (name, _) = decode(raw_name);
    set.admit(&name, false)?;
    let (what, max) = set.value_limit(&name, false);
    check_encoded(raw_value.len(), max, || limit(what, max))?;
    let (value, decoded) = decode(raw_value);
    if u64::try_from(value.len()).map_or(true, |n| n > max) {
        return Err(limit(what, max));
    }
    set.push_text(name, value, decoded);
    Ok(())
}

/// Refuses an encoded length over three times the decoded limit (`%XX` is the longest
/// encoding of one byte), before decoding.
fn check_encoded(len: usize, max: u64, err: impl FnOnce() -> crate::Error) -> Result<()> {
    let len = u64::try_from(len).unwrap_or(u64::MAX);
    if len > max.saturating_mul(3) {
        return Err(err());
    }
    Ok(())
}

/// Decodes `+` and `%XX`. Reports whether an escape was invalid (kept as written) or the
/// result was not UTF-8 (decoded lossily).
fn decode(raw: &[u8]) -> (String, Decoded) {
    let Some(first) = raw.iter().position(|&b| b == b'%' || b == b'+') else {
        return utf8(raw.to_vec(), Decoded::Exact);
    };
    // The decoded text is never longer than the encoded one: written in place, by index.
    let mut out = raw.to_vec();
    let mut status = Decoded::Exact;
    let (mut i, mut w) = (first, first);
    while let Some(&b) = raw.get(i) {
        let (byte, step) = match b {
            b'+' => (b' ', 1),
            b'%' => {
                let hi = HEX[usize::from(raw.get(i + 1).copied().unwrap_or(0))];
                let lo = HEX[usize::from(raw.get(i + 2).copied().unwrap_or(0))];
                if hi | lo < 16 {
                    ((hi << 4) | lo, 3)
                } else {
                    status = Decoded::BadPercent;
                    (b'%', 1)
                }
            }
            _ => (b, 1),
        };
        if let Some(slot) = out.get_mut(w) {
            *slot = byte;
        }
        w += 1;
        i += step;
    }
    out.truncate(w);
    utf8(out, status)
}

/// The value of each hex digit; 0xFF for any other byte.
const HEX: [u8; 256] = {
    let mut table = [0xFF; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

fn utf8(bytes: Vec<u8>, status: Decoded) -> (String, Decoded) {
    match String::from_utf8(bytes) {
        Ok(s) => (s, status),
        Err(e) => {
            let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let status = if status == Decoded::Exact {
                Decoded::BadUtf8
            } else {
                status
            };
            (lossy, status)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::verify::Unverified;
    use crate::{Format, Payload};

    fn parse(body: &[u8], limits: &Limits) -> Result<Unverified<Payload>> {
        let (sig, fields) = scan(body, limits)?;
        let budget = crate::limits::NodeBudget::new(limits.max_json_nodes());
        let payload = fields.finish(
            sig.timestamp(),
            &budget,
            crate::message::MimeLimits::new(limits),
        )?;
        Ok(Unverified::new(sig, Format::Form, payload))
    }

    fn parse_str(s: &str) -> Result<Unverified<Payload>> {
        parse(s.as_bytes(), &Limits::default())
    }

    const SIG: &str = "timestamp=1700000000&token=abc&signature=00";

    #[test]
    fn decoding() {
        assert_eq!(decode(b"a+b%20c%2B"), ("a b c+".to_owned(), Decoded::Exact));
        assert_eq!(
            decode(b"%e2%9C%93"),
            ("\u{2713}".to_owned(), Decoded::Exact)
        );
        assert_eq!(decode(b"%ZZ%4"), ("%ZZ%4".to_owned(), Decoded::BadPercent));
        assert_eq!(decode(b"%FF"), ("\u{FFFD}".to_owned(), Decoded::BadUtf8));
        assert_eq!(decode(b"%"), ("%".to_owned(), Decoded::BadPercent));
        assert_eq!(decode(b""), (String::new(), Decoded::Exact));
    }

    proptest::proptest! {
        /// The same decoding as a plain byte-by-byte reference.
        #[test]
        fn decoding_matches_a_reference(raw in proptest::collection::vec(
            proptest::sample::select(b"%+aZ09fF\xff\xe2\x9c\x93 &=".to_vec()), 0..40)) {
            let mut out = Vec::new();
            let mut bad = false;
            let mut i = 0;
            let digit = |c: Option<&u8>| c.and_then(|c| (*c as char).to_digit(16));
            while let Some(&b) = raw.get(i) {
                match b {
                    b'+' => out.push(b' '),
                    b'%' => match (digit(raw.get(i + 1)), digit(raw.get(i + 2))) {
                        (Some(h), Some(l)) => {
                            out.push((h * 16 + l) as u8);
                            i += 2;
                        }
                        _ => {
                            out.push(b'%');
                            bad = true;
                        }
                    },
                    _ => out.push(b),
                }
                i += 1;
            }
            let text = String::from_utf8_lossy(&out).into_owned();
            let status = match (bad, std::str::from_utf8(&out).is_ok()) {
                (true, _) => Decoded::BadPercent,
                (false, true) => Decoded::Exact,
                (false, false) => Decoded::BadUtf8,
            };
            proptest::prop_assert_eq!(decode(&raw), (text, status));
        }
    }

    #[test]
    fn inbound_fields_in_order() {
        let u = parse_str(&format!("a=1&&b&a=%zz&{SIG}")).unwrap();
        let m = u.into_payload_unverified().into_inbound().unwrap();
        let f: Vec<(&str, &str)> = m
            .fields
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        assert_eq!(&f[..3], [("a", "1"), ("b", ""), ("a", "%zz")]);
    }

    #[test]
    fn security_fields_are_strict() {
        let err = |s: &str| parse_str(s).unwrap_err().to_string();
        assert_eq!(
            err("timestamp=1&token=%ZZ&signature=00"),
            "malformed body: invalid percent-encoding in field `token`"
        );
        assert_eq!(
            err("timestamp=%FF&token=a&signature=00"),
            "malformed body: field `timestamp` is not valid UTF-8"
        );
        // An earlier, user-supplied occurrence may be anything.
        assert!(parse_str("token=%FF&timestamp=1&token=a&signature=00").is_ok());
    }

    #[test]
    fn limits_apply_before_decoding() {
        let l = Limits::default().text_field(4).field_name(3);
        let kind = |s: &str| parse(s.as_bytes(), &l).unwrap_err().into_kind();
        assert_eq!(
            kind("a=12345"),
            ErrorKind::LimitExceeded {
                what: Limit::TextField,
                limit: 4
            }
        );
        assert_eq!(
            kind(&format!("a={}", "%41".repeat(5))),
            ErrorKind::LimitExceeded {
                what: Limit::TextField,
                limit: 4
            }
        );
        assert_eq!(
            kind("abcd=1"),
            ErrorKind::LimitExceeded {
                what: Limit::FieldName,
                limit: 3
            }
        );
        // Exactly at the limit after decoding: 10 bytes, 30 encoded.
        let l = Limits::default().text_field(10);
        assert!(parse(format!("a={}&{SIG}", "%41".repeat(10)).as_bytes(), &l).is_ok());
        let body_mime = format!("body-mime={}&{SIG}", "x".repeat(100));
        assert!(parse(body_mime.as_bytes(), &l).is_ok());
    }
}
