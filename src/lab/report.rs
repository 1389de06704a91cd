//! `report.md`: what ran, the figures, and conclusions computed from them.
//! Every sentence of the conclusion is built from this run's numbers,
//! including its direction; a comparison whose repeats overlap says so.

use super::plan::{Experiment, Kind, Order};
use super::results::{self, Mode, PointResult, SweepPoint};
use std::fmt::Write as _;

/// What the report describes.
pub struct Study<'a> {
    /// Every point's result, in run order.
    pub results: &'a [PointResult],
    /// The experiments.
    pub experiments: &'a [Experiment],
    /// The corpus in words.
    pub corpus: String,
    /// The corpus's document sizes.
    pub sizes: Vec<usize>,
    /// Repeats asked for.
    pub repeats: usize,
    /// When it started, in words.
    pub started: String,
    /// Whether an interrupt cut it short.
    pub incomplete: bool,
    /// How the peers of `results` ran.
    pub mode: Mode,
    /// The netns runs of `--net both` (empty otherwise), compared with
    /// `results` in a section of their own.
    pub other: &'a [PointResult],
    /// The kernel network of netns runs, in words (subnet, qdiscs, bursts).
    pub network: Option<String>,
}

fn secs(ms: f64) -> String {
    format!("{:.2}", ms / 1000.0)
}

fn mb(bytes: u64) -> String {
    format!("{:.2}", bytes as f64 / 1e6)
}

fn opt_secs(secs: Option<f64>) -> String {
    secs.map_or("-".into(), |s| format!("{s:.2}"))
}

/// A point's median time and its repeats' range, in seconds:
/// `0.45 (0.43-0.47)`.
fn median_and_range(p: &PointResult) -> String {
    let (low, high) = p.range_ms();
    format!("{} ({}-{})", secs(p.makespan_ms()), secs(low), secs(high))
}

fn percent(x: f64) -> String {
    format!("{:.0}%", 100.0 * x)
}

/// Two medians closer than this (relative) are not called different, even
/// when their repeats' ranges are apart.
pub const SAME_WITHIN: f64 = 0.05;

/// How two measured times compare, given their repeats' ranges.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Comparison {
    /// The first is shorter (by this factor of the second), ranges apart.
    Faster(f64),
    /// The first is longer (by this factor), ranges apart.
    Slower(f64),
    /// The ranges overlap.
    Same,
}

/// Compares `a` with `b` by their medians, counting only a difference
/// their ranges do not cover.
pub fn compare(a: &PointResult, b: &PointResult) -> Comparison {
    let ((a_low, a_high), (b_low, b_high)) = (a.range_ms(), b.range_ms());
    let ratio = a.makespan_ms() / b.makespan_ms().max(1e-9);
    if (ratio - 1.0).abs() < SAME_WITHIN {
        Comparison::Same
    } else if a_high < b_low {
        Comparison::Faster(1.0 / ratio)
    } else if a_low > b_high {
        Comparison::Slower(ratio)
    } else {
        Comparison::Same
    }
}

fn said(c: Comparison) -> String {
    match c {
        Comparison::Faster(f) => format!("faster, {f:.1} times as fast"),
        Comparison::Slower(f) => format!("slower, {f:.1} times as long"),
        Comparison::Same => {
            "no measurable difference: within 5%, or their repeats' ranges overlap".into()
        }
    }
}

/// The least-squares slope of `points` (x, y).
pub fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let (mx, my) = (
        points.iter().map(|p| p.0).sum::<f64>() / n,
        points.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

impl Study<'_> {
    fn find(&self, row: &str) -> Option<&PointResult> {
        self.results
            .iter()
            .find(|p| p.row() == row && !p.runs.is_empty())
    }

    fn of_kind(&self, kind: Kind, killed: bool) -> Option<&PointResult> {
        self.results
            .iter()
            .find(|p| p.point.kind == kind && p.killed() == killed && !p.runs.is_empty())
    }

    /// Whether `p` is a point of the sweep.
    pub fn is_sweep(&self, p: &PointResult) -> bool {
        self.sweep_index() == Some(p.point.experiment)
    }

    /// Whether `p` is a point of one of the figures (the sweep or the
    /// textbook's), which get no chart of their own.
    pub fn in_a_figure(&self, p: &PointResult) -> bool {
        self.is_sweep(p) || self.textbook_index() == Some(p.point.experiment)
    }

    /// The experiment that draws the textbook's figure, if any ran.
    pub fn textbook_index(&self) -> Option<usize> {
        self.experiments.iter().position(|e| e.task.is_textbook())
    }

    /// The textbook figure's experiment and its points, by N.
    pub fn textbook(&self) -> Option<(&Experiment, Vec<SweepPoint<'_>>)> {
        let index = self.textbook_index()?;
        let points = results::sweep_points(self.results, index);
        (!points.is_empty()).then(|| (&self.experiments[index], points))
    }

    fn sweep_index(&self) -> Option<usize> {
        self.experiments
            .iter()
            .position(|e| matches!(e.task, super::plan::Task::Sweep { .. }))
    }

    fn sweep(&self) -> Option<(&Experiment, Vec<SweepPoint<'_>>)> {
        let index = self.sweep_index()?;
        let points = results::sweep_points(self.results, index);
        (!points.is_empty()).then(|| (&self.experiments[index], points))
    }
}

/// The conclusion's sentences.
fn conclusion(study: &Study<'_>) -> String {
    let mut text = String::new();
    let task1 = study
        .find("task1")
        .or_else(|| study.of_kind(Kind::Centralized, false));
    let order = |o: Order| {
        study
            .find(&format!("task2-{}", o.name()))
            .or_else(|| study.of_kind(Kind::Distributed(o), false))
    };
    let (best, crowded, worst) = (
        order(Order::Best),
        order(Order::Crowded),
        order(Order::Worst),
    );
    if let (Some(c), Some(b)) = (task1, best) {
        let verdict = match compare(b, c) {
            Comparison::Faster(f) => {
                format!("peer-to-peer (best order) was faster: {f:.1} times as fast")
            }
            Comparison::Slower(f) => {
                format!("peer-to-peer (best order) was slower: {f:.1} times as long")
            }
            Comparison::Same => "there was no measurable difference between them".into(),
        };
        let _ = writeln!(
            text,
            "- **Centralized against peer-to-peer.** With the same upload cap on every peer, Task 1 ({} downloaders on one holder) took {} s and Task 2 in the best order ({} peers, each holding a share) took {} s (medians): {verdict}. Task 1's least possible time is {} s and Task 2's {} s: one upload link carries every copy in Task 1, every peer's link works in Task 2.",
            c.point.peers - 1,
            secs(c.makespan_ms()),
            b.point.peers,
            secs(b.makespan_ms()),
            opt_secs(c.bound_secs()),
            opt_secs(b.bound_secs()),
        );
    }
    if let Some(c) = task1 {
        let shares: Vec<String> = [best, crowded, worst]
            .into_iter()
            .flatten()
            .map(|p| {
                format!(
                    "{} took {} of Task 1's time ({})",
                    p.row(),
                    percent(p.makespan_ms() / c.makespan_ms().max(1e-9)),
                    said(compare(p, c))
                )
            })
            .collect();
        if shares.len() >= 2 {
            let _ = writeln!(
                text,
                "- **The order of downloads decides what peer-to-peer gains.** Same peers, same documents, same caps: {}. When every peer fetches from the same holder at the same time, one upload link carries everything and peer-to-peer is no better than a server; spread over holders, every link works.",
                shares.join("; ")
            );
        }
    }
    if let Some((_, points)) = study.sweep() {
        text.push_str(&scaling_sentences(&points));
    }
    text.push_str(&failure_sentences(study));
    text.push_str(&discovery_sentences(study));
    let below: Vec<String> = study
        .results
        .iter()
        .filter_map(|p| {
            let measured = p.range_ms().0 / 1000.0;
            let floor = p.bound_secs().unwrap_or(0.0);
            (floor > 0.0 && measured < floor * 0.999 && !p.killed())
                .then(|| format!("{} ({:.3} s < {floor:.3} s)", p.row(), measured))
        })
        .collect();
    let ratios: Vec<f64> = study
        .results
        .iter()
        .filter(|p| !p.killed())
        .filter_map(PointResult::ratio)
        .collect();
    if !ratios.is_empty() {
        let low = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let high = ratios.iter().copied().fold(0.0, f64::max);
        if below.is_empty() {
            let _ = writeln!(
                text,
                "- **Against physics.** Every measured time is at or above the bound our caps imply; measured over that bound ranges from {low:.2} to {high:.2}. The gap above 1 is protocol overhead (connections, index exchanges, one transfer at a time per peer, syncing each file) and links left idle by the order of requests. (The textbook bounds assume fluid sharing and no burst; our token buckets let at most a millisecond of traffic through at once, too little to end a run under a textbook bound.)"
            );
        } else {
            let _ = writeln!(
                text,
                "- **Against physics: a measured time is below its bound** ({}): the timing or the caps are wrong, and these figures should not be trusted.",
                below.join(", ")
            );
        }
    }
    if text.is_empty() {
        text.push_str("- These experiments alone compare nothing; run the built-in suite (`p2p-di lab`) for the study.\n");
    }
    text
}

fn scaling_sentences(points: &[SweepPoint<'_>]) -> String {
    let mut text = String::new();
    type Pick = for<'a> fn(&SweepPoint<'a>) -> Option<&'a PointResult>;
    let kinds: [(&str, Pick); 3] = [
        ("the centralized time", |s| s.centralized),
        ("the peer-to-peer time", |s| s.p2p),
        ("the swarm's", |s| s.swarm),
    ];
    let mut parts = Vec::new();
    let mut slopes = Vec::new();
    for (name, pick) in kinds {
        let measured: Vec<(f64, f64)> = points
            .iter()
            .filter_map(|s| Some((s.peers as f64, pick(s)?.makespan_ms() / 1000.0)))
            .collect();
        if let Some(per_peer) = slope(&measured) {
            parts.push(format!("{:.0} ms to {name}", per_peer * 1000.0));
            slopes.push((name, per_peer));
        }
    }
    let (first, last) = (points.first(), points.last());
    if let (Some(first), Some(last), false) = (first, last, parts.is_empty()) {
        let centralized = slopes.first().map_or(0.0, |s| s.1);
        let flatter: Vec<&str> = slopes
            .iter()
            .skip(1)
            .filter(|(_, s)| *s < centralized / 2.0)
            .map(|(name, _)| *name)
            .collect();
        let verdict = if flatter.is_empty() {
            "here no distribution grew much slower than the centralized one".to_owned()
        } else {
            format!(
                "the centralized time grows with every peer, since one upload link carries every copy, while {} grew less than half as fast, since each new peer also brings its own upload link",
                flatter.join(" and ")
            )
        };
        let _ = writeln!(
            text,
            "- **Scaling.** From {} to {} peers, each added peer added {} (least-squares slopes over the medians): {verdict}.",
            first.peers,
            last.peers,
            parts.join(", "),
        );
    }
    if let Some(last) = points
        .iter()
        .rev()
        .find(|s| s.centralized.is_some() && s.swarm.is_some())
    {
        if let (Some(c), Some(s)) = (last.centralized, last.swarm) {
            let share = s.makespan_ms() / c.makespan_ms().max(1e-9);
            let _ = writeln!(
                text,
                "- **Swarming.** With one seed and {} downloaders that re-serve what they have, the swarm took {} s against {} s centralized ({} of it; {}): once copies spread, the seed's link is no longer the bottleneck. The textbook bound for the swarm is {} s, against {} s for the centralized run.",
                last.peers - 1,
                secs(s.makespan_ms()),
                secs(c.makespan_ms()),
                percent(share),
                said(compare(s, c)),
                opt_secs(s.textbook_secs()),
                opt_secs(c.textbook_secs()),
            );
        }
    }
    text
}

fn failure_sentences(study: &Study<'_>) -> String {
    let failing: Vec<&PointResult> = study
        .results
        .iter()
        .filter(|p| p.killed() && !p.runs.is_empty())
        .collect();
    if failing.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = failing
        .iter()
        .map(|p| {
            let (who, _) = p.point.setup.stopped().unwrap_or_default();
            format!(
                "{} completed {} of its planned downloads with {who} stopped",
                p.row(),
                percent(p.completed_fraction()),
            )
        })
        .collect();
    let holders: Vec<&PointResult> = failing.iter().copied().filter(|p| !p.rs_killed()).collect();
    let central = holders.iter().find(|p| p.point.kind == Kind::Centralized);
    let others: Vec<&&PointResult> = holders
        .iter()
        .filter(|p| p.point.kind != Kind::Centralized)
        .collect();
    let verdict = match central {
        Some(c) if !others.is_empty() => {
            let kept_more = others
                .iter()
                .all(|p| p.completed_fraction() > c.completed_fraction());
            let kept_less = others
                .iter()
                .all(|p| p.completed_fraction() < c.completed_fraction());
            if kept_more {
                "the central holder is a single point of failure; with the copies spread over peers, service went on for what the survivors held"
            } else if kept_less {
                "here the centralized run kept more than the peer-to-peer ones, against expectation"
            } else {
                "the peer-to-peer runs did not all keep more than the centralized one"
            }
        }
        _ => "",
    };
    let mut text = format!("- **Failure.** {}", parts.join("; "));
    if !verdict.is_empty() {
        let _ = write!(text, ": {verdict}");
    }
    text.push_str(". The downloaders' fallback (the next holder, then the next peer's index) is what recovered the rest.");
    let rs_runs: Vec<&&PointResult> = failing.iter().filter(|p| p.rs_killed()).collect();
    if !rs_runs.is_empty() {
        let whole = rs_runs.iter().all(|p| p.completed() == p.planned());
        let _ = write!(
            text,
            " With an RS stopped, the peers {}: the other RS's lists, or with none left the last list each peer held, aged, named the holders, and the holders were still there.",
            if whole {
                "completed every planned download"
            } else {
                "did NOT complete every planned download"
            }
        );
    }
    text.push('\n');
    text
}

fn discovery_sentences(study: &Study<'_>) -> String {
    let Some((_, points)) = study.sweep() else {
        return String::new();
    };
    let cost = |p: &PointResult| {
        let d = results::discovery(p);
        let bytes = d.pquery.bytes + d.index.bytes;
        let data = p.bytes() / p.runs.len().max(1) as u64;
        (
            d.pquery.exchanges + d.index.exchanges,
            bytes,
            bytes as f64 / (data + bytes).max(1) as f64,
        )
    };
    let ends: Vec<(usize, &PointResult, Option<&PointResult>)> = points
        .iter()
        .filter_map(|s| Some((s.peers, s.p2p?, s.centralized)))
        .collect();
    let (Some(first), Some(last)) = (ends.first(), ends.last()) else {
        return String::new();
    };
    if first.0 == last.0 {
        return String::new();
    }
    let (x0, b0, s0) = cost(first.1);
    let (x1, b1, s1) = cost(last.1);
    let exponent = (x1 as f64 / x0.max(1) as f64).ln() / (last.0 as f64 / first.0 as f64).ln();
    let growth = if exponent > 1.5 {
        "faster than the number of peers, towards its square"
    } else if exponent > 0.5 {
        "about as the number of peers"
    } else {
        "little"
    };
    let centralized = last.2.map_or(String::new(), |c| {
        let d = results::discovery(c);
        format!(
            " The centralized run of {} peers needed {} PQUERYs for its {} downloads (downloads that start within a second of a peer's last PQUERY share its list) and {} index exchanges (one per client), {:.1} KB in all.",
            last.0,
            d.pquery.exchanges,
            c.point.setup.planned(),
            d.index.exchanges,
            (d.pquery.bytes + d.index.bytes) as f64 / 1e3
        )
    });
    format!(
        "- **Finding content.** In the peer-to-peer runs, discovery (PQUERY and index exchanges) grew from {x0} exchanges ({:.1} KB, {} of all bytes moved) at {} peers to {x1} ({:.1} KB, {}) at {}: as N^{exponent:.1}, {growth}, since every peer asks every other for its index.{centralized}\n",
        b0 as f64 / 1e3,
        percent(s0),
        first.0,
        b1 as f64 / 1e3,
        percent(s1),
        last.0,
    )
}

fn summary_table(md: &mut String, study: &Study<'_>) {
    let _ = writeln!(md, "| experiment | peers | planned | completed | data (MB) | time (s), median | range (s) | bound of our caps (s) | textbook bound (s) | time / bound | copies verified | failed |");
    let _ = writeln!(
        md,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for p in study.results.iter().filter(|p| !p.runs.is_empty()) {
        let (low, high) = p.range_ms();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {}-{} | {} | {} | {} | {} | {} |",
            p.row(),
            p.point.peers,
            p.planned(),
            p.completed(),
            mb(p.bytes()),
            secs(p.makespan_ms()),
            secs(low),
            secs(high),
            opt_secs(p.bound_secs()),
            opt_secs(p.textbook_secs()),
            p.ratio().map_or("-".into(), |r| format!("{r:.2}")),
            p.verified(),
            p.failures(),
        );
    }
    let _ = writeln!(md, "\nCounts are over every repeat; times are the median of the repeats and their range. A bound under 1 ms is shown as -, with no ratio.\n");
}

fn order_text(order: Order) -> &'static str {
    match order {
        Order::Best => "Best order: in round s peer i fetches from peer i + s (mod N), so no two peers share a holder in a round and every upload link works; nothing keeps the peers in step, so late in the run some drift onto a shared holder.",
        Order::Crowded => "Crowded order: every peer fetches holder 0's documents, then holder 1's, ..., its own skipped, each at its own pace. All but P0 crowd holder 0 at first; P0 starts on holder 1 alone and never waits, which is why its curve stands apart. The others drift apart as some finish a holder sooner.",
        Order::Worst => "Worst order: lockstep rounds. In round h every peer but h fetches holder h's documents, and round h + 1 starts only when all have finished (a barrier), so one upload link carries all the traffic at a time: Task 1's load, through one link at a time.",
    }
}

fn peer_table(md: &mut String, p: &PointResult) {
    let Some(run) = p.median_run() else {
        return;
    };
    let _ = writeln!(
        md,
        "| peer | downloads | data (MB) | total download time (s) | last download ended at (s) |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|");
    for t in results::peer_totals(&p.point.setup.names, run) {
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
    if let Kind::Distributed(_) = p.point.kind {
        let names = &p.point.setup.names;
        let grid = results::matrix(names, run);
        let _ = writeln!(md, "\nSeconds each downloader (column) spent fetching from each holder (row), median repeat ([{}-matrix.csv]({}-matrix.csv)):\n", p.stem(), p.stem());
        let _ = writeln!(md, "| holder \\ downloader | {} |", names.join(" | "));
        let _ = writeln!(md, "|---|{}", "---:|".repeat(names.len()));
        for (h, holder) in names.iter().enumerate() {
            let cells: Vec<String> = grid[h].iter().map(|s| format!("{s:.2}")).collect();
            let _ = writeln!(md, "| {holder} | {} |", cells.join(" | "));
        }
    }
    let _ = writeln!(md);
}

fn point_section(md: &mut String, study: &Study<'_>, p: &PointResult) {
    let e = &study.experiments[p.point.experiment];
    let _ = writeln!(md, "### {}\n", e.title);
    if let Kind::Distributed(order) = p.point.kind {
        let _ = writeln!(md, "{}\n", order_text(order));
    }
    if p.point.kind == Kind::Scenario {
        // Each check once: passed only if it passed in every repeat.
        let mut checks: Vec<(&str, usize, usize)> = Vec::new();
        for (check, passed) in p.runs.iter().flat_map(|r| &r.checks) {
            match checks.iter_mut().find(|(c, _, _)| c == check) {
                Some(entry) => {
                    entry.1 += 1;
                    entry.2 += usize::from(*passed);
                }
                None => checks.push((check, 1, usize::from(*passed))),
            }
        }
        for (check, seen, passed) in checks {
            if passed == seen {
                let _ = writeln!(md, "- [x] {check}");
            } else {
                let _ = writeln!(
                    md,
                    "- [ ] FAILED in {} of {seen} repeats: {check}",
                    seen - passed
                );
            }
        }
        let _ = writeln!(
            md,
            "\nEach check held in every one of the {} repeats unless marked.\n",
            p.runs.len()
        );
        return;
    }
    let _ = writeln!(md, "![{}]({}.svg)\n", e.title, p.stem());
    if let Some(b) = &p.bound {
        let _ = writeln!(
            md,
            "Bound of our caps: {} s, set by {} (less the cap's initial burst). Textbook bound: {}. Measured: {} s (median of {}), {} the bound.\n",
            opt_secs(p.bound_secs()),
            b.limited_by,
            p.textbook.as_ref().map_or("-".into(), |t| t.formula.clone()),
            secs(p.makespan_ms()),
            p.runs.len(),
            p.ratio().map_or("-".into(), |r| format!("{r:.2} times")),
        );
    }
    let index_ms = p.runs.iter().map(|r| r.index_ms).sum::<f64>() / p.runs.len().max(1) as f64;
    if index_ms > 0.0 {
        let _ = writeln!(
            md,
            "Fetching the indexes before the download phase took {index_ms:.0} ms (mean).\n"
        );
    }
    peer_table(md, p);
}

fn sweep_section(md: &mut String, study: &Study<'_>) {
    let Some((e, points)) = study.sweep() else {
        return;
    };
    let _ = writeln!(md, "## {}\n", e.title);
    let _ = writeln!(md, "For each N, the same documents distributed three ways under the same caps: centralized (P0 serves the N - 1 others), peer-to-peer (each of the N peers holds a share and fetches the rest in the best order) and a swarm (P0 seeds; the N - 1 others download everything, each starting at a different document, re-fetch the indexes every {} ms while they download, and serve what they have). Markers are medians, bars the repeats' range; dashed lines are the textbook bounds, dotted ones the bounds our caps imply.\n", super::plan::SWEEP_REFRESH_MS);
    let _ = writeln!(md, "![scaling](sweep.svg)\n");
    let _ = writeln!(md, "| N | documents | centralized (s) | textbook | our caps | peer-to-peer (s) | textbook | our caps | swarm (s) | textbook | our caps |");
    let _ = writeln!(
        md,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let cell = |p: Option<&PointResult>| {
        p.map_or("- | - | -".to_owned(), |p| {
            format!(
                "{} | {} | {}",
                median_and_range(p),
                opt_secs(p.textbook_secs()),
                opt_secs(p.bound_secs())
            )
        })
    };
    for s in &points {
        let documents = s
            .centralized
            .or(s.p2p)
            .or(s.swarm)
            .map_or(0, |p| p.point.setup.documents());
        let _ = writeln!(
            md,
            "| {} | {documents} | {} | {} | {} |",
            s.peers,
            cell(s.centralized),
            cell(s.p2p),
            cell(s.swarm)
        );
    }
    if let Some(last) = points.last() {
        let _ = writeln!(md, "\nThe textbook bounds at N = {} (F: the bytes each downloader needs; u: the upload caps; d: the download caps):\n", last.peers);
        for (name, p) in [
            ("centralized", last.centralized),
            ("peer-to-peer", last.p2p),
            ("swarm", last.swarm),
        ] {
            if let Some(t) = p.and_then(|p| p.textbook.as_ref()) {
                let _ = writeln!(md, "- {name}: {}", t.formula);
            }
        }
    }
    let _ = writeln!(md, "\nData: [sweep.csv](sweep.csv).\n");
}

/// The textbook's figure: each curve against its bound, and where the
/// measured curves cross.
fn textbook_section(md: &mut String, study: &Study<'_>) {
    let Some((e, points)) = study.textbook() else {
        return;
    };
    let _ = writeln!(
        md,
        "## {}
",
        e.title
    );
    let f_over_u = textbook_unit(&points, e);
    let _ = writeln!(md, "The textbook's file-distribution comparison (Kurose and Ross, *Computer Networking*, 2.5), measured: for each N, N peers get the same file of F bytes, from a server (client-server: Task 1 with N clients) and from a seed they help (peer-to-peer: a swarm of the N peers and the seed). The server's or seed's upload u_s is its own cap, the peers' u theirs. Times are in units of F/u ({f_over_u:.3} s here) as in the textbook's figure, and in seconds; markers are medians, bars the repeats' range, dashed lines the textbook's bounds.
");
    let _ = writeln!(
        md,
        "![the textbook's figure](textbook.svg)
"
    );
    let _ = writeln!(
        md,
        "| N | client-server (s) | textbook (s) | ratio | swarm (s) | textbook (s) | ratio |"
    );
    let _ = writeln!(md, "|---:|---:|---:|---:|---:|---:|---:|");
    let ratio = |p: &PointResult| Some(p.makespan_ms() / 1000.0 / p.textbook_secs()?);
    let cell = |p: Option<&PointResult>| {
        p.map_or("- | - | -".to_owned(), |p| {
            format!(
                "{} | {} | {}",
                median_and_range(p),
                opt_secs(p.textbook_secs()),
                ratio(p).map_or("-".to_owned(), |r| format!("{r:.2}"))
            )
        })
    };
    for s in &points {
        let _ = writeln!(
            md,
            "| {} | {} | {} |",
            s.peers - 1,
            cell(s.centralized),
            cell(s.swarm)
        );
    }
    type Pick = for<'a> fn(&SweepPoint<'a>) -> Option<&'a PointResult>;
    let worst = |pick: Pick, from: usize| {
        points
            .iter()
            .filter(|s| s.peers > from)
            .filter_map(|s| Some((s.peers - 1, ratio(pick(s)?)?)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    };
    let _ = writeln!(md);
    if let Some((n, r)) = worst(|s| s.centralized, 1) {
        let _ = writeln!(md, "- **Client-server** stays within {r:.2} of its bound N·F/u_s at every N (the farthest at N = {n}): one upload link carries every copy, and it is kept full.");
    }
    if let Some((n, r)) = worst(|s| s.swarm, 8) {
        let _ = writeln!(md, "- **The swarm** stays within {r:.2} of its bound max(F/u_s, N·F/(u_s + N·u)) for N >= 8 (the farthest at N = {n}). Whole documents are its pieces and the indexes its only news of who holds what, so a peer can serve a document only once it holds all of it and only to peers that fetched its index since.");
    }
    // Faster beyond the repeats' ranges (see `compare`), not by noise.
    let faster = |s: &SweepPoint<'_>| {
        Some(matches!(
            compare(s.swarm?, s.centralized?),
            Comparison::Faster(_)
        ))
    };
    let crossing = points.windows(2).find_map(|w| {
        let (a, b) = (&w[0], &w[1]);
        match (faster(a)?, faster(b)?) {
            (false, true) => Some((a.peers - 1, b.peers - 1)),
            _ => None,
        }
    });
    let first_faster = points.first().and_then(faster);
    match (crossing, first_faster) {
        (Some((a, b)), _) => {
            let _ = writeln!(md, "- **The measured curves cross** between N = {a} and N = {b}: up to N = {a} the server alone is as fast as the swarm (its upload is ten times a peer's; their repeats' ranges overlap or the server is faster); from N = {b} the swarm is faster, its total upload growing with N and the server's not.");
        }
        (None, Some(true)) => {
            let _ = writeln!(md, "- **The measured curves do not cross** in this range: the swarm is the faster from the first N on.");
        }
        (None, _) => {
            let _ = writeln!(md, "- **The measured curves do not cross** in this range: client-server stays the faster.");
        }
    }
    if let Some(last) = points.last() {
        let _ = writeln!(
            md,
            "
The bounds at N = {}:
",
            last.peers - 1
        );
        for (name, p) in [("client-server", last.centralized), ("swarm", last.swarm)] {
            if let Some(t) = p.and_then(|p| p.textbook.as_ref()) {
                let _ = writeln!(md, "- {name}: {}", t.formula);
            }
        }
    }
    let _ = writeln!(
        md,
        "
Data: [textbook.csv](textbook.csv).
"
    );
}

/// F/u of the textbook's figure, in seconds: the file over a peer's
/// upload cap (from a client-server point: every client gets the file).
pub fn textbook_unit(points: &[SweepPoint<'_>], e: &Experiment) -> f64 {
    let file = points
        .iter()
        .find_map(|s| {
            let p = s.centralized?;
            let clients = (p.point.peers - 1).max(1) as u64;
            Some(p.bytes() / p.runs.len().max(1) as u64 / clients)
        })
        .unwrap_or(0);
    e.upload_limit_bytes_per_sec
        .map_or(0.0, |u| file as f64 / u as f64)
}

/// The points of `study` that ran at least once and that `keep` keeps.
fn ran<'s>(study: &'s Study<'_>, keep: impl Fn(&PointResult) -> bool) -> Vec<&'s PointResult> {
    study
        .results
        .iter()
        .filter(|p| !p.runs.is_empty() && keep(p))
        .collect()
}

fn failure_section(md: &mut String, study: &Study<'_>) {
    let failing = ran(study, PointResult::killed);
    if failing.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Failure: a holder or an RS stops part-way\n");
    let _ = writeln!(md, "The planned peer or RS is stopped at the given fraction of the run's bound: its actors and sockets go at once. A peer sends no LEAVE, so the RS still lists it until its TTL runs out; whatever completes afterwards, the downloaders' fallback found elsewhere. An RS keeps nothing it had not written: the peers' next PQUERY to it is refused a connection, they skip it until its retry time and use the other RS's list, or, with no RS left, the last list each of them received, each entry's TTL counted down from its arrival (docs/PROTOCOL.md). The holders are still there, so every planned download should complete.\n");
    let _ = writeln!(md, "![failures](failures.svg)\n");
    let _ = writeln!(md, "| experiment | stopped | at (s) | planned | completed | completed (%) | failed | time (s) |");
    let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|");
    for p in &failing {
        let (who, _) = p.point.setup.stopped().unwrap_or_default();
        let killed_at =
            p.runs.iter().filter_map(|r| r.killed_at_ms).sum::<f64>() / p.runs.len().max(1) as f64;
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            p.row(),
            who,
            secs(killed_at),
            p.planned(),
            p.completed(),
            percent(p.completed_fraction()),
            p.failures(),
            secs(p.makespan_ms()),
        );
    }
    let _ = writeln!(md);
    for p in &failing {
        let reasons = results::failure_reasons(p);
        if reasons.is_empty() {
            continue;
        }
        let _ = writeln!(md, "Why downloads of {} failed (all repeats):\n", p.row());
        for (reason, count) in reasons.iter().take(6) {
            let _ = writeln!(md, "- {count} × {reason}");
        }
        let _ = writeln!(md);
    }
    let _ = writeln!(
        md,
        "Every failed download, with its reason: [failures.csv](failures.csv).\n"
    );
}

fn discovery_section(md: &mut String, study: &Study<'_>) {
    let rows = ran(study, |p| p.point.kind != Kind::Scenario && !p.killed());
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Discovery cost\n");
    let _ = writeln!(md, "What finding content cost each run (mean of the repeats, all peers together): PQUERY exchanges with the RS and GET RFC-Index exchanges between peers, their bytes and their time, against the bytes and the summed time of the downloads themselves.\n");
    let _ = writeln!(md, "| experiment | peers | PQUERY | index exchanges | discovery (KB) | documents (MB) | discovery time (s) | download time (s) | discovery / download time |");
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for p in rows {
        let d = results::discovery(p);
        let data = p.bytes() / p.runs.len().max(1) as u64;
        let time = d.pquery.secs + d.index.secs;
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {:.1} | {} | {:.2} | {:.2} | {} |",
            p.row(),
            p.point.peers,
            d.pquery.exchanges,
            d.index.exchanges,
            (d.pquery.bytes + d.index.bytes) as f64 / 1e3,
            mb(data),
            time,
            d.download_secs,
            if d.download_secs > 0.0 {
                percent(time / d.download_secs)
            } else {
                "-".into()
            },
        );
    }
    let _ = writeln!(md, "\nData: [discovery.csv](discovery.csv).\n");
}

/// Builds `report.md`.
pub fn build(study: &Study<'_>) -> String {
    let mut md = String::new();
    let total: usize = study.sizes.iter().sum();
    let _ = writeln!(md, "# P2P-DI lab report\n");
    if study.incomplete {
        let _ = writeln!(md, "> **Incomplete**: the run was interrupted. What finished is reported below; the rest did not run.\n");
    }
    let how = match study.mode {
        Mode::InProcess => "Every peer is a full `p2p-di` peer (its own store, RS link, downloader and RFC server, on 127.0.0.1), spread over one arbiter per core, registered with an RS of the run's own; its caps are its own token buckets.".to_owned(),
        Mode::Netns => format!(
            "Every peer is a separate `p2p-di peer` process, and the RS a `p2p-di rs` process, each in a network namespace of its own with one veth into a bridge; {} The daemons' own token buckets are off; download timings come from the peers' own JSON logs.",
            study.network.as_deref().unwrap_or("")
        ),
    };
    let _ = writeln!(
        md,
        "Run {}, {} mode, {} repeat(s) of each experiment. Corpus: {}; {} documents, {} MB in all, {:.1} KB mean, {:.1} KB to {:.1} KB. {how} Times run from the start of the download phase (after every peer registered and fetched the indexes it needs) to the end of the last download; every downloaded copy was compared byte for byte with its source.\n",
        study.started,
        study.mode.name(),
        study.repeats,
        study.corpus,
        study.sizes.len(),
        mb(total as u64),
        total as f64 / study.sizes.len().max(1) as f64 / 1000.0,
        study.sizes.iter().copied().min().unwrap_or(0) as f64 / 1000.0,
        study.sizes.iter().copied().max().unwrap_or(0) as f64 / 1000.0,
    );
    let _ = writeln!(md, "## Summary\n");
    summary_table(&mut md, study);
    let _ = writeln!(md, "## Conclusion\n\n{}", conclusion(study));
    let tasks: Vec<&PointResult> = study
        .results
        .iter()
        .filter(|p| !p.killed() && !p.runs.is_empty() && !study.in_a_figure(p))
        .collect();
    if tasks
        .iter()
        .filter(|p| p.point.kind != Kind::Scenario)
        .count()
        >= 2
    {
        let _ = writeln!(md, "## Task 1 beside Task 2\n\nThe share of the planned downloads completed over time, on one axis (median repeats).\n\n![Task 1 beside Task 2](tasks.svg)\n");
    }
    let _ = writeln!(md, "## The experiments\n");
    for p in &tasks {
        point_section(&mut md, study, p);
    }
    sweep_section(&mut md, study);
    textbook_section(&mut md, study);
    failure_section(&mut md, study);
    discovery_section(&mut md, study);
    modes_section(&mut md, study);
    let _ = writeln!(md, "## Files\n\n[downloads.csv](downloads.csv) (every download of every repeat), [summary.csv](summary.csv), [failures.csv](failures.csv), [discovery.csv](discovery.csv), the matrices of the Task 2 runs, and an SVG and a PNG of each chart.");
    md
}

/// How far apart the two modes may be and still agree.
const MODES_AGREE_WITHIN: f64 = 0.15;

/// The netns runs of `--net both` beside the in-process ones.
fn modes_section(md: &mut String, study: &Study<'_>) {
    let pairs: Vec<(&PointResult, &PointResult)> = study
        .other
        .iter()
        .filter(|n| !n.runs.is_empty() && n.point.kind != Kind::Scenario)
        .filter_map(|n| {
            let p = study
                .results
                .iter()
                .find(|p| p.row() == n.row() && !p.runs.is_empty())?;
            Some((p, n))
        })
        .collect();
    if pairs.is_empty() {
        return;
    }
    let _ = writeln!(md, "## In-process against network namespaces\n");
    let _ = writeln!(
        md,
        "The same experiments with every daemon a separate process in a network namespace of its own, links shaped by the kernel: {}\n",
        study.network.as_deref().unwrap_or("")
    );
    let _ = writeln!(md, "| experiment | in-process (s) | netns (s) | netns / in-process | bound of the caps (s) | netns / bound | completed (in-process, netns) |");
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---|");
    let mut apart = Vec::new();
    for (p, n) in &pairs {
        let ratio = n.makespan_ms() / p.makespan_ms().max(1e-9);
        let bound = n.bound_secs();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.2} | {} | {} | {}/{}, {}/{} |",
            p.row(),
            secs(p.makespan_ms()),
            secs(n.makespan_ms()),
            ratio,
            bound.map_or("-".into(), |b| format!("{b:.2}")),
            n.ratio().map_or("-".into(), |r| format!("{r:.2}")),
            p.completed(),
            p.planned(),
            n.completed(),
            n.planned(),
        );
        // Compared as shown, to two decimals.
        let shown = (ratio * 100.0).round() / 100.0;
        if (shown - 1.0).abs() > MODES_AGREE_WITHIN + 1e-9 && !p.killed() {
            apart.push(format!("{} ({:.2})", p.row(), ratio));
        }
    }
    let _ = writeln!(md);
    let compared = pairs.iter().filter(|(p, _)| !p.killed()).count();
    if apart.is_empty() {
        let _ = writeln!(md, "Every one of the {compared} runs without a stopped peer agrees within {:.0}%: the result holds with real TCP over kernel-shaped links and separate daemons.\n", MODES_AGREE_WITHIN * 100.0);
    } else {
        let _ = writeln!(md, "{} of {compared} runs differ by more than {:.0}% (netns / in-process): {}. Causes a kernel network adds that the in-process buckets do not: TCP slow start and ACK clocking on every new connection over a shaped link (each download is one connection), how TCP shares one shaped link among competing connections (the crowded order puts five downloaders on one holder's link at first), the qdisc's queue and burst, and separate processes; a run of many small transfers feels them most.\n", apart.len(), MODES_AGREE_WITHIN * 100.0, apart.join(", "));
    }
    if let Some((_, n)) = pairs.iter().find(|(p, _)| p.row() == "task1") {
        if let Some(r) = n.ratio() {
            let _ = writeln!(
                md,
                "Task 1 over the kernel network took {r:.2} times the least time its caps allow.\n"
            );
        }
    }
    let charts: Vec<String> = pairs
        .iter()
        .filter(|(p, _)| !matches!(p.point.kind, Kind::Scenario))
        .filter(|(p, _)| study.sweep_index() != Some(p.point.experiment))
        .map(|(_, n)| format!("[{}]({}.svg)", n.stem(), n.stem()))
        .collect();
    if !charts.is_empty() {
        let _ = writeln!(md, "Charts of the netns runs: {}.\n", charts.join(", "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slope_is_the_least_squares_one() {
        assert_eq!(slope(&[(2.0, 1.0), (4.0, 2.0), (6.0, 3.0)]), Some(0.5));
        assert_eq!(slope(&[(2.0, 1.0)]), None);
        assert_eq!(slope(&[(2.0, 1.0), (2.0, 3.0)]), None);
    }

    #[test]
    fn percentages_and_seconds_read_as_people_write_them() {
        assert_eq!(percent(0.456), "46%");
        assert_eq!(secs(1234.0), "1.23");
        assert_eq!(opt_secs(None), "-");
    }
}
