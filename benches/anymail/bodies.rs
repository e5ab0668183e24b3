//! The signed bodies that `benches/http_compare.rs` and `benches/anymail_compare.rs` send (PERF.md's
//! payloads), built with the test kit (`mailgun_webhooks::testing`).
//! Included with `#[path = "anymail/bodies.rs"] mod bodies;` (also by `benches/form_multipart.rs`).
#![allow(dead_code)]

use mailgun_webhooks::SigningKey;
use mailgun_webhooks::testing::{FormBody, SignedBody, json_body};

/// The signing key of every body here.
pub const KEY: &str = "demo-webhook-signing-key";

/// A current-format JSON delivery whose `event-data` is `examples/payloads/{name}.json`'s,
/// signed at `timestamp` with `token`, pretty-printed with two-space indents as Mailgun sends
/// it (the delivered one is about 1.8 KB).
pub fn json_kind(name: &str, timestamp: u64, token: &str) -> SignedBody {
    let path = format!(
        "{}/examples/payloads/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let sample: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).expect("payload sample")).unwrap();
    let signed = json_body(
        &SigningKey::new(KEY),
        timestamp,
        token,
        sample["event-data"].clone(),
    );
    let value: serde_json::Value = serde_json::from_slice(&signed.body).unwrap();
    SignedBody::new(
        signed.content_type,
        serde_json::to_string_pretty(&value).unwrap(),
    )
}

/// `message-headers` of a legacy post: 13 pairs, one with `[value, {params}]`, one with the
/// custom variables.
fn message_headers() -> String {
    serde_json::json!([
        ["X-Mailgun-Sending-Ip", "198.61.254.43"],
        ["X-Mailgun-Sid", "WyIwNzI5MCIsICJhbGljZUBleGFtcGxlLmNvbSIsICI2Il0="],
        ["Received", "by luna.mailgun.net with SMTP mgrt 8734663311733; Fri, 03 May 2013 18:26:27 +0000 (UTC)"],
        ["Content-Type", ["multipart/alternative", {"boundary": "eb663d73ae0a4d6c9153cc0aec8b7520"}]],
        ["Mime-Version", "1.0"],
        ["Subject", "Your order #80342 from Example Shop has shipped today"],
        ["From", "Example Shop <orders@shop.example.com>"],
        ["To", "Alice Liddell <alice@example.com>"],
        ["Message-Id", "<20130503182626.18666.16540@shop.example.com>"],
        ["List-Unsubscribe", "<mailto:u+na6tmy3ege4tgnldmyytqojqmfsdembyme3tmy3cha4wcndbgaydqyrgoi6wszdpovrhi5dinfzw63tfmv4gs43uomstimdhnvqws3bomnxw2jtuhusteqjgmq6tm@shop.example.com>"],
        ["X-Mailgun-Variables", "{\"order_id\": \"80342\", \"customer\": \"c-1180\", \"campaign\": \"spring-sale-newsletter-2013-week-18\"}"],
        ["Date", "Fri, 03 May 2013 18:26:27 +0000"],
        ["Dkim-Signature", "v=1; a=rsa-sha256; c=relaxed/relaxed; d=shop.example.com; q=dns/txt; s=mx; t=1367605587; h=Sender: Date: Message-Id: To: From: Subject: Mime-Version: Content-Type; bh=H6ZQmG3VNXh3e2JmmsVQ3R4bWYn9Cp1F6eJ7X/2c0M8=; b=Yp0mV2c1YzRhM2VhZDk4NjQxZjY0ZWJmYzE2ZWQ5NDEwZTc2OGNkNGJlYjE"]
    ])
    .to_string()
}

/// A legacy `delivered` post, urlencoded, with 3 custom variables (about 2.1 KB).
pub fn legacy_form(timestamp: u64, token: &str) -> SignedBody {
    FormBody::new()
        .field(
            "X-Mailgun-Sid",
            "WyIwNzI5MCIsICJhbGljZUBleGFtcGxlLmNvbSIsICI2Il0=",
        )
        .field("domain", "shop.example.com")
        .field("message-headers", message_headers())
        .field(
            "Message-Id",
            "<20130503182626.18666.16540@shop.example.com>",
        )
        .field("recipient", "alice@example.com")
        .field("event", "delivered")
        .field("order_id", "80342")
        .field("customer", "c-1180")
        .field("campaign", "spring-sale-newsletter-2013-week-18")
        .field("body-plain", "")
        .sign(&SigningKey::new(KEY), timestamp, token)
        .urlencoded()
}

/// The original message a bounce carries: 50 KiB of MIME text.
fn message_mime() -> Vec<u8> {
    let mut mime = b"Received: by luna.mailgun.net with SMTP mgrt 8734663311733\r\n\
        Content-Type: multipart/alternative; boundary=\"eb663d73ae0a4d6c9153cc0aec8b7520\"\r\n\
        Mime-Version: 1.0\r\nSubject: Your order has shipped\r\n\r\n\
        --eb663d73ae0a4d6c9153cc0aec8b7520\r\nContent-Type: text/plain; charset=\"ascii\"\r\n\r\n"
        .to_vec();
    let line = b"Thank you for your order. Your parcel is on its way and should arrive soon.\r\n";
    while mime.len() + line.len() <= 50 << 10 {
        mime.extend_from_slice(line);
    }
    mime.resize(50 << 10, b'.');
    mime
}

/// A legacy `bounced` post, multipart: 16 fields and a 50 KiB `message.mime` attachment.
pub fn legacy_multipart(timestamp: u64, token: &str) -> SignedBody {
    FormBody::new()
        .field(
            "Message-Id",
            "<20130503182626.18666.16540@shop.example.com>",
        )
        .field(
            "X-Mailgun-Sid",
            "WyIwNzI5MCIsICJhbGljZUBleGFtcGxlLmNvbSIsICI2Il0=",
        )
        .field("attachment-count", "1")
        .field("body-plain", "")
        .field("code", "550")
        .field("domain", "shop.example.com")
        .field(
            "error",
            "5.1.1 The email account that you tried to reach does not exist. Please try\r\n\
             5.1.1 double-checking the recipient's email address for typos or\r\n\
             5.1.1 unnecessary spaces.",
        )
        .field("event", "bounced")
        .field("message-headers", message_headers())
        .field("order_id", "80342")
        .field("customer", "c-1180")
        .field("notification", "")
        .field("recipient", "alice@example.com")
        .file(
            "attachment-1",
            "message.mime",
            "application/octet-stream",
            message_mime(),
        )
        .sign(&SigningKey::new(KEY), timestamp, token)
        .multipart()
}
