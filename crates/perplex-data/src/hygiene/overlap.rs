//! Overlap of held-out text with train: whole lines and `n`-gram shingles, hashed.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::Split;

/// Default shingle length, in tokens: 13-grams, the contamination check of GPT-3's paper.
pub const DEFAULT_NGRAM: usize = 13;

/// At most this many example lines are kept per split.
const EXAMPLES: usize = 5;

/// A line with whitespace runs collapsed to single spaces and its ends trimmed.
pub fn normalize(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// 64-bit FNV-1a of `bytes`, continuing from `state` (start with [`FNV_OFFSET`]).
pub fn fnv1a(state: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(state, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// FNV-1a's initial state.
pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn line_hash(normalized: &str) -> u64 {
    fnv1a(FNV_OFFSET, normalized.as_bytes())
}

/// The words of a line followed by the end-of-line marker.
fn tokens(line: &str) -> Vec<&str> {
    line.split_whitespace()
        .chain(std::iter::once(crate::tokenizer::EOS))
        .collect()
}

/// The hashes of every `n`-token window of `toks` (none when the line is shorter than `n`).
fn shingles<'a>(toks: &'a [&'a str], n: usize) -> impl Iterator<Item = u64> + 'a {
    toks.windows(n).map(|w| {
        w.iter()
            .fold(FNV_OFFSET, |h, t| fnv1a(fnv1a(h, t.as_bytes()), b" "))
    })
}

/// What train holds, hashed: its lines and its `n`-gram shingles.
#[derive(Debug, Clone)]
pub struct TrainIndex {
    n: usize,
    lines: HashSet<u64>,
    shingles: HashSet<u64>,
    /// Non-empty train lines indexed.
    pub line_count: usize,
}

impl TrainIndex {
    /// Hashes every line of `train` and every `n`-gram of its token stream.
    pub fn new(train: &[String], n: usize) -> Self {
        let n = n.max(1);
        let mut lines = HashSet::with_capacity(train.len());
        let mut line_count = 0;
        let norms: Vec<String> = train.iter().map(|l| normalize(l)).collect();
        for norm in norms.iter().filter(|l| !l.is_empty()) {
            line_count += 1;
            lines.insert(line_hash(norm));
        }
        let stream = token_stream(&norms);
        Self {
            n,
            lines,
            shingles: shingles(&stream, n).collect(),
            line_count,
        }
    }

    /// The overlap of one held-out `split` with train.
    pub fn overlap(&self, split: Split, held_out: &[String]) -> Overlap {
        let norms: Vec<String> = held_out.iter().map(|l| normalize(l)).collect();
        let mut o = Overlap {
            split,
            lines: 0,
            lines_in_train: 0,
            tokens: 0,
            tokens_in_train_ngrams: 0,
            line_share: 0.0,
            token_share: 0.0,
            examples: Vec::new(),
        };
        for (i, norm) in norms.iter().enumerate().filter(|(_, l)| !l.is_empty()) {
            o.lines += 1;
            if self.lines.contains(&line_hash(norm)) {
                o.lines_in_train += 1;
                if o.examples.len() < EXAMPLES {
                    o.examples.push(Example {
                        line: i + 1,
                        text: norm.clone(),
                    });
                }
            }
        }
        let stream = token_stream(&norms);
        let mut covered = vec![false; stream.len()];
        for (start, h) in shingles(&stream, self.n).enumerate() {
            if self.shingles.contains(&h) {
                covered[start..start + self.n].fill(true);
            }
        }
        o.tokens = stream.len();
        o.tokens_in_train_ngrams = covered.iter().filter(|&&c| c).count();
        o.line_share = o.lines_in_train as f64 / o.lines.max(1) as f64;
        o.token_share = o.tokens_in_train_ngrams as f64 / o.tokens.max(1) as f64;
        o
    }
}

/// A split as one token stream: each non-empty line's words followed by `<eos>`, as the model
/// reads it. Shingles run across line ends, so a copied block of short lines is caught too.
fn token_stream(norms: &[String]) -> Vec<&str> {
    norms
        .iter()
        .filter(|l| !l.is_empty())
        .flat_map(|l| tokens(l))
        .collect()
}

/// A held-out line that also occurs in train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    /// 1-based line number in the held-out file.
    pub line: usize,
    /// The normalised text.
    pub text: String,
}

/// How much of one held-out split also occurs in train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overlap {
    /// The held-out split (valid, test).
    pub split: Split,
    /// Non-empty lines.
    pub lines: usize,
    /// Of those, lines whose normalised text is also a train line.
    pub lines_in_train: usize,
    /// Tokens (words plus one `<eos>` per line).
    pub tokens: usize,
    /// Of those, tokens inside an `n`-gram that also occurs in train.
    pub tokens_in_train_ngrams: usize,
    /// `lines_in_train / lines`.
    pub line_share: f64,
    /// `tokens_in_train_ngrams / tokens`.
    pub token_share: f64,
    /// The first few overlapping lines.
    pub examples: Vec<Example>,
}

/// The whole check: train's size, the shingle length, and each held-out split's overlap.
/// A split passes when its token share is at or below the threshold: the line share is
/// reported beside it but not judged, because short common lines ("terms were n't
/// disclosed") repeat naturally, while a copied block of text is caught by its n-grams
/// whatever its line lengths.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataCheck {
    /// Shingle length, tokens.
    pub ngram: usize,
    /// Non-empty train lines.
    pub train_lines: usize,
    /// One entry per held-out split.
    pub splits: Vec<Overlap>,
    /// The threshold the check was judged against (a share, 0–1).
    pub max_overlap: f64,
    /// Whether every split's token share is at or below `max_overlap`.
    pub passed: bool,
}

impl DataCheck {
    /// Checks each `(split, lines)` of `held_out` against `train` with `n`-gram shingles.
    pub fn run(train: &[String], held_out: &[(Split, &[String])], n: usize, max: f64) -> Self {
        let index = TrainIndex::new(train, n);
        let splits: Vec<Overlap> = held_out
            .iter()
            .map(|&(split, lines)| index.overlap(split, lines))
            .collect();
        let passed = splits.iter().all(|o| o.token_share <= max);
        Self {
            ngram: index.n,
            train_lines: index.line_count,
            splits,
            max_overlap: max,
            passed,
        }
    }

    /// The split with the largest token share.
    pub fn worst(&self) -> Option<&Overlap> {
        self.splits
            .iter()
            .max_by(|a, b| a.token_share.total_cmp(&b.token_share))
    }

    /// One line per split, for logs: "valid: 0.9% of lines, 1.2% of tokens (13-grams) also in
    /// train".
    pub fn summary(&self) -> Vec<String> {
        self.splits
            .iter()
            .map(|o| {
                format!(
                    "{}: {:.2}% of lines ({} of {}) and {:.2}% of tokens ({}-grams) also occur in train",
                    o.split,
                    100.0 * o.line_share,
                    o.lines_in_train,
                    o.lines,
                    100.0 * o.token_share,
                    self.ngram
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// Unique lines of 20 words each: no line or 13-gram repeats.
    fn unique_lines(n: usize, tag: &str) -> Vec<String> {
        (0..n)
            .map(|i| {
                (0..20)
                    .map(|j| format!("{tag}{i}x{j}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    #[test]
    fn a_planted_overlap_is_reported_at_its_planted_share() {
        let mut train = unique_lines(500, "t");
        let valid = unique_lines(200, "v");
        // Plant 10 of valid's 200 lines (5%) into train, with different spacing.
        for line in valid.iter().step_by(20) {
            train.push(format!("  {}  ", line.replace(' ', "\t")));
        }
        let check = DataCheck::run(&train, &[(Split::Valid, &valid)], 13, 0.01);
        let o = &check.splits[0];
        assert_eq!((o.lines_in_train, o.lines), (10, 200));
        assert_eq!(o.line_share, 0.05);
        // Every token of a planted line is covered by its 13-grams, and so is the `<eos>`
        // before each of the 9 that follow another line (train also has "<eos> + 12 words"
        // there); no other token is.
        assert_eq!(o.tokens_in_train_ngrams, 10 * 21 + 9);
        assert_eq!(o.tokens, 200 * 21);
        assert_eq!(o.examples[0].line, 1);
        assert!(!check.passed, "5% is past the 1% threshold");
        let clean = DataCheck::run(&unique_lines(50, "t"), &[(Split::Valid, &valid)], 13, 0.01);
        assert_eq!(clean.splits[0].token_share, 0.0);
        assert!(clean.passed);
    }

    #[test]
    fn a_copied_passage_is_caught_by_shingles_even_across_different_lines() {
        let passage = "a b c d e f g h i j k l m n o p";
        let train = lines(&[&format!("x y {passage} z")]);
        let valid = lines(&[passage, "q r s"]);
        let o = &DataCheck::run(&train, &[(Split::Valid, &valid)], 13, 0.5).splits[0];
        assert_eq!(o.lines_in_train, 0);
        // The 16 words of the passage are covered by its 13-grams; its <eos> is not (train
        // goes on with "z"), nor are the 4 tokens of "q r s <eos>".
        assert_eq!(o.tokens_in_train_ngrams, 16);
        assert_eq!(o.tokens, 21);
    }

    #[test]
    fn a_copied_block_of_short_lines_is_caught_across_line_ends() {
        let block: Vec<String> = (0..6).map(|i| format!("s{i} t{i}")).collect();
        let mut train = lines(&["alpha beta"]);
        train.extend(block.iter().cloned());
        let mut valid = block.clone();
        valid.push("omega".into());
        let o = &DataCheck::run(&train, &[(Split::Valid, &valid)], 13, 0.5).splits[0];
        // 6 lines of 3 tokens: 18 tokens, all inside 13-grams found in train; "omega <eos>"
        // is not.
        assert_eq!((o.tokens_in_train_ngrams, o.tokens), (18, 20));
        assert_eq!(o.lines_in_train, 6);
    }
}
