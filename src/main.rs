//! `p2p-di`: the registration server, the peer daemon and the lab.
//!
//! This file parses the command line, builds the root logger, and runs the
//! chosen command; `cli.rs` holds the commands.

#![warn(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod api;
mod args;
mod cli;
mod lab;
mod tools;

use clap::Parser;
use p2p_di_actors::config::{LogConfig, LogFormat, LogLevel};
use slog::{o, Drain, Logger};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("p2p-di: error: {}", describe(&err));
            if lab::interrupt::requested() {
                // The shell's convention for a run ended by a signal.
                ExitCode::from(130)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// An error and its causes on one line, each said once: a cause that its
/// error's own message already quotes is not repeated.
fn describe(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let piece = cause.to_string();
        if text.contains(&piece) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&piece);
    }
    text
}

/// The root logger: to stderr, as terminal lines or JSON, at `config.level`,
/// and the guard of its asynchronous drain: dropping the guard writes out
/// every line logged so far, whoever still holds a logger (a thread of the
/// daemon's own, say, when the daemon exits on a fatal failure).
pub fn root_logger(config: &LogConfig) -> (Logger, slog_async::AsyncGuard) {
    let level = match config.level {
        LogLevel::Error => slog::Level::Error,
        LogLevel::Warn => slog::Level::Warning,
        LogLevel::Info => slog::Level::Info,
        LogLevel::Debug => slog::Level::Debug,
        LogLevel::Trace => slog::Level::Trace,
    };
    let (drain, guard) = match config.format {
        // Standard error is unbuffered, and the formatters write a record in
        // many small pieces: a line buffer makes each record one write.
        LogFormat::Term => {
            let decorator =
                slog_term::PlainDecorator::new(std::io::LineWriter::new(std::io::stderr()));
            let drain = slog_term::FullFormat::new(decorator).build().fuse();
            slog_async::Async::new(drain)
                .chan_size(8192)
                .build_with_guard()
        }
        LogFormat::Json => {
            let drain =
                slog_json::Json::default(std::io::LineWriter::new(std::io::stderr())).fuse();
            slog_async::Async::new(drain)
                .chan_size(8192)
                .build_with_guard()
        }
    };
    let log = Logger::root(drain.fuse().filter_level(level).fuse(), o!());
    (log, guard)
}
