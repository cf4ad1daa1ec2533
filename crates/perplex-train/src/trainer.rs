//! One optimizer step at a time: the model, AdamW, the learning-rate schedule and the data
//! sampler, and nothing about evaluating, saving or deciding when to stop.
//!
//! Each step draws a batch of random windows, computes the mean per-token NLL with dropout on,
//! backpropagates, clips the global gradient norm, and lets AdamW update the weights at the
//! scheduled learning rate.

use std::path::Path;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::lr_scheduler::module_lr_scheduler::{ModuleLearningRate, ModuleLrScheduler};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use perplex_data::TrainSampler;
use perplex_model::{Gpt, GptConfig};

use crate::TrainError;
use crate::checkpoint::CheckpointError;
use crate::config::RunConfig;
use crate::data::StreamFingerprints;
use crate::evaluate::batch_tensors;
use crate::lr_schedule::lr_scheduler;
use crate::optim::{adamw, clip_global_norm};
use crate::progress::Progress;
use crate::state::{self, SavedState, StateHeader};

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

/// The model and everything that changes as it trains.
pub struct Trainer {
    /// Always `Some` outside [`Trainer::step`], which hands the model to the optimizer by
    /// value: with a second handle alive, every parameter would be copied before its update.
    model: Option<Gpt>,
    optim: ModuleOptimizer,
    scheduler: ModuleLrScheduler,
    sampler: TrainSampler,
    device: Device,
    seed: u64,
    grad_clip: f64,
    step: u64,
    tokens_per_step: u64,
    /// The step whose loss the test seam makes NaN, read when the trainer is made: its steps
    /// run on the pool's threads, not on the test's.
    #[cfg(test)]
    poisoned_step: Option<u64>,
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
        let t = config.train();
        // Initial weights are drawn on the CPU and then moved, so a seed gives the same
        // starting model on every backend and GPU runs can be checked against CPU ones.
        let cpu = Device::flex().autodiff();
        cpu.seed(t.seed);
        let model = materialize(shape.init(&cpu));
        let sampler = TrainSampler::new(train_len, shape.ctx, t.batch_size, t.seed)?;
        Self::assemble(config, shape, model, sampler, device)
    }

    /// The trainer of a saved state: weights, optimizer moments, data sampler and step as they
    /// were, the learning-rate schedule replayed to that step; and the run's progress as it
    /// was saved. `path` names the state file in errors.
    pub fn restore(
        config: &RunConfig,
        saved: SavedState,
        path: &Path,
        device: &Device,
    ) -> Result<(Self, Progress), TrainError> {
        let SavedState {
            header,
            model: weights,
            optimizer,
        } = saved;
        let cpu = Device::flex().autodiff();
        let mut model = header.model.init(&cpu);
        state::load_weights(&mut model, weights, path)?;
        let mut trainer = Self::assemble(config, &header.model, model, header.sampler, device)?;
        trainer.optim = trainer
            .optim
            .from_bytes(optimizer)
            .map_err(|e| optimizer_error(path, e))?;
        for _ in 0..header.step {
            trainer.scheduler.step();
        }
        trainer.step = header.step;
        Ok((trainer, header.progress))
    }

    fn assemble(
        config: &RunConfig,
        shape: &GptConfig,
        model: Gpt,
        sampler: TrainSampler,
        device: &Device,
    ) -> Result<Self, TrainError> {
        let t = config.train();
        // Process-wide: every compute thread flushes subnormals, or none does; every product
        // runs in the configured format.
        perplex_model::denormals::flush_denormals(t.flush_denormals);
        perplex_model::set_precision(t.precision, device)?;
        let device = device.clone().autodiff();
        let model = model.fork(&device);
        Ok(Self {
            optim: adamw(t, &model),
            scheduler: lr_scheduler(t),
            sampler,
            device,
            seed: t.seed,
            grad_clip: t.grad_clip,
            step: 0,
            tokens_per_step: (t.batch_size * shape.ctx) as u64,
            #[cfg(test)]
            poisoned_step: poison::current(),
            model: Some(model),
        })
    }

    /// One optimizer step on a fresh batch from `train`, at the scheduled learning rate. A
    /// step whose loss or gradient norm is not finite leaves the weights as they were (and is
    /// reported so by the stats).
    pub fn step(&mut self, train: &[u32]) -> StepStats {
        let lr = self.scheduler.step();
        self.step_at(train, lr)
    }

    /// One optimizer step at learning rate `lr` instead of the schedule's (the range test of
    /// `perplex lr-find`); otherwise as [`Trainer::step`].
    pub fn step_at_lr(&mut self, train: &[u32], lr: f64) -> StepStats {
        self.step_at(train, lr.into())
    }

    /// Runs the step on the CPU pool's first worker on the CPU backend
    /// ([`perplex_model::on_cpu_worker`]: faster, and one allocator heap), on the calling
    /// thread on a GPU backend.
    fn step_at(&mut self, train: &[u32], lr: ModuleLearningRate) -> StepStats {
        let device = self.device.clone();
        perplex_model::on_cpu_worker(&device, || self.step_here(train, lr))
    }

    fn step_here(&mut self, train: &[u32], lr: ModuleLearningRate) -> StepStats {
        // Dropout masks are a function of (seed, step): a resumed run draws the same ones.
        self.device.seed(step_seed(self.seed, self.step));
        let batch = self.sampler.next_batch(train);
        let (inputs, targets) = batch_tensors(&batch, &self.model().device());
        let loss = self.model().loss(inputs, targets);
        #[cfg(test)]
        let loss = poison::apply(self.poisoned_step, self.step + 1, loss);
        let grads = GradientsParams::from_grads(loss.backward(), self.model());
        let (grads, norm) = clip_global_norm(self.model(), grads, self.grad_clip);
        // One read from the device per step: the loss and the gradient norm together.
        let loss = loss.inner();
        let norm = norm.unwrap_or_else(|| loss.zeros_like());
        let values = Tensor::cat(vec![loss, norm], 0)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        let value = |i: usize| values.get(i).copied().map_or(f64::NAN, f64::from);
        let stats = StepStats {
            loss: value(0),
            grad_norm: value(1),
            lr: lr.base(),
        };
        if stats.is_finite() {
            let model = self.model.take().expect("the trainer holds its model");
            self.model = Some(self.optim.step(lr, model, grads));
        }
        self.step += 1;
        stats
    }

    /// The model in eval mode: no dropout, no autodiff graph.
    pub fn eval_model(&self) -> Gpt {
        self.model().valid()
    }

    /// The model being trained (with autodiff).
    fn model(&self) -> &Gpt {
        self.model
            .as_ref()
            .expect("the model is away only inside an optimizer step")
    }

    /// Optimizer steps completed.
    pub fn steps_done(&self) -> u64 {
        self.step
    }

    /// Training tokens per step (batch × ctx).
    pub fn tokens_per_step(&self) -> u64 {
        self.tokens_per_step
    }

    /// Training tokens seen so far.
    pub fn tokens_seen(&self) -> u64 {
        self.step * self.tokens_per_step
    }

    /// Writes the resumable state (weights, optimizer, sampler, step, the data's `streams`
    /// fingerprints, `progress`) to `path`.
    pub fn save_state(
        &self,
        path: &Path,
        shape: &GptConfig,
        tokenizer_sha256: &str,
        streams: &StreamFingerprints,
        progress: &Progress,
    ) -> Result<(), TrainError> {
        let optimizer = self
            .optim
            .into_bytes()
            .map_err(|e| optimizer_error(path, e))?;
        let header = StateHeader {
            model: shape.clone(),
            tokenizer_sha256: tokenizer_sha256.to_string(),
            step: self.step,
            sampler: self.sampler.clone(),
            streams: streams.clone(),
            progress: progress.clone(),
        };
        state::save(path, &header, &self.model().valid(), &optimizer)?;
        Ok(())
    }
}

fn optimizer_error(path: &Path, e: impl std::fmt::Display) -> TrainError {
    CheckpointError::Invalid {
        path: path.to_owned(),
        reason: format!("optimizer state: {e}"),
    }
    .into()
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

/// A test-only seam: makes the loss of one step NaN, as a model that blew up would, so the
/// tests can follow a non-finite step through the loop. Not compiled into perplex itself.
#[cfg(test)]
pub(crate) mod poison {
    use std::cell::Cell;

    use burn::tensor::Tensor;

    thread_local! {
        static STEP: Cell<Option<u64>> = const { Cell::new(None) };
    }

    /// Makes the loss of step `step` (1-based) NaN for trainers made on this thread.
    pub(crate) fn at(step: Option<u64>) {
        STEP.set(step);
    }

    /// This thread's setting, for a trainer made here.
    pub(super) fn current() -> Option<u64> {
        STEP.get()
    }

    /// `loss`, or NaN when `step` is the `poisoned` one.
    pub(super) fn apply(poisoned: Option<u64>, step: u64, loss: Tensor<1>) -> Tensor<1> {
        if poisoned == Some(step) {
            loss * f32::NAN
        } else {
            loss
        }
    }
}
