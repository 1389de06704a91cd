//! Readiness where there is no systemd: nothing to tell.

pub fn ready(_status: &str) {}

pub fn stopping() {}
