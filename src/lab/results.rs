//! The results on disk: every download as CSV, a summary per experiment,
//! and the holder-by-downloader time matrix of a distributed run.

use super::run::{Outcomes, Row};
use anyhow::Context as _;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// The CSV header of `downloads.csv`.
pub const DOWNLOADS_HEADER: &str = "experiment,peer,rfc,holder,bytes,start_ms,end_ms,duration_ms";

/// Writes `text` to `dir/name`.
pub fn write(dir: &Path, name: &str, text: &str) -> anyhow::Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

/// `downloads.csv`: one line per download of every experiment.
pub fn downloads_csv(outcomes: &[Outcomes]) -> String {
    let mut csv = format!("{DOWNLOADS_HEADER}\n");
    for row in outcomes.iter().flat_map(|o| &o.rows) {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{:.3},{:.3},{:.3}",
            row.experiment,
            row.peer,
            row.rfc,
            row.holder,
            row.bytes,
            row.start_ms,
            row.end_ms,
            row.duration_ms()
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

/// The totals of each downloading peer, in peer order.
pub fn peer_totals(outcome: &Outcomes) -> Vec<PeerTotals> {
    outcome
        .names
        .iter()
        .filter_map(|peer| {
            let rows: Vec<&Row> = outcome.rows.iter().filter(|r| &r.peer == peer).collect();
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
/// (row): `(holders, downloaders, seconds[holder][downloader])`.
pub fn matrix(outcome: &Outcomes) -> (Vec<String>, Vec<String>, Vec<Vec<f64>>) {
    let mut cells: BTreeMap<(usize, usize), f64> = BTreeMap::new();
    let position = |name: &str| {
        outcome
            .names
            .iter()
            .position(|n| n == name)
            .unwrap_or(usize::MAX)
    };
    for row in &outcome.rows {
        *cells
            .entry((position(&row.holder), position(&row.peer)))
            .or_default() += row.duration_ms() / 1000.0;
    }
    let n = outcome.names.len();
    let grid = (0..n)
        .map(|h| {
            (0..n)
                .map(|d| cells.get(&(h, d)).copied().unwrap_or(0.0))
                .collect()
        })
        .collect();
    (outcome.names.clone(), outcome.names.clone(), grid)
}

/// The matrix as CSV (`holder,P0,P1,...`), seconds.
pub fn matrix_csv(outcome: &Outcomes) -> String {
    let (holders, downloaders, grid) = matrix(outcome);
    let mut csv = format!("holder\\downloader,{}\n", downloaders.join(","));
    for (h, holder) in holders.iter().enumerate() {
        let cells: Vec<String> = grid[h].iter().map(|s| format!("{s:.3}")).collect();
        let _ = writeln!(csv, "{holder},{}", cells.join(","));
    }
    csv
}

/// `summary.csv`: one line per experiment.
pub fn summary_csv(outcomes: &[Outcomes]) -> String {
    let mut csv =
        String::from("experiment,downloads,bytes,makespan_ms,bound_ms,ratio,verified,failures\n");
    for o in outcomes {
        let bytes: u64 = o.rows.iter().map(|r| r.bytes).sum();
        let (bound, ratio) = match &o.bound {
            Some(b) if b.secs > 0.0 => (
                format!("{:.3}", b.secs * 1000.0),
                format!("{:.3}", o.makespan_ms / (b.secs * 1000.0)),
            ),
            _ => (String::new(), String::new()),
        };
        let _ = writeln!(
            csv,
            "{},{},{},{:.3},{},{},{},{}",
            o.name,
            o.rows.len(),
            bytes,
            o.makespan_ms,
            bound,
            ratio,
            o.verified,
            o.failures.len()
        );
    }
    csv
}

/// `sweep.csv`: one line per peer count.
pub fn sweep_csv(points: &[super::report::SweepPoint]) -> String {
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{:.3}", v * 1000.0));
    let mut csv =
        String::from("peers,documents,centralized_ms,centralized_bound_ms,p2p_ms,p2p_bound_ms\n");
    for p in points {
        let _ = writeln!(
            csv,
            "{},{},{:.3},{},{:.3},{}",
            p.peers,
            p.documents,
            p.centralized_secs * 1000.0,
            opt(p.centralized_bound_secs),
            p.p2p_secs * 1000.0,
            opt(p.p2p_bound_secs)
        );
    }
    csv
}
