//! Mending a run's metrics when it resumes, beside the writers of the same files: the
//! records past the saved state are dropped (the resumed run writes them again), and a
//! damaged `metrics.jsonl` (a line cut short by a kill, a file lost) is rebuilt from
//! `metrics.csv` where it can be, the damaged file kept.

use std::path::Path;

use super::durable::write_atomically;
use super::{SinkError, csv, jsonl, tensorboard};
use crate::records::MetricRecord;

/// Keeps the records of `metrics.jsonl`, `metrics.csv` and the TensorBoard events up to
/// `step` (the resumed run writes the later ones again). A damaged history is mended, and
/// said so: a line that is not a record is rebuilt from the same row of `metrics.csv` when it
/// has one, else dropped (a truncated last line, from a killed run); a missing
/// `metrics.jsonl` is rebuilt from `metrics.csv`. The damaged file is kept beside it.
/// Returns what was mended, a note each, for the caller to tell the user.
pub fn keep_records_until(path: &Path, step: u64) -> Result<Vec<String>, SinkError> {
    let csv_path = path.with_extension("csv");
    let from_csv = std::fs::read_to_string(&csv_path)
        .map(|t| csv::read_rows(&t))
        .unwrap_or_default();
    let (records, notes) = match std::fs::read_to_string(path) {
        Ok(text) => mend(&text, &from_csv),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => rebuild(&from_csv),
        Err(e) => return Err(SinkError::io(path, e)),
    };
    let mut notes = notes;
    if !notes.is_empty() {
        notes.extend(keep_damaged(path)?);
    }
    let kept: Vec<MetricRecord> = records.into_iter().filter(|r| r.step() <= step).collect();
    for (file, text) in [
        (path, jsonl::to_text(&kept)),
        (&csv_path, csv::to_text(&kept)),
    ] {
        write_atomically(file, text.as_bytes()).map_err(|e| SinkError::io(file, e))?;
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    tensorboard::rewrite_events(dir, &kept)?;
    Ok(notes)
}

/// The records of a `metrics.jsonl`'s text, each bad line rebuilt from the same row of
/// `from_csv` or dropped; and a note for each.
fn mend(text: &str, from_csv: &[Option<MetricRecord>]) -> (Vec<MetricRecord>, Vec<String>) {
    let lines: Vec<&str> = text.lines().collect();
    let mut notes = Vec::new();
    let mut records = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        if let Ok(record) = serde_json::from_str::<MetricRecord>(line) {
            records.push(record);
        } else if let Some(Some(row)) = from_csv.get(i) {
            notes.push(format!(
                "line {} is not a record; rebuilt from metrics.csv",
                i + 1
            ));
            records.push(row.clone());
        } else if i + 1 == lines.len() && !text.ends_with('\n') {
            notes.push(format!(
                "line {} is cut short (the run was stopped while writing it); dropped",
                i + 1
            ));
        } else if !line.trim().is_empty() {
            notes.push(format!(
                "line {} is not a record and metrics.csv has none; dropped",
                i + 1
            ));
        }
    }
    (records, notes)
}

/// The records of a missing `metrics.jsonl`, from `metrics.csv`'s rows.
fn rebuild(from_csv: &[Option<MetricRecord>]) -> (Vec<MetricRecord>, Vec<String>) {
    let records: Vec<MetricRecord> = from_csv.iter().flatten().cloned().collect();
    let note = if records.is_empty() {
        "is missing, and so is metrics.csv: the history before this session is lost".to_string()
    } else {
        format!(
            "is missing; rebuilt {} records from metrics.csv (without evidence or samples)",
            records.len()
        )
    };
    (records, vec![note])
}

/// Copies a damaged `metrics.jsonl` to `metrics.jsonl.damaged-<unix seconds>` before it is
/// rewritten (nothing to copy when it is missing).
fn keep_damaged(path: &Path) -> Result<Option<String>, SinkError> {
    if !path.exists() {
        return Ok(None);
    }
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let copy = path.with_extension(format!("jsonl.damaged-{secs}"));
    std::fs::copy(path, &copy).map_err(|e| SinkError::io(&copy, e))?;
    Ok(Some(format!(
        "the damaged file is kept as {}",
        copy.display()
    )))
}
