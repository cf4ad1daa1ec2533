//! A setting outside its allowed range, as a type: the key, the value given and the limit,
//! so a caller can say all three (and a test can check each) without parsing a sentence.

use std::fmt::Display;

/// A setting whose value is outside what it allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} = {value} must be {allowed}")]
pub struct OutOfRange {
    /// The key as the user writes it: `train.lr`, `early_stopping.patience`, `--steps`.
    pub key: String,
    /// The value that was given, as text.
    pub value: String,
    /// What it must be instead: `in (0, 1]`, `at least 1`, `> 0, or 0 (off)`.
    pub allowed: String,
}

impl OutOfRange {
    /// `key` was given `value`, which is not `allowed`.
    pub fn new(key: impl Into<String>, value: impl Display, allowed: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: value.to_string(),
            allowed: allowed.into(),
        }
    }

    /// Refuses `value` for `key` unless `ok`.
    pub fn check(
        ok: bool,
        key: impl Into<String>,
        value: impl Display,
        allowed: impl Into<String>,
    ) -> Result<(), Self> {
        if ok {
            Ok(())
        } else {
            Err(Self::new(key, value, allowed))
        }
    }
}
