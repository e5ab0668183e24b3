//! [`PayloadDigest`]: what "the same payload" means for a signed delivery.
//!
//! Self-contained on purpose: it reads only `(content type, body, limits)`, so that it can be fed
//! from any parser (or from an envelope that keeps the body raw) without depending on how the
//! typed parse is built.

use std::fmt;
use std::ops::Range;

use bytes::Bytes;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use sha2::{Digest as _, Sha256};

use crate::error::{ErrorKind, Limit, Result};
use crate::limits::Limits;
use crate::parse::multipart::{self, Lockstep, WINDOW};
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
/// computed for an unsigned request). Memory is bounded by the body: a JSON document is read in
/// one pass that writes the encoding itself into one buffer (each object's members reordered by
/// key in place when it closes), at most about four and a half times the JSON size, plus five
/// words for each member of the objects still open (the tree this replaced took seven), the
/// JSON itself at most [`Limits::json_body`]; it refuses exactly the documents serde_json refuses, and reads
/// each number as serde_json does; a multipart body is read in place, its parser handed 64 KiB
/// at a time (a copy of each window from a slice, none from [`Bytes`]) and each value hashed
/// from the body itself: about 64 KiB and the parts' names whatever the body's size; a
/// urlencoded body is decoded one pair at a time.
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
    /// handed to its parser in slices of it, so not even a window of it is copied. The digest
    /// is the same as [`compute`](Self::compute)'s.
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
                multipart(&mut h, ct.boundary()?, body, owner.cloned(), limits)?
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

/// The JSON body does not parse (as serde_json would refuse it).
struct Refused;

type Scan<T = ()> = std::result::Result<T, Refused>;

/// serde_json's recursion limit: its parser refuses the 128th nested array or object, and so
/// does [`Canonical`] (a digest is only ever computed for a body that parsed).
const MAX_DEPTH: u8 = 128;

fn json(h: &mut Sha256, body: &[u8]) -> Result<()> {
    let mut c = Canonical {
        body,
        pos: 0,
        // Items are longer than their JSON text (a string's nine-byte header for its two
        // quotes): room for most bodies' encoding without growing.
        out: Vec::with_capacity(body.len().saturating_add(body.len() / 2).saturating_add(64)),
        members: Vec::with_capacity(32),
        scratch: Vec::new(),
    };
    c.out.push(b'J');
    c.document().map_err(|Refused| ErrorKind::Malformed {
        what: "the JSON body does not parse".into(),
    })?;
    h.update(&c.out);
    Ok(())
}

/// One object member as written in [`Canonical::out`]: its decoded key at `key..key_end`,
/// the whole member (key item and value) at `start..end`.
#[derive(Clone, Copy)]
struct Member {
    /// The key's first eight bytes, big-endian, zero-padded: ordered as the keys are, unless
    /// equal.
    prefix: u64,
    key: usize,
    key_end: usize,
    start: usize,
    end: usize,
}

/// The canonical encoding of a JSON body, written in one pass over its bytes.
///
/// The grammar is JSON's as serde_json reads it (the same documents are refused: syntax, a
/// control character or invalid UTF-8 in a string, a lone surrogate, a number out of range,
/// nesting beyond [`MAX_DEPTH`], trailing bytes); a number's text is handed to serde_json
/// itself (unless it is a plain non-negative integer of at most 19 digits), so that it reads
/// as the same `u64`, `i64` or `f64`.
///
/// Every item is written to `out` as it is read; an array's or object's count is filled in
/// when it closes, and an object's members are then reordered in place by key (a stable sort:
/// a repeated key keeps its values in document order), so `out` ends as the exact encoding
/// and is hashed in one call. Memory: `out` is at most about four and a half times the body
/// (nine bytes for a one-byte value such as `0,`), `members` five words for each member of
/// the objects still open, `scratch` one copy of the largest object's encoding.
struct Canonical<'b> {
    body: &'b [u8],
    pos: usize,
    out: Vec<u8>,
    members: Vec<Member>,
    scratch: Vec<u8>,
}

impl Canonical<'_> {
    fn peek(&self) -> Option<u8> {
        self.body.get(self.pos).copied()
    }

    fn bump(&mut self) {
        self.pos = self.pos.saturating_add(1);
    }

    fn next(&mut self) -> Scan<u8> {
        let b = self.peek().ok_or(Refused)?;
        self.bump();
        Ok(b)
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.bump();
        }
    }

    fn document(&mut self) -> Scan {
        self.ws();
        self.value(MAX_DEPTH, true)?;
        self.ws();
        if self.pos == self.body.len() {
            Ok(())
        } else {
            Err(Refused)
        }
    }

    /// A tag and a placeholder for its eight-byte word; returns where the word goes.
    fn header(&mut self, tag: u8) -> usize {
        self.out.push(tag);
        let at = self.out.len();
        self.out.extend_from_slice(&[0; 8]);
        at
    }

    fn patch(&mut self, at: usize, n: usize) {
        if let Some(dst) = self.out.get_mut(at..).and_then(|rest| rest.get_mut(..8)) {
            dst.copy_from_slice(&len_bytes(n));
        }
    }

    fn word(&mut self, tag: u8, word: [u8; 8]) {
        self.out.push(tag);
        self.out.extend_from_slice(&word);
    }

    fn literal(&mut self, text: &[u8], tag: u8) -> Scan {
        let end = self.pos.saturating_add(text.len());
        if self.body.get(self.pos..end) != Some(text) {
            return Err(Refused);
        }
        self.pos = end;
        self.out.push(tag);
        Ok(())
    }

    /// A value (whitespace before it skipped); `depth` is what is left of the recursion
    /// limit, `top` whether this is the document itself (whose `signature` member is left out).
    fn value(&mut self, depth: u8, top: bool) -> Scan {
        match self.peek().ok_or(Refused)? {
            b'n' => self.literal(b"null", b'n'),
            b't' => self.literal(b"true", b't'),
            b'f' => self.literal(b"false", b'f'),
            b'"' => self.string(),
            b'-' | b'0'..=b'9' => self.number(),
            b'[' => self.array(nested(depth)?),
            b'{' => self.object(nested(depth)?, top),
            _ => Err(Refused),
        }
    }

    fn array(&mut self, depth: u8) -> Scan {
        self.bump();
        let at = self.header(b'a');
        let mut count: usize = 0;
        self.ws();
        if self.peek() == Some(b']') {
            self.bump();
        } else {
            loop {
                self.value(depth, false)?;
                count = count.saturating_add(1);
                self.ws();
                match self.next()? {
                    b',' => self.ws(),
                    b']' => break,
                    _ => return Err(Refused),
                }
            }
        }
        self.patch(at, count);
        Ok(())
    }

    fn object(&mut self, depth: u8, top: bool) -> Scan {
        self.bump();
        let at = self.header(b'o');
        let base = self.members.len();
        self.ws();
        if self.peek() == Some(b'}') {
            self.bump();
        } else {
            loop {
                if self.peek() != Some(b'"') {
                    return Err(Refused);
                }
                let start = self.out.len();
                self.string()?;
                let key = start.saturating_add(9);
                let key_end = self.out.len();
                self.ws();
                if self.next()? != b':' {
                    return Err(Refused);
                }
                self.ws();
                self.value(depth, false)?;
                // The signature block is the replay key's business, not the payload's.
                if top && self.out.get(key..key_end) == Some(b"signature") {
                    self.out.truncate(start);
                } else {
                    let mut prefix = [0; 8];
                    let k = self.out.get(key..key_end).unwrap_or_default();
                    let n = k.len().min(8);
                    if let (Some(dst), Some(src)) = (prefix.get_mut(..n), k.get(..n)) {
                        dst.copy_from_slice(src);
                    }
                    self.members.push(Member {
                        prefix: u64::from_be_bytes(prefix),
                        key,
                        key_end,
                        start,
                        end: self.out.len(),
                    });
                }
                self.ws();
                match self.next()? {
                    b',' => self.ws(),
                    b'}' => break,
                    _ => return Err(Refused),
                }
            }
        }
        let count = self.members.len().saturating_sub(base);
        self.patch(at, count);
        self.sort_members(base);
        self.members.truncate(base);
        Ok(())
    }

    /// Reorders the members from `base` on by key (stable), where they lie in `out`.
    fn sort_members(&mut self, base: usize) {
        let Canonical {
            out,
            members,
            scratch,
            ..
        } = self;
        let Some(members) = members.get_mut(base..) else {
            return;
        };
        let order = |a: &Member, b: &Member| {
            a.prefix.cmp(&b.prefix).then_with(|| {
                let key = |m: &Member| out.get(m.key..m.key_end).unwrap_or_default();
                key(a).cmp(key(b))
            })
        };
        if members.is_sorted_by(|a, b| order(a, b).is_le()) {
            return;
        }
        members.sort_by(order);
        // The members lie end to end from the first one written to the end of `out`.
        let Some(from) = members.iter().map(|m| m.start).min() else {
            return;
        };
        scratch.clear();
        scratch.extend_from_slice(out.get(from..).unwrap_or_default());
        out.truncate(from);
        for m in members.iter() {
            let range = m.start.saturating_sub(from)..m.end.saturating_sub(from);
            out.extend_from_slice(scratch.get(range).unwrap_or_default());
        }
    }

    /// A string (at its opening quote), decoded, as a length-prefixed `s` item.
    fn string(&mut self) -> Scan {
        self.bump();
        let at = self.header(b's');
        let text = self.out.len();
        let mut ascii = true;
        loop {
            let rest = self.body.get(self.pos..).unwrap_or_default();
            let (n, plain) = special(rest).ok_or(Refused)?;
            ascii &= plain;
            self.out
                .extend_from_slice(rest.get(..n).unwrap_or_default());
            self.pos = self.pos.saturating_add(n);
            match self.next()? {
                b'"' => break,
                b'\\' => self.escape()?,
                // A control character.
                _ => return Err(Refused),
            }
        }
        // Escapes decode to whole characters, so the decoded text is valid UTF-8 exactly when
        // every raw run between them is, as serde_json checks it (and it is when they are
        // all ASCII).
        let decoded = self.out.get(text..).unwrap_or_default();
        if !ascii && std::str::from_utf8(decoded).is_err() {
            return Err(Refused);
        }
        let len = decoded.len();
        self.patch(at, len);
        Ok(())
    }

    /// An escape, after its backslash.
    fn escape(&mut self) -> Scan {
        let byte = match self.next()? {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => return self.unicode_escape(),
            _ => return Err(Refused),
        };
        self.out.push(byte);
        Ok(())
    }

    /// `\uXXXX` after its `\u`: a surrogate must be a leading one followed by `\u` and a
    /// trailing one (serde_json refuses a lone surrogate in a string).
    fn unicode_escape(&mut self) -> Scan {
        let n = self.hex4()?;
        let code = match n {
            0xDC00..=0xDFFF => return Err(Refused),
            0xD800..=0xDBFF => {
                if self.next()? != b'\\' || self.next()? != b'u' {
                    return Err(Refused);
                }
                let low = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return Err(Refused);
                }
                ((u32::from(n - 0xD800) << 10) | u32::from(low - 0xDC00)) + 0x1_0000
            }
            _ => u32::from(n),
        };
        let c = char::from_u32(code).ok_or(Refused)?;
        let mut buf = [0; 4];
        self.out
            .extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        Ok(())
    }

    fn hex4(&mut self) -> Scan<u16> {
        let mut n: u16 = 0;
        for _ in 0..4 {
            let d = hex(&self.next()?).ok_or(Refused)?;
            n = (n << 4) | u16::from(d);
        }
        Ok(n)
    }

    /// A number: its text is every byte that can be part of one; serde_json refuses it alone
    /// exactly when it refuses the document over it (the document's next byte cannot be one
    /// of these), and reads it alone as it reads it in the document.
    fn number(&mut self) -> Scan {
        let start = self.pos;
        while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.peek() {
            self.bump();
        }
        let text = self.body.get(start..self.pos).unwrap_or_default();
        // A plain non-negative integer below 10^19 fits a u64, which is how serde_json reads it.
        if text.len() <= 19
            && text.iter().all(u8::is_ascii_digit)
            && (text.len() == 1 || text.first() != Some(&b'0'))
        {
            let mut n: u64 = 0;
            for d in text {
                n = n
                    .checked_mul(10)
                    .and_then(|n| n.checked_add(u64::from(d - b'0')))
                    .ok_or(Refused)?;
            }
            self.word(b'u', n.to_be_bytes());
            return Ok(());
        }
        let number: Number = serde_json::from_slice(text).map_err(|_| Refused)?;
        match number {
            Number::U(n) => self.word(b'u', n.to_be_bytes()),
            Number::I(n) => self.word(b'i', n.to_be_bytes()),
            Number::F(x) => self.word(b'd', x.to_bits().to_be_bytes()),
        }
        Ok(())
    }
}

/// What is left of the recursion limit inside one more array or object.
fn nested(depth: u8) -> Scan<u8> {
    match depth.checked_sub(1) {
        Some(0) | None => Err(Refused),
        Some(d) => Ok(d),
    }
}

/// A JSON number as serde_json reads it (its own `Number` hides which it is).
enum Number {
    U(u64),
    I(i64),
    F(f64),
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(NumberVisitor)
    }
}

struct NumberVisitor;

impl Visitor<'_> for NumberVisitor {
    type Value = Number;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON number")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Number, E> {
        Ok(Number::U(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Number, E> {
        // serde_json gives non-negative integers as u64; only negatives arrive here.
        Ok(Number::I(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Number, E> {
        Ok(Number::F(v))
    }
}

fn len_bytes(n: usize) -> [u8; 8] {
    u64::try_from(n).unwrap_or(u64::MAX).to_be_bytes()
}

/// The position of the first `"`, `\\` or control character in `s` (what ends a raw run of a
/// JSON string), eight bytes at a time, and `false` if a byte before it may be non-ASCII.
fn special(s: &[u8]) -> Option<(usize, bool)> {
    const ONES: u64 = u64::MAX / 255;
    const HIGH: u64 = ONES << 7;
    let mut seen: u64 = 0;
    let mut chunks = s.chunks_exact(8);
    let mut at: usize = 0;
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        seen |= x;
        // A byte's high bit is set below where it is < 0x20, `"` or `\\` (exact for the first
        // such byte: a borrow only runs upwards, from a byte already found).
        let ctrl = x.wrapping_sub(ONES * 0x20) & !x;
        let q = x ^ (ONES * u64::from(b'"'));
        let quote = q.wrapping_sub(ONES) & !q;
        let b = x ^ (ONES * u64::from(b'\\'));
        let backslash = b.wrapping_sub(ONES) & !b;
        let found = (ctrl | quote | backslash) & HIGH;
        if found != 0 {
            // `seen` may count bytes after the one found: it only ever says "maybe not ASCII".
            let i = usize::try_from(found.trailing_zeros() / 8).unwrap_or(0);
            return Some((at.saturating_add(i), seen & HIGH == 0));
        }
        at = at.saturating_add(8);
    }
    for &c in chunks.remainder() {
        if c == b'"' || c == b'\\' || c < 0x20 {
            return Some((at, seen & HIGH == 0));
        }
        seen |= u64::from(c);
        at = at.saturating_add(1);
    }
    None
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

/// A part as multer reads its headers, and where its value is.
struct Part {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
    value: Value,
}

/// Where a part's value is.
enum Value {
    /// In the body, found by the framing scanner run in lockstep with multer.
    InBody(Range<usize>),
    /// multer's chunks of it, never joined (hashed in sequence).
    Chunks(Vec<Bytes>),
}

/// [`put_bytes`] of a value, without joining its chunks.
fn put_value(h: &mut Sha256, tag: u8, body: &[u8], value: &Value) {
    match value {
        Value::InBody(range) => put_bytes(h, tag, body.get(range.clone()).unwrap_or_default()),
        Value::Chunks(chunks) => {
            let len: usize = chunks.iter().map(Bytes::len).sum();
            h.update([tag]);
            h.update(u64::try_from(len).unwrap_or(u64::MAX).to_be_bytes());
            for c in chunks {
                h.update(c);
            }
        }
    }
}

/// The multipart digest: every part in order, the signature fields' last occurrences (as
/// text fields) left out, which needs every part's name before the first is hashed.
///
/// multer reads the body a [`WINDOW`] at a time (slices of `owner`, else copies), so its
/// buffer stays that small, and each value is found in the body itself by the framing scanner
/// of the envelope pass, run in lockstep: nothing proportional to the body is copied or kept
/// (the parts' names and positions only). Should the scanner refuse the body or disagree with
/// multer (it refuses a preamble or header block over [`Limits::part_headers`], which the
/// parser refuses too), the body is read again by multer alone, its chunks kept: multer's
/// reading is what the digest has always been, for every body, and its errors (malformed,
/// too many parts) are the ones returned.
fn multipart(
    h: &mut Sha256,
    boundary: &str,
    body: &[u8],
    owner: Option<Bytes>,
    limits: &Limits,
) -> Result<()> {
    multipart_windowed(h, boundary, body, owner, limits, WINDOW).map(drop)
}

/// [`multipart`] with multer handed `window` bytes at a time; returns whether the lockstep
/// reading was enough.
fn multipart_windowed(
    h: &mut Sha256,
    boundary: &str,
    body: &[u8],
    owner: Option<Bytes>,
    limits: &Limits,
    window: usize,
) -> Result<bool> {
    let (parts, in_lockstep) =
        match read_multipart(boundary, body, owner.clone(), limits, window, true) {
            Ok(parts) => (parts, true),
            Err(_) => (
                read_multipart(boundary, body, owner, limits, window, false)?,
                false,
            ),
        };
    let last = last_signed(parts.iter().map(|p| p.name.as_bytes()));
    h.update(b"F");
    for (i, part) in parts.iter().enumerate() {
        if last.contains(&Some(i)) && part.filename.is_none() {
            continue;
        }
        match &part.filename {
            None => {
                h.update(b"t");
                put_bytes(h, b'n', part.name.as_bytes());
                put_value(h, b'v', body, &part.value);
            }
            Some(filename) => {
                h.update(b"f");
                put_bytes(h, b'n', part.name.as_bytes());
                put_bytes(h, b'v', filename.as_bytes());
                put_opt(h, part.content_type.as_deref().map(str::as_bytes));
                put_value(h, b'd', body, &part.value);
            }
        }
    }
    Ok(in_lockstep)
}

/// Every part of the body, as multer reads it; its values located by the framing scanner in
/// `lockstep`, else kept as multer's chunks.
fn read_multipart(
    boundary: &str,
    body: &[u8],
    owner: Option<Bytes>,
    limits: &Limits,
    window: usize,
    lockstep: bool,
) -> Result<Vec<Part>> {
    let mut lockstep = lockstep.then(|| Lockstep::new(boundary, body, None, limits));
    multipart::in_memory(boundary, body, owner, window, limits, |reader| {
        read_parts(reader, limits, lockstep.as_mut())
    })
}

async fn read_parts(
    mut reader: multer::Multipart<'_>,
    limits: &Limits,
    mut lockstep: Option<&mut Lockstep<'_>>,
) -> Result<Vec<Part>> {
    let malformed = || ErrorKind::Malformed {
        what: "the multipart body does not parse".into(),
    };
    let max_parts = usize::try_from(limits.max_parts()).unwrap_or(usize::MAX);
    let mut parts = Vec::new();
    let mut data_len = 0;
    loop {
        if let Some(l) = lockstep.as_deref_mut() {
            l.advance(data_len)?;
        }
        let Some(mut field) = reader.next_field().await.map_err(|_| malformed())? else {
            return Ok(parts);
        };
        if parts.len() >= max_parts {
            return Err(ErrorKind::LimitExceeded {
                what: Limit::Parts,
                limit: u64::from(limits.max_parts()),
            }
            .into());
        }
        let name = field.name().ok_or_else(malformed)?.to_owned();
        let filename = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(ToString::to_string);
        let value = match lockstep.as_deref() {
            Some(l) => {
                // multer's per-field limit is the body's: no other limit applies here.
                let range = l.value(&mut field, limits, (Limit::Body, u64::MAX)).await?;
                data_len = range.len();
                Value::InBody(range)
            }
            None => {
                let mut chunks = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(|_| malformed())? {
                    chunks.push(chunk);
                }
                Value::Chunks(chunks)
            }
        };
        parts.push(Part {
            name,
            filename,
            content_type,
            value,
        });
    }
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
    fn a_member_record_is_five_words() {
        // The memory bound of the docs: five words for each member of an open object (the
        // tree this replaced took seven).
        assert!(std::mem::size_of::<Member>() <= 40);
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

    /// The digest of a multipart body read with `window`-byte windows, and whether the
    /// lockstep reading was enough.
    fn windowed(boundary: &str, body: &[u8], window: usize, limits: &Limits) -> ([u8; 32], bool) {
        let mut h = Sha256::new();
        h.update(DOMAIN);
        let owner = Bytes::copy_from_slice(body);
        let in_lockstep =
            multipart_windowed(&mut h, boundary, body, Some(owner), limits, window).unwrap();
        (h.finalize().into(), in_lockstep)
    }

    #[test]
    fn multipart_in_lockstep_agrees_with_multer_alone_at_every_window_size() {
        let tricky = [
            ("timestamp", &b"1"[..]),
            ("token", b"\r\n-\r\n--\r\n--z"),
            ("empty", b""),
            ("token", b"t"),
            ("bin", b"\xff\xfe\r\n\r\n--"),
        ];
        let mut body = b"pre\r\n--z\r\n".to_vec();
        body.extend_from_slice(b"--zz  \r\nContent-Type: text/plain\r\ncontent-disposition: form-data; name=\"x\"; filename=\"f\"\r\n\r\n\r\n-\r\n--z\r\n");
        for (n, v) in tricky {
            body.extend_from_slice(
                format!("--zz\r\nContent-Disposition: form-data; name=\"{n}\"\r\n\r\n").as_bytes(),
            );
            body.extend_from_slice(v);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"--zz--\r\nepilogue\r\n--zz\r\n");
        let limits = Limits::default();
        // multer alone (the fallback), with the whole body as one window.
        let parts = read_multipart("zz", &body, None, &limits, body.len(), false).unwrap();
        assert_eq!(parts.len(), 6);
        assert!(parts.iter().all(|p| matches!(p.value, Value::Chunks(_))));
        let (whole, in_lockstep) = windowed("zz", &body, body.len(), &limits);
        assert!(in_lockstep);
        assert_eq!(
            whole,
            *PayloadDigest::compute("multipart/form-data; boundary=zz", &body, &limits)
                .unwrap()
                .as_bytes()
        );
        for window in 1..=body.len() {
            assert_eq!(
                windowed("zz", &body, window, &limits),
                (whole, true),
                "window {window}"
            );
            // multer alone, in windows, reads the same values.
            let alone = read_multipart("zz", &body, None, &limits, window, false).unwrap();
            let values = |parts: &[Part]| -> Vec<Vec<u8>> {
                parts
                    .iter()
                    .map(|p| match &p.value {
                        Value::InBody(r) => body[r.clone()].to_vec(),
                        Value::Chunks(c) => c.concat(),
                    })
                    .collect()
            };
            assert_eq!(values(&alone), values(&parts), "window {window}");
        }
    }

    #[test]
    fn multipart_over_the_framing_limits_is_read_by_multer_alone() {
        let long = "h".repeat(9000);
        for body in [
            format!(
                "{}--zz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--zz--",
                "p".repeat(9000)
            ),
            format!(
                "--zz\r\nContent-Disposition: form-data; name=\"a\"\r\nX: {long}\r\n\r\n1\r\n--zz--"
            ),
        ] {
            let limits = Limits::default();
            let (digest, in_lockstep) = windowed("zz", body.as_bytes(), WINDOW, &limits);
            assert!(!in_lockstep);
            // The same digest as a body without the long preamble or header.
            assert_eq!(digest, *d(FORM, "a=1").as_bytes(),);
        }
    }
}
