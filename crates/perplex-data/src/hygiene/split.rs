//! Splitting a corpus by a hash of each line, so that identical lines never straddle splits.

use super::overlap::{FNV_OFFSET, fnv1a, normalize};
use crate::{Corpus, Split};

/// Shares of a hash split, each in [0, 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitShares {
    /// Share of lines for valid.
    pub valid: f64,
    /// Share of lines for test.
    pub test: f64,
    /// Seed mixed into every line's hash: another seed, another split.
    pub seed: u64,
}

/// Which split a line belongs to under a hash split: a function of its normalised text and the
/// seed only, so identical lines always land together and never straddle splits. `None` for
/// an empty line.
pub fn assign(line: &str, shares: &SplitShares) -> Option<Split> {
    let norm = normalize(line);
    if norm.is_empty() {
        return None;
    }
    let h = fnv1a(
        fnv1a(FNV_OFFSET, &shares.seed.to_le_bytes()),
        norm.as_bytes(),
    );
    // FNV's low bits mix poorly for short inputs; a final avalanche (splitmix64's) fixes that.
    let u = splitmix_finish(h) as f64 / (u64::MAX as f64 + 1.0);
    Some(if u < shares.valid {
        Split::Valid
    } else if u < shares.valid + shares.test {
        Split::Test
    } else {
        Split::Train
    })
}

/// Splits `lines` by [`assign`]: each non-empty line, trimmed, into the split its hash picks.
pub fn hash_split(lines: &[String], shares: &SplitShares) -> Corpus {
    let mut corpus = Corpus {
        train: Vec::new(),
        valid: Vec::new(),
        test: Vec::new(),
    };
    for line in lines {
        let Some(split) = assign(line, shares) else {
            continue;
        };
        let text = line.trim().to_owned();
        match split {
            Split::Train => corpus.train.push(text),
            Split::Valid => corpus.valid.push(text),
            Split::Test => corpus.test.push(text),
        }
    }
    corpus
}

fn splitmix_finish(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_splitting_keeps_duplicates_together_and_follows_the_shares() {
        let shares = SplitShares {
            valid: 0.1,
            test: 0.1,
            seed: 7,
        };
        let corpus: Vec<String> = (0..5000).map(|i| format!("w{i} x{i} y{i}")).collect();
        let mut counts = [0usize; 3];
        for line in &corpus {
            let split = assign(line, &shares).unwrap();
            // The same text with other spacing lands in the same split.
            assert_eq!(assign(&format!(" {line} "), &shares), Some(split));
            counts[split as usize] += 1;
        }
        // 10% ± 4 standard deviations of a binomial(5000, 0.1).
        for &c in &counts[1..] {
            assert!((c as f64 - 500.0).abs() < 4.0 * 450f64.sqrt(), "{counts:?}");
        }
        assert_eq!(assign("   ", &shares), None);
        let other = SplitShares { seed: 8, ..shares };
        assert!(
            corpus
                .iter()
                .any(|l| assign(l, &other) != assign(l, &shares))
        );
    }
    #[test]
    fn a_hash_split_puts_every_line_where_assign_says() {
        let shares = SplitShares {
            valid: 0.2,
            test: 0.2,
            seed: 1,
        };
        let lines: Vec<String> = (0..300)
            .map(|i| format!(" a{i} b "))
            .chain(["  ".into()])
            .collect();
        let corpus = hash_split(&lines, &shares);
        assert_eq!(
            corpus.train.len() + corpus.valid.len() + corpus.test.len(),
            300
        );
        for split in Split::ALL {
            assert!(
                corpus
                    .split(split)
                    .iter()
                    .all(|l| assign(l, &shares) == Some(split))
            );
        }
        assert_eq!(corpus.valid[0], corpus.valid[0].trim());
    }
}
