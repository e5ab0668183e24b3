//! `mailgun-webhooks webhooks|events|backfill` against the fake Mailgun API (tests/api_fake),
//! and `backfill` into the axum example server: every event arrives once.
#![cfg(feature = "cli")]

mod api_fake;
mod cli_common;

use api_fake::{API_KEY, EVENT_COUNT, FakeApi};
use cli_common::{DEMO_KEY, ExampleServer, run};
use serde_json::Value;

/// Runs the tool off the runtime thread, so that the fake keeps answering.
async fn run_async(args: Vec<String>, env: Vec<(String, String)>) -> (i32, String, String) {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run(&args, &env)
    })
    .await
    .unwrap()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn api_env(fake: &FakeApi, key: &str) -> Vec<(String, String)> {
    vec![
        ("MAILGUN_API_KEY".into(), key.into()),
        ("MAILGUN_API_BASE".into(), fake.base.clone()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_commands() {
    let fake = FakeApi::start().await;
    let env = api_env(&fake, API_KEY);

    let (code, out, err) = run_async(
        strings(&["webhooks", "--domain", "current.test", "list", "--json"]),
        env.clone(),
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["webhooks"].as_object().unwrap().len(), 7);
    assert_eq!(
        v["webhooks"]["permanent_fail"]["urls"][0],
        "http://example.com/permanent_fail_1"
    );

    let (code, out, _) = run_async(
        strings(&["webhooks", "--domain", "legacy.test", "list"]),
        env.clone(),
    )
    .await;
    assert_eq!(code, 0);
    assert!(out.starts_with("ID "), "{out}");
    assert!(
        out.contains("bounce       http://example.com/bounce_1"),
        "{out}"
    );

    let url = "http://example.com/mailgun/events/accepted";
    for args in [
        vec![
            "webhooks",
            "--domain",
            "ruby.test",
            "create",
            "accepted",
            "--url",
            url,
        ],
        vec!["webhooks", "--domain", "ruby.test", "get", "accepted"],
        vec![
            "webhooks",
            "--domain",
            "ruby.test",
            "update",
            "accepted",
            "--url",
            url,
            "--url",
            "https://b.example/h",
        ],
        vec!["webhooks", "--domain", "ruby.test", "delete", "accepted"],
    ] {
        let (code, out, err) = run_async(strings(&args), env.clone()).await;
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(out.contains(&format!("accepted  {url}")), "{args:?}: {out}");
    }
    let reqs = fake.requests();
    let update = reqs.iter().find(|r| r.method == "PUT").unwrap();
    assert_eq!(update.form_all("url"), [url, "https://b.example/h"]);

    // Four URLs: refused before any request (exit 2).
    let before = fake.count();
    let (code, _, err) = run_async(
        strings(&[
            "webhooks",
            "--domain",
            "ruby.test",
            "create",
            "delivered",
            "--url",
            "https://a/1",
            "--url",
            "https://a/2",
            "--url",
            "https://a/3",
            "--url",
            "https://a/4",
        ]),
        env.clone(),
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert_eq!(fake.count(), before);

    // A wrong API key: exit 1 with the hint, and the key never printed.
    let (code, out, err) = run_async(
        strings(&["webhooks", "--domain", "ruby.test", "list"]),
        api_env(&fake, "key-not-this-one"),
    )
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("check the API key"), "{err}");
    assert!(!out.contains("key-not-this-one") && !err.contains("key-not-this-one"));
    let (code, _, err) = run_async(
        strings(&["webhooks", "--domain", "nope.test", "get", "delivered"]),
        env.clone(),
    )
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("404"), "{err}");
    // No API key at all: a usage error.
    let (code, _, _) = run_async(strings(&["webhooks", "--domain", "x", "list"]), vec![]).await;
    assert_eq!(code, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_as_json_lines() {
    let fake = FakeApi::start().await;
    let (code, out, err) = run_async(
        strings(&[
            "events",
            "--domain",
            "events.test",
            "--page-size",
            "3",
            "--ascending",
            "--begin",
            "1767225600",
        ]),
        api_env(&fake, API_KEY),
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let ids: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let expected: Vec<String> = (1..=EVENT_COUNT).map(|i| format!("ev-{i}")).collect();
    assert_eq!(ids, expected);
    let first = &fake.requests()[0];
    assert_eq!(first.query("ascending"), Some("yes"));
    assert_eq!(first.query("begin"), Some("1767225600"));

    let (code, out, _) = run_async(
        strings(&["events", "--domain", "events.test", "--max", "2"]),
        api_env(&fake, API_KEY),
    )
    .await;
    assert_eq!((code, out.lines().count()), (0, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_posts_every_event_once() {
    let fake = FakeApi::start().await;
    let Some(server) = ExampleServer::start("axum_server") else {
        return;
    };
    let (code, out, err) = run_async(
        strings(&[
            "backfill",
            "--domain",
            "events.test",
            "--since",
            "1767225600",
            "--to",
            &server.tracking_url(),
            "--key",
            DEMO_KEY,
            "--page-size",
            "3",
        ]),
        api_env(&fake, API_KEY),
    )
    .await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(out.lines().count(), EVENT_COUNT, "{out}");
    assert!(out.lines().all(|l| l.starts_with("200 ok ")), "{out}");
    assert!(
        err.contains(&format!("{EVENT_COUNT} events posted, 0 not answered 200")),
        "{err}"
    );
    let first = &fake.requests()[0];
    assert_eq!(first.query("ascending"), Some("yes"));
    assert_eq!(first.query("begin"), Some("1767225600"));

    // With the wrong key the endpoint refuses every event: exit 1.
    let (code, out, _) = run_async(
        strings(&[
            "backfill",
            "--domain",
            "events.test",
            "--since",
            "1767225600",
            "--to",
            &server.tracking_url(),
            "--key",
            "not-the-key",
            "--max",
            "2",
        ]),
        api_env(&fake, API_KEY),
    )
    .await;
    assert_eq!(code, 1);
    assert!(out.lines().all(|l| l.starts_with("401 ")), "{out}");

    let log = server.stop();
    for i in 1..=EVENT_COUNT {
        let id = format!("id=ev-{i}\n");
        assert_eq!(log.matches(&id).count(), 1, "ev-{i} in:\n{log}");
    }
}
