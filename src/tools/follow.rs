//! Downloads followed to their end, for `ctl get` and `get`: what ended
//! is taken from the peer's feed of ends (long-polled), shown as it comes
//! (a progress bar on a terminal, a line per download otherwise, or one
//! JSON line per download with `--json`), and summed up at the end.

use super::{cell, print_table, progress};
use crate::api::{Download, DownloadState, EndedPage, Ticket};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Instant;

/// A table of every download is printed up to this many; past it, only
/// the failed ones.
const TABLE_ROWS: usize = 50;

/// How the ends are shown as they come.
enum Show {
    /// A progress bar on a terminal.
    Bar(ProgressBar),
    /// A line per download on standard error.
    Lines,
    /// A JSON line per download on standard output.
    Json,
}

/// Downloads being followed.
pub struct Follower {
    /// The downloads not ended yet: id to RFC.
    open: HashMap<u64, u32>,
    /// Those that ended, in the order they did.
    ended: Vec<Download>,
    /// The last end seen in the peer's feed.
    since: u64,
    total: usize,
    failed: usize,
    show: Show,
    started: Instant,
}

impl Follower {
    /// Follows `tickets` from the feed's end number `since`.
    pub fn new(tickets: &[Ticket], since: u64, json: bool) -> Self {
        let show = if json {
            Show::Json
        } else if std::io::stderr().is_terminal() && tickets.len() > 1 {
            let bar = ProgressBar::new(tickets.len() as u64);
            let style = ProgressStyle::with_template(
                "{bar:32} {pos}/{len} ended, {msg} failed  {per_sec}  {eta} left",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_message("0");
            Show::Bar(bar)
        } else {
            Show::Lines
        };
        Follower {
            open: tickets.iter().map(|t| (t.id, t.rfc)).collect(),
            ended: Vec::with_capacity(tickets.len()),
            since,
            total: tickets.len(),
            failed: 0,
            show,
            started: Instant::now(),
        }
    }

    /// The feed's last end seen: where to ask from next.
    pub fn since(&self) -> u64 {
        self.since
    }

    /// Whether every download followed has ended.
    pub fn done(&self) -> bool {
        self.open.is_empty()
    }

    /// The downloads not seen to end, by id.
    pub fn open_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.open.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Takes a page of the feed: the downloads of ours that ended.
    pub fn take(&mut self, page: EndedPage) {
        self.since = self.since.max(page.next);
        for download in page.downloads {
            self.settle(download);
        }
    }

    /// Takes the end of one of ours (from the feed, or asked by id).
    pub fn settle(&mut self, download: Download) {
        if !download.state.ended() || self.open.remove(&download.id).is_none() {
            return;
        }
        if !download.state.succeeded() {
            self.failed += 1;
        }
        match &self.show {
            Show::Bar(bar) => {
                bar.inc(1);
                bar.set_message(self.failed.to_string());
            }
            Show::Lines => eprintln!("rfc {}: {}", download.rfc, describe(&download)),
            Show::Json => {
                if let Ok(line) = serde_json::to_string(&download) {
                    println!("{line}");
                }
            }
        }
        self.ended.push(download);
    }

    /// Gives up on `id`: the peer no longer keeps it (counted failed).
    pub fn forget(&mut self, id: u64) {
        if let Some(rfc) = self.open.remove(&id) {
            self.failed += 1;
            if let Show::Lines = self.show {
                eprintln!("rfc {rfc}: the peer no longer keeps download {id}");
            }
        }
    }

    /// Prints what ended (a table, unless JSON lines were printed) and a
    /// summary of the `noun` (downloads, RFCs); an error naming how many
    /// `failure` (did not complete, were not saved).
    pub fn finish(self, noun: &str, failure: &str) -> anyhow::Result<()> {
        if let Show::Bar(bar) = &self.show {
            bar.finish_and_clear();
        }
        let still = self.open.len();
        let failed = self.failed + still;
        if !matches!(self.show, Show::Json) {
            let shown: Vec<&Download> = if self.ended.len() <= TABLE_ROWS {
                self.ended.iter().collect()
            } else {
                self.ended.iter().filter(|d| !d.state.succeeded()).collect()
            };
            if !shown.is_empty() {
                print_downloads(&shown);
            }
        }
        let secs = self.started.elapsed().as_secs_f64();
        let held = self
            .ended
            .iter()
            .filter(|d| d.state == DownloadState::AlreadyHeld)
            .count();
        let downloaded = self
            .ended
            .iter()
            .filter(|d| d.state == DownloadState::Downloaded)
            .count();
        let rate = if secs >= 1.0 {
            format!(" ({:.0} a second)", self.ended.len() as f64 / secs)
        } else {
            String::new()
        };
        let still_open = if still > 0 {
            format!(", {still} not ended")
        } else {
            String::new()
        };
        eprintln!(
            "{}: {downloaded} downloaded, {held} held already, {} failed{still_open} in {secs:.1} s{rate}",
            counted(self.total, noun),
            self.failed,
        );
        if failed > 0 {
            anyhow::bail!("{failed} of {} {noun} {failure}", self.total);
        }
        Ok(())
    }
}

/// `n` of `noun` (a plural ending in s), singular for one.
fn counted(n: usize, noun: &str) -> String {
    match (n, noun.strip_suffix('s')) {
        (1, Some(one)) => format!("1 {one}"),
        _ => format!("{n} {noun}"),
    }
}

/// How a download ended, in a few words.
pub fn describe(view: &Download) -> String {
    match view.state {
        DownloadState::Downloaded => format!(
            "downloaded from {} ({} bytes, {} ms)",
            view.holder.as_deref().unwrap_or("?"),
            cell(view.length),
            view.elapsed_ms
        ),
        DownloadState::AlreadyHeld => "already held".into(),
        DownloadState::Waiting | DownloadState::Running => view.state.as_str().into(),
        DownloadState::Failed => format!("failed: {}", view.error.as_deref().unwrap_or("?")),
    }
}

/// Downloads as a table.
pub fn print_downloads(items: &[&Download]) {
    let rows = items
        .iter()
        .map(|d| {
            vec![
                d.id.to_string(),
                d.rfc.to_string(),
                d.state.as_str().to_owned(),
                cell(d.holder.as_ref()),
                progress(d.received, d.length),
                d.elapsed_ms.to_string(),
                d.attempts.len().to_string(),
                cell(d.error.as_ref()),
            ]
        })
        .collect();
    print_table(
        &[
            ">ID",
            ">RFC",
            "STATE",
            "FROM",
            ">BYTES",
            ">MS",
            ">FAILED TRIES",
            "ERROR",
        ],
        rows,
    );
}
