//! Run configuration: a TOML file, `--set key=value` overrides, and the checks that refuse a
//! run before it starts rather than an hour into it.
//!
//! A [`RunConfig`] can only exist validated: every way to make one (a file, text, or
//! deserialising a run's saved `config.toml`) runs the same checks, and its sections are
//! read through accessors, so nothing can change a value afterwards.

mod overrides;
mod sections;
#[cfg(test)]
mod tests;
mod validate;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use perplex_monitor::{DetectorConfig, EarlyStoppingConfig};
pub use sections::{DataConfig, ModelConfig, MonitorConfig, TrainConfig};
pub use validate::Invalid;

/// Everything that defines a run, as written in `configs/*.toml` and saved, resolved, as the
/// run directory's `config.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawRunConfig")]
pub struct RunConfig {
    data: DataConfig,
    model: ModelConfig,
    train: TrainConfig,
    monitor: MonitorConfig,
    early_stopping: EarlyStoppingConfig,
}

/// The sections as parsed, before validation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRunConfig {
    #[serde(default)]
    data: DataConfig,
    model: ModelConfig,
    train: TrainConfig,
    #[serde(default)]
    monitor: MonitorConfig,
    #[serde(default)]
    early_stopping: EarlyStoppingConfig,
}

impl TryFrom<RawRunConfig> for RunConfig {
    type Error = Invalid;

    fn try_from(raw: RawRunConfig) -> Result<Self, Invalid> {
        let config = RunConfig {
            data: raw.data,
            model: raw.model,
            train: raw.train,
            monitor: raw.monitor,
            early_stopping: raw.early_stopping,
        };
        validate::check(&config)?;
        Ok(config)
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
    /// A value is out of range, or the model shape cannot be built.
    #[error("{path}: invalid config: {reason}")]
    Invalid {
        path: PathBuf,
        #[source]
        reason: Box<Invalid>,
    },
}

impl RunConfig {
    /// Reads a TOML file, applies `key=value` overrides (dotted keys, TOML values; a value
    /// that does not parse as TOML is taken as a string) and validates the result.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path, overrides)
    }

    /// [`RunConfig::load`] of TOML text already read (`path` names it in errors), e.g. a
    /// config compiled into the binary.
    pub fn parse(text: &str, path: &Path, overrides: &[String]) -> Result<Self, ConfigError> {
        let raw = overrides::parse(text, path, overrides)?;
        RunConfig::try_from(raw).map_err(|reason| ConfigError::Invalid {
            path: path.to_owned(),
            reason: Box::new(reason),
        })
    }

    /// Parses and validates a config from TOML text (no file, no overrides).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        Self::parse(text, Path::new("<config>"), &[])
    }

    /// The config as TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a run config always serialises")
    }

    /// The same config with `model.vocab_size` set, as a run directory saves it.
    pub fn with_vocab_size(&self, vocab_size: usize) -> Self {
        let mut resolved = self.clone();
        resolved.model.vocab_size = Some(vocab_size);
        resolved
    }

    /// Which part of the corpus to use, and how strictly its hygiene is checked.
    pub fn data(&self) -> &DataConfig {
        &self.data
    }

    /// The model's shape (`vocab_size` comes from the tokenizer unless the file sets it).
    pub fn model(&self) -> &ModelConfig {
        &self.model
    }

    /// Optimisation and cadence.
    pub fn train(&self) -> &TrainConfig {
        &self.train
    }

    /// What the monitor measures at each evaluation, and its detectors' thresholds.
    pub fn monitor(&self) -> &MonitorConfig {
        &self.monitor
    }

    /// When to stop before `max_steps`.
    pub fn early_stopping(&self) -> &EarlyStoppingConfig {
        &self.early_stopping
    }
}
