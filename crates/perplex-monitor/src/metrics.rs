//! The records of `metrics.jsonl` and the sink that writes them.
//!
//! One JSON object per line, flushed as soon as it is written, so a crashed or killed run
//! keeps every record up to its last step.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::tensorboard::EventWriter;

/// What a record measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    /// Mean training loss over the steps since the previous train record (dropout on).
    Train,
    /// A full validation pass in eval mode.
    Eval,
}

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricRecord {
    /// Train or eval.
    pub kind: MetricKind,
    /// Optimizer steps completed.
    pub step: u64,
    /// Training tokens seen so far (steps × batch × ctx).
    pub tokens_seen: u64,
    /// Learning rate of the last step.
    pub lr: f64,
    /// Mean NLL per token, in nats.
    pub loss: f64,
    /// Perplexity, `exp(loss)`.
    pub ppl: f64,
    /// Training throughput since the previous train record, tokens per second (train only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_s: Option<f64>,
    /// Seconds since the run started.
    pub wall_s: f64,
    /// Tokens predicted by the evaluation pass (eval only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_tokens: Option<u64>,
    /// Seconds the evaluation pass took (eval only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_s: Option<f64>,
    /// Whether this evaluation is the best so far, saved as the `best` checkpoint (eval only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best: Option<bool>,
    /// sha256 of the run's canonical `tokenizer.json`: losses and perplexities are comparable
    /// only between records with the same fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer_sha256: Option<String>,
    /// What the monitor read at this evaluation (eval only).
    #[serde(default, skip_serializing_if = "Option::is_none", flatten)]
    pub reading: Option<Reading>,
}

/// The monitor's reading of one evaluation: the losses it compared, the signals it named,
/// the health it scored, and the samples it checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// Validation NLL per token in bits.
    pub bits_per_token: f64,
    /// Validation NLL per character of the evaluated text, in bits (comparable across
    /// tokenizers).
    pub bits_per_char: f64,
    /// Mean training loss (dropout on) of the steps since the previous evaluation, nats.
    pub train_loss: f64,
    /// Loss of the fixed train slice in eval mode, nats.
    pub train_eval_loss: f64,
    /// Generalisation gap: val − eval-mode train loss, nats.
    pub gap: f64,
    /// Health score, 0–100.
    pub health: f64,
    /// The signals of this evaluation (the run's state first).
    pub signals: Vec<crate::Signal>,
    /// Generated samples with their repetition diagnostics.
    pub samples: Vec<crate::Sample>,
}

/// Errors of the metric sink, each naming its file.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The file could not be opened, written or read.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A line of the file is not a metric record.
    #[error("{path}:{line}: not a metrics record: {source}")]
    Parse {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
}

/// The columns of `metrics.csv`, one row per record (empty cells where a record has no value;
/// `signals` lists the signal kinds separated by `;`).
pub const CSV_HEADER: &str = "kind,step,tokens_seen,lr,loss,ppl,tokens_per_s,wall_s,eval_tokens,\
eval_s,best,bits_per_token,bits_per_char,train_loss,train_eval_loss,gap,health,signals";

impl MetricRecord {
    /// The record as one `metrics.csv` row (no line break).
    pub fn csv_row(&self) -> String {
        fn opt<T: ToString>(v: Option<T>) -> String {
            v.map(|v| v.to_string()).unwrap_or_default()
        }
        let r = self.reading.as_ref();
        let kind = match self.kind {
            MetricKind::Train => "train",
            MetricKind::Eval => "eval",
        };
        [
            kind.to_string(),
            self.step.to_string(),
            self.tokens_seen.to_string(),
            self.lr.to_string(),
            self.loss.to_string(),
            self.ppl.to_string(),
            opt(self.tokens_per_s),
            self.wall_s.to_string(),
            opt(self.eval_tokens),
            opt(self.eval_s),
            opt(self.best),
            opt(r.map(|r| r.bits_per_token)),
            opt(r.map(|r| r.bits_per_char)),
            opt(r.map(|r| r.train_loss)),
            opt(r.map(|r| r.train_eval_loss)),
            opt(r.map(|r| r.gap)),
            opt(r.map(|r| r.health)),
            r.map(|r| {
                r.signals
                    .iter()
                    .map(|s| s.kind.name())
                    .collect::<Vec<_>>()
                    .join(";")
            })
            .unwrap_or_default(),
        ]
        .join(",")
    }
}

/// Appends records to `metrics.jsonl` and, beside it, `metrics.csv` (one flushed line per
/// record in each) and a TensorBoard event file.
#[derive(Debug)]
pub struct MetricsSink {
    path: PathBuf,
    file: File,
    csv_path: PathBuf,
    csv: File,
    events: EventWriter,
}

impl MetricsSink {
    /// Opens (creating or appending to) the JSON-lines file at `path` and the CSV file of the
    /// same name with the extension `csv`, writing the CSV header if that file is new, and
    /// creates a new TensorBoard event file in the same directory.
    pub fn open(path: &Path) -> Result<Self, MetricsError> {
        let csv_path = path.with_extension("csv");
        let append = |p: &Path| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|source| MetricsError::Io {
                    path: p.to_owned(),
                    source,
                })
        };
        let file = append(path)?;
        let mut csv = append(&csv_path)?;
        let empty = csv.metadata().map(|m| m.len() == 0).unwrap_or(true);
        if empty {
            writeln!(csv, "{CSV_HEADER}").map_err(|source| MetricsError::Io {
                path: csv_path.clone(),
                source,
            })?;
        }
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        let events = EventWriter::create(dir.unwrap_or(Path::new(".")))?;
        Ok(Self {
            path: path.to_owned(),
            file,
            csv_path,
            csv,
            events,
        })
    }

    /// Writes one record as a line of each file and flushes them.
    pub fn write(&mut self, record: &MetricRecord) -> Result<(), MetricsError> {
        let mut line = serde_json::to_string(record).expect("a metric record always serialises");
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|_| self.file.flush())
            .map_err(|source| MetricsError::Io {
                path: self.path.clone(),
                source,
            })?;
        writeln!(self.csv, "{}", record.csv_row())
            .and_then(|_| self.csv.flush())
            .map_err(|source| MetricsError::Io {
                path: self.csv_path.clone(),
                source,
            })?;
        self.events.record(record)
    }
}

/// The whole text of a `metrics.csv` holding `records` (to rewrite it after a resume dropped
/// records).
pub fn csv_text(records: &[MetricRecord]) -> String {
    let mut text = format!("{CSV_HEADER}\n");
    for r in records {
        text.push_str(&r.csv_row());
        text.push('\n');
    }
    text
}

/// Reads every record of a `metrics.jsonl` file.
pub fn read_metrics(path: &Path) -> Result<Vec<MetricRecord>, MetricsError> {
    let file = File::open(path).map_err(|source| MetricsError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut records = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| MetricsError::Io {
            path: path.to_owned(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let record = serde_json::from_str(&line).map_err(|source| MetricsError::Parse {
            path: path.to_owned(),
            line: i + 1,
            source,
        })?;
        records.push(record);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: MetricKind, step: u64, loss: f64) -> MetricRecord {
        MetricRecord {
            kind,
            step,
            tokens_seen: step * 64,
            lr: 1e-3,
            loss,
            ppl: loss.exp(),
            tokens_per_s: (kind == MetricKind::Train).then_some(1234.5),
            wall_s: 1.5,
            eval_tokens: (kind == MetricKind::Eval).then_some(99),
            eval_s: None,
            best: (kind == MetricKind::Eval).then_some(true),
            tokenizer_sha256: Some("ab12".into()),
            reading: None,
        }
    }

    #[test]
    fn records_round_trip_through_the_file_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let written = vec![
            record(MetricKind::Train, 10, 5.123456789012345),
            record(MetricKind::Eval, 10, 4.987654321098765),
        ];
        let mut sink = MetricsSink::open(&path).unwrap();
        for r in &written {
            sink.write(r).unwrap();
        }
        assert_eq!(read_metrics(&path).unwrap(), written);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.lines().next().unwrap().contains(r#""kind":"train""#));
        let csv = std::fs::read_to_string(path.with_extension("csv")).unwrap();
        assert_eq!(csv, csv_text(&written));
        let rows: Vec<&str> = csv.lines().collect();
        assert_eq!(rows.len(), 3);
        assert!(
            rows[1].starts_with("train,10,640,0.001,5.123456789012345,"),
            "{}",
            rows[1]
        );
        assert_eq!(rows[2].split(',').count(), CSV_HEADER.split(',').count());
    }

    #[test]
    fn a_bad_line_is_reported_with_its_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        std::fs::write(&path, "{\"kind\":\"train\"}\n").unwrap();
        let err = read_metrics(&path).unwrap_err();
        assert!(err.to_string().contains("metrics.jsonl:1"), "{err}");
    }
}
