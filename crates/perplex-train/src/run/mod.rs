//! A training run from its first step to its summary.
//!
//! The loop reads on one screen: `step → log? → evaluate? → checkpoint? → stop?`, and every
//! stop reason (all steps, early stopping, the time budget, Ctrl-C, a non-finite loss) leaves
//! through the same [`Run::finish`], which restores the best weights, writes `summary.json`
//! and reports. What the run measures goes out as [`Event`]s to its observers: the console
//! (progress bar and log) and the metric sinks.

mod checkpointing;
mod console;
mod evaluation;
mod events;
mod observers;
mod resume;
mod stop;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use burn::tensor::Device;
use perplex_model::GptConfig;
use perplex_monitor::baselines::{uniform_loss, unigram_loss};
use perplex_monitor::{BaselineRecord, Cadence, Monitor, StopDecision, StopReason, TrainRecord};

pub use crate::progress::{LossWindow, Progress};
pub use evaluation::{Measurement, measure};
pub use resume::resume;

use crate::TrainError;
use crate::config::RunConfig;
use crate::data::StreamFingerprints;
use crate::data::TrainData;
use crate::evaluate::evaluate;
use crate::memory;
use crate::run_dir::{NewRun, RunDir};
use crate::summary::RunSummary;
use crate::trainer::{StepStats, Trainer};
use events::Event;
use observers::Observers;

/// How a caller steers a running training: a flag that, once set (by a signal handler, say),
/// makes the loop finish its step, save everything and return.
#[derive(Debug, Clone, Default)]
pub struct Control {
    /// Set to ask the run to stop after the current step.
    pub stop: Arc<AtomicBool>,
}

/// Trains a fresh model as `config` says on `data` in the claimed directory `run`, under its
/// lock. The run is built in its staging directory and moved into place once its model and
/// data sampler exist (nothing is left behind, and no run it replaces is lost, when it fails
/// before). Returns the summary also written to `summary.json`.
pub fn train(
    config: &RunConfig,
    data: &TrainData,
    run: NewRun,
    device: &Device,
    control: &Control,
) -> Result<RunSummary, TrainError> {
    let shape = config.model().shape(data.tokenizer.vocab_size())?;
    memory::check(&shape, config.train().batch_size, memory::available_bytes())?;
    let trainer = Trainer::new(config, &shape, data.train.len(), device)?;
    let staging = run.staging();
    let resolved = config.with_vocab_size(shape.vocab_size);
    std::fs::write(staging.config(), resolved.to_toml())
        .map_err(|e| TrainError::io(staging.config(), e))?;
    data.tokenizer.save(&staging.tokenizer())?;
    let (run, _lock) = run.commit()?;
    let run = &run;
    let baseline = measure_baselines(config, data, &trainer)?;
    let monitor = Monitor::new(
        config.monitor().detectors.clone(),
        config.early_stopping().clone(),
        baseline.baselines(),
    );
    let progress = Progress::new(monitor);
    Run::new(config, data, run, device, shape, trainer, progress)?.run(control, Some(&baseline))
}

/// The levels the run is judged against, measured once before its first step: the uniform
/// guess, a unigram model of the train stream, and the untrained model's validation loss.
fn measure_baselines(
    config: &RunConfig,
    data: &TrainData,
    trainer: &Trainer,
) -> Result<BaselineRecord, TrainError> {
    let vocab_size = data.tokenizer.vocab_size();
    let started = Instant::now();
    // In f32 whatever `train.precision` trains with, as every evaluation of the run.
    let initial = perplex_model::with_precision(perplex_model::Precision::Fp32, || {
        evaluate(
            &trainer.eval_model(),
            &data.valid,
            config.train().eval_batch(),
        )
    });
    Ok(BaselineRecord {
        step: 0,
        vocab_size,
        uniform: uniform_loss(vocab_size),
        unigram: unigram_loss(&data.train, &data.valid, vocab_size),
        initial: initial.mean(),
        train_tokens: data.train.len() as u64,
        eval_tokens: initial.tokens,
        eval_s: started.elapsed().as_secs_f64(),
        tokenizer_sha256: Some(data.tokenizer.fingerprint()?),
    })
}

/// One training run in progress: the trainer plus everything it measures and writes.
struct Run<'a> {
    config: &'a RunConfig,
    data: &'a TrainData,
    dir: &'a RunDir,
    device: String,
    shape: GptConfig,
    fingerprint: String,
    /// The token streams' fingerprints, saved with the state.
    streams: StreamFingerprints,
    cadence: Cadence,
    trainer: Trainer,
    progress: Progress,
    observers: Observers,
    /// When this process started training, minus the wall time of earlier sessions.
    started: Instant,
}

impl<'a> Run<'a> {
    fn new(
        config: &'a RunConfig,
        data: &'a TrainData,
        dir: &'a RunDir,
        device: &Device,
        shape: GptConfig,
        trainer: Trainer,
        mut progress: Progress,
    ) -> Result<Self, TrainError> {
        let t = config.train();
        progress
            .monitor
            .set_contamination(crate::data_check::contamination(&dir.data_check()));
        progress.monitor.set_horizon(Some(t.max_steps));
        let started = Instant::now()
            .checked_sub(Duration::from_secs_f64(progress.wall_s))
            .unwrap_or_else(Instant::now);
        Ok(Self {
            cadence: Cadence {
                max_steps: t.max_steps,
                eval_every: t.eval_every,
                log_every: t.log_every,
            },
            fingerprint: data.tokenizer.fingerprint()?,
            streams: data.fingerprints(),
            observers: Observers::open(dir, t.max_steps, trainer.steps_done())?,
            device: format!("{device:?}"),
            config,
            data,
            dir,
            shape,
            trainer,
            progress,
            started,
        })
    }

    /// Steps until something stops the run, then finishes it. A new run writes its
    /// `baseline` record first.
    fn run(
        mut self,
        control: &Control,
        baseline: Option<&BaselineRecord>,
    ) -> Result<RunSummary, TrainError> {
        self.observers.emit(&Event::Started {
            shape: &self.shape,
            train_tokens: self.data.train.len(),
            valid_tokens: self.data.valid.len(),
            max_steps: self.cadence.max_steps,
            tokens_per_step: self.trainer.tokens_per_step(),
            device: &self.device,
            baselines: *self.progress.monitor.baselines(),
            memory: self.shape.train_memory(self.config.train().batch_size),
        })?;
        if let Some(record) = baseline {
            self.progress.eval_s += record.eval_s;
            self.observers.emit(&Event::Baseline(record))?;
        }
        let mut stop = stop::after_step(self.now(None, control));
        while stop.is_none() {
            let started = Instant::now();
            let stats = self.trainer.step(&self.data.train);
            stop = self.after_step(stats, started.elapsed(), control)?;
        }
        self.finish(stop.expect("the loop ends on a stop decision"))
    }

    /// Everything after one optimizer step: log? → evaluate? → checkpoint? → stop?
    fn after_step(
        &mut self,
        stats: StepStats,
        took: Duration,
        control: &Control,
    ) -> Result<Option<StopDecision>, TrainError> {
        let step = self.trainer.steps_done();
        self.observers.emit(&Event::Stepped { step })?;
        if let Some(stop) = stop::non_finite(step, &stats) {
            self.observers.emit(&Event::NonFinite { step, stats })?;
            return Ok(Some(stop));
        }
        self.record_step(step, &stats, took)?;
        let evaluate = self.cadence.eval_after(step) || self.now(None, control).budget_spent();
        let early_stop = if evaluate {
            self.evaluate(step, stats.lr)?
        } else {
            None
        };
        let stop = stop::after_step(self.now(early_stop, control));
        let every = self.config.train().checkpoint_every;
        if evaluate || stop.is_some() || (every > 0 && step.is_multiple_of(every)) {
            self.save_last(step)?;
        }
        Ok(stop)
    }

    /// Feeds one finished step to the monitor and the loss window; writes the train record
    /// when the cadence says so.
    fn record_step(
        &mut self,
        step: u64,
        stats: &StepStats,
        took: Duration,
    ) -> Result<(), TrainError> {
        let tokens = self.trainer.tokens_per_step();
        let seconds = took.as_secs_f64();
        self.progress.train_s += seconds;
        if let Some(signal) = self.progress.monitor.on_step(step, stats.loss, tokens) {
            self.observers.emit(&Event::Spike(&signal))?;
        }
        self.progress.window.add(stats.loss, tokens, seconds);
        if !self.cadence.log_after(step) {
            return Ok(());
        }
        let window = std::mem::take(&mut self.progress.window);
        let loss = window.loss.mean();
        let record = TrainRecord {
            step,
            tokens_seen: self.trainer.tokens_seen(),
            lr: stats.lr,
            loss,
            ppl: loss.exp(),
            tokens_per_s: window.tokens_per_s(),
            wall_s: self.wall_s(),
            tokenizer_sha256: Some(self.fingerprint.clone()),
        };
        self.observers.emit(&Event::Train(&record))
    }

    /// What the loop knows now, for [`stop::after_step`].
    fn now(&self, early_stop: Option<StopDecision>, control: &Control) -> stop::AfterStep {
        stop::AfterStep {
            step: self.trainer.steps_done(),
            max_steps: self.cadence.max_steps,
            early_stop,
            wall_s: self.wall_s(),
            budget_s: self.config.train().time_budget_s,
            interrupted: control.stop.load(Ordering::SeqCst),
        }
    }

    fn wall_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// The one way out: the best weights become the final ones (unless interrupted),
    /// `summary.json` is written with why the run stopped, and the observers told. Every stop
    /// is a summary, not an error: the caller reads `stop_reason` (the binary maps it to its
    /// exit status).
    fn finish(mut self, stop: StopDecision) -> Result<RunSummary, TrainError> {
        let restored_best = stop.reason != StopReason::Interrupted && self.restore_best()?;
        let p = &self.progress;
        let best = p.monitor.best();
        let summary = RunSummary {
            stop_reason: stop.reason,
            stop: Some(stop.clone()),
            steps: self.trainer.steps_done(),
            tokens_seen: self.trainer.tokens_seen(),
            params: self.shape.num_params(),
            best_step: best.map(|b| b.step),
            best_val_loss: best.map(|b| b.val_loss),
            best_val_ppl: best.map(|b| b.val_loss.exp()),
            val_tokens: p.val_tokens,
            wall_s: self.wall_s(),
            eval_s: p.eval_s,
            train_tokens_per_s: self.trainer.tokens_seen() as f64 / p.train_s.max(1e-9),
            device: self.device.clone(),
            tokenizer_sha256: self.fingerprint.clone(),
            health: p.monitor.run_health(),
            baselines: Some(*p.monitor.baselines()),
            restored_best,
        };
        let path = self.dir.summary();
        perplex_monitor::sinks::write_atomically(&path, summary.to_json().as_bytes())
            .map_err(|e| TrainError::io(&path, e))?;
        self.observers.emit(&Event::Stopped {
            step: summary.steps,
            decision: &stop,
            budget_s: self.config.train().time_budget_s,
            dir: self.dir,
        })?;
        Ok(summary)
    }
}
