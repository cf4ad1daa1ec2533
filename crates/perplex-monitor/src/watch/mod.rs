//! Watching a log perplex did not write: rows of step / train loss / val loss / learning rate
//! from whatever a trainer wrote (JSON lines, CSV, Hugging Face's `trainer_state.json`,
//! nanoGPT's, build-nanogpt's and any `key: value` printed log, printed tables, TensorBoard
//! events), fed to
//! the same [`crate::Monitor`] that watches perplex's own runs. Each format's reader is one
//! file; [`detect`] picks one from the content; [`feeder`] feeds the rows to the monitor.

pub mod columns;
pub mod csv;
pub mod detect;
pub mod feeder;
pub mod json;
pub mod keyvalue;
pub mod pairs;
pub mod streams;
pub mod table;
pub mod tensorboard;
#[cfg(test)]
mod tests;
pub mod text;
pub mod trainer_state;
pub mod vocab;

pub use columns::Columns;
pub use detect::Format;
pub use feeder::{Feeder, RunEnd, Said};

use crate::baselines::Baselines;

/// The unit a log writes its losses in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "lowercase")]
pub enum Unit {
    /// Nats per token (PyTorch's cross-entropy, perplex).
    #[default]
    Nats,
    /// Bits per token.
    Bits,
    /// Perplexity, `exp(nats)`.
    Ppl,
}

impl Unit {
    /// `value` in nats per token.
    pub fn to_nats(self, value: f64) -> f64 {
        match self {
            Unit::Nats => value,
            Unit::Bits => value * std::f64::consts::LN_2,
            Unit::Ppl => value.ln(),
        }
    }
}

impl std::fmt::Display for Unit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.into())
    }
}

impl std::str::FromStr for Unit {
    type Err = crate::names::UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        crate::names::parse(s, "unit")
    }
}

/// One observation of a log.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Row {
    /// A training loss at a step.
    Train { step: u64, loss: f64 },
    /// A validation loss at a step, with the eval-mode train loss and the learning rate
    /// when the log has them.
    Eval {
        step: u64,
        val: f64,
        train_eval: Option<f64>,
        lr: Option<f64>,
    },
    /// The learning rate in force at a step, from a training line.
    Lr { step: u64, lr: f64 },
    /// The baselines of a perplex run (its `baseline` record).
    Baselines(Baselines),
}

impl Row {
    /// The rows of one record of a log: its training loss, its validation loss (with the
    /// rate), and the rate in force when the record holds a loss at all.
    pub fn of_record(step: u64, train: Option<f64>, val: Option<f64>, lr: Option<f64>) -> Vec<Row> {
        let mut rows: Vec<Row> = train
            .map(|loss| Row::Train { step, loss })
            .into_iter()
            .collect();
        rows.extend(val.map(|val| Row::Eval {
            step,
            val,
            train_eval: None,
            lr,
        }));
        if !rows.is_empty() {
            rows.extend(lr.map(|lr| Row::Lr { step, lr }));
        }
        rows
    }

    /// An evaluation row with only its validation loss (nats per token) at `step`.
    pub fn eval(step: u64, val: f64) -> Row {
        Row::Eval {
            step,
            val,
            train_eval: None,
            lr: None,
        }
    }

    /// The loss a train or eval row carries, nats per token.
    pub fn loss(&self) -> Option<f64> {
        match *self {
            Row::Train { loss, .. } => Some(loss),
            Row::Eval { val, .. } => Some(val),
            Row::Lr { .. } | Row::Baselines(_) => None,
        }
    }

    /// The row with its losses converted from `unit` to nats (baselines are perplex's own,
    /// already in nats).
    pub fn in_nats(self, unit: Unit) -> Row {
        match self {
            Row::Train { step, loss } => Row::Train {
                step,
                loss: unit.to_nats(loss),
            },
            Row::Eval {
                step,
                val,
                train_eval,
                lr,
            } => Row::Eval {
                step,
                val: unit.to_nats(val),
                train_eval: train_eval.map(|t| unit.to_nats(t)),
                lr,
            },
            Row::Lr { .. } | Row::Baselines(_) => self,
        }
    }
}

/// What one line of a log gave: rows, or nothing worth reading (and why).
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// The line's observations (possibly none).
    Rows(Vec<Row>),
    /// A line that holds no observation: a config record, a header, a comment.
    Skipped(String),
}

/// A line of a log that cannot be read, with its number.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct RowError {
    /// 1-based line number (0 for a TensorBoard record).
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// The text of a number as a log writes it: decimal, or `nan`, `inf`, `NaN`, `Infinity`.
fn number_text(text: &str) -> Option<f64> {
    match text {
        "NaN" | "nan" => Some(f64::NAN),
        "Infinity" | "inf" => Some(f64::INFINITY),
        "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
        _ => text.parse().ok(),
    }
}

/// Reads a line-based log one line at a time.
#[derive(Debug, Clone)]
pub enum LineReader {
    /// JSON lines.
    Json,
    /// CSV, with its header once read.
    Csv(csv::CsvReader),
    /// nanoGPT text.
    Text,
    /// build-nanogpt's `log.txt`.
    Streams,
    /// Any printed `key: value` log.
    KeyValue(keyvalue::KeyValueReader),
    /// A printed table of named columns.
    Table(table::TableReader),
}

impl LineReader {
    /// A reader for a line-based `format` (a whole document or an event directory is not
    /// one).
    pub fn new(format: Format) -> Option<Self> {
        match format {
            Format::JsonLines => Some(LineReader::Json),
            Format::Csv => Some(LineReader::Csv(csv::CsvReader::default())),
            Format::Text => Some(LineReader::Text),
            Format::Streams => Some(LineReader::Streams),
            Format::KeyValue => Some(LineReader::KeyValue(Default::default())),
            Format::Table => Some(LineReader::Table(Default::default())),
            Format::TrainerState | Format::TensorBoard => None,
        }
    }

    /// What the reader has to say about how it reads the log (which column it took, say),
    /// once: `None` after the first call.
    pub fn take_note(&mut self) -> Option<String> {
        match self {
            LineReader::Csv(reader) => reader.take_note(),
            _ => None,
        }
    }

    /// Reads line number `line` (1-based) of the log.
    pub fn parse(&mut self, text: &str, line: usize, cols: &Columns) -> Result<Parsed, RowError> {
        if text.trim().is_empty() {
            return Ok(Parsed::Rows(Vec::new()));
        }
        match self {
            LineReader::Json => json::parse(text.trim(), line, cols),
            LineReader::Csv(reader) => reader.parse(text, line, cols),
            LineReader::Text => text::parse(text, line),
            LineReader::Streams => streams::parse(text, line),
            LineReader::KeyValue(reader) => reader.parse(text, line, cols),
            LineReader::Table(reader) => reader.parse(text, line),
        }
    }
}
