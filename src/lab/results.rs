//! The results of a lab run: each point's repeats gathered, and what is
//! written as CSV (every download, a summary per point, the sweep, the
//! failures, the discovery cost, the holder-by-downloader matrices).

use super::bounds::{Bound, Textbook};
use super::plan::{Kind, Point};
use super::run::{Caps, Row, RunOutcome, Traffic};
use anyhow::Context as _;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// The CSV header of `downloads.csv`.
pub const DOWNLOADS_HEADER: &str =
    "experiment,peer,rfc,holder,bytes,start_ms,end_ms,duration_ms,repeat,mode";

/// The CSV header of `summary.csv`.
pub const SUMMARY_HEADER: &str = "experiment,downloads,bytes,makespan_ms,bound_ms,ratio,verified,failures,planned,repeats,makespan_min_ms,makespan_max_ms,mode,textbook_ms";

/// A bound shorter than this is shown as `-`, with no ratio.
pub const NEGLIGIBLE_BOUND_SECS: f64 = 0.001;

/// One point and its repeats.
#[derive(Debug, Clone)]
pub struct PointResult {
    /// The point.
    pub point: Point,
    /// Its experiment's title.
    pub title: String,
    /// Its caps.
    pub caps: Caps,
    /// One outcome per repeat run.
    pub runs: Vec<RunOutcome>,
    /// The bound our caps imply.
    pub bound: Option<Bound>,
    /// The textbook bound.
    pub textbook: Option<Textbook>,
    /// How it ran.
    pub mode: Mode,
}

/// How the lab runs its peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Every peer and the RS as actors of the lab's process, on 127.0.0.1,
    /// links capped by the peers' token buckets.
    InProcess,
    /// Every peer and the RS a `p2p-di` process in a network namespace of
    /// its own, links shaped by the kernel.
    Netns,
}

impl Mode {
    /// Its name in the CSV files and the report.
    pub fn name(self) -> &'static str {
        match self {
            Mode::InProcess => "in-process",
            Mode::Netns => "netns",
        }
    }
}

/// The median of `values` (the mean of the two middle ones when even).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

impl PointResult {
    /// The row name.
    pub fn row(&self) -> &str {
        &self.point.row
    }

    /// The stem of its files (charts, matrices): the row, with `-netns`
    /// for a netns run, so both runs of `--net both` keep their own.
    pub fn stem(&self) -> String {
        match self.mode {
            Mode::InProcess => self.point.row.clone(),
            Mode::Netns => format!("{}-netns", self.point.row),
        }
    }

    /// Each repeat's makespan, ms.
    pub fn makespans(&self) -> Vec<f64> {
        self.runs.iter().map(|r| r.makespan_ms).collect()
    }

    /// The median makespan, ms.
    pub fn makespan_ms(&self) -> f64 {
        median(&self.makespans())
    }

    /// The shortest and longest makespans, ms.
    pub fn range_ms(&self) -> (f64, f64) {
        let m = self.makespans();
        let low = m.iter().copied().fold(f64::INFINITY, f64::min);
        (
            if low.is_finite() { low } else { 0.0 },
            m.iter().copied().fold(0.0, f64::max),
        )
    }

    /// The repeat whose makespan is nearest the median (the one the
    /// charts draw).
    pub fn median_run(&self) -> Option<&RunOutcome> {
        let middle = self.makespan_ms();
        self.runs.iter().min_by(|a, b| {
            (a.makespan_ms - middle)
                .abs()
                .total_cmp(&(b.makespan_ms - middle).abs())
        })
    }

    /// Downloads planned, all repeats.
    pub fn planned(&self) -> usize {
        self.point.setup.planned() * self.runs.len()
    }

    /// Downloads completed, all repeats.
    pub fn completed(&self) -> usize {
        self.runs.iter().map(|r| r.rows.len()).sum()
    }

    /// Completed over planned.
    pub fn completed_fraction(&self) -> f64 {
        self.completed() as f64 / self.planned().max(1) as f64
    }

    /// Failed downloads and problems, all repeats.
    pub fn failures(&self) -> usize {
        self.runs
            .iter()
            .map(|r| r.failed.len() + r.problems.len())
            .sum()
    }

    /// Problems (never expected), all repeats.
    pub fn problems(&self) -> Vec<String> {
        self.runs.iter().flat_map(|r| r.problems.clone()).collect()
    }

    /// Bytes downloaded, all repeats.
    pub fn bytes(&self) -> u64 {
        self.runs
            .iter()
            .flat_map(|r| &r.rows)
            .map(|r| r.bytes)
            .sum()
    }

    /// Copies verified, all repeats.
    pub fn verified(&self) -> usize {
        self.runs.iter().map(|r| r.verified).sum()
    }

    /// The bound, when it is not negligible (and the run was meant to
    /// complete: a run whose peer is stopped on purpose has none).
    pub fn bound_secs(&self) -> Option<f64> {
        self.bound
            .as_ref()
            .map(|b| b.secs)
            .filter(|s| *s >= NEGLIGIBLE_BOUND_SECS && !self.killed())
    }

    /// The textbook bound, when it is not negligible (none for a run whose
    /// peer is stopped on purpose).
    pub fn textbook_secs(&self) -> Option<f64> {
        self.textbook
            .as_ref()
            .map(|b| b.secs)
            .filter(|s| *s >= NEGLIGIBLE_BOUND_SECS && !self.killed())
    }

    /// Median time over our bound.
    pub fn ratio(&self) -> Option<f64> {
        self.bound_secs().map(|b| self.makespan_ms() / 1000.0 / b)
    }

    /// Whether a peer or an RS was stopped on purpose.
    pub fn killed(&self) -> bool {
        self.point.setup.stopped().is_some()
    }

    /// Whether an RS (not a peer) was stopped on purpose: no download may
    /// fail for it.
    pub fn rs_killed(&self) -> bool {
        self.point.setup.kill_rs.is_some()
    }
}

/// Writes `text` to `dir/name`.
pub fn write(dir: &Path, name: &str, text: &str) -> anyhow::Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

/// `downloads.csv`: one line per download of every run.
pub fn downloads_csv(results: &[PointResult]) -> String {
    let mut csv = format!("{DOWNLOADS_HEADER}\n");
    for (p, row) in results.iter().flat_map(|p| {
        p.runs
            .iter()
            .flat_map(move |r| r.rows.iter().map(move |row| (p, row)))
    }) {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{:.3},{:.3},{:.3},{},{}",
            row.experiment,
            row.peer,
            row.rfc,
            row.holder,
            row.bytes,
            row.start_ms,
            row.end_ms,
            row.duration_ms(),
            row.repeat,
            p.mode.name()
        );
    }
    csv
}

fn opt_ms(secs: Option<f64>) -> String {
    secs.map_or(String::new(), |s| format!("{:.3}", s * 1000.0))
}

/// `summary.csv`: one line per point. Counts are over every repeat; the
/// makespan is the median of the repeats, with their range.
pub fn summary_csv(results: &[PointResult]) -> String {
    let mut csv = format!("{SUMMARY_HEADER}\n");
    for p in results {
        let (low, high) = p.range_ms();
        let _ = writeln!(
            csv,
            "{},{},{},{:.3},{},{},{},{},{},{},{:.3},{:.3},{},{}",
            p.row(),
            p.completed(),
            p.bytes(),
            p.makespan_ms(),
            opt_ms(p.bound_secs()),
            p.ratio().map_or(String::new(), |r| format!("{r:.3}")),
            p.verified(),
            p.failures(),
            p.planned(),
            p.runs.len(),
            low,
            high,
            p.mode.name(),
            opt_ms(p.textbook_secs()),
        );
    }
    csv
}

/// `failures.csv`: every download that did not complete, and why.
pub fn failures_csv(results: &[PointResult]) -> String {
    let mut csv = String::from("experiment,repeat,peer,rfc,reason\n");
    for p in results {
        for (k, run) in p.runs.iter().enumerate() {
            for f in &run.failed {
                let _ = writeln!(
                    csv,
                    "{},{},{},{},\"{}\"",
                    p.row(),
                    k + 1,
                    f.peer,
                    f.rfc,
                    f.reason.replace('"', "'")
                );
            }
        }
    }
    csv
}

/// The failures of `p` grouped by reason, most frequent first.
pub fn failure_reasons(p: &PointResult) -> Vec<(String, usize)> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for f in p.runs.iter().flat_map(|r| &r.failed) {
        *counts.entry(f.reason.clone()).or_default() += 1;
    }
    let mut list: Vec<(String, usize)> = counts.into_iter().collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    list
}

/// Discovery cost of a point, per run (the mean over the repeats).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiscoveryCost {
    /// PQUERY exchanges.
    pub pquery: Traffic,
    /// Index exchanges.
    pub index: Traffic,
    /// The download phase's downloads, summed, s.
    pub download_secs: f64,
    /// The index phase before the downloads, s.
    pub index_phase_secs: f64,
}

/// The mean discovery cost of one run of `p`.
pub fn discovery(p: &PointResult) -> DiscoveryCost {
    let n = p.runs.len().max(1) as f64;
    let mean = |pick: fn(&RunOutcome) -> Traffic| {
        let sum = p
            .runs
            .iter()
            .map(pick)
            .fold(Traffic::default(), |a, t| Traffic {
                exchanges: a.exchanges + t.exchanges,
                bytes: a.bytes + t.bytes,
                secs: a.secs + t.secs,
            });
        Traffic {
            exchanges: (sum.exchanges as f64 / n).round() as u64,
            bytes: (sum.bytes as f64 / n).round() as u64,
            secs: sum.secs / n,
        }
    };
    DiscoveryCost {
        pquery: mean(|r| r.discovery.pquery),
        index: mean(|r| r.discovery.index),
        download_secs: p
            .runs
            .iter()
            .flat_map(|r| &r.rows)
            .map(|r| r.duration_ms() / 1000.0)
            .sum::<f64>()
            / n,
        index_phase_secs: p.runs.iter().map(|r| r.index_ms / 1000.0).sum::<f64>() / n,
    }
}

/// `discovery.csv`: the discovery cost of each point.
pub fn discovery_csv(results: &[PointResult]) -> String {
    let mut csv = String::from("experiment,peers,pquery_exchanges,pquery_bytes,pquery_secs,index_exchanges,index_bytes,index_secs,index_phase_secs,download_secs\n");
    for p in results.iter().filter(|p| p.point.kind != Kind::Scenario) {
        let d = discovery(p);
        let _ = writeln!(
            csv,
            "{},{},{},{},{:.3},{},{},{:.3},{:.3},{:.3}",
            p.row(),
            p.point.peers,
            d.pquery.exchanges,
            d.pquery.bytes,
            d.pquery.secs,
            d.index.exchanges,
            d.index.bytes,
            d.index.secs,
            d.index_phase_secs,
            d.download_secs
        );
    }
    csv
}

/// Per peer: downloads, bytes, total download time (sum of durations),
/// and when its last download ended.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerTotals {
    /// Peer name.
    pub peer: String,
    /// Downloads.
    pub downloads: usize,
    /// Bytes downloaded.
    pub bytes: u64,
    /// Sum of download durations, ms.
    pub total_ms: f64,
    /// End of its last download, ms from the start.
    pub finished_ms: f64,
}

/// The totals of each downloading peer of `run`, in peer order.
pub fn peer_totals(names: &[String], run: &RunOutcome) -> Vec<PeerTotals> {
    names
        .iter()
        .filter_map(|peer| {
            let rows: Vec<&Row> = run.rows.iter().filter(|r| &r.peer == peer).collect();
            (!rows.is_empty()).then(|| PeerTotals {
                peer: peer.clone(),
                downloads: rows.len(),
                bytes: rows.iter().map(|r| r.bytes).sum(),
                total_ms: rows.iter().map(|r| r.duration_ms()).sum(),
                finished_ms: rows.iter().map(|r| r.end_ms).fold(0.0, f64::max),
            })
        })
        .collect()
}

/// The seconds each downloader (column) spent fetching from each holder
/// (row) in `run`: `seconds[holder][downloader]`.
pub fn matrix(names: &[String], run: &RunOutcome) -> Vec<Vec<f64>> {
    let mut cells: BTreeMap<(usize, usize), f64> = BTreeMap::new();
    let position = |name: &str| names.iter().position(|n| n == name).unwrap_or(usize::MAX);
    for row in &run.rows {
        *cells
            .entry((position(&row.holder), position(&row.peer)))
            .or_default() += row.duration_ms() / 1000.0;
    }
    let n = names.len();
    (0..n)
        .map(|h| {
            (0..n)
                .map(|d| cells.get(&(h, d)).copied().unwrap_or(0.0))
                .collect()
        })
        .collect()
}

/// The matrix of `run` as CSV (`holder\downloader,P0,P1,...`), seconds.
pub fn matrix_csv(names: &[String], run: &RunOutcome) -> String {
    let grid = matrix(names, run);
    let mut csv = format!("holder\\downloader,{}\n", names.join(","));
    for (h, holder) in names.iter().enumerate() {
        let cells: Vec<String> = grid[h].iter().map(|s| format!("{s:.3}")).collect();
        let _ = writeln!(csv, "{holder},{}", cells.join(","));
    }
    csv
}

/// One peer count of a sweep: each distribution's result at it.
#[derive(Debug, Clone, Copy)]
pub struct SweepPoint<'a> {
    /// Peers in all.
    pub peers: usize,
    /// Centralized (Task 1 with `peers - 1` clients).
    pub centralized: Option<&'a PointResult>,
    /// Peer-to-peer (Task 2, best order).
    pub p2p: Option<&'a PointResult>,
    /// The swarm.
    pub swarm: Option<&'a PointResult>,
}

/// The points of the sweep experiment `experiment`, by peer count.
pub fn sweep_points(results: &[PointResult], experiment: usize) -> Vec<SweepPoint<'_>> {
    let mut by_peers: BTreeMap<usize, SweepPoint<'_>> = BTreeMap::new();
    for p in results.iter().filter(|p| p.point.experiment == experiment) {
        let entry = by_peers.entry(p.point.peers).or_insert(SweepPoint {
            peers: p.point.peers,
            centralized: None,
            p2p: None,
            swarm: None,
        });
        match p.point.kind {
            Kind::Centralized => entry.centralized = Some(p),
            Kind::Distributed(_) => entry.p2p = Some(p),
            Kind::Swarm => entry.swarm = Some(p),
            Kind::Scenario => {}
        }
    }
    by_peers.into_values().collect()
}

/// `sweep.csv`: one line per peer count, every distribution's median,
/// range and bounds (ms).
pub fn sweep_csv(points: &[SweepPoint<'_>]) -> String {
    let mut csv = String::from("peers,documents");
    for kind in ["centralized", "p2p", "swarm"] {
        let _ = write!(
            csv,
            ",{kind}_ms,{kind}_min_ms,{kind}_max_ms,{kind}_bound_ms,{kind}_textbook_ms"
        );
    }
    csv.push('\n');
    for s in points {
        let documents = s
            .centralized
            .or(s.p2p)
            .or(s.swarm)
            .map_or(0, |p| p.point.setup.documents());
        let _ = write!(csv, "{},{documents}", s.peers);
        for p in [s.centralized, s.p2p, s.swarm] {
            match p {
                Some(p) => {
                    let (low, high) = p.range_ms();
                    let _ = write!(
                        csv,
                        ",{:.3},{low:.3},{high:.3},{},{}",
                        p.makespan_ms(),
                        opt_ms(p.bound_secs()),
                        opt_ms(p.textbook_secs())
                    );
                }
                None => csv.push_str(",,,,,"),
            }
        }
        csv.push('\n');
    }
    csv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }
}
