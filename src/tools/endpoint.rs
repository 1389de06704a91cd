//! A daemon's admin endpoint as `ctl` reaches it: found from `--admin`,
//! `$P2P_DI_ADMIN` or the note beside a folder's lock, and called with
//! the typed requests and replies of [`crate::api`].

use crate::api;
use anyhow::{bail, Context as _};
use serde::{de::DeserializeOwned, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How to reach the endpoint.
pub struct Endpoint {
    base: String,
    /// Where the address came from, for error messages.
    source: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl Endpoint {
    /// The endpoint `admin` names, else `$P2P_DI_ADMIN`'s, else the one
    /// the daemon in `dir` noted; each request may take `timeout`.
    pub fn locate(
        admin: Option<&str>,
        dir: Option<&Path>,
        token: Option<String>,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let token = token
            .or_else(|| std::env::var("P2P_DI_ADMIN_TOKEN").ok())
            .filter(|t| !t.trim().is_empty());
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        let (addr, source) = match (admin, std::env::var("P2P_DI_ADMIN").ok()) {
            (Some(addr), _) => (addr.to_owned(), "--admin".to_owned()),
            (None, Some(addr)) if !addr.is_empty() => (addr, "$P2P_DI_ADMIN".to_owned()),
            _ => discover(dir)?,
        };
        let base = if addr.starts_with("http://") || addr.starts_with("https://") {
            addr.trim_end_matches('/').to_owned()
        } else {
            format!("http://{addr}")
        };
        Ok(Endpoint {
            base,
            source,
            token,
            agent,
        })
    }

    /// `GET path`.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.call::<(), T>("GET", path, None)
    }

    /// `POST path`, with `body` as JSON if given.
    pub fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: Option<&B>,
    ) -> anyhow::Result<T> {
        self.call("POST", path, body)
    }

    fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&B>,
    ) -> anyhow::Result<T> {
        let url = format!("{}{path}", self.base);
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let sent = if method == "GET" {
            let mut request = self.agent.get(&url);
            if let Some(auth) = &auth {
                request = request.header("Authorization", auth);
            }
            request.call()
        } else {
            let mut request = self.agent.post(&url);
            if let Some(auth) = &auth {
                request = request.header("Authorization", auth);
            }
            match body {
                Some(body) => request
                    .header("Content-Type", "application/json")
                    .send(serde_json::to_string(body)?),
                None => request.send_empty(),
            }
        };
        let mut response = sent.map_err(|err| {
            anyhow::anyhow!(
                "no answer from the admin endpoint {} (from {}): {err}; is the daemon running?",
                self.base,
                self.source
            )
        })?;
        let status = response.status();
        let text = response
            .body_mut()
            .read_to_string()
            .with_context(|| format!("reading the answer to {method} {url}"))?;
        if !status.is_success() {
            let message = serde_json::from_str::<api::ErrorBody>(&text)
                .map_or_else(|_| "no reason given".to_owned(), |e| e.error);
            bail!(
                "{method} {path}: {} answered {status}: {message}",
                self.base
            );
        }
        serde_json::from_str(&text).with_context(|| {
            format!("{method} {url} answered {status} with JSON of another shape: {text}")
        })
    }
}

/// The admin address a daemon wrote in its folder's note.
fn discover(dir: Option<&Path>) -> anyhow::Result<(String, String)> {
    use p2p_di_actors::lock::{self, LockNames};
    let dirs: Vec<PathBuf> = match dir {
        Some(dir) => vec![dir.to_owned()],
        None => vec![PathBuf::from("rfcs"), PathBuf::from("p2p-di-rs-state")],
    };
    let mut looked = Vec::new();
    for dir in &dirs {
        let mut found_one = false;
        for names in [lock::PEER, lock::RS] {
            let LockNames { lock, note } = names;
            let path = dir.join(note);
            if let Ok(text) = lock::read_note(dir, names) {
                if let Some(addr) = text.lines().find_map(|l| l.strip_prefix("admin=")) {
                    return Ok((addr.trim().to_owned(), path.display().to_string()));
                }
                found_one = true;
                looked.push(format!(
                    "{} (no admin address: the daemon runs with --admin off)",
                    path.display()
                ));
            } else if dir.join(lock).exists() {
                found_one = true;
                looked.push(format!(
                    "{} (no note beside its lock: the daemon stopped, or runs with --admin off)",
                    dir.display()
                ));
            }
        }
        if !found_one {
            looked.push(format!("{} (no daemon's lock file)", dir.display()));
        }
    }
    bail!(
        "which daemon? pass --admin ADDR:PORT (or set P2P_DI_ADMIN), or --dir with its RFC or \
         state folder; looked in {}",
        looked.join(", ")
    )
}

/// Percent-encodes what a query value may not hold as is.
pub fn encode_query(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode_query("9264:host b:65401"), "9264:host%20b:65401");
        assert_eq!(encode_query("a&b=c"), "a%26b%3Dc");
    }
}
