//! `report.md`: the totals, the charts, the physical bounds and ratios, and
//! the conclusion the figures support.

use super::corpus::Corpus;
use super::plan::{Experiment, Task};
use super::results;
use super::run::Outcomes;
use std::fmt::Write as _;

/// One point of a sweep.
#[derive(Debug, Clone)]
pub struct SweepPoint {
    /// Peers in all.
    pub peers: usize,
    /// Documents distributed.
    pub documents: usize,
    /// Task 1 time, s.
    pub centralized_secs: f64,
    /// Task 1 bound, s.
    pub centralized_bound_secs: Option<f64>,
    /// Task 2 (best order) time, s.
    pub p2p_secs: f64,
    /// Task 2 bound, s.
    pub p2p_bound_secs: Option<f64>,
}

/// Seconds with two decimals.
pub fn secs(ms: f64) -> String {
    format!("{:.2}", ms / 1000.0)
}

fn mb(bytes: u64) -> String {
    format!("{:.2}", bytes as f64 / 1e6)
}

fn ratio(outcome: &Outcomes) -> Option<f64> {
    outcome
        .bound
        .as_ref()
        .filter(|b| b.secs > 0.0)
        .map(|b| outcome.makespan_ms / 1000.0 / b.secs)
}

fn describe(experiment: &Experiment) -> String {
    let cap = |rate: Option<u64>| {
        rate.map_or("no cap".to_owned(), |r| format!("{} MB/s", r as f64 / 1e6))
    };
    let caps = format!(
        "Every peer's upload: {}; download: {}.",
        cap(experiment.upload_limit_bytes_per_sec),
        cap(experiment.download_limit_bytes_per_sec)
    );
    let what = match &experiment.task {
        Task::Scenario => "Peer A (no RFCs) downloads an RFC from peer B (two RFCs) by the protocol's algorithm; B leaves; A asks the RS for the peer list again.".to_owned(),
        Task::Centralized { clients, documents, parallel } => format!(
            "P0 holds {documents} RFCs; P1..P{clients} fetch P0's index and each downloads all {documents} from P0, {parallel} at a time, all {clients} at once."
        ),
        Task::Distributed { peers, documents_per_peer, order, parallel } => format!(
            "{peers} peers hold {documents_per_peer} distinct RFCs each; each fetches the other indexes and downloads the {} it lacks, {parallel} at a time, in the {} order ({}).",
            (peers - 1) * documents_per_peer,
            match order { super::plan::Order::Best => "best", super::plan::Order::Worst => "worst" },
            match order {
                super::plan::Order::Best => "in round s peer i fetches from peer i+s, so no two peers share a holder",
                super::plan::Order::Worst => "every peer fetches from holder 0, then holder 1, ..., so all share one holder at a time",
            }
        ),
        Task::Sweep { min_peers, max_peers, documents } => format!(
            "Task 1 and Task 2 (best order) for {min_peers} to {max_peers} peers sharing {documents} RFCs."
        ),
    };
    format!("{what} {caps}")
}

/// The conclusion the figures support.
fn conclusion(runs: &[(&Experiment, &Outcomes)], sweep: &[SweepPoint]) -> String {
    let find = |pred: &dyn Fn(&Task) -> bool| {
        runs.iter()
            .find(|(e, o)| pred(&e.task) && !o.rows.is_empty())
    };
    let central = find(&|t| matches!(t, Task::Centralized { .. }));
    let best = find(&|t| {
        matches!(
            t,
            Task::Distributed {
                order: super::plan::Order::Best,
                ..
            }
        )
    });
    let worst = find(&|t| {
        matches!(
            t,
            Task::Distributed {
                order: super::plan::Order::Worst,
                ..
            }
        )
    });
    let mut text = String::new();
    if let (Some((ce, c)), Some((_, b))) = (central, best) {
        let factor = c.makespan_ms / b.makespan_ms.max(1e-9);
        let verdict = if factor > 1.05 {
            format!("peer-to-peer was {factor:.1} times faster")
        } else if factor < 0.95 {
            format!(
                "peer-to-peer was slower ({:.1} times the centralized time), against expectation",
                1.0 / factor
            )
        } else {
            "both took about as long".to_owned()
        };
        let _ = writeln!(
            text,
            "- **Peer-to-peer beats centralized distribution here.** With the same upload cap on every peer ({}), Task 1 (one holder serving {} downloaders) took {} s and Task 2 in the best order ({} peers each holding a share) took {} s: {verdict}. In Task 1 one upload link carries every copy{}; in Task 2 every peer's upload link works at once{}.",
            ce.upload_limit_bytes_per_sec.map_or("none".into(), |r| format!("{} MB/s", r as f64 / 1e6)),
            c.names.len() - 1,
            secs(c.makespan_ms),
            b.names.len(),
            secs(b.makespan_ms),
            c.bound.as_ref().map_or(String::new(), |x| format!(" (physical bound {:.2} s)", x.secs)),
            b.bound.as_ref().map_or(String::new(), |x| format!(" (physical bound {:.2} s)", x.secs)),
        );
    }
    if let (Some((_, b)), Some((_, w))) = (best, worst) {
        let factor = w.makespan_ms / b.makespan_ms.max(1e-9);
        let share = central.map(|(_, c)| w.makespan_ms / c.makespan_ms.max(1e-9));
        let against_central = match share {
            Some(share) if share >= 0.8 => format!(
                " and {:.0}% of the centralized time: almost as slow as one server",
                100.0 * share
            ),
            Some(share) => format!(", {:.0}% of the centralized time", 100.0 * share),
            None => String::new(),
        };
        let verdict = if factor > 1.1 {
            "Peers queued on one holder's upload link while the other holders sat idle: peer-to-peer capacity only helps when downloads are spread over holders."
        } else {
            "Here the order made little difference."
        };
        let _ = writeln!(
            text,
            "- **The order of downloads matters.** When all peers fetch from the same holder at the same time (worst order), the same distribution took {} s, {factor:.1} times the best order{against_central}. {verdict}",
            secs(w.makespan_ms),
        );
    }
    if let (Some(first), Some(last)) = (sweep.first(), sweep.last()) {
        if sweep.len() >= 2 {
            let cg = last.centralized_secs / first.centralized_secs.max(1e-9);
            let pg = last.p2p_secs / first.p2p_secs.max(1e-9);
            let shape = if cg > 1.5 * pg {
                "grows far faster than"
            } else if cg > pg {
                "grows faster than"
            } else {
                "does not grow faster than"
            };
            let _ = writeln!(
                text,
                "- **Scaling.** From {} to {} peers, centralized time went from {:.2} s to {:.2} s (x{cg:.1}) while peer-to-peer time went from {:.2} s to {:.2} s (x{pg:.1}): centralized time {shape} peer-to-peer time. Each new peer adds a downloader for the single server, but in peer-to-peer it also brings its own upload capacity.",
                first.peers, last.peers, first.centralized_secs, last.centralized_secs, first.p2p_secs, last.p2p_secs,
            );
        }
    }
    let ratios: Vec<f64> = runs.iter().filter_map(|(_, o)| ratio(o)).collect();
    if !ratios.is_empty() {
        let lowest = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let highest = ratios.iter().copied().fold(0.0, f64::max);
        let verdict = if lowest >= 1.0 {
            "every measured time is at or above its physical bound, as it must be"
        } else {
            "a measured time is BELOW its physical bound: the timing or the caps are wrong, and these figures should not be trusted"
        };
        let _ = writeln!(
            text,
            "- **Against physics.** Measured time over physical bound ranges from {lowest:.2} to {highest:.2}: {verdict}. The gap above 1 is protocol overhead (connections, index exchanges, one transfer at a time per peer) and holders left idle by the order of requests."
        );
    }
    if text.is_empty() {
        text.push_str("- These experiments alone do not compare centralized and peer-to-peer distribution; run the built-in suite for that.\n");
    }
    text
}

/// Builds `report.md`.
pub fn build(
    corpus: &Corpus,
    runs: &[(&Experiment, &Outcomes)],
    sweep: Option<(&Experiment, &[SweepPoint])>,
    started: &str,
) -> String {
    let mut md = String::new();
    let sizes: Vec<usize> = corpus.docs.iter().map(|d| d.bytes.len()).collect();
    let total: usize = sizes.iter().sum();
    let _ = writeln!(md, "# P2P-DI lab report\n");
    let _ = writeln!(
        md,
        "Run {started}. Corpus: {}; {} documents, {} MB in all, {:.1} KB mean, {:.1} KB to {:.1} KB. Every peer is a full `p2p-di` peer (its own store, RS link, downloader and RFC server, on 127.0.0.1) registered with an RS of its own run. Times are from the start of the download phase (after every peer registered and fetched the indexes) to the end of the last download; every downloaded copy was compared byte for byte with its source.\n",
        corpus.source,
        sizes.len(),
        mb(total as u64),
        total as f64 / sizes.len().max(1) as f64 / 1000.0,
        sizes.iter().copied().min().unwrap_or(0) as f64 / 1000.0,
        sizes.iter().copied().max().unwrap_or(0) as f64 / 1000.0,
    );
    let _ = writeln!(md, "## Summary\n");
    let _ = writeln!(md, "| experiment | peers | downloads | data (MB) | time (s) | physical bound (s) | time / bound | copies verified | failures |");
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (_, o) in runs {
        let bytes: u64 = o.rows.iter().map(|r| r.bytes).sum();
        let (bound, r) = match (&o.bound, ratio(o)) {
            (Some(b), Some(r)) => (format!("{:.2}", b.secs), format!("{r:.2}")),
            _ => ("-".into(), "-".into()),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {bound} | {r} | {} | {} |",
            o.name,
            o.names.len(),
            o.rows.len(),
            mb(bytes),
            secs(o.makespan_ms),
            o.verified,
            o.failures.len()
        );
    }
    let _ = writeln!(
        md,
        "\n## Conclusion\n\n{}",
        conclusion(runs, sweep.map_or(&[], |(_, p)| p))
    );
    for (experiment, o) in runs {
        let _ = writeln!(md, "## {}\n\n{}\n", experiment.title, describe(experiment));
        if matches!(experiment.task, Task::Scenario) {
            for (check, passed) in &o.checks {
                let _ = writeln!(
                    md,
                    "- {} {check}",
                    if *passed { "[x]" } else { "[ ] FAILED:" }
                );
            }
            let _ = writeln!(md);
        } else {
            let _ = writeln!(md, "![{}]({}.svg)\n", experiment.title, o.name);
        }
        if let Some(b) = &o.bound {
            let _ = writeln!(
                md,
                "Physical bound: {:.2} s, set by {} at the cap (less the cap's initial burst). Measured: {} s, {:.2} times the bound.\n",
                b.secs,
                b.limited_by,
                secs(o.makespan_ms),
                ratio(o).unwrap_or(0.0)
            );
        } else {
            let _ = writeln!(
                md,
                "No rate cap, so no physical bound. Measured: {} s.\n",
                secs(o.makespan_ms)
            );
        }
        if o.index_ms > 0.0 {
            let _ = writeln!(
                md,
                "Fetching the indexes before the download phase took {:.0} ms.\n",
                o.index_ms
            );
        }
        let _ = writeln!(md, "| peer | downloads | data (MB) | total download time (s) | last download ended at (s) |");
        let _ = writeln!(md, "|---|---:|---:|---:|---:|");
        for t in results::peer_totals(o) {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                t.peer,
                t.downloads,
                mb(t.bytes),
                secs(t.total_ms),
                secs(t.finished_ms)
            );
        }
        if matches!(experiment.task, Task::Distributed { .. }) {
            let (holders, downloaders, grid) = results::matrix(o);
            let _ = writeln!(md, "\nSeconds each downloader (column) spent fetching from each holder (row) ([{}-matrix.csv]({}-matrix.csv)):\n", o.name, o.name);
            let _ = writeln!(md, "| holder \\ downloader | {} |", downloaders.join(" | "));
            let _ = writeln!(md, "|---|{}", "---:|".repeat(downloaders.len()));
            for (h, holder) in holders.iter().enumerate() {
                let cells: Vec<String> = grid[h].iter().map(|s| format!("{s:.2}")).collect();
                let _ = writeln!(md, "| {holder} | {} |", cells.join(" | "));
            }
        }
        if !o.failures.is_empty() {
            let _ = writeln!(md, "\nFailures:\n");
            for failure in &o.failures {
                let _ = writeln!(md, "- {failure}");
            }
        }
        let _ = writeln!(md);
    }
    if let Some((experiment, points)) = sweep {
        let _ = writeln!(
            md,
            "## {}\n\n{}\n\n![scaling](sweep.svg)\n",
            experiment.title,
            describe(experiment)
        );
        let _ = writeln!(
            md,
            "| peers | documents | centralized (s) | bound (s) | peer-to-peer (s) | bound (s) |"
        );
        let _ = writeln!(md, "|---:|---:|---:|---:|---:|---:|");
        let opt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2}"));
        for p in points {
            let _ = writeln!(
                md,
                "| {} | {} | {:.2} | {} | {:.2} | {} |",
                p.peers,
                p.documents,
                p.centralized_secs,
                opt(p.centralized_bound_secs),
                p.p2p_secs,
                opt(p.p2p_bound_secs)
            );
        }
        let _ = writeln!(md);
    }
    let _ = writeln!(md, "Files: [downloads.csv](downloads.csv) (every download), [summary.csv](summary.csv), and an SVG and a PNG of each chart.");
    md
}
