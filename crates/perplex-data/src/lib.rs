//! Corpora, tokenizers and batching for perplex.
//!
//! Everything here is plain Rust with no Burn dependency: text goes in, token ids come out.
//! The modules follow the path of the data:
//!
//! - [`corpus`]: where the split files live and how they are read (with errors that name the
//!   file and the line);
//! - [`fetch`]: downloading Penn Treebank with checksums, written atomically;
//! - [`tokenizer`]: the word-level vocabulary built from the train split (PTB), or a trained
//!   word-level, BPE or character tokenizer (`tokenizers`), with `<eos>` after every line;
//! - [`batch`]: random training windows and the deterministic evaluation pass;
//! - [`sliding`]: the evaluation pass with context carried across windows (a separate number);
//! - [`hygiene`]: overlap of held-out text with train (lines and n-gram shingles) and hash
//!   splitting;
//! - [`markov`]: corpora sampled from a Markov chain whose entropy rate is known exactly (for
//!   `perplex data synth`, and for tests and CI machines without PTB).

pub mod batch;
pub mod corpus;
pub mod error;
pub mod fetch;
pub mod hygiene;
pub mod markov;
mod names;
pub mod sliding;
pub mod tokenizer;

pub use batch::{TokenBatch, TrainSampler, eval_batches, spread_batches};
pub use corpus::{Corpus, DataDir, Split};
pub use error::DataError;
pub use sliding::{ScoredBatch, sliding_batches};
pub use tokenizer::{CorpusTokenizer, Encoded, TokenizerKind};
