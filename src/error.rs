//! The crate's one error type, its kinds, and the HTTP status each maps to.

use std::borrow::Cow;
use std::fmt;

use http::StatusCode;

/// A `Result` whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong while receiving a webhook.
///
/// An `Error` is one pointer wide. Its [`kind`](Error::kind) says what happened and carries only
/// non-secret context (field names, limits, ages in seconds); its [`status`](Error::status) is
/// the HTTP status to answer Mailgun with, following the policy in the crate docs.
///
/// Messages never contain a signing key, a computed MAC or bytes of the request body, so an
/// `Error` is safe to log and to return in a response.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    source: Option<BoxError>,
    /// The response body a handler chose ([`HandlerError::with_body`](crate::HandlerError::with_body)).
    body: Option<&'static str>,
}

impl Error {
    /// Creates an error of the given kind.
    pub fn new(kind: ErrorKind) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                source: None,
                body: None,
            }),
        }
    }

    /// Creates an error of the given kind with an underlying cause, reachable through
    /// [`std::error::Error::source`].
    pub fn with_source(
        kind: ErrorKind,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                source: Some(source.into()),
                body: None,
            }),
        }
    }

    /// Sets the response body to answer with instead of the kind's [`name`](Self::name): see
    /// [`HandlerError::with_body`](crate::HandlerError::with_body).
    #[must_use]
    pub fn with_body(mut self, body: &'static str) -> Self {
        self.inner.body = Some(body);
        self
    }

    /// The body to answer the request with: the one a handler chose
    /// ([`HandlerError::with_body`](crate::HandlerError::with_body)), or else the kind's stable
    /// [`name`](Self::name). Never a message, a key or a byte of the request.
    pub fn response_body(&self) -> &'static str {
        self.inner.body.unwrap_or_else(|| self.name())
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.inner.kind
    }

    /// Consumes the error, returning its kind.
    pub fn into_kind(self) -> ErrorKind {
        self.inner.kind
    }

    /// The HTTP status to answer the request with. See [`ErrorKind::status`].
    pub fn status(&self) -> StatusCode {
        self.inner.kind.status()
    }

    /// The pipeline stage that failed.
    pub fn stage(&self) -> Stage {
        self.inner.kind.stage()
    }

    /// A stable `snake_case` name for the kind, for logs, metrics and JSON output.
    pub fn name(&self) -> &'static str {
        self.inner.kind.name()
    }

    /// True when a later attempt of the same delivery can succeed without any change on either
    /// side: the replay store was unavailable or full, too many bytes were being parsed at
    /// once, the delivery is still in flight, or the
    /// handler failed (its reservation was released, so Mailgun's retry runs it again).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.inner.kind,
            ErrorKind::InFlight
                | ErrorKind::Overloaded { .. }
                | ErrorKind::StoreUnavailable
                | ErrorKind::StoreFull
                | ErrorKind::SignedBeforeEpoch
                | ErrorKind::Handler
        )
    }

    /// True for a failure of the signature itself: a mismatch, or a timestamp outside the
    /// freshness window.
    pub fn is_signature(&self) -> bool {
        self.stage() == Stage::Verify
    }

    /// True when a configured limit was exceeded.
    pub fn is_limit(&self) -> bool {
        matches!(self.inner.kind, ErrorKind::LimitExceeded { .. })
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.inner.kind);
        if let Some(source) = &self.inner.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner.kind, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error::new(kind)
    }
}

/// The stage of the receiving pipeline an error comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Stage {
    /// Reading the request: content type, encoding, size limits.
    Request,
    /// Parsing the body and extracting the signature fields (before authentication).
    Parse,
    /// Checking the signature and its freshness.
    Verify,
    /// Checking and recording the delivery in the replay store.
    Replay,
    /// The application's own handler, or missing configuration.
    Application,
}

impl Stage {
    /// `request`, `parse`, `verify`, `replay` or `application`: a stable name for logs and
    /// metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Request => "request",
            Stage::Parse => "parse",
            Stage::Verify => "verify",
            Stage::Replay => "replay",
            Stage::Application => "application",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which limit of [`Limits`](crate::Limits) was exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Limit {
    /// The whole request body.
    Body,
    /// The body of a JSON request.
    JsonBody,
    /// Nesting depth of a JSON body.
    JsonDepth,
    /// One text (non-file) field.
    TextField,
    /// One file part (attachment).
    File,
    /// The number of file parts.
    Files,
    /// The number of parts of a multipart body, or of pairs of a urlencoded body.
    Parts,
    /// The header block of one multipart part.
    PartHeaders,
    /// The length of a field name.
    FieldName,
    /// Nesting depth of a MIME message (multiparts and attached messages).
    MimeDepth,
    /// The number of parts of a MIME message, or its structure's estimated size.
    MimeParts,
    /// The node budget of the typed parse: how much JSON one request may decode.
    JsonNodes,
}

impl Limit {
    /// A short lowercase description, as used in error messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Body => "request body",
            Limit::JsonBody => "JSON body",
            Limit::JsonDepth => "JSON nesting depth",
            Limit::TextField => "text field",
            Limit::File => "file part",
            Limit::Files => "number of file parts",
            Limit::Parts => "number of fields",
            Limit::PartHeaders => "part header block",
            Limit::FieldName => "field name",
            Limit::MimeDepth => "MIME nesting depth",
            Limit::MimeParts => "number of MIME parts",
            Limit::JsonNodes => "JSON node budget",
        }
    }

    /// The name of the [`Limits`](crate::Limits) setter that raises this limit.
    pub fn setter(self) -> &'static str {
        match self {
            Limit::Body => "body",
            Limit::JsonBody => "json_body",
            Limit::JsonDepth => "json_depth",
            Limit::TextField => "text_field",
            Limit::File => "file",
            Limit::Files => "files",
            Limit::Parts => "parts",
            Limit::PartHeaders => "part_headers",
            Limit::FieldName => "field_name",
            Limit::MimeDepth => "mime_depth",
            Limit::MimeParts => "mime_parts",
            Limit::JsonNodes => "json_nodes",
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of a request body, as far as which endpoint it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PayloadKind {
    /// A tracking event (current JSON or legacy form).
    Event,
    /// An inbound message posted by a route's `forward()` action.
    Inbound,
    /// A notification posted by a route's `store(notify=...)` action.
    Stored,
}

impl PayloadKind {
    /// `"event"`, `"inbound"` or `"stored"`.
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadKind::Event => "event",
            PayloadKind::Inbound => "inbound",
            PayloadKind::Stored => "stored",
        }
    }
}

impl fmt::Display for PayloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What went wrong, grouped by pipeline [`Stage`].
///
/// Each kind carries only context that is safe to log: static field names, configured limits,
/// and ages in seconds. Nothing here quotes the request body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    // ----- Stage::Request -----
    /// The `Content-Type` is not one Mailgun sends (JSON, urlencoded or multipart form data).
    #[error(
        "unsupported content type: Mailgun posts application/json, \
         application/x-www-form-urlencoded or multipart/form-data"
    )]
    UnsupportedContentType,
    /// The body has a `Content-Encoding` other than `identity`.
    #[error("unsupported content encoding: only identity (uncompressed) bodies are accepted")]
    UnsupportedContentEncoding,
    /// The bytes being parsed at once across requests are at their budget
    /// ([`Limits::in_flight`](crate::Limits::in_flight)); the request is refused at once
    /// rather than queueing memory. Mailgun retries it.
    #[error("overloaded: {limit} bytes are being parsed already (Limits::in_flight); retry later")]
    Overloaded {
        /// The configured budget, in bytes.
        limit: u64,
    },
    /// A size or count limit was exceeded. Raise it with the named [`Limits`](crate::Limits)
    /// setter if the request is legitimate.
    #[error("{what} is over its limit of {limit} (raise it with Limits::{setter})", setter = what.setter())]
    LimitExceeded {
        /// Which limit.
        what: Limit,
        /// The configured value: bytes, or a count for `Files`, `Parts` and `JsonDepth`.
        limit: u64,
    },

    // ----- Stage::Parse -----
    /// The body could not be parsed in its declared encoding.
    #[error("malformed body: {what}")]
    Malformed {
        /// What is wrong, without quoting the body.
        what: Cow<'static, str>,
    },
    /// A required field is absent or empty.
    #[error("missing field `{field}`")]
    MissingField {
        /// The field's name as Mailgun spells it.
        field: &'static str,
    },
    /// A security-relevant field appears more than once where that is ambiguous.
    #[error("duplicate field `{field}`: the request is ambiguous")]
    DuplicateField {
        /// The field's name as Mailgun spells it.
        field: &'static str,
    },
    /// The signature timestamp is not 1 to 12 ASCII digits.
    #[error("bad signature timestamp: expected 1 to 12 ASCII digits (unix seconds)")]
    BadTimestamp,
    /// The token is too long, or has characters other than visible ASCII (Mailgun sends 50
    /// letters and digits).
    #[error("bad signature token: expected 1 to 256 visible ASCII characters")]
    BadToken,
    /// The signature is not 64 lowercase hexadecimal characters.
    #[error("bad signature format: expected 64 lowercase hex characters")]
    BadSignatureFormat,
    /// The body is a different kind of payload than this endpoint receives, which usually means
    /// the Mailgun webhook or route points at the wrong URL.
    #[error(
        "expected {expected} payload but the body is {found}: check which URL the Mailgun \
         webhook or route posts to"
    )]
    WrongEndpoint {
        /// What the endpoint receives.
        expected: PayloadKind,
        /// What the body is.
        found: PayloadKind,
    },
    /// The message's user variables do not deserialize into the type the application asked for
    /// ([`UserVariables::deserialize`](crate::UserVariables::deserialize)).
    ///
    /// Carries the path of the offending field (`order.items[2].sku`) and what was wrong with
    /// it, but never a value: the message names the JSON type found (`string`, `integer`, ...)
    /// and the type expected, and a map's keys (data, not field names) show as `[_]`.
    ///
    /// Its own status is 400, like a malformed body, so that Mailgun keeps retrying while a
    /// fix of the type on the receiving side can still recover the delivery. Returned with `?`
    /// from a handler it becomes a retryable [`HandlerError`](crate::HandlerError) (500, body
    /// `user_variables`): right when the type is yours to fix. When a mismatch means the
    /// message can never fit (variables set by another sender, or by a version of your sending
    /// code that no longer exists), reject it instead, which answers 406 and stops the
    /// retries: `vars.deserialize::<T>().map_err(HandlerError::reject)?`.
    #[error(
        "user variables do not match the requested type{}{}: {problem}",
        if path.is_empty() { "" } else { " at " },
        path
    )]
    UserVariables {
        /// Where in the variables: field names, `[index]` for arrays and `[_]` for a map's
        /// keys; empty for the variables as a whole.
        path: String,
        /// What is wrong, without the value: `invalid type: string, expected u32`.
        problem: String,
    },

    // ----- Stage::Verify -----
    /// No configured key produced the signature.
    #[error(
        "signature mismatch: check that the verifier uses the webhook signing key \
         (Mailgun dashboard, Webhooks > HTTP webhook signing key), not the API key"
    )]
    SignatureMismatch,
    /// The signed timestamp is older than the freshness window allows.
    #[error("stale signature: signed {age} s ago, more than max_age of {max_age} s")]
    Stale {
        /// Seconds between the signed timestamp and now.
        age: u64,
        /// The configured `max_age`, in seconds.
        max_age: u64,
    },
    /// The signed timestamp is further in the future than the allowed clock skew.
    #[error(
        "signature timestamp {ahead} s in the future, more than max_skew of {max_skew} s \
         (check this host's clock)"
    )]
    FromFuture {
        /// Seconds between now and the signed timestamp.
        ahead: u64,
        /// The configured `max_skew`, in seconds.
        max_skew: u64,
    },

    // ----- Stage::Replay -----
    /// The same signed delivery is being processed right now; Mailgun's retry will find it
    /// committed.
    #[error("delivery already in flight: the same signed delivery is being processed")]
    InFlight,
    /// The in-memory replay store is at capacity; the delivery is refused rather than evicting
    /// live records.
    #[error("replay store full: refusing the delivery rather than evicting live records")]
    StoreFull,
    /// The replay store could not be reached; the delivery is refused (fail closed).
    #[error("replay store unavailable: refusing the delivery (fail closed)")]
    StoreUnavailable,
    // issue 8: payload binding and store loss.
    /// The signed triple is on record with another payload: the request reuses a delivery's
    /// signature with a body of its own (Mailgun's signature does not cover the body). Never
    /// handed to a handler.
    #[error(
        "payload mismatch: this signature was already used with another payload (a forged or \
         altered body)"
    )]
    PayloadMismatch,
    /// The delivery was signed before the replay store's epoch (the store lost records since, or
    /// this account's namespace is new to it), so it cannot be proven unseen; refused under
    /// [`LossPolicy::FailClosed`](crate::LossPolicy::FailClosed) until its signature is stale.
    #[error(
        "delivery signed before the replay store's epoch: the store cannot prove it unseen \
         (records were lost), refusing it (fail closed)"
    )]
    SignedBeforeEpoch,

    // ----- Stage::Application -----
    /// The application's handler failed; the delivery was released so that Mailgun's retry is
    /// processed.
    #[error("webhook handler failed")]
    Handler,
    /// The application rejected the delivery for good (Mailgun stops retrying on 406).
    #[error("rejected by the application")]
    Rejected,
    /// The verifier or replay store is not configured where the request was handled.
    #[error("webhook receiver not configured: {what}")]
    NotConfigured {
        /// What is missing.
        what: &'static str,
    },
}

impl ErrorKind {
    /// The pipeline stage this kind belongs to.
    pub fn stage(&self) -> Stage {
        use ErrorKind::*;
        match self {
            UnsupportedContentType
            | UnsupportedContentEncoding
            | LimitExceeded { .. }
            | Overloaded { .. } => Stage::Request,
            Malformed { .. }
            | MissingField { .. }
            | DuplicateField { .. }
            | BadTimestamp
            | BadToken
            | BadSignatureFormat
            | WrongEndpoint { .. }
            | UserVariables { .. } => Stage::Parse,
            SignatureMismatch | Stale { .. } | FromFuture { .. } => Stage::Verify,
            InFlight | StoreFull | StoreUnavailable | PayloadMismatch | SignedBeforeEpoch => {
                Stage::Replay
            }
            Handler | Rejected | NotConfigured { .. } => Stage::Application,
        }
    }

    /// The HTTP status to answer with.
    ///
    /// | kinds | status |
    /// |---|---|
    /// | malformed body, missing or ill-formed signature fields, wrong endpoint, user variables that do not fit the requested type | 400 |
    /// | signature mismatch, stale or future timestamp, payload mismatch (a signature reused with another body) | 401 |
    /// | delivery still in flight | 409 |
    /// | a limit exceeded | 413 |
    /// | unsupported content type or encoding | 415 |
    /// | application rejected the delivery | 406 |
    /// | handler failed, receiver not configured | 500 |
    /// | replay store unavailable or full, delivery signed before the store's epoch, too many bytes being parsed at once | 503 |
    ///
    /// Mailgun retries every status except 200 and 406 for about 8 hours, so every failure that
    /// a fix on the receiving side could cure (a wrong key, a parser bug, an outage) keeps the
    /// event queued at Mailgun. Only [`ErrorKind::Rejected`], the application's explicit choice,
    /// answers 406.
    pub fn status(&self) -> StatusCode {
        use ErrorKind::*;
        match self {
            Malformed { .. }
            | MissingField { .. }
            | DuplicateField { .. }
            | BadTimestamp
            | BadToken
            | BadSignatureFormat
            | WrongEndpoint { .. }
            | UserVariables { .. } => StatusCode::BAD_REQUEST,
            SignatureMismatch | Stale { .. } | FromFuture { .. } | PayloadMismatch => {
                StatusCode::UNAUTHORIZED
            }
            InFlight => StatusCode::CONFLICT,
            LimitExceeded { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedContentType | UnsupportedContentEncoding => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            Rejected => StatusCode::NOT_ACCEPTABLE,
            Handler | NotConfigured { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            StoreFull | StoreUnavailable | SignedBeforeEpoch | Overloaded { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// A stable `snake_case` name, for logs, metrics and JSON output.
    pub fn name(&self) -> &'static str {
        use ErrorKind::*;
        match self {
            UnsupportedContentType => "unsupported_content_type",
            UnsupportedContentEncoding => "unsupported_content_encoding",
            LimitExceeded { .. } => "limit_exceeded",
            Overloaded { .. } => "overloaded",
            Malformed { .. } => "malformed",
            MissingField { .. } => "missing_field",
            DuplicateField { .. } => "duplicate_field",
            BadTimestamp => "bad_timestamp",
            BadToken => "bad_token",
            BadSignatureFormat => "bad_signature_format",
            WrongEndpoint { .. } => "wrong_endpoint",
            UserVariables { .. } => "user_variables",
            SignatureMismatch => "signature_mismatch",
            Stale { .. } => "stale",
            FromFuture { .. } => "from_future",
            InFlight => "in_flight",
            StoreFull => "store_full",
            StoreUnavailable => "store_unavailable",
            PayloadMismatch => "payload_mismatch",
            SignedBeforeEpoch => "signed_before_epoch",
            Handler => "handler",
            Rejected => "rejected",
            NotConfigured { .. } => "not_configured",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_one_pointer_wide() {
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
    }

    #[test]
    fn mismatch_message_names_the_signing_key() {
        let msg = Error::new(ErrorKind::SignatureMismatch).to_string();
        assert!(msg.contains("webhook signing key"), "{msg}");
        assert!(msg.contains("not the API key"), "{msg}");
    }

    #[test]
    fn limit_message_names_limit_and_setter() {
        let msg = Error::new(ErrorKind::LimitExceeded {
            what: Limit::TextField,
            limit: 8,
        })
        .to_string();
        assert_eq!(
            msg,
            "text field is over its limit of 8 (raise it with Limits::text_field)"
        );
    }

    #[test]
    fn statuses_follow_the_policy() {
        use ErrorKind::*;
        let cases = [
            (Malformed { what: "x".into() }, 400),
            (MissingField { field: "token" }, 400),
            (
                UserVariables {
                    path: "a".into(),
                    problem: "b".into(),
                },
                400,
            ),
            (BadSignatureFormat, 400),
            (SignatureMismatch, 401),
            (Stale { age: 1, max_age: 0 }, 401),
            (
                FromFuture {
                    ahead: 1,
                    max_skew: 0,
                },
                401,
            ),
            (InFlight, 409),
            (
                LimitExceeded {
                    what: Limit::Body,
                    limit: 1,
                },
                413,
            ),
            (UnsupportedContentType, 415),
            (Rejected, 406),
            (Handler, 500),
            (NotConfigured { what: "verifier" }, 500),
            (StoreUnavailable, 503),
            (StoreFull, 503),
            (PayloadMismatch, 401),
            (SignedBeforeEpoch, 503),
            (Overloaded { limit: 1 }, 503),
        ];
        for (kind, status) in cases {
            assert_eq!(kind.status().as_u16(), status, "{kind:?}");
        }
    }
}
