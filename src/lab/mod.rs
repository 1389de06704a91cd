//! `p2p-di lab`: runs experiments from RON files (or the built-in suite,
//! which is the study), then writes the CSV, the charts and `report.md`.
//!
//! - `plan.rs`: the experiment files, and the pure planning of each run
//!   (holdings, download orders, lockstep rounds, swarms, who stops when).
//! - `corpus.rs`: the documents (generated, or a real RFC folder).
//! - `run.rs`: one run, with an RS and full peers in-process.
//! - `netns.rs`, `remote.rs`: one run with separate daemons in network
//!   namespaces, links shaped by qdiscs (`--net netns`).
//! - `events.rs`: download events, from in-process peers or daemon logs;
//!   `logs.rs`: `p2p-di lab report LOG...`.
//! - `bounds.rs`: the least time physics allows, ours and the textbook's.
//! - `interrupt.rs`: Ctrl-C and SIGTERM during a run.
//! - `results.rs`, `plots.rs`, `report.rs`: what is written.

pub mod bounds;
pub mod corpus;
pub mod events;
pub mod interrupt;
pub mod logs;
pub mod netns;
pub mod plan;
pub mod plots;
pub mod remote;
pub mod report;
pub mod results;
pub mod run;

use anyhow::Context as _;
use indicatif::MultiProgress;
use plan::{Experiment, Kind, Point, Task};
use results::{Mode, PointResult};
use run::Caps;
use slog::Logger;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Repeats of each experiment when `--repeat` is not given.
pub const DEFAULT_REPEATS: usize = 3;

/// What the user asked the lab to do.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// Experiment files; the built-in suite when empty (and no sweep).
    pub files: Vec<PathBuf>,
    /// Output folder; `results/<timestamp>` when unset.
    pub out: Option<PathBuf>,
    /// A real RFC folder to use instead of the generated corpus.
    pub corpus: Option<PathBuf>,
    /// `--sweep peers=A..B`.
    pub sweep: Option<(usize, usize)>,
    /// Size factor of the generated documents.
    pub size_scale: f64,
    /// Seed of the generated corpus.
    pub seed: u64,
    /// Keep the peers' folders after the run.
    pub keep_work: bool,
    /// Runs of each experiment.
    pub repeats: usize,
    /// How the peers run: in-process, netns, or each point both ways.
    pub modes: Vec<Mode>,
    /// The /16 of `--net netns`.
    pub subnet: netns::Subnet,
}

/// The experiments to run: the files given, or the built-in suite.
pub fn experiments(options: &LabOptions) -> anyhow::Result<Vec<Experiment>> {
    let mut list = Vec::new();
    for path in &options.files {
        list.push(p2p_di_actors::config::load::<Experiment>(path)?);
    }
    if let Some((min_peers, max_peers)) = options.sweep {
        list.push(Experiment {
            name: "sweep".into(),
            title: format!(
                "Scaling: centralized against peer-to-peer, {min_peers} to {max_peers} peers"
            ),
            task: Task::Sweep {
                peers: (min_peers..=max_peers).collect(),
                documents: 60,
                swarm: true,
                swarm_parallel: 1,
            },
            upload_limit_bytes_per_sec: Some(2_000_000),
            download_limit_bytes_per_sec: None,
            server_upload_limit_bytes_per_sec: None,
            server_download_limit_bytes_per_sec: None,
            registration_servers: 1,
            kill: None,
            latency_ms: None,
            loss_percent: None,
        });
    }
    if list.is_empty() {
        for (name, text) in plan::SUITE {
            let path = Path::new("config/lab").join(name);
            list.push(p2p_di_actors::config::from_ron_str(&path, text)?);
        }
    }
    let mut names = std::collections::HashSet::new();
    for experiment in &list {
        anyhow::ensure!(
            names.insert(experiment.name.clone()),
            "two experiments are named `{}`",
            experiment.name
        );
        anyhow::ensure!(
            !experiment.name.is_empty()
                && experiment
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "experiment name `{}`: use letters, digits, - and _ only",
            experiment.name
        );
    }
    Ok(list)
}

fn documents_needed(experiments: &[Experiment]) -> usize {
    experiments
        .iter()
        .map(|e| match e.task {
            Task::Scenario => 2,
            Task::Centralized { documents, .. } => documents,
            Task::Distributed {
                peers,
                documents_per_peer,
                ..
            } => peers * documents_per_peer,
            Task::Swarm { documents, .. } => documents,
            Task::Sweep { documents, .. } => documents,
            Task::Textbook { documents, .. } => documents,
        })
        .max()
        .unwrap_or(0)
}

/// The output folder: `out`, or `results/<UTC timestamp>`.
fn out_folder(out: Option<PathBuf>) -> PathBuf {
    out.unwrap_or_else(|| {
        let stamp = humantime::format_rfc3339_seconds(SystemTime::now())
            .to_string()
            .replace(':', "-");
        PathBuf::from("results").join(stamp)
    })
}

/// Every run of every experiment, planned before anything runs (a bad
/// file fails at once).
fn plan_all(experiments: &[Experiment], available: usize) -> anyhow::Result<Vec<Point>> {
    let mut points = Vec::new();
    for (i, experiment) in experiments.iter().enumerate() {
        let planned = plan::points(experiment, i, available)
            .map_err(|err| anyhow::anyhow!("experiment `{}`: {err}", experiment.name))?;
        points.extend(planned);
    }
    let mut rows = std::collections::HashSet::new();
    for point in &points {
        anyhow::ensure!(
            rows.insert(point.row.clone()),
            "two runs are named `{}`",
            point.row
        );
    }
    Ok(points)
}

fn caps_of(experiment: &Experiment) -> Caps {
    Caps {
        upload: experiment.upload_limit_bytes_per_sec,
        download: experiment.download_limit_bytes_per_sec,
        server_upload: experiment.server_upload_limit_bytes_per_sec,
        server_download: experiment.server_download_limit_bytes_per_sec,
    }
}

/// Runs each point `repeats` times (until an interrupt or an error):
/// what finished, and the error that stopped it, if any.
fn run_points(
    points: &[Point],
    experiments: &[Experiment],
    corpus: &corpus::Corpus,
    options: &LabOptions,
    work: &Path,
    log: &Logger,
) -> (Vec<PointResult>, anyhow::Result<()>) {
    let progress = MultiProgress::new();
    let mut done = Vec::new();
    let runs = points
        .iter()
        .flat_map(|point| options.modes.iter().map(move |&mode| (point, mode)));
    for (point, mode) in runs {
        if interrupt::requested() {
            break;
        }
        let experiment = &experiments[point.experiment];
        let caps = caps_of(experiment);
        let mut result = PointResult {
            point: point.clone(),
            title: experiment.title.clone(),
            caps,
            runs: Vec::new(),
            bound: run::bound_of(point, corpus, caps),
            textbook: run::textbook_of(point, corpus, caps),
            mode,
        };
        for repeat in 1..=options.repeats {
            let job = run::Job {
                point,
                corpus,
                caps,
                work: &work.join(&point.row),
                repeat,
            };
            let ran = match mode {
                Mode::InProcess => run::run(&job, &progress, log),
                Mode::Netns => {
                    let shape =
                        remote::shapes_of(&job, experiment.latency_ms, experiment.loss_percent);
                    remote::run(&job, options.subnet, &shape, &progress)
                }
            };
            let outcome = match ran {
                Ok(outcome) => outcome,
                Err(err) => {
                    progress.clear().ok();
                    let context =
                        format!("running {} (repeat {repeat}, {})", point.row, mode.name());
                    return (done, Err(err.context(context)));
                }
            };
            let interrupted = outcome.interrupted;
            if !interrupted {
                result.runs.push(outcome);
            }
            if interrupted || interrupt::requested() {
                break;
            }
        }
        if result.runs.is_empty() {
            break;
        }
        progress.suspend(|| println!("  {}", one_line(&result)));
        done.push(result);
    }
    progress.clear().ok();
    (done, Ok(()))
}

/// A point's result in one line, for the terminal.
fn one_line(p: &PointResult) -> String {
    let (low, high) = p.range_ms();
    let stopped = p.point.setup.stopped().map(|(who, _)| who);
    let bound = match (p.bound_secs(), p.killed()) {
        (_, true) => format!("{} stopped on purpose", stopped.as_deref().unwrap_or("?")),
        (Some(b), false) => format!("bound {b:.2} s, ratio {:.2}", p.ratio().unwrap_or(0.0)),
        (None, false) => "no bound".to_owned(),
    };
    let failed = match (p.failures(), p.killed() && !p.rs_killed()) {
        (0, _) => String::new(),
        (n, true) => format!("; {n} failed with a peer stopped"),
        (n, false) => format!("; {n} FAILED"),
    };
    let row = match p.mode {
        Mode::InProcess => p.row().to_owned(),
        Mode::Netns => format!("{} (netns)", p.row()),
    };
    format!(
        "{:<22} {:>5}/{:<5} downloads in {:>6.2} s (median of {}, {:.2}-{:.2}; {bound}); {} copies verified{failed}",
        row,
        p.completed(),
        p.planned(),
        p.makespan_ms() / 1000.0,
        p.runs.len(),
        low / 1000.0,
        high / 1000.0,
        p.verified(),
    )
}

/// Writes the CSV files, the charts and the report.
fn write_outputs(
    out: &Path,
    study: &report::Study<'_>,
    corpus: &str,
    all: &[PointResult],
) -> anyhow::Result<()> {
    results::write(out, "downloads.csv", &results::downloads_csv(all))?;
    results::write(out, "summary.csv", &results::summary_csv(all))?;
    results::write(out, "failures.csv", &results::failures_csv(all))?;
    results::write(out, "discovery.csv", &results::discovery_csv(all))?;
    for p in study.other {
        if p.point.kind != Kind::Scenario && !study.in_a_figure(p) {
            plots::cumulative(out, p, format!("netns; {}", plots::parameters(p, corpus)))?;
        }
    }
    let results = study.results;
    let sweep = study
        .experiments
        .iter()
        .position(|e| matches!(e.task, Task::Sweep { .. }));
    for p in results {
        if p.point.kind == Kind::Scenario || study.in_a_figure(p) {
            continue;
        }
        plots::cumulative(out, p, plots::parameters(p, corpus))?;
        if let (Kind::Distributed(_), Some(run)) = (p.point.kind, p.median_run()) {
            let csv = results::matrix_csv(&p.point.setup.names, run);
            results::write(out, &format!("{}-matrix.csv", p.stem()), &csv)?;
        }
    }
    let tasks: Vec<&PointResult> = results
        .iter()
        .filter(|p| {
            matches!(p.point.kind, Kind::Centralized | Kind::Distributed(_))
                && !p.killed()
                && !study.in_a_figure(p)
        })
        .collect();
    if let Some(first) = tasks.first() {
        let subtitle = plots::parameters(first, corpus);
        plots::completion(
            out,
            "tasks",
            "Task 1 beside Task 2: downloads completed over time",
            subtitle,
            &tasks,
        )?;
    }
    let failing: Vec<&PointResult> = results.iter().filter(|p| p.killed()).collect();
    if let Some(first) = failing.first() {
        // The parameters, when the runs share them; else the report's table.
        let shared = plots::parameters(first, corpus);
        let same = failing
            .iter()
            .all(|p| plots::parameters(p, corpus) == shared);
        let subtitle = format!(
            "a peer or an RS stopped half-way through each run's bound, no LEAVE; {}",
            if same {
                shared
            } else {
                "peers, documents and caps of each run in the report".to_owned()
            }
        );
        plots::completion(
            out,
            "failures",
            "Failure: downloads completed when a holder or an RS stops",
            subtitle,
            &failing,
        )?;
    }
    if let Some(index) = sweep {
        let points = results::sweep_points(results, index);
        if let Some(p) = points.iter().find_map(|s| s.centralized.or(s.p2p)) {
            let e = &study.experiments[index];
            let cap = |r: Option<u64>| {
                r.map_or("none".to_owned(), |r| format!("{} MB/s", r as f64 / 1e6))
            };
            let subtitle = format!(
                "N = {} to {}, {} documents (a multiple of N), upload cap {}, download cap {}, {corpus}, {} repeat(s)",
                points.first().map_or(0, |s| s.peers),
                points.last().map_or(0, |s| s.peers),
                p.point.setup.documents(),
                cap(e.upload_limit_bytes_per_sec),
                cap(e.download_limit_bytes_per_sec),
                p.runs.len(),
            );
            plots::scaling(out, &e.title, subtitle, &points)?;
            results::write(out, "sweep.csv", &results::sweep_csv(&points))?;
        }
    }
    if let Some((e, points)) = study.textbook() {
        let unit = report::textbook_unit(&points, e);
        let cap =
            |r: Option<u64>| r.map_or("none".to_owned(), |r| format!("{} MB/s", r as f64 / 1e6));
        let documents = points
            .iter()
            .find_map(|s| s.centralized)
            .map_or(0, |p| p.point.setup.documents());
        let subtitle = format!(
            "F = {documents} documents ({:.2} MB), u_s = {} (the server or seed), u = {} (each peer), F/u = {unit:.3} s; {corpus}; {} repeat(s)",
            unit * e.upload_limit_bytes_per_sec.unwrap_or(0) as f64 / 1e6,
            cap(e.server_upload_limit_bytes_per_sec.or(e.upload_limit_bytes_per_sec)),
            cap(e.upload_limit_bytes_per_sec),
            study.repeats,
        );
        plots::textbook(out, &e.title, subtitle, &points, unit)?;
        results::write(out, "textbook.csv", &results::sweep_csv(&points))?;
    }
    results::write(out, "report.md", &report::build(study))
}

/// The kernel network of netns runs, in words, for the report.
fn network_words(subnet: netns::Subnet, experiments: &[Experiment]) -> String {
    let caps: std::collections::BTreeSet<String> = experiments
        .iter()
        .flat_map(|e| [e.upload_limit_bytes_per_sec, e.download_limit_bytes_per_sec])
        .flatten()
        .map(|rate| {
            netns::Rate {
                bytes_per_sec: rate,
                burst: p2p_di_actors::peer::burst_bytes(rate),
            }
            .describe()
        })
        .collect();
    let caps = if caps.is_empty() {
        "no caps, so no qdisc".to_owned()
    } else {
        caps.into_iter().collect::<Vec<_>>().join("; ")
    };
    format!(
        "addresses from {subnet}. A peer's upload cap is a qdisc on its veth's egress, its download cap one on the bridge side's egress ({caps}; the burst is the one the in-process token buckets allow, a millisecond of traffic, so both modes have the same bound; queue half a second); the RS's link is not shaped."
    )
}

/// Runs the lab; returns the output folder.
pub fn run(options: &LabOptions, log: &Logger) -> anyhow::Result<PathBuf> {
    let experiments = experiments(options)?;
    let netem = experiments.iter().find(|e| e.needs_netem());
    if let (Some(e), true) = (netem, options.modes.contains(&Mode::InProcess)) {
        anyhow::bail!(
            "experiment `{}` asks for latency_ms or loss_percent, which only `--net netns` can apply (on a kernel with netem)",
            e.name
        );
    }
    if options.modes.contains(&Mode::Netns) {
        let stale = netns::remove_stale();
        if stale > 0 {
            eprintln!(
                "p2p-di lab: removed {stale} network namespace(s) left by a lab that was killed"
            );
        }
        netns::preflight(netem.is_some())?;
    }
    let needed = documents_needed(&experiments);
    let corpus = match &options.corpus {
        Some(dir) => corpus::load(dir)?,
        None => corpus::generate(needed.max(60), options.seed, options.size_scale),
    };
    let points = plan_all(&experiments, corpus.docs.len())?;
    let out = out_folder(options.out.clone());
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let work = out.join("work");
    let started = format!(
        "on {}",
        humantime::format_rfc3339_seconds(SystemTime::now())
    );
    println!(
        "p2p-di lab: {} experiment(s), {} run(s) of {} repeat(s) ({}), corpus {}; writing to {}",
        experiments.len(),
        points.len() * options.modes.len(),
        options.repeats,
        options
            .modes
            .iter()
            .map(|m| m.name())
            .collect::<Vec<_>>()
            .join(" and "),
        corpus.source,
        out.display()
    );
    interrupt::install();
    let (results, outcome) = run_points(&points, &experiments, &corpus, options, &work, log);
    let incomplete = interrupt::requested() || outcome.is_err();
    // The report's body is the in-process study when there is one; the
    // netns runs of --net both get a section of their own.
    let (primary, other): (Vec<PointResult>, Vec<PointResult>) = match options.modes.as_slice() {
        [_] => (results.clone(), Vec::new()),
        _ => results
            .iter()
            .cloned()
            .partition(|p| p.mode == Mode::InProcess),
    };
    let study = report::Study {
        results: &primary,
        experiments: &experiments,
        corpus: corpus.source.clone(),
        sizes: corpus.docs.iter().map(|d| d.bytes.len()).collect(),
        repeats: options.repeats,
        started,
        incomplete,
        mode: options.modes.first().copied().unwrap_or(Mode::InProcess),
        other: &other,
        network: options
            .modes
            .contains(&Mode::Netns)
            .then(|| network_words(options.subnet, &experiments)),
    };
    let label = match &options.corpus {
        Some(dir) => format!("corpus {}", dir.display()),
        None => format!(
            "generated corpus, seed {}, size x{}",
            options.seed, options.size_scale
        ),
    };
    let written = write_outputs(&out, &study, &label, &results);
    if !options.keep_work {
        let _ = std::fs::remove_dir_all(&work);
    }
    println!("report: {}", out.join("report.md").display());
    outcome?;
    written?;
    anyhow::ensure!(
        !interrupt::requested(),
        "interrupted; the report covers what finished"
    );
    let unexpected: usize = results
        .iter()
        .map(|p| {
            if p.killed() && !p.rs_killed() {
                p.problems().len()
            } else {
                p.failures()
            }
        })
        .sum();
    anyhow::ensure!(
        unexpected == 0,
        "{unexpected} failure(s); see {}",
        out.join("report.md").display()
    );
    Ok(out)
}
