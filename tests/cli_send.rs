//! `mailgun-webhooks send` against the example servers (axum, actix-web, hyper), run as
//! child processes on free loopback ports: every sample kind is processed, the repeat is a
//! duplicate, a wrong key or a stale timestamp is refused with 401.
#![cfg(feature = "cli")]

mod cli_common;

use cli_common::{DEMO_KEY, ExampleServer, run};
use mailgun_webhooks::testing::SampleEncoding;

fn every_sample_against(name: &'static str) {
    let Some(server) = ExampleServer::start(name) else {
        return;
    };
    let mut checked = 0;
    for encoding in SampleEncoding::ALL {
        for event in encoding.events() {
            let to = if encoding.is_route() {
                server.inbound_url()
            } else {
                server.tracking_url()
            };
            let mut args = vec!["send", *event, "--key", DEMO_KEY, "--to", &to, "--twice"];
            if !encoding.is_route() {
                args.extend(["--encoding", encoding.as_str()]);
            }
            let (code, out, err) = run(&args, &[]);
            let what = format!("{name}: {} {event}: {out} {err}", encoding.as_str());
            if encoding == SampleEncoding::StoreNotify {
                // The example servers have no store() endpoint: the inbound one verifies
                // the notification, then refuses it as the wrong kind (see cli_store below).
                assert_eq!(
                    (code, out.as_str()),
                    (1, "400 wrong_endpoint\n400 wrong_endpoint\n"),
                    "{what}"
                );
            } else {
                assert_eq!(
                    (code, out.as_str()),
                    (0, "200 ok\n200 duplicate\n"),
                    "{what}"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 14 + 8 + 8 + 3);

    let to = server.tracking_url();
    let (code, out, _) = run(
        &[
            "send",
            "delivered",
            "--key",
            DEMO_KEY,
            "--to",
            &to,
            "--wrong-key",
        ],
        &[],
    );
    assert_eq!(
        (code, out.as_str()),
        (1, "401 signature_mismatch\n"),
        "{name}"
    );
    let (code, out, _) = run(
        &[
            "send",
            "delivered",
            "--key",
            DEMO_KEY,
            "--to",
            &to,
            "--stale",
        ],
        &[],
    );
    assert_eq!((code, out.as_str()), (1, "401 stale\n"), "{name}");
    let (code, out, _) = run(
        &["send", "opened", "--key", DEMO_KEY, "--to", &to, "--future"],
        &[],
    );
    assert_eq!(code, 1, "{name}");
    assert!(out.starts_with("401 "), "{name}: {out}");
    // The key can come from the environment, as the example servers read it.
    let (code, out, _) = run(
        &["send", "clicked", "--to", &to],
        &[("MAILGUN_WEBHOOK_SIGNING_KEY", DEMO_KEY)],
    );
    assert_eq!((code, out.as_str()), (0, "200 ok\n"), "{name}");

    // A file: the bundled sample, re-signed now (its own signature is from 2026-01-01).
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/payloads/delivered.json"
    );
    let (code, out, _) = run(
        &[
            "send", "--file", file, "--key", DEMO_KEY, "--to", &to, "--twice",
        ],
        &[],
    );
    assert_eq!(
        (code, out.as_str()),
        (0, "200 ok\n200 duplicate\n"),
        "{name}"
    );
    let form = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/payloads/legacy-delivered.form"
    );
    let (code, out, _) = run(
        &["send", "--file", form, "--key", DEMO_KEY, "--to", &to],
        &[],
    );
    assert_eq!((code, out.as_str()), (0, "200 ok\n"), "{name}");
    let raw = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/payloads/route-raw-mime.form"
    );
    let (code, out, _) = run(
        &[
            "send",
            "--file",
            raw,
            "--key",
            DEMO_KEY,
            "--to",
            &server.inbound_url(),
        ],
        &[],
    );
    assert_eq!((code, out.as_str()), (0, "200 ok\n"), "{name}");

    let log = server.stop();
    assert!(
        log.contains("event delivered recipient=alice@example.com"),
        "{log}"
    );
}

#[test]
fn send_every_sample_to_the_axum_server() {
    every_sample_against("axum_server");
}

#[test]
fn send_every_sample_to_the_actix_server() {
    every_sample_against("actix_server");
}

#[test]
fn send_every_sample_to_the_hyper_server() {
    every_sample_against("hyper_server");
}

/// The store() notification sample, against an endpoint that takes it.
#[cfg(feature = "axum")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_store_notification_to_a_stored_message_endpoint() {
    use axum::routing::post;
    use mailgun_webhooks::axum::{Webhook, WebhookResponse};
    use mailgun_webhooks::{MemoryReplayStore, Receiver, SigningKey, StoredMessage, Verifier};

    async fn stored(webhook: Webhook<StoredMessage>) -> WebhookResponse {
        webhook
            .process(|m| async move {
                let m = m.into_payload();
                assert!(m.message_url.is_some());
                assert_eq!(m.attachments.len(), 1);
                Ok(())
            })
            .await
    }
    let receiver = Receiver::new(
        Verifier::new(SigningKey::new(DEMO_KEY)),
        MemoryReplayStore::new(),
    );
    let app = axum::Router::new()
        .route("/store", post(stored))
        .with_state(receiver);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/store", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let out = tokio::task::spawn_blocking(move || {
        run(
            &["send", "store", "--key", DEMO_KEY, "--to", &url, "--twice"],
            &[],
        )
    })
    .await
    .unwrap();
    server.abort();
    assert_eq!(
        (out.0, out.1.as_str()),
        (0, "200 ok\n200 duplicate\n"),
        "{}",
        out.2
    );
}

#[test]
fn send_arguments_and_help() {
    let (code, out, _) = run(&["send", "--help"], &[]);
    assert_eq!(code, 0);
    for flag in [
        "--stale",
        "--future",
        "--wrong-key",
        "--twice",
        "--encoding",
        "--file",
    ] {
        assert!(out.contains(flag), "{flag}");
    }
    let (code, _, err) = run(
        &["send", "bogus", "--key", "k", "--to", "http://127.0.0.1:9/"],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no sample"), "{err}");
    let (code, _, _) = run(
        &[
            "send",
            "accepted",
            "--encoding",
            "legacy-form",
            "--key",
            "k",
            "--to",
            "x",
        ],
        &[],
    );
    assert_eq!(code, 2);
    let (code, _, _) = run(&["send", "delivered", "--to", "x"], &[]);
    assert_eq!(code, 2, "--key is required");
    // Nobody listens on port 9 of loopback: a connection error is exit 1.
    let (code, _, err) = run(
        &[
            "send",
            "delivered",
            "--key",
            "k",
            "--to",
            "http://127.0.0.1:9/",
        ],
        &[],
    );
    assert_eq!(code, 1, "{err}");
    let (code, out, _) = run(
        &["send", "inbound", "--key", "k", "--to", "x", "--dry-run"],
        &[],
    );
    assert_eq!(code, 0);
    assert!(out.starts_with("Content-Type: multipart/form-data; boundary="));
    assert!(out.contains("filename=\"invoice.txt\""));
    for sub in ["inspect", "webhooks", "events", "backfill"] {
        let (code, out, _) = run(&[sub, "--help"], &[]);
        assert_eq!(code, 0, "{sub}");
        assert!(out.contains("Exit codes"), "{sub}");
    }
}
