//! Run configuration: a TOML file, `--set key=value` overrides, and the checks that refuse a
//! run before it starts rather than an hour into it.

use std::path::{Path, PathBuf};

use perplex_model::GptConfig;
use perplex_monitor::{DetectorConfig, EarlyStoppingConfig};
use serde::{Deserialize, Serialize};

/// Everything that defines a run, as written in `configs/*.toml` and saved, resolved, as the
/// run directory's `config.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Which part of the corpus to use.
    #[serde(default)]
    pub data: DataConfig,
    /// The model's shape (`vocab_size` comes from the tokenizer).
    pub model: GptConfig,
    /// Optimisation and cadence.
    pub train: TrainConfig,
    /// What the monitor measures at each evaluation, and its detectors' thresholds.
    #[serde(default)]
    pub monitor: MonitorConfig,
    /// When to stop before `max_steps`.
    #[serde(default)]
    pub early_stopping: EarlyStoppingConfig,
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
    /// Thresholds of the signal detectors.
    pub detectors: DetectorConfig,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            train_eval_tokens: 16_384,
            samples: 3,
            sample_tokens: 24,
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
}

impl TrainConfig {
    /// Windows per evaluation forward pass.
    pub fn eval_batch(&self) -> usize {
        self.eval_batch_size.unwrap_or(self.batch_size)
    }
}

/// A config that cannot be read or cannot make a run, with the file, key or line to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The TOML is malformed or does not fit the schema.
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    /// A `--set` override is malformed or names no key.
    #[error("--set {arg}: {message}")]
    Override { arg: String, message: String },
    /// A value is out of range.
    #[error("{0}")]
    Invalid(String),
}

impl RunConfig {
    /// Reads a TOML file and applies `key=value` overrides (dotted keys, TOML values; a value
    /// that does not parse as TOML is taken as a string).
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let parse_err = |message: String| ConfigError::Parse {
            path: path.to_owned(),
            message: with_suggestion(message),
        };
        // Parsed once as the schema so errors carry the file's line and column.
        let config: RunConfig = toml::from_str(&text).map_err(|e| parse_err(e.to_string()))?;
        if overrides.is_empty() {
            return Ok(config);
        }
        let mut table: toml::Table = toml::from_str(&text).map_err(|e| parse_err(e.to_string()))?;
        for arg in overrides {
            apply_override(&mut table, arg)?;
        }
        let arg_list = overrides.join(" ");
        RunConfig::deserialize(table).map_err(|e| ConfigError::Override {
            arg: arg_list,
            message: with_suggestion(e.to_string()),
        })
    }

    /// Parses a config from TOML text (no file, no overrides).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::from("<config>"),
            message: with_suggestion(e.to_string()),
        })
    }

    /// The config as TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a run config always serialises")
    }

    /// Refuses values that cannot make a sensible run.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let t = &self.train;
        let bad = |msg: String| Err(ConfigError::Invalid(msg));
        if t.batch_size == 0 {
            return bad("train.batch_size must be at least 1".into());
        }
        if t.max_steps == 0 {
            return bad("train.max_steps must be at least 1".into());
        }
        if !(t.lr > 0.0 && t.lr <= 1.0) {
            return bad(format!("train.lr = {} must be in (0, 1]", t.lr));
        }
        if !(t.min_lr >= 0.0 && t.min_lr <= t.lr) {
            return bad(format!(
                "train.min_lr = {} must be in [0, train.lr]",
                t.min_lr
            ));
        }
        if t.warmup_steps >= t.max_steps {
            return bad(format!(
                "train.warmup_steps = {} must be below train.max_steps = {}",
                t.warmup_steps, t.max_steps
            ));
        }
        if !(t.weight_decay >= 0.0 && t.weight_decay < 1.0) {
            return bad(format!(
                "train.weight_decay = {} must be in [0, 1)",
                t.weight_decay
            ));
        }
        if !(t.grad_clip >= 0.0 && t.grad_clip.is_finite()) {
            return bad(format!(
                "train.grad_clip = {} must be ≥ 0 (0: off)",
                t.grad_clip
            ));
        }
        if t.eval_batch() == 0 {
            return bad("train.eval_batch_size must be at least 1".into());
        }
        if self.monitor.train_eval_tokens < 2 {
            return bad("monitor.train_eval_tokens must be at least 2".into());
        }
        if self
            .train
            .time_budget_s
            .is_some_and(|b| !(b > 0.0 && b.is_finite()))
        {
            return bad("train.time_budget_s must be a positive number of seconds".into());
        }
        if !(0.0..=1.0).contains(&self.data.max_overlap) {
            return bad(format!(
                "data.max_overlap = {} is not a share between 0 and 1",
                self.data.max_overlap
            ));
        }
        if self.data.ngram == 0 {
            return bad("data.ngram must be at least 1".into());
        }
        if self.data.max_train_tokens == Some(0) {
            return bad("data.max_train_tokens must be at least 1 when set".into());
        }
        let mut shape = self.model.clone();
        if shape.vocab_size == 0 {
            shape.vocab_size = 1; // filled from the tokenizer later
        }
        shape
            .validate()
            .map_err(|e| ConfigError::Invalid(e.to_string()))
    }
}

/// Sets `a.b.c = value` in a TOML table, creating intermediate tables.
fn apply_override(table: &mut toml::Table, arg: &str) -> Result<(), ConfigError> {
    let err = |message: &str| ConfigError::Override {
        arg: arg.to_string(),
        message: message.to_string(),
    };
    let (key, raw) = arg
        .split_once('=')
        .ok_or_else(|| err("expected key=value, e.g. --set train.lr=3e-4"))?;
    let path: Vec<&str> = key.trim().split('.').collect();
    if path.iter().any(|p| p.is_empty()) {
        return Err(err("the key is empty or has an empty part"));
    }
    let value = toml::from_str::<toml::Table>(&format!("v = {}", raw.trim()))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.trim().to_string()));
    let (last, parents) = path.split_last().expect("path has at least one part");
    let mut node = table;
    for part in parents {
        node = node
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| err(&format!("`{part}` is a value, not a section")))?;
    }
    node.insert(last.to_string(), value);
    Ok(())
}

/// Appends "did you mean `x`?" to serde's unknown-field message when a known field is close.
fn with_suggestion(message: String) -> String {
    let Some(rest) = message.split("unknown field `").nth(1) else {
        return message;
    };
    let Some((unknown, expected)) = rest.split_once('`') else {
        return message;
    };
    let best = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|candidate| (strsim::jaro_winkler(unknown, candidate), candidate))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((_, candidate)) => format!("{message}\ndid you mean `{candidate}`?"),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"
[model]
ctx = 64
layers = 4
heads = 4
d_model = 256
dropout = 0.1

[train]
batch_size = 32
max_steps = 5000
lr = 1e-3
min_lr = 1e-4
warmup_steps = 200
weight_decay = 0.1
grad_clip = 1.0
seed = 1337
log_every = 50
eval_every = 500
"#;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn overrides_change_typed_values_and_round_trip() {
        let (_dir, path) = write(SMALL);
        let sets = ["train.lr=3e-4".to_string(), "model.layers=2".into()];
        let config = RunConfig::load(&path, &sets).unwrap();
        assert_eq!(config.train.lr, 3e-4);
        assert_eq!(config.model.layers, 2);
        config.validate().unwrap();
        assert_eq!(RunConfig::from_toml(&config.to_toml()).unwrap(), config);
    }

    #[test]
    fn a_misspelled_key_names_the_nearest_one() {
        let (_dir, path) = write(&SMALL.replace("warmup_steps", "warmup_step"));
        let err = RunConfig::load(&path, &[]).unwrap_err().to_string();
        assert!(err.contains("unknown field `warmup_step`"), "{err}");
        assert!(err.contains("did you mean `warmup_steps`?"), "{err}");
        assert!(err.contains("run.toml"), "{err}");
        let (_dir, path) = write(SMALL);
        let err = RunConfig::load(&path, &["train.lrr=1".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("did you mean `lr`?"), "{err}");
    }

    #[test]
    fn malformed_toml_reports_the_line() {
        let (_dir, path) = write("[model]\nctx = = 3\n");
        let err = RunConfig::load(&path, &[]).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn out_of_range_values_are_refused_with_the_key() {
        let (_dir, path) = write(SMALL);
        for (set, key) in [
            ("train.max_steps=0", "train.max_steps"),
            ("model.dropout=1.5", "model.dropout"),
            ("model.heads=3", "model.heads"),
            ("train.warmup_steps=6000", "train.warmup_steps"),
            ("train.min_lr=0.1", "train.min_lr"),
        ] {
            let config = RunConfig::load(&path, &[set.to_string()]).unwrap();
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains(key), "{set}: {err}");
        }
        let err = RunConfig::load(&path, &["train.max_steps=-5".into()]).unwrap_err();
        assert!(err.to_string().contains("max_steps"), "{err}");
    }

    /// Property: whatever bytes a config file holds, loading it returns a config or an error,
    /// never a panic; and an accepted config survives validation and a round trip.
    #[test]
    fn random_edits_of_a_config_never_panic() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2024);
        let alphabet = b"[]=.\"'#\n 0123456789-+eE_abcdefghijklmnopqrstuvwxyz\xff";
        let (dir, path) = write(SMALL);
        let mut accepted = 0;
        for _ in 0..3000 {
            let mut bytes = SMALL.as_bytes().to_vec();
            for _ in 0..rng.random_range(1..6) {
                let at = rng.random_range(0..bytes.len());
                let byte = alphabet[rng.random_range(0..alphabet.len())];
                match rng.random_range(0..3) {
                    0 => bytes[at] = byte,
                    1 => bytes.insert(at, byte),
                    _ => {
                        bytes.remove(at);
                    }
                }
            }
            std::fs::write(&path, &bytes).unwrap();
            if let Ok(config) = RunConfig::load(&path, &[]) {
                accepted += 1;
                if config.validate().is_ok() {
                    assert_eq!(RunConfig::from_toml(&config.to_toml()).unwrap(), config);
                }
            }
        }
        assert!(
            accepted > 0,
            "some small edits (in comments, digits) must still parse"
        );
        drop(dir);
    }
}
