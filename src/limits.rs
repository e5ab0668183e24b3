//! [`Limits`]: the sizes and counts every stage of parsing is bounded by, the node budget of
//! the typed parse, and the budget of bytes being parsed at once across requests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{ErrorKind, Limit, Result};

/// Size and count limits for parsing request bodies.
///
/// Every limit is enforced while reading, before anything beyond it is buffered, and a
/// violation is a [`LimitExceeded`](ErrorKind::LimitExceeded) error (413) that names the limit.
/// The defaults fit everything Mailgun sends, with margin:
///
/// | limit | default | why |
/// |---|---|---|
/// | [`body`](Self::body) | 32 MiB | a 25 MB inbound message plus its text, HTML and stripped copies |
/// | [`json_body`](Self::json_body) | 1 MiB | tracking events are a few KiB |
/// | [`json_depth`](Self::json_depth) | 128 | Mailgun nests 4 levels; 128 is serde_json's own cap |
/// | [`json_nodes`](Self::json_nodes) | 8,192 | a Mailgun event is a few hundred; bounds what JSON decodes into (see below) |
/// | [`text_field`](Self::text_field) | 8 MiB | large HTML newsletters; `body-mime` may use the whole body limit |
/// | [`file`](Self::file) | 25 MiB | Mailgun's message size limit |
/// | [`files`](Self::files) | 100 | as Django's `DATA_UPLOAD_MAX_NUMBER_FILES` |
/// | [`parts`](Self::parts) | 1,000 | fields or pairs, as Django and PHP |
/// | [`part_headers`](Self::part_headers) | 8 KiB | one part's header block |
/// | [`field_name`](Self::field_name) | 256 B | Mailgun's names are under 32 bytes |
/// | [`in_flight`](Self::in_flight) | 256 MiB | bytes being parsed at once, across requests (503 beyond) |
/// | [`mime_depth`](Self::mime_depth) | 32 | real mail nests 3 to 5 levels |
/// | [`mime_parts`](Self::mime_parts) | 1,000 | as [`parts`](Self::parts) |
///
/// # Memory
///
/// Before the signature is verified, only the signed fields are looked for: no JSON inside the
/// payload is decoded. The JSON that is decoded afterwards (the `event-data` of a JSON event,
/// and `X-Mailgun-Variables`, `message-headers`, `content-id-map` and a stored message's
/// `attachments` in forms) is counted first and charged against one budget per request,
/// [`json_nodes`](Self::json_nodes): every `[`, `,` and `:` counts one and every `{` counts
/// sixteen (an object costs a tree node of several hundred bytes). With the defaults, peak
/// heap growth while parsing a body, forged or signed, in memory or streamed, stays within
/// twice the body plus 1 MiB.
///
/// # Across requests
///
/// [`in_flight`](Self::in_flight) caps the bytes of all bodies being parsed at once by
/// everything that shares this `Limits` value (its clones share one counter: a
/// [`Verifier`](crate::Verifier) and everything using its limits). A request that would go
/// over it is answered at once with [`Overloaded`](ErrorKind::Overloaded) (503, which Mailgun
/// retries) instead of queueing memory. With the default 256 MiB, a flood of maximal bodies
/// holds at most about 512 MiB in parsing, which a 2-core, 4 GiB service survives.
///
/// ```
/// use mailgun_webhooks::Limits;
/// let limits = Limits::default().body(64 << 20).files(20);
/// assert_eq!(limits.max_body(), 64 << 20);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Limits {
    body: u64,
    json_body: u64,
    json_depth: u32,
    json_nodes: u64,
    text_field: u64,
    file: u64,
    files: u32,
    parts: u32,
    part_headers: u64,
    field_name: u64,
    in_flight: u64,
    mime_depth: u32,
    mime_parts: u32,
    /// Bytes being parsed now under this value and its clones.
    gauge: Arc<AtomicU64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body: 32 << 20,
            json_body: 1 << 20,
            json_depth: 128,
            json_nodes: 8192,
            text_field: 8 << 20,
            file: 25 << 20,
            files: 100,
            parts: 1000,
            part_headers: 8 << 10,
            field_name: 256,
            in_flight: 256 << 20,
            mime_depth: 32,
            mime_parts: 1000,
            gauge: Arc::new(AtomicU64::new(0)),
        }
    }
}

/// Compares the configured values (not the shared in-flight counter).
impl PartialEq for Limits {
    fn eq(&self, o: &Self) -> bool {
        (
            self.body,
            self.json_body,
            self.json_depth,
            self.json_nodes,
            self.text_field,
            self.file,
            self.files,
            self.parts,
            self.part_headers,
            self.field_name,
            self.in_flight,
            (self.mime_depth, self.mime_parts),
        ) == (
            o.body,
            o.json_body,
            o.json_depth,
            o.json_nodes,
            o.text_field,
            o.file,
            o.files,
            o.parts,
            o.part_headers,
            o.field_name,
            o.in_flight,
            (o.mime_depth, o.mime_parts),
        )
    }
}

impl Eq for Limits {}

macro_rules! limit_accessors {
    ($($(#[$doc:meta])* $name:ident, $getter:ident: $ty:ty;)*) => {
        impl Limits {
            $(
                $(#[$doc])*
                pub fn $name(mut self, value: $ty) -> Self {
                    self.$name = value;
                    self
                }

                #[doc = concat!("The current [`", stringify!($name), "`](Self::", stringify!($name), ") limit.")]
                pub fn $getter(&self) -> $ty {
                    self.$name
                }
            )*
        }
    };
}

limit_accessors! {
    /// The largest body of any encoding, in bytes. Adapters also use it to cap how much they
    /// read.
    body, max_body: u64;
    /// The largest JSON body, in bytes (the smaller of this and `body` applies).
    json_body, max_json_body: u64;
    /// The deepest nesting of JSON arrays and objects. Values above 128 have no effect:
    /// serde_json's own recursion limit stays on.
    json_depth, max_json_depth: u32;
    /// The node budget of the typed parse of one request, after verification: how much JSON
    /// (the `event-data`, and JSON inside form fields) may be decoded into values. See
    /// [Memory](Self#memory).
    json_nodes, max_json_nodes: u64;
    /// The largest text (non-file) field, in bytes. A raw MIME route's `body-mime` field is
    /// bounded by `body` instead.
    text_field, max_text_field: u64;
    /// The largest file part (attachment), in bytes.
    file, max_file: u64;
    /// The most file parts (attachments) in one request.
    files, max_files: u32;
    /// The most fields in one request: multipart parts, or urlencoded pairs.
    parts, max_parts: u32;
    /// The largest header block of one multipart part, in bytes.
    part_headers, max_part_headers: u64;
    /// The longest field name, in bytes.
    field_name, max_field_name: u64;
    /// The most bytes being parsed at once across all requests sharing this value (and its
    /// clones); beyond it a request gets [`Overloaded`](ErrorKind::Overloaded) (503) at once.
    in_flight, max_in_flight: u64;
    /// The deepest nesting of a MIME message read by
    /// [`InboundMessage::message`](crate::InboundMessage::message): multiparts inside
    /// multiparts and attached messages inside attached messages. Values above 128 act as 128.
    mime_depth, max_mime_depth: u32;
    /// The most parts of a MIME message read by
    /// [`InboundMessage::message`](crate::InboundMessage::message), nested messages included.
    /// It also sets a floor of 4 KiB per part under the bound on what the parse may allocate
    /// (otherwise 8 times the message plus 1 MiB, estimated before parsing).
    mime_parts, max_mime_parts: u32;
}

impl Limits {
    /// The bytes being parsed right now by everything that shares this value.
    pub fn in_flight_now(&self) -> u64 {
        self.gauge.load(Ordering::Relaxed)
    }

    /// Reserves `bytes` of the in-flight budget until the returned guard is dropped.
    pub(crate) fn admit(&self, bytes: u64) -> Result<InFlight> {
        let mut guard = InFlight {
            gauge: Arc::clone(&self.gauge),
            max: self.in_flight,
            held: 0,
        };
        guard.grow(bytes)?;
        Ok(guard)
    }

    /// The largest JSON body: the smaller of `json_body` and `body`, and which limit it is.
    pub(crate) fn json_max(&self) -> (Limit, u64) {
        if self.json_body < self.body {
            (Limit::JsonBody, self.json_body)
        } else {
            (Limit::Body, self.body)
        }
    }
}

/// A reservation of the in-flight budget; released when dropped (also when the future that
/// holds it is dropped, so a hung-up request gives its bytes back).
#[derive(Debug)]
pub(crate) struct InFlight {
    gauge: Arc<AtomicU64>,
    max: u64,
    held: u64,
}

impl InFlight {
    /// Reserves `bytes` more, or fails with `Overloaded` (and keeps what it held).
    pub(crate) fn grow(&mut self, bytes: u64) -> Result<()> {
        let before = self.gauge.fetch_add(bytes, Ordering::AcqRel);
        if before.saturating_add(bytes) > self.max {
            self.gauge.fetch_sub(bytes, Ordering::AcqRel);
            return Err(ErrorKind::Overloaded { limit: self.max }.into());
        }
        self.held = self.held.saturating_add(bytes);
        Ok(())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.gauge.fetch_sub(self.held, Ordering::AcqRel);
    }
}

/// The node budget of one request's typed parse (see [`Limits::json_nodes`]).
#[derive(Debug)]
pub(crate) struct NodeBudget {
    left: std::cell::Cell<u64>,
    max: u64,
}

/// What one `{` costs: a `BTreeMap` leaf node is about 600 bytes.
pub(crate) const OBJECT_COST: u64 = 16;

impl NodeBudget {
    pub(crate) fn new(max: u64) -> Self {
        NodeBudget {
            left: std::cell::Cell::new(max),
            max,
        }
    }

    /// Counts the JSON text that is about to be decoded, before decoding it, and charges it.
    /// Fails with `LimitExceeded { JsonNodes }` once the request's budget is spent.
    pub(crate) fn charge(&self, json: &[u8]) -> Result<()> {
        self.take(json_cost(json))
    }

    /// Like [`charge`](Self::charge), but skips the exact count when `json` cannot exceed
    /// what is left: [`json_cost_bound`] (structure counted inside strings too, a fast
    /// branch-free pass) is never below the exact cost, so a text under it fits whatever it
    /// holds. Returns whether the count was skipped: the exact cost is then still owed, and the
    /// caller must [`charge`](Self::charge) the same text before anything else is charged to
    /// this budget, or drop the budget. The memory bound is unchanged: decoding `json` can
    /// never go over the budget, and a failure is decided by the exact count as before.
    pub(crate) fn charge_or_defer(&self, json: &[u8]) -> Result<bool> {
        if json_cost_bound(json) <= self.left.get() {
            return Ok(true);
        }
        self.charge(json).map(|()| false)
    }

    /// What has been charged so far.
    #[cfg(test)]
    pub(crate) fn spent(&self) -> u64 {
        self.max.saturating_sub(self.left.get())
    }

    fn take(&self, cost: u64) -> Result<()> {
        match self.left.get().checked_sub(cost) {
            Some(left) => {
                self.left.set(left);
                Ok(())
            }
            None => {
                self.left.set(0);
                Err(ErrorKind::LimitExceeded {
                    what: Limit::JsonNodes,
                    limit: self.max,
                }
                .into())
            }
        }
    }
}

/// What decoding `json` costs: every `[`, `,` and `:` outside strings one, every `{` sixteen,
/// plus one for the value itself. Strings are skipped with `memchr` (most of an event's bytes
/// are inside strings), so this pass is much cheaper than the parse it guards.
fn json_cost(json: &[u8]) -> u64 {
    let mut cost: u64 = 1;
    let mut i = 0;
    while let Some(&c) = json.get(i) {
        i += 1;
        match c {
            b'"' => i = string_end(json, i),
            b'{' => cost = cost.saturating_add(OBJECT_COST),
            b'[' | b',' | b':' => cost = cost.saturating_add(1),
            _ => {}
        }
    }
    cost
}

/// The index just past the closing quote of the string whose contents start at `i` (or the
/// end of `s`, if it is not closed).
fn string_end(s: &[u8], mut i: usize) -> usize {
    loop {
        let Some(rest) = s.get(i..) else {
            return s.len();
        };
        let Some(j) = memchr::memchr2(b'"', b'\\', rest) else {
            return s.len();
        };
        let at = i + j;
        if s.get(at) == Some(&b'"') {
            return at + 1;
        }
        // A backslash escapes the next byte.
        i = at + 2;
    }
}

/// An upper bound of [`json_cost`] that ignores strings: every `{`, `[`, `,` and `:`
/// anywhere counts, inside strings too. Branch-free over fixed chunks, so it vectorises and
/// runs several times faster than the exact count.
pub(crate) fn json_cost_bound(json: &[u8]) -> u64 {
    let mut total: u64 = 1;
    // Blocks of at most 255 bytes, so that each count fits a byte: the loop then works on
    // sixteen or more bytes at a time.
    for block in json.chunks(255) {
        let (mut open, mut other) = (0u8, 0u8);
        for &c in block {
            open = open.wrapping_add(u8::from(c == b'{'));
            other = other.wrapping_add(u8::from((c == b'[') | (c == b',') | (c == b':')));
        }
        total = total
            .saturating_add(u64::from(open) * 16)
            .saturating_add(u64::from(other));
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_is_shared_by_clones_and_released() {
        let limits = Limits::default().in_flight(100);
        let clone = limits.clone();
        let a = limits.admit(60).unwrap();
        assert_eq!(clone.in_flight_now(), 60);
        assert_eq!(
            clone.admit(41).unwrap_err().into_kind(),
            ErrorKind::Overloaded { limit: 100 }
        );
        let mut b = clone.admit(40).unwrap();
        assert!(b.grow(1).is_err());
        drop(a);
        b.grow(50).unwrap();
        assert_eq!(limits.in_flight_now(), 90);
        drop(b);
        assert_eq!(limits.in_flight_now(), 0);
        // Another Limits value has its own counter.
        assert_eq!(Limits::default().in_flight_now(), 0);
        assert_eq!(limits, Limits::default().in_flight(100));
    }

    #[test]
    fn node_budget_counts_structure_not_strings() {
        let b = NodeBudget::new(40);
        b.charge(br#"{"a":[1,2,"[,{:"]}"#).unwrap(); // 16 + 1 + 1 + 2 + 1
        assert_eq!(b.left.get(), 40 - 21);
        b.charge(br#""x\"[[[""#).unwrap();
        assert_eq!(b.left.get(), 18);
        assert!(b.charge(b"[[[[[[[[[[[[[[[[[[[[").is_err());
        assert!(b.charge(b"0").is_err());
    }

    #[test]
    fn the_bound_is_never_below_the_exact_cost() {
        for json in [
            &br#"{"a":[1,2,"[,{:"]}"#[..],
            br#""x\"[[[""#,
            br#"{"k":"v\\","l":{"m":[{},{}]}}"#,
            b"",
            b"\"unterminated \\",
        ] {
            assert!(json_cost_bound(json) >= json_cost(json), "{json:?}");
        }
        assert_eq!(json_cost(br#"{"a":[1,2,"[,{:"]}"#), 21);
        assert_eq!(
            json_cost_bound(br#"{"a":[1,2,"[,{:"]}"#),
            21 + 1 + 1 + 16 + 1
        );
    }

    #[test]
    fn the_bound_counts_every_byte_of_long_texts() {
        let naive = |t: &[u8]| {
            1 + t
                .iter()
                .map(|&c| match c {
                    b'{' => 16,
                    b'[' | b',' | b':' => 1,
                    _ => 0,
                })
                .sum::<u64>()
        };
        let mixed: Vec<u8> = (0..5000usize).map(|i| b"{[,:a\"}x"[i * 5 % 8]).collect();
        for text in [vec![b'{'; 1000], vec![b','; 777], mixed, Vec::new()] {
            assert_eq!(json_cost_bound(&text), naive(&text));
        }
    }

    #[test]
    fn a_deferred_charge_never_lets_more_through() {
        let json = br#"{"a":[1,2]}"#; // exact 20, bound 20
        let b = NodeBudget::new(20);
        assert!(b.charge_or_defer(json).unwrap());
        assert_eq!(b.left.get(), 20, "nothing taken while deferred");
        b.charge(json).unwrap();
        assert_eq!(b.left.get(), 0);
        // Over the bound, the exact count decides, and charges.
        let b = NodeBudget::new(19);
        assert!(b.charge_or_defer(json).is_err());
        let b = NodeBudget::new(21);
        let s = br#"{"a":"{{{{"}"#; // exact 18, bound 82
        assert!(!b.charge_or_defer(s).unwrap());
        assert_eq!(b.left.get(), 3);
    }
}
