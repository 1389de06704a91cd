//! Every shipped config file parses, and says what the defaults say.

use p2p_di_actors::config::{self, PeerConfig, RsConfig};
use std::path::Path;

fn shipped(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config")
        .join(name)
}

#[test]
fn the_shipped_rs_config_parses_and_matches_the_defaults() {
    let parsed: RsConfig = config::load(&shipped("rs.ron")).unwrap();
    assert_eq!(parsed, RsConfig::default());
}

#[test]
fn the_shipped_peer_config_parses_and_matches_the_defaults() {
    let parsed: PeerConfig = config::load(&shipped("peer.ron")).unwrap();
    assert_eq!(parsed, PeerConfig::default());
}

#[test]
fn each_daemons_print_config_loads_back_as_its_defaults() {
    let dir = tempfile::tempdir().unwrap();
    for daemon in ["rs", "peer"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_p2p-di"))
            .args([daemon, "--print-config"])
            .output()
            .unwrap();
        assert!(out.status.success());
        let path = dir.path().join(format!("{daemon}.ron"));
        std::fs::write(&path, &out.stdout).unwrap();
        match daemon {
            "rs" => assert_eq!(
                config::load::<RsConfig>(&path).unwrap(),
                RsConfig::default()
            ),
            _ => assert_eq!(
                config::load::<PeerConfig>(&path).unwrap(),
                PeerConfig::default()
            ),
        }
    }
}
