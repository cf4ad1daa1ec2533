//! Which reader a log needs, decided from what it holds: a directory is TensorBoard events; a
//! JSON document with `log_history` is Hugging Face's `trainer_state.json`; JSON objects one a
//! line are JSON lines; a header of names is CSV (whatever the file's name: Keras's
//! `CSVLogger` writes `training.log`); printed text goes to the text reader that reads the
//! most of its first lines.

use std::path::Path;

use super::columns::Columns;
use super::{LineReader, Parsed, Unit};

/// The formats `perplex watch` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line (perplex's `metrics.jsonl`, W&B's history, most loggers).
    JsonLines,
    /// CSV with a header row (Lightning's and Keras's `CSVLogger`).
    Csv,
    /// nanoGPT's printed log.
    Text,
    /// build-nanogpt's `log.txt` (`250 val 6.2648`).
    Streams,
    /// Printed `key: value` lines (modded-nanogpt, llm.c, MLX-LM, Megatron, fairseq, …).
    KeyValue,
    /// A printed table of named columns (a model card's training results, a notebook's).
    Table,
    /// Hugging Face Trainer's `trainer_state.json`, one JSON document.
    TrainerState,
    /// A directory of TensorBoard event files.
    TensorBoard,
}

/// How many non-empty lines the text readers are tried on (a modded-nanogpt record prints
/// its whole training script, a thousand lines and more, before its first loss).
const SNIFF_LINES: usize = 5000;
/// How much of a file is read to decide.
const SNIFF_BYTES: usize = 1 << 20;

impl Format {
    /// The format's name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::JsonLines => "JSON lines",
            Format::Csv => "CSV",
            Format::Text => "nanoGPT text",
            Format::Streams => "build-nanogpt log.txt",
            Format::KeyValue => "key-value text",
            Format::Table => "a table of named columns",
            Format::TrainerState => "Hugging Face trainer_state.json",
            Format::TensorBoard => "TensorBoard events",
        }
    }

    /// The format of `path`: TensorBoard for a directory, else [`Format::of_text`] of the
    /// file's beginning. `None` for a file that holds nothing yet (or cannot be read).
    pub fn detect(path: &Path) -> Option<Format> {
        if path.is_dir() {
            return Some(Format::TensorBoard);
        }
        Format::of_text(&head(path)?)
    }

    /// The format of a log that begins with `text`; `None` when it has no non-empty line.
    pub fn of_text(text: &str) -> Option<Format> {
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let first = lines.next()?.trim();
        if first.starts_with('{') {
            let one_line = serde_json::from_str::<serde_json::Value>(first).is_ok();
            return Some(if !one_line && text.contains("\"log_history\"") {
                Format::TrainerState
            } else {
                Format::JsonLines
            });
        }
        if super::csv::is_header(first) {
            return Some(Format::Csv);
        }
        Some(best_text_reader(text))
    }
}

/// The unit a log's losses are in when the log itself says so: fairseq logs base-2 losses
/// (its records carry `num_updates` beside `| loss` or `loss=`); `None` for the others.
pub fn unit_of(head: &str) -> Option<Unit> {
    head.lines()
        .take(SNIFF_LINES)
        .any(|l| {
            l.contains("num_updates") && l.contains("| loss")
                || l.contains("loss=") && l.contains("num_updates=")
        })
        .then_some(Unit::Bits)
}

/// The first [`SNIFF_BYTES`] of the file at `path`, as text (a log can be gigabytes; its
/// format shows at its start).
pub fn head(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut bytes)
        .ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// The text reader that reads the most of the first [`SNIFF_LINES`] lines; nanoGPT's on a
/// tie, then build-nanogpt's; the general key-value reader for a log none of them reads yet.
fn best_text_reader(text: &str) -> Format {
    let cols = Columns::default();
    let candidates = [
        Format::Text,
        Format::Streams,
        Format::KeyValue,
        Format::Table,
    ];
    let mut best = (Format::KeyValue, 0);
    for format in candidates {
        let Some(mut reader) = LineReader::new(format) else {
            continue;
        };
        let read = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(SNIFF_LINES)
            .enumerate()
            .filter(|(i, l)| {
                matches!(reader.parse(l, i + 1, &cols), Ok(Parsed::Rows(r)) if !r.is_empty())
            })
            .count();
        if read > best.1 {
            best = (format, read);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_format_is_known_by_its_content() {
        let of = |t: &str| Format::of_text(t).unwrap();
        assert_eq!(of("{\"step\": 1, \"train_loss\": 2}\n"), Format::JsonLines);
        assert_eq!(
            of("{\n  \"log_history\": [\n {\"loss\": 1, \"step\": 1}]}"),
            Format::TrainerState
        );
        assert_eq!(of("epoch,loss,val_loss\n0,1.2,1.3\n"), Format::Csv);
        assert_eq!(of("step 0: train loss 4.2, val loss 4.3\n"), Format::Text);
        assert_eq!(
            of("0 val 10.93\n0 hella 0.24\n0 train 10.93\n"),
            Format::Streams
        );
        assert_eq!(of("s:0 tel:10.98\ns:250 tel:6.30\n"), Format::KeyValue);
        assert_eq!(
            of("using device cuda\nstep:0/100 val_loss:10.8 train_time:0ms\n"),
            Format::KeyValue
        );
        assert_eq!(
            of(
                "| Training Loss | Epoch | Step | Validation Loss |\n|:--:|:--:|:--:|:--:|\n| No log | 1.0 | 100 | 2.12 |\n| 1.23 | 2.0 | 200 | 1.98 |\n"
            ),
            Format::Table
        );
        assert_eq!(Format::of_text("\n\n"), None);
        let fairseq = "epoch 001:  85 / 282 loss=9.147, nll_loss=9.136, num_updates=100, lr=1e-4";
        assert_eq!(unit_of(fairseq), Some(Unit::Bits));
        assert_eq!(unit_of("s:250 tel:6.1710"), None);
    }
}
