//! A run directory opened for reading or resuming: its config and tokenizer read and checked.

use burn::tensor::Device;
use perplex_data::{CorpusTokenizer, DataDir, Split};
use perplex_model::Gpt;

use super::{CheckpointKind, RunDir, RunDirError};
use crate::TrainError;
use crate::checkpoint::{self, CheckpointMeta};
use crate::config::RunConfig;
use crate::data::{TrainData, corpus_tokenizer};
use crate::mismatch::same_tokenizer;
use crate::summary::RunSummary;

/// A run directory whose config and tokenizer have been read: everything `eval`, `generate`
/// and `train --resume` need, and the checks that its ids mean what they meant in training.
pub struct OpenRun {
    /// The directory.
    pub dir: RunDir,
    /// The run's resolved config.
    pub config: RunConfig,
    /// The run's tokenizer.
    pub tokenizer: CorpusTokenizer,
    /// sha256 of the tokenizer.
    pub fingerprint: String,
}

impl OpenRun {
    /// Loads a checkpoint onto `device`, refusing one trained with another tokenizer.
    pub fn checkpoint(
        &self,
        kind: CheckpointKind,
        device: &Device,
    ) -> Result<(Gpt, CheckpointMeta), TrainError> {
        let path = self.dir.checkpoint(kind);
        let (model, meta) = checkpoint::load(&path, device)?;
        same_tokenizer(
            path.display().to_string(),
            &meta.tokenizer_sha256,
            self.dir.tokenizer().display().to_string(),
            &self.fingerprint,
            "the ids would mean other words",
        )?;
        Ok((model, meta))
    }

    /// Refuses a corpus whose tokenizer (the one the run's config makes from it) is not the
    /// run's: its ids would mean other words, and its perplexity would not be comparable.
    pub fn check_corpus(&self, data_dir: &DataDir) -> Result<(), TrainError> {
        let train = data_dir.read_split(Split::Train)?;
        let tokenizer = corpus_tokenizer(data_dir, self.config.data(), &train)?;
        self.check_corpus_tokenizer(data_dir, &tokenizer.fingerprint()?)
    }

    /// The run's token streams from `data_dir`, refused unless the corpus gives the run's
    /// tokenizer.
    pub fn data(&self, data_dir: &DataDir) -> Result<TrainData, TrainError> {
        let data = TrainData::prepare(data_dir, self.config.data())?;
        self.check_corpus_tokenizer(data_dir, &data.tokenizer.fingerprint()?)?;
        Ok(data)
    }

    /// The run's summary, when it has one.
    pub fn summary(&self) -> Result<Option<RunSummary>, RunDirError> {
        self.dir.read_summary()
    }

    fn check_corpus_tokenizer(&self, data_dir: &DataDir, found: &str) -> Result<(), TrainError> {
        same_tokenizer(
            format!("run {}", self.dir.root().display()),
            &self.fingerprint,
            format!("the corpus in {}", data_dir.root().display()),
            found,
            "this corpus's tokenizer is not the run's, and perplexity is only comparable \
             under one tokenizer. Point --data-dir (or PERPLEX_DATA_DIR) at the corpus the run \
             was trained on",
        )?;
        Ok(())
    }
}
