//! `p2p-di lab report LOG...`: the lab's report built from peers' JSON
//! logs, wherever the peers ran (by hand on several machines, under
//! systemd, in containers, or in the lab's own namespaces).
//!
//! Each download event carries its peer's name, its wall-clock start and
//! its duration on that peer's clock. Durations are sound on any set of
//! hosts; comparing starts across hosts is only as good as their clocks'
//! synchronization, which the report says, and it uses per-peer spans
//! where only those are sound.

use super::events::{self, Ended, Event};
use super::plots::{self, Chart, Corner, Series, Style};
use super::results::{self, DOWNLOADS_HEADER, SUMMARY_HEADER};
use anyhow::Context as _;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// One peer's downloads, from its own log.
#[derive(Debug, Default)]
struct PeerLog {
    downloads: Vec<Event>,
    failed: Vec<Event>,
}

impl PeerLog {
    fn first_start(&self) -> Option<SystemTime> {
        self.all().map(|e| e.started).min()
    }

    fn last_end(&self) -> Option<SystemTime> {
        self.all().map(Event::ended).max()
    }

    fn all(&self) -> impl Iterator<Item = &Event> {
        self.downloads.iter().chain(&self.failed)
    }

    /// From its first start to its last end, on its own clock.
    fn span(&self) -> Duration {
        match (self.first_start(), self.last_end()) {
            (Some(a), Some(b)) => b.duration_since(a).unwrap_or_default(),
            _ => Duration::ZERO,
        }
    }
}

fn secs(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

/// Reads `logs`, writes `downloads.csv`, `summary.csv`, a chart and
/// `report.md` into `out` (default `results/<timestamp>`); returns `out`.
pub fn report(logs: &[PathBuf], out: Option<PathBuf>, title: &str) -> anyhow::Result<PathBuf> {
    let events = events::read_logs(logs)?;
    anyhow::ensure!(
        !events.is_empty(),
        "no download events in {} log(s): a peer writes them at --log-level info or below, with --log-format json",
        logs.len()
    );
    let mut peers: BTreeMap<String, PeerLog> = BTreeMap::new();
    for event in events {
        let peer = peers.entry(event.peer.clone()).or_default();
        match event.outcome {
            Ended::Downloaded { .. } => peer.downloads.push(event),
            Ended::Failed(_) => peer.failed.push(event),
            Ended::AlreadyHeld => {}
        }
    }
    let out = super::out_folder(out);
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let t0 = peers
        .values()
        .filter_map(PeerLog::first_start)
        .min()
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let ms = |t: SystemTime| t.duration_since(t0).unwrap_or_default().as_secs_f64() * 1000.0;
    let mut csv = format!("{DOWNLOADS_HEADER}\n");
    for (name, peer) in &peers {
        for e in &peer.downloads {
            if let Ended::Downloaded { holder, bytes } = &e.outcome {
                let _ = writeln!(
                    csv,
                    "logs,{name},{},{holder},{bytes},{:.3},{:.3},{:.3},1,logs",
                    e.rfc,
                    ms(e.started),
                    ms(e.ended()),
                    e.elapsed.as_secs_f64() * 1000.0
                );
            }
        }
    }
    results::write(&out, "downloads.csv", &csv)?;
    let downloads: usize = peers.values().map(|p| p.downloads.len()).sum();
    let failed: usize = peers.values().map(|p| p.failed.len()).sum();
    let bytes: u64 = peers
        .values()
        .flat_map(|p| &p.downloads)
        .filter_map(|e| match e.outcome {
            Ended::Downloaded { bytes, .. } => Some(bytes),
            _ => None,
        })
        .sum();
    let last = peers
        .values()
        .filter_map(PeerLog::last_end)
        .max()
        .unwrap_or(t0);
    let makespan_ms = ms(last);
    let longest = peers.values().map(PeerLog::span).max().unwrap_or_default();
    results::write(
        &out,
        "summary.csv",
        &format!(
            "{SUMMARY_HEADER}\nlogs,{downloads},{bytes},{makespan_ms:.3},,,,{failed},{},1,{makespan_ms:.3},{makespan_ms:.3},logs,\n",
            downloads + failed
        ),
    )?;
    chart(&out, title, &peers)?;
    let mut md = String::new();
    let _ = writeln!(md, "# {title}\n");
    let _ = writeln!(
        md,
        "Built by `p2p-di lab report` from {} log(s) of {} peer(s): {downloads} downloads ({:.2} MB), {failed} failed.\n",
        logs.len(),
        peers.len(),
        bytes as f64 / 1e6
    );
    let _ = writeln!(md, "**Clocks.** Each time comes from the clock of the peer that downloaded: durations and each peer's span (its first start to its last end) are sound wherever the peers ran. Times compared across peers on different hosts (the overall makespan, the first column below) are only as good as those hosts' clock synchronization, which the logs cannot show; with NTP it is typically a few milliseconds.\n");
    let _ = writeln!(
        md,
        "- Longest span of one peer (sound): **{} s**\n- From the earliest start to the latest end over all peers (needs synchronized clocks): {} s\n",
        secs(longest),
        format_args!("{:.3}", makespan_ms / 1000.0)
    );
    let _ = writeln!(md, "![downloads over time](logs.svg)\n");
    let _ = writeln!(md, "| peer | first start (s, cross-host) | span (s) | downloads | failed | data (MB) | summed download time (s) | holders used |");
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---|");
    for (name, peer) in &peers {
        let data: u64 = peer
            .downloads
            .iter()
            .filter_map(|e| match e.outcome {
                Ended::Downloaded { bytes, .. } => Some(bytes),
                _ => None,
            })
            .sum();
        let mut holders: BTreeMap<&str, usize> = BTreeMap::new();
        for e in &peer.downloads {
            if let Ended::Downloaded { holder, .. } = &e.outcome {
                *holders.entry(holder).or_default() += 1;
            }
        }
        let holders: Vec<String> = holders.iter().map(|(h, n)| format!("{h} ({n})")).collect();
        let summed: Duration = peer.downloads.iter().map(|e| e.elapsed).sum();
        let _ = writeln!(
            md,
            "| {name} | {:.3} | {} | {} | {} | {:.2} | {} | {} |",
            peer.first_start().map_or(0.0, |t| ms(t) / 1000.0),
            secs(peer.span()),
            peer.downloads.len(),
            peer.failed.len(),
            data as f64 / 1e6,
            secs(summed),
            holders.join(", ")
        );
    }
    let reasons: BTreeMap<String, usize> =
        peers
            .values()
            .flat_map(|p| &p.failed)
            .fold(BTreeMap::new(), |mut counts, e| {
                if let Ended::Failed(why) = &e.outcome {
                    *counts.entry(why.clone()).or_default() += 1;
                }
                counts
            });
    if !reasons.is_empty() {
        let _ = writeln!(md, "\nWhy downloads failed:\n");
        for (why, n) in reasons {
            let _ = writeln!(md, "- {n} × {why}");
        }
    }
    let _ = writeln!(
        md,
        "\nData: [downloads.csv](downloads.csv) (start and end in ms from the earliest start, cross-host; `duration_ms` on the downloading peer's clock), [summary.csv](summary.csv)."
    );
    results::write(&out, "report.md", &md)?;
    Ok(out)
}

/// Downloads completed against time since each peer's own first start
/// (sound without synchronized clocks).
fn chart(out: &Path, title: &str, peers: &BTreeMap<String, PeerLog>) -> anyhow::Result<()> {
    let series = peers
        .iter()
        .enumerate()
        .filter_map(|(color, (name, peer))| {
            let first = peer.first_start()?;
            let mut ends: Vec<f64> = peer
                .downloads
                .iter()
                .map(|e| {
                    e.ended()
                        .duration_since(first)
                        .unwrap_or_default()
                        .as_secs_f64()
                })
                .collect();
            ends.sort_by(f64::total_cmp);
            let mut points = vec![(0.0, 0.0)];
            points.extend(ends.iter().enumerate().map(|(k, &t)| (t, (k + 1) as f64)));
            Some(Series::new(name.clone(), points, Style::Curve, color % 7))
        })
        .collect();
    let chart = Chart {
        title,
        subtitle: format!(
            "{} peers; each curve on its own peer's clock, from its first download",
            peers.len()
        ),
        x_label: "time since the peer's first download began (s)",
        y_label: "RFCs downloaded",
        x_whole: false,
        series,
        marks: Vec::new(),
        legend: Corner::LowerRight,
        y_unit_secs: None,
    };
    plots::write(out, "logs", &chart)
}
