//! `metrics.jsonl`: one JSON object per record and line.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::{MetricSink, SinkError, append, write_line};
use crate::records::MetricRecord;

/// Appends records to a JSON-lines file.
#[derive(Debug)]
pub struct JsonlSink {
    path: PathBuf,
    file: File,
}

impl JsonlSink {
    /// Opens `path` for appending, creating it if needed.
    pub fn open(path: &Path) -> Result<Self, SinkError> {
        Ok(Self {
            file: append(path)?,
            path: path.to_owned(),
        })
    }
}

impl MetricSink for JsonlSink {
    fn write(&mut self, record: &MetricRecord) -> Result<(), SinkError> {
        write_line(&mut self.file, &self.path, &line(record))
    }
}

/// A record as one line of JSON (no line break).
pub fn line(record: &MetricRecord) -> String {
    serde_json::to_string(record).expect("a metric record always serialises")
}

/// The whole text of a `metrics.jsonl` holding `records`.
pub fn to_text(records: &[MetricRecord]) -> String {
    records.iter().map(|r| line(r) + "\n").collect()
}

/// Reads every record of a `metrics.jsonl` file, refusing any line that is not one.
pub fn read_records(path: &Path) -> Result<Vec<MetricRecord>, SinkError> {
    let file = File::open(path).map_err(|e| SinkError::io(path, e))?;
    let mut records = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| SinkError::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let record = serde_json::from_str(&line).map_err(|source| SinkError::Parse {
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

    #[test]
    fn a_bad_line_is_reported_with_its_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        std::fs::write(&path, "\n{\"kind\":\"train\"}\n").unwrap();
        let err = read_records(&path).unwrap_err();
        assert!(err.to_string().contains("metrics.jsonl:2"), "{err}");
    }
}
