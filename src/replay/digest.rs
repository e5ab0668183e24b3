//! [`PayloadDigest`]: what "the same payload" means for a signed delivery.
//!
//! Self-contained on purpose: it reads only `(content type, body, limits)`, so that it can be fed
//! from any parser (or from an envelope that keeps the body raw) without depending on how the
//! typed parse is built.

use std::borrow::Cow;
use std::convert::Infallible;
use std::fmt;

use bytes::Bytes;
use futures_util::FutureExt;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use sha2::{Digest as _, Sha256};

use crate::error::{ErrorKind, Limit, Result};
use crate::limits::Limits;
use crate::parse::{ContentType, MediaType};

/// The domain tag that starts every digest (bumped if the encoding ever changes).
const DOMAIN: &[u8] = b"mailgun-webhooks payload v1\0";

/// The names of the signature fields of a form body (their last occurrence is the signature,
/// which the replay key covers; it is not part of the payload).
const SIGNED: [&[u8]; 4] = [b"timestamp", b"token", b"signature", b"parent-signature"];

/// The identity of a delivery's **payload**: SHA-256 over a canonical encoding of its decoded
/// content, so that a signed triple can be bound to the payload it first came with.
///
/// Mailgun's signature covers `timestamp ‖ token` only, never the body. A
/// [`ReplayStore`](crate::ReplayStore) keeps this digest in every record, so that a triple seen
/// once can only ever be processed again with the **same payload** (see the trait's contract).
///
/// # What counts as the same payload
///
/// The digest is taken over the *decoded* fields, so that what legitimately differs between
/// two attempts of one delivery does not matter, while every change of content does:
///
/// | body | encoded (in order) | ignored |
/// |---|---|---|
/// | JSON | every value of the document except the top-level `signature` member: strings decoded (escapes resolved), numbers as integers or IEEE doubles, arrays in order, **object members sorted by key** (a repeated key keeps all its values, in order) | whitespace, key order, escape choices (`\u00e9` or `é`) |
/// | urlencoded | every pair in order, name and value percent-decoded (`+` is a space; an invalid escape is kept as written, as the parser does), except the last occurrence of `timestamp`, `token`, `signature`, `parent-signature` | `%41` or `A`, `+` or `%20` |
/// | multipart | every part in order: name and value for a field; name, file name, content type and bytes for a file; except the last occurrence of the four signature fields | the boundary, the preamble and epilogue, header order and casing |
///
/// A urlencoded body and a multipart body with the same text fields in the same order have the
/// same digest (both are the same list of fields). A JSON body never has the digest of a form
/// body. Each item is length-prefixed, so no two different field lists share an encoding.
///
/// The signature fields are left out because the replay key already covers them; so a
/// delivery whose `signature` is garbled but whose `parent-signature` verifies is the same
/// payload as the original when the rest is unchanged, and another payload otherwise.
///
/// # Cost
///
/// It decodes the body once more, after the signature verified (never before: nothing is
/// computed for an unsigned request). Memory is bounded by the body: a JSON document is held as
/// a tree whose strings borrow from the body (only a string or key with an escape is decoded
/// into its own allocation), a few words a value, at most a few times the JSON size, itself at
/// most [`Limits::json_body`]; a multipart body is
/// copied once and its parts are slices of that copy; a urlencoded body is decoded one pair at a
/// time.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PayloadDigest([u8; 32]);

impl PayloadDigest {
    /// Computes the digest of a body given its `Content-Type`, under the same limits it was
    /// parsed with.
    ///
    /// Call it only on a body whose signature verified. It fails like the parser would (415,
    /// 400 or 413) on a body the parser refuses too, which cannot happen for a body that
    /// parsed under the same limits.
    pub fn compute(content_type: &str, body: &[u8], limits: &Limits) -> Result<Self> {
        Self::compute_with(content_type, body, None, limits)
    }

    /// [`compute`](Self::compute) for a body already held as [`Bytes`]: a multipart body is
    /// handed to its parser as it is, not copied first (the parser's own buffer is the one
    /// copy, freed on return). The digest is the same as [`compute`](Self::compute)'s.
    pub fn compute_bytes(
        content_type: &str,
        body: impl Into<Bytes>,
        limits: &Limits,
    ) -> Result<Self> {
        let body: Bytes = body.into();
        Self::compute_with(content_type, &body, Some(&body), limits)
    }

    fn compute_with(
        content_type: &str,
        body: &[u8],
        owner: Option<&Bytes>,
        limits: &Limits,
    ) -> Result<Self> {
        let ct = ContentType::parse(content_type)?;
        if u64::try_from(body.len()).map_or(true, |n| n > limits.max_body()) {
            return Err(ErrorKind::LimitExceeded {
                what: Limit::Body,
                limit: limits.max_body(),
            }
            .into());
        }
        let mut h = Sha256::new();
        h.update(DOMAIN);
        match ct.media_type() {
            MediaType::Json => json(&mut h, body)?,
            MediaType::Form => form(&mut h, body),
            MediaType::Multipart => {
                let body = match owner {
                    Some(b) => b.clone(),
                    None => Bytes::copy_from_slice(body),
                };
                multipart(&mut h, ct.boundary()?, body, limits)?
            }
        }
        Ok(PayloadDigest(h.finalize().into()))
    }

    /// A digest from its 32 bytes, as a store reads it back.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        PayloadDigest(bytes)
    }

    /// The digest's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for PayloadDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PayloadDigest({self})")
    }
}

impl fmt::Display for PayloadDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::verify::hex_lower(&self.0))
    }
}

fn put_bytes(h: &mut Sha256, tag: u8, bytes: &[u8]) {
    h.update([tag]);
    h.update(u64::try_from(bytes.len()).unwrap_or(u64::MAX).to_be_bytes());
    h.update(bytes);
}

fn put_opt(h: &mut Sha256, bytes: Option<&[u8]>) {
    match bytes {
        Some(b) => put_bytes(h, b'+', b),
        None => h.update([b'-']),
    }
}

// ----- JSON -----

/// A JSON value whose object members keep every occurrence (serde_json's `Value` keeps the
/// last one only, which would let `{"a":1,"a":2}` pass for `{"a":2}`).
///
/// Its strings and keys borrow from the body unless they hold an escape (then they are decoded
/// into a `String`), and each object's members are sorted by key as the object is read (a
/// stable sort: a repeated key keeps its values in document order), so hashing the tree walks
/// it once and allocates nothing. The tree is a few words a value, at most a few times the
/// body, itself at most [`Limits::json_body`]; serde_json's recursion limit bounds the depth as
/// it bounds the parser's.
enum Canon<'a> {
    Null,
    Bool(bool),
    U(u64),
    I(i64),
    F(f64),
    S(Cow<'a, str>),
    A(Vec<Canon<'a>>),
    /// Sorted by key (stable).
    O(Vec<(Key<'a>, Canon<'a>)>),
}

impl<'de> Deserialize<'de> for Canon<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(CanonVisitor)
    }
}

struct CanonVisitor;

impl<'de> Visitor<'de> for CanonVisitor {
    type Value = Canon<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> std::result::Result<Canon<'de>, E> {
        Ok(Canon::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<Canon<'de>, E> {
        Ok(Canon::Bool(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Canon<'de>, E> {
        Ok(Canon::U(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Canon<'de>, E> {
        // serde_json gives non-negative integers as u64; only negatives arrive here.
        Ok(Canon::I(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Canon<'de>, E> {
        Ok(Canon::F(v))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> std::result::Result<Canon<'de>, E> {
        Ok(Canon::S(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Canon<'de>, E> {
        Ok(Canon::S(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<Canon<'de>, E> {
        Ok(Canon::S(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Canon<'de>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Canon::A(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Canon<'de>, A::Error> {
        let mut members = Vec::new();
        while let Some(member) = map.next_entry::<Key<'de>, Canon<'de>>()? {
            members.push(member);
        }
        // Stable: a repeated key keeps its values in document order.
        members.sort_by(|a, b| a.0.0.cmp(&b.0.0));
        Ok(Canon::O(members))
    }
}

/// An object key, borrowed from the body unless it holds an escape. (serde's own
/// `Cow<str>` always deserializes to an owned string.)
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> std::result::Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v)))
    }
}

fn json(h: &mut Sha256, body: &[u8]) -> Result<()> {
    let value: Canon<'_> = serde_json::from_slice(body).map_err(|_| ErrorKind::Malformed {
        what: "the JSON body does not parse".into(),
    })?;
    let mut sink = Sink::new(h);
    sink.push(*b"J");
    match &value {
        // The signature block is the replay key's business, not the payload's. The members
        // are sorted already; leaving some out keeps the others' order.
        Canon::O(members) => {
            let payload = |m: &&(Key<'_>, Canon<'_>)| m.0.0 != "signature";
            sink.put_members(
                members.iter().filter(payload).count(),
                members.iter().filter(payload),
            );
        }
        other => sink.put_json(other),
    }
    sink.flush();
    Ok(())
}

/// Feeds the hasher in blocks: the JSON encoding is mostly items of a few bytes, each of which
/// would otherwise be one call into the hasher's own buffering. The bytes hashed are the same,
/// in the same order.
struct Sink<'h> {
    h: &'h mut Sha256,
    buf: [u8; BUF],
    len: usize,
}

/// The size of [`Sink`]'s buffer: four SHA-256 blocks.
const BUF: usize = 256;

impl<'h> Sink<'h> {
    fn new(h: &'h mut Sha256) -> Self {
        Sink {
            h,
            buf: [0; BUF],
            len: 0,
        }
    }

    fn flush(&mut self) {
        if let Some(pending) = self.buf.get(..self.len) {
            self.h.update(pending);
        }
        self.len = 0;
    }

    /// Bytes of any length: copied while they fit, else the buffer is flushed and a long
    /// slice goes to the hasher directly.
    fn write(&mut self, bytes: &[u8]) {
        match self
            .buf
            .get_mut(self.len..)
            .and_then(|free| free.get_mut(..bytes.len()))
        {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.len = self.len.saturating_add(bytes.len());
            }
            None => {
                self.flush();
                match self.buf.get_mut(..bytes.len()) {
                    // Shorter than the buffer: start it again.
                    Some(dst) if bytes.len() < BUF => {
                        dst.copy_from_slice(bytes);
                        self.len = bytes.len();
                    }
                    _ => self.h.update(bytes),
                }
            }
        }
    }

    /// A few bytes known at compile time (a tag, or a tag and a word): copied without a call.
    #[inline]
    fn push<const N: usize>(&mut self, bytes: [u8; N]) {
        if self.len.saturating_add(N) > BUF {
            self.flush();
        }
        if let Some(dst) = self
            .buf
            .get_mut(self.len..)
            .and_then(|free| free.get_mut(..N))
        {
            dst.copy_from_slice(&bytes);
            self.len = self.len.saturating_add(N);
        }
    }

    /// A one-byte tag and eight big-endian bytes (a length or a number).
    #[inline]
    fn tagged(&mut self, tag: u8, word: [u8; 8]) {
        let [a, b, c, d, e, f, g, i] = word;
        self.push([tag, a, b, c, d, e, f, g, i]);
    }

    /// [`put_bytes`]'s encoding.
    fn put_bytes(&mut self, tag: u8, bytes: &[u8]) {
        self.tagged(tag, len_bytes(bytes.len()));
        self.write(bytes);
    }

    /// An object: its `count` members, in the (sorted) order given.
    fn put_members<'v, 'a: 'v>(
        &mut self,
        count: usize,
        members: impl Iterator<Item = &'v (Key<'a>, Canon<'a>)>,
    ) {
        self.tagged(b'o', len_bytes(count));
        for (k, v) in members {
            self.put_bytes(b's', k.0.as_bytes());
            self.put_json(v);
        }
    }

    fn put_json(&mut self, value: &Canon<'_>) {
        match value {
            Canon::Null => self.push(*b"n"),
            Canon::Bool(true) => self.push(*b"t"),
            Canon::Bool(false) => self.push(*b"f"),
            Canon::U(n) => self.tagged(b'u', n.to_be_bytes()),
            Canon::I(n) => self.tagged(b'i', n.to_be_bytes()),
            Canon::F(x) => self.tagged(b'd', x.to_bits().to_be_bytes()),
            Canon::S(s) => self.put_bytes(b's', s.as_bytes()),
            Canon::A(items) => {
                self.tagged(b'a', len_bytes(items.len()));
                for item in items {
                    self.put_json(item);
                }
            }
            Canon::O(members) => self.put_members(members.len(), members.iter()),
        }
    }
}

fn len_bytes(n: usize) -> [u8; 8] {
    u64::try_from(n).unwrap_or(u64::MAX).to_be_bytes()
}

// ----- urlencoded -----

fn pairs(body: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    body.split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.iter().position(|&b| b == b'=') {
            Some(eq) => (
                pair.get(..eq).unwrap_or_default(),
                pair.get(eq.saturating_add(1)..).unwrap_or_default(),
            ),
            None => (pair, &[][..]),
        })
}

/// Decodes `+` and `%XX`, keeping an invalid escape as written (as the parser does).
fn percent_decode(raw: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => match (
                raw.get(i.saturating_add(1)).and_then(hex),
                raw.get(i.saturating_add(2)).and_then(hex),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push((hi << 4) | lo);
                    i = i.saturating_add(2);
                }
                _ => out.push(b'%'),
            },
            _ => out.push(b),
        }
        i = i.saturating_add(1);
    }
}

fn hex(c: &u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The position of the last occurrence of each signature field, among `names`.
fn last_signed<'a>(names: impl Iterator<Item = &'a [u8]>) -> [Option<usize>; 4] {
    let mut last = [None; 4];
    for (i, name) in names.enumerate() {
        if let Some(slot) = SIGNED.iter().position(|s| *s == name)
            && let Some(entry) = last.get_mut(slot)
        {
            *entry = Some(i);
        }
    }
    last
}

fn form(h: &mut Sha256, body: &[u8]) {
    let mut name = Vec::new();
    // First pass: names only, to find the signature fields' last occurrences.
    let mut names = Vec::new();
    for (raw_name, _) in pairs(body) {
        percent_decode(raw_name, &mut name);
        names.push(SIGNED.iter().position(|s| *s == name.as_slice()));
    }
    let mut last = [None; 4];
    for (i, slot) in names.iter().enumerate() {
        if let Some(entry) = slot.and_then(|s| last.get_mut(s)) {
            *entry = Some(i);
        }
    }
    h.update(b"F");
    let mut value = Vec::new();
    for (i, (raw_name, raw_value)) in pairs(body).enumerate() {
        if last.contains(&Some(i)) {
            continue;
        }
        percent_decode(raw_name, &mut name);
        percent_decode(raw_value, &mut value);
        h.update(b"t");
        put_bytes(h, b'n', &name);
        put_bytes(h, b'v', &value);
    }
}

// ----- multipart -----

struct Part {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
    /// The value as multer's chunks: slices of its buffer, never joined (hashed in sequence).
    data: Vec<Bytes>,
}

/// [`put_bytes`] of the concatenation of `chunks`, without concatenating them.
fn put_chunks(h: &mut Sha256, tag: u8, chunks: &[Bytes]) {
    let len: usize = chunks.iter().map(Bytes::len).sum();
    h.update([tag]);
    h.update(u64::try_from(len).unwrap_or(u64::MAX).to_be_bytes());
    for c in chunks {
        h.update(c);
    }
}

fn multipart(h: &mut Sha256, boundary: &str, body: Bytes, limits: &Limits) -> Result<()> {
    let per_field = limits
        .max_file()
        .max(limits.max_text_field())
        .max(limits.max_body());
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(limits.max_body())
            .per_field(per_field),
    );
    // multer copies the body into its buffer (the one copy); every part's data is a slice of
    // that buffer.
    let stream = futures_util::stream::iter([Ok::<Bytes, Infallible>(body)]);
    let mut reader = multer::Multipart::with_constraints(stream, boundary, constraints);
    let malformed = || ErrorKind::Malformed {
        what: "the multipart body does not parse".into(),
    };
    let max_parts = usize::try_from(limits.max_parts()).unwrap_or(usize::MAX);
    let read = async {
        let mut parts = Vec::new();
        while let Some(mut field) = reader.next_field().await.map_err(|_| malformed())? {
            if parts.len() >= max_parts {
                return Err(ErrorKind::LimitExceeded {
                    what: Limit::Parts,
                    limit: u64::from(limits.max_parts()),
                });
            }
            let name = field.name().ok_or_else(malformed)?.to_owned();
            let filename = field.file_name().map(str::to_owned);
            let content_type = field.content_type().map(ToString::to_string);
            let mut data = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(|_| malformed())? {
                data.push(chunk);
            }
            parts.push(Part {
                name,
                filename,
                content_type,
                data,
            });
        }
        Ok(parts)
    };
    // Every poll is ready: the only chunk is already there.
    let parts = read.now_or_never().unwrap_or_else(|| Err(malformed()))?;
    let last = last_signed(
        parts
            .iter()
            .map(|p| p.name.as_bytes())
            .collect::<Vec<_>>()
            .into_iter(),
    );
    h.update(b"F");
    for (i, part) in parts.iter().enumerate() {
        if last.contains(&Some(i)) && part.filename.is_none() {
            continue;
        }
        match &part.filename {
            None => {
                h.update(b"t");
                put_bytes(h, b'n', part.name.as_bytes());
                put_chunks(h, b'v', &part.data);
            }
            Some(filename) => {
                h.update(b"f");
                put_bytes(h, b'n', part.name.as_bytes());
                put_bytes(h, b'v', filename.as_bytes());
                put_opt(h, part.content_type.as_deref().map(str::as_bytes));
                put_chunks(h, b'd', &part.data);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn d(ct: &str, body: &str) -> PayloadDigest {
        PayloadDigest::compute(ct, body.as_bytes(), &Limits::default()).unwrap()
    }

    const JSON: &str = "application/json";
    const FORM: &str = "application/x-www-form-urlencoded";

    #[test]
    fn json_ignores_whitespace_key_order_escapes_and_the_signature() {
        let a = d(
            JSON,
            r#"{"signature":{"timestamp":"1","token":"t","signature":"aa"},"event-data":{"event":"delivered","id":"x","n":1}}"#,
        );
        let b = d(
            JSON,
            "{ \"event-data\" : { \"n\":1, \"id\":\"\\u0078\", \"event\":\"delivered\" },\n \"signature\": {\"token\":\"t\",\"timestamp\":\"1\",\"signature\":\"bb\",\"parent-signature\":\"cc\"} }",
        );
        assert_eq!(a, b);
        let c = d(
            JSON,
            r#"{"signature":{"timestamp":"1","token":"t","signature":"aa"},"event-data":{"event":"delivered","id":"y","n":1}}"#,
        );
        assert_ne!(a, c);
        let e = d(
            JSON,
            r#"{"signature":{},"event-data":{"event":"delivered","id":"x","n":1,"extra":null}}"#,
        );
        assert_ne!(a, e);
    }

    #[test]
    fn a_borrowed_value_takes_no_more_room_than_an_owned_one() {
        // The memory bound of the docs: a node is four words, a member seven (as with the
        // owned tree this replaced).
        assert!(std::mem::size_of::<Canon<'_>>() <= 32);
        assert!(std::mem::size_of::<(Key<'_>, Canon<'_>)>() <= 56);
    }

    #[test]
    fn json_repeated_keys_are_kept() {
        assert_ne!(d(JSON, r#"{"a":1,"a":2}"#), d(JSON, r#"{"a":2}"#));
        assert_ne!(d(JSON, r#"{"a":1,"a":2}"#), d(JSON, r#"{"a":2,"a":1}"#));
        assert_ne!(d(JSON, r#"{"a":[1,2]}"#), d(JSON, r#"{"a":[2,1]}"#));
        assert_ne!(d(JSON, r#"{"a":"1"}"#), d(JSON, r#"{"a":1}"#));
    }

    #[test]
    fn form_ignores_percent_encoding_choices_and_the_last_signature_fields() {
        let a = d(
            FORM,
            "event=delivered&recipient=a%40b.c&note=hi+there&timestamp=1&token=t&signature=aa",
        );
        let b = d(
            FORM,
            "%65vent=delivered&recipient=a@b.c&note=hi%20there&timestamp=1&token=t&signature=bb",
        );
        assert_eq!(a, b);
        assert_ne!(
            a,
            d(
                FORM,
                "event=delivered&recipient=a%40b.c&note=hi+there!&timestamp=1&token=t&signature=aa"
            )
        );
        // An earlier `token` (a user variable) is payload.
        assert_ne!(
            d(FORM, "token=u1&event=x&timestamp=1&token=t&signature=aa"),
            d(FORM, "token=u2&event=x&timestamp=1&token=t&signature=aa"),
        );
        // Order matters.
        assert_ne!(d(FORM, "a=1&b=2"), d(FORM, "b=2&a=1"));
        // Length prefixes: no ambiguity between names and values.
        assert_ne!(d(FORM, "ab=c"), d(FORM, "a=bc"));
    }

    fn multipart_body(
        boundary: &str,
        fields: &[(&str, &str)],
        file: Option<(&str, &[u8])>,
    ) -> String {
        let mut s = String::from("preamble\r\n");
        for (n, v) in fields {
            s.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{n}\"\r\n\r\n{v}\r\n"
            ));
        }
        if let Some((name, data)) = file {
            s.push_str(&format!(
                "--{boundary}\r\ncontent-type: text/plain\r\nContent-Disposition: form-data; name=\"attachment-1\"; filename=\"{name}\"\r\n\r\n{}\r\n",
                String::from_utf8_lossy(data)
            ));
        }
        s.push_str(&format!("--{boundary}--\r\n"));
        s
    }

    #[test]
    fn multipart_ignores_the_boundary_and_matches_the_form() {
        let fields = [
            ("recipient", "a@b.c"),
            ("timestamp", "1"),
            ("token", "t"),
            ("signature", "aa"),
        ];
        let a = d(
            "multipart/form-data; boundary=AAA",
            &multipart_body("AAA", &fields, Some(("x.txt", b"hello"))),
        );
        let b = d(
            "multipart/form-data; boundary=zz-9",
            &multipart_body("zz-9", &fields, Some(("x.txt", b"hello"))),
        );
        assert_eq!(a, b);
        let c = d(
            "multipart/form-data; boundary=AAA",
            &multipart_body("AAA", &fields, Some(("x.txt", b"hellO"))),
        );
        assert_ne!(a, c);
        let e = d(
            "multipart/form-data; boundary=AAA",
            &multipart_body("AAA", &fields, Some(("y.txt", b"hello"))),
        );
        assert_ne!(a, e);
        let text_only = d(
            "multipart/form-data; boundary=AAA",
            &multipart_body("AAA", &fields, None),
        );
        assert_eq!(
            text_only,
            d(FORM, "recipient=a%40b.c&timestamp=1&token=t&signature=zz")
        );
    }
}
