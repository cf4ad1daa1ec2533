//! Encoding text into one token stream, in bounded memory whatever the lines.

use super::{CorpusTokenizer, Encoded, UNK};
use crate::DataError;

impl CorpusTokenizer {
    /// Encodes lines into one stream, appending `<eos>` after each line, and counts the
    /// unknown words.
    ///
    /// Memory stays bounded whatever the text: a line longer than 64 KiB is cut into pieces at
    /// whitespace (where every pre-tokenizer here splits anyway), and the pieces go through
    /// the tokenizer about 1 MiB of text at a time (the encodings of one call, ~100 bytes a
    /// token, are alive together).
    pub fn encode_lines(&self, lines: &[String]) -> Result<Encoded, DataError> {
        const TEXT_PER_CALL: usize = 1 << 20;
        let mut out = Encoded {
            ids: Vec::with_capacity(lines.len() * 24),
            lines: lines.len(),
            unk_tokens: 0,
            oov_words: 0,
        };
        let mut batch: Vec<(&str, bool)> = Vec::new();
        let mut bytes = 0;
        for line in lines {
            let parts = pieces(line);
            let last = parts.len() - 1;
            for (i, piece) in parts.into_iter().enumerate() {
                bytes += piece.len();
                batch.push((piece, i == last));
                if bytes >= TEXT_PER_CALL {
                    self.encode_pieces(&batch, &mut out)?;
                    (batch, bytes) = (Vec::new(), 0);
                }
            }
        }
        self.encode_pieces(&batch, &mut out)?;
        Ok(out)
    }

    /// Encodes `pieces` (each with whether it ends its line) into `out`.
    fn encode_pieces(&self, pieces: &[(&str, bool)], out: &mut Encoded) -> Result<(), DataError> {
        let encodings = self
            .inner
            .encode_batch(pieces.iter().map(|(p, _)| *p).collect(), false)
            .map_err(|source| DataError::Tokenizer {
                action: "encoding a corpus",
                source,
            })?;
        for ((piece, ends_line), enc) in pieces.iter().zip(&encodings) {
            for (&id, &(start, end)) in enc.get_ids().iter().zip(enc.get_offsets()) {
                if id == self.unk {
                    out.unk_tokens += 1;
                    if &piece[start..end] != UNK {
                        out.oov_words += 1;
                    }
                }
                out.ids.push(id);
            }
            if *ends_line {
                out.ids.push(self.eos);
            }
        }
        Ok(())
    }
}

/// A line cut into pieces of at most 64 KiB, each cut at the last whitespace before the limit
/// (or, in a run of 64 KiB without any, at a character boundary); a short line is one piece.
pub(super) fn pieces(line: &str) -> Vec<&str> {
    const PIECE: usize = 1 << 16;
    let mut out = Vec::new();
    let mut rest = line;
    while rest.len() > PIECE {
        let mut cut = PIECE;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let at = rest[..cut]
            .rfind(char::is_whitespace)
            .filter(|&i| i > 0)
            .unwrap_or(cut);
        out.push(&rest[..at]);
        rest = &rest[at..];
    }
    out.push(rest);
    out
}
