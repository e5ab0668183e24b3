//! Sending-side variables round-trip through a signed webhook into the user's own struct.
#![cfg(feature = "api")]

use mailgun_webhooks::api::SendingVariables;
use mailgun_webhooks::testing::{json_body, now, sample_event_data, token};
use mailgun_webhooks::{SigningKey, Verifier};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Meta {
    order_id: u64,
    customer: String,
    vip: bool,
    items: Vec<String>,
    shipping: Shipping,
    note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Shipping {
    carrier: String,
    days: u8,
}

fn meta() -> Meta {
    Meta {
        order_id: 10042,
        customer: "00123".into(), // looks like a number, stays a string
        vip: true,
        items: vec!["book".into(), "pen".into()],
        shipping: Shipping {
            carrier: "ups".into(),
            days: 2,
        },
        note: None,
    }
}

/// Signs a delivered event carrying `user_variables` and reads them back as `Meta`.
fn round_trip(user_variables: Value) -> Meta {
    let key = SigningKey::new("k");
    let mut data = sample_event_data("delivered", now()).unwrap();
    data["user-variables"] = user_variables;
    let body = json_body(&key, now(), &token(), data);
    let verified = Verifier::new(key)
        .parse_and_verify(&body.content_type, &body.body)
        .unwrap();
    let event = verified.into_payload().into_event().unwrap();
    event.user_variables().unwrap().deserialize().unwrap()
}

#[test]
fn v_parameters_round_trip_as_mailgun_delivers_them() {
    let vars = SendingVariables::from_serialize(&meta())
        .unwrap()
        .tag("receipt")
        .tag("orders");
    let fields = vars.form_fields();
    assert!(fields.contains(&("v:order_id".into(), "10042".into())));
    assert!(fields.contains(&("v:customer".into(), "00123".into())));
    assert!(fields.contains(&("v:items".into(), r#"["book","pen"]"#.into())));
    let tags: Vec<_> = fields
        .iter()
        .filter(|(k, _)| k == "o:tag")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(tags, ["receipt", "orders"]);
    // Mailgun stores each `v:` value as the string it was sent as.
    let delivered: Map<String, Value> = fields
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("v:")?.to_owned(), Value::String(v.clone()))))
        .collect();
    assert_eq!(round_trip(Value::Object(delivered)), meta());
}

#[test]
fn header_round_trips() {
    let vars = SendingVariables::from_serialize(&meta()).unwrap();
    assert_eq!(SendingVariables::HEADER, "X-Mailgun-Variables");
    let header: Value = serde_json::from_str(&vars.header_value()).unwrap();
    assert_eq!(round_trip(header), meta());
    assert!(SendingVariables::from_serialize(&42).is_err());
    let one = SendingVariables::new().variable("order_id", 7);
    assert_eq!(
        one.form_fields(),
        [("v:order_id".to_owned(), "7".to_owned())]
    );
}
