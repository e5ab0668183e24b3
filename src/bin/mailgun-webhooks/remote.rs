//! `webhooks`, `events` and `backfill`: the commands that talk to the Mailgun API.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use futures_util::StreamExt;
use mailgun_webhooks::SigningKey;
use mailgun_webhooks::api::{ApiError, DomainWebhook, EventsQuery, WebhookId};
use mailgun_webhooks::testing::{json_body, now, token};
use serde_json::json;

use crate::ApiArgs;
use crate::send::{http_client, post};

#[derive(Debug, Subcommand)]
pub enum WebhooksAction {
    /// List every webhook of the domain.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one webhook's URLs.
    Get {
        /// The webhook id: accepted, clicked, complained, delivered, opened, permanent_fail,
        /// temporary_fail, unsubscribed (or a legacy id).
        id: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Create a webhook with 1 to 3 URLs.
    Create {
        /// The webhook id (event type).
        id: String,
        /// A URL (repeat up to 3 times).
        #[arg(long = "url", value_name = "URL", required = true)]
        urls: Vec<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Replace a webhook's URLs (1 to 3).
    Update {
        /// The webhook id (event type).
        id: String,
        /// A URL (repeat up to 3 times).
        #[arg(long = "url", value_name = "URL", required = true)]
        urls: Vec<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Delete a webhook.
    Delete {
        /// The webhook id (event type).
        id: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn print_hooks(hooks: &[DomainWebhook], as_json: bool) {
    if as_json {
        let map: serde_json::Map<String, serde_json::Value> = hooks
            .iter()
            .map(|h| (h.id.to_string(), json!({"urls": h.urls})))
            .collect();
        println!("{}", json!({"webhooks": map}));
        return;
    }
    let width = hooks
        .iter()
        .map(|h| h.id.as_str().len())
        .max()
        .unwrap_or(2)
        .max(2);
    println!("{:width$}  URLS", "ID");
    for h in hooks {
        println!("{:width$}  {}", h.id.as_str(), h.urls.join(" "));
    }
}

fn refs(urls: &[String]) -> Vec<&str> {
    urls.iter().map(String::as_str).collect()
}

fn api_failed(e: &ApiError) -> ExitCode {
    eprintln!("mailgun-webhooks: {e}");
    ExitCode::FAILURE
}

pub async fn webhooks(api: &ApiArgs, action: WebhooksAction) -> ExitCode {
    let client = match api.client() {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("mailgun-webhooks: {msg}");
            return ExitCode::from(2);
        }
    };
    let hooks = client.webhooks(&api.domain);
    let (result, as_json) = match &action {
        WebhooksAction::List { json } => (hooks.list().await, *json),
        WebhooksAction::Get { id, json } => (
            hooks.get(&WebhookId::from_name(id)).await.map(|h| vec![h]),
            *json,
        ),
        WebhooksAction::Create { id, urls, json } => (
            hooks
                .create(&WebhookId::from_name(id), &refs(urls))
                .await
                .map(|h| vec![h]),
            *json,
        ),
        WebhooksAction::Update { id, urls, json } => (
            hooks
                .update(&WebhookId::from_name(id), &refs(urls))
                .await
                .map(|h| vec![h]),
            *json,
        ),
        WebhooksAction::Delete { id, json } => (
            hooks
                .delete(&WebhookId::from_name(id))
                .await
                .map(|h| vec![h]),
            *json,
        ),
    };
    match result {
        Ok(list) => {
            print_hooks(&list, as_json);
            ExitCode::SUCCESS
        }
        Err(ApiError::InvalidInput(msg)) => {
            eprintln!("mailgun-webhooks: {msg}");
            ExitCode::from(2)
        }
        Err(e) => api_failed(&e),
    }
}

/// The Events API filters shared by `events` and `backfill`.
#[derive(Debug, Args)]
pub struct EventFilter {
    /// Only events of this type, or a filter expression such as "failed OR rejected".
    #[arg(long, value_name = "FILTER")]
    event: Option<String>,
    /// Only events for this recipient.
    #[arg(long, value_name = "ADDRESS")]
    recipient: Option<String>,
    /// Events per page (Mailgun allows up to 300).
    #[arg(long, value_name = "N")]
    page_size: Option<u32>,
    /// Stop after this many events.
    #[arg(long, value_name = "N")]
    max: Option<u64>,
}

impl EventFilter {
    fn apply(&self, mut q: EventsQuery) -> EventsQuery {
        if let Some(e) = &self.event {
            q = q.event(e.clone());
        }
        if let Some(r) = &self.recipient {
            q = q.recipient(r.clone());
        }
        if let Some(n) = self.page_size {
            q = q.limit(n);
        }
        q
    }
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(flatten)]
    api: ApiArgs,
    /// Events from this time (unix seconds).
    #[arg(long, value_name = "UNIX_SECS")]
    begin: Option<u64>,
    /// Events up to this time (unix seconds).
    #[arg(long, value_name = "UNIX_SECS")]
    end: Option<u64>,
    /// Oldest first.
    #[arg(long)]
    ascending: bool,
    #[command(flatten)]
    filter: EventFilter,
}

pub async fn events(args: EventsArgs) -> ExitCode {
    let client = match args.api.client() {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("mailgun-webhooks: {msg}");
            return ExitCode::from(2);
        }
    };
    let mut q = args
        .filter
        .apply(EventsQuery::new().ascending(args.ascending));
    if let Some(b) = args.begin {
        q = q.begin(b);
    }
    if let Some(e) = args.end {
        q = q.end(e);
    }
    let stream = client.events(&args.api.domain, &q).into_stream();
    let mut stream = std::pin::pin!(stream);
    let mut count: u64 = 0;
    while let Some(item) = stream.next().await {
        if args.filter.max.is_some_and(|m| count >= m) {
            break;
        }
        match item {
            Ok(item) => {
                println!("{}", item.raw);
                count = count.saturating_add(1);
            }
            Err(e) => return api_failed(&e),
        }
    }
    ExitCode::SUCCESS
}

#[derive(Debug, Args)]
pub struct BackfillArgs {
    #[command(flatten)]
    api: ApiArgs,
    /// Backfill events from this time (unix seconds), oldest first.
    #[arg(long, value_name = "UNIX_SECS")]
    since: u64,
    /// Up to this time (unix seconds; default: now).
    #[arg(long, value_name = "UNIX_SECS")]
    until: Option<u64>,
    /// The local endpoint to POST each event to.
    #[arg(long, value_name = "URL")]
    to: String,
    /// The webhook signing key the endpoint verifies with.
    #[arg(
        long,
        env = "MAILGUN_WEBHOOK_SIGNING_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    key: String,
    #[command(flatten)]
    filter: EventFilter,
}

pub async fn backfill(args: BackfillArgs) -> ExitCode {
    if args.key.trim().is_empty() {
        eprintln!("mailgun-webhooks backfill: --key is empty");
        return ExitCode::from(2);
    }
    let (client, http) = match (args.api.client(), http_client()) {
        (Ok(c), Ok(h)) => (c, h),
        (Err(msg), _) | (_, Err(msg)) => {
            eprintln!("mailgun-webhooks: {msg}");
            return ExitCode::from(2);
        }
    };
    let key = SigningKey::new(args.key.as_str());
    let q = args.filter.apply(
        EventsQuery::new()
            .ascending(true)
            .begin(args.since)
            .end(args.until.unwrap_or_else(now)),
    );
    let stream = client.events(&args.api.domain, &q).into_stream();
    let mut stream = std::pin::pin!(stream);
    let (mut sent, mut refused): (u64, u64) = (0, 0);
    while let Some(item) = stream.next().await {
        if args.filter.max.is_some_and(|m| sent >= m) {
            break;
        }
        let item = match item {
            Ok(item) => item,
            Err(e) => return api_failed(&e),
        };
        // A fresh signature per event: the endpoint's replay store sees a new delivery.
        let body = json_body(&key, now(), &token(), item.raw.clone());
        let id = item.event.id().unwrap_or("-").to_owned();
        match post(&http, &args.to, &body).await {
            Ok((status, text)) => {
                println!("{status} {text} {} {id}", item.event.name());
                if status != 200 {
                    refused = refused.saturating_add(1);
                }
            }
            Err(msg) => {
                eprintln!("mailgun-webhooks backfill: {msg}");
                return ExitCode::FAILURE;
            }
        }
        sent = sent.saturating_add(1);
    }
    eprintln!("backfill: {sent} events posted, {refused} not answered 200");
    if refused == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
