//! The `api` client against a fake Mailgun API on loopback (tests/api_fake).
#![cfg(feature = "api")]

mod api_fake;

use std::time::{Duration, Instant};

use api_fake::{API_KEY, ATTACHMENT, EVENT_COUNT, FakeApi, STORED_MIME};
use futures_util::StreamExt;
use mailgun_webhooks::api::{ApiError, Client, EventsQuery, Region, StoredFormat, WebhookId};
use mailgun_webhooks::testing::{FormBody, now, token};
use mailgun_webhooks::{EventKind, SigningKey, StoredMessage, Verified, Verifier};

fn client(fake: &FakeApi) -> Client {
    Client::builder(API_KEY)
        .base_url(&fake.base)
        .storage_origin(&fake.base)
        .max_retry_wait(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test]
async fn v3_webhooks_crud_with_the_recorded_answers() {
    let fake = FakeApi::start().await;
    let hooks = client(&fake).webhooks("ruby.test");
    let url = "http://example.com/mailgun/events/accepted";

    let created = hooks.create(&WebhookId::Accepted, &[url]).await.unwrap();
    assert_eq!(
        (created.id.clone(), created.urls.clone()),
        (WebhookId::Accepted, vec![url.to_owned()])
    );
    let got = hooks.get(&WebhookId::Accepted).await.unwrap();
    assert_eq!(got.urls, [url]);
    let list = hooks.list().await.unwrap();
    let ids: Vec<_> = list.iter().map(|h| h.id.clone()).collect();
    assert_eq!(ids, [WebhookId::Accepted, WebhookId::Clicked]);
    let three = [url, "https://b.example/h", "https://c.example/h"];
    let updated = hooks.update(&WebhookId::Accepted, &three).await.unwrap();
    assert_eq!(updated.urls, [url]);
    let deleted = hooks.delete(&WebhookId::Accepted).await.unwrap();
    assert_eq!(deleted.urls, [url]);

    let reqs = fake.requests();
    let shape: Vec<(String, String)> = reqs
        .iter()
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    let p = "/v3/domains/ruby.test/webhooks";
    assert_eq!(
        shape,
        [
            ("POST".into(), p.into()),
            ("GET".into(), format!("{p}/accepted")),
            ("GET".into(), p.into()),
            ("PUT".into(), format!("{p}/accepted")),
            ("DELETE".into(), format!("{p}/accepted")),
        ]
    );
    assert!(reqs.iter().all(|r| r.authorized));
    assert_eq!(reqs[0].form_all("id"), ["accepted"]);
    assert_eq!(reqs[0].form_all("url"), [url]);
    assert_eq!(reqs[3].form_all("url"), three);
}

#[tokio::test]
async fn current_and_legacy_ids_from_the_php_fixtures() {
    let fake = FakeApi::start().await;
    let c = client(&fake);
    let current = c.webhooks("current.test").list().await.unwrap();
    assert_eq!(current.len(), 7);
    for h in &current {
        assert!(WebhookId::CURRENT.contains(&h.id), "{:?}", h.id);
        assert_eq!(h.urls, [format!("http://example.com/{}_1", h.id)]);
    }
    let legacy = c.webhooks("legacy.test").list().await.unwrap();
    assert_eq!(legacy.len(), 7);
    for h in &legacy {
        assert!(h.id.is_legacy(), "{:?}", h.id);
        // Legacy ids answer a single `url`.
        assert_eq!(h.urls, [format!("http://example.com/{}_1", h.id)]);
    }
    let one = c
        .webhooks("current.test")
        .get(&WebhookId::Clicked)
        .await
        .unwrap();
    assert_eq!(one.urls, ["http://example.com/hook_1"]);
}

#[tokio::test]
async fn errors_unauthorized_not_found_invalid_input() {
    let fake = FakeApi::start().await;
    let wrong = Client::builder("key-wrong")
        .base_url(&fake.base)
        .build()
        .unwrap();
    let err = wrong.webhooks("ruby.test").list().await.unwrap_err();
    assert!(matches!(err, ApiError::Unauthorized), "{err:?}");
    assert_eq!(err.status(), Some(401));
    let msg = err.to_string();
    assert!(
        msg.contains("API key") && !msg.contains("key-wrong"),
        "{msg}"
    );
    assert!(!fake.requests()[0].authorized);

    let c = client(&fake);
    let err = c.webhooks("nope.test").list().await.unwrap_err();
    match &err {
        ApiError::Status { status, message } => {
            assert_eq!((*status, message.as_str()), (404, "Domain not found"))
        }
        other => panic!("{other:?}"),
    }
    // The fake's own validation: an empty id is refused by the server.
    let err = c
        .webhooks("ruby.test")
        .create(&WebhookId::Other(String::new()), &["https://a.example/h"])
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err:?}");

    // Client-side checks send nothing.
    let before = fake.count();
    let four = ["https://a/1", "https://a/2", "https://a/3", "https://a/4"];
    for result in [
        c.webhooks("ruby.test")
            .create(&WebhookId::Delivered, &four)
            .await,
        c.webhooks("ruby.test")
            .update(&WebhookId::Delivered, &[])
            .await,
        c.webhooks("").list().await.map(|_| unreachable!()),
        c.webhooks("ruby.test")
            .get(&WebhookId::Other(String::new()))
            .await,
        c.webhooks("ruby.test")
            .delete(&WebhookId::Other(" ".into()))
            .await,
    ] {
        assert!(
            matches!(result, Err(ApiError::InvalidInput(_))),
            "{result:?}"
        );
    }
    assert_eq!(fake.count(), before);
    assert!(Client::new(" ").is_err());
    assert_eq!(
        Client::builder("k")
            .region(Region::Eu)
            .build()
            .unwrap()
            .base_url(),
        "https://api.eu.mailgun.net"
    );
}

#[tokio::test]
async fn retries_429_honouring_retry_seconds_and_5xx_once() {
    let fake = FakeApi::start().await;
    let c = client(&fake);
    let started = Instant::now();
    let list = c.webhooks("ratelimited.test").list().await.unwrap();
    assert_eq!(list.len(), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "retried before the server's retry-seconds: {:?}",
        started.elapsed()
    );
    assert_eq!(fake.count(), 2);

    // A wait longer than max_retry_wait is not waited for.
    let started = Instant::now();
    let err = c.webhooks("slowdown.test").list().await.unwrap_err();
    assert_eq!(err.status(), Some(429));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(fake.count(), 3);

    let started = Instant::now();
    let list = c.webhooks("flaky.test").list().await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(fake.count(), 5);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "retried before Retry-After: {:?}",
        started.elapsed()
    );

    // Without retries, the 503 is the answer.
    let fake = FakeApi::start().await;
    let once = Client::builder(API_KEY)
        .base_url(&fake.base)
        .max_retries(0)
        .build()
        .unwrap();
    let err = once.webhooks("flaky.test").list().await.unwrap_err();
    assert_eq!(err.status(), Some(503));
}

#[tokio::test]
async fn v4_and_account_webhooks() {
    let fake = FakeApi::start().await;
    let c = client(&fake);
    let url = "https://example.com/hooks";
    let events = [
        WebhookId::Delivered,
        WebhookId::PermanentFail,
        WebhookId::Opened,
    ];
    let made = c
        .webhooks_v4("ruby.test")
        .create(url, &events)
        .await
        .unwrap();
    assert_eq!(made.len(), 3);
    assert!(made.iter().all(|h| h.urls == [url]));
    c.webhooks_v4("ruby.test")
        .update(url, &events[..1])
        .await
        .unwrap();
    c.webhooks_v4("ruby.test").delete(url).await.unwrap();
    assert!(matches!(
        c.webhooks_v4("ruby.test").create(url, &[]).await,
        Err(ApiError::InvalidInput(_))
    ));

    let account = c.account_webhooks();
    let list = account.list().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].webhook_id, "wh-1");
    assert_eq!(
        list[0].event_types,
        [WebhookId::Delivered, WebhookId::PermanentFail]
    );
    assert_eq!(
        account.get("wh-1").await.unwrap().url.as_deref(),
        Some("https://example.com/all")
    );
    let id = account
        .create(url, &events, Some("all events"))
        .await
        .unwrap();
    assert_eq!(id, "wh-2");
    account.update("wh-1", url, &events, None).await.unwrap();
    account.delete(&["wh-1", "wh-2"]).await.unwrap();
    let err = account.get("missing").await.unwrap_err();
    assert_eq!(err.status(), Some(404));

    let reqs = fake.requests();
    let v4 = &reqs[0];
    assert_eq!(
        (v4.method.as_str(), v4.path.as_str()),
        ("POST", "/v4/domains/ruby.test/webhooks")
    );
    assert_eq!(v4.form_all("url"), [url]);
    assert_eq!(
        v4.form_all("event_types"),
        ["delivered", "permanent_fail", "opened"]
    );
    assert_eq!(reqs[1].method, "PUT");
    assert_eq!(
        (reqs[2].method.as_str(), reqs[2].query("url")),
        ("DELETE", Some(url))
    );
    let create = reqs
        .iter()
        .find(|r| r.method == "POST" && r.path == "/v1/webhooks")
        .unwrap();
    assert_eq!(create.form_all("description"), ["all events"]);
    let delete = reqs
        .iter()
        .find(|r| r.method == "DELETE" && r.path == "/v1/webhooks")
        .unwrap();
    assert_eq!(delete.query("webhook_ids"), Some("wh-1,wh-2"));
}

#[tokio::test]
async fn events_follow_paging_next_until_an_empty_page() {
    let fake = FakeApi::start().await;
    let c = client(&fake);
    let q = EventsQuery::new()
        .begin(1_767_225_600)
        .end(1_767_312_000)
        .ascending(true)
        .limit(3)
        .event("delivered OR failed")
        .recipient("alice@example.com");
    let items: Vec<_> = c
        .events("events.test", &q)
        .into_stream()
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let ids: Vec<_> = items
        .iter()
        .map(|i| i.event.id().unwrap().to_owned())
        .collect();
    let expected: Vec<_> = (1..=EVENT_COUNT).map(|i| format!("ev-{i}")).collect();
    assert_eq!(ids, expected);
    assert_eq!(items[0].event.kind(), EventKind::Opened);
    assert_eq!(items[1].event.kind(), EventKind::Failed);
    assert_eq!(items[0].raw["id"], "ev-1");

    // 7 events in pages of 3: three pages, then the empty one.
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 4);
    let first = &reqs[0];
    assert_eq!(first.path, "/v3/events.test/events");
    for (k, v) in [
        ("begin", "1767225600"),
        ("end", "1767312000"),
        ("ascending", "yes"),
        ("limit", "3"),
        ("event", "delivered OR failed"),
        ("recipient", "alice@example.com"),
    ] {
        assert_eq!(first.query(k), Some(v), "{k}");
    }
    assert_eq!(reqs[3].path, "/v3/events.test/events/page-7");

    let mut nowhere = c.events("", &EventsQuery::new());
    assert!(matches!(
        nowhere.next_page().await,
        Err(ApiError::InvalidInput(_))
    ));
    assert!(nowhere.next_page().await.unwrap().is_none());

    // page by page
    let mut pages = c.events("events.test", &EventsQuery::new().limit(5));
    assert_eq!(pages.next_page().await.unwrap().unwrap().len(), 5);
    assert_eq!(pages.next_page().await.unwrap().unwrap().len(), 2);
    assert!(pages.next_page().await.unwrap().is_none());
    assert!(pages.next_page().await.unwrap().is_none());
}

#[tokio::test]
async fn events_never_follow_paging_next_to_another_host() {
    let fake = FakeApi::start().await;
    let c = client(&fake);
    let mut pages = c.events("hostile-paging.test", &EventsQuery::new());
    let err = pages.next_page().await.unwrap_err();
    assert!(matches!(err, ApiError::InvalidResponse(_)), "{err:?}");
    assert!(pages.next_page().await.unwrap().is_none());
    // The recorded page is parsed the same way; only its next link is refused.
    assert_eq!(fake.count(), 1);
    let err = Client::builder("k")
        .base_url(&fake.base)
        .build()
        .unwrap()
        .events("events.test", &EventsQuery::new())
        .into_stream()
        .next()
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, ApiError::Unauthorized));
}

const KEY: &str = "store-test-signing-key";

fn notification(message_url: &str, attachment_url: &str) -> Verified<StoredMessage> {
    let attachments = serde_json::json!([{"url": attachment_url, "name": "invoice.txt",
        "content-type": "text/plain", "size": ATTACHMENT.len()}]);
    let key = SigningKey::new(KEY);
    let body = FormBody::new()
        .field("recipient", "support@mg.example.com")
        .field("sender", "bob@example.net")
        .field("message-url", message_url)
        .field("attachments", attachments.to_string())
        .sign(&key, now(), &token())
        .urlencoded();
    Verifier::new(key)
        .parse_and_verify(&body.content_type, &body.body)
        .unwrap()
        .map(|p| p.into_stored().unwrap())
}

const STORE: &str = "https://storage-us-east4.api.mailgun.net/v3/domains/mg.example.com/messages";

#[tokio::test]
async fn stored_message_json_mime_and_attachment() {
    let fake = FakeApi::start().await;
    let c = client(&fake);
    let stored = notification(
        &format!("{STORE}/BAABAQ"),
        &format!("{STORE}/BAABAQ/attachments/0"),
    );

    let json = c
        .fetch_stored_message(&stored, StoredFormat::Json)
        .await
        .unwrap();
    assert_eq!(json["subject"], "Stored");
    let mime = c
        .fetch_stored_message(&stored, StoredFormat::Mime)
        .await
        .unwrap();
    assert_eq!(mime["body-mime"], STORED_MIME);
    let mut out: Vec<u8> = Vec::new();
    let n = c
        .download_stored_message(&stored, StoredFormat::Mime, &mut out)
        .await
        .unwrap();
    assert_eq!(n, out.len() as u64);
    assert!(String::from_utf8(out).unwrap().contains("Hello."));
    let mut file: Vec<u8> = Vec::new();
    let n = c
        .download_stored_attachment(&stored, 0, &mut file)
        .await
        .unwrap();
    assert_eq!((n, file.as_slice()), (ATTACHMENT.len() as u64, ATTACHMENT));
    assert!(matches!(
        c.download_stored_attachment(&stored, 1, &mut file).await,
        Err(ApiError::InvalidInput(_))
    ));

    let reqs = fake.requests();
    let accepts: Vec<_> = reqs
        .iter()
        .map(|r| r.accept.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        accepts[..3],
        ["application/json", "message/rfc2822", "message/rfc2822"]
    );
    assert_eq!(
        reqs[3].path,
        "/v3/domains/mg.example.com/messages/BAABAQ/attachments/0"
    );
    assert!(reqs.iter().all(|r| r.authorized));

    // The download cap applies to the message and to attachments.
    let capped = Client::builder(API_KEY)
        .base_url(&fake.base)
        .storage_origin(&fake.base)
        .max_download(1024)
        .build()
        .unwrap();
    let big = notification(
        &format!("{STORE}/BIG"),
        &format!("{STORE}/BIG/attachments/0"),
    );
    let err = capped
        .fetch_stored_message(&big, StoredFormat::Json)
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::TooLarge { limit: 1024 }), "{err:?}");
    let mut sink: Vec<u8> = Vec::new();
    let err = capped
        .download_stored_attachment(&big, 0, &mut sink)
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::TooLarge { limit: 1024 }), "{err:?}");
}

#[tokio::test]
async fn stored_message_fetch_refuses_hostile_urls_and_sends_nothing() {
    let fake = FakeApi::start().await;
    // Another loopback server that must never hear from the client.
    let elsewhere = FakeApi::start().await;
    let c = client(&fake);
    let hostile = [
        format!("http://{}/v3/domains/x/messages/BAABAQ", elsewhere.addr),
        format!("https://{}/v3/domains/x/messages/BAABAQ", elsewhere.addr),
        "https://evil.example/v3/domains/x/messages/BAABAQ".to_owned(),
        "http://storage.api.mailgun.net/v3/domains/x/messages/BAABAQ".to_owned(),
        "https://evil.example\\.mailgun.net/v3/domains/x/messages/BAABAQ".to_owned(),
        "https://evil.example\\@storage.api.mailgun.net/v3/x/messages/BAABAQ".to_owned(),
        "https://storage.api.mailgun.net@evil.example/v3/x/messages/BAABAQ".to_owned(),
        "https://evil.example@storage.api.mailgun.net/v3/x/messages/BAABAQ".to_owned(),
        "https://storage.api.mailgun%2enet/v3/x/messages/BAABAQ".to_owned(),
        "https://storage.api.mailgun%2Enet.evil.example/v3/x/messages/BAABAQ".to_owned(),
        "https://storage.api.mailgun.net./v3/x/messages/BAABAQ".to_owned(),
        // (Upper case is not hostile: a WHATWG parser reads the same Mailgun host.)
        "https://storage.api.mailgun.nеt/v3/x/messages/BAABAQ".to_owned(), // Cyrillic е
        "https://storage.api.xn--mailgn-3ya.net/v3/x/messages/BAABAQ".to_owned(),
        "https://storage.api.mailgun.net:8443/v3/x/messages/BAABAQ".to_owned(),
        "https://storage.api.mailgun.net:443/v3/x/messages/BAABAQ".to_owned(),
        "https://mailgun.net.evil.example/v3/x/messages/BAABAQ".to_owned(),
        "https://evilmailgun.net/v3/x/messages/BAABAQ".to_owned(),
        "https://storage.api.mailgun.net\t/v3/x/messages/BAABAQ".to_owned(),
        "//storage.api.mailgun.net/v3/x/messages/BAABAQ".to_owned(),
    ];
    for url in &hostile {
        let stored = notification(url, url);
        let mut sink: Vec<u8> = Vec::new();
        let results = [
            c.fetch_stored_message(&stored, StoredFormat::Json)
                .await
                .map(|_| 0),
            c.download_stored_message(&stored, StoredFormat::Mime, &mut sink)
                .await,
            c.download_stored_attachment(&stored, 0, &mut sink).await,
        ];
        for r in results {
            // Either the parser already dropped the URL, or the client refused it.
            assert!(
                matches!(r, Err(ApiError::UntrustedUrl | ApiError::InvalidInput(_))),
                "{url}: {r:?}"
            );
        }
        assert!(sink.is_empty());
    }
    assert_eq!(fake.count(), 0, "{:?}", fake.requests());
    assert_eq!(elsewhere.count(), 0, "{:?}", elsewhere.requests());

    // The parser and the client share one check; whatever the parser let through, the client
    // checks again (an explicit port is refused by both).
    let stored = notification(
        "https://storage.api.mailgun.net:8443/v3/x/messages/BAABAQ",
        "https://storage.api.mailgun.net:443/v3/x/messages/BAABAQ/attachments/0",
    );
    let mut sink: Vec<u8> = Vec::new();
    if stored.payload().message_url.is_some() {
        assert!(matches!(
            c.fetch_stored_message(&stored, StoredFormat::Json).await,
            Err(ApiError::UntrustedUrl)
        ));
    }
    if !stored.payload().attachments.is_empty() {
        assert!(matches!(
            c.download_stored_attachment(&stored, 0, &mut sink).await,
            Err(ApiError::UntrustedUrl)
        ));
    }
    assert_eq!(fake.count(), 0);
}
