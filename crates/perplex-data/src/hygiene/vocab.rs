//! Unknown words: how much of each split the train vocabulary does not cover.

use serde::{Deserialize, Serialize};

use crate::Split;

/// `<unk>` and out-of-vocabulary rates of one split against the train vocabulary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VocabRates {
    /// The split.
    pub split: Split,
    /// Tokens, `<eos>` included.
    pub tokens: usize,
    /// Tokens that are `<unk>`, written so or mapped there.
    pub unk_tokens: usize,
    /// Words absent from the train vocabulary (a subset of `unk_tokens`).
    pub oov_words: usize,
    /// `unk_tokens / tokens`.
    pub unk_rate: f64,
    /// `oov_words / tokens`.
    pub oov_rate: f64,
}

impl VocabRates {
    /// The rates of `split` encoded as `encoded`.
    pub fn of(split: Split, encoded: &crate::Encoded) -> Self {
        let tokens = encoded.ids.len();
        Self {
            split,
            tokens,
            unk_tokens: encoded.unk_tokens,
            oov_words: encoded.oov_words,
            unk_rate: encoded.unk_tokens as f64 / tokens.max(1) as f64,
            oov_rate: encoded.oov_words as f64 / tokens.max(1) as f64,
        }
    }
}

/// Warnings for held-out splits whose unknown-word rate is far above train's: more than
/// twice train's `<unk>` rate and at least one percentage point above it. Such a split
/// measures the tokenizer's coverage as much as the model.
pub fn vocab_warnings(rates: &[VocabRates]) -> Vec<String> {
    let Some(train) = rates.iter().find(|r| r.split == Split::Train) else {
        return Vec::new();
    };
    rates
        .iter()
        .filter(|r| r.split != Split::Train)
        .filter(|r| r.unk_rate > 2.0 * train.unk_rate && r.unk_rate > train.unk_rate + 0.01)
        .map(|r| {
            format!(
                "{}: {:.2}% of tokens are <unk> ({:.2}% out-of-vocabulary words) against train's \
                 {:.2}%; its perplexity says as much about the vocabulary as about the model",
                r.split,
                100.0 * r.unk_rate,
                100.0 * r.oov_rate,
                100.0 * train.unk_rate
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_held_out_split_far_above_train_in_unknown_words_is_warned_about() {
        let rate = |split: Split, unk: usize| VocabRates {
            split,
            tokens: 1000,
            unk_tokens: unk,
            oov_words: unk / 2,
            unk_rate: unk as f64 / 1000.0,
            oov_rate: unk as f64 / 2000.0,
        };
        // PTB-like: 4.8% train, 4.7% valid, 5.8% test: no warning.
        assert!(
            vocab_warnings(&[
                rate(Split::Train, 48),
                rate(Split::Valid, 47),
                rate(Split::Test, 58)
            ])
            .is_empty()
        );
        let w = vocab_warnings(&[
            rate(Split::Train, 48),
            rate(Split::Valid, 47),
            rate(Split::Test, 120),
        ]);
        assert_eq!(w.len(), 1);
        assert!(
            w[0].starts_with("test: 12.00% of tokens are <unk>"),
            "{}",
            w[0]
        );
    }
}
