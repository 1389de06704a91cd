//! End-to-end test of `p2p-di lab`: the real binary runs the built-in
//! suite on a small generated corpus, and everything it writes is checked.

mod common;

use common::BIN;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;

struct Download {
    experiment: String,
    peer: String,
    rfc: u32,
    holder: String,
    bytes: u64,
    start_ms: f64,
    end_ms: f64,
    duration_ms: f64,
}

fn downloads(out: &Path) -> Vec<Download> {
    let text = std::fs::read_to_string(out.join("downloads.csv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("experiment,peer,rfc,holder,bytes,start_ms,end_ms,duration_ms")
    );
    lines
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 8, "{line}");
            Download {
                experiment: f[0].into(),
                peer: f[1].into(),
                rfc: f[2].parse().unwrap(),
                holder: f[3].into(),
                bytes: f[4].parse().unwrap(),
                start_ms: f[5].parse().unwrap(),
                end_ms: f[6].parse().unwrap(),
                duration_ms: f[7].parse().unwrap(),
            }
        })
        .collect()
}

fn summary(out: &Path) -> HashMap<String, Vec<String>> {
    let text = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            let f: Vec<String> = line.split(',').map(str::to_owned).collect();
            (f[0].clone(), f)
        })
        .collect()
}

fn assert_svg_and_png(out: &Path, stem: &str) {
    let svg = std::fs::read_to_string(out.join(format!("{stem}.svg"))).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
        "{stem}.svg"
    );
    assert!(svg.contains("<text"), "{stem}.svg has its labels");
    let png = std::fs::read(out.join(format!("{stem}.png"))).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{stem}.png signature");
    assert_eq!(&png[12..16], b"IHDR");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((width, height), (960, 600));
    assert!(png.len() > 10_000, "{stem}.png has content");
}

#[test]
fn the_built_in_suite_runs_and_everything_it_writes_adds_up() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("results");
    let run = Command::new(BIN)
        .args(["lab", "--size-scale", "0.05", "--keep-work", "--out"])
        .arg(&out)
        .current_dir(root.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );

    // exactly the expected downloads, each once
    let rows = downloads(&out);
    let count = |name: &str| rows.iter().filter(|r| r.experiment == name).count();
    assert_eq!(
        (
            count("scenario"),
            count("task1"),
            count("task2-best"),
            count("task2-worst")
        ),
        (1, 300, 300, 300)
    );
    assert_eq!(rows.len(), 901);
    let unique: HashSet<(&str, &str, u32)> = rows
        .iter()
        .map(|r| (r.experiment.as_str(), r.peer.as_str(), r.rfc))
        .collect();
    assert_eq!(unique.len(), 901);
    for r in &rows {
        assert!((r.end_ms - r.start_ms - r.duration_ms).abs() < 0.01);
        assert!(r.start_ms >= 0.0 && r.bytes > 0);
        match r.experiment.as_str() {
            "task1" => assert_eq!(r.holder, "P0"),
            "scenario" => assert_eq!((r.peer.as_str(), r.holder.as_str()), ("A", "B")),
            _ => assert_ne!(r.holder, r.peer),
        }
    }

    // the copies are byte-identical to their sources (kept with --keep-work)
    let work = out.join("work/task1");
    for entry in std::fs::read_dir(work.join("P0")).unwrap() {
        let name = entry.unwrap().file_name();
        if name.to_string_lossy().starts_with("rfc") {
            let source = std::fs::read(work.join("P0").join(&name)).unwrap();
            for client in ["P1", "P2", "P3", "P4", "P5"] {
                assert!(std::fs::read(work.join(client).join(&name)).unwrap() == source);
            }
        }
    }

    // the summary and the report say what the CSV says
    let summary = summary(&out);
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    for name in ["scenario", "task1", "task2-best", "task2-worst"] {
        let line = &summary[name];
        let mine: Vec<&Download> = rows.iter().filter(|r| r.experiment == name).collect();
        let makespan = mine.iter().map(|r| r.end_ms).fold(0.0, f64::max);
        let bytes: u64 = mine.iter().map(|r| r.bytes).sum();
        assert_eq!(line[1], mine.len().to_string());
        assert_eq!(line[2], bytes.to_string());
        assert!(
            (line[3].parse::<f64>().unwrap() - makespan).abs() < 0.01,
            "{name}"
        );
        assert_eq!(
            line[6],
            mine.len().to_string(),
            "{name}: every copy verified"
        );
        assert_eq!(line[7], "0", "{name}: no failure");
        let row = report
            .lines()
            .find(|l| l.starts_with(&format!("| {name} |")))
            .unwrap();
        assert!(
            row.contains(&format!("| {:.2} |", makespan / 1000.0)),
            "{row}"
        );
        assert!(
            row.contains(&format!("| {:.2} |", bytes as f64 / 1e6)),
            "{row}"
        );
        if name != "scenario" {
            // with caps, never faster than physics allows
            let bound_ms: f64 = line[4].parse().unwrap();
            assert!(
                makespan >= bound_ms,
                "{name}: {makespan} ms below the bound {bound_ms} ms"
            );
            assert!(
                row.contains(&format!("| {:.2} |", bound_ms / 1000.0)),
                "{row}"
            );
            assert_svg_and_png(&out, name);
            assert!(report.contains(&format!("]({name}.svg)")));
        }
    }
    for name in ["task2-best", "task2-worst"] {
        let matrix = std::fs::read_to_string(out.join(format!("{name}-matrix.csv"))).unwrap();
        assert_eq!(matrix.lines().count(), 7);
        let total: f64 = matrix
            .lines()
            .skip(1)
            .flat_map(|l| {
                l.split(',')
                    .skip(1)
                    .map(|c| c.parse::<f64>().unwrap())
                    .collect::<Vec<_>>()
            })
            .sum();
        let durations: f64 = rows
            .iter()
            .filter(|r| r.experiment == name)
            .map(|r| r.duration_ms)
            .sum::<f64>()
            / 1000.0;
        assert!(
            (total - durations).abs() < 0.05,
            "{name}: matrix {total} vs {durations}"
        );
    }
    assert!(report.contains("- [x] A's next PQUERY was answered 404 No Active Peers"));
    assert!(report.contains("## Conclusion"));
    assert!(stdout.contains("report:"));
}

#[test]
fn a_sweep_plots_both_distributions_against_the_number_of_peers() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("sweep");
    let run = Command::new(BIN)
        .args([
            "lab",
            "--sweep",
            "peers=2..4",
            "--size-scale",
            "0.03",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let csv = std::fs::read_to_string(out.join("sweep.csv")).unwrap();
    let peers: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(peers, ["2", "3", "4"]);
    for line in csv.lines().skip(1) {
        let f: Vec<f64> = line.split(',').map(|v| v.parse().unwrap()).collect();
        assert!(
            f[2] >= f[3] && f[4] >= f[5],
            "never below the bound: {line}"
        );
    }
    assert_svg_and_png(&out, "sweep");
    assert!(std::fs::read_to_string(out.join("report.md"))
        .unwrap()
        .contains("](sweep.svg)"));
}

#[test]
fn a_bad_experiment_file_names_file_line_and_field() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("mine.ron");
    std::fs::write(&path, "Experiment(\n  name: \"x\",\n  title: \"t\",\n  task: Centralized(clients: \"five\", documents: 3, parallel: 1),\n)\n").unwrap();
    let run = Command::new(BIN)
        .args(["lab", "--out"])
        .arg(root.path().join("o"))
        .arg(&path)
        .output()
        .unwrap();
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("mine.ron:4:") && err.contains("clients"),
        "{err}"
    );
}

#[test]
fn a_real_rfc_folder_can_be_the_corpus() {
    // Uses the shared RFC mirror when present; a small folder of our own otherwise.
    let root = tempfile::tempdir().unwrap();
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/rfcs");
    let corpus = if shared.join("titles.tsv").exists() {
        shared
    } else {
        let dir = root.path().join("rfcs");
        std::fs::create_dir(&dir).unwrap();
        for n in 1..=3 {
            std::fs::write(
                dir.join(format!("rfc{n}.txt")),
                format!("# Doc {n} {{#title}}\n{}", "z".repeat(500 * n)),
            )
            .unwrap();
        }
        dir
    };
    let out = root.path().join("out");
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/lab/scenario.ron");
    let run = Command::new(BIN)
        .args(["lab", "--corpus"])
        .arg(&corpus)
        .arg("--out")
        .arg(&out)
        .arg(&scenario)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let rows = downloads(&out);
    assert_eq!(rows.len(), 1);
    let first = std::fs::read_dir(&corpus)
        .unwrap()
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_prefix("rfc")?
                .strip_suffix(".txt")?
                .parse::<u32>()
                .ok()
        })
        .min()
        .unwrap();
    assert_eq!(rows[0].rfc, first);
}
