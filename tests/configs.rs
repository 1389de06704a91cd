//! Every shipped config file parses, and says what the defaults say.

use p2p_di_actors::config::{self, RsConfig};
use std::path::Path;

#[test]
fn the_shipped_rs_config_parses_and_matches_the_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/rs.ron");
    let parsed: RsConfig = config::load(&path).unwrap();
    assert_eq!(parsed, RsConfig::default());
}
