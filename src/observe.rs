//! What the crate tells the application's `tracing` subscriber (feature `tracing`) about each
//! delivery. Without that feature every function here is a no-op that the compiler removes.
//!
//! Recorded: the format, payload kind, event kind, matched key id, outcome, status, error kind
//! name and duration. Never recorded: an email address, subject, body, user variable, token,
//! signature, header or the handler's own error (its text can quote any of those).

use std::future::Future;
use std::time::Instant;

#[cfg(feature = "tracing")]
use crate::error::ErrorKind;
use crate::error::PayloadKind;
use crate::error::{Error, Result};
use crate::event::EventKind;
use crate::verify::Verified;

/// The target of every span and event this crate emits.
#[cfg(feature = "tracing")]
pub(crate) const TARGET: &str = "mailgun_webhooks";

/// One delivery being received: its span and its start time.
#[derive(Debug)]
pub(crate) struct Delivery {
    start: Instant,
    #[cfg(feature = "tracing")]
    span: tracing::Span,
    /// What was verified, and which key matched (set once verified).
    #[cfg(feature = "metrics")]
    shape: std::sync::OnceLock<(Shape, &'static str)>,
    /// What the payload turned out to be, when it was decoded after [`verified`](Self::verified)
    /// was recorded (the adapters' path).
    #[cfg(feature = "metrics")]
    kinds: std::sync::OnceLock<(&'static str, Option<&'static str>)>,
}

/// What the payload of a verified delivery is, without any of its content.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(any(feature = "tracing", feature = "metrics")), allow(dead_code))]
pub(crate) struct Shape {
    pub(crate) format: &'static str,
    pub(crate) payload_kind: &'static str,
    pub(crate) event_kind: Option<&'static str>,
}

impl Shape {
    #[cfg_attr(not(any(feature = "tracing", feature = "metrics")), allow(dead_code))]
    pub(crate) fn of<P>(verified: &Verified<P>) -> Shape {
        let (payload_kind, event_kind) = match verified.kinds() {
            Some((payload, event)) => (payload.as_str(), event.map(EventKind::as_str)),
            None => ("unknown", None),
        };
        Shape {
            format: verified.format().as_str(),
            payload_kind,
            event_kind,
        }
    }
}

impl Delivery {
    /// Opens the delivery's span (`mailgun_webhooks.delivery`).
    pub(crate) fn start() -> Delivery {
        Delivery {
            start: Instant::now(),
            #[cfg(feature = "tracing")]
            span: tracing::info_span!(
                target: TARGET,
                "mailgun_webhooks.delivery",
                format = tracing::field::Empty,
                payload_kind = tracing::field::Empty,
                event_kind = tracing::field::Empty,
                key_id = tracing::field::Empty,
                outcome = tracing::field::Empty,
                status = tracing::field::Empty,
                error_kind = tracing::field::Empty,
                duration_ms = tracing::field::Empty,
            ),
            #[cfg(feature = "metrics")]
            shape: std::sync::OnceLock::new(),
            #[cfg(feature = "metrics")]
            kinds: std::sync::OnceLock::new(),
        }
    }

    /// Records what was verified: format, payload kind, event kind and matched key.
    #[cfg_attr(
        not(any(feature = "tracing", feature = "metrics")),
        allow(unused_variables)
    )]
    pub(crate) fn verified<P>(&self, verified: &Verified<P>) {
        #[cfg(feature = "metrics")]
        {
            let key = match verified.matched_key() {
                crate::KeyId::Primary => "primary",
                crate::KeyId::Previous(_) => "previous",
                crate::KeyId::Parent => "parent",
            };
            let _ = self.shape.set((Shape::of(verified), key));
            let now = crate::verify::unix_secs(std::time::SystemTime::now());
            // Seconds between the signed timestamp and now (negative: signed in the future).
            let age = now as f64 - verified.timestamp() as f64;
            metrics::histogram!("mailgun_webhooks_signature_age_seconds").record(age);
        }
        #[cfg(feature = "tracing")]
        {
            let shape = Shape::of(verified);
            self.span.record("format", shape.format);
            if verified.kinds().is_some() {
                self.span.record("payload_kind", shape.payload_kind);
            }
            if let Some(kind) = shape.event_kind {
                self.span.record("event_kind", kind);
            }
            self.span
                .record("key_id", tracing::field::display(verified.matched_key()));
        }
    }

    /// Records what the payload is, once decoded after [`verified`](Self::verified).
    #[cfg_attr(
        not(any(feature = "tracing", feature = "metrics")),
        allow(unused_variables)
    )]
    #[cfg_attr(
        not(any(
            feature = "axum",
            feature = "actix-web",
            feature = "hyper",
            feature = "tower"
        )),
        allow(dead_code)
    )]
    pub(crate) fn payload(&self, payload: PayloadKind, event: Option<EventKind>) {
        #[cfg(feature = "metrics")]
        {
            let _ = self
                .kinds
                .set((payload.as_str(), event.map(EventKind::as_str)));
        }
        #[cfg(feature = "tracing")]
        {
            self.span.record("payload_kind", payload.as_str());
            if let Some(kind) = event {
                self.span.record("event_kind", kind.as_str());
            }
        }
    }

    /// Runs `future` inside the delivery's span.
    pub(crate) fn instrument<F: Future>(
        &self,
        future: F,
    ) -> impl Future<Output = F::Output> + use<F> {
        #[cfg(feature = "tracing")]
        {
            tracing::Instrument::instrument(future, self.span.clone())
        }
        #[cfg(not(feature = "tracing"))]
        {
            future
        }
    }

    /// Records how the delivery ended and emits one event at the level the outcome deserves:
    /// `outcome` is `"processed"`, `"processed_unproven"` or `"duplicate"` on success.
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    pub(crate) fn finish(self, result: std::result::Result<&'static str, &Error>) {
        self.finish_answered(result, None);
    }

    /// [`finish`](Self::finish) for a delivery whose answer is not the one the outcome implies
    /// (the tower layer passes the inner service's own status on): `answered` is logged as the
    /// delivery's `status`.
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    pub(crate) fn finish_answered(
        self,
        result: std::result::Result<&'static str, &Error>,
        answered: Option<u16>,
    ) {
        let elapsed = self.start.elapsed();
        #[cfg(feature = "metrics")]
        {
            let (outcome, error_kind) = match result {
                Ok(outcome) => (outcome, "none"),
                Err(e) => ("error", e.name()),
            };
            let shape = self.shape.get();
            let (payload_kind, event_kind) = match self.kinds.get() {
                Some(kinds) => *kinds,
                None => (
                    shape.map_or("unknown", |(s, _)| s.payload_kind),
                    shape.and_then(|(s, _)| s.event_kind),
                ),
            };
            metrics::counter!(
                "mailgun_webhooks_deliveries_total",
                "outcome" => outcome,
                "error_kind" => error_kind,
                "payload_kind" => payload_kind,
                "event_kind" => event_kind.unwrap_or("none"),
                "format" => shape.map_or("unknown", |(s, _)| s.format),
                "key" => shape.map_or("none", |(_, k)| *k),
            )
            .increment(1);
            metrics::histogram!("mailgun_webhooks_delivery_seconds").record(elapsed.as_secs_f64());
        }
        #[cfg(feature = "tracing")]
        {
            let _entered = self.span.enter();
            let ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
            self.span.record("duration_ms", ms);
            match result {
                Ok(outcome) => {
                    let status = answered.unwrap_or(200);
                    self.span.record("outcome", outcome);
                    self.span.record("status", status);
                    if outcome == "duplicate" {
                        tracing::debug!(target: TARGET, outcome, status, "duplicate delivery answered 200");
                    } else {
                        tracing::info!(target: TARGET, outcome, status, "delivery processed");
                    }
                }
                Err(e) => {
                    let status = answered.unwrap_or_else(|| e.status().as_u16());
                    let kind = e.name();
                    self.span.record("outcome", "error");
                    self.span.record("status", status);
                    self.span.record("error_kind", kind);
                    match e.kind() {
                        // The kind's message is fixed text (and numbers): the signing-key hint.
                        ErrorKind::SignatureMismatch
                        | ErrorKind::Stale { .. }
                        | ErrorKind::FromFuture { .. }
                        | ErrorKind::PayloadMismatch => {
                            tracing::warn!(target: TARGET, error_kind = kind, status, "delivery refused: {}", e.kind());
                        }
                        ErrorKind::StoreUnavailable
                        | ErrorKind::StoreFull
                        | ErrorKind::SignedBeforeEpoch => {
                            tracing::error!(target: TARGET, error_kind = kind, status, "replay store failed; Mailgun will retry");
                        }
                        ErrorKind::Handler | ErrorKind::NotConfigured { .. } => {
                            // The handler's error is not logged: its text is the application's
                            // and can quote the payload. Log it in the handler if you need it.
                            tracing::warn!(target: TARGET, error_kind = kind, status, "handler failed; delivery released for Mailgun's retry");
                        }
                        _ => {
                            tracing::info!(target: TARGET, error_kind = kind, status, "delivery refused");
                        }
                    }
                }
            }
        }
    }
}

/// Runs one replay-store call and, with the feature `metrics`, records how long it took in
/// `mailgun_webhooks_replay_store_seconds` with labels `op` (`reserve`, `commit`, `release`) and
/// `result` (what `result_of` names). A call whose future is dropped records nothing.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) async fn store_call<T>(
    op: &'static str,
    call: impl Future<Output = Result<T>>,
    result_of: fn(&T) -> &'static str,
) -> Result<T> {
    #[cfg(feature = "metrics")]
    {
        let start = Instant::now();
        let result = call.await;
        let label = match &result {
            Ok(value) => result_of(value),
            Err(e) => e.name(),
        };
        metrics::histogram!(
            "mailgun_webhooks_replay_store_seconds",
            "op" => op,
            "result" => label,
        )
        .record(start.elapsed().as_secs_f64());
        result
    }
    #[cfg(not(feature = "metrics"))]
    {
        call.await
    }
}

/// Counts a reservation abandoned by a dropped guard (`mailgun_webhooks_replay_store_abandoned_total`).
pub(crate) fn store_abandoned() {
    #[cfg(feature = "metrics")]
    metrics::counter!("mailgun_webhooks_replay_store_abandoned_total").increment(1);
}
