//! Download events: what a peer reports when a download ends, whether it
//! came from an in-process downloader or from a daemon's JSON log.
//!
//! A peer logs one `rfc downloaded` (or `rfc download failed`) line per
//! download with its own name, the RFC, the holder, the bytes, the
//! wall-clock start (`started_unix_us`) and the duration (`elapsed_us`);
//! [`parse_line`] reads such a line back.

use p2p_di_actors::peer::downloader::{DownloadFinished, Outcome};
use std::io::{BufRead, Read, Seek};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One download that ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The downloading peer's name.
    pub peer: String,
    /// The RFC.
    pub rfc: u32,
    /// Wall-clock start, on the downloading peer's clock.
    pub started: SystemTime,
    /// From start to end, measured by the downloading peer.
    pub elapsed: Duration,
    /// How it ended.
    pub outcome: Ended,
}

/// How a download ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// Saved, from the holder of this name.
    Downloaded {
        /// The holder's host name.
        holder: String,
        /// Document length.
        bytes: u64,
    },
    /// The peer held it already.
    AlreadyHeld,
    /// Not saved, with why.
    Failed(String),
}

impl Event {
    /// The event of an in-process download of peer `peer`.
    pub fn of(peer: &str, finished: &DownloadFinished) -> Event {
        Event {
            peer: peer.to_owned(),
            rfc: finished.number,
            started: finished.started,
            elapsed: finished.elapsed,
            outcome: match &finished.outcome {
                Outcome::Downloaded { holder, bytes, .. } => Ended::Downloaded {
                    holder: holder.host.to_string(),
                    bytes: *bytes,
                },
                Outcome::AlreadyHeld => Ended::AlreadyHeld,
                Outcome::Failed(err) => Ended::Failed(err.to_string()),
            },
        }
    }

    /// When it ended, on the downloading peer's clock.
    pub fn ended(&self) -> SystemTime {
        self.started + self.elapsed
    }
}

/// The download event in one JSON log line, if it is one.
pub fn parse_line(line: &str) -> Option<Event> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let field = |name: &str| value.get(name);
    let text = |name: &str| field(name).and_then(serde_json::Value::as_str);
    let number = |name: &str| field(name).and_then(serde_json::Value::as_u64);
    let outcome = match text("msg")? {
        "rfc downloaded" => {
            let holder = text("holder")?;
            let host = holder.rsplit_once(':').map_or(holder, |(host, _)| host);
            Ended::Downloaded {
                holder: host.to_owned(),
                bytes: number("bytes")?,
            }
        }
        "rfc download failed" => Ended::Failed(text("err").unwrap_or("unknown").to_owned()),
        "rfc already held" => Ended::AlreadyHeld,
        _ => return None,
    };
    Some(Event {
        peer: text("peer")?.to_owned(),
        rfc: u32::try_from(number("rfc")?).ok()?,
        started: UNIX_EPOCH + Duration::from_micros(number("started_unix_us").unwrap_or(0)),
        elapsed: Duration::from_micros(number("elapsed_us").unwrap_or(0)),
        outcome,
    })
}

/// Every download event of the log files `paths`, in file order; a line
/// that is not one is skipped. Errors name the file.
pub fn read_logs(paths: &[PathBuf]) -> anyhow::Result<Vec<Event>> {
    let mut events = Vec::new();
    for path in paths {
        let file = std::fs::File::open(path)
            .map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))?;
        for line in std::io::BufReader::new(file).lines() {
            let line = line.map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))?;
            events.extend(parse_line(&line));
        }
    }
    Ok(events)
}

/// Follows a log file as a daemon writes it: each [`Tail::poll`] returns
/// the events of the lines completed since the last.
#[derive(Debug)]
pub struct Tail {
    path: PathBuf,
    offset: u64,
    /// The start of a line not yet complete.
    partial: Vec<u8>,
}

impl Tail {
    /// Follows `path` from its start.
    pub fn new(path: &Path) -> Tail {
        Tail {
            path: path.to_owned(),
            offset: 0,
            partial: Vec::new(),
        }
    }

    /// The events of the lines completed since the last poll.
    pub fn poll(&mut self) -> std::io::Result<Vec<Event>> {
        let mut file = match std::fs::File::open(&self.path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(err),
        };
        file.seek(std::io::SeekFrom::Start(self.offset))?;
        let read = file.read_to_end(&mut self.partial)?;
        self.offset += read as u64;
        let mut events = Vec::new();
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            events.extend(parse_line(String::from_utf8_lossy(&line).trim_end()));
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_daemon_log_line_reads_back_as_its_event() {
        let line = r#"{"msg":"rfc downloaded","level":"INFO","ts":"2026-11-22T04:00:00.000Z","actor":"downloader","rfc":10007,"holder":"P0:65400","bytes":5321,"elapsed_ms":12,"failed_attempts":0,"peer":"P3","started_unix_us":1790000000123456,"elapsed_us":12345}"#;
        let event = parse_line(line).unwrap();
        assert_eq!(event.peer, "P3");
        assert_eq!(event.rfc, 10007);
        assert_eq!(
            event.outcome,
            Ended::Downloaded {
                holder: "P0".into(),
                bytes: 5321
            }
        );
        assert_eq!(
            event.started,
            UNIX_EPOCH + Duration::from_micros(1_790_000_000_123_456)
        );
        assert_eq!(event.elapsed, Duration::from_micros(12_345));
        let failed = r#"{"msg":"rfc download failed","rfc":7,"err":"no active peers","peer":"A","started_unix_us":1,"elapsed_us":2}"#;
        assert_eq!(
            parse_line(failed).unwrap().outcome,
            Ended::Failed("no active peers".into())
        );
        assert_eq!(parse_line(r#"{"msg":"registered"}"#), None);
        assert_eq!(parse_line("not json"), None);
        // A line without the peer's name cannot be placed.
        assert_eq!(
            parse_line(r#"{"msg":"rfc downloaded","rfc":1,"holder":"h:1","bytes":1}"#),
            None
        );
    }

    #[test]
    fn a_tail_returns_each_completed_line_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peer.log");
        let mut tail = Tail::new(&path);
        assert!(tail.poll().unwrap().is_empty());
        let line = r#"{"msg":"rfc already held","rfc":5,"peer":"A"}"#;
        std::fs::write(&path, format!("{line}\n{}", &line[..10])).unwrap();
        assert_eq!(tail.poll().unwrap().len(), 1);
        // The half line completes later.
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        std::io::Write::write_all(&mut file, format!("{}\n", &line[10..]).as_bytes()).unwrap();
        let events = tail.poll().unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].outcome, Ended::AlreadyHeld);
        assert!(tail.poll().unwrap().is_empty());
    }
}
