//! The documents an experiment distributes: generated, deterministic from
//! a seed, with sizes and titles like real RFCs; or read from a real RFC
//! folder (`--corpus DIR`).

use anyhow::Context as _;
use p2p_di_actors::peer::folder;
use std::path::Path;

/// One document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doc {
    /// Its RFC number.
    pub number: u32,
    /// Its title.
    pub title: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// The documents, by number.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// The documents.
    pub docs: Vec<Doc>,
    /// Where they came from, in words.
    pub source: String,
}

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }

    /// A standard normal draw (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u = self.unit().max(f64::MIN_POSITIVE);
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

const SUBJECTS: &[&str] = &[
    "Path MTU",
    "Resource Record",
    "Link Relation",
    "Congestion Control",
    "Channel Binding",
    "Segment Routing",
    "Certificate Transparency",
    "Media Type",
    "Transport Parameter",
    "Key Exchange",
    "Flow Label",
    "Service Binding",
    "Authentication Header",
    "Datagram",
    "Multipath Transport",
    "Zone Transfer",
    "Session Resumption",
    "Network Slice",
];
const ACTIONS: &[&str] = &[
    "Discovery",
    "Extensions",
    "Considerations",
    "Registration Procedures",
    "Signaling",
    "Requirements",
    "Framework",
    "Encoding",
    "Operational Guidance",
    "Negotiation",
];
const CONTEXTS: &[&str] = &[
    "IPv6",
    "TLS 1.3",
    "QUIC",
    "the Domain Name System (DNS)",
    "HTTP/3",
    "BGP",
    "the Locator/ID Separation Protocol (LISP)",
    "MPLS Networks",
    "OAuth 2.0",
    "JSON",
    "Constrained Devices",
    "the Internet of Things",
];
const WORDS: &[&str] = &[
    "the",
    "protocol",
    "MUST",
    "SHOULD",
    "implementation",
    "message",
    "field",
    "value",
    "receiver",
    "sender",
    "option",
    "network",
    "document",
    "section",
    "defined",
    "MAY",
    "security",
    "considerations",
    "registry",
    "IANA",
    "packet",
    "header",
    "length",
    "octets",
    "this",
    "specification",
    "describes",
    "a",
    "of",
    "to",
    "in",
    "and",
    "is",
    "for",
];

/// Sizes for `n` documents: log-normal draws, then the smallest set to
/// `min`, the largest to `max`, and the rest scaled to make the mean `mean`.
fn sizes(rng: &mut Rng, n: usize, mean: f64, min: f64, max: f64) -> Vec<usize> {
    let sigma: f64 = 0.9;
    let mu = mean.ln() - sigma * sigma / 2.0;
    let mut raw: Vec<f64> = (0..n)
        .map(|_| (mu + sigma * rng.normal()).exp().clamp(min, max))
        .collect();
    if n >= 2 {
        let (lo, hi) = extremes(&raw);
        raw[lo] = min;
        raw[hi] = max;
        let fixed = min + max;
        let others: f64 = raw.iter().sum::<f64>() - fixed;
        let want = mean * n as f64 - fixed;
        if others > 0.0 && want > 0.0 {
            let scale = want / others;
            for (i, size) in raw.iter_mut().enumerate() {
                if i != lo && i != hi {
                    *size = (*size * scale).clamp(min, max);
                }
            }
        }
    }
    raw.into_iter().map(|s| s.round() as usize).collect()
}

fn extremes(values: &[f64]) -> (usize, usize) {
    let mut lo = 0;
    let mut hi = 0;
    for (i, v) in values.iter().enumerate() {
        if *v < values[lo] {
            lo = i;
        }
        if *v > values[hi] {
            hi = i;
        }
    }
    if lo == hi {
        hi = (lo + 1) % values.len();
    }
    (lo, hi)
}

/// Generates `n` documents numbered from 10001, deterministic from `seed`;
/// sizes are multiplied by `scale` (1.0: mean about 77 KB, 6 KB to 400 KB).
pub fn generate(n: usize, seed: u64, scale: f64) -> Corpus {
    let mut rng = Rng(seed);
    let scale = scale.max(0.001);
    let sizes = sizes(
        &mut rng,
        n,
        77_000.0 * scale,
        6_000.0 * scale,
        400_000.0 * scale,
    );
    let docs = sizes
        .into_iter()
        .enumerate()
        .map(|(i, size)| {
            let number = 10_001 + i as u32;
            let title = match rng.next() % 3 {
                0 => format!("{} {} for {}", rng.pick(SUBJECTS), rng.pick(ACTIONS), rng.pick(CONTEXTS)),
                1 => format!("{} in {}", rng.pick(SUBJECTS), rng.pick(CONTEXTS)),
                _ => format!("{}: {} {}", rng.pick(CONTEXTS), rng.pick(SUBJECTS), rng.pick(ACTIONS)),
            };
            let mut text = format!(
                "  RFC {number}        {}        November 2026\n\n# RFC {number} {{#rfcnum}}\n\n# {title} {{#title}}\n\n",
                title.split(' ').next().unwrap_or("RFC")
            );
            let mut column = 0;
            while text.len() < size {
                let word = rng.pick(WORDS);
                column += word.len() + 1;
                text.push_str(word);
                if column > 68 {
                    text.push('\n');
                    column = 0;
                } else {
                    text.push(' ');
                }
            }
            let mut bytes = text.into_bytes();
            bytes.truncate(size);
            Doc { number, title, bytes }
        })
        .collect();
    Corpus {
        docs,
        source: format!("generated: {n} documents, seed {seed}, size scale {scale}"),
    }
}

/// Reads the documents of a real RFC folder (`rfcNNNN.txt`, `titles.tsv`).
pub fn load(dir: &Path) -> anyhow::Result<Corpus> {
    let found =
        folder::scan(dir).with_context(|| format!("reading the corpus {}", dir.display()))?;
    anyhow::ensure!(
        !found.documents.is_empty(),
        "{}: no rfcNNNN.txt documents",
        dir.display()
    );
    let docs = found
        .documents
        .into_iter()
        .map(|doc| {
            let path = dir.join(folder::file_name(doc.number));
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            Ok(Doc {
                number: doc.number,
                title: doc.title,
                bytes,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Corpus {
        source: format!("{} ({} documents)", dir.display(), docs.len()),
        docs,
    })
}

/// Writes documents `docs` of `corpus` into `dir`, with their titles.
pub fn install(corpus: &Corpus, docs: &[usize], dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut titles = String::new();
    for &d in docs {
        let doc = &corpus.docs[d];
        let path = dir.join(folder::file_name(doc.number));
        std::fs::write(&path, &doc.bytes).with_context(|| format!("writing {}", path.display()))?;
        titles.push_str(&format!("{}\t{}\n", doc.number, doc.title));
    }
    if !docs.is_empty() {
        let path = dir.join(folder::TITLES);
        std::fs::write(&path, titles).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_corpus_is_deterministic_and_shaped_like_real_rfcs() {
        let a = generate(60, 7, 1.0);
        let b = generate(60, 7, 1.0);
        assert_eq!(a.docs, b.docs);
        let sizes: Vec<usize> = a.docs.iter().map(|d| d.bytes.len()).collect();
        let mean = sizes.iter().sum::<usize>() as f64 / 60.0;
        assert!((70_000.0..84_000.0).contains(&mean), "mean {mean}");
        assert_eq!(*sizes.iter().min().unwrap(), 6_000);
        assert_eq!(*sizes.iter().max().unwrap(), 400_000);
        assert_ne!(generate(60, 8, 1.0).docs, a.docs);
    }

    #[test]
    fn a_generated_document_names_its_own_title() {
        let corpus = generate(3, 1, 0.1);
        for doc in &corpus.docs {
            let text = String::from_utf8_lossy(&doc.bytes);
            assert_eq!(
                folder::title_from_document(&text).as_deref(),
                Some(doc.title.as_str())
            );
        }
    }
}
