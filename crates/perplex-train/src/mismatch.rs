//! Two things that must agree and do not: tokenizers, model shapes, token streams, the
//! vocabulary size. Its own module, below the config and the run directory that raise it.

use std::path::PathBuf;

use perplex_model::GptConfig;

/// Two things that must agree and do not.
#[derive(Debug, thiserror::Error)]
pub enum Mismatch {
    /// Token ids from one tokenizer would mean other words under the other.
    #[error(
        "{what}: made with tokenizer {exp} but {other} is tokenizer {fnd}; {advice}",
        exp = short(.expected),
        fnd = short(.found)
    )]
    Tokenizer {
        /// What was made with the expected tokenizer (a checkpoint, a run's state, a run).
        what: String,
        /// sha256 of the tokenizer it was made with.
        expected: String,
        /// What holds the other tokenizer (a run's `tokenizer.json`, a corpus).
        other: String,
        /// sha256 of that tokenizer.
        found: String,
        /// What to do about it.
        advice: &'static str,
    },
    /// Saved weights do not fit the shape the config describes.
    #[error("{path}: the saved model shape {saved:?} differs from the run's config {config:?}")]
    Shape {
        path: PathBuf,
        saved: Box<GptConfig>,
        config: Box<GptConfig>,
    },
    /// The corpus gives another token stream than the run was trained on (same tokenizer,
    /// other text): its best loss and curves would mix two datasets.
    #[error(
        "{path}: the run's {split} stream was {saved_short} but this corpus gives {found_short}: \
         the same vocabulary, other text. Point --data-dir at the corpus the run was trained \
         on, or start a new run",
        saved_short = short(.saved),
        found_short = short(.found)
    )]
    Stream {
        path: PathBuf,
        split: &'static str,
        saved: String,
        found: String,
    },
    /// `model.vocab_size` is set and is not the tokenizer's size.
    #[error(
        "model.vocab_size = {configured} but the tokenizer has {tokenizer} types; remove the \
         key, it is taken from the tokenizer"
    )]
    Vocab { configured: usize, tokenizer: usize },
}

/// The first 12 hex digits of a fingerprint (enough to tell two apart in a message).
fn short(sha: &str) -> &str {
    &sha[..12.min(sha.len())]
}

/// Refuses `found` unless it is the `expected` tokenizer fingerprint.
pub fn same_tokenizer(
    what: impl Into<String>,
    expected: &str,
    other: impl Into<String>,
    found: &str,
    advice: &'static str,
) -> Result<(), Mismatch> {
    if expected == found {
        return Ok(());
    }
    Err(Mismatch::Tokenizer {
        what: what.into(),
        expected: expected.to_owned(),
        other: other.into(),
        found: found.to_owned(),
        advice,
    })
}
