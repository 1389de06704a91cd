//! One run with separate daemons on a kernel network (`--net netns`): the
//! RS and every peer a `p2p-di` process in a namespace of its own, links
//! shaped by qdiscs instead of the daemons' token buckets, the downloads
//! asked for through each peer's admin endpoint, and the timings read
//! back from the peers' own JSON logs.

use super::events::{Event, Tail};
use super::interrupt;
use super::netns::{self, Daemon, Network, Rate, Shape, Subnet};
use super::plan::Kind;
use super::run::{self, Discovery, Job, RunOutcome};
use anyhow::{anyhow, Context as _};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use p2p_di_actors::config::{
    LogConfig, LogFormat, LogLevel, PeerConfig, RsConfig, RsList, SyncMode,
};
use serde_json::json;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

/// The admin endpoint of every peer, on its own namespace's loopback.
const ADMIN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8400);

/// The RFC server port of every peer (each has its own address).
const PEER_PORT: u16 = 65400;

/// Longest a run may take once its downloads are asked for.
const RUN_DEADLINE: Duration = Duration::from_secs(600);

/// The shape of each peer's link: its caps (the server's its own) as tbf
/// qdiscs with the burst the in-process token buckets allow (so the bounds
/// are the same), and the experiment's delay and loss.
pub fn shapes_of(job: &Job<'_>, delay_ms: Option<u64>, loss_percent: Option<f64>) -> Vec<Shape> {
    let rate = |cap: Option<u64>| {
        cap.map(|bytes_per_sec| Rate {
            bytes_per_sec,
            burst: p2p_di_actors::peer::burst_bytes(bytes_per_sec),
        })
    };
    (0..job.point.setup.names.len())
        .map(|i| {
            let (upload, download) = job.caps.of_peer(job.point.kind, i);
            Shape {
                upload: rate(upload),
                download: rate(download),
                delay_ms,
                loss_percent,
            }
        })
        .collect()
}

/// The daemons of a run, with a tail on each peer's log.
struct Daemons {
    /// Dropped (stopped) before the network.
    peers: Vec<Daemon>,
    /// The RSs, all in the first namespace, on ports from 65423 up.
    rss: Vec<Daemon>,
    tails: Vec<Tail>,
    /// Each peer's events so far.
    events: Vec<Vec<Event>>,
}

impl Daemons {
    /// Reads what the peers logged since the last poll.
    fn poll(&mut self) -> anyhow::Result<usize> {
        let mut fresh = 0;
        for (tail, events) in self.tails.iter_mut().zip(&mut self.events) {
            let new = tail.poll()?;
            fresh += new.len();
            events.extend(new);
        }
        Ok(fresh)
    }
}

/// Runs `job` on a network made for it, in `subnet`, shaped as `shape`.
pub fn run(
    job: &Job<'_>,
    subnet: Subnet,
    shapes: &[Shape],
    progress: &MultiProgress,
) -> anyhow::Result<RunOutcome> {
    run::prepare(job)?;
    let network = Network::create(subnet, shapes).context("making the lab's network")?;
    let mut daemons = start(job, &network)?;
    let result = drive(job, &network, &mut daemons, progress);
    // The peers stop (LEAVE) before the RS; the network goes last.
    for peer in &mut daemons.peers {
        peer.stop(Duration::from_secs(3));
    }
    for rs in &mut daemons.rss {
        rs.stop(Duration::from_secs(3));
    }
    drop(daemons);
    drop(network);
    let mut outcome = result?;
    if !outcome.interrupted {
        run::verify(job, &mut outcome);
    }
    Ok(outcome)
}

/// Writes the configs and starts the RS and the peers; returns once every
/// peer has registered.
fn start(job: &Job<'_>, network: &Network) -> anyhow::Result<Daemons> {
    let setup = &job.point.setup;
    let n = setup.names.len();
    let json = LogConfig {
        level: LogLevel::Info,
        format: LogFormat::Json,
    };
    let mut rss = Vec::new();
    let mut rs_addrs = Vec::new();
    for j in 0..setup.rss.max(1) {
        let port = p2p_di_actors::wire::RS_PORT + j as u16;
        let rs_addr = SocketAddr::new(network.addr(0).into(), port);
        let rs_config = RsConfig {
            listen: rs_addr,
            state_dir: job.work.join(format!("rs{j}-state")),
            host: Some(setup.rs_name(j).to_lowercase()),
            admin_listen: None,
            max_peers_per_address: (2 * n).max(256),
            limits: run::lab_limits(n),
            stats_interval_secs: 0,
            log: LogConfig {
                level: LogLevel::Warn,
                ..json.clone()
            },
            ..RsConfig::default()
        };
        let rs_file = write_config(&job.work.join(format!("rs{j}.ron")), &rs_config)?;
        rss.push(Daemon::start(
            network.namespace(0),
            &["rs", "--config", &rs_file],
            &job.work.join(format!("rs{j}.log")),
        )?);
        rs_addrs.push(rs_addr.to_string());
    }
    let rs_list = RsList::from(rs_addrs);
    let mut peers = Vec::new();
    let mut tails = Vec::new();
    for (i, name) in setup.names.iter().enumerate() {
        let config = PeerConfig {
            rs: rs_list.clone(),
            listen: Some(SocketAddr::new(network.addr(i + 1).into(), PEER_PORT)),
            rfc_dir: job.work.join(name),
            host: Some(name.clone()),
            max_parallel_downloads: setup.parallel,
            transfer_timeout_secs: 300,
            rs_retry_initial_ms: 20,
            rs_retry_max_ms: 500,
            // The kernel shapes the links.
            upload_limit_bytes_per_sec: None,
            download_limit_bytes_per_sec: None,
            refresh_index_ms: setup.refresh_index_ms.unwrap_or(0),
            refresh_index_peers: setup
                .refresh_index_peers
                .unwrap_or(PeerConfig::default().refresh_index_peers),
            sync: SyncMode::Grouped,
            limits: run::lab_limits(n),
            admin_listen: Some(ADMIN),
            stats_interval_secs: 0,
            log: json.clone(),
            ..PeerConfig::default()
        };
        let file = write_config(&job.work.join(format!("{name}.ron")), &config)?;
        let log = job.work.join(format!("{name}.log"));
        peers.push(Daemon::start(
            network.namespace(i + 1),
            &["peer", "--config", &file],
            &log,
        )?);
        tails.push(Tail::new(&log));
    }
    let mut daemons = Daemons {
        peers,
        rss,
        tails,
        events: vec![Vec::new(); n],
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    for (i, name) in setup.names.iter().enumerate() {
        loop {
            if let Some(status) = daemons.peers[i].exited() {
                return Err(anyhow!(
                    "peer {name} exited ({status}) before it registered: {}",
                    last_lines(&daemons.peers[i].log)
                ));
            }
            let joined = admin(network, i, "GET", "/status", None)
                .ok()
                .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
                .and_then(|status| status.get("joined")?.as_bool())
                .unwrap_or(false);
            if joined {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "peer {name} did not register within 30 s: {}",
                last_lines(&daemons.peers[i].log)
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    Ok(daemons)
}

fn write_config<T: serde::Serialize>(path: &Path, config: &T) -> anyhow::Result<String> {
    // LF on every platform, as `--print-config` prints.
    let pretty = ron::ser::PrettyConfig::default().new_line("\n");
    let text = ron::ser::to_string_pretty(config, pretty)?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path.display().to_string())
}

/// The last lines of a daemon's log, for an error message.
fn last_lines(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(3).collect();
    if lines.is_empty() {
        format!("{} is empty", path.display())
    } else {
        lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
    }
}

/// One admin exchange with peer `i`.
fn admin(
    network: &Network,
    i: usize,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> anyhow::Result<(u16, String)> {
    netns::http(network.namespace(i + 1), ADMIN, method, path, body)
}

/// The index phase, then the download phase round by round, a victim
/// killed on time, and the events turned into rows.
fn drive(
    job: &Job<'_>,
    network: &Network,
    daemons: &mut Daemons,
    progress: &MultiProgress,
) -> anyhow::Result<RunOutcome> {
    let setup = &job.point.setup;
    let mut outcome = RunOutcome::default();
    if job.point.kind == Kind::Scenario {
        scenario(job, network, daemons, &mut outcome)?;
        daemons.poll()?;
        let per_peer = std::mem::take(&mut daemons.events)
            .into_iter()
            .enumerate()
            .collect();
        run::rows_from(job, per_peer, &mut outcome);
        return Ok(outcome);
    }
    let index_clock = Instant::now();
    std::thread::scope(|scope| {
        let asks: Vec<_> = (0..setup.names.len())
            .filter(|&i| !setup.index_from[i].is_empty())
            .map(|i| scope.spawn(move || admin(network, i, "POST", "/index/refresh", None)))
            .collect();
        for ask in asks {
            match ask.join() {
                Ok(Ok((200, _))) => {}
                Ok(Ok((status, body))) => outcome
                    .problems
                    .push(format!("index phase: {status} {body}")),
                Ok(Err(err)) => outcome.problems.push(format!("index phase: {err:#}")),
                Err(_) => outcome
                    .problems
                    .push("index phase: a thread panicked".into()),
            }
        }
    });
    outcome.index_ms = index_clock.elapsed().as_secs_f64() * 1000.0;
    let planned: usize = (0..setup.names.len())
        .map(|i| setup.downloads_of(i).len())
        .sum();
    let bar = progress.add(ProgressBar::new(planned as u64));
    bar.set_style(
        ProgressStyle::with_template("{prefix:>24} [{bar:32}] {pos:>3}/{len} RFCs")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(format!("{} (netns)", job.point.row));
    // Events of the index phase (none are expected) do not count.
    daemons.poll()?;
    for events in &mut daemons.events {
        events.clear();
    }
    let phase = Instant::now();
    outcome.phase_started = Some(SystemTime::now());
    let bound = run::bound_of(job.point, job.corpus, job.caps).map_or(1.0, |b| b.secs);
    let when = |at: f64| phase + Duration::from_secs_f64(bound * at);
    let victim = setup.kill.map(|(victim, at)| (victim, when(at)));
    let mut rs_victim = setup.kill_rs.map(|(j, at)| (j, when(at)));
    let mut killed = false;
    let deadline = phase + RUN_DEADLINE;
    for round in &setup.rounds {
        ask_round(job, network, round, killed_set(victim, killed))?;
        // The barrier: the round ends when every live peer has reported
        // each of its downloads.
        loop {
            if let Some((v, at)) = victim {
                if !killed && Instant::now() >= at {
                    daemons.peers[v].kill();
                    killed = true;
                    outcome.killed_at_ms = Some(phase.elapsed().as_secs_f64() * 1000.0);
                }
            }
            if let Some((j, at)) = rs_victim {
                if Instant::now() >= at {
                    daemons.rss[j].kill();
                    rs_victim = None;
                    outcome.killed_at_ms = Some(phase.elapsed().as_secs_f64() * 1000.0);
                }
            }
            daemons.poll()?;
            bar.set_position(daemons.events.iter().map(Vec::len).sum::<usize>() as u64);
            let finished = round.iter().enumerate().all(|(i, docs)| {
                (killed && victim.is_some_and(|(v, _)| v == i))
                    || docs.iter().all(|&d| {
                        let number = job.corpus.docs[d].number;
                        daemons.events[i].iter().any(|e| e.rfc == number)
                    })
            });
            if finished {
                break;
            }
            if interrupt::requested() {
                bar.finish_and_clear();
                return Ok(RunOutcome {
                    interrupted: true,
                    ..RunOutcome::default()
                });
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{}: downloads still running after {} s",
                job.point.row,
                RUN_DEADLINE.as_secs()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    // The victim is stopped even if the downloads ended first.
    if let (Some((v, at)), false) = (victim, killed) {
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
        daemons.peers[v].kill();
        outcome.killed_at_ms = Some(phase.elapsed().as_secs_f64() * 1000.0);
    }
    if let Some((j, at)) = rs_victim {
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
        daemons.rss[j].kill();
        outcome.killed_at_ms = Some(phase.elapsed().as_secs_f64() * 1000.0);
    }
    bar.finish_and_clear();
    outcome.discovery = discovery(network, setup.names.len(), victim.map(|(v, _)| v));
    let per_peer = std::mem::take(&mut daemons.events)
        .into_iter()
        .enumerate()
        .collect();
    run::rows_from(job, per_peer, &mut outcome);
    Ok(outcome)
}

fn killed_set(victim: Option<(usize, Instant)>, killed: bool) -> Option<usize> {
    victim.filter(|_| killed).map(|(v, _)| v)
}

/// Asks each peer (but a killed one) for its downloads of `round`, all
/// peers at once, each peer's in its order.
fn ask_round(
    job: &Job<'_>,
    network: &Network,
    round: &[Vec<usize>],
    killed: Option<usize>,
) -> anyhow::Result<()> {
    std::thread::scope(|scope| {
        let asks: Vec<_> = round
            .iter()
            .enumerate()
            .filter(|(i, docs)| !docs.is_empty() && killed != Some(*i))
            .map(|(i, docs)| {
                scope.spawn(move || -> anyhow::Result<()> {
                    for &d in docs {
                        let rfc = job.corpus.docs[d].number;
                        let (status, body) = admin(
                            network,
                            i,
                            "POST",
                            "/downloads",
                            Some(&json!({ "rfc": rfc })),
                        )?;
                        anyhow::ensure!(
                            status == 202,
                            "asking {} for RFC {rfc}: {status} {body}",
                            job.point.setup.names[i]
                        );
                    }
                    Ok(())
                })
            })
            .collect();
        for ask in asks {
            ask.join()
                .map_err(|_| anyhow!("a thread asking for downloads panicked"))??;
        }
        Ok(())
    })
}

/// The testing scenario through the admin endpoints: A downloads from B,
/// B leaves, A's next peer query finds no active peer.
fn scenario(
    job: &Job<'_>,
    network: &Network,
    daemons: &mut Daemons,
    outcome: &mut RunOutcome,
) -> anyhow::Result<()> {
    let setup = &job.point.setup;
    let number = job.corpus.docs[setup.downloads_of(0)[0]].number;
    admin(
        network,
        0,
        "POST",
        "/downloads",
        Some(&json!({ "rfc": number })),
    )?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while daemons.events[0].is_empty() {
        anyhow::ensure!(Instant::now() < deadline, "A's download never ended");
        std::thread::sleep(Duration::from_millis(5));
        daemons.poll()?;
    }
    let got = daemons.events[0]
        .iter()
        .any(|e| e.rfc == number && matches!(e.outcome, super::events::Ended::Downloaded { .. }));
    let left = matches!(admin(network, 1, "POST", "/leave", None), Ok((200, _)));
    let none_active = admin(network, 0, "GET", "/peers?refresh=true", None)
        .ok()
        .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
        .is_some_and(|page| page.get("note").and_then(|n| n.as_str()) == Some("no active peers"));
    run::scenario_checks(outcome, number, [got, left, none_active]);
    Ok(())
}

/// The discovery counters of every live peer, from its `/metrics`.
fn discovery(network: &Network, peers: usize, killed: Option<usize>) -> Discovery {
    let mut total = Discovery::default();
    for i in (0..peers).filter(|&i| Some(i) != killed) {
        let Ok((200, text)) = admin(network, i, "GET", "/metrics", None) else {
            continue;
        };
        for (kind, traffic) in [("pquery", &mut total.pquery), ("index", &mut total.index)] {
            let value = |name: &str| metric(&text, name, kind);
            traffic.exchanges += value("p2pdi_peer_discovery_exchanges_total") as u64;
            traffic.bytes += value("p2pdi_peer_discovery_bytes_total") as u64;
            traffic.secs += value("p2pdi_peer_discovery_seconds_total");
        }
    }
    total
}

/// The value of counter `name` with label `kind` in Prometheus text.
fn metric(text: &str, name: &str, kind: &str) -> f64 {
    let label = format!("kind=\"{kind}\"");
    text.lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') && rest.contains(&label))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counter_is_read_from_prometheus_text() {
        let text = "# TYPE p2pdi_peer_discovery_exchanges_total counter\n\
            p2pdi_peer_discovery_exchanges_total{kind=\"pquery\"} 12\n\
            p2pdi_peer_discovery_exchanges_total{kind=\"index\"} 5\n\
            p2pdi_peer_discovery_exchanges_total_created{kind=\"index\"} 1700000000\n\
            p2pdi_peer_discovery_seconds_total{kind=\"index\"} 0.25\n";
        assert_eq!(
            metric(text, "p2pdi_peer_discovery_exchanges_total", "pquery"),
            12.0
        );
        assert_eq!(
            metric(text, "p2pdi_peer_discovery_exchanges_total", "index"),
            5.0
        );
        assert_eq!(
            metric(text, "p2pdi_peer_discovery_seconds_total", "index"),
            0.25
        );
        assert_eq!(
            metric(text, "p2pdi_peer_discovery_bytes_total", "index"),
            0.0
        );
    }
}
