//! `send`: sign a sample payload or a file and POST it to a webhook endpoint.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use mailgun_webhooks::SigningKey;
use mailgun_webhooks::testing::{
    FormBody, SampleEncoding, SignedBody, json_body, now, sample_body, token,
};
use serde_json::Value;

/// How far in the past `--stale` signs: past the default 8 h 30 min window.
const STALE_SECS: u64 = 9 * 3600;
/// How far in the future `--future` signs: past the default 5 min skew.
const FUTURE_SECS: u64 = 3600;

#[derive(Debug, Args)]
pub struct SendArgs {
    /// The sample: an event name, or `inbound`, `raw-mime` or `store` for a route post.
    #[arg(
        value_name = "SAMPLE",
        required_unless_present = "file",
        conflicts_with = "file"
    )]
    sample: Option<String>,
    /// How an event sample is encoded: json, legacy-form or legacy-multipart.
    #[arg(long, default_value = "json", value_name = "ENCODING")]
    encoding: String,
    /// Sign this file instead of a sample: a JSON webhook body (its signature is replaced),
    /// a bare event-data JSON object (wrapped), or an urlencoded form (its timestamp, token
    /// and signature fields are replaced).
    #[arg(long, value_name = "PATH")]
    file: Option<String>,
    /// The webhook signing key to sign with.
    #[arg(
        long,
        env = "MAILGUN_WEBHOOK_SIGNING_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    key: String,
    /// The endpoint to POST to, e.g. http://127.0.0.1:3000/webhooks/mailgun.
    #[arg(long, value_name = "URL")]
    to: String,
    /// Sign with a timestamp 9 hours old (a stale delivery: expect 401 `stale`).
    #[arg(long, conflicts_with_all = ["future", "timestamp"])]
    stale: bool,
    /// Sign with a timestamp 1 hour ahead (expect 401 `future`).
    #[arg(long, conflicts_with = "timestamp")]
    future: bool,
    /// Sign at this time (unix seconds) instead of now.
    #[arg(long, value_name = "UNIX_SECS")]
    timestamp: Option<u64>,
    /// Sign with a random key instead of --key (expect 401 `signature_mismatch`).
    #[arg(long)]
    wrong_key: bool,
    /// POST the same signed delivery twice (expect `ok`, then `duplicate`).
    #[arg(long)]
    twice: bool,
    /// Print the signed body on stdout instead of sending it.
    #[arg(long)]
    dry_run: bool,
}

pub async fn run(args: SendArgs) -> ExitCode {
    let body = match build(&args) {
        Ok(body) => body,
        Err(msg) => {
            eprintln!("mailgun-webhooks send: {msg}");
            return ExitCode::from(2);
        }
    };
    if args.dry_run {
        println!("Content-Type: {}", body.content_type);
        println!();
        println!("{}", String::from_utf8_lossy(&body.body));
        return ExitCode::SUCCESS;
    }
    let client = match http_client() {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("mailgun-webhooks send: {msg}");
            return ExitCode::FAILURE;
        }
    };
    let times = if args.twice { 2 } else { 1 };
    let mut all_ok = true;
    for _ in 0..times {
        match post(&client, &args.to, &body).await {
            Ok((status, text)) => {
                println!("{status} {text}");
                all_ok &= status == 200;
            }
            Err(msg) => {
                eprintln!("mailgun-webhooks send: {msg}");
                return ExitCode::FAILURE;
            }
        }
    }
    if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The signed body the options describe.
fn build(args: &SendArgs) -> Result<SignedBody, String> {
    let key = if args.wrong_key {
        SigningKey::new(format!("wrong-{}", token()))
    } else {
        if args.key.trim().is_empty() {
            return Err("--key is empty".into());
        }
        SigningKey::new(args.key.as_str())
    };
    let ts = match (args.timestamp, args.stale, args.future) {
        (Some(ts), _, _) => ts,
        (None, true, _) => now().saturating_sub(STALE_SECS),
        (None, _, true) => now().saturating_add(FUTURE_SECS),
        _ => now(),
    };
    let tok = token();
    if let Some(path) = &args.file {
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        return sign_file(&bytes, &key, ts, &tok);
    }
    let name = args.sample.as_deref().unwrap_or_default();
    let encoding = match SampleEncoding::from_name(name) {
        Some(route) if route.is_route() => route,
        _ => {
            let enc = SampleEncoding::from_name(&args.encoding)
                .filter(|e| !e.is_route())
                .ok_or_else(|| {
                    format!(
                        "--encoding must be json, legacy-form or legacy-multipart, not {:?}",
                        args.encoding
                    )
                })?;
            if !enc.events().contains(&name) {
                return Err(format!(
                    "no sample {name:?} in {}: choose one of {}, or inbound, raw-mime, store",
                    enc.as_str(),
                    enc.events().join(", ")
                ));
            }
            enc
        }
    };
    sample_body(name, encoding, &key, ts, &tok).ok_or_else(|| format!("no sample {name:?}"))
}

/// Signs a file: JSON (a webhook body or bare event-data) or an urlencoded form.
fn sign_file(bytes: &[u8], key: &SigningKey, ts: u64, tok: &str) -> Result<SignedBody, String> {
    let trimmed = bytes.trim_ascii_start();
    if trimmed.starts_with(b"{") {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| format!("the file is not JSON: {e}"))?;
        let event_data = match value.get("event-data") {
            Some(data) => data.clone(),
            None => value,
        };
        return Ok(json_body(key, ts, tok, event_data));
    }
    if trimmed.starts_with(b"--") {
        return Err(
            "multipart files cannot be re-signed; send a sample or a JSON/form file".into(),
        );
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| "the file is neither JSON nor an urlencoded form".to_owned())?;
    let kept: Vec<&str> = text
        .trim_end()
        .split('&')
        .filter(|pair| {
            let name = pair.split('=').next().unwrap_or_default();
            !pair.is_empty() && !matches!(name, "timestamp" | "token" | "signature")
        })
        .collect();
    // The kept pairs as they were, then the new signature fields (last, as Mailgun sends them).
    let signature = FormBody::new().sign(key, ts, tok).urlencoded();
    let mut body = kept.join("&").into_bytes();
    if !body.is_empty() {
        body.push(b'&');
    }
    body.extend_from_slice(&signature.body);
    Ok(SignedBody::new("application/x-www-form-urlencoded", body))
}

/// A plain HTTP client for posting to webhook endpoints.
pub fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("mailgun-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("http client: {e}"))
}

/// POSTs `body`; gives the status and the first line of the answer.
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    body: &SignedBody,
) -> Result<(u16, String), String> {
    let response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, &body.content_type)
        .body(body.body.clone())
        .send()
        .await
        .map_err(|e| format!("POST {url}: {e}"))?;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let line: String = text
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect();
    Ok((status, line))
}
