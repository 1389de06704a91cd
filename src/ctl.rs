//! The tools: `p2p-di ctl` (a running daemon, through its admin
//! endpoint), `p2p-di index` (one GET RFC-Index exchange) and `p2p-di get`
//! (a peer for the length of a few downloads).
//!
//! The seeds' interactive menu maps to these verbs one to one: register
//! (`ctl join`), query the peer list (`ctl peers`), query an index
//! (`ctl index --refresh`, or `p2p-di index HOST:PORT`), download
//! (`ctl get N`), leave (`ctl leave`).

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};
use p2p_di_actors::config::{LogConfig, LogLevel, PeerConfig};
use p2p_di_actors::peer::downloader::{DownloadFinished, Fetch, Outcome};
use p2p_di_actors::peer::link::{LeaveNetwork, WaitJoined};
use p2p_di_actors::wire::{Origin, Reply, Request, WireLimits};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
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
    /// Print the endpoint's JSON instead of tables.
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
    /// The downloads asked for through the endpoint, and how they ended.
    Downloads {
        #[command(flatten)]
        page: PageArgs,
    },
    /// Download RFCs with a running peer; waits for them and exits
    /// non-zero if any failed.
    Get {
        /// The RFC numbers.
        #[arg(required = true, value_name = "N", value_delimiter = ',')]
        rfcs: Vec<u32>,
        /// Seconds to wait for them all.
        #[arg(long, value_name = "SECS", default_value_t = 600)]
        wait: u64,
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

/// How to reach the endpoint.
struct Endpoint {
    base: String,
    /// Where the address came from, for error messages.
    source: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl Endpoint {
    fn locate(args: &CtlArgs) -> anyhow::Result<Self> {
        let token = args
            .token
            .clone()
            .or_else(|| std::env::var("P2P_DI_ADMIN_TOKEN").ok())
            .filter(|t| !t.trim().is_empty());
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(args.request_timeout.max(1))))
            .http_status_as_error(false)
            .build()
            .into();
        let (addr, source) = match (&args.admin, std::env::var("P2P_DI_ADMIN").ok()) {
            (Some(addr), _) => (addr.clone(), "--admin".to_owned()),
            (None, Some(addr)) if !addr.is_empty() => (addr, "$P2P_DI_ADMIN".to_owned()),
            _ => discover(args.dir.as_deref())?,
        };
        let base = if addr.starts_with("http://") || addr.starts_with("https://") {
            addr.trim_end_matches('/').to_owned()
        } else {
            format!("http://{addr}")
        };
        Ok(Endpoint {
            base,
            source,
            token,
            agent,
        })
    }

    fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call("GET", path, None)
    }

    fn post(&self, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        self.call("POST", path, body)
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let sent = if method == "GET" {
            let mut request = self.agent.get(&url);
            if let Some(auth) = &auth {
                request = request.header("Authorization", auth);
            }
            request.call()
        } else {
            let mut request = self.agent.post(&url);
            if let Some(auth) = &auth {
                request = request.header("Authorization", auth);
            }
            match body {
                Some(body) => request
                    .header("Content-Type", "application/json")
                    .send(body.to_string()),
                None => request.send_empty(),
            }
        };
        let mut response = sent.map_err(|err| {
            anyhow::anyhow!(
                "no answer from the admin endpoint {} (from {}): {err}; is the daemon running?",
                self.base,
                self.source
            )
        })?;
        let status = response.status();
        let text = response
            .body_mut()
            .read_to_string()
            .with_context(|| format!("reading the answer to {method} {url}"))?;
        let value: Value = serde_json::from_str(&text)
            .with_context(|| format!("{method} {url} answered {status} with no JSON"))?;
        if !status.is_success() {
            let message = value
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("no reason given");
            bail!(
                "{method} {path}: {} answered {status}: {message}",
                self.base
            );
        }
        Ok(value)
    }
}

/// The admin address a daemon wrote in its folder's note.
fn discover(dir: Option<&Path>) -> anyhow::Result<(String, String)> {
    use p2p_di_actors::lock::{self, LockNames};
    let dirs: Vec<PathBuf> = match dir {
        Some(dir) => vec![dir.to_owned()],
        None => vec![PathBuf::from("rfcs"), PathBuf::from("p2p-di-rs-state")],
    };
    let mut looked = Vec::new();
    for dir in &dirs {
        let mut found_one = false;
        for names in [lock::PEER, lock::RS] {
            let LockNames { lock, note } = names;
            let path = dir.join(note);
            if let Ok(text) = lock::read_note(dir, names) {
                if let Some(addr) = text.lines().find_map(|l| l.strip_prefix("admin=")) {
                    return Ok((addr.trim().to_owned(), path.display().to_string()));
                }
                found_one = true;
                looked.push(format!(
                    "{} (no admin address: the daemon runs with --admin off)",
                    path.display()
                ));
            } else if dir.join(lock).exists() {
                found_one = true;
                looked.push(format!(
                    "{} (no note beside its lock: the daemon stopped, or runs with --admin off)",
                    dir.display()
                ));
            }
        }
        if !found_one {
            looked.push(format!("{} (no daemon's lock file)", dir.display()));
        }
    }
    bail!(
        "which daemon? pass --admin ADDR:PORT (or set P2P_DI_ADMIN), or --dir with its RFC or \
         state folder; looked in {}",
        looked.join(", ")
    )
}

/// Runs `p2p-di ctl`.
pub fn run_ctl(args: CtlArgs) -> anyhow::Result<()> {
    let endpoint = Endpoint::locate(&args)?;
    let json = args.json;
    match &args.verb {
        Verb::Status => {
            let status = endpoint.get("/status")?;
            if json {
                return print_json(&status);
            }
            let mut rows = Vec::new();
            flatten("", &status, &mut rows);
            print_table(&["FIELD", "VALUE"], rows);
        }
        Verb::Peers { page, cached } => {
            let role = role(&endpoint)?;
            let extra = if role == "peer" && !cached {
                "refresh=true&"
            } else {
                ""
            };
            let (items, next) = pages(&endpoint, "/peers", extra, "peers", page)?;
            if json {
                return print_json(&Value::Array(items));
            }
            if role == "rs" {
                let rows = items
                    .iter()
                    .map(|p| {
                        vec![
                            field(p, "id"),
                            field(p, "host"),
                            field(p, "address"),
                            field(p, "port"),
                            if p["active"].as_bool() == Some(true) {
                                "yes"
                            } else {
                                "no"
                            }
                            .into(),
                            field(p, "ttl_secs"),
                            field(p, "registrations_30d"),
                            field(p, "last_registered"),
                            field(p, "os"),
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
            } else {
                let rows: Vec<Vec<String>> = items
                    .iter()
                    .map(|p| {
                        vec![
                            field(p, "host"),
                            field(p, "address"),
                            field(p, "port"),
                            field(p, "ttl_secs"),
                            field(p, "registrations_30d"),
                            field(p, "last_registered"),
                        ]
                    })
                    .collect();
                if rows.is_empty() {
                    println!("no active peers");
                } else {
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
                }
            }
            more(next);
        }
        Verb::Index { page, refresh } => {
            if *refresh {
                let done = endpoint.post("/index/refresh", None)?;
                if !json {
                    eprintln!(
                        "index refreshed from {} peers",
                        done["peers_reached"].as_u64().unwrap_or(0)
                    );
                }
            }
            let (items, next) = pages(&endpoint, "/index", "", "records", page)?;
            if json {
                return print_json(&Value::Array(items));
            }
            let rows = items
                .iter()
                .map(|r| {
                    vec![
                        field(r, "rfc"),
                        field(r, "title"),
                        field(r, "host"),
                        field(r, "port"),
                        field(r, "ttl_secs"),
                        if r["local"].as_bool() == Some(true) {
                            "here"
                        } else {
                            ""
                        }
                        .into(),
                    ]
                })
                .collect();
            print_table(&[">RFC", "TITLE", "HOLDER", ">PORT", ">TTL", ""], rows);
            more(next);
        }
        Verb::Transfers { page } => {
            let (items, next) = pages(&endpoint, "/transfers", "", "transfers", page)?;
            if json {
                return print_json(&Value::Array(items));
            }
            if items.is_empty() {
                println!("no transfers in flight");
            }
            let rows = items
                .iter()
                .map(|t| {
                    let state = if t["waiting"].as_bool() == Some(true) {
                        "waiting".to_owned()
                    } else {
                        progress(t["done"].as_u64(), t["length"].as_u64())
                    };
                    vec![
                        field(t, "direction"),
                        field(t, "rfc"),
                        field(t, "peer"),
                        state,
                        field(t, "elapsed_ms"),
                    ]
                })
                .collect();
            print_table(&["DIRECTION", ">RFC", "PEER", ">PROGRESS", ">MS"], rows);
            more(next);
        }
        Verb::Downloads { page } => {
            let (items, next) = pages(&endpoint, "/downloads", "", "downloads", page)?;
            if json {
                return print_json(&Value::Array(items));
            }
            print_downloads(&items);
            more(next);
        }
        Verb::Get { rfcs, wait } => return ctl_get(&endpoint, rfcs, *wait, json),
        Verb::Leave => {
            let done = endpoint.post("/leave", None)?;
            if json {
                return print_json(&done);
            }
            println!("left the network; the RFC server keeps serving");
        }
        Verb::Join => {
            let done = endpoint.post("/join", None)?;
            if json {
                return print_json(&done);
            }
            println!("joined the network");
        }
        Verb::Rescan => {
            let done = endpoint.post("/rescan", None)?;
            if json {
                return print_json(&done);
            }
            let list = |key: &str| {
                done[key]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|v| v.to_string())
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .unwrap_or_default()
            };
            println!(
                "{} documents; added: {}; removed: {}",
                done["documents"],
                none_if_empty(list("added")),
                none_if_empty(list("removed"))
            );
            for skipped in done["skipped"].as_array().into_iter().flatten() {
                println!("skipped {}", skipped.as_str().unwrap_or_default());
            }
        }
    }
    Ok(())
}

fn none_if_empty(text: String) -> String {
    if text.is_empty() {
        "none".into()
    } else {
        text
    }
}

fn role(endpoint: &Endpoint) -> anyhow::Result<String> {
    let status = endpoint.get("/status")?;
    Ok(status["role"].as_str().unwrap_or_default().to_owned())
}

/// Starts downloads of `rfcs` and waits for them; an error if any failed.
fn ctl_get(endpoint: &Endpoint, rfcs: &[u32], wait: u64, json: bool) -> anyhow::Result<()> {
    let mut ids = Vec::new();
    for rfc in rfcs {
        let started = endpoint.post("/downloads", Some(serde_json::json!({ "rfc": rfc })))?;
        let id = started["id"]
            .as_u64()
            .context("the endpoint gave the download no id")?;
        ids.push(id);
    }
    let deadline = Instant::now() + Duration::from_secs(wait);
    let mut ended: Vec<Option<Value>> = vec![None; ids.len()];
    loop {
        for (id, slot) in ids.iter().zip(ended.iter_mut()) {
            if slot.is_some() {
                continue;
            }
            let view = endpoint.get(&format!("/downloads/{id}"))?;
            if view["state"].as_str() != Some("running") {
                if !json {
                    eprintln!("rfc {}: {}", view["rfc"], describe_end(&view));
                }
                *slot = Some(view);
            }
        }
        if ended.iter().all(Option::is_some) || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let views: Vec<Value> = ids
        .iter()
        .zip(ended)
        .map(|(id, view)| {
            view.unwrap_or_else(|| {
                serde_json::json!({ "id": id, "state": "running", "error": "still running when ctl stopped waiting" })
            })
        })
        .collect();
    let failed = views
        .iter()
        .filter(|v| !matches!(v["state"].as_str(), Some("downloaded" | "already_held")))
        .count();
    if json {
        print_json(&Value::Array(views))?;
    } else {
        print_downloads(&views);
    }
    if failed > 0 {
        bail!("{failed} of {} downloads did not complete", ids.len());
    }
    Ok(())
}

fn describe_end(view: &Value) -> String {
    match view["state"].as_str() {
        Some("downloaded") => format!(
            "downloaded from {} ({} bytes, {} ms)",
            view["holder"].as_str().unwrap_or("?"),
            view["length"],
            view["elapsed_ms"]
        ),
        Some("already_held") => "already held".into(),
        _ => format!("failed: {}", view["error"].as_str().unwrap_or("?")),
    }
}

/// Downloads as a table (with their ids when they have some).
fn print_downloads(items: &[Value]) {
    let ids = items.iter().any(|d| d["id"].is_u64());
    let rows = items
        .iter()
        .map(|d| {
            let mut row = vec![
                field(d, "rfc"),
                field(d, "state"),
                field(d, "holder"),
                progress(d["received"].as_u64(), d["length"].as_u64()),
                field(d, "elapsed_ms"),
                d["attempts"].as_array().map_or(0, Vec::len).to_string(),
                field(d, "error"),
            ];
            if ids {
                row.insert(0, field(d, "id"));
            }
            row
        })
        .collect();
    let headers = [
        ">RFC",
        "STATE",
        "FROM",
        ">BYTES",
        ">MS",
        ">FAILED TRIES",
        "ERROR",
    ];
    if ids {
        print_table(&[&[">ID"][..], &headers[..]].concat(), rows);
    } else {
        print_table(&headers, rows);
    }
}

fn progress(done: Option<u64>, length: Option<u64>) -> String {
    match (done, length) {
        (Some(done), Some(length)) if length > 0 => {
            format!("{done}/{length} ({}%)", done * 100 / length)
        }
        (Some(done), _) => done.to_string(),
        _ => String::new(),
    }
}

/// Fetches a list: one page, or with `--all` every page.
fn pages(
    endpoint: &Endpoint,
    path: &str,
    extra: &str,
    key: &str,
    page: &PageArgs,
) -> anyhow::Result<(Vec<Value>, Option<String>)> {
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
        let answer = endpoint.get(url.trim_end_matches('?'))?;
        if let Some(list) = answer[key].as_array() {
            items.extend(list.iter().cloned());
        }
        let next = match &answer["next"] {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        };
        match next {
            Some(next) if page.all => after = Some(next),
            next => return Ok((items, next)),
        }
    }
}

/// Percent-encodes what a query value may not hold as is.
fn encode_query(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

fn more(next: Option<String>) {
    if let Some(next) = next {
        eprintln!("more: --after {next} (or --all)");
    }
}

/// A JSON field as table text (`-` for null).
fn field(value: &Value, key: &str) -> String {
    match &value[key] {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Nested fields as `a.b` rows.
fn flatten(prefix: &str, value: &Value, rows: &mut Vec<Vec<String>>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                let name = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&name, value, rows);
            }
        }
        Value::String(s) => rows.push(vec![prefix.to_owned(), s.clone()]),
        other => rows.push(vec![prefix.to_owned(), other.to_string()]),
    }
}

fn print_json(value: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints rows under headers, each column as wide as its widest cell; a
/// header written `>NAME` right-aligns its column (numbers).
fn print_table(headers: &[&str], rows: Vec<Vec<String>>) {
    print!("{}", table(headers, &rows));
}

fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let right: Vec<bool> = headers.iter().map(|h| h.starts_with('>')).collect();
    let headers: Vec<&str> = headers.iter().map(|h| h.trim_start_matches('>')).collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            let last = i + 1 == cells.len();
            if right.get(i).copied().unwrap_or(false) {
                text.push_str(&" ".repeat(pad));
                text.push_str(cell);
            } else {
                text.push_str(cell);
                if !last {
                    text.push_str(&" ".repeat(pad));
                }
            }
            if !last {
                text.push_str("  ");
            }
        }
        text.truncate(text.trim_end().len());
        text.push('\n');
        text
    };
    let mut text = line(headers.clone());
    for row in rows {
        text.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    text
}

/// `p2p-di index`.
#[derive(Debug, Args)]
pub struct IndexArgs {
    /// The peer's RFC server.
    #[arg(value_name = "HOST:PORT", value_parser = crate::cli::parse_rs)]
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
        let records: Vec<Value> = records
            .iter()
            .map(|r| {
                serde_json::json!({
                    "rfc": r.number, "title": r.title, "host": r.host,
                    "port": r.port, "ttl_secs": r.ttl_secs,
                })
            })
            .collect();
        return print_json(&serde_json::json!({
            "peer": { "host": origin.host, "os": origin.os },
            "records": records,
        }));
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

/// `p2p-di get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// The RFC numbers.
    #[arg(required = true, value_name = "N", value_delimiter = ',')]
    rfcs: Vec<u32>,
    /// The registration server.
    #[arg(long, value_name = "HOST:PORT", value_parser = crate::cli::parse_rs)]
    rs: String,
    /// Folder to save into (and to serve from while it runs; default ./rfcs).
    #[arg(long, value_name = "DIR")]
    rfc_dir: Option<PathBuf>,
    /// Seconds for everything: registering and every download.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    timeout: u64,
    /// Host name to register with (default: this machine's).
    #[arg(long, value_name = "NAME")]
    host: Option<String>,
    /// Address and port of the RFC server it runs meanwhile (default: the
    /// first free port in 65400-65500).
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// error, warn (default), info, debug or trace.
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<LogLevel>,
}

/// Runs `p2p-di get`: a peer for the length of the downloads.
pub fn run_get(args: GetArgs) -> anyhow::Result<()> {
    let mut config = PeerConfig {
        rs: args.rs.clone(),
        listen: args.listen,
        host: args.host.clone(),
        admin_listen: None,
        stats_interval_secs: 0,
        ..PeerConfig::default()
    };
    if let Some(dir) = &args.rfc_dir {
        config.rfc_dir = dir.clone();
    }
    config.log.level = args.log_level.unwrap_or(LogLevel::Warn);
    config
        .validate()
        .map_err(|err| anyhow::anyhow!("command line: {err}"))?;
    p2p_di_actors::sys::descriptors::raise_limit();
    let (log, flushed) = crate::root_logger(&config.log);
    let deadline = Duration::from_secs(args.timeout.max(1));
    let rfcs = args.rfcs.clone();
    let result: anyhow::Result<Vec<DownloadFinished>> = actix::System::new().block_on(async {
        let peer = match p2p_di_actors::peer::start(&config, log.clone()).await {
            Ok(peer) => peer,
            Err(err @ p2p_di_actors::peer::PeerError::InUse { .. }) => {
                return Err(anyhow::Error::new(err).context(
                    "a peer runs on this folder: download with it (`p2p-di ctl get N`), or pass --rfc-dir",
                ))
            }
            Err(err) => return Err(anyhow::Error::new(err).context("starting a peer for the downloads")),
        };
        let started = Instant::now();
        let joined = tokio::time::timeout(deadline, peer.link.send(WaitJoined)).await;
        if !matches!(joined, Ok(Ok(()))) {
            bail!(
                "not registered with the RS at {} within {} s (is it running?)",
                config.rs,
                deadline.as_secs()
            );
        }
        let left = deadline.saturating_sub(started.elapsed());
        let fetched = tokio::time::timeout(left, peer.downloader.send(Fetch { numbers: rfcs })).await;
        let leaving = peer.link.send(LeaveNetwork);
        let _ = tokio::time::timeout(Duration::from_secs(5), leaving).await;
        match fetched {
            Ok(Ok(finished)) => Ok(finished),
            Ok(Err(_)) => bail!("the downloader stopped"),
            Err(_) => bail!("the downloads took longer than {} s", deadline.as_secs()),
        }
    });
    drop(log);
    drop(flushed);
    let finished = result?;
    let failed = finished
        .iter()
        .filter(|f| matches!(f.outcome, Outcome::Failed(_)))
        .count();
    let views: Vec<Value> = finished.iter().map(finished_json).collect();
    if args.json {
        print_json(&Value::Array(views))?;
    } else {
        print_downloads(&views);
    }
    if failed > 0 {
        bail!("{failed} of {} RFCs were not saved", finished.len());
    }
    Ok(())
}

fn finished_json(f: &DownloadFinished) -> Value {
    let attempts: Vec<Value> = f
        .failed_attempts
        .iter()
        .map(|a| serde_json::json!({ "address": a.addr, "stage": a.stage.as_str(), "error": a.error.to_string() }))
        .collect();
    let mut value = serde_json::json!({
        "rfc": f.number,
        "elapsed_ms": f.elapsed.as_millis() as u64,
        "attempts": attempts,
        "received": 0,
    });
    match &f.outcome {
        Outcome::Downloaded {
            holder,
            addr,
            bytes,
        } => {
            value["state"] = "downloaded".into();
            value["holder"] = format!("{}:{}", holder.host, holder.port).into();
            value["address"] = addr.to_string().into();
            value["length"] = (*bytes).into();
            value["received"] = (*bytes).into();
        }
        Outcome::AlreadyHeld => value["state"] = "already_held".into(),
        Outcome::Failed(err) => {
            value["state"] = "failed".into();
            value["error"] = err.to_string().into();
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_their_columns() {
        let text = table(
            &[">RFC", "TITLE", ">TTL"],
            &[
                vec!["9264".into(), "Linkset".into(), "7200".into()],
                vec!["1".into(), "A".into(), "5".into()],
            ],
        );
        assert_eq!(
            text,
            " RFC  TITLE     TTL\n9264  Linkset  7200\n   1  A           5\n"
        );
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode_query("9264:host b:65401"), "9264:host%20b:65401");
        assert_eq!(encode_query("a&b=c"), "a%26b%3Dc");
    }
}
