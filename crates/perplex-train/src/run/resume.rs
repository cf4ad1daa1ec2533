//! `perplex train --resume`: a run continued from `checkpoints/state.bin` as if it had never
//! stopped.

use std::path::Path;

use burn::tensor::Device;
use perplex_monitor::MetricRecord;
use perplex_monitor::sinks::{csv, jsonl, tensorboard};

use super::{Control, Run};
use crate::data::TrainData;
use crate::error::{Mismatch, same_tokenizer};
use crate::run_dir::{OpenRun, RunDirError};
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
    let shape = run.config.model().shape(data.tokenizer.vocab_size())?;
    if saved.header.model != shape {
        return Err(Mismatch::Shape {
            path,
            saved: Box::new(saved.header.model),
            config: Box::new(shape),
        }
        .into());
    }
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

/// Drops the records of `metrics.jsonl`, `metrics.csv` and the TensorBoard events written
/// after `step` (the resumed run writes them again).
fn keep_records_until(path: &Path, step: u64) -> Result<(), TrainError> {
    if !path.exists() {
        return Ok(());
    }
    let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
    let kept: Vec<MetricRecord> = text
        .lines()
        .filter_map(|line| serde_json::from_str::<MetricRecord>(line).ok())
        .filter(|r| r.step() <= step)
        .collect();
    let csv_path = path.with_extension("csv");
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
