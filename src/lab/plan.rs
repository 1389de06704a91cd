//! Experiments as RON files, the built-in suite, and the pure planning of
//! who holds what and who downloads what in which order.

use serde::{Deserialize, Serialize};

/// One experiment, as a `config/lab/*.ron` file describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Task 1 and Task 2 (best order) for 2 to `max_peers` peers sharing
    /// `documents` documents, to see how each scales.
    Sweep {
        /// Fewest peers.
        min_peers: usize,
        /// Most peers.
        max_peers: usize,
        /// Documents in all.
        documents: usize,
    },
}

/// The order in which Task 2 peers download.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Order {
    /// Round s: peer i fetches the documents of peer (i + s) mod N, so no
    /// two peers fetch from the same holder at the same time.
    Best,
    /// Every peer fetches holder 0's documents, then holder 1's, ... (its
    /// own skipped), so all fetch from the same holder at the same time.
    Worst,
}

/// The built-in suite: exactly the files of `config/lab/`.
pub const SUITE: [(&str, &str); 4] = [
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
        "task2-worst.ron",
        include_str!("../../config/lab/task2-worst.ron"),
    ),
];

/// Who holds which documents and who downloads which, in order. Documents
/// are indexes into the corpus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    /// Peer names (P0, P1, ... or A, B).
    pub names: Vec<String>,
    /// The documents each peer holds at the start.
    pub holdings: Vec<Vec<usize>>,
    /// The documents each peer downloads, in order.
    pub downloads: Vec<Vec<usize>>,
    /// Downloads each peer runs at once.
    pub parallel: usize,
}

impl Setup {
    /// Documents the setup uses in all.
    pub fn documents(&self) -> usize {
        self.holdings.iter().map(Vec::len).sum()
    }
}

/// Plans `task` on a corpus of `available` documents.
pub fn plan(task: &Task, available: usize) -> Result<Setup, String> {
    let need = |n: usize| {
        if n > available {
            Err(format!("needs {n} documents; the corpus has {available}"))
        } else {
            Ok(())
        }
    };
    match *task {
        Task::Scenario => {
            need(2)?;
            Ok(Setup {
                names: vec!["A".into(), "B".into()],
                holdings: vec![vec![], vec![0, 1]],
                downloads: vec![vec![0], vec![]],
                parallel: 1,
            })
        }
        Task::Centralized {
            clients,
            documents,
            parallel,
        } => {
            if clients == 0 || documents == 0 || parallel == 0 {
                return Err("clients, documents and parallel must be at least 1".into());
            }
            need(documents)?;
            let all: Vec<usize> = (0..documents).collect();
            let mut holdings = vec![all.clone()];
            let mut downloads = vec![vec![]];
            for _ in 0..clients {
                holdings.push(vec![]);
                downloads.push(all.clone());
            }
            Ok(Setup {
                names: (0..=clients).map(|i| format!("P{i}")).collect(),
                holdings,
                downloads,
                parallel,
            })
        }
        Task::Distributed {
            peers,
            documents_per_peer,
            order,
            parallel,
        } => {
            if peers < 2 || documents_per_peer == 0 || parallel == 0 {
                return Err(
                    "peers must be at least 2, documents_per_peer and parallel at least 1".into(),
                );
            }
            need(peers * documents_per_peer)?;
            let holdings: Vec<Vec<usize>> = (0..peers)
                .map(|p| (p * documents_per_peer..(p + 1) * documents_per_peer).collect())
                .collect();
            let downloads = (0..peers)
                .map(|me| {
                    holder_order(me, peers, order)
                        .into_iter()
                        .flat_map(|holder| holdings[holder].clone())
                        .collect()
                })
                .collect();
            Ok(Setup {
                names: (0..peers).map(|i| format!("P{i}")).collect(),
                holdings,
                downloads,
                parallel,
            })
        }
        Task::Sweep { .. } => Err("a sweep is planned point by point".into()),
    }
}

/// The holders peer `me` of `peers` fetches from, in order.
pub fn holder_order(me: usize, peers: usize, order: Order) -> Vec<usize> {
    match order {
        Order::Best => (1..peers).map(|step| (me + step) % peers).collect(),
        Order::Worst => (0..peers).filter(|holder| *holder != me).collect(),
    }
}

/// The experiments of a sweep: for each peer count, a centralized and a
/// distributed (best order) run over the same documents.
pub fn sweep_points(
    min_peers: usize,
    max_peers: usize,
    documents: usize,
) -> Result<Vec<(usize, Task, Task)>, String> {
    if min_peers < 2 || max_peers < min_peers {
        return Err("a sweep needs 2 <= min_peers <= max_peers".into());
    }
    (min_peers..=max_peers)
        .map(|peers| {
            let per_peer = documents / peers;
            if per_peer == 0 {
                return Err(format!(
                    "{documents} documents cannot be shared by {peers} peers"
                ));
            }
            Ok((
                peers,
                Task::Centralized {
                    clients: peers - 1,
                    documents: per_peer * peers,
                    parallel: 1,
                },
                Task::Distributed {
                    peers,
                    documents_per_peer: per_peer,
                    order: Order::Best,
                    parallel: 1,
                },
            ))
        })
        .collect()
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

    #[test]
    fn every_built_in_file_parses_and_plans_on_sixty_documents() {
        for (name, text) in SUITE {
            let experiment: Experiment =
                p2p_di_actors::config::from_ron_str(std::path::Path::new(name), text)
                    .unwrap_or_else(|err| panic!("{err}"));
            plan(&experiment.task, 60).unwrap();
        }
    }

    #[test]
    fn every_file_in_config_lab_parses_and_the_suite_is_those_files_but_the_sweep() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/lab");
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let experiment: Experiment =
                p2p_di_actors::config::load(&path).unwrap_or_else(|err| panic!("{err}"));
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            if !matches!(experiment.task, Task::Sweep { .. }) {
                names.push(name.clone());
                let embedded = SUITE
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, text)| *text);
                assert_eq!(
                    embedded,
                    Some(std::fs::read_to_string(&path).unwrap().as_str())
                );
            }
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
    fn the_worst_order_puts_all_but_one_peer_on_the_first_holder() {
        let first: Vec<usize> = (0..6)
            .map(|me| holder_order(me, 6, Order::Worst)[0])
            .collect();
        assert_eq!(first, [1, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn task2_downloads_exactly_what_each_peer_lacks() {
        let task = Task::Distributed {
            peers: 6,
            documents_per_peer: 10,
            order: Order::Best,
            parallel: 1,
        };
        let setup = plan(&task, 60).unwrap();
        for (me, wanted) in setup.downloads.iter().enumerate() {
            let mut all: Vec<usize> = wanted.iter().chain(&setup.holdings[me]).copied().collect();
            all.sort();
            assert_eq!(all, (0..60).collect::<Vec<_>>());
            assert_eq!(wanted.len(), 50);
        }
    }

    #[test]
    fn a_plan_that_needs_more_documents_than_the_corpus_has_is_refused() {
        let task = Task::Centralized {
            clients: 5,
            documents: 61,
            parallel: 1,
        };
        assert!(plan(&task, 60).unwrap_err().contains("61"));
    }

    #[test]
    fn sweep_flags_parse() {
        assert_eq!(parse_sweep("peers=2..8"), Ok((2, 8)));
        assert_eq!(parse_sweep("peers=2..=8"), Ok((2, 8)));
        assert!(parse_sweep("nodes=2..8").is_err());
        assert_eq!(sweep_points(2, 3, 60).unwrap().len(), 2);
    }
}
