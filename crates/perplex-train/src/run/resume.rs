//! `perplex train --resume`: a run continued from `checkpoints/state.bin` as if it had never
//! stopped.

use std::path::Path;

use burn::tensor::Device;
use perplex_monitor::MetricRecord;
use perplex_monitor::sinks::{csv, jsonl, tensorboard};

use super::{Control, Run};
use crate::data::TrainData;
use crate::error::{Mismatch, same_tokenizer};
use crate::memory;
use crate::run_dir::{OpenRun, RunDirError, RunLock};
use crate::state;
use crate::summary::RunSummary;
use crate::trainer::Trainer;
use crate::{TrainError, fs};

/// Continues `run` from its saved state to its `max_steps`, as if it had never stopped.
/// `data` must be the run's (see [`OpenRun::data`]).
pub fn resume(
    run: &OpenRun,
    data: &TrainData,
    device: &Device,
    control: &Control,
) -> Result<RunSummary, TrainError> {
    let _lock = RunLock::acquire(run.dir.root())?;
    refuse_finished(run)?;
    let path = run.dir.state();
    if !path.is_file() {
        return Err(RunDirError::NoState { path }.into());
    }
    let saved = state::load(&path)?;
    same_tokenizer(
        path.display().to_string(),
        &saved.header.tokenizer_sha256,
        run.dir.tokenizer().display().to_string(),
        &run.fingerprint,
        "point --data-dir at the corpus the run was trained on",
    )?;
    let streams = data.fingerprints();
    for (split, saved, found) in [
        ("train", &saved.header.streams.train, &streams.train),
        ("valid", &saved.header.streams.valid, &streams.valid),
    ] {
        if saved != found {
            return Err(Mismatch::Stream {
                path,
                split,
                saved: saved.clone(),
                found: found.clone(),
            }
            .into());
        }
    }
    let shape = run.config.model().shape(data.tokenizer.vocab_size())?;
    if saved.header.model != shape {
        return Err(Mismatch::Shape {
            path,
            saved: Box::new(saved.header.model),
            config: Box::new(shape),
        }
        .into());
    }
    memory::check(
        &shape,
        run.config.train().batch_size,
        memory::available_bytes(),
    )?;
    let (trainer, progress) = Trainer::restore(&run.config, saved, &path, device)?;
    keep_records_until(&run.dir.metrics(), trainer.steps_done())?;
    tracing::info!(
        "resuming {} at step {}",
        run.dir.root().display(),
        trainer.steps_done()
    );
    Run::new(
        &run.config,
        data,
        &run.dir,
        device,
        shape,
        trainer,
        progress,
    )?
    .run(control, None)
}

/// Refuses to resume a run whose `summary.json` says it finished (all steps, early stopping,
/// its time budget): continuing it would train past its own decision.
fn refuse_finished(run: &OpenRun) -> Result<(), TrainError> {
    match run.summary()? {
        Some(s) if s.stop_reason.is_finished() => Err(RunDirError::Finished {
            path: run.dir.root().to_owned(),
            reason: s.stop_reason,
            steps: s.steps,
        }
        .into()),
        _ => Ok(()),
    }
}

/// Keeps the records of `metrics.jsonl`, `metrics.csv` and the TensorBoard events up to
/// `step` (the resumed run writes the later ones again). A damaged history is mended, and
/// said so: a line that is not a record is rebuilt from the same row of `metrics.csv` when it
/// has one, else dropped (a truncated last line, from a killed run); a missing
/// `metrics.jsonl` is rebuilt from `metrics.csv`. The damaged file is kept beside it.
fn keep_records_until(path: &Path, step: u64) -> Result<(), TrainError> {
    let csv_path = path.with_extension("csv");
    let from_csv = std::fs::read_to_string(&csv_path)
        .map(|t| csv::read_rows(&t))
        .unwrap_or_default();
    let (records, notes) = match std::fs::read_to_string(path) {
        Ok(text) => mend(&text, &from_csv),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => rebuild(&from_csv),
        Err(e) => return Err(TrainError::io(path, e)),
    };
    if !notes.is_empty() {
        keep_damaged(path)?;
        for note in &notes {
            tracing::warn!("{}: {note}", path.display());
        }
    }
    let kept: Vec<MetricRecord> = records.into_iter().filter(|r| r.step() <= step).collect();
    for (file, text) in [
        (path, jsonl::to_text(&kept)),
        (&csv_path, csv::to_text(&kept)),
    ] {
        fs::write_atomically(file, text.as_bytes()).map_err(|e| TrainError::io(file, e))?;
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    tensorboard::rewrite_events(dir, &kept)?;
    Ok(())
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
fn keep_damaged(path: &Path) -> Result<(), TrainError> {
    if !path.exists() {
        return Ok(());
    }
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let copy = path.with_extension(format!("jsonl.damaged-{secs}"));
    std::fs::copy(path, &copy).map_err(|e| TrainError::io(&copy, e))?;
    tracing::warn!(
        "{}: the damaged file is kept as {}",
        path.display(),
        copy.display()
    );
    Ok(())
}
