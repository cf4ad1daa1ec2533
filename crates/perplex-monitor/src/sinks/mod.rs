//! Where records go: `metrics.jsonl`, `metrics.csv` and TensorBoard event files, each behind
//! the one [`MetricSink`] trait, and [`RunSinks`], which writes a record to all three.
//!
//! Every writer flushes each record as it is written, so a crashed or killed run keeps every
//! record up to its last step.

pub mod csv;
pub mod durable;
pub mod jsonl;
pub mod repair;
pub mod tensorboard;

pub use durable::write_atomically;

use std::path::{Path, PathBuf};

use crate::records::MetricRecord;

/// Something that takes a run's records as they are made.
pub trait MetricSink {
    /// Writes one record (and flushes it).
    fn write(&mut self, record: &MetricRecord) -> Result<(), SinkError>;
}

/// A metrics file that cannot be written or read, naming it.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The file could not be opened, written or read.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A line of the file is not a metrics record.
    #[error("{path}:{line}: not a metrics record: {source}")]
    Parse {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
}

impl SinkError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// The three sinks of a run directory: `metrics.jsonl`, `metrics.csv` beside it, and a new
/// TensorBoard event file in the same directory.
pub struct RunSinks {
    sinks: Vec<Box<dyn MetricSink>>,
}

impl RunSinks {
    /// Opens (creating or appending to) the JSON-lines file at `jsonl`, the CSV file of the
    /// same name with the extension `csv`, and a new event file in their directory.
    pub fn open(jsonl: &Path) -> Result<Self, SinkError> {
        let dir = jsonl.parent().filter(|d| !d.as_os_str().is_empty());
        Ok(Self {
            sinks: vec![
                Box::new(jsonl::JsonlSink::open(jsonl)?),
                Box::new(csv::CsvSink::open(&jsonl.with_extension("csv"))?),
                Box::new(tensorboard::EventWriter::create(
                    dir.unwrap_or(Path::new(".")),
                )?),
            ],
        })
    }
}

impl MetricSink for RunSinks {
    fn write(&mut self, record: &MetricRecord) -> Result<(), SinkError> {
        self.sinks.iter_mut().try_for_each(|s| s.write(record))
    }
}

/// Opens `path` for appending, creating it if needed.
fn append(path: &Path) -> Result<std::fs::File, SinkError> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| SinkError::io(path, e))
}

/// Writes `line` and a line break to `file` and flushes it.
fn write_line(file: &mut std::fs::File, path: &Path, line: &str) -> Result<(), SinkError> {
    use std::io::Write;
    writeln!(file, "{line}")
        .and_then(|_| file.flush())
        .map_err(|e| SinkError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::tests::{eval, train};
    use crate::signal::SignalKind;

    #[test]
    fn a_record_reaches_all_three_files_and_reads_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let written = vec![
            train(10, 5.123456789012345),
            eval(10, 4.987654321098765, &[SignalKind::Healthy]),
        ];
        let mut sinks = RunSinks::open(&path).unwrap();
        for r in &written {
            sinks.write(r).unwrap();
        }
        assert_eq!(jsonl::read_records(&path).unwrap(), written);
        let csv = std::fs::read_to_string(path.with_extension("csv")).unwrap();
        assert!(csv.starts_with("kind,step,"), "a header first: {csv}");
        let rows: Vec<_> = csv::read_rows(&csv).into_iter().flatten().collect();
        let losses: Vec<_> = rows.iter().map(|r| (r.step(), r.loss())).collect();
        assert_eq!(losses, [(10, 5.123456789012345), (10, 4.987654321098765)]);
        let events = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().starts_with("events.out.tfevents.")
            })
            .count();
        assert_eq!(events, 1);
    }
}
