//! `p2p-di index`: one GET RFC-Index exchange with a peer, no daemon.

use super::{print_json, print_table};
use anyhow::{bail, Context as _};
use clap::Args;
use p2p_di_actors::config::{LogConfig, LogLevel};
use p2p_di_actors::wire::{Origin, Reply, Request, WireLimits};
use serde::Serialize;
use std::net::SocketAddr;
use std::time::Duration;

/// `--json`: the peer and its records.
#[derive(Serialize)]
struct RemoteIndex {
    peer: RemotePeer,
    records: Vec<RemoteRecord>,
}

#[derive(Serialize)]
struct RemotePeer {
    host: String,
    os: String,
}

#[derive(Serialize)]
struct RemoteRecord {
    rfc: u32,
    title: String,
    host: String,
    port: u16,
    ttl_secs: u64,
}

/// `p2p-di index`.
#[derive(Debug, Args)]
pub struct IndexArgs {
    /// The peer's RFC server.
    #[arg(value_name = "HOST:PORT", value_parser = crate::args::parse_rs)]
    peer: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Seconds the exchange may take.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    timeout: u64,
    /// Host name to send in the request (default: this machine's).
    #[arg(long, value_name = "NAME")]
    host: Option<String>,
}

/// Runs `p2p-di index`: one GET RFC-Index exchange.
pub fn run_index(args: IndexArgs) -> anyhow::Result<()> {
    let (log, flushed) = crate::root_logger(&LogConfig {
        level: LogLevel::Warn,
        ..LogConfig::default()
    });
    let result = actix::System::new().block_on(async {
        let addr = resolve(&args.peer).await?;
        let request = Request::IndexQuery {
            origin: Origin::named(args.host.as_deref()),
        };
        let response = p2p_di_actors::client::exchange(
            addr,
            &request,
            WireLimits::default(),
            Duration::from_secs(args.timeout.max(1)),
            None,
            &log,
        )
        .await
        .with_context(|| format!("GET RFC-Index from {}", args.peer))?
        .0;
        match response.reply {
            Reply::Index(records) => Ok((response.origin, records)),
            Reply::Status(status) => bail!("{} answered {status}", args.peer),
            other => bail!("{} answered out of turn: {other:?}", args.peer),
        }
    });
    drop(log);
    drop(flushed);
    let (origin, records) = result?;
    if args.json {
        return print_json(&RemoteIndex {
            peer: RemotePeer {
                host: origin.host,
                os: origin.os,
            },
            records: records
                .into_iter()
                .map(|r| RemoteRecord {
                    rfc: r.number,
                    title: r.title,
                    host: r.host,
                    port: r.port,
                    ttl_secs: r.ttl_secs,
                })
                .collect(),
        });
    }
    eprintln!("{} ({}): {} records", origin.host, origin.os, records.len());
    let rows = records
        .iter()
        .map(|r| {
            vec![
                r.number.to_string(),
                r.title.clone(),
                r.host.clone(),
                r.port.to_string(),
                r.ttl_secs.to_string(),
            ]
        })
        .collect();
    print_table(&[">RFC", "TITLE", "HOLDER", ">PORT", ">TTL"], rows);
    Ok(())
}

async fn resolve(peer: &str) -> anyhow::Result<SocketAddr> {
    tokio::net::lookup_host(peer)
        .await
        .with_context(|| format!("resolving {peer}"))?
        .next()
        .with_context(|| format!("{peer} resolves to no address"))
}
