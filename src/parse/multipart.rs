//! Legacy and inbound `multipart/form-data` bodies, in memory or streamed.
//!
//! [multer] reads the parts. It is configured from [`Limits`] (its own defaults are
//! unbounded) and everything it does not bound is bounded here:
//!
//! - **Body**: an in-memory body is checked before parsing; a streamed one is counted chunk by
//!   chunk and refused as soon as it is over [`Limits::body`], before multer sees that chunk.
//! - **Parts, files, field names**: counted when a part's headers have been read, before its
//!   data is (see [`Limits::parts`], [`Limits::files`], [`Limits::field_name`]).
//! - **Values**: a text field may hold [`Limits::text_field`] bytes (`body-mime`:
//!   [`Limits::body`]), a file [`Limits::file`]; checked on every chunk as it arrives.
//! - **Part headers**: multer has no limit on a header block, so a scanner checks the framing
//!   ahead of it: the preamble, and each part's header block, may not be longer than
//!   [`Limits::part_headers`] (8 KiB). On a streamed body it sees every chunk before multer
//!   does; on an in-memory body it runs in lockstep with multer and does not search the data.
//!   multer itself refuses more than 32 headers in one part.
//! - **Line endings**: CRLF, as RFC 7578 and Mailgun use. A body with bare LF line endings
//!   (only seen in a re-typed test fixture, never on the wire) is refused with a
//!   [`Malformed`](crate::ErrorKind::Malformed) error that says so: converting line endings
//!   would corrupt binary attachments.
//!
//! A part is a file when its `Content-Disposition` has a `filename` (even empty) or when it is
//! named `attachment-N`, as Mailgun names attachments (a part without a filename is still
//! one). A part without `Content-Disposition` or without a name is malformed. When a part
//! repeats `Content-Disposition`, the last one counts (multer keeps only that one).
//!
//! Copies: an in-memory body held as `Bytes` is not copied: multer is handed it 64 KiB at a
//! time (its own buffer stays that small: one window for each time the parse waits) and
//! values are slices of the body itself. The payload digest reads an in-memory body the same
//! way ([`in_memory`], [`Lockstep`]). An
//! in-memory `&[u8]` body up to 1 MiB is copied once into multer's buffer (files are slices of
//! it); above 1 MiB each file is copied once out of it, at its exact size. A streamed body whose length is
//! declared is collected into one buffer of that size and parsed the same way (see
//! `scan_stream_sized`); without a declared length it is parsed as it arrives, and a file is
//! copied once out of multer's buffers.
//!
//! [multer]: https://docs.rs/multer

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, HeaderMap};

use super::disposition::Disposition;
use super::fields::{Decoded, FieldSet, Fields, is_attachment_name, limit};
use super::scan::Scanner;
use crate::error::{Error, ErrorKind, Limit, Result};
use crate::inbound::Attachment;
use crate::limits::{InFlight, Limits};
use crate::verify::Signature;

/// The envelope pass over an in-memory multipart body (the body limit was checked by the
/// caller): every part read, text fields decoded as text (no JSON inside them), each file
/// copied once out of `body`, at its exact size.
pub(super) fn scan(boundary: &str, body: &[u8], limits: &Limits) -> Result<(Signature, Fields)> {
    scan_with(boundary, body, None, limits)
}

/// Up to this size, a borrowed body is copied whole into multer's buffer and its values are
/// slices of that copy (at most twice this size in all); above it, multer is handed windows and
/// each file is copied out of the body once (about the body once in all). The first way is
/// faster: no value is compared with the body or copied again.
const SMALL: usize = 1 << 20;

/// [`scan`] for a body held as [`Bytes`]: values are slices of `body` itself, so that when
/// the parse ends nothing proportional to the body is left but the attachments' slices of
/// it.
pub(super) fn scan_owned(
    boundary: &str,
    body: Bytes,
    limits: &Limits,
) -> Result<(Signature, Fields)> {
    scan_with(boundary, &body.clone(), Some(body), limits)
}

/// multer copies every chunk it reads into its own buffer, so it is handed the body a
/// [`WINDOW`] at a time (see [`windows`]) and its buffer stays that small. A value's bytes,
/// once multer read them and they matched `body` at the position the framing scanner found,
/// are taken from `body` (a slice of `owner`, or a copy) rather than from multer's buffer.
fn scan_with(
    boundary: &str,
    body: &[u8],
    owner: Option<Bytes>,
    limits: &Limits,
) -> Result<(Signature, Fields)> {
    let whole = owner.is_none() && body.len() <= SMALL;
    let window = if whole { SMALL } else { WINDOW };
    let mut lockstep = Lockstep::new(boundary, body, owner.clone(), limits);
    lockstep.from_body = !whole;
    in_memory(boundary, body, owner, window, limits, |parts| {
        read_parts(parts, limits, Some(&mut lockstep))
    })?
    .into_fields()
}

/// Runs `read` over multer reading the in-memory `body`, handed a `window` at a time (see
/// [`windows`]; slices of `owner` when given, else copies), under [`constraints`]`(limits)`.
/// Every window is a poll: more polls than windows (counted at most [`WINDOW`] long, and a
/// margin for the parts' ends) would mean the parser is waiting for something that cannot
/// come, which is a malformed body.
pub(crate) fn in_memory<'b, T, F, Fut>(
    boundary: &str,
    body: &'b [u8],
    owner: Option<Bytes>,
    window: usize,
    limits: &Limits,
    read: F,
) -> Result<T>
where
    F: FnOnce(multer::Multipart<'b>) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let polls = (body.len() / window.clamp(1, WINDOW)).saturating_add(16);
    let turn = Arc::new(AtomicBool::new(false));
    let stream = windows(body, owner, window, Arc::clone(&turn));
    let parts = multer::Multipart::with_constraints(stream, boundary, constraints(limits));
    run_ready(read(parts), polls, &turn)
        .unwrap_or_else(|| Err(malformed("the multipart parser did not finish")))
}

/// How much of an in-memory body multer is handed at a time.
pub(crate) const WINDOW: usize = 64 * 1024;

/// `body` as a stream of `window`-sized pieces (slices of `owner` when given, else copies),
/// one for each poll of the whole parse (each time [`run_ready`] sets `turn`), `Pending` (with
/// a wake-up) otherwise. multer reads every chunk that is ready before it parses any, and
/// polls its stream again wherever it waits for more (several times in one poll when a window
/// holds several parts), so a window is handed only when the parse as a whole had to wait:
/// multer's buffer then holds the bytes it has not parsed yet (a few, at most a part's
/// header block) and one window, never a window ahead of what it parsed.
fn windows(
    body: &[u8],
    owner: Option<Bytes>,
    window: usize,
    turn: Arc<AtomicBool>,
) -> impl Stream<Item = std::result::Result<Bytes, Infallible>> + Send + '_ {
    use std::task::Poll;
    let mut pos = 0;
    futures_util::stream::poll_fn(move |cx| {
        if pos >= body.len() {
            return Poll::Ready(None);
        }
        if !turn.swap(false, Ordering::Relaxed) {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let end = pos.saturating_add(window).min(body.len());
        let window = match &owner {
            Some(owner) => owner.slice(pos..end),
            None => Bytes::copy_from_slice(body.get(pos..end).unwrap_or_default()),
        };
        pos = end;
        Poll::Ready(Some(Ok(window)))
    })
}

/// Polls `fut` (whose only pauses are [`windows`]') until it is ready, at most `polls` times,
/// giving `turn` (one window) to each poll.
fn run_ready<F: std::future::Future>(fut: F, polls: usize, turn: &AtomicBool) -> Option<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let mut fut = std::pin::pin!(fut);
    (0..polls).find_map(|_| {
        turn.store(true, Ordering::Relaxed);
        match fut.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(out) => Some(out),
            std::task::Poll::Pending => None,
        }
    })
}

/// The envelope pass over a streamed multipart body: every chunk is counted against the body
/// limit and the in-flight budget, and its framing checked, before multer sees it.
pub(super) async fn scan_stream<S, B, E>(
    boundary: &str,
    body: S,
    limits: &Limits,
) -> Result<(Signature, Fields)>
where
    S: Stream<Item = std::result::Result<B, E>> + Send,
    B: Into<Bytes>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let held = limits.admit(0)?;
    let guarded = coalesce(guard(body, boundary, limits, held));
    let parts = multer::Multipart::with_constraints(guarded, boundary, constraints(limits));
    read_parts(parts, limits, None).await?.into_fields()
}

/// The framing check of a streamed body's chunks, in order, before they are kept: a preamble
/// or a part's header block over [`Limits::part_headers`] is refused as soon as it arrives.
pub(super) fn framing(boundary: &str, limits: &Limits) -> impl FnMut(&[u8]) -> Result<()> {
    let mut scanner = Scanner::new(boundary, limits.max_part_headers());
    move |chunk| {
        if !scanner.is_done() {
            scanner.feed(chunk, false)?;
        }
        Ok(())
    }
}

/// multer's limits, from ours. Its per-field limit is the largest a value may have (a file,
/// a text field, or `body-mime`, which may use the body limit); the limit of each kind of
/// value is enforced on every chunk while reading.
fn constraints(limits: &Limits) -> multer::Constraints {
    let per_field = limits
        .max_file()
        .max(limits.max_text_field())
        .max(limits.max_body());
    multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(limits.max_body())
            .per_field(per_field),
    )
}

/// Counts and checks every chunk of a streamed body before multer sees it.
fn guard<S, B, E>(
    body: S,
    boundary: &str,
    limits: &Limits,
    mut held: InFlight,
) -> impl Stream<Item = std::result::Result<Bytes, Abort>> + Send
where
    S: Stream<Item = std::result::Result<B, E>> + Send,
    B: Into<Bytes>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut scanner = Scanner::new(boundary, limits.max_part_headers());
    let max = limits.max_body();
    let mut seen: u64 = 0;
    body.map(move |chunk| {
        let chunk: Bytes = chunk.map_err(|e| Abort(read_error(e)))?.into();
        seen = seen.saturating_add(u64::try_from(chunk.len()).unwrap_or(u64::MAX));
        if seen > max {
            return Err(Abort(limit(Limit::Body, max)));
        }
        held.grow(u64::try_from(chunk.len()).unwrap_or(u64::MAX))
            .map_err(Abort)?;
        if !scanner.is_done() {
            scanner.feed(&chunk, false).map_err(Abort)?;
        }
        Ok(chunk)
    })
}

/// Hands multer everything the body has ready as one chunk, joined once at its exact size.
///
/// multer copies every chunk it reads into one growing buffer, and reads every chunk that is
/// ready before it parses any; fed many small ready chunks, that buffer grows by doubling,
/// holding up to twice the body (and three times while it moves). Fed one chunk, it allocates
/// the exact size once. Nothing is held back: the join happens only over chunks that are
/// already there, and `Pending` is returned only when the body itself is pending.
fn coalesce<S, B, E>(body: S) -> impl Stream<Item = std::result::Result<Bytes, E>> + Send
where
    S: Stream<Item = std::result::Result<B, E>> + Send,
    B: Into<Bytes>,
    E: Send,
{
    use std::task::Poll;
    let mut body = Box::pin(body);
    let mut done = false;
    let mut failed: Option<E> = None;
    futures_util::stream::poll_fn(move |cx| {
        if let Some(e) = failed.take() {
            return Poll::Ready(Some(Err(e)));
        }
        if done {
            return Poll::Ready(None);
        }
        let mut ready: Vec<Bytes> = Vec::new();
        loop {
            match body.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => ready.push(chunk.into()),
                // An error comes after the bytes before it, as without the join.
                Poll::Ready(Some(Err(e))) if ready.is_empty() => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Err(e))) => {
                    failed = Some(e);
                    break;
                }
                Poll::Ready(None) => {
                    done = true;
                    break;
                }
                Poll::Pending => break,
            }
        }
        match ready.len() {
            0 if done => Poll::Ready(None),
            0 => Poll::Pending,
            _ => Poll::Ready(Some(Ok(join(ready)))),
        }
    })
}

fn join(mut chunks: Vec<Bytes>) -> Bytes {
    if chunks.len() == 1 {
        return chunks.pop().unwrap_or_default();
    }
    let total = chunks.iter().map(Bytes::len).sum();
    let mut joined = BytesMut::with_capacity(total);
    for chunk in chunks {
        joined.extend_from_slice(&chunk);
    }
    joined.freeze()
}

pub(super) fn read_error(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
    Error::with_source(
        ErrorKind::Malformed {
            what: "reading the request body failed".into(),
        },
        e,
    )
}

/// Our error, carried through multer's stream-error variant.
#[derive(Debug)]
struct Abort(Error);

impl fmt::Display for Abort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Abort {}

/// The framing scanner driven over an in-memory body, one part behind multer: it checks the
/// framing multer does not bound, and knows where each part's data starts in the body, so
/// that a value can be taken from the body rather than from multer's buffer.
pub(crate) struct Lockstep<'a> {
    body: &'a [u8],
    /// The body as `Bytes`, when values may be slices of it.
    owner: Option<Bytes>,
    /// Values are taken from the body (a slice of `owner`, or a copy), not from multer.
    from_body: bool,
    pos: usize,
    scanner: Scanner,
}

impl<'a> Lockstep<'a> {
    /// The scanner at the start of `body`, which multer reads (`owner`: the same bytes, when
    /// values may be slices of it), a part's header block bounded by [`Limits::part_headers`].
    pub(crate) fn new(
        boundary: &str,
        body: &'a [u8],
        owner: Option<Bytes>,
        limits: &Limits,
    ) -> Self {
        Lockstep {
            body,
            owner,
            from_body: true,
            pos: 0,
            scanner: Scanner::new(boundary, limits.max_part_headers()),
        }
    }

    /// Skips the data of the part just read and checks the framing up to the next part's data.
    pub(crate) fn advance(&mut self, data_len: usize) -> Result<()> {
        self.pos = self.pos.saturating_add(data_len);
        let rest = self.body.get(self.pos..).unwrap_or_default();
        let used = self.scanner.feed(rest, true)?;
        self.pos = self.pos.saturating_add(used);
        Ok(())
    }

    /// Reads the data of `field` (the part [`advance`](Self::advance) just reached) to its
    /// end and returns where it lies in the body. multer's chunks are only checked against the
    /// body, at most `max` bytes in all (else `what` is over its limit), and dropped: nothing
    /// of the value is kept. A chunk that is not the body's bytes where the scanner says the
    /// data is, is a malformed body.
    pub(crate) async fn value(
        &self,
        field: &mut multer::Field<'_>,
        limits: &Limits,
        (what, max): (Limit, u64),
    ) -> Result<std::ops::Range<usize>> {
        let start = self.pos;
        let mut len: usize = 0;
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|e| from_multer(e, limits, Some((what, max))))?
        {
            let end = len.saturating_add(chunk.len());
            if u64::try_from(end).map_or(true, |n| n > max) {
                return Err(limit(what, max));
            }
            let expected = start
                .checked_add(len)
                .zip(start.checked_add(end))
                .and_then(|(a, b)| self.body.get(a..b));
            if expected != Some(&chunk[..]) {
                return Err(malformed(
                    "the multipart parser and the framing scanner disagree",
                ));
            }
            len = end;
        }
        Ok(start..start.saturating_add(len))
    }
}

async fn read_parts<'l>(
    mut parts: multer::Multipart<'_>,
    limits: &'l Limits,
    mut lockstep: Option<&mut Lockstep<'_>>,
) -> Result<FieldSet<'l>> {
    let mut set = FieldSet::new(limits);
    let mut data_len = 0;
    loop {
        if let Some(l) = lockstep.as_deref_mut() {
            l.advance(data_len)?;
        }
        let next = parts.next_field().await;
        let Some(mut field) = next.map_err(|e| from_multer(e, limits, None))? else {
            return Ok(set);
        };
        let part = Part::from_headers(field.headers(), field.name())?;
        set.admit(&part.name, part.is_file)?;
        let (what, max) = set.value_limit(&part.name, part.is_file);
        // In memory, a value is taken from the body: multer's chunks are only checked against
        // it (and dropped), never kept.
        if let Some(l) = lockstep.as_deref().filter(|l| l.from_body) {
            let range = l.value(&mut field, limits, (what, max)).await?;
            data_len = range.len();
            match &l.owner {
                Some(owner) => part.add_to(&mut set, owner.slice(range)),
                None => part.add_slice(&mut set, l.body.get(range).unwrap_or_default()),
            }
            continue;
        }
        let mut data = Collector::default();
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|e| from_multer(e, limits, Some((what, max))))?
        {
            data.push(chunk, what, max)?;
        }
        // Streamed, a file is copied out of multer's buffers (once, at its exact size), so
        // that a kept file does not keep a whole buffer of other parts alive; a small body in
        // memory is one buffer, whose files stay slices of it. A text value is copied into its
        // `String` anyway.
        let data = if part.is_file && lockstep.is_none() {
            data.finish_owned()
        } else {
            data.finish()
        };
        data_len = data.len();
        part.add_to(&mut set, data);
    }
}

/// What a part's headers say about it.
struct Part {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
    is_file: bool,
}

impl Part {
    /// `parsed_name` is multer's reading of the name, used only when the header is exactly
    /// `form-data; name="<name>"` (as Mailgun sends every text field), where it cannot differ
    /// from ours.
    fn from_headers(headers: &HeaderMap, parsed_name: Option<&str>) -> Result<Part> {
        let disposition = headers
            .get(CONTENT_DISPOSITION)
            .ok_or_else(|| malformed("a multipart part has no Content-Disposition header"))?
            .as_bytes();
        let Disposition { name, filename } = match parsed_name {
            Some(n) if is_canonical(disposition, n) => Disposition {
                name: Some(n.as_bytes().into()),
                filename: None,
            },
            _ => Disposition::parse(disposition),
        };
        let name = name.ok_or_else(|| malformed("a multipart part has no `name` parameter"))?;
        let name = String::from_utf8(name.into_owned())
            .map_err(|_| malformed("a multipart field name is not valid UTF-8"))?;
        let content_type = headers
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let is_file = filename.is_some() || is_attachment_name(&name);
        Ok(Part {
            name,
            filename,
            content_type,
            is_file,
        })
    }

    fn add_to(self, set: &mut FieldSet<'_>, data: Bytes) {
        if self.is_file {
            set.push_file(Attachment::from_bytes(
                self.name,
                self.filename,
                self.content_type,
                data,
            ));
            return;
        }
        self.add_text(set, &data);
    }

    /// [`add_to`](Self::add_to) for a value borrowed from the body: a file is copied once.
    fn add_slice(self, set: &mut FieldSet<'_>, data: &[u8]) {
        if self.is_file {
            self.add_to(set, Bytes::copy_from_slice(data));
        } else {
            self.add_text(set, data);
        }
    }

    fn add_text(self, set: &mut FieldSet<'_>, data: &[u8]) {
        let (value, decoded) = match std::str::from_utf8(data) {
            Ok(s) => (s.to_owned(), Decoded::Exact),
            Err(_) => (String::from_utf8_lossy(data).into_owned(), Decoded::BadUtf8),
        };
        set.push_text(self.name, value, decoded);
    }
}

/// True when `header` is exactly `form-data; name="<name>"` and the name needs no unescaping.
fn is_canonical(header: &[u8], name: &str) -> bool {
    let Some(rest) = header.strip_prefix(b"form-data; name=\"") else {
        return false;
    };
    rest.strip_suffix(b"\"") == Some(name.as_bytes()) && !name.contains(['\\', '"'])
}

/// Joins a value's chunks under its limit, copying only when there is more than one, and then
/// once, into a buffer of exactly the total size (no doubling slack).
#[derive(Default)]
pub(super) struct Collector {
    chunks: Vec<Bytes>,
    len: u64,
}

impl Collector {
    pub(super) fn push(&mut self, chunk: Bytes, what: Limit, max: u64) -> Result<()> {
        self.len = self
            .len
            .saturating_add(u64::try_from(chunk.len()).unwrap_or(u64::MAX));
        if self.len > max {
            return Err(limit(what, max));
        }
        if !chunk.is_empty() {
            self.chunks.push(chunk);
        }
        Ok(())
    }

    /// Like [`finish`](Self::finish), but a single chunk is copied too.
    fn finish_owned(self) -> Bytes {
        match self.chunks.as_slice() {
            [one] => Bytes::copy_from_slice(one),
            _ => self.finish(),
        }
    }

    pub(super) fn finish(mut self) -> Bytes {
        if self.chunks.len() <= 1 {
            return self.chunks.pop().unwrap_or_default();
        }
        let total = self.chunks.iter().map(Bytes::len).sum();
        let mut joined = BytesMut::with_capacity(total);
        for chunk in self.chunks {
            joined.extend_from_slice(&chunk);
        }
        joined.freeze()
    }
}

fn malformed(what: &'static str) -> Error {
    ErrorKind::Malformed { what: what.into() }.into()
}

/// Maps multer's errors to ours. multer's messages can quote header bytes and field names, so
/// none of them is kept.
fn from_multer(e: multer::Error, limits: &Limits, reading: Option<(Limit, u64)>) -> Error {
    use multer::Error as M;
    match e {
        M::StreamReadFailed(source) => match source.downcast::<Abort>() {
            Ok(abort) => abort.0,
            Err(source) => Error::with_source(
                ErrorKind::Malformed {
                    what: "reading the request body failed".into(),
                },
                source,
            ),
        },
        M::StreamSizeExceeded { .. } => limit(Limit::Body, limits.max_body()),
        M::FieldSizeExceeded { .. } => {
            let (what, max) = reading.unwrap_or((Limit::File, limits.max_file()));
            limit(what, max)
        }
        M::IncompleteStream | M::IncompleteHeaders | M::IncompleteFieldData { .. } => malformed(
            "the multipart body is incomplete: a boundary, a part's headers or the closing \
             delimiter is missing",
        ),
        M::ReadHeaderFailed(_) | M::DecodeHeaderName { .. } | M::DecodeHeaderValue { .. } => {
            malformed("a multipart part has invalid headers, or more than 32 of them")
        }
        _ => malformed("invalid multipart body"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Unverified;
    use crate::{Format, Payload};

    const B: &str = "b";

    fn parse(boundary: &str, body: &[u8], limits: &Limits) -> Result<Unverified<Payload>> {
        let (sig, fields) = scan(boundary, body, limits)?;
        let budget = crate::limits::NodeBudget::new(limits.max_json_nodes());
        let payload = fields.finish(
            sig.timestamp(),
            &budget,
            crate::message::MimeLimits::new(limits),
        )?;
        Ok(Unverified::new(sig, Format::Multipart, payload))
    }

    fn part(name: &str, value: &str) -> String {
        format!("--b\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
    }

    fn signed(parts: &str) -> String {
        format!(
            "{parts}{}{}{}--b--\r\n",
            part("timestamp", "1700000000"),
            part("token", "abc"),
            part("signature", "00")
        )
    }

    fn err(body: &str, limits: &Limits) -> ErrorKind {
        parse(B, body.as_bytes(), limits).unwrap_err().into_kind()
    }

    #[test]
    fn fields_and_files() {
        let body = signed(&format!(
            "{}--b\r\nContent-Disposition: form-data; name=\"attachment-1\"\r\n\r\nraw\r\n\
             --b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nfile\r\n",
            part("recipient", "r@example.com"),
        ));
        let msg = parse(B, body.as_bytes(), &Limits::default())
            .unwrap()
            .into_payload_unverified()
            .into_inbound()
            .unwrap();
        assert_eq!(msg.recipient.as_deref(), Some("r@example.com"));
        assert_eq!(msg.attachments.len(), 2);
        assert_eq!(msg.attachments[0].filename(), None);
        assert_eq!(msg.attachments[0].data(), b"raw");
        assert_eq!(msg.attachments[1].content_type(), Some("text/plain"));
        assert_eq!(msg.attachments[1].data(), b"file");
    }

    #[test]
    fn limits() {
        let l = Limits::default().text_field(3).file(2).field_name(12);
        assert_eq!(
            err(&signed(&part("a", "1234")), &l),
            ErrorKind::LimitExceeded {
                what: Limit::TextField,
                limit: 3
            }
        );
        let file =
            "--b\r\nContent-Disposition: form-data; name=\"x\"; filename=\"\"\r\n\r\n123\r\n";
        assert_eq!(
            err(&signed(file), &l),
            ErrorKind::LimitExceeded {
                what: Limit::File,
                limit: 2
            }
        );
        assert_eq!(
            err(&signed(&part("abcdefghijklm", "1")), &l),
            ErrorKind::LimitExceeded {
                what: Limit::FieldName,
                limit: 12
            }
        );
        let huge = format!(
            "--b\r\nContent-Disposition: form-data; name=\"x\"\r\nX: {}\r\n\r\n1\r\n--b--",
            "h".repeat(9000)
        );
        assert_eq!(
            err(&huge, &Limits::default()),
            ErrorKind::LimitExceeded {
                what: Limit::PartHeaders,
                limit: 8192
            }
        );
    }

    #[test]
    fn malformed_parts() {
        let l = Limits::default();
        for body in [
            "--b\r\nX-Other: 1\r\n\r\nv\r\n--b--".to_owned(),
            "--b\r\nContent-Disposition: form-data\r\n\r\nv\r\n--b--".to_owned(),
            "--b\r\nContent-Disposition: form-data; name=\"\u{0}\"\r\n\r\nv\r\n--b--".to_owned(),
            "garbage".to_owned(),
            format!(
                "{}--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nno end",
                part("a", "1")
            ),
            "--b\nContent-Disposition: form-data; name=\"a\"\n\n1\n--b--\n".to_owned(),
        ] {
            assert!(
                matches!(err(&body, &l), ErrorKind::Malformed { .. }),
                "{body:?}"
            );
        }
    }

    #[test]
    fn in_memory_files_are_slices_of_the_body_or_exact_copies() {
        let one = "A".repeat(100_000);
        let two = "B".repeat(200_000);
        let body = signed(&format!(
            "--b\r\nContent-Disposition: form-data; name=\"attachment-1\"; filename=\"a\"\r\n\r\n{one}\r\n\
             --b\r\nContent-Disposition: form-data; name=\"attachment-2\"; filename=\"b\"\r\n\r\n{two}\r\n"
        ));
        let owner = Bytes::from(body.clone());
        let (_, fields) = scan_owned(B, owner.clone(), &Limits::default()).unwrap();
        let budget = crate::limits::NodeBudget::new(1000);
        let msg = fields
            .finish(
                "1700000000",
                &budget,
                crate::message::MimeLimits::new(&Limits::default()),
            )
            .unwrap()
            .into_inbound()
            .unwrap();
        let (a, b) = (&msg.attachments[0], &msg.attachments[1]);
        assert_eq!((a.data(), b.data()), (one.as_bytes(), two.as_bytes()));
        // Held as `Bytes`, the body is not copied: both files point into it, where they are.
        let start = owner.as_ptr() as usize;
        assert_eq!(a.data().as_ptr() as usize - start, body.find(&one).unwrap());
        assert_eq!(b.data().as_ptr() as usize - start, body.find(&two).unwrap());
        // Borrowed, each file is its own copy, of exactly its size.
        let msg = parse(B, body.as_bytes(), &Limits::default())
            .unwrap()
            .into_payload_unverified()
            .into_inbound()
            .unwrap();
        assert_eq!(msg.attachments[1].data(), two.as_bytes());
    }

    #[test]
    fn canonical_disposition_fast_path_agrees_with_the_parser() {
        for (header, name) in [
            (&b"form-data; name=\"token\""[..], "token"),
            (b"form-data; name=\"a b;c=d\"", "a b;c=d"),
            (b"form-data; name=\"\"", ""),
        ] {
            assert!(is_canonical(header, name));
            let parsed = Disposition::parse(header);
            assert_eq!(parsed.name.as_deref(), Some(name.as_bytes()));
            assert_eq!(parsed.filename, None);
        }
        for (header, name) in [
            (&b"form-data; name=\"a\\\\b\""[..], "a\\\\b"),
            (b"form-data; name=\"a\"; filename=\"f\"", "a"),
            (b"form-data; name=\"evil\"", "real"),
            (b"Form-Data; name=\"a\"", "a"),
            (b"form-data; NAME=\"a\"", "a"),
        ] {
            assert!(!is_canonical(header, name), "{header:?}");
        }
    }

    #[test]
    fn non_utf8_field_name_is_malformed() {
        let mut body = b"--b\r\nContent-Disposition: form-data; name=\"".to_vec();
        body.push(0xff);
        body.extend_from_slice(b"\"\r\n\r\nv\r\n--b--");
        let e = parse(B, &body, &Limits::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "malformed body: a multipart field name is not valid UTF-8"
        );
    }
}
