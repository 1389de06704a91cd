//! `p2p-di`: the registration server, the peer daemon and the lab.
//!
//! This file parses the command line, builds the root logger and runs the
//! chosen command; `cli.rs` holds the argument types.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("p2p-di: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
