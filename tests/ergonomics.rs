//! Issue 13, ergonomics: user-variable errors carry the field path and never a value, handlers
//! return any error that converts into `HandlerError` and choose the response body, and the
//! small public enums print their wire names.
// Tests fail by panicking: unwrap, expect and panic are how they report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use mailgun_webhooks::{
    Error, ErrorKind, Format, HandlerError, LossPolicy, MediaType, Outcome, PayloadKind,
    ReplayOutcome, Severity, Stage, UserVariables,
};
use serde::Deserialize;

/// A value that must never show in an error.
const SECRET: &str = "alice@example.com";

fn vars(json: &str) -> UserVariables {
    serde_json::from_str(json).unwrap()
}

/// The path and problem of a user-variables error, after checking that neither its message,
/// its `Debug` nor its source chain holds the secret value.
fn located(err: Error) -> (String, String) {
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("alice"), "the value leaked: {shown}");
    assert!(std::error::Error::source(&err).is_none());
    assert_eq!(err.name(), "user_variables");
    assert_eq!(err.status(), 400);
    assert_eq!(err.stage(), Stage::Parse);
    match err.into_kind() {
        ErrorKind::UserVariables { path, problem } => (path, problem),
        other => panic!("expected UserVariables, got {other:?}"),
    }
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Item {
    sku: u32,
    qty: Option<u8>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Order {
    id: String,
    items: Vec<Item>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Meta {
    order: Order,
    #[serde(default)]
    scores: HashMap<String, u32>,
}

#[test]
fn a_type_mismatch_names_the_path_and_not_the_value() {
    let v = vars(&format!(
        r#"{{"order": {{"id": "o-1", "items": [{{"sku": 1}}, {{"sku": 2, "qty": 3}}, {{"sku": "{SECRET}"}}]}}}}"#
    ));
    let (path, problem) = located(v.deserialize::<Meta>().unwrap_err());
    assert_eq!(path, "order.items[2].sku");
    assert_eq!(problem, "invalid type: string, expected u32");
}

#[test]
fn the_message_reads_well() {
    let v = vars(r#"{"order": {"id": "o-1", "items": [{"sku": -5}]}}"#);
    let err = v.deserialize::<Meta>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "user variables do not match the requested type at order.items[0].sku: \
         invalid value: integer, expected u32"
    );
}

#[test]
fn json_encoded_strings_are_decoded_before_the_path_is_taken() {
    // Mailgun delivers some variables JSON-encoded in a string: the object is looked into.
    let inner = format!(r#"{{"id": "o-1", "items": [{{"sku": 7, "qty": "{SECRET}"}}]}}"#);
    let v: UserVariables = serde_json::from_value(serde_json::json!({ "order": inner })).unwrap();
    let (path, problem) = located(v.deserialize::<Meta>().unwrap_err());
    assert_eq!(path, "order.items[0].qty");
    assert_eq!(problem, "invalid type: string, expected u8");
    // And a well-formed encoded object deserializes.
    let ok: UserVariables = serde_json::from_value(serde_json::json!({
        "order": r#"{"id": "o-1", "items": [{"sku": 7}]}"#
    }))
    .unwrap();
    assert_eq!(ok.deserialize::<Meta>().unwrap().order.items[0].sku, 7);
}

#[test]
fn map_keys_are_data_and_stay_hidden() {
    let v = vars(&format!(
        r#"{{"order": {{"id": "o", "items": []}}, "scores": {{"{SECRET}": "high"}}}}"#
    ));
    let (path, problem) = located(v.deserialize::<Meta>().unwrap_err());
    assert_eq!(path, "scores[_]");
    assert_eq!(problem, "invalid type: string, expected u32");
}

#[test]
fn missing_fields_are_named_at_their_parent() {
    let (path, problem) = located(
        vars(r#"{"order": {"items": []}}"#)
            .deserialize::<Meta>()
            .unwrap_err(),
    );
    assert_eq!(
        (path.as_str(), problem.as_str()),
        ("order", "missing field `id`")
    );
    let (path, problem) = located(vars(r#"{}"#).deserialize::<Meta>().unwrap_err());
    assert_eq!(
        (path.as_str(), problem.as_str()),
        ("", "missing field `order`")
    );
    assert_eq!(
        vars("{}").deserialize::<Meta>().unwrap_err().to_string(),
        "user variables do not match the requested type: missing field `order`"
    );
}

#[test]
fn unknown_names_and_variants_are_not_quoted() {
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Strict {
        a: u8,
    }
    let (path, problem) = located(
        vars(&format!(r#"{{"a": 1, "{SECRET}": 2}}"#))
            .deserialize::<Strict>()
            .unwrap_err(),
    );
    assert_eq!(
        (path.as_str(), problem.as_str()),
        ("", "unknown field, expected `a`")
    );

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "lowercase")]
    #[allow(dead_code)]
    enum Tier {
        Gold,
        Silver { since: u16 },
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Customer {
        tier: Tier,
    }
    let (path, problem) = located(
        vars(&format!(r#"{{"tier": "{SECRET}"}}"#))
            .deserialize::<Customer>()
            .unwrap_err(),
    );
    assert_eq!(path, "tier");
    assert_eq!(problem, "unknown variant, expected one of `gold`, `silver`");
    let (path, problem) = located(
        vars(&format!(
            r#"{{"tier": {{"silver": {{"since": "{SECRET}"}}}}}}"#
        ))
        .deserialize::<Customer>()
        .unwrap_err(),
    );
    assert_eq!(path, "tier.silver.since");
    assert_eq!(problem, "invalid type: string, expected u16");
    let ok = vars(r#"{"tier": {"silver": {"since": 2020}}}"#).deserialize::<Customer>();
    assert!(matches!(ok.unwrap().tier, Tier::Silver { since: 2020 }));
}

#[test]
fn a_types_own_message_is_not_kept() {
    /// A type whose check quotes what it refused, as many do.
    #[derive(Debug)]
    struct Sku;
    impl<'de> Deserialize<'de> for Sku {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let s = String::deserialize(d)?;
            Err(serde::de::Error::custom(format!("bad sku {s:?}")))
        }
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Line {
        sku: Sku,
    }
    let (path, problem) = located(
        vars(&format!(r#"{{"sku": "{SECRET}"}}"#))
            .deserialize::<Line>()
            .unwrap_err(),
    );
    assert_eq!(path, "sku");
    assert_eq!(problem, "invalid value (refused by the type's own check)");
}

#[test]
fn question_mark_in_a_handler_retries_with_a_telling_body() {
    fn handler(v: &UserVariables) -> Result<Meta, HandlerError> {
        Ok(v.deserialize::<Meta>()?)
    }
    let v = vars(&format!(r#"{{"order": "{SECRET}"}}"#));
    let e = handler(&v).unwrap_err();
    assert!(
        !e.is_rejection(),
        "a type fix on our side can still recover it"
    );
    assert_eq!(e.body(), Some("user_variables"));
    let error = e.into_error();
    assert_eq!(error.kind(), &ErrorKind::Handler);
    assert_eq!(error.status(), 500);
    assert_eq!(error.response_body(), "user_variables");
    assert!(!format!("{error} {error:?}").contains("alice"));

    // Rejecting answers 406 and keeps the body.
    let e = HandlerError::reject(v.deserialize::<Meta>().unwrap_err());
    assert!(e.is_rejection());
    let error = e.into_error();
    assert_eq!(error.status(), 406);
    assert_eq!(error.response_body(), "user_variables");
}

#[test]
fn handlers_choose_the_body_and_nothing_else() {
    let e = HandlerError::retry("db down").with_body("database_unavailable");
    let error = e.into_error();
    assert_eq!(error.status(), 500);
    assert!(error.is_retryable());
    assert_eq!(error.response_body(), "database_unavailable");
    assert_eq!(error.name(), "handler");
    // Without a choice, the kind's name.
    assert_eq!(
        HandlerError::retry("x").into_error().response_body(),
        "handler"
    );
    assert_eq!(
        HandlerError::reject("x").into_error().response_body(),
        "rejected"
    );
    let plain: Error = ErrorKind::SignatureMismatch.into();
    assert_eq!(plain.response_body(), "signature_mismatch");
}

#[test]
fn small_enums_print_their_wire_names() {
    assert_eq!(Severity::Permanent.to_string(), "permanent");
    assert_eq!(Severity::Other("x".into()).to_string(), "x");
    assert_eq!(Format::Multipart.to_string(), "multipart");
    assert_eq!(PayloadKind::Stored.to_string(), "stored");
    assert_eq!(
        MediaType::Form.to_string(),
        "application/x-www-form-urlencoded"
    );
    assert_eq!(MediaType::Json.to_string(), "application/json");
    assert_eq!(MediaType::Multipart.to_string(), "multipart/form-data");
    assert_eq!(Stage::Application.to_string(), "application");
    assert_eq!(Stage::Verify.to_string(), "verify");
    assert_eq!(LossPolicy::FailClosed.to_string(), "fail_closed");
    assert_eq!(LossPolicy::Accept.to_string(), "accept");
    assert_eq!(ReplayOutcome::InFlight.to_string(), "in_flight");
    assert_eq!(
        ReplayOutcome::PayloadMismatch.to_string(),
        "payload_mismatch"
    );
    assert_eq!(Outcome::Processed(42).to_string(), "processed");
    assert_eq!(Outcome::<()>::Duplicate.to_string(), "duplicate");
    for kind in mailgun_webhooks::EventKind::ALL {
        assert_eq!(kind.to_string(), kind.as_str());
    }
    assert_eq!(
        mailgun_webhooks::testing::SampleEncoding::LegacyMultipart.to_string(),
        "legacy-multipart"
    );
}

#[cfg(feature = "hyper")]
mod through_the_hyper_adapter {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http_body_util::Full;
    use mailgun_webhooks::hyper::{admit, receive};
    use mailgun_webhooks::testing::Signer;
    use mailgun_webhooks::{
        Event, EventKind, HandlerError, MemoryReplayStore, Receiver, SigningKey, Verified,
    };

    #[derive(Debug)]
    enum AppError {
        Unavailable,
        UnknownCustomer,
    }

    impl From<AppError> for HandlerError {
        fn from(e: AppError) -> Self {
            match e {
                AppError::Unavailable => {
                    HandlerError::retry("store down").with_body("store_unavailable")
                }
                AppError::UnknownCustomer => {
                    HandlerError::reject("unknown customer").with_body("unknown_customer")
                }
            }
        }
    }

    fn setup() -> (Signer, Receiver) {
        let signer = Signer::new(SigningKey::new("ergonomics-key"));
        let receiver = Receiver::new(signer.verifier(), MemoryReplayStore::new());
        (signer, receiver)
    }

    #[tokio::test]
    async fn process_with_takes_the_applications_error_type() {
        let (signer, receiver) = setup();
        let runs = Arc::new(AtomicUsize::new(0));

        // A named async fn with its own error type: no closure, no map_err.
        async fn unavailable(_: Verified<Event>) -> Result<(), AppError> {
            Err(AppError::Unavailable)
        }
        let request = signer.request(mailgun_webhooks::testing::sample(EventKind::Delivered));
        let webhook = admit::<Event, _, _>(&receiver, request.clone().map(Full::new))
            .await
            .unwrap();
        let response = webhook.process_with(unavailable).await;
        assert_eq!(response.status(), 500);
        assert_eq!(response.body(), "store_unavailable");

        // Released: the retry runs, and rejects for good.
        let webhook = admit::<Event, _, _>(&receiver, request.clone().map(Full::new))
            .await
            .unwrap();
        let counter = Arc::clone(&runs);
        let response = webhook
            .process_with(move |_| async move {
                counter.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(AppError::UnknownCustomer)
            })
            .await;
        assert_eq!(response.status(), 406);
        assert_eq!(response.body(), "unknown_customer");
        assert_eq!(runs.load(Ordering::SeqCst), 1);

        // A rejection is committed: Mailgun's next retry is a duplicate.
        let duplicate =
            receive::<Event, _, _, _, _>(&receiver, request.map(Full::new), |_| async {
                panic!("a rejected delivery must not run again")
            })
            .await;
        assert_eq!(
            (duplicate.status().as_u16(), duplicate.body()),
            (200, "duplicate")
        );
    }

    #[tokio::test]
    async fn process_with_takes_the_crates_error_and_strings() {
        let (signer, receiver) = setup();
        let webhook = admit::<Event, _, _>(
            &receiver,
            signer
                .request(mailgun_webhooks::testing::sample(EventKind::Opened))
                .map(Full::new),
        )
        .await
        .unwrap();
        let response = webhook
            .process_with(|event| async move {
                #[derive(serde::Deserialize)]
                #[allow(dead_code)]
                struct Vars {
                    order_id: bool,
                }
                let data = event.payload().data().expect("a known event");
                let vars = data.user_variables.deserialize::<Vars>()?;
                let _ = vars;
                Ok::<(), mailgun_webhooks::Error>(())
            })
            .await;
        assert_eq!(response.status(), 500);
        assert_eq!(response.body(), "user_variables");

        let webhook = admit::<Event, _, _>(
            &receiver,
            signer
                .request(mailgun_webhooks::testing::sample(EventKind::Opened))
                .map(Full::new),
        )
        .await
        .unwrap();
        let response = webhook
            .process_local_with(|_| async { Err::<(), _>(String::from("plain string")) })
            .await;
        assert_eq!(
            (response.status().as_u16(), response.body()),
            (500, "handler")
        );

        // The inference path is unchanged: a bare `Ok(())`.
        let webhook = admit::<Event, _, _>(
            &receiver,
            signer
                .request(mailgun_webhooks::testing::sample(EventKind::Opened))
                .map(Full::new),
        )
        .await
        .unwrap();
        assert_eq!(webhook.process(|_| async { Ok(()) }).await.status(), 200);
    }
}

#[test]
fn no_shape_of_value_leaks_into_any_mismatch() {
    // Distinctive values of every JSON type, each put where another type is expected.
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Want {
        n: u16,
        s: String,
        b: bool,
        list: Vec<u8>,
        pair: (u8, u8),
        nested: Option<Box<Want>>,
    }
    let secrets = [
        serde_json::json!("alice@example.com"),
        serde_json::json!(987_654_321_u64),
        serde_json::json!(-123_456_789_i64),
        serde_json::json!(31_415.926_5),
        serde_json::json!(["alice@example.com"]),
        serde_json::json!({"alice@example.com": "alice@example.com"}),
        serde_json::json!([111_111, 222_222, 333_333]),
    ];
    let needles = [
        "alice",
        "987654321",
        "123456789",
        "31415",
        "111111",
        "222222",
    ];
    for field in ["n", "s", "b", "list", "pair", "nested"] {
        for secret in &secrets {
            let mut vars = serde_json::json!({
                "n": 1, "s": "x", "b": true, "list": [1], "pair": [1, 2], "nested": null,
            });
            vars[field] = secret.clone();
            for wrapped in [
                vars.clone(),
                serde_json::json!({"n": 1, "s": "x", "b": true,
                "list": [], "pair": [1, 2], "nested": vars}),
            ] {
                let v: UserVariables = serde_json::from_value(wrapped).unwrap();
                let Err(err) = v.deserialize::<Want>() else {
                    continue; // `s` takes a string, `nested` an object of the right shape
                };
                let shown = format!("{err} {err:?}");
                for needle in needles {
                    assert!(!shown.contains(needle), "{field} = {secret}: {shown}");
                }
                let ErrorKind::UserVariables { path, .. } = err.kind() else {
                    panic!("{err:?}");
                };
                assert!(
                    path.ends_with(field) || path.contains(field),
                    "{path} for {field}"
                );
            }
        }
    }
}
