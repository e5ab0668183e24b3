//! `mailgun-webhooks`: inspect captured Mailgun payloads, send signed samples to a local
//! handler, manage webhooks, read events, and backfill missed events.
//!
//! Install with `cargo install mailgun-webhooks --features cli` (or `--path .` from a
//! checkout); `mailgun-webhooks --help` and `mailgun-webhooks <command> --help` document every
//! option.

mod inspect;
mod remote;
mod send;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Exit codes, shown by `--help`.
const EXIT_CODES: &str = "\
Exit codes:
  0  success (inspect: the payload parsed and verified; send/backfill: every POST answered 200)
  1  failure (inspect: the payload did not parse or verify; send/backfill: an endpoint answered
     another status or could not be reached; webhooks/events: the API answered an error)
  2  bad arguments, or a file that cannot be read";

#[derive(Debug, Parser)]
#[command(
    name = "mailgun-webhooks",
    version,
    about = "Inspect, send and backfill Mailgun webhooks; manage webhooks through the Mailgun API",
    after_help = EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Parse (and with --key verify) a captured payload; print one JSON object.
    ///
    /// FILE is a request body, or a whole captured HTTP/1.1 request (its headers give the
    /// content type). Without --content-type the type is inferred: `{` is JSON, a first line
    /// `--BOUNDARY` is multipart, anything else is urlencoded. Prints the payload's fields, or
    /// {"error": {"kind", "status", "message"}} and exits 1.
    #[command(after_help = EXIT_CODES)]
    Inspect(InspectArgs),
    /// Sign a sample payload (or a JSON/urlencoded file) with a signing key and POST it.
    ///
    /// The fastest way to test a local handler, which Mailgun's own "test webhook" button
    /// cannot reach. SAMPLE is an event (accepted, rejected, delivered, failed,
    /// permanent_fail, temporary_fail, opened, clicked, unsubscribed, complained, stored,
    /// list_member_uploaded, list_member_upload_error, list_uploaded) sent in --encoding, or a
    /// route post: `inbound` (parsed, with attachments), `raw-mime`, `store` (a store()
    /// notification). Prints "STATUS BODY" per POST.
    #[command(after_help = EXIT_CODES)]
    Send(send::SendArgs),
    /// List, get, create, update or delete the webhooks of a domain (v3 API).
    #[command(after_help = EXIT_CODES)]
    Webhooks {
        #[command(flatten)]
        api: ApiArgs,
        #[command(subcommand)]
        action: remote::WebhooksAction,
    },
    /// Print events from the Events API as JSON lines (one event-data object per line).
    #[command(after_help = EXIT_CODES)]
    Events(remote::EventsArgs),
    /// Fetch events from the Events API and POST each one, signed, to a local endpoint.
    ///
    /// Recovers what a service missed after an outage longer than Mailgun's 8 hours of
    /// retries. Each backfilled delivery has a fresh token and timestamp, so replay
    /// protection does not see it as a duplicate of an earlier delivery of the same event:
    /// a handler that must process each event once keys on the event's `id` (and
    /// `timestamp`), e.g. a unique constraint on (event id, event timestamp).
    #[command(after_help = EXIT_CODES)]
    Backfill(remote::BackfillArgs),
}

/// Options of `inspect` (DESIGN.md §6).
#[derive(Debug, Args)]
struct InspectArgs {
    /// A webhook signing key to verify with (repeat for previous keys, newest first).
    #[arg(long = "key", value_name = "KEY")]
    keys: Vec<String>,
    /// The parent account's signing key, for sub-account events (`parent-signature`).
    #[arg(long, value_name = "KEY", requires = "keys")]
    parent_key: Option<String>,
    /// Measure freshness at this time (unix seconds) instead of now.
    #[arg(long, value_name = "UNIX_SECS")]
    now: Option<u64>,
    /// How old a signature may be, in seconds (default 30600, 8 h 30 min).
    #[arg(long, value_name = "SECS")]
    max_age: Option<u64>,
    /// The body's content type, when FILE is a bare body.
    #[arg(long, value_name = "CT")]
    content_type: Option<String>,
    /// The captured body or HTTP request.
    #[arg(value_name = "FILE")]
    file: String,
}

/// Where the Mailgun API is and how to authenticate.
#[derive(Debug, Clone, Args)]
struct ApiArgs {
    /// The private API key (not the webhook signing key).
    #[arg(
        long,
        env = "MAILGUN_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    api_key: String,
    /// The region: us or eu.
    #[arg(
        long,
        env = "MAILGUN_REGION",
        default_value = "us",
        value_name = "REGION"
    )]
    region: String,
    /// A custom API base URL (a proxy or a test server); overrides --region.
    #[arg(long, env = "MAILGUN_API_BASE", value_name = "URL")]
    api_base: Option<String>,
    /// The sending domain.
    #[arg(long, env = "MAILGUN_DOMAIN", value_name = "DOMAIN")]
    domain: String,
}

impl ApiArgs {
    fn client(&self) -> Result<mailgun_webhooks::api::Client, String> {
        let mut builder = mailgun_webhooks::api::Client::builder(self.api_key.clone());
        match &self.api_base {
            Some(base) => builder = builder.base_url(base.clone()),
            None => {
                let region = mailgun_webhooks::api::Region::from_name(&self.region)
                    .ok_or_else(|| format!("--region must be us or eu, not {:?}", self.region))?;
                builder = builder.region(region);
            }
        }
        builder.build().map_err(|e| e.to_string())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Inspect(a) => inspect::run(&inspect::Args {
            keys: a.keys,
            parent_key: a.parent_key,
            now: a.now,
            max_age: a.max_age,
            content_type: a.content_type,
            file: Some(a.file),
        }),
        Command::Send(a) => send::run(a).await,
        Command::Webhooks { api, action } => remote::webhooks(&api, action).await,
        Command::Events(a) => remote::events(a).await,
        Command::Backfill(a) => remote::backfill(a).await,
    }
}
