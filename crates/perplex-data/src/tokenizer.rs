//! Tokenizers: a `tokenizers` model with `<eos>` and `<unk>`, turning lines into one id stream.
//!
//! The default, for PTB, is word-level: the vocabulary comes from the train split alone, in
//! order of first appearance, with `<eos>` added after the first line's words (the convention
//! of the PyTorch reference in `bench/torch_ref.py`, so ids agree between the two). On PTB this
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenizerKind {
    /// Whitespace-separated words, the most frequent `vocab_size` of them.
    WordLevel,
    /// Byte-pair encoding over characters, spaces kept as `▁` (SentencePiece's Metaspace).
    Bpe,
    /// Single characters (BPE with no merges).
    Char,
}

impl std::str::FromStr for TokenizerKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "wordlevel" => Ok(Self::WordLevel),
            "bpe" => Ok(Self::Bpe),
            "char" => Ok(Self::Char),
            other => Err(format!(
                "unknown tokenizer kind `{other}`: use bpe, wordlevel or char"
            )),
        }
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
        let vocab = order
            .iter()
            .enumerate()
            .map(|(id, w)| (w.to_string(), id as u32))
            .collect();
        let model = WordLevel::builder()
            .vocab(vocab)
            .unk_token(UNK.to_string())
            .build()
            .map_err(|e| DataError::Tokenizer(e.to_string()))?;
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
        let err = |e: tokenizers::Error| DataError::Tokenizer(e.to_string());
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
                    .map_err(|e| DataError::Tokenizer(e.to_string()))?;
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
        Self::wrap(inner)
    }

    /// Loads a tokenizer saved by [`CorpusTokenizer::save`].
    pub fn load(path: &Path) -> Result<Self, DataError> {
        if !path.is_file() {
            return Err(DataError::Missing {
                path: path.to_owned(),
            });
        }
        let inner = Tokenizer::from_file(path)
            .map_err(|e| DataError::Tokenizer(format!("{}: {e}", path.display())))?;
        Self::wrap(inner)
    }

    fn wrap(inner: Tokenizer) -> Result<Self, DataError> {
        let id = |t: &str| {
            inner
                .token_to_id(t)
                .ok_or_else(|| DataError::Tokenizer(format!("the vocabulary has no `{t}` token")))
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
            .map_err(|e| DataError::Tokenizer(e.to_string()))
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
            .map_err(|e| DataError::Tokenizer(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Encodes lines into one stream, appending `<eos>` after each line, and counts the
    /// unknown words.
    pub fn encode_lines(&self, lines: &[String]) -> Result<Encoded, DataError> {
        let encodings = self
            .inner
            .encode_batch(lines.iter().map(String::as_str).collect(), false)
            .map_err(|e| DataError::Tokenizer(e.to_string()))?;
        let mut out = Encoded {
            ids: Vec::with_capacity(lines.len() * 24),
            lines: lines.len(),
            unk_tokens: 0,
            oov_words: 0,
        };
        for (line, enc) in lines.iter().zip(&encodings) {
            for (&id, &(start, end)) in enc.get_ids().iter().zip(enc.get_offsets()) {
                if id == self.unk {
                    out.unk_tokens += 1;
                    if &line[start..end] != UNK {
                        out.oov_words += 1;
                    }
                }
                out.ids.push(id);
            }
            out.ids.push(self.eos);
        }
        Ok(out)
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

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &[&str]) -> Vec<String> {
        text.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ids_follow_first_appearance_with_eos_after_first_line() {
        let tok = CorpusTokenizer::from_train_lines(&lines(&[" a b a ", " c <unk> b"])).unwrap();
        assert_eq!(tok.vocab_size(), 5);
        let order: Vec<String> = (0..5).map(|i| tok.token(i).unwrap()).collect();
        assert_eq!(order, ["a", "b", "<eos>", "c", "<unk>"]);
    }

    #[test]
    fn unknown_words_map_to_unk_and_are_counted() {
        let tok = CorpusTokenizer::from_train_lines(&lines(&["the cat <unk>"])).unwrap();
        let enc = tok
            .encode_lines(&lines(&["the dog <unk>", "cat zebra"]))
            .unwrap();
        let unk = tok.unk_id();
        let eos = tok.eos_id();
        assert_eq!(enc.ids, vec![0, unk, unk, eos, 1, unk, eos]);
        assert_eq!(enc.unk_tokens, 3, "dog, <unk> and zebra");
        assert_eq!(enc.oov_words, 2, "dog and zebra were never in train");
    }

    #[test]
    fn save_and_load_keep_ids_and_fingerprint() {
        let tok = CorpusTokenizer::from_train_lines(&lines(&["x y z", "z y w"])).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer.json");
        tok.save(&path).unwrap();
        let back = CorpusTokenizer::load(&path).unwrap();
        let text = lines(&["w x y z q"]);
        assert_eq!(
            tok.encode_lines(&text).unwrap(),
            back.encode_lines(&text).unwrap()
        );
        assert_eq!(tok.fingerprint().unwrap(), back.fingerprint().unwrap());
        let other = CorpusTokenizer::from_train_lines(&lines(&["y x z"])).unwrap();
        assert_ne!(tok.fingerprint().unwrap(), other.fingerprint().unwrap());
    }

    #[test]
    fn trained_tokenizers_round_trip_text_and_differ_by_kind() {
        let text = lines(&[
            "the cat sat on the mat",
            "the dog sat on the log",
            "a cat and a dog",
        ]);
        let mut prints = std::collections::HashSet::new();
        for (kind, size) in [
            (TokenizerKind::WordLevel, 100),
            (TokenizerKind::Bpe, 40),
            (TokenizerKind::Char, 0),
        ] {
            let tok = CorpusTokenizer::train(kind, &text, size).unwrap();
            let enc = tok.encode_lines(&text[..2]).unwrap();
            assert_eq!(enc.unk_tokens, 0, "{kind:?}");
            assert_eq!(
                tok.decode(&enc.ids),
                "the cat sat on the mat\nthe dog sat on the log\n"
            );
            assert!(prints.insert(tok.fingerprint().unwrap()), "{kind:?}");
            // An unseen character is unknown to the subword kinds; an unseen word to wordlevel.
            let unseen = tok.encode_lines(&lines(&["the zebra"])).unwrap();
            assert!(
                unseen.unk_tokens >= 1 && unseen.oov_words >= 1,
                "{kind:?}: {unseen:?}"
            );
        }
        let chars = CorpusTokenizer::train(TokenizerKind::Char, &text, 0).unwrap();
        let distinct: std::collections::HashSet<char> =
            text.concat().chars().filter(|c| *c != ' ').collect();
        // Characters, the word-start marker variants and the two specials.
        assert!(
            chars.vocab_size() <= 2 * distinct.len() + 3,
            "{}",
            chars.vocab_size()
        );
        let bpe = CorpusTokenizer::train(TokenizerKind::Bpe, &text, 40).unwrap();
        assert!(
            bpe.encode_lines(&text).unwrap().ids.len()
                < chars.encode_lines(&text).unwrap().ids.len()
        );
    }

    #[test]
    fn decode_shows_eos_as_line_break() {
        let tok = CorpusTokenizer::from_train_lines(&lines(&["hello world"])).unwrap();
        let ids = tok
            .encode_lines(&lines(&["hello world", "world"]))
            .unwrap()
            .ids;
        assert_eq!(tok.decode(&ids), "hello world\nworld\n");
    }
}
