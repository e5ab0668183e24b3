//! The one-call pipeline: parse, verify, reserve, run the handler, then commit or release.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use http::StatusCode;

use crate::error::{Error, ErrorKind, Result};
use crate::parse::Payload;
use crate::replay::{
    MemoryReplayStore, PayloadDigest, ReplayClaim, ReplayNamespace, ReplayOutcome, ReplayStore,
    Reservation,
};
use crate::verify::{Verified, Verifier};

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Receives Mailgun deliveries: parse, verify, reserve in the replay store, run your handler,
/// then commit (or release when the handler failed).
///
/// ```
/// use http::StatusCode;
/// use mailgun_webhooks::{Event, HandlerError, MemoryReplayStore, Payload, Receiver,
///                        SigningKey, Verifier};
///
/// async fn webhook(receiver: &Receiver, content_type: &str, body: &[u8]) -> StatusCode {
///     let result = receiver
///         .receive(content_type, body, |verified| async move {
///             if let Payload::Event(Event::Delivered(data)) = verified.payload() {
///                 println!("delivered to {:?}", data.recipient);
///             }
///             Ok::<_, HandlerError>(())
///         })
///         .await;
///     // 200 when processed or a duplicate of a processed delivery; otherwise the error's
///     // status: 400, 401, 409, 413, 415, 500, 503, or 406 if the handler rejected it.
///     match result {
///         Ok(outcome) => outcome.status(),
///         Err(e) => e.status(),
///     }
/// }
///
/// let receiver = Receiver::new(
///     Verifier::new(SigningKey::new("your-webhook-signing-key")),
///     MemoryReplayStore::new(),
/// );
/// # let _ = webhook(&receiver, "application/json", b"{}");
/// ```
///
/// # What each outcome answers
///
/// | outcome | result | status |
/// |---|---|---|
/// | first delivery, handler succeeded | `Ok(Outcome::Processed(value))`, committed | 200 |
/// | duplicate of a committed delivery | `Ok(Outcome::Duplicate)`, handler not run | 200 |
/// | same delivery still being processed | `Err`, [`ErrorKind::InFlight`] | 409 |
/// | the signed triple is on record with another payload (a forged body) | `Err`, [`ErrorKind::PayloadMismatch`], handler not run | 401 |
/// | signed before the store's epoch, store fails closed | `Err`, [`ErrorKind::SignedBeforeEpoch`], handler not run | 503 |
/// | signed before the store's epoch, store accepts | `Ok(Outcome::ProcessedUnproven(value))`, committed | 200 |
/// | handler returned an error (or panicked) | `Err`, [`ErrorKind::Handler`], released (bound to this payload) | 500 |
/// | handler rejected it ([`HandlerError::reject`]) | `Err`, [`ErrorKind::Rejected`], committed | 406 |
/// | replay store unreachable or full | `Err`, [`ErrorKind::StoreUnavailable`] / [`ErrorKind::StoreFull`] | 503 |
/// | parse or verification failed | `Err`, the stage's error; the store is not touched | 400, 401, 413, 415 |
///
/// Mailgun retries everything but 200 and 406 for about 8 hours, so a failed handler's delivery
/// comes back, finds its reservation released, and is processed (the same payload, whatever its
/// framing: see [`PayloadDigest`]); a processed one comes back only if our 200 was lost, and is
/// acknowledged without running the handler again. The same signature with any other payload
/// is refused (401) from the first reservation on, whatever happened to it since.
///
/// # Cancellation
///
/// `receive` runs the handler inside the returned future. If that future is dropped (the client
/// hung up and the server dropped the request), the handler stops at its current `.await`, and
/// the reservation is abandoned: the record stays bound to this payload (released at once by
/// [`MemoryReplayStore`], after the pending lifetime by other stores), so Mailgun's retry of
/// the same payload is processed again from the start, and nothing else ever is. Make the
/// handler idempotent, or use a framework adapter, whose `process` runs the handler to
/// completion on its own task.
///
/// # Account namespace
///
/// Records are kept in the namespace of the verifier's key ring
/// ([`Verifier::replay_namespace`]): receivers of different Mailgun accounts can share one store.
/// A multi-tenant service, or one that rotates keys, names the namespace with
/// [`with_namespace`](Self::with_namespace); see [`ReplayNamespace`].
///
/// If the handler succeeded but the commit then fails (the store became unreachable), the result
/// is that store error (503): Mailgun retries, and the handler may run a second time once the
/// pending reservation expires. This prefers running a handler twice, which idempotent handlers
/// absorb, to answering 200 for a delivery whose signature is not recorded and could be
/// replayed with another body.
///
/// # Pieces for framework adapters
///
/// [`admit`](Self::admit) runs parse, verify and reserve and hands back an [`Admitted`]
/// delivery to commit or release later, for frameworks where the handler runs after an
/// extractor. [`receive_verified`](Self::receive_verified) starts from a value you verified
/// yourself.
///
/// A receiver is cheap to clone when its store is (the crate's stores are handles).
#[derive(Debug, Clone)]
pub struct Receiver<S = MemoryReplayStore> {
    verifier: Verifier,
    store: S,
    namespace: ReplayNamespace,
}

impl<S: ReplayStore> Receiver<S> {
    /// A receiver that verifies with `verifier` and records deliveries in `store`, in the
    /// namespace of the verifier's key ring.
    pub fn new(verifier: Verifier, store: S) -> Self {
        let namespace = verifier.replay_namespace();
        Receiver {
            verifier,
            store,
            namespace,
        }
    }

    /// Records deliveries in `namespace` instead of the key ring's: use the same one on every
    /// receiver of one account, a different one per account. See [`ReplayNamespace`].
    #[must_use]
    pub fn with_namespace(mut self, namespace: ReplayNamespace) -> Self {
        self.namespace = namespace;
        self
    }

    /// The namespace of this receiver's records.
    pub fn namespace(&self) -> &ReplayNamespace {
        &self.namespace
    }

    /// The claim this receiver makes in its store for a verified delivery whose payload has
    /// digest `digest`.
    pub fn claim<P>(&self, verified: &Verified<P>, digest: PayloadDigest) -> ReplayClaim {
        ReplayClaim::new(verified, self.namespace, digest, self.verifier.max_skew())
    }

    /// Parses and verifies a request and computes its payload digest (after the signature
    /// verified).
    pub fn verify_request(
        &self,
        content_type: &str,
        body: &[u8],
    ) -> Result<(Verified<Payload>, PayloadDigest)> {
        let verified = self.verifier.parse_and_verify(content_type, body)?;
        let digest = PayloadDigest::compute(content_type, body, self.verifier.limits())?;
        Ok((verified, digest))
    }

    /// The verifier.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// The replay store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Parses and verifies a request, then runs `handler` on it once: see the
    /// [type docs](Self) for what each outcome means.
    ///
    /// The handler gets the verified payload by value. Its error type converts into a
    /// [`HandlerError`]: any `std::error::Error + Send + Sync`, a `String`, a `&str`, or an
    /// explicit [`HandlerError::reject`] to answer 406 and stop Mailgun's retries. A panic in the
    /// handler is caught and treated as a handler error.
    pub async fn receive<F, Fut, T, E>(
        &self,
        content_type: &str,
        body: &[u8],
        handler: F,
    ) -> Result<Outcome<T>>
    where
        F: FnOnce(Verified<Payload>) -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
        E: Into<HandlerError>,
    {
        let delivery = crate::observe::Delivery::start();
        let result = delivery
            .instrument(async {
                let (verified, digest) = self.verify_request(content_type, body)?;
                delivery.verified(&verified);
                self.receive_verified(verified, digest, handler).await
            })
            .await;
        delivery.finish(match &result {
            Ok(outcome) => Ok(outcome.name()),
            Err(e) => Err(e),
        });
        result
    }

    /// Like [`receive`](Self::receive), for a delivery you parsed and verified yourself (for
    /// example with a typed payload, or one verified with [`Verifier::verify_at`]), whose body
    /// has digest `digest` ([`PayloadDigest::compute`]).
    pub async fn receive_verified<P, F, Fut, T, E>(
        &self,
        verified: Verified<P>,
        digest: PayloadDigest,
        handler: F,
    ) -> Result<Outcome<T>>
    where
        F: FnOnce(Verified<P>) -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
        E: Into<HandlerError>,
    {
        // Dropped here: nothing reserved, or (a store whose reply was lost) a pending record
        // bound to this payload that behaves as released after the pending lifetime.
        let claim = self.claim(&verified, digest);
        let admitted = match reserve(&self.store, &claim).await? {
            ReplayOutcome::Fresh(reservation) => Admitted {
                verified,
                guard: ReservationGuard::new(&self.store, reservation),
            },
            other => return refused(other).map(|()| Outcome::Duplicate),
        };
        let unproven = admitted.is_unproven();
        // Dropped here: the guard abandons the reservation, still bound to this payload.
        let value = admitted.process(handler).await?;
        Ok(if unproven {
            Outcome::ProcessedUnproven(value)
        } else {
            Outcome::Processed(value)
        })
    }

    /// Parses, verifies and reserves a request, and returns it for you to process and then
    /// [`commit`](Admitted::commit) or [`release`](Admitted::release).
    ///
    /// Answers `Ok(Admission::Duplicate(_))` for a duplicate of a committed delivery (answer
    /// 200 and do nothing), and `Err` with [`ErrorKind::InFlight`] (409) when the same delivery
    /// is being processed. The [`Admitted`] value holds a clone of the store, so it can outlive
    /// this call (the crate's stores are cheap handles; wrap your own in an `Arc`).
    pub async fn admit(&self, content_type: &str, body: &[u8]) -> Result<Admission<S>>
    where
        S: Clone,
    {
        let (verified, digest) = self.verify_request(content_type, body)?;
        self.admit_verified(verified, digest).await
    }

    /// Like [`admit`](Self::admit), for a delivery you parsed and verified yourself, whose
    /// body has digest `digest` ([`PayloadDigest::compute`]).
    pub async fn admit_verified<P>(
        &self,
        verified: Verified<P>,
        digest: PayloadDigest,
    ) -> Result<Admission<S, P>>
    where
        S: Clone,
    {
        let claim = self.claim(&verified, digest);
        match reserve(&self.store, &claim).await? {
            ReplayOutcome::Fresh(reservation) => Ok(Admission::Admitted(Admitted {
                verified,
                guard: ReservationGuard::new(self.store.clone(), reservation),
            })),
            other => refused(other).map(|()| Admission::Duplicate(verified)),
        }
    }
}

/// Reserves `claim`, timed for the `metrics` feature.
async fn reserve<S: ReplayStore>(store: &S, claim: &ReplayClaim) -> Result<ReplayOutcome> {
    crate::observe::store_call("reserve", store.reserve(claim), |outcome| match outcome {
        ReplayOutcome::Fresh(r) if r.is_unproven() => "fresh_unproven",
        ReplayOutcome::Fresh(_) => "fresh",
        ReplayOutcome::Duplicate => "duplicate",
        ReplayOutcome::InFlight => "in_flight",
        ReplayOutcome::PayloadMismatch => "payload_mismatch",
    })
    .await
}

/// What a non-fresh reserve answers: `Ok(())` for a duplicate of a committed delivery, the
/// error to answer otherwise.
fn refused(outcome: ReplayOutcome) -> Result<()> {
    match outcome {
        ReplayOutcome::Duplicate => Ok(()),
        ReplayOutcome::InFlight => Err(ErrorKind::InFlight.into()),
        ReplayOutcome::PayloadMismatch => Err(ErrorKind::PayloadMismatch.into()),
        // A store that answered `Fresh`, or an outcome this version does not know: fail closed.
        _ => Err(ErrorKind::StoreUnavailable.into()),
    }
}

/// What [`Receiver::receive`] did with a delivery. Both answer 200.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
#[non_exhaustive]
pub enum Outcome<T> {
    /// The handler ran and succeeded, and the delivery is committed. Holds the handler's value.
    Processed(T),
    /// Like `Processed`, but the store could not prove the delivery unseen: it was signed
    /// before the store's epoch (the store lost records, or restarted) and the store's
    /// [`LossPolicy`](crate::LossPolicy) is `Accept`. It may be a replay of a delivery
    /// processed before the loss, possibly with another body; log it.
    ProcessedUnproven(T),
    /// A duplicate of a committed delivery: the handler did not run.
    Duplicate,
}

impl<T> Outcome<T> {
    /// The status to answer Mailgun with: 200, which stops its retries.
    pub fn status(&self) -> StatusCode {
        StatusCode::OK
    }

    /// `"processed"`, `"processed_unproven"` or `"duplicate"`: a stable name for logs and
    /// metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Processed(_) => "processed",
            Outcome::ProcessedUnproven(_) => "processed_unproven",
            Outcome::Duplicate => "duplicate",
        }
    }

    /// True for [`Outcome::Duplicate`].
    pub fn is_duplicate(&self) -> bool {
        matches!(self, Outcome::Duplicate)
    }

    /// True for [`Outcome::ProcessedUnproven`].
    pub fn is_unproven(&self) -> bool {
        matches!(self, Outcome::ProcessedUnproven(_))
    }

    /// The handler's value, if it ran.
    pub fn into_processed(self) -> Option<T> {
        match self {
            Outcome::Processed(v) | Outcome::ProcessedUnproven(v) => Some(v),
            Outcome::Duplicate => None,
        }
    }
}

impl<T> fmt::Display for Outcome<T> {
    /// The outcome's [`name`](Outcome::name) (the handler's value is not shown).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error a handler returns to [`Receiver::receive`]: retry later (the default), or reject
/// for good.
///
/// Anything that converts into a boxed error converts into a retryable `HandlerError` with `?`.
/// A retryable error releases the reservation and answers 500 ([`ErrorKind::Handler`]), so
/// Mailgun's retry is processed. A [`reject`](Self::reject)ion commits the delivery and answers
/// 406 ([`ErrorKind::Rejected`]), the one status that stops Mailgun retrying: use it only for a
/// delivery that no retry could ever make acceptable.
///
/// ```
/// use mailgun_webhooks::HandlerError;
///
/// fn check(recipient: &str) -> Result<(), HandlerError> {
///     if recipient.is_empty() {
///         return Err(HandlerError::reject("no recipient"));
///     }
///     let _n: u32 = "42".parse()?; // a retryable error
///     Ok(())
/// }
/// # assert!(check("").unwrap_err().is_rejection());
/// ```
///
/// # The response body
///
/// The framework adapters answer a failed delivery with a short body: the error's stable name
/// (`handler`, `rejected`), or one you choose with [`with_body`](Self::with_body). Mailgun
/// reads only the status; the body shows in its logs ("Webhook response") and to whoever reads
/// them, so it is a `&'static str`: a code from your program, never a value from the delivery.
/// An error from [`UserVariables::deserialize`](crate::UserVariables::deserialize) answers
/// `user_variables` unless you choose another.
///
/// ```
/// use mailgun_webhooks::HandlerError;
///
/// let e = HandlerError::reject("unknown customer").with_body("unknown_customer");
/// assert_eq!(e.body(), Some("unknown_customer"));
/// assert_eq!(e.into_error().response_body(), "unknown_customer");
/// ```
pub struct HandlerError {
    reject: bool,
    source: BoxError,
    body: Option<&'static str>,
}

impl HandlerError {
    /// A failure that a retry may cure: the reservation is released and Mailgun retries.
    pub fn retry(source: impl Into<BoxError>) -> Self {
        HandlerError::new(false, source.into())
    }

    /// A permanent rejection: the delivery is committed and answered 406, and Mailgun stops
    /// retrying it.
    pub fn reject(reason: impl Into<BoxError>) -> Self {
        HandlerError::new(true, reason.into())
    }

    fn new(reject: bool, source: BoxError) -> Self {
        // A crate error that says more than "handler" keeps its name as the body.
        let body = source
            .downcast_ref::<Error>()
            .filter(|e| matches!(e.kind(), ErrorKind::UserVariables { .. }))
            .map(Error::response_body);
        HandlerError {
            reject,
            source,
            body,
        }
    }

    /// Answers with `body` instead of `handler` or `rejected`: a short code from your program
    /// (`unknown_customer`, `database_unavailable`) for whoever reads Mailgun's logs. The status
    /// stays 500 (retried) or 406 (a rejection).
    #[must_use]
    pub fn with_body(mut self, body: &'static str) -> Self {
        self.body = Some(body);
        self
    }

    /// The response body chosen with [`with_body`](Self::with_body), if any.
    pub fn body(&self) -> Option<&'static str> {
        self.body
    }

    /// True for a [`reject`](Self::reject)ion.
    pub fn is_rejection(&self) -> bool {
        self.reject
    }

    /// The underlying error.
    pub fn source(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.source
    }

    /// The crate [`Error`] this becomes: [`ErrorKind::Rejected`] or [`ErrorKind::Handler`], with
    /// the underlying error as its source.
    pub fn into_error(self) -> Error {
        let kind = if self.reject {
            ErrorKind::Rejected
        } else {
            ErrorKind::Handler
        };
        let error = Error::with_source(kind, self.source);
        match self.body {
            Some(body) => error.with_body(body),
            None => error,
        }
    }
}

impl<E: Into<BoxError>> From<E> for HandlerError {
    fn from(e: E) -> Self {
        HandlerError::retry(e)
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerError")
            .field("reject", &self.reject)
            .field("source", &self.source)
            .field("body", &self.body)
            .finish()
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reject {
            write!(f, "handler rejected the delivery: {}", self.source)
        } else {
            write!(f, "handler failed: {}", self.source)
        }
    }
}

/// The handler panicked; the source of an [`ErrorKind::Handler`] error.
#[derive(Debug)]
struct HandlerPanicked;

impl fmt::Display for HandlerPanicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the handler panicked")
    }
}

impl std::error::Error for HandlerPanicked {}

/// What [`Receiver::admit`] found.
#[derive(Debug)]
#[must_use = "an admitted delivery must be committed or released"]
#[non_exhaustive]
pub enum Admission<S: ReplayStore, P = Payload> {
    /// First time: process it, then commit or release it.
    Admitted(Admitted<S, P>),
    /// A duplicate of a committed delivery: answer 200 and do nothing. Holds the verified
    /// delivery, for logging.
    Duplicate(Verified<P>),
}

impl<S: ReplayStore, P> Admission<S, P> {
    /// True for [`Admission::Duplicate`].
    pub fn is_duplicate(&self) -> bool {
        matches!(self, Admission::Duplicate(_))
    }

    /// The admitted delivery, if it is not a duplicate.
    pub fn into_admitted(self) -> Option<Admitted<S, P>> {
        match self {
            Admission::Admitted(a) => Some(a),
            Admission::Duplicate(_) => None,
        }
    }
}

/// A verified delivery reserved in the replay store, waiting to be committed or released.
///
/// Call [`commit`](Self::commit) once it is processed, or [`release`](Self::release) if
/// processing failed and Mailgun's retry should be processed. If it is dropped without either
/// (a panic, a cancelled request), the store's [`abandon`](ReplayStore::abandon) runs:
/// [`MemoryReplayStore`] releases the reservation at once, others let it expire after their
/// pending lifetime (60 s by default). Either way the record stays bound to this payload: a
/// retry with the same payload is processed, any other payload is refused.
///
/// To hand the payload to another task while keeping the reservation, [`map`](Self::map) it
/// into an `Arc` and clone that, or [`into_parts`](Self::into_parts).
#[derive(Debug)]
#[must_use = "an admitted delivery must be committed or released"]
pub struct Admitted<S: ReplayStore, P = Payload> {
    verified: Verified<P>,
    guard: ReservationGuard<S>,
}

impl<S: ReplayStore, P> Admitted<S, P> {
    /// The verified delivery.
    pub fn verified(&self) -> &Verified<P> {
        &self.verified
    }

    /// The verified payload.
    pub fn payload(&self) -> &P {
        self.verified.payload()
    }

    /// True when the store could not prove the delivery unseen (signed before its epoch) and
    /// admitted it under [`LossPolicy::Accept`](crate::LossPolicy::Accept).
    pub fn is_unproven(&self) -> bool {
        self.guard.reservation.is_unproven()
    }

    /// Transforms the payload, keeping the reservation.
    pub fn map<Q>(self, f: impl FnOnce(P) -> Q) -> Admitted<S, Q> {
        Admitted {
            verified: self.verified.map(f),
            guard: self.guard,
        }
    }

    /// Separates the verified delivery from the reservation.
    pub fn into_parts(self) -> (Verified<P>, ReservationGuard<S>) {
        (self.verified, self.guard)
    }

    /// Records the delivery as processed: duplicates are answered 200 from now on.
    pub async fn commit(self) -> Result<()> {
        self.guard.commit().await
    }

    /// Releases the reservation so that Mailgun's retry (of the same payload) is processed.
    pub async fn release(self) -> Result<()> {
        self.guard.release().await
    }

    /// Runs `handler` on the delivery, then settles the reservation by the result, as
    /// [`Receiver::receive`] does:
    ///
    /// - `Ok(value)`: committed, then `Ok(value)` (or the store's error, 503, if the commit
    ///   failed: Mailgun retries rather than getting a 200 for an unrecorded signature);
    /// - an error made with [`HandlerError::reject`]: committed, then [`ErrorKind::Rejected`]
    ///   (406), which stops Mailgun's retries;
    /// - any other error, or a panic (caught): released, then [`ErrorKind::Handler`] (500), so
    ///   that Mailgun's retry is processed.
    ///
    /// The handler runs inside the returned future: if it is dropped, the handler stops and
    /// the reservation is abandoned, still bound to this payload (see
    /// [`Receiver`](Receiver#cancellation)).
    pub async fn process<F, Fut, T, E>(self, handler: F) -> Result<T>
    where
        F: FnOnce(Verified<P>) -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
        E: Into<HandlerError>,
    {
        let (verified, guard) = self.into_parts();
        // The handler's state is dropped, never observed, after a panic.
        let ran = AssertUnwindSafe(async move { handler(verified).await })
            .catch_unwind()
            .await;
        match ran {
            Ok(Ok(value)) => {
                guard.commit().await?;
                Ok(value)
            }
            Ok(Err(e)) => {
                let e = e.into();
                if e.is_rejection() {
                    // Recorded, so that Mailgun's retries and replays of it are duplicates.
                    guard.commit().await?;
                } else {
                    // If the release fails, the reservation expires after the pending lifetime.
                    let _ = guard.release().await;
                }
                Err(e.into_error())
            }
            Err(panic) => {
                drop(panic);
                let _ = guard.release().await;
                Err(Error::with_source(ErrorKind::Handler, HandlerPanicked))
            }
        }
    }
}

/// A reservation in a replay store, committed or released explicitly, and handed to the
/// store's [`abandon`](ReplayStore::abandon) if dropped without either.
#[must_use = "a reservation must be committed or released"]
pub struct ReservationGuard<S: ReplayStore> {
    store: S,
    reservation: Reservation,
    /// Set once the reservation has been handed to the store.
    settled: bool,
}

impl<S: ReplayStore> ReservationGuard<S> {
    /// Guards `reservation`, made by `store`.
    pub fn new(store: S, reservation: Reservation) -> Self {
        ReservationGuard {
            store,
            reservation,
            settled: false,
        }
    }

    /// The reservation.
    pub fn reservation(&self) -> &Reservation {
        &self.reservation
    }

    /// Commits the reservation: see [`ReplayStore::commit`].
    pub async fn commit(mut self) -> Result<()> {
        let r = self.settle();
        crate::observe::store_call("commit", self.store.commit(r), |()| "ok").await
    }

    /// Releases the reservation: see [`ReplayStore::release`].
    pub async fn release(mut self) -> Result<()> {
        let r = self.settle();
        crate::observe::store_call("release", self.store.release(r), |()| "ok").await
    }

    /// Takes the reservation out, leaving an inert stand-in, so that `Drop` does nothing.
    fn settle(&mut self) -> Reservation {
        self.settled = true;
        let stand_in = Reservation::new(*self.reservation.claim(), 0);
        std::mem::replace(&mut self.reservation, stand_in)
    }
}

impl<S: ReplayStore> Drop for ReservationGuard<S> {
    fn drop(&mut self) {
        if !self.settled {
            let r = self.settle();
            self.store.abandon(r);
            crate::observe::store_abandoned();
        }
    }
}

impl<S: ReplayStore> fmt::Debug for ReservationGuard<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReservationGuard")
            .field("reservation", &self.reservation)
            .finish_non_exhaustive()
    }
}
