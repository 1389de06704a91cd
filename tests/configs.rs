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
