//! Experiments as RON files, the built-in suite, and the pure planning of
//! each run: who holds what, who downloads what in which order, which
//! indexes each fetches first, and who is stopped when.

use serde::{Deserialize, Serialize};

/// One experiment, as a `config/lab/*.ron` file describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Short name: used in file names and CSV rows.
    pub name: String,
    /// Title for the report.
    pub title: String,
    /// What runs.
    pub task: Task,
    /// Upload cap of every peer, in bytes per second (unset: none).
    #[serde(default)]
    pub upload_limit_bytes_per_sec: Option<u64>,
    /// Download cap of every peer, in bytes per second (unset: none).
    #[serde(default)]
    pub download_limit_bytes_per_sec: Option<u64>,
    /// Upload cap of the server: the one holder of Task 1 and a swarm's
    /// seed (P0), in bytes per second, when it differs from the peers'
    /// (the textbook draws its figure with u_s = 10 u). Unset: the peers'.
    #[serde(default)]
    pub server_upload_limit_bytes_per_sec: Option<u64>,
    /// Download cap of the server (P0 of Task 1 and of a swarm). Unset:
    /// the peers'.
    #[serde(default)]
    pub server_download_limit_bytes_per_sec: Option<u64>,
    /// Registration servers: every peer registers with each (1 unless set).
    #[serde(default = "one")]
    pub registration_servers: usize,
    /// A peer or an RS stopped part-way (its sockets closed, no LEAVE
    /// sent, no state flushed).
    #[serde(default)]
    pub kill: Option<Kill>,
    /// One-way delay added to every peer's outgoing packets, in ms
    /// (`--net netns` on a kernel with netem only).
    #[serde(default)]
    pub latency_ms: Option<u64>,
    /// Share of every peer's outgoing packets dropped, in percent
    /// (`--net netns` on a kernel with netem only).
    #[serde(default)]
    pub loss_percent: Option<f64>,
}

impl Experiment {
    /// Whether it asks for delay or loss, which only netem can apply.
    pub fn needs_netem(&self) -> bool {
        self.latency_ms.is_some() || self.loss_percent.is_some()
    }
}

/// A peer or an RS stopped during the download phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kill {
    /// Its name: a peer (`P0` is the holder of Task 1 and the seed of a
    /// swarm), or an RS (`RS` for the first, `RS1`, `RS2`, ...).
    pub peer: String,
    /// When, as a fraction of the run's physical bound (0.5: half-way
    /// through the least time the distribution could take).
    pub at: f64,
}

/// The kinds of experiment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Task {
    /// The testing scenario: A downloads an RFC from B, B leaves, and A is
    /// told that no peer is active.
    Scenario,
    /// Task 1: P0 holds `documents`; P1..P`clients` download all of them,
    /// `parallel` at a time each, all clients at once.
    Centralized {
        /// Downloading peers.
        clients: usize,
        /// Documents P0 holds.
        documents: usize,
        /// Downloads each client runs at once.
        parallel: usize,
    },
    /// Task 2: `peers` peers hold `documents_per_peer` distinct documents
    /// each; each fetches the others' indexes and downloads what it lacks.
    Distributed {
        /// Peers.
        peers: usize,
        /// Documents each holds.
        documents_per_peer: usize,
        /// The order of the downloads.
        order: Order,
        /// Downloads each peer runs at once.
        parallel: usize,
    },
    /// A swarm: P0 (the seed) holds `documents`; the other `peers - 1`
    /// download all of them, each starting at a different document, and
    /// re-fetch the indexes while they run, so that they find and use the
    /// copies the others made.
    Swarm {
        /// Peers in all, the seed included.
        peers: usize,
        /// Documents the seed holds.
        documents: usize,
        /// Downloads each peer runs at once.
        parallel: usize,
        /// How often a downloading peer re-fetches the indexes, in ms.
        refresh_index_ms: u64,
    },
    /// For each peer count N of `peers`: Task 1 with N - 1 clients, Task 2
    /// (best order) with N peers, and a swarm of N peers, all over the same
    /// documents (`documents` rounded down to a multiple of N).
    Sweep {
        /// The peer counts, each at least 2.
        peers: Vec<usize>,
        /// Documents in all.
        documents: usize,
        /// Run the swarm at each point too.
        #[serde(default = "yes")]
        swarm: bool,
        /// Downloads each swarm peer runs at once.
        #[serde(default = "one")]
        swarm_parallel: usize,
    },
    /// The textbook's figure (Kurose and Ross, 2.5): for each N of
    /// `clients`, N peers get the same file (`documents`) from a server
    /// (Task 1 with N clients) and from a seed that they help (a swarm of
    /// N + 1); rows `NAME-centralized-N` and `NAME-swarm-N`. Meant with
    /// `server_upload_limit_bytes_per_sec` ten times the peers' upload.
    Textbook {
        /// The numbers of downloading peers, each at least 1.
        clients: Vec<usize>,
        /// Documents the server or seed holds (the file).
        documents: usize,
        /// Downloads each swarm peer runs at once.
        #[serde(default = "one")]
        swarm_parallel: usize,
        /// How often a swarm peer re-fetches indexes, in ms...
        #[serde(default = "textbook_refresh")]
        refresh_index_ms: u64,
        /// ...and how many each time.
        #[serde(default = "textbook_refresh_peers")]
        refresh_index_peers: usize,
        /// Downloads each Task 1 client runs at once.
        #[serde(default = "one")]
        parallel: usize,
    },
}

fn textbook_refresh() -> u64 {
    SWEEP_REFRESH_MS
}

fn textbook_refresh_peers() -> usize {
    2
}

fn yes() -> bool {
    true
}

fn one() -> usize {
    1
}

/// The most registration servers an experiment may run.
pub const MAX_RSS: usize = 4;

impl Task {
    /// Whether it is the textbook's figure.
    pub fn is_textbook(&self) -> bool {
        matches!(self, Task::Textbook { .. })
    }
}

/// The order in which Task 2 peers download.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Order {
    /// Round s: peer i fetches the documents of peer (i + s) mod N, so no
    /// two peers fetch from the same holder in a round.
    Best,
    /// Every peer fetches holder 0's documents, then holder 1's, ... (its
    /// own skipped), each at its own pace: they crowd the same holder at
    /// first, then drift apart.
    Crowded,
    /// Lockstep rounds: in round h every peer but h fetches holder h's
    /// documents, and the next round starts when all have finished, so one
    /// upload link carries all the traffic at a time.
    Worst,
}

impl Order {
    /// The order's name, as in the experiment names.
    pub fn name(self) -> &'static str {
        match self {
            Order::Best => "best",
            Order::Crowded => "crowded",
            Order::Worst => "worst",
        }
    }
}

/// The built-in suite: exactly the files of `config/lab/`.
pub const SUITE: [(&str, &str); 12] = [
    (
        "scenario.ron",
        include_str!("../../config/lab/scenario.ron"),
    ),
    ("task1.ron", include_str!("../../config/lab/task1.ron")),
    (
        "task2-best.ron",
        include_str!("../../config/lab/task2-best.ron"),
    ),
    (
        "task2-crowded.ron",
        include_str!("../../config/lab/task2-crowded.ron"),
    ),
    (
        "task2-worst.ron",
        include_str!("../../config/lab/task2-worst.ron"),
    ),
    ("sweep.ron", include_str!("../../config/lab/sweep.ron")),
    (
        "textbook.ron",
        include_str!("../../config/lab/textbook.ron"),
    ),
    (
        "fail-centralized.ron",
        include_str!("../../config/lab/fail-centralized.ron"),
    ),
    (
        "fail-p2p.ron",
        include_str!("../../config/lab/fail-p2p.ron"),
    ),
    (
        "fail-swarm.ron",
        include_str!("../../config/lab/fail-swarm.ron"),
    ),
    ("fail-rs.ron", include_str!("../../config/lab/fail-rs.ron")),
    (
        "fail-rs-pair.ron",
        include_str!("../../config/lab/fail-rs-pair.ron"),
    ),
];

/// What a run is, for the report and the charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The testing scenario.
    Scenario,
    /// One holder, many downloaders.
    Centralized,
    /// Every peer holds a share (Task 2), in this order.
    Distributed(Order),
    /// One seed, downloaders that re-serve.
    Swarm,
}

/// One run to make: a point of an experiment.
#[derive(Debug, Clone)]
pub struct Point {
    /// Its row in summary.csv (`task1`, `sweep-p2p-6`, `swarm-12`, ...).
    pub row: String,
    /// The experiment it belongs to (index into the list).
    pub experiment: usize,
    /// What it is.
    pub kind: Kind,
    /// Peers in all (the holder or seed included).
    pub peers: usize,
    /// Its plan.
    pub setup: Setup,
}

/// Who holds which documents and who downloads which, in order. Documents
/// are indexes into the corpus.
#[derive(Debug, Clone, PartialEq)]
pub struct Setup {
    /// Peer names (P0, P1, ... or A, B).
    pub names: Vec<String>,
    /// The documents each peer holds at the start.
    pub holdings: Vec<Vec<usize>>,
    /// The downloads, round by round (one round unless lockstep): for each
    /// round, the documents each peer downloads in it, in order.
    pub rounds: Vec<Vec<Vec<usize>>>,
    /// The peers whose indexes each peer fetches before the download phase.
    pub index_from: Vec<Vec<usize>>,
    /// Downloads each peer runs at once.
    pub parallel: usize,
    /// Re-fetch the indexes while downloading, every this many ms...
    pub refresh_index_ms: Option<u64>,
    /// ...this many at a time (unset: the peer's default).
    pub refresh_index_peers: Option<usize>,
    /// The peer stopped part-way, and when (fraction of the bound).
    pub kill: Option<(usize, f64)>,
    /// Registration servers.
    pub rss: usize,
    /// The RS stopped part-way, and when (fraction of the bound).
    pub kill_rs: Option<(usize, f64)>,
}

impl Setup {
    /// Documents the setup uses in all.
    pub fn documents(&self) -> usize {
        let mut all: Vec<usize> = self.holdings.iter().flatten().copied().collect();
        all.sort_unstable();
        all.dedup();
        all.len()
    }

    /// Everything peer `peer` downloads, all rounds together.
    pub fn downloads_of(&self, peer: usize) -> Vec<usize> {
        self.rounds.iter().flat_map(|r| r[peer].clone()).collect()
    }

    /// Downloads planned in all.
    pub fn planned(&self) -> usize {
        self.rounds.iter().flatten().map(Vec::len).sum()
    }

    /// The name of RS `j`: `RS` when there is one, else `RS1`, `RS2`, ...
    pub fn rs_name(&self, j: usize) -> String {
        if self.rss == 1 {
            "RS".to_owned()
        } else {
            format!("RS{}", j + 1)
        }
    }

    /// What is stopped part-way, by name, and when (fraction of the
    /// bound).
    pub fn stopped(&self) -> Option<(String, f64)> {
        match (self.kill, self.kill_rs) {
            (Some((peer, at)), _) => Some((self.names[peer].clone(), at)),
            (None, Some((rs, at))) => Some((self.rs_name(rs), at)),
            (None, None) => None,
        }
    }
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("P{i}")).collect()
}

fn need(n: usize, available: usize) -> Result<(), String> {
    if n > available {
        Err(format!("needs {n} documents; the corpus has {available}"))
    } else {
        Ok(())
    }
}

/// Task 1: P0 holds `documents`, each client downloads all of them.
pub fn centralized(clients: usize, documents: usize, parallel: usize) -> Result<Setup, String> {
    if clients == 0 || documents == 0 || parallel == 0 {
        return Err("clients, documents and parallel must be at least 1".into());
    }
    let all: Vec<usize> = (0..documents).collect();
    let mut holdings = vec![all.clone()];
    let mut downloads = vec![vec![]];
    let mut index_from = vec![vec![]];
    for _ in 0..clients {
        holdings.push(vec![]);
        downloads.push(all.clone());
        index_from.push(vec![0]);
    }
    Ok(Setup {
        names: names(clients + 1),
        holdings,
        rounds: vec![downloads],
        index_from,
        parallel,
        refresh_index_ms: None,
        refresh_index_peers: None,
        kill: None,
        rss: 1,
        kill_rs: None,
    })
}

/// Task 2: `peers` peers each hold `per_peer` documents and download the
/// rest in `order`.
pub fn distributed(
    peers: usize,
    per_peer: usize,
    order: Order,
    parallel: usize,
) -> Result<Setup, String> {
    if peers < 2 || per_peer == 0 || parallel == 0 {
        return Err("peers must be at least 2, documents_per_peer and parallel at least 1".into());
    }
    let holdings: Vec<Vec<usize>> = (0..peers)
        .map(|p| (p * per_peer..(p + 1) * per_peer).collect())
        .collect();
    let others = |me: usize| (0..peers).filter(move |p| *p != me).collect::<Vec<_>>();
    let rounds = match order {
        Order::Worst => (0..peers)
            .map(|holder| {
                (0..peers)
                    .map(|me| {
                        if me == holder {
                            vec![]
                        } else {
                            holdings[holder].clone()
                        }
                    })
                    .collect()
            })
            .collect(),
        Order::Best | Order::Crowded => vec![(0..peers)
            .map(|me| {
                holder_order(me, peers, order)
                    .into_iter()
                    .flat_map(|holder| holdings[holder].clone())
                    .collect()
            })
            .collect()],
    };
    Ok(Setup {
        names: names(peers),
        holdings,
        rounds,
        index_from: (0..peers).map(others).collect(),
        parallel,
        refresh_index_ms: None,
        refresh_index_peers: None,
        kill: None,
        rss: 1,
        kill_rs: None,
    })
}

/// A swarm: the seed P0 holds `documents`; peer i starts at document
/// (i - 1) * documents / (peers - 1) and goes round.
pub fn swarm(
    peers: usize,
    documents: usize,
    parallel: usize,
    refresh_index_ms: u64,
) -> Result<Setup, String> {
    if peers < 2 || documents == 0 || parallel == 0 || refresh_index_ms == 0 {
        return Err(
            "a swarm needs at least 2 peers, 1 document, parallel and refresh_index_ms of 1".into(),
        );
    }
    let downloaders = peers - 1;
    let mut holdings = vec![(0..documents).collect::<Vec<_>>()];
    let mut downloads = vec![vec![]];
    let mut index_from = vec![vec![]];
    for i in 0..downloaders {
        let start = i * documents / downloaders;
        holdings.push(vec![]);
        downloads.push((0..documents).map(|k| (start + k) % documents).collect());
        index_from.push(vec![0]);
    }
    Ok(Setup {
        names: names(peers),
        holdings,
        rounds: vec![downloads],
        index_from,
        parallel,
        refresh_index_ms: Some(refresh_index_ms),
        refresh_index_peers: None,
        kill: None,
        rss: 1,
        kill_rs: None,
    })
}

/// The scenario: A (nothing) downloads the first of B's two documents.
fn scenario() -> Setup {
    Setup {
        names: vec!["A".into(), "B".into()],
        holdings: vec![vec![], vec![0, 1]],
        rounds: vec![vec![vec![0], vec![]]],
        index_from: vec![vec![], vec![]],
        parallel: 1,
        refresh_index_ms: None,
        refresh_index_peers: None,
        kill: None,
        rss: 1,
        kill_rs: None,
    }
}

/// The holders peer `me` of `peers` fetches from, in order (Best and
/// Crowded; Worst is planned by rounds).
pub fn holder_order(me: usize, peers: usize, order: Order) -> Vec<usize> {
    match order {
        Order::Best => (1..peers).map(|step| (me + step) % peers).collect(),
        Order::Crowded | Order::Worst => (0..peers).filter(|holder| *holder != me).collect(),
    }
}

/// The peer counts of a sweep, checked and in order.
pub fn sweep_counts(peers: &[usize]) -> Result<Vec<usize>, String> {
    let mut counts = peers.to_vec();
    counts.sort_unstable();
    counts.dedup();
    if counts.is_empty() || counts[0] < 2 {
        return Err("a sweep needs peer counts of at least 2".into());
    }
    Ok(counts)
}

/// How often swarm peers of a sweep re-fetch the indexes, in ms.
pub const SWEEP_REFRESH_MS: u64 = 100;

/// Expands `experiment` (number `index` of the list) into its runs, on a
/// corpus of `available` documents.
pub fn points(
    experiment: &Experiment,
    index: usize,
    available: usize,
) -> Result<Vec<Point>, String> {
    let point = |row: String, kind, setup: Setup| Point {
        row,
        experiment: index,
        kind,
        peers: setup.names.len(),
        setup,
    };
    let mut list = match &experiment.task {
        Task::Scenario => {
            need(2, available)?;
            vec![point(experiment.name.clone(), Kind::Scenario, scenario())]
        }
        Task::Centralized {
            clients,
            documents,
            parallel,
        } => {
            need(*documents, available)?;
            let setup = centralized(*clients, *documents, *parallel)?;
            vec![point(experiment.name.clone(), Kind::Centralized, setup)]
        }
        Task::Distributed {
            peers,
            documents_per_peer,
            order,
            parallel,
        } => {
            need(peers * documents_per_peer, available)?;
            let setup = distributed(*peers, *documents_per_peer, *order, *parallel)?;
            vec![point(
                experiment.name.clone(),
                Kind::Distributed(*order),
                setup,
            )]
        }
        Task::Swarm {
            peers,
            documents,
            parallel,
            refresh_index_ms,
        } => {
            need(*documents, available)?;
            let setup = swarm(*peers, *documents, *parallel, *refresh_index_ms)?;
            vec![point(experiment.name.clone(), Kind::Swarm, setup)]
        }
        Task::Sweep {
            peers,
            documents,
            swarm: with_swarm,
            swarm_parallel,
        } => {
            let mut list = Vec::new();
            let swarm_prefix = if experiment.name == "sweep" {
                "swarm".to_owned()
            } else {
                format!("{}-swarm", experiment.name)
            };
            for n in sweep_counts(peers)? {
                let per_peer = documents / n;
                if per_peer == 0 {
                    return Err(format!(
                        "{documents} documents cannot be shared by {n} peers"
                    ));
                }
                let docs = per_peer * n;
                need(docs, available)?;
                let name = &experiment.name;
                list.push(point(
                    format!("{name}-centralized-{n}"),
                    Kind::Centralized,
                    centralized(n - 1, docs, 1)?,
                ));
                list.push(point(
                    format!("{name}-p2p-{n}"),
                    Kind::Distributed(Order::Best),
                    distributed(n, per_peer, Order::Best, 1)?,
                ));
                if *with_swarm {
                    list.push(point(
                        format!("{swarm_prefix}-{n}"),
                        Kind::Swarm,
                        swarm(n, docs, *swarm_parallel, SWEEP_REFRESH_MS)?,
                    ));
                }
            }
            list
        }
        Task::Textbook {
            clients,
            documents,
            swarm_parallel,
            refresh_index_ms,
            refresh_index_peers,
            parallel,
        } => {
            need(*documents, available)?;
            let mut counts = clients.clone();
            counts.sort_unstable();
            counts.dedup();
            if counts.first().is_none_or(|&n| n == 0) {
                return Err("the textbook's figure needs client counts of at least 1".into());
            }
            let name = &experiment.name;
            let mut list = Vec::new();
            for n in counts {
                list.push(point(
                    format!("{name}-centralized-{n}"),
                    Kind::Centralized,
                    centralized(n, *documents, *parallel)?,
                ));
                let mut swarming = swarm(n + 1, *documents, *swarm_parallel, *refresh_index_ms)?;
                swarming.refresh_index_peers = Some(*refresh_index_peers);
                list.push(point(format!("{name}-swarm-{n}"), Kind::Swarm, swarming));
            }
            list
        }
    };
    let rss = experiment.registration_servers;
    if !(1..=MAX_RSS).contains(&rss) {
        return Err(format!(
            "registration_servers must be 1 to {MAX_RSS}, not {rss}"
        ));
    }
    for point in &mut list {
        point.setup.rss = rss;
    }
    if let Some(kill) = &experiment.kill {
        if !(kill.at > 0.0 && kill.at.is_finite()) {
            return Err(format!("kill.at must be above 0, not {}", kill.at));
        }
        for point in &mut list {
            let setup = &mut point.setup;
            if let Some(rs) = (0..rss).find(|&j| setup.rs_name(j) == kill.peer) {
                setup.kill_rs = Some((rs, kill.at));
                continue;
            }
            let victim = setup
                .names
                .iter()
                .position(|n| *n == kill.peer)
                .ok_or_else(|| {
                    format!("kill.peer `{}` is not one of the peers or RSs", kill.peer)
                })?;
            setup.kill = Some((victim, kill.at));
        }
    }
    Ok(list)
}

/// Parses `peers=A..B` (the `--sweep` flag).
pub fn parse_sweep(text: &str) -> Result<(usize, usize), String> {
    let range = text
        .strip_prefix("peers=")
        .ok_or_else(|| format!("`{text}`: expected peers=MIN..MAX"))?;
    let (low, high) = range
        .split_once("..")
        .ok_or_else(|| format!("`{text}`: expected peers=MIN..MAX"))?;
    let high = high.strip_prefix('=').unwrap_or(high);
    let parse = |s: &str| {
        s.parse::<usize>()
            .map_err(|_| format!("`{text}`: `{s}` is not a number"))
    };
    Ok((parse(low)?, parse(high)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn experiment(task: Task) -> Experiment {
        Experiment {
            name: "x".into(),
            title: "x".into(),
            task,
            upload_limit_bytes_per_sec: None,
            download_limit_bytes_per_sec: None,
            server_upload_limit_bytes_per_sec: None,
            server_download_limit_bytes_per_sec: None,
            registration_servers: 1,
            kill: None,
            latency_ms: None,
            loss_percent: None,
        }
    }

    #[test]
    fn an_rs_is_named_as_a_victim_and_counted() {
        let mut pair = experiment(Task::Distributed {
            peers: 3,
            documents_per_peer: 2,
            order: Order::Best,
            parallel: 1,
        });
        pair.registration_servers = 2;
        pair.kill = Some(Kill {
            peer: "RS2".into(),
            at: 0.5,
        });
        let setup = &points(&pair, 0, 60).unwrap()[0].setup;
        assert_eq!(
            (setup.rss, setup.kill_rs, setup.kill),
            (2, Some((1, 0.5)), None)
        );
        assert_eq!(setup.stopped(), Some(("RS2".to_owned(), 0.5)));
        // One RS is named RS; RS3 of two is nobody.
        pair.kill = Some(Kill {
            peer: "RS3".into(),
            at: 0.5,
        });
        assert!(points(&pair, 0, 60).unwrap_err().contains("`RS3`"));
        pair.registration_servers = 1;
        pair.kill = Some(Kill {
            peer: "RS".into(),
            at: 0.5,
        });
        assert_eq!(
            points(&pair, 0, 60).unwrap()[0].setup.kill_rs,
            Some((0, 0.5))
        );
        pair.registration_servers = 9;
        assert!(points(&pair, 0, 60).unwrap_err().contains("1 to 4"));
    }

    #[test]
    fn every_built_in_file_parses_and_plans_on_sixty_documents() {
        for (i, (name, text)) in SUITE.iter().enumerate() {
            let experiment: Experiment =
                p2p_di_actors::config::from_ron_str(std::path::Path::new(name), text)
                    .unwrap_or_else(|err| panic!("{err}"));
            assert_eq!(format!("{}.ron", experiment.name), *name);
            points(&experiment, i, 60).unwrap();
        }
    }

    #[test]
    fn every_scale_file_in_benches_lab_parses_and_plans() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/lab");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let experiment: Experiment =
                p2p_di_actors::config::load(&path).unwrap_or_else(|err| panic!("{err}"));
            let name = path.file_stem().unwrap().to_str().unwrap();
            assert_eq!(experiment.name, name);
            assert!(!points(&experiment, 0, 1000).unwrap().is_empty());
            seen += 1;
        }
        assert_eq!(seen, 4);
    }

    #[test]
    fn every_file_in_config_lab_is_in_the_suite() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/lab");
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            let embedded = SUITE.iter().find(|(n, _)| *n == name).map(|(_, t)| *t);
            assert_eq!(
                embedded,
                Some(std::fs::read_to_string(&path).unwrap().as_str())
            );
            names.push(name);
        }
        names.sort();
        let mut suite: Vec<&str> = SUITE.iter().map(|(n, _)| *n).collect();
        suite.sort();
        assert_eq!(names, suite);
    }

    #[test]
    fn the_best_order_never_puts_two_peers_on_one_holder_in_a_round() {
        for peers in 2..10 {
            for round in 0..peers - 1 {
                let mut holders: Vec<usize> = (0..peers)
                    .map(|me| holder_order(me, peers, Order::Best)[round])
                    .collect();
                holders.sort();
                holders.dedup();
                assert_eq!(holders.len(), peers, "{peers} peers, round {round}");
            }
        }
    }

    #[test]
    fn the_worst_order_is_lockstep_rounds_on_one_holder() {
        let setup = distributed(4, 3, Order::Worst, 1).unwrap();
        assert_eq!(setup.rounds.len(), 4);
        for (holder, round) in setup.rounds.iter().enumerate() {
            for (me, docs) in round.iter().enumerate() {
                let expected = if me == holder {
                    vec![]
                } else {
                    setup.holdings[holder].clone()
                };
                assert_eq!(*docs, expected, "round {holder}, peer {me}");
            }
        }
        // The crowded order has the same holders' sequence, in one round:
        // P0 alone starts elsewhere.
        let crowded = distributed(6, 10, Order::Crowded, 1).unwrap();
        assert_eq!(crowded.rounds.len(), 1);
        let first: Vec<usize> = (0..6).map(|me| crowded.rounds[0][me][0] / 10).collect();
        assert_eq!(first, [1, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn task2_downloads_exactly_what_each_peer_lacks_in_every_order() {
        for order in [Order::Best, Order::Crowded, Order::Worst] {
            let setup = distributed(6, 10, order, 1).unwrap();
            for me in 0..6 {
                let wanted = setup.downloads_of(me);
                let mut all: Vec<usize> =
                    wanted.iter().chain(&setup.holdings[me]).copied().collect();
                all.sort();
                assert_eq!(all, (0..60).collect::<Vec<_>>(), "{order:?}");
                assert_eq!(wanted.len(), 50);
            }
            assert_eq!(setup.planned(), 300);
        }
    }

    #[test]
    fn swarm_peers_start_at_different_documents_and_want_them_all() {
        let setup = swarm(5, 8, 1, 250).unwrap();
        let starts: Vec<usize> = (1..5).map(|p| setup.downloads_of(p)[0]).collect();
        assert_eq!(starts, [0, 2, 4, 6]);
        for p in 1..5 {
            let mut all = setup.downloads_of(p);
            all.sort();
            assert_eq!(all, (0..8).collect::<Vec<_>>());
        }
        assert_eq!(setup.index_from[3], [0]);
        assert_eq!(setup.refresh_index_ms, Some(250));
    }

    #[test]
    fn a_sweep_names_its_rows_and_shares_documents_between_them() {
        let sweep = Experiment {
            name: "sweep".into(),
            ..experiment(Task::Sweep {
                peers: vec![7, 2, 4, 6],
                documents: 60,
                swarm: true,
                swarm_parallel: 1,
            })
        };
        let list = points(&sweep, 0, 60).unwrap();
        let rows: Vec<&str> = list.iter().map(|p| p.row.as_str()).collect();
        assert_eq!(
            rows,
            [
                "sweep-centralized-2",
                "sweep-p2p-2",
                "swarm-2",
                "sweep-centralized-4",
                "sweep-p2p-4",
                "swarm-4",
                "sweep-centralized-6",
                "sweep-p2p-6",
                "swarm-6",
                "sweep-centralized-7",
                "sweep-p2p-7",
                "swarm-7",
            ]
        );
        for triple in list.chunks(3) {
            let docs: Vec<usize> = triple.iter().map(|p| p.setup.documents()).collect();
            assert_eq!(docs[0], docs[1]);
            assert_eq!(docs[1], docs[2]);
            assert!(triple.iter().all(|p| p.peers == triple[0].peers));
        }
    }

    #[test]
    fn a_kill_names_a_peer_of_the_run() {
        let mut task1 = experiment(Task::Centralized {
            clients: 2,
            documents: 3,
            parallel: 1,
        });
        task1.kill = Some(Kill {
            peer: "P0".into(),
            at: 0.5,
        });
        assert_eq!(points(&task1, 0, 60).unwrap()[0].setup.kill, Some((0, 0.5)));
        task1.kill = Some(Kill {
            peer: "P9".into(),
            at: 0.5,
        });
        assert!(points(&task1, 0, 60).unwrap_err().contains("P9"));
    }

    #[test]
    fn a_plan_that_needs_more_documents_than_the_corpus_has_is_refused() {
        let task = experiment(Task::Centralized {
            clients: 5,
            documents: 61,
            parallel: 1,
        });
        assert!(points(&task, 0, 60).unwrap_err().contains("61"));
    }

    #[test]
    fn sweep_flags_parse() {
        assert_eq!(parse_sweep("peers=2..8"), Ok((2, 8)));
        assert_eq!(parse_sweep("peers=2..=8"), Ok((2, 8)));
        assert!(parse_sweep("nodes=2..8").is_err());
        assert_eq!(sweep_counts(&[12, 2, 4, 4]).unwrap(), [2, 4, 12]);
        assert!(sweep_counts(&[1, 4]).is_err());
        assert!(sweep_counts(&[]).is_err());
    }
}
