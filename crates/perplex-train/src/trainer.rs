//! The training loop.
//!
//! Each step draws a batch of random windows, computes the mean per-token NLL with dropout on,
//! backpropagates, clips the global gradient norm, and lets AdamW update the weights at the
//! scheduled learning rate. Every `eval_every` steps (and after the last) the model is
//! evaluated on the whole validation split in eval mode; the best weights so far and the
//! latest ones are saved. Everything measured goes to `metrics.jsonl` as it happens.

use std::time::Instant;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use indicatif::{ProgressBar, ProgressStyle};
use perplex_data::{DataDir, Split, TrainSampler, WordTokenizer};
use perplex_model::{Gpt, GptConfig};
use perplex_monitor::{MetricKind, MetricRecord, MetricsSink, NllSum, Schedule};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, CheckpointMeta};
use crate::evaluate::{batch_tensors, evaluate};
use crate::optim::{adamw, clip_global_norm};
use crate::run_dir::{CheckpointKind, RunDir};
use crate::schedule::lr_scheduler;
use crate::{RunConfig, TrainError};

/// The token streams a run trains and validates on, and the tokenizer that made them.
pub struct TrainData {
    /// The tokenizer built from the train split.
    pub tokenizer: WordTokenizer,
    /// The train stream (possibly capped by `data.max_train_tokens`).
    pub train: Vec<u32>,
    /// The validation stream.
    pub valid: Vec<u32>,
}

impl TrainData {
    /// Reads train and valid from `dir`, builds the vocabulary from the whole train split and
    /// encodes both; `max_train_tokens` keeps only the head of the train stream.
    pub fn prepare(dir: &DataDir, max_train_tokens: Option<usize>) -> Result<Self, TrainError> {
        let train_lines = dir.read_split(Split::Train)?;
        let tokenizer = WordTokenizer::from_train_lines(&train_lines)?;
        let mut train = tokenizer.encode_lines(&train_lines)?.ids;
        if let Some(cap) = max_train_tokens {
            train.truncate(cap);
        }
        let valid = tokenizer.encode_lines(&dir.read_split(Split::Valid)?)?.ids;
        Ok(Self {
            tokenizer,
            train,
            valid,
        })
    }
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

/// The model and everything that changes as it trains.
pub struct Trainer {
    model: Gpt,
    optim: ModuleOptimizer,
    scheduler: ModuleLrScheduler,
    sampler: TrainSampler,
    grad_clip: f64,
    step: u64,
    tokens_per_step: u64,
}

impl Trainer {
    /// A fresh model of `shape` on `device` (autodiff is added here), seeded by `config`:
    /// the seed fixes the initial weights (drawn on the CPU whatever the device), the data
    /// order and the device's dropout stream.
    pub fn new(
        config: &RunConfig,
        shape: &GptConfig,
        train_len: usize,
        device: &Device,
    ) -> Result<Self, TrainError> {
        let t = &config.train;
        let device = device.clone().autodiff();
        device.seed(t.seed);
        // Initial weights are drawn on the CPU and then moved, so a seed gives the same
        // starting model on every backend and GPU runs can be checked against CPU ones.
        let cpu = Device::flex().autodiff();
        cpu.seed(t.seed);
        let model = materialize(shape.init(&cpu)).fork(&device);
        Ok(Self {
            optim: adamw(t, &model),
            scheduler: lr_scheduler(t),
            sampler: TrainSampler::new(train_len, shape.ctx, t.batch_size, t.seed)?,
            grad_clip: t.grad_clip,
            step: 0,
            tokens_per_step: (t.batch_size * shape.ctx) as u64,
            model,
        })
    }

    /// One optimizer step on a fresh batch from `train`.
    pub fn step(&mut self, train: &[u32]) -> StepStats {
        let batch = self.sampler.next_batch(train);
        let (inputs, targets) = batch_tensors(&batch, &self.model.device());
        let loss = self.model.nll(inputs, targets).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        let (grads, norm) = clip_global_norm(&self.model, grads, self.grad_clip);
        let lr = self.scheduler.step();
        let base_lr = lr.base();
        self.model = self.optim.step(lr, self.model.clone(), grads);
        self.step += 1;
        // One read from the device per step: the loss and the gradient norm together.
        let loss = loss.inner();
        let norm = norm.unwrap_or_else(|| loss.zeros_like());
        let both = Tensor::cat(vec![loss, norm], 0).into_data();
        let values = both.try_to_vec::<f32>().unwrap_or_default();
        StepStats {
            loss: values.first().copied().map_or(f64::NAN, f64::from),
            grad_norm: values.get(1).copied().map_or(f64::NAN, f64::from),
            lr: base_lr,
        }
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

/// How a run ended, written to `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Why training stopped: `max_steps` or `non_finite`.
    pub stop_reason: String,
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
    /// Wall-clock seconds of the whole run.
    pub wall_s: f64,
    /// Seconds spent in validation passes.
    pub eval_s: f64,
    /// Training tokens per second over training steps only (evaluation excluded).
    pub train_tokens_per_s: f64,
    /// The device the run used.
    pub device: String,
    /// sha256 of the tokenizer.
    pub tokenizer_sha256: String,
}

/// Trains a model as `config` says on `data`, writing everything into `run` (which must
/// exist). Returns the summary also written to `summary.json`.
pub fn train(
    config: &RunConfig,
    data: &TrainData,
    run: &RunDir,
    device: &Device,
) -> Result<RunSummary, TrainError> {
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
    let mut resolved = config.clone();
    resolved.model = shape.clone();
    let fingerprint = data.tokenizer.fingerprint()?;

    std::fs::create_dir_all(run.checkpoints()).map_err(|e| TrainError::io(run.checkpoints(), e))?;
    std::fs::write(run.config(), resolved.to_toml())
        .map_err(|e| TrainError::io(run.config(), e))?;
    data.tokenizer.save(&run.tokenizer())?;
    let mut sink = MetricsSink::open(&run.metrics())?;

    let t = &config.train;
    let schedule = Schedule {
        max_steps: t.max_steps,
        eval_every: t.eval_every,
        log_every: t.log_every,
    };
    let mut trainer = Trainer::new(config, &shape, data.train.len(), device)?;
    let params = shape.num_params();
    tracing::info!(
        "model: {} layers, {} heads, d_model {}, ctx {}, vocab {vocab}: {params} parameters",
        shape.layers,
        shape.heads,
        shape.d_model,
        shape.ctx
    );
    tracing::info!(
        "data: {} train tokens, {} valid tokens; {} steps of {} tokens on {device:?}",
        data.train.len(),
        data.valid.len(),
        t.max_steps,
        t.batch_size * shape.ctx
    );

    let bar = progress_bar(t.max_steps);
    let started = Instant::now();
    let mut train_s = 0.0;
    let mut eval_s = 0.0;
    // Training loss and seconds since the last log line (every step has the same tokens,
    // so the per-token mean over the window is the mean of the step means).
    let mut window = (NllSum::default(), 0.0f64);
    let mut best: Option<(u64, f64)> = None;
    let mut last_val_ppl = f64::NAN;
    let mut stop_reason = "max_steps";
    let mut val_tokens = 0;

    while trainer.steps_done() < t.max_steps {
        let step_started = Instant::now();
        let stats = trainer.step(&data.train);
        let dt = step_started.elapsed().as_secs_f64();
        train_s += dt;
        window.0.add(
            stats.loss * trainer.tokens_per_step as f64,
            trainer.tokens_per_step,
        );
        window.1 += dt;
        let step = trainer.steps_done();
        bar.set_position(step);

        if !stats.loss.is_finite() || !stats.grad_norm.is_finite() {
            stop_reason = "non_finite";
            bar.suspend(|| {
                tracing::error!(
                    "step {step}: non-finite training loss ({}) or gradient norm ({}); \
                     stopping, the best checkpoint is untouched",
                    stats.loss,
                    stats.grad_norm
                )
            });
            break;
        }

        if schedule.log_after(step) {
            let tokens_per_s = window.0.tokens as f64 / window.1;
            let loss = window.0.mean();
            sink.write(&MetricRecord {
                kind: MetricKind::Train,
                step,
                tokens_seen: trainer.tokens_seen(),
                lr: stats.lr,
                loss,
                ppl: loss.exp(),
                tokens_per_s: Some(tokens_per_s),
                wall_s: started.elapsed().as_secs_f64(),
                eval_tokens: None,
                eval_s: None,
                best: None,
            })?;
            bar.set_message(format!(
                "loss {loss:.3} | val ppl {last_val_ppl:.1} | {tokens_per_s:.0} tok/s"
            ));
            if bar.is_hidden() {
                tracing::info!(
                    "step {step}/{}: train loss {loss:.4} (ppl {:.1}), lr {:.2e}, {tokens_per_s:.0} tok/s",
                    t.max_steps,
                    loss.exp(),
                    stats.lr
                );
            }
            window = (NllSum::default(), 0.0);
        }

        if schedule.eval_after(step) {
            let eval_started = Instant::now();
            let model = trainer.eval_model();
            let val = evaluate(&model, &data.valid, t.eval_batch());
            let took = eval_started.elapsed().as_secs_f64();
            eval_s += took;
            val_tokens = val.tokens;
            let loss = val.mean();
            last_val_ppl = val.perplexity();
            let improved = loss.is_finite() && best.is_none_or(|(_, b)| loss < b);
            let meta = CheckpointMeta {
                model: shape.clone(),
                step,
                val_loss: Some(loss),
                tokenizer_sha256: fingerprint.clone(),
            };
            if improved {
                best = Some((step, loss));
                checkpoint::save(&model, &meta, &run.checkpoint(CheckpointKind::Best))?;
            }
            checkpoint::save(&model, &meta, &run.checkpoint(CheckpointKind::Last))?;
            sink.write(&MetricRecord {
                kind: MetricKind::Eval,
                step,
                tokens_seen: trainer.tokens_seen(),
                lr: stats.lr,
                loss,
                ppl: last_val_ppl,
                tokens_per_s: None,
                wall_s: started.elapsed().as_secs_f64(),
                eval_tokens: Some(val.tokens),
                eval_s: Some(took),
                best: Some(improved),
            })?;
            bar.suspend(|| {
                tracing::info!(
                    "step {step}: val loss {loss:.4} nats/token, ppl {last_val_ppl:.2} over {} tokens ({took:.1}s){}",
                    val.tokens,
                    if improved { ", best so far" } else { "" }
                )
            });
        }
    }
    bar.finish_and_clear();

    let summary = RunSummary {
        stop_reason: stop_reason.to_string(),
        steps: trainer.steps_done(),
        tokens_seen: trainer.tokens_seen(),
        params,
        best_step: best.map(|b| b.0),
        best_val_loss: best.map(|b| b.1),
        best_val_ppl: best.map(|b| b.1.exp()),
        val_tokens,
        wall_s: started.elapsed().as_secs_f64(),
        eval_s,
        train_tokens_per_s: trainer.tokens_seen() as f64 / train_s.max(1e-9),
        device: format!("{device:?}"),
        tokenizer_sha256: fingerprint,
    };
    let json = serde_json::to_string_pretty(&summary).expect("a summary always serialises");
    std::fs::write(run.summary(), json + "\n").map_err(|e| TrainError::io(run.summary(), e))?;
    if stop_reason == "non_finite" {
        return Err(TrainError::NonFinite {
            step: summary.steps,
        });
    }
    Ok(summary)
}

/// The terminal progress bar (drawn only when stderr is a terminal).
fn progress_bar(steps: u64) -> ProgressBar {
    let bar = ProgressBar::new(steps);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} step {pos}/{len} [{bar:30}] {msg} | {elapsed_precise} ETA {eta_precise}",
        )
        .expect("the progress template is valid")
        .progress_chars("=> "),
    );
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
        let data = TrainData::prepare(&data_dir, None).unwrap();
        let vocab = data.tokenizer.vocab_size();
        assert_eq!(vocab, 62, "60 words, <eos> and <unk>");
        let run = RunDir::new(dir.path().join("run"));
        std::fs::create_dir_all(run.root()).unwrap();
        let summary = train(&config, &data, &run, &Device::flex()).unwrap();

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
