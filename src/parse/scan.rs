//! A guard over the framing of a multipart body, run ahead of multer.
//!
//! multer reads a part's header block until `CRLF CRLF` with no size limit, and looks for the
//! first boundary with no limit on the preamble before it; on a streamed body it would buffer
//! (and re-scan) everything up to the body limit. This scanner sees every byte before multer
//! does and stops the body as soon as:
//!
//! - the preamble and first boundary are longer than [`Limits::part_headers`](super::Limits::part_headers),
//! - the bytes from the end of a boundary to the end of that part's header block (transport
//!   padding, CRLF, headers and the blank line) are longer than the same limit,
//! - a boundary line ends in a bare LF (or anything but CRLF, transport padding or `--`).
//!
//! It mirrors multer's own reading: the first boundary is `--boundary` anywhere, a part's
//! headers end at the first `CRLF CRLF` after the boundary line, and its data at the first
//! `CRLF --boundary`. On a streamed body it searches the data for that delimiter itself; on an
//! in-memory body it is driven in lockstep with multer (it is told where each part's data
//! ends), so the data is not searched twice.

use super::fields::limit;
use crate::error::{ErrorKind, Limit, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first boundary.
    Preamble,
    /// Just after a boundary: `--`, transport padding or CRLF follows.
    AfterBoundary,
    /// After `--boundary-`.
    Dash,
    /// After a boundary and some spaces or tabs.
    Padding,
    /// After the CR that ends a boundary line.
    Cr,
    /// In a part's header block.
    Headers,
    /// In a part's data.
    Data,
    /// After the close delimiter: the rest is epilogue.
    Done,
}

const HEADERS_END: &[u8] = b"\r\n\r\n";

#[derive(Debug)]
pub(super) struct Scanner {
    /// `CRLF--boundary`; the first boundary is `--boundary`, without the CRLF.
    delimiter: Vec<u8>,
    max: u64,
    state: State,
    /// The bytes counted against `max` in the current preamble or header block.
    counted: u64,
    /// The end of the previous chunk, in case a delimiter starts there.
    carry: Vec<u8>,
}

impl Scanner {
    pub(super) fn new(boundary: &str, max_part_headers: u64) -> Self {
        let delimiter = [b"\r\n--", boundary.as_bytes()].concat();
        Scanner {
            delimiter,
            max: max_part_headers,
            state: State::Preamble,
            counted: 0,
            carry: Vec::new(),
        }
    }

    /// True once the close delimiter was seen.
    pub(super) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Checks the next bytes of the body. With `stop_at_data`, it stops as soon as it enters
    /// a part's data and returns how many bytes it consumed; otherwise it consumes the chunk.
    pub(super) fn feed(&mut self, chunk: &[u8], stop_at_data: bool) -> Result<usize> {
        let mut at = 0;
        let mut entered_data = false;
        loop {
            if stop_at_data && entered_data && self.state == State::Data {
                return Ok(at);
            }
            let Some(rest) = chunk.get(at..).filter(|r| !r.is_empty()) else {
                return Ok(at);
            };
            let used = match self.state {
                State::Done => return Ok(chunk.len()),
                State::Preamble => self.bounded(rest, Needle::First, State::AfterBoundary)?,
                State::Headers => self.bounded(rest, Needle::HeadersEnd, State::Data)?,
                State::Data => match self.search(rest, Needle::Delimiter) {
                    Some(end) => {
                        self.enter(State::AfterBoundary);
                        end
                    }
                    None => rest.len(),
                },
                _ => {
                    self.step(rest.first().copied().unwrap_or_default())?;
                    1
                }
            };
            entered_data |= self.state == State::Data;
            at = at.saturating_add(used);
        }
    }

    fn enter(&mut self, state: State) {
        self.state = state;
        self.carry.clear();
        if state == State::AfterBoundary {
            self.counted = 0;
        }
    }

    /// One byte after a boundary.
    fn step(&mut self, b: u8) -> Result<()> {
        self.count(1)?;
        let next = match (self.state, b) {
            (State::AfterBoundary, b'-') => State::Dash,
            (State::Dash, b'-') => State::Done,
            (State::AfterBoundary | State::Padding, b' ' | b'\t') => State::Padding,
            (State::AfterBoundary | State::Padding, b'\r') => State::Cr,
            (State::Cr, b'\n') => State::Headers,
            (State::AfterBoundary | State::Padding, b'\n') => {
                return Err(malformed(
                    "multipart lines must end with CRLF, but a boundary line ends with a bare LF",
                ));
            }
            _ => {
                return Err(malformed(
                    "a multipart boundary line has unexpected characters",
                ));
            }
        };
        self.enter(next);
        Ok(())
    }

    fn count(&mut self, n: usize) -> Result<()> {
        self.counted = self
            .counted
            .saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
        if self.counted > self.max {
            return Err(limit(Limit::PartHeaders, self.max));
        }
        Ok(())
    }

    /// Searches for `needle` within what is left of the limit; moves to `next` when found.
    fn bounded(&mut self, hay: &[u8], needle: Needle, next: State) -> Result<usize> {
        let allowed = usize::try_from(self.max.saturating_sub(self.counted)).unwrap_or(usize::MAX);
        let window = hay.get(..allowed).unwrap_or(hay);
        if let Some(end) = self.search(window, needle) {
            self.count(end)?;
            self.enter(next);
            return Ok(end);
        }
        if window.len() < hay.len() {
            return Err(limit(Limit::PartHeaders, self.max));
        }
        self.count(window.len())?;
        Ok(window.len())
    }

    /// Finds the end of the first `needle` in the carried bytes followed by `hay`, as an
    /// index into `hay`. When not found, keeps the tail that could start a match.
    fn search(&mut self, hay: &[u8], needle: Needle) -> Option<usize> {
        let needle: &[u8] = match needle {
            Needle::First => self.delimiter.get(2..).unwrap_or_default(),
            Needle::Delimiter => &self.delimiter,
            Needle::HeadersEnd => HEADERS_END,
        };
        let keep = needle.len().saturating_sub(1);
        let carried = self.carry.len();
        if carried > 0 {
            let head = hay.get(..keep.min(hay.len())).unwrap_or_default();
            let mut joined = Vec::with_capacity(carried + head.len());
            joined.extend_from_slice(&self.carry);
            joined.extend_from_slice(head);
            if let Some(p) = find(&joined, needle) {
                self.carry.clear();
                return Some((p + needle.len()).saturating_sub(carried));
            }
        }
        if let Some(p) = find(hay, needle) {
            self.carry.clear();
            return Some(p + needle.len());
        }
        let tail_from = hay.len().saturating_sub(keep);
        if hay.len() >= keep {
            self.carry.clear();
        }
        self.carry
            .extend_from_slice(hay.get(tail_from..).unwrap_or_default());
        let excess = self.carry.len().saturating_sub(keep);
        self.carry.drain(..excess);
        None
    }
}

#[derive(Debug, Clone, Copy)]
enum Needle {
    First,
    Delimiter,
    HeadersEnd,
}

fn malformed(what: &'static str) -> crate::Error {
    ErrorKind::Malformed { what: what.into() }.into()
}

/// The first occurrence of `needle` in `hay`.
///
/// It looks for the needle's first byte and compares the rest. For the delimiter
/// (`CRLF--boundary`, whose CR occurs once because a boundary has no CR) this is linear in
/// `hay`; the other needles are searched only within the part-header limit.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut from = 0;
    loop {
        let p = from + find_byte(hay.get(from..)?, first)?;
        let candidate = hay.get(p + 1..p + needle.len())?;
        if candidate == rest {
            return Some(p);
        }
        from = p + 1;
    }
}

/// The first `b` in `hay`, eight bytes at a time.
fn find_byte(hay: &[u8], b: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let pattern = LO.wrapping_mul(u64::from(b));
    let mut words = hay.chunks_exact(8);
    let mut offset = 0;
    for word in words.by_ref() {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let x = u64::from_le_bytes(bytes) ^ pattern;
        // Nonzero when some byte of `x` is zero, that is, equals `b`.
        if x.wrapping_sub(LO) & !x & HI != 0 {
            return word.iter().position(|&c| c == b).map(|i| offset + i);
        }
        offset += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&c| c == b)
        .map(|i| offset + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--b  \r\nH: 1\r\n\r\n\r\n--\r\n--b--\r\nepilogue";

    fn scan_chunks(body: &[u8], size: usize, max: u64) -> Result<bool> {
        let mut s = Scanner::new("b", max);
        for chunk in body.chunks(size) {
            assert_eq!(s.feed(chunk, false)?, chunk.len());
        }
        Ok(s.is_done())
    }

    #[test]
    fn any_chunking_reaches_the_end() {
        for size in 1..=BODY.len() {
            assert!(scan_chunks(BODY, size, 8192).unwrap(), "chunk size {size}");
        }
    }

    #[test]
    fn lockstep_stops_at_each_part_data() {
        let mut s = Scanner::new("b", 8192);
        let at = s.feed(BODY, true).unwrap();
        assert_eq!(&BODY[at..at + 1], b"x");
        let at2 = at + 1 + s.feed(&BODY[at + 1..], true).unwrap();
        assert_eq!(&BODY[at2..at2 + 4], b"\r\n--");
        let rest = &BODY[at2 + 4..];
        // The data of the second part is "\r\n--" (not a delimiter).
        assert_eq!(s.feed(rest, true).unwrap(), rest.len());
        assert!(s.is_done());
    }

    #[test]
    fn header_block_limit() {
        let mut body = b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n".to_vec();
        body.extend(std::iter::repeat_n(b'x', 100_000));
        for size in [1, 7, 4096, body.len()] {
            let err = scan_chunks(&body, size, 8192).unwrap_err().into_kind();
            assert_eq!(
                err,
                ErrorKind::LimitExceeded {
                    what: Limit::PartHeaders,
                    limit: 8192
                }
            );
        }
        // Exactly at the limit is fine: the limit counts from the end of "--b" to the blank
        // line that ends the headers.
        let ok = b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--b--";
        let n = (ok.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4 - 3) as u64;
        for size in [1, 2, 5, ok.len()] {
            assert!(scan_chunks(ok, size, n).unwrap());
            assert!(scan_chunks(ok, size, n - 1).is_err());
        }
    }

    #[test]
    fn preamble_limit_and_bare_lf() {
        let mut body = vec![b'p'; 10_000];
        body.extend_from_slice(b"--b--");
        assert!(scan_chunks(&body, 100, 8192).is_err());
        assert!(scan_chunks(&body, 100, 20_000).unwrap());
        let lf = scan_chunks(b"--b\nContent-Disposition: x\n\n", 3, 8192).unwrap_err();
        assert!(lf.to_string().contains("bare LF"), "{lf}");
        assert!(scan_chunks(b"--b-x", 1, 8192).is_err());
    }

    #[test]
    fn find_byte_matches_position() {
        let hay: Vec<u8> = (0..200u8).map(|i| i.wrapping_mul(37) ^ 0x55).collect();
        for start in 0..20 {
            for b in [0u8, 0x55, 0x80, 0xff, b'\r', 13, 200] {
                let h = &hay[start..];
                assert_eq!(
                    find_byte(h, b),
                    h.iter().position(|&c| c == b),
                    "{start} {b}"
                );
            }
        }
        assert_eq!(find_byte(b"", b'x'), None);
        assert_eq!(
            find_byte(b"\x80\x80\x80\x80\x80\x80\x80\x80\x00", 0),
            Some(8)
        );
    }

    #[test]
    fn find_is_exact() {
        assert_eq!(find(b"ab\r\n--b", b"\r\n--b"), Some(2));
        assert_eq!(find(b"\r\r\n--", b"\r\n--b"), None);
        assert_eq!(find(b"--b", b"--b"), Some(0));
        assert_eq!(find(b"", b"--b"), None);
    }
}
