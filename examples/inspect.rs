//! Parse (and optionally verify) a captured Mailgun webhook or route payload, and print what
//! it contains as one JSON object (DESIGN.md §6).
//!
//! ```text
//! cargo run --example inspect -- [--key KEY]... [--parent-key KEY] [--now UNIX_SECS]
//!                                [--max-age SECS] [--content-type CT] FILE
//! ```
//!
//! The same command is `mailgun-webhooks inspect` in the command-line tool (feature `cli`),
//! which builds far fewer crates: `cargo run --features cli -- inspect ...`. The logic lives in
//! `src/bin/mailgun-webhooks/inspect.rs`; this example is a thin wrapper over it.

#[path = "../src/bin/mailgun-webhooks/inspect.rs"]
mod inspect;

fn main() -> std::process::ExitCode {
    inspect::main_with_args(std::env::args().skip(1))
}
