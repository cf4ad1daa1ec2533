//! Watching a log perplex did not write: rows of step / train loss / val loss from JSON lines,
//! CSV, nanoGPT's text log or a TensorBoard event directory, fed to the same [`Monitor`] that
//! watches perplex's own runs.

pub mod csv;
pub mod json;
pub mod tensorboard;
#[cfg(test)]
mod tests;
pub mod text;

use std::path::Path;

use crate::baselines::Baselines;
use crate::monitor::{Judgement, Monitor, Observation};
use crate::signal::Signal;

/// Which columns (CSV) or keys (JSON) hold the numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    /// The optimizer step.
    pub step: String,
    /// The training loss.
    pub train: String,
    /// The validation loss.
    pub val: String,
}

impl Default for Columns {
    fn default() -> Self {
        Self {
            step: "step".into(),
            train: "train_loss".into(),
            val: "val_loss".into(),
        }
    }
}

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
    /// The baselines of a perplex run (its `baseline` record).
    Baselines(Baselines),
}

impl Row {
    /// The loss a train or eval row carries, nats per token.
    pub fn loss(&self) -> Option<f64> {
        match *self {
            Row::Train { loss, .. } => Some(loss),
            Row::Eval { val, .. } => Some(val),
            Row::Baselines(_) => None,
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
            Row::Baselines(b) => Row::Baselines(b),
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

/// The formats `perplex watch` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line (perplex's `metrics.jsonl`, most loggers).
    JsonLines,
    /// CSV with a header row.
    Csv,
    /// nanoGPT's printed log.
    Text,
    /// A directory of TensorBoard event files.
    TensorBoard,
}

impl Format {
    /// The format `path` has whatever it holds: a directory is TensorBoard events, a `.csv`
    /// file CSV; `None` when the first line decides (see [`Format::of_first_line`]).
    pub fn of_path(path: &Path) -> Option<Format> {
        if path.is_dir() {
            Some(Format::TensorBoard)
        } else if path.extension().is_some_and(|e| e == "csv") {
            Some(Format::Csv)
        } else {
            None
        }
    }

    /// The format of a log whose first non-empty line is `line`: JSON lines when it is an
    /// object, nanoGPT text otherwise.
    pub fn of_first_line(line: &str) -> Format {
        if line.trim_start().starts_with('{') {
            Format::JsonLines
        } else {
            Format::Text
        }
    }

    /// The format of `path` as it is now: [`Format::of_path`], else its first non-empty line
    /// (JSON lines for an empty or unreadable file).
    pub fn detect(path: &Path) -> Format {
        Format::of_path(path).unwrap_or_else(|| {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            text.lines()
                .find(|l| !l.trim().is_empty())
                .map_or(Format::JsonLines, Format::of_first_line)
        })
    }

    /// The format's name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::JsonLines => "JSON lines",
            Format::Csv => "CSV",
            Format::Text => "nanoGPT text",
            Format::TensorBoard => "TensorBoard events",
        }
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
}

impl LineReader {
    /// A reader for a line-based `format` (TensorBoard is not one).
    pub fn new(format: Format) -> Option<Self> {
        match format {
            Format::JsonLines => Some(LineReader::Json),
            Format::Csv => Some(LineReader::Csv(csv::CsvReader::default())),
            Format::Text => Some(LineReader::Text),
            Format::TensorBoard => None,
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
        }
    }
}

/// What the monitor said about one row.
#[derive(Debug, Clone, PartialEq)]
pub enum Said {
    /// A training row raised a signal (`unstable`, `non_finite`).
    Step(Signal),
    /// An evaluation row was judged.
    Eval {
        /// The row's step.
        step: u64,
        /// The judgement.
        judgement: Judgement,
    },
}

/// Feeds one row to `monitor` (a training row counts as one step of unknown size); returns
/// what it said, if anything. A perplex baseline record sets the monitor's levels; otherwise,
/// when the step-0 level is unknown, the first row's loss stands for it.
pub fn feed(monitor: &mut Monitor, row: Row) -> Option<Said> {
    if let Row::Baselines(b) = row {
        monitor.set_baselines(b);
        return None;
    }
    if monitor.is_fresh()
        && monitor.baselines().initial.is_none()
        && let Some(loss) = row.loss().filter(|l| l.is_finite())
    {
        let inferred = Baselines {
            initial: Some(loss),
            ..*monitor.baselines()
        };
        monitor.set_baselines(inferred);
    }
    match row {
        Row::Baselines(_) => None,
        Row::Train { step, loss } => monitor.on_step(step, loss, 1).map(Said::Step),
        Row::Eval {
            step,
            val,
            train_eval,
            lr,
        } => {
            let judgement = monitor.on_eval(Observation {
                step,
                val_loss: val,
                train_eval_loss: train_eval,
                lr,
                samples: &[],
            });
            Some(Said::Eval { step, judgement })
        }
    }
}
