//! `p2p-di lab`: runs experiments from RON files (or the built-in suite),
//! then writes the CSV, the charts and `report.md`.
//!
//! - `plan.rs`: the experiment files and the pure planning of holdings
//!   and download orders.
//! - `corpus.rs`: the documents (generated, or a real RFC folder).
//! - `run.rs`: one experiment, with an RS and full peers in-process.
//! - `bounds.rs`: the least time physics allows.
//! - `results.rs`, `plots.rs`, `report.rs`: what is written.

pub mod bounds;
pub mod corpus;
pub mod plan;
pub mod plots;
pub mod report;
pub mod results;
pub mod run;

use anyhow::Context as _;
use indicatif::MultiProgress;
use plan::{Experiment, Task};
use report::SweepPoint;
use run::{Caps, Outcomes};
use slog::Logger;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

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
                min_peers,
                max_peers,
                documents: 60,
            },
            upload_limit_bytes_per_sec: Some(2_000_000),
            download_limit_bytes_per_sec: None,
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
            Task::Sweep { documents, .. } => documents,
        })
        .max()
        .unwrap_or(0)
}

/// A UTC timestamp usable in a folder name.
fn timestamp() -> String {
    let now = SystemTime::now();
    humantime::format_rfc3339_seconds(now)
        .to_string()
        .replace(':', "-")
}

/// Runs the lab; returns the output folder.
pub fn run(options: &LabOptions, log: &Logger) -> anyhow::Result<PathBuf> {
    let experiments = experiments(options)?;
    let needed = documents_needed(&experiments);
    let corpus = match &options.corpus {
        Some(dir) => corpus::load(dir)?,
        None => corpus::generate(needed.max(60), options.seed, options.size_scale),
    };
    // Plan everything before running anything: a bad file fails at once.
    let mut planned = Vec::new();
    for experiment in &experiments {
        let setup = match &experiment.task {
            Task::Sweep {
                min_peers,
                max_peers,
                documents,
            } => {
                plan::sweep_points(*min_peers, *max_peers, *documents)
                    .and_then(|points| {
                        points.iter().try_for_each(|(_, c, d)| {
                            plan::plan(c, corpus.docs.len())
                                .and(plan::plan(d, corpus.docs.len()))
                                .map(|_| ())
                        })
                    })
                    .map_err(|err| anyhow::anyhow!("experiment `{}`: {err}", experiment.name))?;
                None
            }
            task => Some(
                plan::plan(task, corpus.docs.len())
                    .map_err(|err| anyhow::anyhow!("experiment `{}`: {err}", experiment.name))?,
            ),
        };
        planned.push((experiment, setup));
    }
    let out = options
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("results").join(timestamp()));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let work = out.join("work");
    let started = format!(
        "on {}",
        humantime::format_rfc3339_seconds(SystemTime::now())
    );
    println!(
        "p2p-di lab: {} experiment(s), corpus {}; writing to {}",
        experiments.len(),
        corpus.source,
        out.display()
    );
    let progress = MultiProgress::new();
    let mut outcomes: Vec<(&Experiment, Outcomes)> = Vec::new();
    let mut sweep: Option<(&Experiment, Vec<SweepPoint>)> = None;
    for (experiment, setup) in &planned {
        let caps = Caps {
            upload: experiment.upload_limit_bytes_per_sec,
            download: experiment.download_limit_bytes_per_sec,
        };
        match (&experiment.task, setup) {
            (
                Task::Sweep {
                    min_peers,
                    max_peers,
                    documents,
                },
                _,
            ) => {
                let mut points = Vec::new();
                for (peers, central, distributed) in
                    plan::sweep_points(*min_peers, *max_peers, *documents)
                        .map_err(anyhow::Error::msg)?
                {
                    let mut point = SweepPoint {
                        peers,
                        documents: 0,
                        centralized_secs: 0.0,
                        centralized_bound_secs: None,
                        p2p_secs: 0.0,
                        p2p_bound_secs: None,
                    };
                    for (task, label) in [(&central, "central"), (&distributed, "p2p")] {
                        let setup =
                            plan::plan(task, corpus.docs.len()).map_err(anyhow::Error::msg)?;
                        let name = format!("{}-{label}-{peers}", experiment.name);
                        let job = run::Job {
                            name: &name,
                            task,
                            setup: &setup,
                            corpus: &corpus,
                            caps,
                            work: &work.join(&name),
                        };
                        let outcome = run::run(&job, &progress, log)?;
                        report_failures(&outcome)?;
                        point.documents = setup.documents();
                        let bound = outcome.bound.as_ref().map(|b| b.secs);
                        if label == "central" {
                            point.centralized_secs = outcome.makespan_ms / 1000.0;
                            point.centralized_bound_secs = bound;
                        } else {
                            point.p2p_secs = outcome.makespan_ms / 1000.0;
                            point.p2p_bound_secs = bound;
                        }
                    }
                    progress.suspend(|| {
                        println!(
                            "  sweep {peers:>3} peers: centralized {:.2} s, peer-to-peer {:.2} s",
                            point.centralized_secs, point.p2p_secs
                        )
                    });
                    points.push(point);
                }
                sweep = Some((experiment, points));
            }
            (task, Some(setup)) => {
                let job = run::Job {
                    name: &experiment.name,
                    task,
                    setup,
                    corpus: &corpus,
                    caps,
                    work: &work.join(&experiment.name),
                };
                let outcome = run::run(&job, &progress, log)?;
                let bound = outcome.bound.as_ref().map_or("no cap".to_owned(), |b| {
                    format!(
                        "bound {:.2} s, ratio {:.2}",
                        b.secs,
                        outcome.makespan_ms / 1000.0 / b.secs.max(1e-9)
                    )
                });
                let failures = if outcome.failures.is_empty() {
                    String::new()
                } else {
                    format!("; {} FAILURES", outcome.failures.len())
                };
                progress.suspend(|| {
                    println!(
                        "  {:<14} {:>4} downloads in {:>7.2} s ({bound}); {} copies verified{failures}",
                        experiment.name,
                        outcome.rows.len(),
                        outcome.makespan_ms / 1000.0,
                        outcome.verified,
                    )
                });
                outcomes.push((experiment, outcome));
            }
            (_, None) => {}
        }
    }
    progress.clear().ok();
    let all: Vec<Outcomes> = outcomes.iter().map(|(_, o)| o.clone()).collect();
    results::write(&out, "downloads.csv", &results::downloads_csv(&all))?;
    results::write(&out, "summary.csv", &results::summary_csv(&all))?;
    for (experiment, outcome) in &outcomes {
        if !matches!(experiment.task, Task::Scenario) {
            plots::cumulative(&out, outcome, &experiment.title)?;
        }
        if matches!(experiment.task, Task::Distributed { .. }) {
            results::write(
                &out,
                &format!("{}-matrix.csv", outcome.name),
                &results::matrix_csv(outcome),
            )?;
        }
    }
    if let Some((experiment, points)) = &sweep {
        plots::sweep(&out, &experiment.title, points)?;
        results::write(&out, "sweep.csv", &results::sweep_csv(points))?;
    }
    let runs: Vec<(&Experiment, &Outcomes)> = outcomes.iter().map(|(e, o)| (*e, o)).collect();
    let report = report::build(
        &corpus,
        &runs,
        sweep.as_ref().map(|(e, p)| (*e, p.as_slice())),
        &started,
    );
    results::write(&out, "report.md", &report)?;
    if !options.keep_work {
        let _ = std::fs::remove_dir_all(&work);
    }
    let failures: usize = all.iter().map(|o| o.failures.len()).sum();
    println!("report: {}", out.join("report.md").display());
    anyhow::ensure!(
        failures == 0,
        "{failures} failure(s); see {}",
        out.join("report.md").display()
    );
    Ok(out)
}

fn report_failures(outcome: &Outcomes) -> anyhow::Result<()> {
    anyhow::ensure!(
        outcome.failures.is_empty(),
        "{}: {}",
        outcome.name,
        outcome.failures.join("; ")
    );
    Ok(())
}
