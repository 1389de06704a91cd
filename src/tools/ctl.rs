//! `p2p-di ctl`: a running daemon, through its admin endpoint. One
//! function per verb, each reading the typed replies of [`crate::api`].

use super::endpoint::{encode_query, Endpoint};
use super::follow::{print_downloads, Follower};
use super::{cell, print_json, print_table, progress};
use crate::api;
use clap::{Args, Subcommand};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// `p2p-di ctl`.
#[derive(Debug, Args)]
pub struct CtlArgs {
    /// The daemon's admin endpoint, ADDR:PORT. Unset: $P2P_DI_ADMIN, else
    /// the address the daemon wrote in its folder's note (see --dir).
    #[arg(long, value_name = "ADDR:PORT", global = true)]
    admin: Option<String>,
    /// The bearer token the endpoint requires (default $P2P_DI_ADMIN_TOKEN).
    #[arg(long, value_name = "TOKEN", global = true)]
    token: Option<String>,
    /// The daemon's folder, whose note names its admin endpoint: an
    /// RFC folder or an RS state folder (default: ./rfcs, then
    /// ./p2p-di-rs-state).
    #[arg(long, value_name = "DIR", global = true)]
    dir: Option<PathBuf>,
    /// Print the endpoint's JSON instead of tables (`get`: one line per
    /// download as it ends).
    #[arg(long, global = true)]
    json: bool,
    /// Seconds one request to the endpoint may take.
    #[arg(long, value_name = "SECS", default_value_t = 30, global = true)]
    request_timeout: u64,
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Debug, Subcommand)]
enum Verb {
    /// Role, version, uptime, addresses and counts.
    Status,
    /// The RS's peer records, or a peer's list of active peers (a fresh
    /// PQUERY unless --cached).
    Peers {
        #[command(flatten)]
        page: PageArgs,
        /// A peer: show the last list it got instead of asking the RS.
        #[arg(long)]
        cached: bool,
    },
    /// A peer's merged RFC index.
    Index {
        #[command(flatten)]
        page: PageArgs,
        /// Fetch every active peer's index and merge it first.
        #[arg(long)]
        refresh: bool,
    },
    /// A peer's uploads and downloads in flight.
    Transfers {
        #[command(flatten)]
        page: PageArgs,
    },
    /// The downloads asked for, and how they ended.
    Downloads {
        #[command(flatten)]
        page: PageArgs,
    },
    /// Download RFCs with a running peer, all queued in one request;
    /// waits for them (a progress bar on a terminal) and exits non-zero if
    /// any failed.
    Get {
        /// RFC numbers and ranges: `9264`, `9000-9100`.
        #[arg(value_name = "N|N-M", value_delimiter = ',', value_parser = crate::args::parse_rfcs,
            required_unless_present = "all", conflicts_with = "all")]
        rfcs: Vec<RangeInclusive<u32>>,
        /// Every RFC the peer's index names that it does not hold.
        #[arg(long)]
        all: bool,
        /// With --all: fetch every active peer's index first.
        #[arg(long, requires = "all")]
        refresh: bool,
        /// Seconds to wait for them all (default: until they end).
        #[arg(long, value_name = "SECS")]
        wait: Option<u64>,
    },
    /// Leave the network (LEAVE); the RFC server keeps running.
    Leave,
    /// Join the network again with the saved cookie (REGISTER).
    Join,
    /// Re-read the RFC folder: serve what was added, withdraw what was
    /// removed.
    Rescan,
}

#[derive(Debug, Args)]
struct PageArgs {
    /// Records per page.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Start after this key (the `next` of an earlier page).
    #[arg(long, value_name = "KEY")]
    after: Option<String>,
    /// Walk every page.
    #[arg(long)]
    all: bool,
}

/// Runs `p2p-di ctl`.
pub fn run_ctl(args: CtlArgs) -> anyhow::Result<()> {
    let endpoint = Endpoint::locate(
        args.admin.as_deref(),
        args.dir.as_deref(),
        args.token.clone(),
        Duration::from_secs(args.request_timeout.max(1)),
    )?;
    let json = args.json;
    match &args.verb {
        Verb::Status => status(&endpoint, json),
        Verb::Peers { page, cached } => peers(&endpoint, page, *cached, json),
        Verb::Index { page, refresh } => index(&endpoint, page, *refresh, json),
        Verb::Transfers { page } => transfers(&endpoint, page, json),
        Verb::Downloads { page } => downloads(&endpoint, page, json),
        Verb::Get {
            rfcs,
            all,
            refresh,
            wait,
        } => {
            let ask = if *all {
                api::DownloadAsk {
                    all: true,
                    refresh: *refresh,
                    ..api::DownloadAsk::default()
                }
            } else {
                let rfcs = crate::args::rfcs_of(rfcs).map_err(anyhow::Error::msg)?;
                api::DownloadAsk {
                    rfcs,
                    ..api::DownloadAsk::default()
                }
            };
            get(&endpoint, &ask, wait.map(Duration::from_secs), json)
        }
        Verb::Leave => membership(&endpoint, "/leave", json),
        Verb::Join => membership(&endpoint, "/join", json),
        Verb::Rescan => rescan(&endpoint, json),
    }
}

fn status(endpoint: &Endpoint, json: bool) -> anyhow::Result<()> {
    let status: api::Status = endpoint.get("/status")?;
    if json {
        return print_json(&status);
    }
    let rows: Vec<(&str, String)> = match &status {
        api::Status::Rs(s) => vec![
            ("role", "rs".into()),
            ("version", s.version.clone()),
            ("uptime_secs", s.uptime_secs.to_string()),
            ("listen", s.listen.to_string()),
            ("admin", s.admin.to_string()),
            ("ttl_secs", s.ttl_secs.to_string()),
            ("serving", s.serving.to_string()),
            ("peers_known", s.peers_known.to_string()),
            ("peers_active", s.peers_active.to_string()),
            ("connections_open", s.connections_open.to_string()),
            ("requests.registered", s.requests.registered.to_string()),
            ("requests.kept_alive", s.requests.kept_alive.to_string()),
            ("requests.left", s.requests.left.to_string()),
            ("requests.queried", s.requests.queried.to_string()),
            ("requests.refused", s.requests.refused.to_string()),
            ("requests.not_durable", s.requests.not_durable.to_string()),
        ],
        api::Status::Peer(s) => vec![
            ("role", "peer".into()),
            ("version", s.version.clone()),
            ("uptime_secs", s.uptime_secs.to_string()),
            ("host", s.host.clone()),
            ("rfc_server", s.rfc_server.to_string()),
            ("admin", s.admin.to_string()),
            (
                "rs",
                s.rs.iter().map(rs_reach).collect::<Vec<_>>().join("; "),
            ),
            (
                "peer_list",
                format!(
                    "{} peers, {}{}",
                    s.peer_list.peers,
                    s.peer_list
                        .age_ms
                        .map_or("no RS answered yet".to_owned(), |ms| format!(
                            "{:.1} s old",
                            ms as f64 / 1000.0
                        )),
                    if s.peer_list.aged {
                        " (no RS answers: aged)"
                    } else {
                        ""
                    }
                ),
            ),
            ("rfc_dir", s.rfc_dir.clone()),
            ("joined", s.joined.to_string()),
            ("left", s.left.to_string()),
            ("registrations", s.registrations.to_string()),
            ("documents", s.documents.to_string()),
            ("index_records", s.index_records.to_string()),
            ("index_records_refused", s.index_records_refused.to_string()),
            ("index_records_evicted", s.index_records_evicted.to_string()),
            ("downloads.waiting", s.downloads.waiting.to_string()),
            ("downloads.running", s.downloads.running.to_string()),
            ("downloads.ended", s.downloads.ended.to_string()),
            ("downloads.bound", s.downloads.bound.to_string()),
            ("uploads_running", s.uploads_running.to_string()),
            ("connections_open", s.connections_open.to_string()),
            ("bytes_served", s.bytes_served.to_string()),
            ("bytes_downloaded", s.bytes_downloaded.to_string()),
        ],
    };
    print_table(
        &["FIELD", "VALUE"],
        rows.into_iter()
            .map(|(field, value)| vec![field.to_owned(), value])
            .collect(),
    );
    Ok(())
}

/// An RS as `ctl status` shows it: `a:65423 up since ..., registered`.
fn rs_reach(rs: &api::RsReach) -> String {
    let reach = match (rs.reachable, &rs.since) {
        (None, _) => "not asked yet".to_owned(),
        (Some(true), Some(since)) => format!("answers since {since}"),
        (Some(false), Some(since)) => format!("DOWN since {since}"),
        (Some(up), None) => if up { "answers" } else { "DOWN" }.to_owned(),
    };
    let joined = if rs.joined {
        "registered"
    } else {
        "not registered"
    };
    format!("{} {reach}, {joined}", rs.rs)
}

/// Fetches a list: one page, or with `--all` every page. `take` splits a
/// page into its items and the key of the next.
fn pages<P, T, K: ToString>(
    endpoint: &Endpoint,
    path: &str,
    extra: &str,
    page: &PageArgs,
    take: impl Fn(P) -> (Vec<T>, Option<K>),
) -> anyhow::Result<(Vec<T>, Option<String>)>
where
    P: serde::de::DeserializeOwned,
{
    let mut items = Vec::new();
    let mut after = page.after.clone();
    loop {
        let mut query = extra.to_owned();
        if let Some(limit) = page.limit {
            query.push_str(&format!("limit={limit}&"));
        }
        if let Some(after) = &after {
            query.push_str(&format!("after={}&", encode_query(after)));
        }
        let url = format!("{path}?{}", query.trim_end_matches('&'));
        let (list, next) = take(endpoint.get(url.trim_end_matches('?'))?);
        items.extend(list);
        match next.map(|k| k.to_string()) {
            Some(next) if page.all => after = Some(next),
            next => return Ok((items, next)),
        }
    }
}

fn more(next: Option<String>) {
    if let Some(next) = next {
        eprintln!("more: --after {next} (or --all)");
    }
}

fn peers(endpoint: &Endpoint, page: &PageArgs, cached: bool, json: bool) -> anyhow::Result<()> {
    match endpoint.get::<api::Status>("/status")? {
        api::Status::Rs(_) => {
            let (items, next) = pages(endpoint, "/peers", "", page, |p: api::RsPeers| {
                (p.peers, p.next)
            })?;
            if json {
                return print_json(&items);
            }
            let rows = items
                .iter()
                .map(|p| {
                    vec![
                        p.id.to_string(),
                        p.host.clone(),
                        p.address.to_string(),
                        p.port.to_string(),
                        if p.active { "yes" } else { "no" }.into(),
                        p.ttl_secs.to_string(),
                        p.registrations_30d.to_string(),
                        p.last_registered.clone(),
                        p.os.clone(),
                    ]
                })
                .collect();
            print_table(
                &[
                    ">ID",
                    "HOST",
                    "ADDRESS",
                    ">PORT",
                    "ACTIVE",
                    ">TTL",
                    ">REG/30D",
                    "LAST REGISTERED",
                    "OS",
                ],
                rows,
            );
            more(next);
        }
        api::Status::Peer(_) => {
            let extra = if cached { "" } else { "refresh=true&" };
            let (items, next) = pages(endpoint, "/peers", extra, page, |p: api::PeerList| {
                (p.peers, p.next)
            })?;
            if json {
                return print_json(&items);
            }
            if items.is_empty() {
                println!("no active peers");
                return Ok(());
            }
            let rows = items
                .iter()
                .map(|p| {
                    vec![
                        p.host.clone(),
                        p.address.to_string(),
                        p.port.to_string(),
                        p.ttl_secs.to_string(),
                        p.registrations_30d.to_string(),
                        p.last_registered.clone(),
                    ]
                })
                .collect();
            print_table(
                &[
                    "HOST",
                    "ADDRESS",
                    ">PORT",
                    ">TTL",
                    ">REG/30D",
                    "LAST REGISTERED",
                ],
                rows,
            );
            more(next);
        }
    }
    Ok(())
}

fn index(endpoint: &Endpoint, page: &PageArgs, refresh: bool, json: bool) -> anyhow::Result<()> {
    if refresh {
        let done: api::Refreshed = endpoint.post::<(), _>("/index/refresh", None)?;
        if !json {
            eprintln!("index refreshed from {} peers", done.peers_reached);
        }
    }
    let (items, next) = pages(endpoint, "/index", "", page, |p: api::IndexPage| {
        (p.records, p.next)
    })?;
    if json {
        return print_json(&items);
    }
    let rows = items
        .iter()
        .map(|r| {
            vec![
                r.rfc.to_string(),
                r.title.clone(),
                r.host.clone(),
                r.port.to_string(),
                r.ttl_secs.to_string(),
                if r.local { "here" } else { "" }.into(),
            ]
        })
        .collect();
    print_table(&[">RFC", "TITLE", "HOLDER", ">PORT", ">TTL", ""], rows);
    more(next);
    Ok(())
}

fn transfers(endpoint: &Endpoint, page: &PageArgs, json: bool) -> anyhow::Result<()> {
    let (items, next) = pages(endpoint, "/transfers", "", page, |p: api::Transfers| {
        (p.transfers, p.next)
    })?;
    if json {
        return print_json(&items);
    }
    if items.is_empty() {
        println!("no transfers in flight");
    }
    let rows = items
        .iter()
        .map(|t| {
            let state = if t.waiting {
                "waiting".to_owned()
            } else {
                progress(t.done, t.length)
            };
            vec![
                t.direction.clone(),
                t.rfc.to_string(),
                cell(t.peer),
                state,
                t.elapsed_ms.to_string(),
            ]
        })
        .collect();
    print_table(&["DIRECTION", ">RFC", "PEER", ">PROGRESS", ">MS"], rows);
    more(next);
    Ok(())
}

fn downloads(endpoint: &Endpoint, page: &PageArgs, json: bool) -> anyhow::Result<()> {
    let (items, next) = pages(endpoint, "/downloads", "", page, |p: api::Downloads| {
        (p.downloads, p.next)
    })?;
    if json {
        return print_json(&items);
    }
    print_downloads(&items.iter().collect::<Vec<_>>());
    more(next);
    Ok(())
}

/// Most downloads asked for in one look at the feed of ends.
const FEED_PAGE: usize = 10_000;
/// Seconds one look at the feed waits for an end.
const FEED_WAIT_SECS: u64 = 10;

/// Queues `ask` in one request and follows the downloads to their end
/// (or for `wait`); an error if any did not complete.
fn get(
    endpoint: &Endpoint,
    ask: &api::DownloadAsk,
    wait: Option<Duration>,
    json: bool,
) -> anyhow::Result<()> {
    let queued: api::Queued = endpoint.post("/downloads", Some(ask))?;
    if queued.downloads.is_empty() {
        eprintln!("nothing to download");
        return Ok(());
    }
    let deadline = wait.map(|wait| Instant::now() + wait);
    let mut follower = Follower::new(&queued.downloads, queued.ended_before, json);
    while !follower.done() {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left.is_some_and(|left| left.is_zero()) {
            break;
        }
        let secs = left.map_or(FEED_WAIT_SECS, |l| l.as_secs().clamp(1, FEED_WAIT_SECS));
        let page: api::EndedPage = endpoint.get(&format!(
            "/downloads/ended?since={}&limit={FEED_PAGE}&wait={secs}",
            follower.since()
        ))?;
        let caught_up = page.downloads.is_empty()
            && page.next == follower.since()
            && page.queue.waiting + page.queue.running == 0;
        follower.take(page);
        if caught_up && !follower.done() {
            // The queue is empty and the feed holds no end of ours: they
            // ended out of the feed's reach; ask each.
            for id in follower.open_ids() {
                match endpoint.get::<api::Download>(&format!("/downloads/{id}")) {
                    Ok(download) => follower.settle(download),
                    Err(_) => follower.forget(id),
                }
            }
        }
    }
    follower.finish("downloads", "did not complete")
}

fn membership(endpoint: &Endpoint, path: &str, json: bool) -> anyhow::Result<()> {
    let done: api::Membership = endpoint.post::<(), _>(path, None)?;
    if json {
        return print_json(&done);
    }
    if done.left {
        println!("left the network; the RFC server keeps serving");
    } else if done.joined {
        println!("joined the network");
    }
    Ok(())
}

fn rescan(endpoint: &Endpoint, json: bool) -> anyhow::Result<()> {
    let done: api::Rescanned = endpoint.post::<(), _>("/rescan", None)?;
    if json {
        return print_json(&done);
    }
    let list = |numbers: &[u32]| {
        if numbers.is_empty() {
            "none".to_owned()
        } else {
            numbers
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        }
    };
    println!(
        "{} documents; added: {}; removed: {}",
        done.documents,
        list(&done.added),
        list(&done.removed)
    );
    for skipped in &done.skipped {
        println!("skipped {skipped}");
    }
    Ok(())
}
