//! The training loop.
//!
//! Each step draws a batch of random windows, computes the mean per-token NLL with dropout on,
//! backpropagates, clips the global gradient norm, and lets AdamW update the weights at the
//! scheduled learning rate. Every `eval_every` steps (and after the last) the model is
//! evaluated on the whole validation split in eval mode; the best weights so far and the
//! latest ones are saved. Everything measured goes to `metrics.jsonl` as it happens.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use indicatif::{ProgressBar, ProgressStyle};
use perplex_data::{CorpusTokenizer, DataDir, Split, TrainSampler, spread_batches};
use perplex_model::{Gpt, GptConfig};
use perplex_monitor::{
    MetricKind, MetricRecord, MetricsSink, NllSum, Reading, Sample, Schedule, StopDecision,
};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, CheckpointMeta};
use crate::evaluate::{batch_tensors, evaluate, evaluate_batches};
use crate::generate::{SampleOptions, generate};
use crate::monitoring::{EvalNumbers, Watch};
use crate::optim::{adamw, clip_global_norm};
use crate::run_dir::{CheckpointKind, RunDir};
use crate::schedule::lr_scheduler;
use crate::state::{self, Progress, SavedState, StateHeader};
use crate::{DataConfig, RunConfig, TrainError};

/// The token streams a run trains and validates on, and the tokenizer that made them.
pub struct TrainData {
    /// The run's tokenizer (`data.tokenizer`, else word-level from the train split).
    pub tokenizer: CorpusTokenizer,
    /// The train stream (possibly capped by `data.max_train_tokens`).
    pub train: Vec<u32>,
    /// The validation stream.
    pub valid: Vec<u32>,
    /// Characters of the validation text (each line and its line break), for bits per
    /// character.
    pub valid_chars: u64,
}

impl TrainData {
    /// Reads train and valid from `dir` and prepares them (see [`TrainData::from_lines`]).
    pub fn prepare(dir: &DataDir, config: &DataConfig) -> Result<Self, TrainError> {
        let train_lines = dir.read_split(Split::Train)?;
        let valid_lines = dir.read_split(Split::Valid)?;
        Self::from_lines(dir, config, &train_lines, &valid_lines)
    }

    /// Makes the tokenizer `config` names (by default a word-level vocabulary from the whole
    /// train split) and encodes train and valid; `max_train_tokens` keeps only the head of the
    /// train stream. `dir` locates `config.tokenizer`.
    pub fn from_lines(
        dir: &DataDir,
        config: &DataConfig,
        train_lines: &[String],
        valid_lines: &[String],
    ) -> Result<Self, TrainError> {
        let tokenizer = corpus_tokenizer(dir, config, train_lines)?;
        let mut train = tokenizer.encode_lines(train_lines)?.ids;
        if let Some(cap) = config.max_train_tokens {
            train.truncate(cap);
        }
        let valid = tokenizer.encode_lines(valid_lines)?.ids;
        let valid_chars = valid_lines
            .iter()
            .map(|l| l.chars().count() as u64 + 1)
            .sum();
        Ok(Self {
            tokenizer,
            train,
            valid,
            valid_chars,
        })
    }
}

/// The tokenizer a run on `dir` uses: the file `config.tokenizer` names (relative to the data
/// directory), or the word-level vocabulary of `train_lines`.
pub fn corpus_tokenizer(
    dir: &DataDir,
    config: &DataConfig,
    train_lines: &[String],
) -> Result<CorpusTokenizer, TrainError> {
    let Some(name) = &config.tokenizer else {
        return Ok(CorpusTokenizer::from_train_lines(train_lines)?);
    };
    let path = dir.root().join(name);
    if !path.is_file() {
        return Err(TrainError::Invalid(format!(
            "{}: no such tokenizer (data.tokenizer = {:?}, relative to the data directory); \
             make one with `perplex tokenizer train --input {} --kind bpe --out {}`",
            path.display(),
            name.display(),
            dir.split_path(Split::Train).display(),
            path.display()
        )));
    }
    Ok(CorpusTokenizer::load(&path)?)
}

/// What one optimizer step measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// Mean NLL per token of the batch, nats (dropout on).
    pub loss: f64,
    /// Global gradient L2 norm before clipping.
    pub grad_norm: f64,
    /// Learning rate used.
    pub lr: f64,
}

impl StepStats {
    /// Whether the loss and the gradient norm are finite numbers.
    pub fn is_finite(&self) -> bool {
        self.loss.is_finite() && self.grad_norm.is_finite()
    }
}

/// Environment variable that turns the loss into NaN at one step, to test how a run meets a
/// non-finite loss (used by perplex's own tests; documented in the README).
pub const INJECT_NAN_ENV: &str = "PERPLEX_INJECT_NAN_AT_STEP";

/// The model and everything that changes as it trains.
pub struct Trainer {
    model: Gpt,
    optim: ModuleOptimizer,
    scheduler: ModuleLrScheduler,
    sampler: TrainSampler,
    device: Device,
    seed: u64,
    grad_clip: f64,
    step: u64,
    tokens_per_step: u64,
    inject_nan_at: Option<u64>,
}

impl Trainer {
    /// A fresh model of `shape` on `device` (autodiff is added here), seeded by `config`:
    /// the seed fixes the initial weights (drawn on the CPU whatever the device), the data
    /// order and the dropout masks.
    pub fn new(
        config: &RunConfig,
        shape: &GptConfig,
        train_len: usize,
        device: &Device,
    ) -> Result<Self, TrainError> {
        let t = &config.train;
        // Initial weights are drawn on the CPU and then moved, so a seed gives the same
        // starting model on every backend and GPU runs can be checked against CPU ones.
        let cpu = Device::flex().autodiff();
        cpu.seed(t.seed);
        let model = materialize(shape.init(&cpu));
        let sampler = TrainSampler::new(train_len, shape.ctx, t.batch_size, t.seed)?;
        Ok(Self::assemble(config, shape, model, sampler, device))
    }

    /// The trainer of a saved state: weights, optimizer moments, data sampler and step as they
    /// were, the learning-rate schedule replayed to that step.
    pub fn restore(
        config: &RunConfig,
        saved: SavedState,
        path: &std::path::Path,
        device: &Device,
    ) -> Result<(Self, Progress), TrainError> {
        let shape = &saved.header.model;
        let cpu = Device::flex().autodiff();
        let mut model = shape.init(&cpu);
        state::load_weights(&mut model, saved.model, path)?;
        let progress = saved.header.progress;
        let mut trainer = Self::assemble(config, shape, model, progress.sampler.clone(), device);
        trainer.optim = trainer.optim.from_bytes(saved.optimizer).map_err(|e| {
            TrainError::Invalid(format!("{}: optimizer state: {e}", path.display()))
        })?;
        for _ in 0..progress.step {
            trainer.scheduler.step();
        }
        trainer.step = progress.step;
        Ok((trainer, progress))
    }

    fn assemble(
        config: &RunConfig,
        shape: &GptConfig,
        model: Gpt,
        sampler: TrainSampler,
        device: &Device,
    ) -> Self {
        let t = &config.train;
        let device = device.clone().autodiff();
        let model = model.fork(&device);
        Self {
            optim: adamw(t, &model),
            scheduler: lr_scheduler(t),
            sampler,
            device,
            seed: t.seed,
            grad_clip: t.grad_clip,
            step: 0,
            tokens_per_step: (t.batch_size * shape.ctx) as u64,
            inject_nan_at: std::env::var(INJECT_NAN_ENV)
                .ok()
                .and_then(|v| v.parse().ok()),
            model,
        }
    }

    /// One optimizer step on a fresh batch from `train`. A step whose loss or gradient norm
    /// is not finite leaves the weights as they were (and is reported so by the stats).
    pub fn step(&mut self, train: &[u32]) -> StepStats {
        // Dropout masks are a function of (seed, step): a resumed run draws the same ones.
        self.device.seed(step_seed(self.seed, self.step));
        let batch = self.sampler.next_batch(train);
        let (inputs, targets) = batch_tensors(&batch, &self.model.device());
        let mut loss = self.model.nll(inputs, targets).mean();
        if self.inject_nan_at == Some(self.step + 1) {
            loss = loss * f32::NAN;
        }
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        let (grads, norm) = clip_global_norm(&self.model, grads, self.grad_clip);
        // One read from the device per step: the loss and the gradient norm together.
        let loss = loss.inner();
        let norm = norm.unwrap_or_else(|| loss.zeros_like());
        let values = Tensor::cat(vec![loss, norm], 0)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        let value = |i: usize| values.get(i).copied().map_or(f64::NAN, f64::from);
        let lr = self.scheduler.step();
        let stats = StepStats {
            loss: value(0),
            grad_norm: value(1),
            lr: lr.base(),
        };
        if stats.is_finite() {
            self.model = self.optim.step(lr, self.model.clone(), grads);
        }
        self.step += 1;
        stats
    }

    /// The model in eval mode: no dropout, no autodiff graph.
    pub fn eval_model(&self) -> Gpt {
        self.model.valid()
    }

    /// Optimizer steps completed.
    pub fn steps_done(&self) -> u64 {
        self.step
    }

    /// Training tokens seen so far.
    pub fn tokens_seen(&self) -> u64 {
        self.step * self.tokens_per_step
    }

    /// Writes the resumable state (weights, optimizer, sampler, progress) to `path`.
    pub fn save_state(
        &self,
        path: &std::path::Path,
        shape: &GptConfig,
        tokenizer_sha256: &str,
        progress: Progress,
    ) -> Result<(), TrainError> {
        let optimizer = self.optim.into_bytes().map_err(|e| {
            TrainError::Invalid(format!("{}: optimizer state: {e}", path.display()))
        })?;
        let header = StateHeader {
            model: shape.clone(),
            tokenizer_sha256: tokenizer_sha256.to_string(),
            progress: Progress {
                step: self.step,
                sampler: self.sampler.clone(),
                ..progress
            },
        };
        state::save(path, &header, &self.model.valid(), &optimizer)?;
        Ok(())
    }
}

/// The device seed of step `step`: the run's seed mixed with the step (SplitMix64's constant),
/// so no two steps share a dropout stream.
fn step_seed(seed: u64, step: u64) -> u64 {
    seed ^ step.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Draws every parameter's initial value now, where the model is.
///
/// Burn initialises parameters lazily, on the device they are on at first use; moving an
/// untouched model would draw its weights on the destination with that backend's generator.
fn materialize(model: Gpt) -> Gpt {
    struct Touch;
    impl ModuleVisitor for Touch {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let _ = param.val();
        }
    }
    model.visit(&mut Touch);
    model
}

/// Why training stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// All `max_steps` steps ran.
    MaxSteps,
    /// The loss or gradient norm became NaN or infinite.
    NonFinite,
    /// SIGINT or SIGTERM asked the run to stop; its state was saved for `--resume`.
    Interrupted,
    /// Early stopping decided (see `stop_cause` and `stop_evidence`).
    EarlyStopping,
    /// `train.time_budget_s` of wall-clock time ran out; the final model was validated.
    TimeBudget,
}

/// How a run ended, written to `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Why training stopped.
    pub stop_reason: StopReason,
    /// Optimizer steps completed.
    pub steps: u64,
    /// Training tokens seen.
    pub tokens_seen: u64,
    /// Trainable parameters.
    pub params: usize,
    /// The step of the best checkpoint.
    pub best_step: Option<u64>,
    /// Best mean validation NLL per token, nats.
    pub best_val_loss: Option<f64>,
    /// Best validation perplexity.
    pub best_val_ppl: Option<f64>,
    /// Tokens predicted by each validation pass.
    pub val_tokens: u64,
    /// Wall-clock seconds of the whole run (across resumes).
    pub wall_s: f64,
    /// Seconds spent in validation passes.
    pub eval_s: f64,
    /// Training tokens per second over training steps only (evaluation excluded).
    pub train_tokens_per_s: f64,
    /// The device the run used.
    pub device: String,
    /// sha256 of the tokenizer.
    pub tokenizer_sha256: String,
    /// Why early stopping stopped the run, at which step, with what evidence.
    pub early_stop: Option<StopDecision>,
    /// Health of the run, 0–100 (mean over evaluations after warm-up).
    pub health: Option<f64>,
    /// Whether the final `last` checkpoint is the best one (early stopping's `restore_best`).
    pub restored_best: bool,
}

/// How a caller steers a running training: a flag that, once set (by a signal handler, say),
/// makes the loop finish its step, save everything and return.
#[derive(Debug, Clone, Default)]
pub struct Control {
    /// Set to ask the run to stop after the current step.
    pub stop: Arc<AtomicBool>,
}

/// Trains a fresh model as `config` says on `data`, writing everything into `run` (which must
/// exist and be empty of a previous run). Returns the summary also written to `summary.json`.
pub fn train(
    config: &RunConfig,
    data: &TrainData,
    run: &RunDir,
    device: &Device,
    control: &Control,
) -> Result<RunSummary, TrainError> {
    let shape = resolve_shape(config, data)?;
    let mut resolved = config.clone();
    resolved.model = shape.clone();
    std::fs::create_dir_all(run.checkpoints()).map_err(|e| TrainError::io(run.checkpoints(), e))?;
    std::fs::write(run.config(), resolved.to_toml())
        .map_err(|e| TrainError::io(run.config(), e))?;
    data.tokenizer.save(&run.tokenizer())?;
    let trainer = Trainer::new(config, &shape, data.train.len(), device)?;
    let progress = Progress {
        step: 0,
        sampler: trainer.sampler.clone(),
        best: None,
        last_val_ppl: None,
        val_tokens: 0,
        window: (NllSum::default(), 0.0),
        wall_s: 0.0,
        train_s: 0.0,
        eval_s: 0.0,
        watch: Watch::new(config),
    };
    Loop::new(config, data, run, device, shape, trainer, progress)?.run(control)
}

/// Continues the run in `run` from its saved state (`checkpoints/state.bin`) to its
/// `max_steps`, as if it had never stopped. `data` must give the run's tokenizer.
pub fn resume(
    data: &TrainData,
    run: &RunDir,
    device: &Device,
    control: &Control,
) -> Result<RunSummary, TrainError> {
    let config = RunConfig::load(&run.config(), &[])?;
    refuse_finished(run)?;
    let path = run.state();
    let saved = state::load(&path)?;
    let fingerprint = data.tokenizer.fingerprint()?;
    if saved.header.tokenizer_sha256 != fingerprint {
        return Err(TrainError::Invalid(format!(
            "{}: the run was trained with tokenizer {} but this corpus gives {}; point \
             --data-dir at the corpus the run was trained on",
            path.display(),
            saved.header.tokenizer_sha256,
            fingerprint
        )));
    }
    let shape = resolve_shape(&config, data)?;
    if saved.header.model != shape {
        return Err(TrainError::Invalid(format!(
            "{}: the saved model shape {:?} differs from the run's config {:?}",
            path.display(),
            saved.header.model,
            shape
        )));
    }
    let (trainer, progress) = Trainer::restore(&config, saved, &path, device)?;
    truncate_metrics(&run.metrics(), progress.step)?;
    tracing::info!(
        "resuming {} at step {}",
        run.root().display(),
        progress.step
    );
    Loop::new(&config, data, run, device, shape, trainer, progress)?.run(control)
}

/// Refuses to resume a run whose `summary.json` says it finished (all steps, or stopped
/// early): continuing it would train past its own decision.
fn refuse_finished(run: &RunDir) -> Result<(), TrainError> {
    let Ok(text) = std::fs::read_to_string(run.summary()) else {
        return Ok(()); // killed before it could write one
    };
    let summary: RunSummary = serde_json::from_str(&text).map_err(|e| {
        TrainError::Invalid(format!(
            "{}: not a run summary: {e}",
            run.summary().display()
        ))
    })?;
    match summary.stop_reason {
        StopReason::Interrupted | StopReason::NonFinite => Ok(()),
        reason => Err(TrainError::Invalid(format!(
            "{}: the run already finished ({reason:?} after step {}); start a new run instead",
            run.root().display(),
            summary.steps
        ))),
    }
}

/// The model shape of a run: the config's, with the tokenizer's vocabulary size.
fn resolve_shape(config: &RunConfig, data: &TrainData) -> Result<GptConfig, TrainError> {
    let mut shape = config.model.clone();
    let vocab = data.tokenizer.vocab_size();
    if shape.vocab_size != 0 && shape.vocab_size != vocab {
        return Err(TrainError::Invalid(format!(
            "model.vocab_size = {} but the tokenizer has {vocab} types; remove the key, it is \
             taken from the tokenizer",
            shape.vocab_size
        )));
    }
    shape.vocab_size = vocab;
    shape
        .validate()
        .map_err(|e| TrainError::Invalid(e.to_string()))?;
    Ok(shape)
}

/// Drops the records of `metrics.jsonl`, `metrics.csv` and the TensorBoard events written
/// after `step` (a resumed run writes them again).
fn truncate_metrics(path: &std::path::Path, step: u64) -> Result<(), TrainError> {
    if !path.exists() {
        return Ok(());
    }
    let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
    let kept: Vec<(&str, MetricRecord)> = text
        .lines()
        .filter_map(|line| Some((line, serde_json::from_str::<MetricRecord>(line).ok()?)))
        .filter(|(_, r)| r.step <= step)
        .collect();
    let jsonl: String = kept.iter().map(|(line, _)| format!("{line}\n")).collect();
    checkpoint::write_atomically(path, jsonl.as_bytes())?;
    let records: Vec<MetricRecord> = kept.into_iter().map(|(_, r)| r).collect();
    let csv = perplex_monitor::metrics::csv_text(&records);
    checkpoint::write_atomically(&path.with_extension("csv"), csv.as_bytes())?;
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    perplex_monitor::tensorboard::rewrite_events(dir, &records)?;
    Ok(())
}

/// One training run in progress: the trainer plus everything it writes and measures.
struct Loop<'a> {
    config: &'a RunConfig,
    data: &'a TrainData,
    run: &'a RunDir,
    device: &'a Device,
    shape: GptConfig,
    fingerprint: String,
    schedule: Schedule,
    trainer: Trainer,
    progress: Progress,
    sink: MetricsSink,
    bar: ProgressBar,
    /// When this process started training, minus the wall time of earlier sessions.
    started: Instant,
    /// Early stopping's decision, once it has made one.
    early_stop: Option<StopDecision>,
}

impl<'a> Loop<'a> {
    fn new(
        config: &'a RunConfig,
        data: &'a TrainData,
        run: &'a RunDir,
        device: &'a Device,
        shape: GptConfig,
        trainer: Trainer,
        progress: Progress,
    ) -> Result<Self, TrainError> {
        let t = &config.train;
        let started = Instant::now()
            .checked_sub(std::time::Duration::from_secs_f64(progress.wall_s))
            .unwrap_or_else(Instant::now);
        Ok(Self {
            schedule: Schedule {
                max_steps: t.max_steps,
                eval_every: t.eval_every,
                log_every: t.log_every,
            },
            fingerprint: data.tokenizer.fingerprint()?,
            sink: MetricsSink::open(&run.metrics())?,
            bar: progress_bar(t.max_steps, progress.step),
            config,
            data,
            run,
            device,
            shape,
            trainer,
            progress,
            started,
            early_stop: None,
        })
    }

    fn run(mut self, control: &Control) -> Result<RunSummary, TrainError> {
        self.bar.suspend(|| self.announce());
        let mut stop = StopReason::MaxSteps;
        while self.trainer.steps_done() < self.schedule.max_steps {
            let step_started = Instant::now();
            let stats = self.trainer.step(&self.data.train);
            let dt = step_started.elapsed().as_secs_f64();
            let step = self.trainer.steps_done();
            self.bar.set_position(step);
            if !stats.is_finite() {
                stop = StopReason::NonFinite;
                self.bar.suspend(|| {
                    tracing::error!(
                        "step {step}: non-finite training loss ({}) or gradient norm ({}); \
                         stopping without applying the update, checkpoints untouched",
                        stats.loss,
                        stats.grad_norm
                    )
                });
                break;
            }
            self.progress.train_s += dt;
            let tokens = self.trainer.tokens_per_step;
            if let Some(signal) = self.progress.watch.on_step(step, stats.loss, tokens) {
                self.bar.suspend(|| {
                    tracing::warn!("step {step}: {:?}: {}", signal.kind, signal.evidence)
                });
            }
            self.progress
                .window
                .0
                .add(stats.loss * tokens as f64, tokens);
            self.progress.window.1 += dt;
            if self.schedule.log_after(step) {
                self.log_train(step, &stats)?;
            }
            let evaluated = self.schedule.eval_after(step);
            let mut early_stop = None;
            if evaluated {
                early_stop = self.evaluate(step, stats.lr)?;
            }
            let every = self.config.train.checkpoint_every;
            if evaluated || (every > 0 && step.is_multiple_of(every)) {
                self.save_last(step)?;
            }
            if let Some(decision) = early_stop {
                self.bar.suspend(|| {
                    tracing::warn!(
                        "early stopping at step {step}: {:?}: {}",
                        decision.cause,
                        decision.evidence
                    )
                });
                self.early_stop = Some(decision);
                stop = StopReason::EarlyStopping;
                break;
            }
            if let Some(budget) = self.config.train.time_budget_s
                && self.wall_s() >= budget
            {
                if !evaluated {
                    self.evaluate(step, stats.lr)?;
                    self.save_last(step)?;
                }
                self.bar.suspend(|| {
                    tracing::info!(
                        "time budget of {budget:.0} s reached after step {step}; stopping"
                    )
                });
                stop = StopReason::TimeBudget;
                break;
            }
            if control.stop.load(Ordering::SeqCst) {
                stop = StopReason::Interrupted;
                if !evaluated {
                    self.save_last(step)?;
                }
                self.bar.suspend(|| {
                    tracing::warn!(
                        "interrupted after step {step}: state saved; continue with \
                         `perplex train --resume {}`",
                        self.run.root().display()
                    )
                });
                break;
            }
        }
        self.bar.finish_and_clear();
        self.finish(stop)
    }

    fn announce(&self) {
        let (s, t) = (&self.shape, &self.config.train);
        tracing::info!(
            "model: {} layers, {} heads, d_model {}, ctx {}, vocab {}: {} parameters",
            s.layers,
            s.heads,
            s.d_model,
            s.ctx,
            s.vocab_size,
            s.num_params()
        );
        tracing::info!(
            "data: {} train tokens, {} valid tokens; {} steps of {} tokens on {:?}",
            self.data.train.len(),
            self.data.valid.len(),
            t.max_steps,
            t.batch_size * s.ctx,
            self.device
        );
    }

    fn wall_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    fn log_train(&mut self, step: u64, stats: &StepStats) -> Result<(), TrainError> {
        let (sum, secs) = self.progress.window;
        let tokens_per_s = sum.tokens as f64 / secs;
        let loss = sum.mean();
        self.sink.write(&MetricRecord {
            kind: MetricKind::Train,
            step,
            tokens_seen: self.trainer.tokens_seen(),
            lr: stats.lr,
            loss,
            ppl: loss.exp(),
            tokens_per_s: Some(tokens_per_s),
            wall_s: self.wall_s(),
            eval_tokens: None,
            eval_s: None,
            best: None,
            tokenizer_sha256: Some(self.fingerprint.clone()),
            reading: None,
        })?;
        let val = match self.progress.last_val_ppl {
            Some(ppl) => format!("{ppl:.1}"),
            None => "-".into(),
        };
        self.bar.set_message(format!(
            "loss {loss:.3} | val ppl {val} | {tokens_per_s:.0} tok/s"
        ));
        if self.bar.is_hidden() {
            tracing::info!(
                "step {step}/{}: train loss {loss:.4} (ppl {:.1}), lr {:.2e}, {tokens_per_s:.0} tok/s",
                self.schedule.max_steps,
                loss.exp(),
                stats.lr
            );
        }
        self.progress.window = (NllSum::default(), 0.0);
        Ok(())
    }

    /// The validation pass, the eval-mode train slice, the samples, and the monitor's reading
    /// of them; returns early stopping's decision.
    fn evaluate(&mut self, step: u64, lr: f64) -> Result<Option<StopDecision>, TrainError> {
        let eval_started = Instant::now();
        let model = self.trainer.eval_model();
        let batch = self.config.train.eval_batch();
        let val = evaluate(&model, &self.data.valid, batch);
        let train_eval = self.train_slice_loss(&model, batch);
        let samples = self.samples(&model, step);
        let took = eval_started.elapsed().as_secs_f64();
        let loss = val.mean();
        let p = &mut self.progress;
        p.eval_s += took;
        p.val_tokens = val.tokens;
        p.last_val_ppl = Some(val.perplexity());
        let improved = loss.is_finite() && p.best.is_none_or(|(_, b)| loss < b);
        let (mut reading, decision) = p.watch.on_eval(EvalNumbers {
            step,
            val,
            val_chars: self.data.valid_chars,
            train_eval,
            samples,
        });
        crate::hygiene::cite_data_check(self.run, &mut reading.signals);
        if improved {
            self.progress.best = Some((step, loss));
            let meta = self.meta(step, Some(loss));
            checkpoint::save(&model, &meta, &self.run.checkpoint(CheckpointKind::Best))?;
        }
        let ppl = val.perplexity();
        self.bar
            .suspend(|| log_eval(step, &val, &reading, took, improved));
        self.bar.set_message(format!(
            "{:?}, health {:.0}",
            reading.signals[0].kind, reading.health
        ));
        self.sink.write(&MetricRecord {
            kind: MetricKind::Eval,
            step,
            tokens_seen: self.trainer.tokens_seen(),
            lr,
            loss,
            ppl,
            tokens_per_s: None,
            wall_s: self.wall_s(),
            eval_tokens: Some(val.tokens),
            eval_s: Some(took),
            best: Some(improved),
            tokenizer_sha256: Some(self.fingerprint.clone()),
            reading: Some(reading),
        })?;
        Ok(decision)
    }

    /// Eval-mode loss of the fixed train slice: `train_eval_tokens` tokens as full windows
    /// spread evenly over the train stream (one contiguous region would measure one article's
    /// difficulty, not the split's), each from an empty context, in full batches.
    fn train_slice_loss(&self, model: &Gpt, batch: usize) -> NllSum {
        let ctx = model.ctx;
        let windows = (self.config.monitor.train_eval_tokens / ctx).max(1);
        evaluate_batches(model, spread_batches(&self.data.train, ctx, batch, windows))
    }

    /// Short generations from fixed prompts (three tokens at evenly spaced points of the
    /// validation stream) with a fixed seed, for the repetition check.
    fn samples(&self, model: &Gpt, step: u64) -> Vec<Sample> {
        let m = &self.config.monitor;
        let valid = &self.data.valid;
        if m.samples == 0 || valid.len() < 4 {
            return Vec::new();
        }
        let options = SampleOptions {
            max_tokens: m.sample_tokens,
            temperature: 1.0,
            top_k: Some(40),
            seed: self.config.train.seed ^ step,
        };
        (0..m.samples)
            .map(|i| {
                let at = i * (valid.len() - 3) / m.samples;
                let prompt = &valid[at..at + 3];
                let tokens = generate(model, prompt, &options);
                let generated = &tokens[prompt.len()..];
                Sample::new(
                    self.data.tokenizer.decode(prompt).replace('\n', " / "),
                    self.data.tokenizer.decode(generated).replace('\n', " / "),
                    generated,
                )
            })
            .collect()
    }

    fn meta(&self, step: u64, val_loss: Option<f64>) -> CheckpointMeta {
        CheckpointMeta {
            model: self.shape.clone(),
            step,
            val_loss,
            tokenizer_sha256: self.fingerprint.clone(),
        }
    }

    /// Saves the `last` weights and the resumable state after `step`.
    fn save_last(&mut self, step: u64) -> Result<(), TrainError> {
        let val_loss = self
            .progress
            .best
            .filter(|(s, _)| *s == step)
            .map(|(_, l)| l);
        let meta = self.meta(step, val_loss);
        checkpoint::save(
            &self.trainer.eval_model(),
            &meta,
            &self.run.checkpoint(CheckpointKind::Last),
        )?;
        self.progress.wall_s = self.wall_s();
        self.trainer.save_state(
            &self.run.state(),
            &self.shape,
            &self.fingerprint,
            self.progress.clone(),
        )
    }

    fn finish(self, stop: StopReason) -> Result<RunSummary, TrainError> {
        let p = &self.progress;
        let restored_best = stop != StopReason::Interrupted
            && p.watch.restore_best()
            && p.best.is_some()
            && self.run.checkpoint(CheckpointKind::Best).is_file();
        if restored_best {
            let best = self.run.checkpoint(CheckpointKind::Best);
            let bytes = std::fs::read(&best).map_err(|e| TrainError::io(&best, e))?;
            checkpoint::write_atomically(&self.run.checkpoint(CheckpointKind::Last), &bytes)?;
        }
        let summary = RunSummary {
            stop_reason: stop,
            steps: self.trainer.steps_done(),
            tokens_seen: self.trainer.tokens_seen(),
            params: self.shape.num_params(),
            best_step: p.best.map(|b| b.0),
            best_val_loss: p.best.map(|b| b.1),
            best_val_ppl: p.best.map(|b| b.1.exp()),
            val_tokens: p.val_tokens,
            wall_s: self.wall_s(),
            eval_s: p.eval_s,
            train_tokens_per_s: self.trainer.tokens_seen() as f64 / p.train_s.max(1e-9),
            device: format!("{:?}", self.device),
            tokenizer_sha256: self.fingerprint.clone(),
            early_stop: self.early_stop.clone(),
            health: p.watch.run_health(),
            restored_best,
        };
        let json = serde_json::to_string_pretty(&summary).expect("a summary always serialises");
        let path = self.run.summary();
        checkpoint::write_atomically(&path, format!("{json}\n").as_bytes())?;
        match stop {
            StopReason::MaxSteps | StopReason::EarlyStopping | StopReason::TimeBudget => {
                Ok(summary)
            }
            StopReason::NonFinite => Err(TrainError::NonFinite {
                step: summary.steps,
            }),
            StopReason::Interrupted => Err(TrainError::Interrupted {
                step: summary.steps,
            }),
        }
    }
}

/// The log lines of one evaluation: the numbers, then the monitor's reading.
fn log_eval(step: u64, val: &NllSum, r: &Reading, took: f64, improved: bool) {
    tracing::info!(
        "step {step}: val loss {:.4} nats/token, ppl {:.2}, {:.3} bits/token, {:.3} bits/char \
         over {} tokens ({took:.1}s){}",
        val.mean(),
        val.perplexity(),
        r.bits_per_token,
        r.bits_per_char,
        val.tokens,
        if improved { ", best so far" } else { "" }
    );
    tracing::info!(
        "step {step}: train loss {:.4} (dropout on), {:.4} (eval mode, train slice); gap {:+.4}; \
         health {:.0}",
        r.train_loss,
        r.train_eval_loss,
        r.gap,
        r.health
    );
    for signal in &r.signals {
        tracing::info!("step {step}: {:?}: {}", signal.kind, signal.evidence);
    }
}

/// The terminal progress bar (drawn only when stderr is a terminal).
fn progress_bar(steps: u64, done: u64) -> ProgressBar {
    let bar = ProgressBar::new(steps);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} step {pos}/{len} [{bar:30}] {msg} | {elapsed_precise} ETA {eta_precise}",
        )
        .expect("the progress template is valid")
        .progress_chars("=> "),
    );
    bar.set_position(done);
    bar.reset_eta();
    bar
}

#[cfg(test)]
mod tests {
    use super::*;
    use perplex_data::synth::{MarkovSpec, markov_corpus, write_ptb_layout};

    /// A short run on a generated Markov corpus must learn: validation loss far below ln(V),
    /// the loss of a uniform guess, and the run directory complete.
    #[test]
    fn a_short_run_on_generated_data_learns_and_writes_its_run_dir() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = DataDir::new(dir.path().join("data"));
        let spec = MarkovSpec {
            words: 60,
            successors: 2,
            train_lines: 2000,
            seed: 11,
        };
        write_ptb_layout(&markov_corpus(&spec), &data_dir).unwrap();
        let config = RunConfig::from_toml(
            r#"
            [model]
            ctx = 16
            layers = 1
            heads = 2
            d_model = 32
            dropout = 0.0
            [train]
            batch_size = 16
            max_steps = 150
            lr = 1e-2
            min_lr = 1e-3
            warmup_steps = 10
            weight_decay = 0.0
            grad_clip = 1.0
            seed = 3
            log_every = 50
            eval_every = 75
            "#,
        )
        .unwrap();
        let data = TrainData::prepare(&data_dir, &DataConfig::default()).unwrap();
        let vocab = data.tokenizer.vocab_size();
        assert_eq!(vocab, 62, "60 words, <eos> and <unk>");
        let run = RunDir::new(dir.path().join("run"));
        std::fs::create_dir_all(run.root()).unwrap();
        let summary = train(&config, &data, &run, &Device::flex(), &Control::default()).unwrap();

        let uniform = (vocab as f64).ln();
        let best = summary.best_val_loss.unwrap();
        assert!(
            best < uniform - 1.5,
            "val loss {best:.3} nats is not well below ln(V) = {uniform:.3}"
        );
        assert_eq!(summary.steps, 150);
        let records = perplex_monitor::metrics::read_metrics(&run.metrics()).unwrap();
        let evals: Vec<u64> = records
            .iter()
            .filter(|r| r.kind == MetricKind::Eval)
            .map(|r| r.step)
            .collect();
        assert_eq!(evals, vec![75, 150]);
        for path in [run.config(), run.tokenizer(), run.summary()] {
            assert!(path.is_file(), "{} missing", path.display());
        }
        let (_, meta) =
            checkpoint::load(&run.checkpoint(CheckpointKind::Best), &Device::flex()).unwrap();
        assert_eq!(meta.val_loss, Some(best));
    }
}
