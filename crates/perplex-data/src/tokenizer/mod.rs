//! Tokenizers: a `tokenizers` model with `<eos>` and `<unk>`, turning lines into one id stream.
//!
//! The default, for PTB, is word-level: the vocabulary comes from the train split alone, in
//! order of first appearance, with `<eos>` added after the first line's words (the convention
//! of the PyTorch peer in `bench/torch_peer.py`, so ids agree between the two). On PTB this
//! gives exactly 10,000 types. Words of other splits that train never saw map to `<unk>` and
//! are counted as out of vocabulary.
//!
//! For any other text, [`CorpusTokenizer::train`] learns a word-level, BPE or character
//! tokenizer with the `tokenizers` crate's trainers. Whatever the kind, every line is
//! encoded and followed by one `<eos>`, and a tokenizer is identified by its fingerprint, the
//! sha256 of its canonical `tokenizer.json`.

use std::collections::HashSet;
use std::path::Path;

use sha2::{Digest, Sha256};
use tokenizers::models::TrainerWrapper;
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::models::wordlevel::{WordLevel, WordLevelTrainerBuilder};
use tokenizers::pre_tokenizers::metaspace::Metaspace;
use tokenizers::pre_tokenizers::whitespace::WhitespaceSplit;
use tokenizers::{AddedToken, Tokenizer};

use crate::DataError;

/// The end-of-sentence token appended to every line.
pub const EOS: &str = "<eos>";
/// The token standing for any word outside the vocabulary.
pub const UNK: &str = "<unk>";

/// What [`CorpusTokenizer::train`] learns.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(into = "&'static str", try_from = "String")]
#[strum(serialize_all = "lowercase")]
pub enum TokenizerKind {
    /// Whitespace-separated words, the most frequent `vocab_size` of them.
    WordLevel,
    /// Byte-pair encoding over characters, spaces kept as `▁` (SentencePiece's Metaspace).
    Bpe,
    /// Single characters (BPE with no merges).
    Char,
}

impl TokenizerKind {
    /// The name used on the command line and in files (strum derives it from the variant).
    pub fn name(self) -> &'static str {
        self.into()
    }
}

impl std::fmt::Display for TokenizerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for TokenizerKind {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        crate::names::parse(s, "tokenizer kind")
    }
}

impl TryFrom<String> for TokenizerKind {
    type Error = DataError;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        name.parse()
    }
}

/// A tokenizer with the ids of `<eos>` and `<unk>` at hand.
#[derive(Clone)]
pub struct CorpusTokenizer {
    inner: Tokenizer,
    eos: u32,
    unk: u32,
}

/// A split encoded as one token stream, with counts of the unknown words in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// Token ids, every line's words followed by one `<eos>`.
    pub ids: Vec<u32>,
    /// Number of lines encoded.
    pub lines: usize,
    /// Tokens equal to `<unk>`, whether written so in the text or mapped there.
    pub unk_tokens: usize,
    /// Words absent from the vocabulary and mapped to `<unk>` (a subset of `unk_tokens`).
    pub oov_words: usize,
}

impl CorpusTokenizer {
    /// Builds the vocabulary from the train split's lines.
    pub fn from_train_lines(lines: &[String]) -> Result<Self, DataError> {
        let mut seen = HashSet::new();
        let mut order: Vec<&str> = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            for word in line.split_whitespace() {
                if seen.insert(word) {
                    order.push(word);
                }
            }
            if i == 0 && seen.insert(EOS) {
                order.push(EOS);
            }
        }
        if seen.insert(UNK) {
            order.push(UNK);
        }
        Self::word_level(order)
    }

    /// A word-level tokenizer whose ids are the positions of `words` (which must hold `<eos>`
    /// and `<unk>`), split at whitespace.
    fn word_level<S: AsRef<str>>(words: impl IntoIterator<Item = S>) -> Result<Self, DataError> {
        let vocab = words
            .into_iter()
            .enumerate()
            .map(|(id, w)| (w.as_ref().to_string(), id as u32))
            .collect();
        let model = WordLevel::builder()
            .vocab(vocab)
            .unk_token(UNK.to_string())
            .build()
            .map_err(|source| DataError::Tokenizer {
                action: "building a word-level tokenizer from a vocabulary",
                source,
            })?;
        let mut inner = Tokenizer::new(model);
        inner.with_pre_tokenizer(Some(WhitespaceSplit));
        Self::wrap(inner)
    }

    /// Learns a tokenizer of `kind` with at most `vocab_size` types (`<eos>` and `<unk>`
    /// included; for `Char`, the alphabet of `lines` decides the size) from `lines`.
    pub fn train(
        kind: TokenizerKind,
        lines: &[String],
        vocab_size: usize,
    ) -> Result<Self, DataError> {
        let err = |source| DataError::Tokenizer {
            action: "training a tokenizer",
            source,
        };
        let specials = vec![AddedToken::from(EOS, true), AddedToken::from(UNK, true)];
        let (mut inner, mut trainer) = match kind {
            TokenizerKind::WordLevel => {
                let model = WordLevel::builder()
                    .unk_token(UNK.to_string())
                    .build()
                    .map_err(err)?;
                let trainer = WordLevelTrainerBuilder::default()
                    .vocab_size(vocab_size)
                    .special_tokens(specials)
                    .show_progress(false)
                    .build()
                    .map_err(|e| err(e.into()))?;
                let mut inner = Tokenizer::new(model);
                inner.with_pre_tokenizer(Some(WhitespaceSplit));
                (inner, TrainerWrapper::WordLevelTrainer(trainer))
            }
            TokenizerKind::Bpe | TokenizerKind::Char => {
                let model = BPE::builder()
                    .unk_token(UNK.to_string())
                    .build()
                    .map_err(err)?;
                // The trainer keeps the whole alphabet and merges until `vocab_size`: a size of
                // one allows no merge, which is a character tokenizer.
                let size = if kind == TokenizerKind::Char {
                    1
                } else {
                    vocab_size
                };
                let trainer = BpeTrainerBuilder::new()
                    .vocab_size(size)
                    .special_tokens(specials)
                    .show_progress(false)
                    .build();
                let mut inner = Tokenizer::new(model);
                inner.with_pre_tokenizer(Some(Metaspace::default()));
                inner.with_decoder(Some(Metaspace::default()));
                (inner, TrainerWrapper::BpeTrainer(trainer))
            }
        };
        inner.train(&mut trainer, lines.iter()).map_err(err)?;
        if kind == TokenizerKind::WordLevel {
            // The trainer can leave a hole in the ids (a corpus word equal to a special token,
            // such as PTB's literal `<unk>`, takes an id and is then merged away); the words in
            // id order, numbered again, are the same tokenizer without it.
            let mut vocab: Vec<(String, u32)> = inner.get_vocab(true).into_iter().collect();
            vocab.sort_by_key(|&(_, id)| id);
            return Self::word_level(vocab.into_iter().map(|(w, _)| w));
        }
        Self::wrap(inner)
    }

    /// Loads a tokenizer saved by [`CorpusTokenizer::save`].
    pub fn load(path: &Path) -> Result<Self, DataError> {
        if !path.is_file() {
            return Err(DataError::Missing {
                path: path.to_owned(),
            });
        }
        let inner = Tokenizer::from_file(path).map_err(|source| DataError::BadTokenizerFile {
            path: path.to_owned(),
            source,
        })?;
        Self::wrap(inner)
    }

    fn wrap(inner: Tokenizer) -> Result<Self, DataError> {
        check_contiguous(&inner)?;
        let id = |t: &'static str| {
            inner
                .token_to_id(t)
                .ok_or(DataError::MissingToken { token: t })
        };
        Ok(Self {
            eos: id(EOS)?,
            unk: id(UNK)?,
            inner,
        })
    }

    /// Writes the tokenizer as `tokenizer.json` (the `tokenizers` format).
    pub fn save(&self, path: &Path) -> Result<(), DataError> {
        std::fs::write(path, self.to_json()?).map_err(|e| DataError::io(path, e))
    }

    /// The canonical JSON text of the tokenizer.
    pub fn to_json(&self) -> Result<String, DataError> {
        self.inner
            .to_string(true)
            .map_err(|source| DataError::Tokenizer {
                action: "writing the tokenizer as JSON",
                source,
            })
    }

    /// The sha256 of the canonical JSON, in hex: two runs share a fingerprint exactly when
    /// their token ids mean the same words, which is when their perplexities are comparable.
    pub fn fingerprint(&self) -> Result<String, DataError> {
        Ok(hex(&Sha256::digest(self.to_json()?.as_bytes())))
    }

    /// Number of token types, `<eos>` and `<unk>` included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The id of `<eos>`.
    pub fn eos_id(&self) -> u32 {
        self.eos
    }

    /// The id of `<unk>`.
    pub fn unk_id(&self) -> u32 {
        self.unk
    }

    /// The word of an id, if the id is in the vocabulary.
    pub fn token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// Encodes one line of text without the trailing `<eos>` (as a generation prompt is).
    pub fn encode_text(&self, text: &str) -> Result<Vec<u32>, DataError> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|source| DataError::Tokenizer {
                action: "encoding text",
                source,
            })?;
        Ok(enc.get_ids().to_vec())
    }

    /// Turns ids back into text, `<eos>` shown as a line break: through the tokenizer's
    /// decoder when it has one (BPE, char), else words joined by spaces.
    pub fn decode(&self, ids: &[u32]) -> String {
        if self.inner.get_decoder().is_some() {
            let mut text = String::new();
            for (i, part) in ids.split(|&id| id == self.eos).enumerate() {
                if i > 0 {
                    text.push('\n');
                }
                text.push_str(&self.inner.decode(part, false).unwrap_or_default());
            }
            return text;
        }
        let mut text = String::new();
        for &id in ids {
            if id == self.eos {
                text.push('\n');
                continue;
            }
            if !(text.is_empty() || text.ends_with('\n')) {
                text.push(' ');
            }
            text.push_str(&self.token(id).unwrap_or_else(|| UNK.to_string()));
        }
        text
    }
}

impl CorpusTokenizer {
    /// The text `id` adds after `previous` (the token before it, if any): what to print when
    /// streaming generated tokens one at a time. Decoders that join or strip spaces (word
    /// level, Metaspace) decide the text of a token only next to its neighbour.
    pub fn decode_next(&self, previous: Option<u32>, id: u32) -> String {
        let Some(prev) = previous else {
            return self.decode(&[id]);
        };
        let both = self.decode(&[prev, id]);
        let alone = self.decode(&[prev]);
        match both.strip_prefix(&alone) {
            Some(added) => added.to_string(),
            None => self.decode(&[id]),
        }
    }
}

/// Refuses a tokenizer whose ids are not exactly `0..V`: a model's embedding has one row per
/// id, so a hole would make the largest id fall outside it.
fn check_contiguous(inner: &Tokenizer) -> Result<(), DataError> {
    let vocab = inner.get_vocab(true);
    let n = vocab.len();
    let mut used = vec![false; n];
    let mut outside = None;
    for &id in vocab.values() {
        match used.get_mut(id as usize) {
            Some(slot) => *slot = true,
            None => outside = outside.max(Some(id)),
        }
    }
    match (used.iter().position(|&u| !u), outside) {
        (Some(hole), Some(max)) => Err(DataError::IdHoles {
            size: n,
            unused: hole,
            largest: max,
        }),
        _ => Ok(()),
    }
}

/// sha256 of a token stream (each id as 4 little-endian bytes), in hex: two streams share it
/// exactly when they hold the same ids in the same order.
pub fn stream_fingerprint(ids: &[u32]) -> String {
    let mut hasher = Sha256::new();
    for id in ids {
        hasher.update(id.to_le_bytes());
    }
    hex(&hasher.finalize())
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

mod encode;
#[cfg(test)]
mod tests;
