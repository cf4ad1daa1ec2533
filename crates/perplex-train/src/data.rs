//! The token streams a run trains and validates on, and the tokenizer that made them.

use perplex_data::tokenizer::stream_fingerprint;
use perplex_data::{CorpusTokenizer, DataDir, Split};
use serde::{Deserialize, Serialize};

use crate::TrainError;
use crate::config::DataConfig;

/// sha256 of a run's token streams (ids as little-endian u32): a resumed run must see the same
/// data, or its best loss and its curves would mix two datasets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamFingerprints {
    /// The train stream (after `data.max_train_tokens`).
    pub train: String,
    /// The validation stream.
    pub valid: String,
}

/// The token streams a run trains and validates on, and the tokenizer that made them.
pub struct TrainData {
    /// The run's tokenizer (`data.tokenizer`, else word-level from the train split).
    pub tokenizer: CorpusTokenizer,
    /// The train stream (possibly capped by `data.max_train_tokens`).
    pub train: Vec<u32>,
    /// The validation stream.
    pub valid: Vec<u32>,
    /// Characters of the validation text (each line and its line break), for bits per
    /// character.
    pub valid_chars: u64,
}

impl TrainData {
    /// Reads train and valid from `dir` and prepares them (see [`TrainData::from_lines`]).
    pub fn prepare(dir: &DataDir, config: &DataConfig) -> Result<Self, TrainError> {
        let train_lines = dir.read_split(Split::Train)?;
        let valid_lines = dir.read_split(Split::Valid)?;
        Self::from_lines(dir, config, &train_lines, &valid_lines)
    }

    /// Makes the tokenizer `config` names (by default a word-level vocabulary from the whole
    /// train split) and encodes train and valid; `max_train_tokens` keeps only the head of the
    /// train stream. `dir` locates `config.tokenizer`.
    pub fn from_lines(
        dir: &DataDir,
        config: &DataConfig,
        train_lines: &[String],
        valid_lines: &[String],
    ) -> Result<Self, TrainError> {
        let tokenizer = corpus_tokenizer(dir, config, train_lines)?;
        let mut train = tokenizer.encode_lines(train_lines)?.ids;
        if let Some(cap) = config.max_train_tokens {
            train.truncate(cap);
        }
        let valid = tokenizer.encode_lines(valid_lines)?.ids;
        let valid_chars = valid_lines
            .iter()
            .map(|l| l.chars().count() as u64 + 1)
            .sum();
        Ok(Self {
            tokenizer,
            train,
            valid,
            valid_chars,
        })
    }
}

impl TrainData {
    /// The fingerprints of the train and valid streams, which a resumed run must match.
    pub fn fingerprints(&self) -> StreamFingerprints {
        StreamFingerprints {
            train: stream_fingerprint(&self.train),
            valid: stream_fingerprint(&self.valid),
        }
    }
}

/// The tokenizer a run on `dir` uses: the file `config.tokenizer` names (relative to the data
/// directory), or the word-level vocabulary of `train_lines`.
pub fn corpus_tokenizer(
    dir: &DataDir,
    config: &DataConfig,
    train_lines: &[String],
) -> Result<CorpusTokenizer, TrainError> {
    let Some(name) = &config.tokenizer else {
        return Ok(CorpusTokenizer::from_train_lines(train_lines)?);
    };
    let path = dir.root().join(name);
    if !path.is_file() {
        return Err(TrainError::NoTokenizer {
            path,
            name: name.clone(),
            train: dir.split_path(Split::Train),
        });
    }
    Ok(CorpusTokenizer::load(&path)?)
}
