//! Command-line values shared by the daemons and the tools, each checked
//! when the command line is parsed (clap value parsers).

use p2p_di_actors::config;
use std::ops::RangeInclusive;

/// `--rs`: a host and a port.
pub fn parse_rs(text: &str) -> Result<String, String> {
    config::valid_rs_address(text)
        .map(|()| text.to_owned())
        .map_err(|err| err.to_string())
}

/// The most RFCs one command asks for (the daemon's queue refuses a batch
/// it cannot take whole, but the list is built here first).
pub const MAX_ASKED: u64 = 1_000_000;

/// An RFC number (`9264`) or a range of them (`9000-9100`).
pub fn parse_rfcs(text: &str) -> Result<RangeInclusive<u32>, String> {
    let number = |part: &str| match part.trim().parse::<u32>() {
        Ok(0) | Err(_) => Err(format!(
            "{text:?}: an RFC is a number from 1 (or a range N-M)"
        )),
        Ok(n) => Ok(n),
    };
    let (first, last) = match text.split_once('-') {
        Some((first, last)) => (number(first)?, number(last)?),
        None => {
            let n = number(text)?;
            (n, n)
        }
    };
    if first > last {
        return Err(format!("{text:?}: a range goes up (N-M with N <= M)"));
    }
    if u64::from(last - first) >= MAX_ASKED {
        return Err(format!("{text:?}: at most {MAX_ASKED} RFCs at once"));
    }
    Ok(first..=last)
}

/// The RFCs of `spans`, in order, each once; an error past [`MAX_ASKED`].
pub fn rfcs_of(spans: &[RangeInclusive<u32>]) -> Result<Vec<u32>, String> {
    let total: u64 = spans
        .iter()
        .map(|s| u64::from(s.end() - s.start()) + 1)
        .sum();
    if total > MAX_ASKED {
        return Err(format!("{total} RFCs asked: at most {MAX_ASKED} at once"));
    }
    let mut seen = std::collections::HashSet::new();
    Ok(spans
        .iter()
        .flat_map(Clone::clone)
        .filter(|n| seen.insert(*n))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_ranges_expand_in_order_each_once() {
        let spans = ["9264", "1-3", "2", "9000-9002"]
            .iter()
            .map(|t| parse_rfcs(t).unwrap())
            .collect::<Vec<_>>();
        assert_eq!(rfcs_of(&spans).unwrap(), [9264, 1, 2, 3, 9000, 9001, 9002]);
    }

    #[test]
    fn bad_numbers_and_ranges_are_refused_by_name() {
        for bad in ["0", "x", "3-1", "-5", "5-", "1-2000000", ""] {
            let err = parse_rfcs(bad).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{bad}: {err}");
        }
        let many = [
            parse_rfcs("1-999999").unwrap(),
            parse_rfcs("2000000-2000001").unwrap(),
        ];
        assert!(rfcs_of(&many).unwrap_err().contains("at most"));
    }
}
