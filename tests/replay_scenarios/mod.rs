//! Replay-store scenarios written once, generic over the store, and run by
//! `tests/replay_memory.rs` (controlled clock) and `tests/replay_redis.rs` (real Redis, real
//! time). Each scenario asserts the exact outcomes a correct store gives.
#![allow(dead_code)]

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mailgun_webhooks::{
    Clock, ErrorKind, Format, PayloadDigest, ReplayClaim, ReplayNamespace, ReplayOutcome,
    ReplayStore, Signature, SigningKey, Unverified, Verified, Verifier,
};

pub const KEY: &str = "scenario-signing-key";

pub fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

pub fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// A token unique to this process run and call, so that runs against a long-lived Redis never
/// collide.
pub fn unique_token() -> String {
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed =
        *SEED.get_or_init(|| RandomState::new().hash_one((std::process::id(), SystemTime::now())));
    format!(
        "t{seed:016x}{:08x}",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn verifier(max_age: Duration) -> Verifier {
    Verifier::builder(SigningKey::new(KEY))
        .max_age(max_age)
        .build()
}

pub fn signature(ts: &str, token: &str) -> Signature {
    Signature::new(ts, token, SigningKey::new(KEY).sign(ts, token))
}

/// A verified delivery of `(ts, token)`, verified as if it were `now`.
pub fn delivery(v: &Verifier, ts: u64, token: &str, now: SystemTime) -> Verified<()> {
    v.verify_at(
        Unverified::new(signature(&ts.to_string(), token), Format::Json, ()),
        now,
    )
    .expect("the delivery verifies")
}

/// A fresh delivery whose replay record expires `ttl` whole seconds after `now` (rounded down
/// to the second): signed at `now - 60 + ttl`, verified at that instant with `max_age = 0`.
pub fn delivery_expiring(now: SystemTime, ttl: u64) -> Verified<()> {
    let ts = secs(now) - 60 + ttl;
    let d = delivery(&verifier(Duration::ZERO), ts, &unique_token(), at(ts));
    assert_eq!(d.replay_expires_at(), at(secs(now) + ttl));
    d
}

/// Time as a scenario sees it: the store's clock, and a way to move it forward.
pub trait TestTime: Send + Sync {
    fn now(&self) -> SystemTime;
    /// Returns once the store's clock reads at least `t`.
    fn advance_to(&self, t: SystemTime) -> impl std::future::Future<Output = ()> + Send;
}

/// A clock the test moves by hand, in milliseconds.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<SystemTime>>);

impl ManualClock {
    pub fn at(t: SystemTime) -> Self {
        ManualClock(Arc::new(Mutex::new(t)))
    }

    pub fn set(&self, t: SystemTime) {
        *self.0.lock().unwrap() = t;
    }

    pub fn advance(&self, d: Duration) {
        *self.0.lock().unwrap() += d;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

impl TestTime for ManualClock {
    fn now(&self) -> SystemTime {
        Clock::now(self)
    }

    async fn advance_to(&self, t: SystemTime) {
        let mut now = self.0.lock().unwrap();
        if *now < t {
            *now = t;
        }
    }
}

/// The real clock (Redis keeps its own time).
#[derive(Debug, Clone, Copy)]
pub struct RealTime;

impl TestTime for RealTime {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    async fn advance_to(&self, t: SystemTime) {
        while let Ok(wait) = t.duration_since(SystemTime::now()) {
            tokio::time::sleep(wait + Duration::from_millis(5)).await;
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    Fresh,
    Duplicate,
    InFlight,
    PayloadMismatch,
}

pub fn seen(o: &ReplayOutcome) -> Seen {
    match o {
        ReplayOutcome::Fresh(_) => Seen::Fresh,
        ReplayOutcome::Duplicate => Seen::Duplicate,
        ReplayOutcome::InFlight => Seen::InFlight,
        ReplayOutcome::PayloadMismatch => Seen::PayloadMismatch,
        other => panic!("an outcome this test does not know: {other:?}"),
    }
}

/// The namespace the scenarios use unless they say otherwise.
pub fn namespace() -> ReplayNamespace {
    ReplayNamespace::named("replay-scenarios")
}

/// A payload digest standing for "payload number `n`".
pub fn payload(n: u8) -> PayloadDigest {
    PayloadDigest::from_bytes([n; 32])
}

/// The claim of `d` with payload `n` in the scenarios' namespace (no skew allowance).
pub fn claim(d: &Verified<()>, n: u8) -> ReplayClaim {
    ReplayClaim::new(d, namespace(), payload(n), Duration::ZERO)
}

pub async fn reserve<S: ReplayStore>(store: &S, d: &Verified<()>) -> ReplayOutcome {
    reserve_with(store, d, 1).await
}

pub async fn reserve_with<S: ReplayStore>(store: &S, d: &Verified<()>, n: u8) -> ReplayOutcome {
    store
        .reserve(&claim(d, n))
        .await
        .expect("the store answers")
}

pub async fn reserve_seen<S: ReplayStore>(store: &S, d: &Verified<()>) -> Seen {
    seen(&reserve(store, d).await)
}

pub async fn seen_with<S: ReplayStore>(store: &S, d: &Verified<()>, n: u8) -> Seen {
    seen(&reserve_with(store, d, n).await)
}

/// 64 concurrent tasks present the same signed delivery: exactly one is `Fresh`, the others
/// `InFlight`; once committed, 64 more are all `Duplicate`.
pub async fn concurrent_same_delivery<S>(store: S, d: Verified<()>)
where
    S: ReplayStore + Clone + 'static,
{
    let store = Arc::new(store);
    let d = Arc::new(d);
    let barrier = Arc::new(tokio::sync::Barrier::new(64));
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (store, d, barrier) = (store.clone(), d.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store.reserve(&claim(&d, 1)).await
        }));
    }
    let mut fresh = Vec::new();
    let mut in_flight = 0;
    for t in tasks {
        match t.await.unwrap().expect("the store answers") {
            ReplayOutcome::Fresh(r) => fresh.push(r),
            ReplayOutcome::InFlight => in_flight += 1,
            ReplayOutcome::Duplicate => panic!("nothing was committed yet"),
            other => panic!("an outcome this test does not know: {other:?}"),
        }
    }
    assert_eq!(fresh.len(), 1, "exactly one task reserves the delivery");
    assert_eq!(in_flight, 63);
    store.commit(fresh.pop().unwrap()).await.unwrap();

    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (store, d) = (store.clone(), d.clone());
        tasks.push(tokio::spawn(async move {
            seen(&store.reserve(&claim(&d, 1)).await.unwrap())
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), Seen::Duplicate);
    }
}

/// A released reservation lets the retry through; once committed it is a duplicate, and a late
/// release after the commit changes nothing.
pub async fn release_lets_retry_through<S: ReplayStore>(store: &S, d: &Verified<()>) {
    let r = reserve(store, d).await.into_reservation().expect("fresh");
    assert_eq!(reserve_seen(store, d).await, Seen::InFlight);
    store.release(r).await.unwrap();
    let r = reserve(store, d)
        .await
        .into_reservation()
        .expect("fresh after release");
    store.commit(r).await.unwrap();
    assert_eq!(reserve_seen(store, d).await, Seen::Duplicate);
}

/// A pending reservation that is neither committed nor released (a crashed handler) blocks the
/// delivery for the pending lifetime only; releasing the expired reservation afterwards does not
/// delete the newer one.
pub async fn pending_expires_and_release_is_owner_only<S: ReplayStore, T: TestTime>(
    store: &S,
    time: &T,
    pending_ttl: Duration,
    d: &Verified<()>,
) {
    let start = time.now();
    let crashed = reserve(store, d).await.into_reservation().expect("fresh");
    assert_eq!(reserve_seen(store, d).await, Seen::InFlight);
    time.advance_to(start + pending_ttl + Duration::from_millis(50))
        .await;
    let retry = reserve(store, d)
        .await
        .into_reservation()
        .expect("fresh once the crashed reservation expired");
    // The crashed handler wakes up and releases: the retry's reservation must survive.
    store.release(crashed).await.unwrap();
    assert_eq!(reserve_seen(store, d).await, Seen::InFlight);
    store.commit(retry).await.unwrap();
    assert_eq!(reserve_seen(store, d).await, Seen::Duplicate);
}

/// A committed delivery is a duplicate until its expiry and forgotten from then on. `d` must
/// expire a few seconds after `time.now()` (see [`delivery_expiring`]).
pub async fn committed_until_expiry<S: ReplayStore, T: TestTime>(
    store: &S,
    time: &T,
    d: &Verified<()>,
) {
    let expiry = d.replay_expires_at();
    assert!(time.now() < expiry);
    let r = reserve(store, d).await.into_reservation().expect("fresh");
    store.commit(r).await.unwrap();
    assert_eq!(reserve_seen(store, d).await, Seen::Duplicate);
    time.advance_to(expiry - Duration::from_millis(300)).await;
    assert_eq!(reserve_seen(store, d).await, Seen::Duplicate);
    time.advance_to(expiry + Duration::from_millis(20)).await;
    let r = reserve(store, d)
        .await
        .into_reservation()
        .expect("fresh after the record expired");
    store.release(r).await.unwrap();
}

/// The digit-shift variant of a seen triple (same signed string, so same signature) is a
/// duplicate: the key is the signed string, not the token.
pub async fn digit_shift_is_duplicate<S: ReplayStore>(store: &S, now: SystemTime) {
    let ts = secs(now).to_string();
    assert_eq!(ts.len(), 10);
    let token = format!("7{}", unique_token());
    let original = signature(&ts, &token);
    // A verifier whose window admits both the original and the shifted (ten times older)
    // timestamp, so that only the replay store can stop the variant.
    let v = verifier(Duration::from_secs(secs(now)));
    let first = v
        .verify_at(Unverified::new(original.clone(), Format::Json, ()), now)
        .unwrap();
    let r = reserve(store, &first)
        .await
        .into_reservation()
        .expect("fresh");
    store.commit(r).await.unwrap();

    // "1770920772" + "7t…"  ->  "177092077" + "27t…": moves the last digit into the token.
    let (head, last) = ts.split_at(9);
    let left = Signature::new(head, format!("{last}{token}"), original.signature());
    // ... and the token's first digit into the timestamp: "17709207727" + "t…".
    let right = Signature::new(format!("{ts}7"), &token[1..], original.signature());
    for variant in [left, right] {
        let label = format!("{}|{}", variant.timestamp(), variant.token());
        let verified = match v.verify_at(Unverified::new(variant, Format::Json, ()), now) {
            Ok(verified) => verified,
            // The right shift makes an 11-digit timestamp far in the future: stopped earlier.
            Err(e) => {
                assert!(
                    matches!(e.kind(), ErrorKind::FromFuture { .. }),
                    "{label}: {e}"
                );
                continue;
            }
        };
        assert_eq!(
            verified.replay_key_in(&namespace()),
            first.replay_key_in(&namespace()),
            "{label}"
        );
        assert_eq!(
            reserve_seen(store, &verified).await,
            Seen::Duplicate,
            "{label}"
        );
    }
}

/// A triple is bound to its first payload in every state: pending, released, committed.
/// Another payload is `PayloadMismatch` and changes nothing; the same payload is processed
/// after a release and is a duplicate after the commit.
pub async fn other_payload_is_refused_in_every_state<S: ReplayStore>(store: &S, d: &Verified<()>) {
    let r = reserve_with(store, d, 1)
        .await
        .into_reservation()
        .expect("fresh");
    assert_eq!(
        seen_with(store, d, 2).await,
        Seen::PayloadMismatch,
        "pending"
    );
    assert_eq!(seen_with(store, d, 1).await, Seen::InFlight);
    store.release(r).await.unwrap();
    assert_eq!(
        seen_with(store, d, 2).await,
        Seen::PayloadMismatch,
        "released"
    );
    assert_eq!(
        seen_with(store, d, 3).await,
        Seen::PayloadMismatch,
        "released"
    );
    let r = reserve_with(store, d, 1)
        .await
        .into_reservation()
        .expect("the same payload is fresh after a release");
    store.commit(r).await.unwrap();
    assert_eq!(
        seen_with(store, d, 2).await,
        Seen::PayloadMismatch,
        "committed"
    );
    assert_eq!(seen_with(store, d, 1).await, Seen::Duplicate);
}

/// A reservation dropped unsettled (abandoned: a panic or a cancelled request), or whose
/// pending lifetime ran out (a crash), stays bound to its payload.
pub async fn abandoned_and_expired_reservations_keep_the_binding<S: ReplayStore, T: TestTime>(
    store: &S,
    time: &T,
    pending_ttl: Duration,
    d: &Verified<()>,
    e: &Verified<()>,
) {
    let r = reserve_with(store, d, 1)
        .await
        .into_reservation()
        .expect("fresh");
    store.abandon(r);
    assert_eq!(
        seen_with(store, d, 2).await,
        Seen::PayloadMismatch,
        "abandoned"
    );

    let start = time.now();
    let _crashed = reserve_with(store, e, 1)
        .await
        .into_reservation()
        .expect("fresh");
    time.advance_to(start + pending_ttl + Duration::from_millis(50))
        .await;
    assert_eq!(
        seen_with(store, e, 2).await,
        Seen::PayloadMismatch,
        "expired"
    );
    assert_eq!(
        seen_with(store, d, 2).await,
        Seen::PayloadMismatch,
        "abandoned"
    );
    // The same payloads are processed again.
    let r = reserve_with(store, e, 1)
        .await
        .into_reservation()
        .expect("fresh");
    store.commit(r).await.unwrap();
    let r = reserve_with(store, d, 1)
        .await
        .into_reservation()
        .expect("fresh");
    store.commit(r).await.unwrap();
    assert_eq!(seen_with(store, d, 1).await, Seen::Duplicate);
    assert_eq!(seen_with(store, e, 1).await, Seen::Duplicate);
}

/// The same triple in two namespaces (two accounts sharing a store) is two records: committing
/// one, with any payload, does not touch the other.
pub async fn namespaces_are_separate<S: ReplayStore>(store: &S, d: &Verified<()>) {
    let a = ReplayClaim::new(
        d,
        ReplayNamespace::named("account-a"),
        payload(1),
        Duration::ZERO,
    );
    let b = ReplayClaim::new(
        d,
        ReplayNamespace::named("account-b"),
        payload(2),
        Duration::ZERO,
    );
    assert_ne!(a.key(), b.key());
    let r = store
        .reserve(&a)
        .await
        .unwrap()
        .into_reservation()
        .expect("fresh");
    store.commit(r).await.unwrap();
    let r = store
        .reserve(&b)
        .await
        .unwrap()
        .into_reservation()
        .expect("account b's delivery is fresh");
    store.commit(r).await.unwrap();
    assert_eq!(seen(&store.reserve(&a).await.unwrap()), Seen::Duplicate);
    assert_eq!(seen(&store.reserve(&b).await.unwrap()), Seen::Duplicate);
}

/// Runs every scenario above on stores made by `make` (a fresh store each, so capacity and
/// state do not leak between scenarios).
pub async fn run_all<S, T>(make: impl Fn() -> S, time: &T, pending_ttl: Duration)
where
    S: ReplayStore + Clone + 'static,
    T: TestTime,
{
    let now = time.now();
    let v = verifier(Duration::from_secs(3600));
    let fresh = |t: &str| delivery(&v, secs(now), t, now);

    concurrent_same_delivery(make(), fresh(&unique_token())).await;
    release_lets_retry_through(&make(), &fresh(&unique_token())).await;
    pending_expires_and_release_is_owner_only(&make(), time, pending_ttl, &fresh(&unique_token()))
        .await;
    committed_until_expiry(&make(), time, &delivery_expiring(time.now(), 2)).await;
    digit_shift_is_duplicate(&make(), time.now()).await;
    other_payload_is_refused_in_every_state(&make(), &fresh(&unique_token())).await;
    abandoned_and_expired_reservations_keep_the_binding(
        &make(),
        time,
        pending_ttl,
        &fresh(&unique_token()),
        &fresh(&unique_token()),
    )
    .await;
    namespaces_are_separate(&make(), &fresh(&unique_token())).await;
}
