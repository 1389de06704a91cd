//! The RFC folder: `rfcNNNN.txt` documents, `titles.tsv`, and dotfiles
//! (temporary downloads, the saved cookie). Plain blocking functions; the
//! store runs them off the actor thread where they may be slow.

use crate::wire::RfcNumber;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The titles file's name.
pub const TITLES: &str = "titles.tsv";
/// The saved cookie's file name.
pub const COOKIE_FILE: &str = ".p2p-di-cookie";

/// The file name of RFC `number`.
pub fn file_name(number: RfcNumber) -> String {
    format!("rfc{number}.txt")
}

/// The RFC number of a document file name (`rfc9264.txt`).
pub fn number_of(name: &str) -> Option<RfcNumber> {
    let digits = name.strip_prefix("rfc")?.strip_suffix(".txt")?;
    crate::wire::parse::number(digits.as_bytes())
}

/// A document found in the folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalDocument {
    /// Its number.
    pub number: RfcNumber,
    /// Its title.
    pub title: String,
    /// Its size in bytes.
    pub bytes: u64,
}

/// Reads `titles.tsv` (`NUMBER<TAB>TITLE` per line); lines that do not
/// parse are skipped.
pub fn read_titles(dir: &Path) -> BTreeMap<RfcNumber, String> {
    let Ok(text) = fs::read_to_string(dir.join(TITLES)) else {
        return BTreeMap::new();
    };
    text.lines()
        .filter_map(|line| {
            let (number, title) = line.split_once('\t')?;
            let number = crate::wire::parse::number(number.trim().as_bytes())?;
            let title = title.trim();
            (!title.is_empty()).then(|| (number, title.to_owned()))
        })
        .collect()
}

/// The title a document gives itself: a Markdown `# TITLE {#title}`
/// heading, else the first Markdown heading that is not just `RFC NNNN`,
/// else the centred title line of a classic plain-text RFC. `None` when
/// nothing in the first lines looks like a title.
pub fn title_from_document(text: &str) -> Option<String> {
    let head: Vec<&str> = text.lines().take(400).collect();
    if let Some(title) = head
        .iter()
        .filter(|line| line.contains("{#title}"))
        .find_map(|line| heading(line))
    {
        return Some(title.to_owned());
    }
    if let Some(title) = head
        .iter()
        .filter_map(|line| heading(line))
        .find(|h| !is_rfc_label(h))
    {
        return Some(title.to_owned());
    }
    // A classic RFC: after the header block, a line indented and centred,
    // with no column gaps inside it.
    head.iter()
        .take(80)
        .skip_while(|line| !line.trim().is_empty())
        .map(|line| (line.len() - line.trim_start().len(), line.trim()))
        .find(|(indent, line)| {
            *indent >= 6
                && line.len() >= 6
                && !line.contains("   ")
                && !is_rfc_label(line)
                && line.chars().any(char::is_alphabetic)
        })
        .map(|(_, line)| line.to_owned())
}

/// The text of a Markdown `# ` heading, without a `{#id}` suffix.
fn heading(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("# ")?;
    let rest = rest.split(" {#").next().unwrap_or(rest).trim();
    (!rest.is_empty()).then_some(rest)
}

fn is_rfc_label(text: &str) -> bool {
    let text = text.trim();
    text.strip_prefix("RFC ")
        .is_some_and(|rest| rest.trim().chars().all(|c| c.is_ascii_digit()))
        || text.starts_with("Request for Comments")
}

/// Scans `dir` (creating it if missing) for documents, removes temporary
/// files left by an interrupted download, and gives each document a title
/// (from `titles.tsv`, else the document, else `RFC NNNN`).
pub fn scan(dir: &Path) -> io::Result<Vec<LocalDocument>> {
    fs::create_dir_all(dir)?;
    let titles = read_titles(dir);
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.ends_with(".part") {
            let _ = fs::remove_file(entry.path());
            continue;
        }
        let Some(number) = number_of(&name) else {
            continue;
        };
        let meta = entry.metadata()?;
        if !meta.is_file() {
            continue;
        }
        let title = match titles.get(&number) {
            Some(title) => title.clone(),
            None => read_prefix(&entry.path(), 64 * 1024)
                .ok()
                .and_then(|text| title_from_document(&text))
                .unwrap_or_else(|| format!("RFC {number}")),
        };
        found.push(LocalDocument {
            number,
            title,
            bytes: meta.len(),
        });
    }
    found.sort_by_key(|d| d.number);
    Ok(found)
}

fn read_prefix(path: &Path, limit: u64) -> io::Result<String> {
    let mut bytes = Vec::new();
    File::open(path)?.take(limit).read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Why a document could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// What reached the disk is not what was received.
    #[error("{path}: wrote {written} bytes of {expected}")]
    Short {
        /// The temporary file.
        path: PathBuf,
        /// Bytes on disk.
        written: u64,
        /// Bytes expected.
        expected: u64,
    },
}

/// Saves `body` as RFC `number`: a temporary dotfile, written, its length
/// checked, synced, renamed into place, the folder synced; then its title
/// appended to `titles.tsv`. On any failure the temporary file is removed
/// and nothing else has changed.
pub fn save(dir: &Path, number: RfcNumber, title: &str, body: &[u8]) -> Result<(), SaveError> {
    let final_path = dir.join(file_name(number));
    let temp = dir.join(format!(
        ".rfc{number}.txt.{:016x}.part",
        rand::random::<u64>()
    ));
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |source| SaveError::Io { path, source }
    };
    let result = (|| {
        let mut file = File::create(&temp).map_err(io_err(&temp))?;
        file.write_all(body).map_err(io_err(&temp))?;
        file.sync_all().map_err(io_err(&temp))?;
        let written = file.metadata().map_err(io_err(&temp))?.len();
        if written != body.len() as u64 {
            return Err(SaveError::Short {
                path: temp.clone(),
                written,
                expected: body.len() as u64,
            });
        }
        fs::rename(&temp, &final_path).map_err(io_err(&final_path))?;
        if let Ok(folder) = File::open(dir) {
            let _ = folder.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
        return result;
    }
    if !read_titles(dir).contains_key(&number) {
        let line = format!("{number}\t{}\n", title.replace(['\t', '\r', '\n'], " "));
        let titles = dir.join(TITLES);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&titles)
            .map_err(io_err(&titles))?;
        file.write_all(line.as_bytes()).map_err(io_err(&titles))?;
    }
    Ok(())
}

/// The cookie saved for the RS at `rs`, if any.
pub fn read_cookie(dir: &Path, rs: &str) -> Option<u64> {
    let text = fs::read_to_string(dir.join(COOKIE_FILE)).ok()?;
    let (saved_rs, cookie) = text.trim().split_once('\t')?;
    (saved_rs == rs).then(|| cookie.parse().ok()).flatten()
}

/// Saves the cookie issued by the RS at `rs` (atomically).
pub fn write_cookie(dir: &Path, rs: &str, cookie: u64) -> io::Result<()> {
    let temp = dir.join(format!("{COOKIE_FILE}.part"));
    fs::write(&temp, format!("{rs}\t{cookie}\n"))?;
    fs::rename(&temp, dir.join(COOKIE_FILE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_come_from_the_document_when_titles_tsv_is_silent() {
        let markdown = "  RFC 9264   Linkset   July 2022\n\n# RFC 9264 {#rfcnum}\n\n# Linkset: Media Types {#title}\n";
        assert_eq!(
            title_from_document(markdown).as_deref(),
            Some("Linkset: Media Types")
        );
        let plain_heading = "# RFC 1\n\n# A Plain Heading\n";
        assert_eq!(
            title_from_document(plain_heading).as_deref(),
            Some("A Plain Heading")
        );
        let classic = "Network Working Group                                   J. Postel\nRequest for Comments: 793                                      ISI\n                                                      September 1981\n\n\n                   TRANSMISSION CONTROL PROTOCOL\n";
        assert_eq!(
            title_from_document(classic).as_deref(),
            Some("TRANSMISSION CONTROL PROTOCOL")
        );
        assert_eq!(title_from_document("just text\nmore text\n"), None);
    }

    #[test]
    fn a_scan_uses_titles_tsv_then_the_document_then_the_number() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("rfc1.txt"), "# One {#title}\n").unwrap();
        fs::write(dir.path().join("rfc2.txt"), "# Two {#title}\n").unwrap();
        fs::write(dir.path().join("rfc3.txt"), "no title here\n").unwrap();
        fs::write(dir.path().join("notes.txt"), "x").unwrap();
        fs::write(dir.path().join(".rfc4.txt.abc.part"), "half").unwrap();
        fs::write(dir.path().join(TITLES), "2\tThe Second\nbad line\n").unwrap();
        let docs = scan(dir.path()).unwrap();
        let titles: Vec<_> = docs.iter().map(|d| (d.number, d.title.as_str())).collect();
        assert_eq!(titles, [(1, "One"), (2, "The Second"), (3, "RFC 3")]);
        assert!(!dir.path().join(".rfc4.txt.abc.part").exists());
    }

    #[test]
    fn a_save_leaves_the_document_and_its_title_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        save(dir.path(), 9264, "Linkset\tx", b"body").unwrap();
        save(dir.path(), 9264, "Again", b"body").unwrap();
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["rfc9264.txt", "titles.tsv"]);
        assert_eq!(fs::read(dir.path().join("rfc9264.txt")).unwrap(), b"body");
        assert_eq!(
            fs::read_to_string(dir.path().join(TITLES)).unwrap(),
            "9264\tLinkset x\n"
        );
    }

    #[test]
    fn the_cookie_is_kept_per_rs() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_cookie(dir.path(), "a:1"), None);
        write_cookie(dir.path(), "a:1", 42).unwrap();
        assert_eq!(read_cookie(dir.path(), "a:1"), Some(42));
        assert_eq!(read_cookie(dir.path(), "b:1"), None);
    }
}
