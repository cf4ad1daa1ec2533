//! The word-level tokenizer: a `tokenizers` WordLevel model over whitespace-split words.
//!
//! The vocabulary comes from the train split alone, in order of first appearance, with `<eos>`
//! added after the first line's words (the convention of the PyTorch reference in
//! `bench/torch_ref.py`, so ids agree between the two). On PTB this gives exactly 10,000 types.
//! Words of other splits that train never saw map to `<unk>` and are counted as out of
//! vocabulary.

use std::collections::HashSet;
use std::path::Path;

use sha2::{Digest, Sha256};
use tokenizers::Tokenizer;
use tokenizers::models::wordlevel::WordLevel;
use tokenizers::pre_tokenizers::whitespace::WhitespaceSplit;

use crate::DataError;

/// The end-of-sentence token appended to every line.
pub const EOS: &str = "<eos>";
/// The token standing for any word outside the vocabulary.
pub const UNK: &str = "<unk>";

/// A word-level tokenizer with the ids of `<eos>` and `<unk>` at hand.
#[derive(Clone)]
pub struct WordTokenizer {
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

impl WordTokenizer {
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

    /// Loads a tokenizer saved by [`WordTokenizer::save`].
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

    /// Turns ids back into words joined by spaces, `<eos>` shown as a line break.
    pub fn decode(&self, ids: &[u32]) -> String {
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
        let tok = WordTokenizer::from_train_lines(&lines(&[" a b a ", " c <unk> b"])).unwrap();
        assert_eq!(tok.vocab_size(), 5);
        let order: Vec<String> = (0..5).map(|i| tok.token(i).unwrap()).collect();
        assert_eq!(order, ["a", "b", "<eos>", "c", "<unk>"]);
    }

    #[test]
    fn unknown_words_map_to_unk_and_are_counted() {
        let tok = WordTokenizer::from_train_lines(&lines(&["the cat <unk>"])).unwrap();
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
        let tok = WordTokenizer::from_train_lines(&lines(&["x y z", "z y w"])).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer.json");
        tok.save(&path).unwrap();
        let back = WordTokenizer::load(&path).unwrap();
        let text = lines(&["w x y z q"]);
        assert_eq!(
            tok.encode_lines(&text).unwrap(),
            back.encode_lines(&text).unwrap()
        );
        assert_eq!(tok.fingerprint().unwrap(), back.fingerprint().unwrap());
        let other = WordTokenizer::from_train_lines(&lines(&["y x z"])).unwrap();
        assert_ne!(tok.fingerprint().unwrap(), other.fingerprint().unwrap());
    }

    #[test]
    fn decode_shows_eos_as_line_break() {
        let tok = WordTokenizer::from_train_lines(&lines(&["hello world"])).unwrap();
        let ids = tok
            .encode_lines(&lines(&["hello world", "world"]))
            .unwrap()
            .ids;
        assert_eq!(tok.decode(&ids), "hello world\nworld\n");
    }
}
