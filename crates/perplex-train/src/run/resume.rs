//! `perplex train --resume`: a run continued from `checkpoints/state.bin` as if it had never
//! stopped.

use burn::tensor::Device;
use perplex_monitor::sinks::repair;

use super::{Control, Run};
use crate::TrainError;
use crate::data::TrainData;
use crate::memory;
use crate::mismatch::{Mismatch, same_tokenizer};
use crate::run_dir::{OpenRun, RunDirError, RunLock};
use crate::state;
use crate::summary::RunSummary;
use crate::trainer::Trainer;

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
    let metrics = run.dir.metrics();
    for note in repair::keep_records_until(&metrics, trainer.steps_done())? {
        tracing::warn!("{}: {note}", metrics.display());
    }
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
