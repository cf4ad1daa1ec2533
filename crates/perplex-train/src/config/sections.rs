//! The sections of a run config: `[data]`, `[model]`, `[train]`, `[monitor]`
//! (`[early_stopping]` is perplex-monitor's [`EarlyStoppingConfig`](perplex_monitor::EarlyStoppingConfig)).

use std::path::PathBuf;

use perplex_model::{GptConfig, Precision};
use perplex_monitor::DetectorConfig;
use serde::{Deserialize, Serialize};

use crate::mismatch::Mismatch;

/// The model's shape as a run config gives it: `vocab_size` is left out (it comes from the
/// tokenizer) except in a run directory's saved config, where it records what was used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Number of token types, when fixed by the file (a run's saved `config.toml`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vocab_size: Option<usize>,
    /// Context length in tokens.
    pub ctx: usize,
    /// Number of transformer blocks.
    pub layers: usize,
    /// Attention heads per block; must divide `d_model`.
    pub heads: usize,
    /// Width of the residual stream.
    pub d_model: usize,
    /// Dropout probability on embeddings and residual branches, in [0, 1).
    pub dropout: f64,
    /// Probability that a token type's input embedding is zeroed for a whole step, in
    /// [0, 1) (see [`GptConfig::word_dropout`]); 0, the default, is off.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub word_dropout: f64,
}

/// Leaves a zero `word_dropout` out of a run's saved config, so configs saved before the
/// key existed read and write back unchanged.
fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

impl ModelConfig {
    /// The model's full shape for a tokenizer of `vocab_size` types; refused when the file
    /// fixed another size.
    pub fn shape(&self, vocab_size: usize) -> Result<GptConfig, Mismatch> {
        if let Some(configured) = self.vocab_size
            && configured != vocab_size
        {
            return Err(Mismatch::Vocab {
                configured,
                tokenizer: vocab_size,
            });
        }
        Ok(GptConfig {
            vocab_size,
            ctx: self.ctx,
            layers: self.layers,
            heads: self.heads,
            d_model: self.d_model,
            dropout: self.dropout,
            word_dropout: self.word_dropout,
        })
    }
}

/// What the monitor measures at each evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorConfig {
    /// Tokens of the fixed train slice (windows of `ctx` spread over the train stream) evaluated in
    /// eval mode at each evaluation, to compare with validation (capped by the stream's length).
    pub train_eval_tokens: usize,
    /// Samples generated at each evaluation for the repetition check (0: none).
    pub samples: usize,
    /// Tokens generated per sample.
    pub sample_tokens: usize,
    /// Softmax temperature of the samples (0: greedy, always the most likely token).
    pub sample_temperature: f64,
    /// Sample from only the this many most likely tokens (0: from all).
    pub sample_top_k: usize,
    /// Thresholds of the signal detectors.
    pub detectors: DetectorConfig,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            train_eval_tokens: 16_384,
            samples: 3,
            sample_tokens: 24,
            sample_temperature: 1.0,
            sample_top_k: 40,
            detectors: DetectorConfig::default(),
        }
    }
}

/// Which part of the corpus a run uses, and how strictly its hygiene is checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// Train on only the first this many tokens of the train split (a smoke run or a small-data
    /// demonstration); the vocabulary is still built from the whole train split.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_train_tokens: Option<usize>,
    /// The data check at the start of training warns when more than this share (0–1) of the
    /// valid or test tokens lie in `ngram`-grams that also occur in train (PTB's natural level:
    /// 0.032 for valid, 0.022 for test).
    pub max_overlap: f64,
    /// Refuse to train, instead of warning, past `max_overlap`.
    pub strict: bool,
    /// Shingle length of the data check, tokens.
    pub ngram: usize,
    /// A `tokenizer.json` to use (from `perplex tokenizer train`), relative to the data
    /// directory unless absolute. Unset: a word-level vocabulary built from the train split
    /// (PTB's convention).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<PathBuf>,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            max_train_tokens: None,
            max_overlap: 0.05,
            strict: false,
            ngram: perplex_data::hygiene::DEFAULT_NGRAM,
            tokenizer: None,
        }
    }
}

/// Optimisation and cadence of a run. Steps are optimizer updates; learning rates are per step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Sequences per training batch.
    pub batch_size: usize,
    /// Optimizer steps in the whole run (also the horizon of the cosine decay).
    pub max_steps: u64,
    /// Peak learning rate, reached at the end of warmup.
    pub lr: f64,
    /// Learning rate at the end of the cosine decay.
    pub min_lr: f64,
    /// Steps of linear warmup from `lr / warmup_steps` to `lr`.
    pub warmup_steps: u64,
    /// AdamW decoupled weight decay, applied to 2-D weights only.
    pub weight_decay: f64,
    /// Clip the global gradient L2 norm to this value (0: no clipping).
    pub grad_clip: f64,
    /// Seed of the initial weights, the data order and dropout.
    pub seed: u64,
    /// Log the mean training loss every this many steps.
    pub log_every: u64,
    /// Run a full validation pass every this many steps (0: only at the end).
    pub eval_every: u64,
    /// Also save the `last` checkpoint and the resumable state every this many steps (0: only
    /// at evaluations).
    #[serde(default)]
    pub checkpoint_every: u64,
    /// Windows per forward pass during evaluation (default: `batch_size`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_batch_size: Option<usize>,
    /// Stop training once the run's wall-clock time (evaluations included, across resumes)
    /// reaches this many seconds, then validate the final model: the "best model in 10
    /// minutes" comparison (`--time-budget-s` of the PyTorch reference). The learning-rate
    /// schedule still follows `max_steps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_budget_s: Option<f64>,
    /// Flush subnormal floats (below 1.18e-38) to zero on every compute thread (default on):
    /// on many Intel CPUs a product over subnormal values runs several times slower. It
    /// changes no value larger than that, so a run where none occurs is bit-identical.
    #[serde(default = "flush_by_default")]
    pub flush_denormals: bool,
    /// The matrix products' number format while training: `"fp32"` (default) or `"bf16"`
    /// (inputs rounded to bf16, f32 accumulation, on Intel AMX; refused on a CPU without
    /// it). Evaluations always multiply in f32, so validation figures stay comparable.
    #[serde(default, skip_serializing_if = "is_fp32")]
    pub precision: Precision,
}

fn is_fp32(precision: &Precision) -> bool {
    *precision == Precision::Fp32
}

fn flush_by_default() -> bool {
    true
}

impl TrainConfig {
    /// Windows per evaluation forward pass.
    pub fn eval_batch(&self) -> usize {
        self.eval_batch_size.unwrap_or(self.batch_size)
    }
}
