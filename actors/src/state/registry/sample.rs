//! Which peers a PQUERY lists at scale: a few contiguous windows of the
//! active lines, so the list is read in runs rather than a record at a
//! time at random (as aquatic answers a large swarm), and with more than
//! one window so that a reply does not list only peers that registered
//! together.
//!
//! Every other active peer is equally likely to be listed: the windows
//! are laid on a circle of the `others` positions (the asker's left out),
//! their starts drawn uniformly and drawn again while two overlap. The
//! draw is the same under every rotation of the circle, so every position
//! is covered with the same probability, whatever the windows' number and
//! lengths.

use std::ops::Range;

/// Draws up to this many times for windows that do not overlap, then
/// takes one window (rare: only when the windows are long for the circle).
const DRAWS: usize = 64;

/// Ranges of positions in `0..others` covering `k` of them (all of them if
/// `k >= others`), in at most four windows, none overlapping; a window
/// that wraps around the circle is two ranges.
pub(super) fn windows(others: usize, k: usize, rng: &mut impl rand::Rng) -> Vec<Range<usize>> {
    if k >= others {
        return std::iter::once(0..others).collect();
    }
    if k == 0 {
        return Vec::new();
    }
    // More windows where they rarely overlap.
    let count = if others >= 16 * k && k >= 4 {
        4
    } else if others >= 4 * k && k >= 2 {
        2
    } else {
        1
    };
    let lengths: Vec<usize> = (0..count)
        .map(|j| k / count + usize::from(j < k % count))
        .collect();
    for _ in 0..DRAWS {
        let starts: Vec<usize> = lengths
            .iter()
            .map(|_| rng.random_range(0..others))
            .collect();
        if !overlapping(others, &starts, &lengths) {
            return circular(others, &starts, &lengths);
        }
    }
    let start = rng.random_range(0..others);
    circular(others, &[start], &[k])
}

/// Whether any two circular windows share a position.
fn overlapping(n: usize, starts: &[usize], lengths: &[usize]) -> bool {
    for (i, (&a, &la)) in starts.iter().zip(lengths).enumerate() {
        for (&b, &lb) in starts[i + 1..].iter().zip(&lengths[i + 1..]) {
            // b starts inside a, or a inside b (distances round the circle).
            if (b + n - a) % n < la || (a + n - b) % n < lb {
                return true;
            }
        }
    }
    false
}

/// The windows as ranges in `0..n`, a wrapping one split in two.
fn circular(n: usize, starts: &[usize], lengths: &[usize]) -> Vec<Range<usize>> {
    let mut ranges = Vec::with_capacity(starts.len() + 1);
    for (&start, &length) in starts.iter().zip(lengths) {
        let end = start + length;
        if end <= n {
            ranges.push(start..end);
        } else {
            ranges.push(start..n);
            ranges.push(0..end - n);
        }
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn covered(ranges: &[Range<usize>]) -> Vec<usize> {
        let mut all: Vec<usize> = ranges.iter().flat_map(Clone::clone).collect();
        all.sort_unstable();
        all
    }

    #[test]
    fn windows_cover_k_distinct_positions_of_the_circle() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for (others, k) in [
            (10, 10),
            (10, 20),
            (1000, 7),
            (1000, 250),
            (1000, 999),
            (64, 4),
        ] {
            for _ in 0..200 {
                let all = covered(&windows(others, k, &mut rng));
                let mut distinct = all.clone();
                distinct.dedup();
                assert_eq!(distinct.len(), all.len(), "{others} {k}: {all:?}");
                assert_eq!(all.len(), k.min(others));
                assert!(all.iter().all(|p| *p < others));
            }
        }
    }

    #[test]
    fn a_large_circle_gets_four_windows_a_small_one_fewer() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let spans = |ranges: Vec<Range<usize>>| {
            // Wrapped windows count once: a range ending at n joined to 0..
            ranges.len()
        };
        assert!((4..=5).contains(&spans(windows(1_000_000, 1000, &mut rng))));
        assert!((2..=3).contains(&spans(windows(5_000, 1000, &mut rng))));
        assert!((1..=2).contains(&spans(windows(1_500, 1000, &mut rng))));
    }

    #[test]
    fn every_position_is_covered_equally_often() {
        // 4 windows of 2 on a circle of 64: each position is covered with
        // probability 8/64 each time.
        let (n, k, draws) = (64, 8, 40_000);
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut hits = vec![0u32; n];
        for _ in 0..draws {
            for p in covered(&windows(n, k, &mut rng)) {
                hits[p] += 1;
            }
        }
        let expected = f64::from(draws) * k as f64 / n as f64;
        for (p, h) in hits.iter().enumerate() {
            // 5,000 expected: 5 standard deviations is about 330.
            assert!(
                (f64::from(*h) - expected).abs() < 350.0,
                "position {p}: {h}, expected {expected}"
            );
        }
    }
}
