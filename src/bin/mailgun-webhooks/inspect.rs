//! Parse (and optionally verify) a captured Mailgun webhook or route payload, and print what
//! it contains as one JSON object.
//!
//! ```text
//! cargo run --example inspect -- [--key KEY]... [--parent-key KEY] [--now UNIX_SECS]
//!                                [--max-age SECS] [--content-type CT] FILE
//! ```
//!
//! FILE is a request body, or a whole captured HTTP/1.1 request (its headers give the content
//! type). Without `--content-type` the type is inferred: `{` or `[` is JSON, a first line `--BOUNDARY`
//! is multipart with that boundary, anything else is urlencoded. Without `--key` the payload
//! is only parsed; with one or more it is verified against them, at `--now` if given, else at
//! the current time. Exit status: 0 when it parsed (and verified), 1 with an `{"error": ...}`
//! object otherwise, 2 for bad arguments.
//!
//! Shared by `mailgun-webhooks inspect` (clap parses the arguments into [`Args`]) and
//! `examples/inspect.rs` (which uses [`main_with_args`]'s own parser).
#![allow(dead_code)] // each of the two binaries uses part of this module

use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use mailgun_webhooks::{
    Attachment, Error, ErrorKind, Event, InboundMessage, KeyId, KeyRing, Payload, SigningKey,
    Verifier,
};
use serde_json::{Value, json};

const USAGE: &str = "usage: inspect [--key KEY]... [--parent-key KEY] [--now UNIX_SECS] \
                     [--max-age SECS] [--content-type CT] FILE";

#[derive(Default)]
pub struct Args {
    pub keys: Vec<String>,
    pub parent_key: Option<String>,
    pub now: Option<u64>,
    pub max_age: Option<u64>,
    pub content_type: Option<String>,
    pub file: Option<String>,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args::default();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--key" => args.keys.push(value("--key")?),
            "--parent-key" => args.parent_key = Some(value("--parent-key")?),
            "--now" => args.now = Some(number(&value("--now")?, "--now")?),
            "--max-age" => args.max_age = Some(number(&value("--max-age")?, "--max-age")?),
            "--content-type" => args.content_type = Some(value("--content-type")?),
            "-h" | "--help" => return Err(String::new()),
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            _ if args.file.is_some() => return Err("only one FILE may be given".into()),
            _ => args.file = Some(arg),
        }
    }
    if args.file.is_none() {
        return Err("FILE is missing".into());
    }
    if args.parent_key.is_some() && args.keys.is_empty() {
        return Err("--parent-key needs at least one --key".into());
    }
    Ok(args)
}

fn number(s: &str, name: &str) -> Result<u64, String> {
    s.parse()
        .map_err(|_| format!("{name} takes whole seconds, not {s:?}"))
}

pub fn main_with_args(args: impl Iterator<Item = String>) -> ExitCode {
    let args = match parse_args(args) {
        Ok(a) => a,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("inspect: {msg}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    run(&args)
}

/// Reads FILE, prints the JSON object, and gives the exit status.
pub fn run(args: &Args) -> ExitCode {
    let path = args.file.as_deref().unwrap_or_default();
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("inspect: cannot read {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let (out, code) = match inspect(args, &bytes) {
        Ok(v) => (v, ExitCode::SUCCESS),
        Err(e) => (
            json!({"error": {"kind": e.name(), "status": e.status().as_u16(), "message": e.to_string()}}),
            ExitCode::from(1),
        ),
    };
    println!("{out}");
    code
}

fn inspect(args: &Args, bytes: &[u8]) -> Result<Value, Error> {
    let (content_type, body) = split_request(args.content_type.as_deref(), bytes)?;
    let mut keys = args.keys.iter().map(SigningKey::new);
    let ring = keys.next().map(|primary| {
        let ring = keys.fold(KeyRing::new(primary), KeyRing::previous);
        match &args.parent_key {
            Some(p) => ring.parent(SigningKey::new(p)),
            None => ring,
        }
    });
    // Only the limits and the clock matter without keys; the key is never used then.
    let mut builder = Verifier::builder(
        ring.clone()
            .unwrap_or_else(|| KeyRing::new(SigningKey::new(b"unused".as_slice()))),
    );
    if let Some(secs) = args.max_age {
        builder = builder.max_age(Duration::from_secs(secs));
    }
    let verifier = builder.build();
    // Verify first: the envelope pass finds the signed fields; the typed parse runs after
    // verification when keys are given (as a receiver does).
    let unverified = mailgun_webhooks::scan(&content_type, body, verifier.limits())?;
    let format = unverified.format();
    let token = unverified.signature().token().to_owned();

    let (verified, matched_key, payload) = if ring.is_some() {
        let now = match args.now {
            Some(secs) => UNIX_EPOCH + Duration::from_secs(secs),
            None => verifier.clock().now(),
        };
        let v = verifier.verify_at(unverified, now)?.parse()?;
        let matched = match v.matched_key() {
            KeyId::Parent => json!("parent"),
            id => json!(id.index()),
        };
        (json!(true), matched, v.into_payload())
    } else {
        (
            Value::Null,
            Value::Null,
            unverified.parse_unverified()?.into_payload_unverified(),
        )
    };

    let mut out = json!({
        "verified": verified,
        "matched_key": matched_key,
        "kind": payload.kind().as_str(),
        "format": format.as_str(),
        "token": token,
    });
    describe(&payload, &mut out);
    Ok(out)
}

/// The fields DESIGN.md §6 lists, `null` when absent.
fn describe(payload: &Payload, out: &mut Value) {
    let mut f = Fields::default();
    match payload {
        Payload::Event(event) => describe_event(event, &mut f),
        Payload::Inbound(msg) => {
            describe_message(msg, &mut f);
            // Raw-MIME routes: the attachments are inside the message.
            f.attachments = match msg.message() {
                Ok(view) if msg.raw_mime().is_some() => {
                    view.attachments().iter().map(attachment).collect()
                }
                _ => msg.attachments.iter().map(attachment).collect(),
            };
        }
        Payload::Stored(stored) => {
            describe_message(&stored.message, &mut f);
            f.message_url = stored.message_url.clone();
            f.attachments = stored
                .attachments
                .iter()
                .map(|a| {
                    let safe = Attachment::new("attachment", a.name.clone(), None, Vec::new())
                        .safe_filename();
                    json!({"filename": a.name, "safe_filename": safe,
                           "content_type": a.content_type, "size": a.size})
                })
                .collect();
        }
        _ => {}
    }
    if let Value::Object(map) = out {
        for (k, v) in f.into_pairs() {
            map.insert(k.to_owned(), v);
        }
    }
}

/// The fields of a route's message, from the message view (MIME or posted fields).
fn describe_message(msg: &InboundMessage, f: &mut Fields) {
    f.recipient = msg.recipient.clone();
    f.sender = msg.sender.clone();
    f.subject = msg.subject.clone();
    if let Ok(view) = msg.message() {
        f.subject = view.subject().map(str::to_owned).or(f.subject.take());
        f.from = view.from().and_then(|m| m.address.clone());
        f.to = view.to().iter().filter_map(|m| m.address.clone()).collect();
    }
}

#[derive(Default)]
struct Fields {
    event: Option<String>,
    severity: Option<String>,
    reason: Option<String>,
    recipient: Option<String>,
    message_id: Option<String>,
    timestamp: Value,
    tags: Vec<String>,
    user_variables: Value,
    url: Option<String>,
    delivery_status_code: Value,
    ip: Option<String>,
    country: Option<String>,
    client_name: Option<String>,
    subject: Option<String>,
    sender: Option<String>,
    from: Option<String>,
    to: Vec<String>,
    message_url: Option<String>,
    bounced_subject: Option<String>,
    bounced_message_id: Option<String>,
    attachments: Vec<Value>,
}

impl Fields {
    fn into_pairs(self) -> Vec<(&'static str, Value)> {
        vec![
            ("event", json!(self.event)),
            ("severity", json!(self.severity)),
            ("reason", json!(self.reason)),
            ("recipient", json!(self.recipient)),
            ("message_id", json!(self.message_id)),
            ("timestamp", self.timestamp),
            ("tags", json!(self.tags)),
            ("user_variables", self.user_variables),
            ("url", json!(self.url)),
            ("delivery_status_code", self.delivery_status_code),
            ("ip", json!(self.ip)),
            ("country", json!(self.country)),
            ("client_name", json!(self.client_name)),
            ("subject", json!(self.subject)),
            ("sender", json!(self.sender)),
            ("from", json!(self.from)),
            ("to", json!(self.to)),
            ("message_url", json!(self.message_url)),
            ("bounced_subject", json!(self.bounced_subject)),
            ("bounced_message_id", json!(self.bounced_message_id)),
            ("attachments", Value::Array(self.attachments)),
        ]
    }
}

fn describe_event(event: &Event, f: &mut Fields) {
    f.event = Some(event.name().to_ascii_lowercase());
    f.user_variables = json!({});
    let Some(d) = event.data() else { return };
    f.severity = d.severity.as_ref().map(|s| s.as_str().to_owned());
    f.reason = event.reason().map(str::to_owned);
    f.recipient = d.recipient.clone();
    f.message_id = event.message_id().map(str::to_owned);
    f.timestamp = d.timestamp.map_or(Value::Null, |t| json!(t.as_secs_f64()));
    f.tags = d.tags.clone();
    f.user_variables = Value::Object(d.user_variables.as_map().clone());
    f.url = d.url.clone();
    f.delivery_status_code = match d.delivery_status.as_ref().and_then(|s| s.code.as_ref()) {
        Some(mailgun_webhooks::DeliveryCode::Number(n)) => json!(n),
        Some(code) => json!(code.to_string()),
        None => Value::Null,
    };
    f.ip = d.ip.clone();
    f.country = d.geolocation.as_ref().and_then(|g| g.country.clone());
    f.client_name = d.client_info.as_ref().and_then(|c| c.client_name.clone());
    let headers = d.message.as_ref().and_then(|m| m.headers.as_ref());
    f.subject = headers.and_then(|h| h.subject.clone());
    f.sender = d
        .envelope
        .as_ref()
        .and_then(|e| e.sender.clone())
        .or_else(|| headers.and_then(|h| h.from.clone()));
    f.attachments = d.attachments.iter().map(attachment).collect();
    if let Some(bounced) = event.bounced_message()
        && let Ok(view) = bounced.message()
    {
        f.bounced_subject = view.subject().map(str::to_owned);
        f.bounced_message_id = view.message_id().map(str::to_owned);
    }
}

fn attachment(a: &Attachment) -> Value {
    json!({
        "filename": a.filename(),
        "safe_filename": a.safe_filename(),
        "content_type": a.content_type(),
        "size": a.size(),
    })
}

/// Finds the content type and body: from a captured HTTP request's headers, from
/// `--content-type`, or inferred from the body's first bytes.
fn split_request<'a>(given: Option<&str>, bytes: &'a [u8]) -> Result<(String, &'a [u8]), Error> {
    if let Some((headers, body)) = captured_request(bytes) {
        let header = |name: &str| {
            headers
                .iter()
                .find_map(|(n, v)| n.eq_ignore_ascii_case(name).then_some(*v))
        };
        if header("content-encoding").is_some_and(|e| !e.trim().eq_ignore_ascii_case("identity")) {
            return Err(ErrorKind::UnsupportedContentEncoding.into());
        }
        let body = match header("content-length").and_then(|n| n.trim().parse::<usize>().ok()) {
            Some(n) if n <= body.len() => &body[..n],
            _ => body,
        };
        let ct = given.or(header("content-type")).unwrap_or_default();
        return Ok((ct.to_owned(), body));
    }
    if let Some(ct) = given {
        return Ok((ct.to_owned(), bytes));
    }
    let trimmed = bytes.trim_ascii_start();
    let ct = if trimmed.starts_with(b"{") || trimmed.starts_with(b"[") {
        "application/json".to_owned()
    } else if let Some(rest) = bytes.strip_prefix(b"--") {
        let line = rest.split(|&b| b == b'\n').next().unwrap_or_default();
        let boundary = String::from_utf8_lossy(line.trim_ascii_end());
        format!("multipart/form-data; boundary=\"{boundary}\"")
    } else {
        "application/x-www-form-urlencoded".to_owned()
    };
    Ok((ct, bytes))
}

/// Header name and value pairs of a captured request, in order.
type Headers<'a> = Vec<(&'a str, &'a str)>;

/// Splits `REQUEST-LINE CRLF *(HEADER CRLF) CRLF BODY` (LF accepted too). The first line must
/// look like `METHOD /path HTTP/1.x` (or a capture tool's `HTTP/1.x 200 OK`).
fn captured_request(bytes: &[u8]) -> Option<(Headers<'_>, &[u8])> {
    let first_end = bytes.iter().position(|&b| b == b'\n')?;
    let first = std::str::from_utf8(&bytes[..first_end]).ok()?.trim_end();
    let is_request = first.starts_with("HTTP/1.")
        || first
            .rsplit_once(' ')
            .is_some_and(|(_, v)| v.starts_with("HTTP/1."));
    if !is_request {
        return None;
    }
    let mut headers = Vec::new();
    let mut pos = first_end + 1;
    loop {
        let len = bytes[pos..].iter().position(|&b| b == b'\n')?;
        let line = std::str::from_utf8(&bytes[pos..pos + len])
            .ok()?
            .trim_end_matches('\r');
        pos += len + 1;
        if line.is_empty() {
            return Some((headers, &bytes[pos..]));
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim(), value.trim()));
        }
    }
}
