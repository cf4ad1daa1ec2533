//! The one error type of the data crate.

use std::path::PathBuf;

/// Everything that can go wrong between a path on disk and a stream of token ids.
///
/// Every variant names the file it concerns and, where it helps, what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A split file is not where it should be.
    #[error(
        "{path}: file not found. Point --data-dir (or PERPLEX_DATA_DIR) at a directory holding \
         ptb.train.txt, ptb.valid.txt and ptb.test.txt, or run `perplex data fetch ptb`"
    )]
    Missing { path: PathBuf },
    /// A file named on the command line does not exist.
    #[error("{path}: no such file")]
    NoSuchFile { path: PathBuf },
    /// A directory where a text file was expected.
    #[error("{path}: is a directory, not a text file")]
    IsADirectory { path: PathBuf },
    /// A file where a corpus directory was expected.
    #[error(
        "{path}: is a file, not a directory. --data-dir (or PERPLEX_DATA_DIR, or --out) names \
         the directory that holds ptb.train.txt, ptb.valid.txt and ptb.test.txt"
    )]
    NotADirectory { path: PathBuf },
    /// Writing a corpus would replace existing split files.
    #[error(
        "{path}: already exists; writing here would replace a corpus. Choose another --out, or \
         pass --overwrite to replace it"
    )]
    WouldOverwrite { path: PathBuf },
    /// A split file exists but holds no tokens.
    #[error("{path}: the file is empty; a corpus split needs at least one line of text")]
    Empty { path: PathBuf },
    /// A split file is not valid UTF-8.
    #[error("{path}:{line}: the text is not valid UTF-8; convert the file to UTF-8 first")]
    NotUtf8 { path: PathBuf, line: usize },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The `tokenizers` crate refused to build, save or apply a tokenizer.
    #[error("tokenizer: {action}: {source}")]
    Tokenizer {
        /// What was being done: `building a wordlevel tokenizer`, `encoding text`, …
        action: &'static str,
        #[source]
        source: tokenizers::Error,
    },
    /// A `tokenizer.json` the `tokenizers` crate cannot load.
    #[error("{path}: not a tokenizer the `tokenizers` crate can load: {source}")]
    BadTokenizerFile {
        path: PathBuf,
        #[source]
        source: tokenizers::Error,
    },
    /// A tokenizer without `<eos>` or `<unk>`, which every corpus stream needs.
    #[error(
        "the tokenizer's vocabulary has no `{token}` token; make one with `perplex tokenizer \
         train`, which adds it"
    )]
    MissingToken { token: &'static str },
    /// Token ids with a hole: a model's embedding of `size` rows could not hold them.
    #[error(
        "the tokenizer's {size} token ids are not 0..{size}: id {unused} is unused and id \
         {largest} is used, so a model's {size}-row embedding could not hold them. Retrain it \
         with `perplex tokenizer train`, which numbers ids without holes"
    )]
    IdHoles {
        size: usize,
        unused: usize,
        largest: u32,
    },
    /// A name (of a split, a tokenizer kind) that is none of the known ones.
    #[error("unknown {what} {found:?}: use one of {expected}")]
    UnknownName {
        /// What kind of name was asked for.
        what: &'static str,
        /// The text that was given.
        found: String,
        /// The accepted names, comma-separated.
        expected: String,
    },
    /// A download failed before its bytes could be checked.
    #[error("downloading {url}: {reason}")]
    Download { url: String, reason: String },
    /// Downloaded or local bytes do not have the published checksum.
    #[error(
        "{path}: sha256 {actual} does not match the expected {expected}; the file is corrupt or \
         not the canonical one, and was not kept"
    )]
    Checksum {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    /// A token stream is too short for the requested context length.
    #[error("the {what} stream has {tokens} tokens, fewer than the {needed} one window needs")]
    TooShort {
        what: String,
        tokens: usize,
        needed: usize,
    },
}

impl DataError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
