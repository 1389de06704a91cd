//! The command line: `p2p-di rs`, `p2p-di peer`, `p2p-di lab`.

use clap::{Parser, Subcommand};

/// P2P-DI/1.0: share IETF RFCs peer to peer through a distributed index.
#[derive(Debug, Parser)]
#[command(name = "p2p-di", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the registration server.
    Rs,
    /// Run a peer: its RFC server, its RS link and its downloader.
    Peer,
    /// Run the experiments and write curves and a report.
    Lab,
}

/// Runs the command the user chose.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Rs | Command::Peer | Command::Lab => {
            anyhow::bail!("this command is not built yet")
        }
    }
}
