//! End-to-end tests of `p2p-di lab`: the real binary runs the built-in
//! study on a small generated corpus, and everything it writes is checked.

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
    repeat: usize,
    mode: String,
}

fn downloads(out: &Path) -> Vec<Download> {
    let text = std::fs::read_to_string(out.join("downloads.csv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("experiment,peer,rfc,holder,bytes,start_ms,end_ms,duration_ms,repeat,mode")
    );
    lines
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 10, "{line}");
            Download {
                experiment: f[0].into(),
                peer: f[1].into(),
                rfc: f[2].parse().unwrap(),
                holder: f[3].into(),
                bytes: f[4].parse().unwrap(),
                start_ms: f[5].parse().unwrap(),
                end_ms: f[6].parse().unwrap(),
                duration_ms: f[7].parse().unwrap(),
                repeat: f[8].parse().unwrap(),
                mode: f[9].into(),
            }
        })
        .collect()
}

/// summary.csv: the row names in order, and each line's fields by name
/// (`row@netns` for a netns run).
fn summary(out: &Path) -> (Vec<String>, HashMap<String, Vec<String>>) {
    let text = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("experiment,downloads,bytes,makespan_ms,bound_ms,ratio,verified,failures,planned,repeats,makespan_min_ms,makespan_max_ms,mode,textbook_ms")
    );
    let mut order = Vec::new();
    let rows = lines
        .map(|line| {
            let f: Vec<String> = line.split(',').map(str::to_owned).collect();
            assert_eq!(f.len(), 14, "{line}");
            let key = match f[12].as_str() {
                "in-process" => f[0].clone(),
                "netns" => format!("{}@netns", f[0]),
                other => panic!("mode {other}"),
            };
            order.push(key.clone());
            (key, f)
        })
        .collect();
    (order, rows)
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

/// Fails the test with the command's stderr unless it succeeded.
fn assert_success(run: &std::process::Output) {
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

/// Stops the lab with `stop` (Ctrl-C or SIGTERM) and waits (30 s at most)
/// for it to exit.
fn interrupt(
    child: &mut std::process::Child,
    stop: fn(&std::process::Child),
) -> std::process::ExitStatus {
    stop(child);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(std::time::Instant::now() < deadline, "the lab did not stop");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

#[test]
fn the_built_in_study_runs_and_everything_it_writes_adds_up() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("results");
    let run = Command::new(BIN)
        .args([
            "lab",
            "--size-scale",
            "0.05",
            "--repeat",
            "2",
            "--keep-work",
            "--out",
        ])
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
    let rows = downloads(&out);
    let (order, summary) = summary(&out);

    // The rows the study names, in order.
    let mut expected: Vec<String> = [
        "scenario",
        "task1",
        "task2-best",
        "task2-crowded",
        "task2-worst",
    ]
    .map(str::to_owned)
    .to_vec();
    for n in [2, 3, 4, 6, 12] {
        expected.extend([
            format!("sweep-centralized-{n}"),
            format!("sweep-p2p-{n}"),
            format!("swarm-{n}"),
        ]);
    }
    for n in [2, 4, 6, 8, 10, 12, 15, 20, 25, 30] {
        expected.extend([
            format!("textbook-centralized-{n}"),
            format!("textbook-swarm-{n}"),
        ]);
    }
    expected.extend(
        [
            "fail-centralized",
            "fail-p2p",
            "fail-swarm",
            "fail-rs",
            "fail-rs-pair",
        ]
        .map(str::to_owned),
    );
    assert_eq!(order, expected);

    // Exactly the planned downloads where nobody is stopped, each once per
    // repeat, from the right holders.
    let count = |name: &str| rows.iter().filter(|r| r.experiment == name).count();
    for (name, planned) in [
        ("scenario", 1),
        ("task1", 300),
        ("task2-best", 300),
        ("task2-crowded", 300),
        ("task2-worst", 300),
    ] {
        assert_eq!(count(name), 2 * planned, "{name}");
    }
    for n in [2, 3, 4, 6, 12] {
        for name in [
            format!("sweep-centralized-{n}"),
            format!("sweep-p2p-{n}"),
            format!("swarm-{n}"),
        ] {
            assert_eq!(count(&name), 2 * 12 * (n - 1), "{name}");
        }
    }
    let unique: HashSet<(&str, &str, u32, usize)> = rows
        .iter()
        .map(|r| (r.experiment.as_str(), r.peer.as_str(), r.rfc, r.repeat))
        .collect();
    assert_eq!(unique.len(), rows.len(), "no download twice");
    for r in &rows {
        assert!((r.end_ms - r.start_ms - r.duration_ms).abs() < 0.01);
        assert!(r.start_ms >= 0.0 && r.bytes > 0);
        assert!(r.repeat == 1 || r.repeat == 2);
        match r.experiment.as_str() {
            "task1" => assert_eq!(r.holder, "P0"),
            "scenario" => assert_eq!((r.peer.as_str(), r.holder.as_str()), ("A", "B")),
            _ => assert_ne!(r.holder, r.peer),
        }
    }

    // The copies are byte-identical to their sources (kept with --keep-work).
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

    // The summary says what the CSV says: sums over the repeats, the median
    // makespan and its range, never under the bound.
    for (name, line) in &summary {
        let mine: Vec<&Download> = rows.iter().filter(|r| &r.experiment == name).collect();
        let bytes: u64 = mine.iter().map(|r| r.bytes).sum();
        assert_eq!(line[1], mine.len().to_string(), "{name}");
        assert_eq!(line[2], bytes.to_string(), "{name}");
        assert_eq!(
            line[6],
            mine.len().to_string(),
            "{name}: every copy verified"
        );
        assert_eq!(line[9], "2", "{name}: repeats");
        let planned: usize = line[8].parse().unwrap();
        assert!(mine.len() <= planned, "{name}");
        if name.starts_with("fail-") {
            assert!(
                line[4].is_empty(),
                "{name}: no bound for a run stopped on purpose"
            );
            if name.starts_with("fail-rs") {
                // An RS stopped loses no download.
                assert_eq!(line[7], "0", "{name}: no failure");
                assert_eq!(mine.len(), planned, "{name}");
            }
            continue;
        }
        assert_eq!(line[7], "0", "{name}: no failure");
        assert_eq!(mine.len(), planned, "{name}");
        let makespans: Vec<f64> = (1..=2)
            .map(|k| {
                mine.iter()
                    .filter(|r| r.repeat == k)
                    .map(|r| r.end_ms)
                    .fold(0.0, f64::max)
            })
            .collect();
        let makespan: f64 = line[3].parse().unwrap();
        assert!(
            (makespan - median(makespans.clone())).abs() < 0.01,
            "{name}: {makespan} {makespans:?}"
        );
        let (low, high): (f64, f64) = (line[10].parse().unwrap(), line[11].parse().unwrap());
        assert!(low <= makespan && makespan <= high, "{name}");
        if !line[4].is_empty() {
            let bound: f64 = line[4].parse().unwrap();
            assert!(low >= bound, "{name}: {low} ms under the bound {bound} ms");
        }
        // The textbook's bound, for every distribution with a cap.
        if name != "scenario" {
            let textbook: f64 = line[13].parse().unwrap();
            assert!(textbook > 0.0, "{name}");
        }
    }
    // The textbook's figure: every client of N got the whole file.
    for n in [2, 15, 30] {
        let name = format!("textbook-centralized-{n}");
        assert_eq!(count(&name), 2 * 30 * n, "{name}");
        let name = format!("textbook-swarm-{n}");
        assert_eq!(count(&name), 2 * 30 * n, "{name}");
    }
    let fraction = |name: &str| {
        let line = &summary[name];
        line[1].parse::<f64>().unwrap() / line[8].parse::<f64>().unwrap()
    };
    assert!(fraction("fail-p2p") >= fraction("fail-centralized"));

    // The charts and the report.
    for stem in [
        "task1",
        "task2-best",
        "task2-crowded",
        "task2-worst",
        "tasks",
        "sweep",
        "textbook",
        "failures",
    ] {
        assert_svg_and_png(&out, stem);
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    for section in [
        "## Summary",
        "## Conclusion",
        "## Task 1 beside Task 2",
        "## Failure",
        "## Discovery cost",
        "](sweep.svg)",
        "](tasks.svg)",
        "](failures.svg)",
        "](textbook.svg)",
        "(sweep.csv)",
        "(textbook.csv)",
        "**The measured curves",
    ] {
        assert!(report.contains(section), "{section}");
    }
    // Each check of the scenario is listed once, whatever the repeats.
    assert_eq!(
        report
            .matches("- [x] A's next PQUERY was answered 404 No Active Peers")
            .count(),
        1
    );
    assert!(!report.contains("Incomplete"));
    for name in ["task2-best", "task2-crowded", "task2-worst"] {
        let matrix = std::fs::read_to_string(out.join(format!("{name}-matrix.csv"))).unwrap();
        assert_eq!(matrix.lines().count(), 7);
    }
    for file in ["sweep.csv", "failures.csv", "discovery.csv"] {
        assert!(out.join(file).exists(), "{file}");
    }
    assert!(stdout.contains("report:"));
}

#[test]
#[cfg_attr(
    windows,
    ignore = "a console event to another process cannot be sent from a test under Wine (tests/wine.rs sends Ctrl-C from Linux)"
)]
fn an_interrupted_run_reports_what_finished_and_cleans_up() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("results");
    let mut child = Command::new(BIN)
        .args(["lab", "--size-scale", "0.05", "--out"])
        .arg(&out)
        .current_dir(root.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Interrupt once the first runs have finished.
    common::read_until_line_starting(&mut child, "task1");
    let status = interrupt(&mut child, common::terminate);
    assert_eq!(status.code(), Some(130));
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("**Incomplete**"), "{report}");
    let (order, _) = summary(&out);
    assert!(
        order.starts_with(&["scenario".to_owned(), "task1".to_owned()]),
        "{order:?}"
    );
    assert!(order.len() < 23, "{order:?}");
    assert!(!out.join("work").exists(), "the work folder is removed");
}

#[test]
fn a_sweep_plots_every_distribution_against_the_number_of_peers() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("sweep");
    let run = Command::new(BIN)
        .args([
            "lab",
            "--sweep",
            "peers=2..4",
            "--size-scale",
            "0.03",
            "--repeat",
            "1",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert_success(&run);
    let csv = std::fs::read_to_string(out.join("sweep.csv")).unwrap();
    let peers: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(peers, ["2", "3", "4"]);
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 17, "{line}");
        for kind in 0..3 {
            let (low, bound) = (f[3 + 5 * kind], f[5 + 5 * kind]);
            if !bound.is_empty() {
                let (low, bound): (f64, f64) = (low.parse().unwrap(), bound.parse().unwrap());
                assert!(low >= bound, "never below the bound: {line}");
            }
        }
    }
    let (order, _) = summary(&out);
    assert_eq!(order.len(), 9, "the sweep fills summary.csv: {order:?}");
    assert_svg_and_png(&out, "sweep");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("](sweep.svg)") && report.contains("(sweep.csv)"));
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
        .args(["lab", "--repeat", "1", "--corpus"])
        .arg(&corpus)
        .arg("--out")
        .arg(&out)
        .arg(&scenario)
        .output()
        .unwrap();
    assert_success(&run);
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

#[test]
fn a_lab_of_more_peers_than_the_per_address_caps_runs() {
    // Every lab peer connects from 127.0.0.1: with the daemons' default
    // per-address caps (256 peers, 256 connections) peer 257 would be
    // refused. 300 clients of one holder, all at once.
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("wide.ron");
    std::fs::write(
        &file,
        r#"Experiment(
            name: "wide",
            title: "Task 1 with 300 clients",
            task: Centralized(clients: 300, documents: 1, parallel: 1),
        )"#,
    )
    .unwrap();
    let out = root.path().join("out");
    let run = Command::new(BIN)
        .args(["lab", "--repeat", "1", "--size-scale", "0.01", "--out"])
        .arg(&out)
        .arg(&file)
        .output()
        .unwrap();
    assert_success(&run);
    let rows = downloads(&out);
    assert_eq!(rows.len(), 300);
    assert!(rows.iter().all(|r| r.holder == "P0"));
}

/// The links of the namespace the tests run in (the lab adds none).
fn links() -> String {
    let run = Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&run.stdout).into_owned()
}

/// The namespaces a lab of process `pid` made that still exist.
fn namespaces_of(pid: u32) -> Vec<String> {
    let run = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let prefix = format!("p2pdi{pid}");
    String::from_utf8_lossy(&run.stdout)
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .map(str::to_owned)
        .collect()
}

/// Whether the kernel takes a netem qdisc (tried in a namespace of ours).
fn kernel_has_netem() -> bool {
    let name = format!("p2pditest{}netem", std::process::id());
    let ip = |args: &[&str]| {
        Command::new("ip")
            .args(args)
            .status()
            .is_ok_and(|s| s.success())
    };
    if !ip(&["netns", "add", &name]) {
        return false;
    }
    let netem = Command::new("tc")
        .args([
            "-n", &name, "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms",
        ])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ip(&["netns", "del", &name]);
    netem
}

/// Whether this test may make namespaces (root, with ip on the PATH).
fn netns_allowed() -> bool {
    static PROBES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let probe = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!("p2pditest{}x{probe}", std::process::id());
    let made = Command::new("ip")
        .args(["netns", "add", &name])
        .status()
        .is_ok_and(|s| s.success());
    if made {
        let _ = Command::new("ip").args(["netns", "del", &name]).status();
    }
    made
}

#[test]
#[cfg_attr(not(target_os = "linux"), ignore = "network namespaces are Linux's")]
fn the_netns_mode_runs_separate_daemons_and_leaves_nothing_behind() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/lab");
    let mut command = Command::new(BIN);
    command
        .args([
            "lab",
            "--net",
            "both",
            "--repeat",
            "1",
            "--size-scale",
            "0.05",
            "--out",
        ])
        .arg(&out)
        .arg(config.join("scenario.ron"))
        .arg(config.join("task1.ron"))
        .arg(config.join("fail-p2p.ron"));
    if !netns_allowed() {
        // Without the rights, it says which and runs nothing.
        let run = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success());
        assert!(stderr.contains("run the lab as root"), "{stderr}");
        assert!(!out.exists());
        return;
    }
    let before = links();
    let child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let run = child.wait_with_output().unwrap();
    assert_success(&run);
    assert_eq!(links(), before, "links left behind");
    assert_eq!(namespaces_of(pid), Vec::<String>::new());
    let (order, rows) = summary(&out);
    assert_eq!(
        order,
        [
            "scenario",
            "scenario@netns",
            "task1",
            "task1@netns",
            "fail-p2p",
            "fail-p2p@netns"
        ]
    );
    // Every planned download of Task 1 ran in each mode, timed by the
    // daemons' own logs, and each copy was verified.
    assert_eq!(rows["task1@netns"][1], "300");
    assert_eq!(rows["task1@netns"][6], "300");
    let downloads = downloads(&out);
    let netns: Vec<&Download> = downloads
        .iter()
        .filter(|d| d.mode == "netns" && d.experiment == "task1")
        .collect();
    assert_eq!(netns.len(), 300);
    assert!(netns
        .iter()
        .all(|d| d.holder == "P0" && d.duration_ms > 0.0));
    // The stopped peer's downloads and those from it failed; most others
    // completed.
    let completed: usize = rows["fail-p2p@netns"][1].parse().unwrap();
    assert!((100..150).contains(&completed), "{completed}");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    for needle in [
        "in-process mode",
        "## In-process against network namespaces",
        "tbf, rate 4 MB/s, burst 4000 B",
        "10.77.0.0/16",
        "](task1-netns.svg)",
    ] {
        assert!(report.contains(needle), "{needle}");
    }
    assert_svg_and_png(&out, "task1-netns");
    assert!(!out.join("work").exists());
}

#[test]
#[cfg_attr(not(target_os = "linux"), ignore = "network namespaces are Linux's")]
fn an_interrupted_netns_run_removes_its_namespaces_and_daemons() {
    if !netns_allowed() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    let before = links();
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/lab");
    let mut child = Command::new(BIN)
        .args([
            "lab",
            "--net",
            "netns",
            "--repeat",
            "1",
            "--keep-work",
            "--out",
        ])
        .arg(&out)
        .arg(config.join("task1.ron"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Interrupt once the download phase runs: a peer has logged a download.
    let log = out.join("work/task1/P1.log");
    common::wait_until(
        std::time::Duration::from_secs(60),
        "a netns download",
        || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("rfc downloaded")
        },
    );
    let status = interrupt(&mut child, common::interrupt);
    assert_eq!(status.code(), Some(130));
    assert_eq!(links(), before, "links left behind");
    assert_eq!(namespaces_of(child.id()), Vec::<String>::new());
    // No daemon of the run is left.
    let ps = Command::new("ps").args(["-eo", "args"]).output().unwrap();
    let work = out.join("work").display().to_string();
    assert!(!String::from_utf8_lossy(&ps.stdout).contains(&work));
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("**Incomplete**"));
}

#[test]
fn a_report_is_built_from_the_logs_of_daemons_started_by_hand() {
    let root = tempfile::tempdir().unwrap();
    let rs = common::start_rs(root.path());
    let b_dir = common::folder(root.path(), "b", &[(9264, 30_000), (9265, 2_000)], true);
    let a_dir = root.path().join("a");
    let _b = common::start_peer(root.path(), rs.addr, &b_dir, "hostB", &[]);
    let a = common::start_peer(
        root.path(),
        rs.addr,
        &a_dir,
        "hostA",
        &["--get", "9264,9265,9999"],
    );
    common::wait_until(std::time::Duration::from_secs(20), "A's downloads", || {
        a.logged("rfc download failed")
            && a.messages()
                .iter()
                .filter(|m| m["msg"] == "rfc downloaded")
                .count()
                == 2
    });
    // A's log as the daemon wrote it, one JSON object per line.
    let log = root.path().join("a.log");
    let lines: String = a.messages().iter().map(|m| format!("{m}\n")).collect();
    std::fs::write(&log, lines).unwrap();
    let out = root.path().join("report");
    let run = Command::new(BIN)
        .args(["lab", "report", "--out"])
        .arg(&out)
        .arg(&log)
        .output()
        .unwrap();
    assert_success(&run);
    let rows = downloads(&out);
    assert_eq!(rows.len(), 2);
    let mut got: Vec<(u32, &str, u64)> = rows
        .iter()
        .map(|r| (r.rfc, r.holder.as_str(), r.bytes))
        .collect();
    got.sort();
    assert_eq!(got[0].0, 9264);
    assert_eq!(got[1].0, 9265);
    assert!(rows
        .iter()
        .all(|r| r.peer == "hostA" && r.holder == "hostB"));
    assert_eq!(
        got.iter().map(|g| g.2).collect::<Vec<_>>(),
        [
            std::fs::metadata(b_dir.join("rfc9264.txt")).unwrap().len(),
            std::fs::metadata(b_dir.join("rfc9265.txt")).unwrap().len()
        ]
    );
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("**Clocks.**"), "{report}");
    assert!(report.contains("| hostA |"), "{report}");
    assert!(report.contains("1 × "), "{report}");
    assert_svg_and_png(&out, "logs");
    // A log with no download event is refused, naming what to do.
    let empty = root.path().join("empty.log");
    std::fs::write(&empty, "{\"msg\":\"registered with the RS\"}\n").unwrap();
    let run = Command::new(BIN)
        .args(["lab", "report"])
        .arg(&empty)
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("--log-format json"));
}

#[test]
#[cfg_attr(not(target_os = "linux"), ignore = "network namespaces are Linux's")]
fn without_the_rights_the_netns_mode_says_which_and_runs_nothing() {
    if !netns_allowed() {
        // Covered by the_netns_mode_runs_separate_daemons_and_leaves_nothing_behind.
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let task1 = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/lab/task1.ron");
    for (dropped, named) in [
        ("cap_net_admin", "CAP_NET_ADMIN"),
        ("cap_net_admin,cap_sys_admin", "CAP_SYS_ADMIN"),
    ] {
        let out = root.path().join(dropped);
        // capsh drops the capabilities from the bounding set, so the lab
        // runs as root without them.
        let run = Command::new("capsh")
            .arg(format!("--drop={dropped}"))
            .args(["--", "-c"])
            .arg(format!(
                "exec {BIN} lab --net netns --out {} {}",
                out.display(),
                task1.display()
            ))
            .output()
            .expect("capsh (libcap2-bin)");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(named), "{stderr}");
        assert!(stderr.contains("run the lab as root"), "{stderr}");
        assert!(stderr.contains("nothing was run"), "{stderr}");
        assert!(!out.exists(), "it made its output folder");
    }
}

#[test]
fn latency_and_loss_need_netns_and_netem() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("slow.ron");
    std::fs::write(
        &file,
        r#"Experiment(
            name: "slow",
            title: "Task 1 over a slow link",
            task: Centralized(clients: 2, documents: 2, parallel: 1),
            latency_ms: Some(20),
        )"#,
    )
    .unwrap();
    let lab = |net: &str| {
        let out = root.path().join(net);
        let run = Command::new(BIN)
            .args(["lab", "--net", net, "--out"])
            .arg(&out)
            .arg(&file)
            .output()
            .unwrap();
        assert!(!run.status.success());
        assert!(!out.exists(), "it made its output folder");
        String::from_utf8_lossy(&run.stderr).into_owned()
    };
    let stderr = lab("in-process");
    assert!(
        stderr.contains("experiment `slow` asks for latency_ms or loss_percent, which only `--net netns` can apply"),
        "{stderr}"
    );
    if netns_allowed() && !kernel_has_netem() {
        // This kernel has no netem (as on the machines we test on).
        let stderr = lab("netns");
        assert!(
            stderr.contains("this kernel has no netem qdisc"),
            "{stderr}"
        );
        assert!(stderr.contains("nothing was run"), "{stderr}");
    }
}

#[test]
#[cfg_attr(
    target_os = "linux",
    ignore = "off Linux only: Linux has network namespaces"
)]
fn off_linux_the_netns_mode_names_the_platform_and_runs_nothing() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    let task1 = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/lab/task1.ron");
    for net in ["netns", "both"] {
        let run = Command::new(BIN)
            .args(["lab", "--net", net, "--out"])
            .arg(&out)
            .arg(&task1)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "Linux network namespace, which {} does not have",
                p2p_di_actors::wire::os_name()
            )),
            "{stderr}"
        );
        assert!(stderr.contains("nothing was run"), "{stderr}");
        assert!(!out.exists(), "it made its output folder");
    }
}
