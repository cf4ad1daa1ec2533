//! Repetition diagnostics of generated samples: a model that repeats the same phrase forever
//! can still have a fine perplexity, so samples are checked on their own.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

/// How repetitive a token sequence is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Repetition {
    /// Distinct tokens / tokens (1: no word repeats).
    pub distinct_1: f64,
    /// Distinct bigrams / bigrams.
    pub distinct_2: f64,
    /// Share of 4-grams that occurred earlier in the sequence.
    pub repeated_4gram_share: f64,
    /// Tokens covered by the longest stretch that repeats one period over and over
    /// (e.g. "a b c a b c a b c" covers 9 with period 3); 0 when nothing repeats twice.
    pub longest_loop: usize,
}

impl Repetition {
    /// Measures `tokens`.
    pub fn of(tokens: &[u32]) -> Self {
        Self {
            distinct_1: distinct(tokens, 1),
            distinct_2: distinct(tokens, 2),
            repeated_4gram_share: repeated_share(tokens, 4),
            longest_loop: longest_loop(tokens),
        }
    }

    /// Whether the sample is degenerate: fewer than 30% distinct bigrams, more than half of
    /// its 4-grams repeated, or a loop covering half of it.
    pub fn is_degenerate(&self, len: usize) -> bool {
        self.distinct_2 < 0.3
            || self.repeated_4gram_share > 0.5
            || self.longest_loop * 2 >= len.max(8)
    }
}

/// One generated sample, as logged at an evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// The prompt text.
    pub prompt: String,
    /// The generated continuation (prompt excluded).
    pub text: String,
    /// Number of generated tokens.
    pub tokens: usize,
    /// How repetitive the continuation is.
    pub repetition: Repetition,
}

impl Sample {
    /// A sample from its prompt, text and generated token ids.
    pub fn new(prompt: String, text: String, generated: &[u32]) -> Self {
        Self {
            prompt,
            text,
            tokens: generated.len(),
            repetition: Repetition::of(generated),
        }
    }

    /// Whether the continuation is degenerate (see [`Repetition::is_degenerate`]).
    pub fn is_degenerate(&self) -> bool {
        self.repetition.is_degenerate(self.tokens)
    }
}

fn distinct(tokens: &[u32], n: usize) -> f64 {
    if tokens.len() < n {
        return 1.0;
    }
    let grams: HashSet<&[u32]> = tokens.windows(n).collect();
    grams.len() as f64 / (tokens.len() - n + 1) as f64
}

fn repeated_share(tokens: &[u32], n: usize) -> f64 {
    if tokens.len() < n {
        return 0.0;
    }
    let mut seen = HashMap::new();
    let mut repeated = 0;
    for gram in tokens.windows(n) {
        if seen.insert(gram, ()).is_some() {
            repeated += 1;
        }
    }
    repeated as f64 / (tokens.len() - n + 1) as f64
}

/// The longest run in which `tokens[i] == tokens[i - p]` for some period `p`, counting the
/// first period too; only runs that repeat at least twice count.
fn longest_loop(tokens: &[u32]) -> usize {
    let mut best = 0;
    for period in 1..=tokens.len() / 2 {
        let mut run = 0;
        for i in period..tokens.len() {
            if tokens[i] == tokens[i - period] {
                run += 1;
                if run >= period {
                    best = best.max(run + period);
                }
            } else {
                run = 0;
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loop_is_degenerate_and_varied_text_is_not() {
        let looped: Vec<u32> = [1, 2, 3].iter().copied().cycle().take(30).collect();
        let r = Repetition::of(&looped);
        assert_eq!(r.longest_loop, 30);
        assert!(r.repeated_4gram_share > 0.8);
        assert!(r.is_degenerate(looped.len()));

        let varied: Vec<u32> = (0..30).map(|i| (i * 7 % 23) as u32).collect();
        let r = Repetition::of(&varied);
        assert_eq!(r.distinct_1, 23.0 / 30.0);
        assert!(!r.is_degenerate(varied.len()), "{r:?}");
    }

    #[test]
    fn measures_are_exact_on_a_hand_checked_sequence() {
        // a b a b c: bigrams ab ba ab bc -> 3 distinct of 4; loop "a b a b" covers 4.
        let r = Repetition::of(&[0, 1, 0, 1, 2]);
        assert_eq!(r.distinct_1, 3.0 / 5.0);
        assert_eq!(r.distinct_2, 3.0 / 4.0);
        assert_eq!(r.repeated_4gram_share, 0.0);
        assert_eq!(r.longest_loop, 4);
    }
}
