//! The tools: `p2p-di ctl` (a running daemon, through its admin
//! endpoint), `p2p-di index` (one GET RFC-Index exchange) and `p2p-di get`
//! (a peer for the length of some downloads).
//!
//! The seeds' interactive menu maps to these verbs one to one: register
//! (`ctl join`), query the peer list (`ctl peers`), query an index
//! (`ctl index --refresh`, or `p2p-di index HOST:PORT`), download
//! (`ctl get N`), leave (`ctl leave`).
//!
//! - `endpoint.rs`: finding a daemon's admin endpoint, typed calls to it.
//! - `ctl.rs`: `p2p-di ctl`, one function per verb.
//! - `follow.rs`: downloads followed to their end (progress, JSON lines,
//!   summary), for `ctl get` and `get`.
//! - `index.rs`, `get.rs`: `p2p-di index`, `p2p-di get`.

pub mod ctl;
mod endpoint;
mod follow;
pub mod get;
pub mod index;

/// Prints `value` as pretty JSON.
fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints rows under headers, each column as wide as its widest cell; a
/// header written `>NAME` right-aligns its column (numbers).
fn print_table(headers: &[&str], rows: Vec<Vec<String>>) {
    print!("{}", table(headers, &rows));
}

fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let right: Vec<bool> = headers.iter().map(|h| h.starts_with('>')).collect();
    let headers: Vec<&str> = headers.iter().map(|h| h.trim_start_matches('>')).collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            let last = i + 1 == cells.len();
            if right.get(i).copied().unwrap_or(false) {
                text.push_str(&" ".repeat(pad));
                text.push_str(cell);
            } else {
                text.push_str(cell);
                if !last {
                    text.push_str(&" ".repeat(pad));
                }
            }
            if !last {
                text.push_str("  ");
            }
        }
        text.truncate(text.trim_end().len());
        text.push('\n');
        text
    };
    let mut text = line(headers.clone());
    for row in rows {
        text.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    text
}

/// A cell: the value, or `-` for none.
fn cell<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// `done/length (P%)`, or what is known of it.
fn progress(done: u64, length: Option<u64>) -> String {
    match length {
        Some(length) if length > 0 => format!("{done}/{length} ({}%)", done * 100 / length),
        _ => done.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_their_columns() {
        let text = table(
            &[">RFC", "TITLE", ">TTL"],
            &[
                vec!["9264".into(), "Linkset".into(), "7200".into()],
                vec!["1".into(), "A".into(), "5".into()],
            ],
        );
        assert_eq!(
            text,
            " RFC  TITLE     TTL\n9264  Linkset  7200\n   1  A           5\n"
        );
    }
}
