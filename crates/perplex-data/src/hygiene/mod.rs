//! Data hygiene: how much of the held-out text also occurs in train, and splitting a corpus
//! so that it cannot.
//!
//! Lines are compared after whitespace normalisation (runs of whitespace become one space,
//! ends trimmed). Overlap is measured two ways per held-out split:
//!
//! - **lines**: the share of non-empty lines whose normalised text is also a line of train;
//! - **tokens**: the share of tokens covered by at least one `n`-gram (a shingle of `n`
//!   consecutive tokens of a line followed by its `<eos>`) that also occurs in train. Long
//!   copied passages show up here even when the line breaks differ.
//!
//! Hashes are 64-bit FNV-1a over the normalised text: stable across machines and versions,
//! so a hash split is reproducible, and with a few million shingles the chance of a false
//! match stays below 1e-6.

mod overlap;
mod split;
mod vocab;

use serde::{Deserialize, Serialize};

use crate::Split;

pub use overlap::{
    DEFAULT_NGRAM, DataCheck, Example, FNV_OFFSET, Overlap, TrainIndex, fnv1a, normalize,
};
pub use split::{SplitShares, assign, hash_split};
pub use vocab::{VocabRates, vocab_warnings};

/// Everything `perplex data check` and the start of `perplex train` report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HygieneReport {
    /// Overlap of valid and test with train.
    pub overlap: DataCheck,
    /// `<unk>` and OOV rates of every split.
    pub vocab: Vec<VocabRates>,
    /// Vocabulary warnings (see [`vocab_warnings`]).
    pub warnings: Vec<String>,
}

impl HygieneReport {
    /// Checks `corpus` with `n`-gram shingles against the threshold `max_overlap`, and the
    /// vocabulary rates under `tokenizer`.
    pub fn run(
        corpus: &crate::Corpus,
        tokenizer: &crate::CorpusTokenizer,
        n: usize,
        max_overlap: f64,
    ) -> Result<Self, crate::DataError> {
        // A split with no lines (a check given no test file) is left out rather than
        // reported as 0 of 0.
        let present: Vec<Split> = Split::ALL
            .into_iter()
            .filter(|&s| !corpus.split(s).is_empty())
            .collect();
        let held_out: Vec<(Split, &[String])> = present
            .iter()
            .filter(|&&s| s != Split::Train)
            .map(|&s| (s, corpus.split(s)))
            .collect();
        let overlap = DataCheck::run(&corpus.train, &held_out, n, max_overlap);
        let vocab = present
            .iter()
            .map(|&s| Ok(VocabRates::of(s, &tokenizer.encode_lines(corpus.split(s))?)))
            .collect::<Result<Vec<_>, crate::DataError>>()?;
        let warnings = vocab_warnings(&vocab);
        Ok(Self {
            overlap,
            vocab,
            warnings,
        })
    }
}
