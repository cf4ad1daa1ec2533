//! One evaluation of a run: the exact validation pass, the eval-mode loss of a fixed train
//! slice, a few generated samples, the monitor's judgement of them, and the record.

use std::time::Instant;

use perplex_data::spread_batches;
use perplex_model::{Gpt, Precision};
use perplex_monitor::{
    EvalRecord, Judgement, NllSum, Observation, Reading, Sample, StopDecision, TopK,
};

use super::Run;
use super::events::Event;
use crate::TrainError;
use crate::config::RunConfig;
use crate::data::TrainData;
use crate::evaluate::{evaluate_batches, score};
use crate::generate::{SampleOptions, generate_batch};

/// What one evaluation measured, before the monitor reads it.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// Summed NLL of the validation split.
    pub val: NllSum,
    /// Top-1/top-5 counts over the validation split.
    pub accuracy: TopK,
    /// Summed eval-mode NLL of the fixed train slice.
    pub train_eval: NllSum,
    /// Generated samples for the repetition check.
    pub samples: Vec<Sample>,
    /// Wall seconds of the validation pass alone.
    pub val_seconds: f64,
    /// Wall seconds of the whole evaluation: the pass, the train slice and the samples.
    pub seconds: f64,
}

/// Measures `model` (in eval mode) as a run's evaluation after `step` does: the validation
/// pass with top-k counts, the train slice's eval-mode loss and the samples (whose seed
/// depends on `step`), with f32 products whatever `train.precision` trains with, so that
/// validation figures compare across precisions. `perplex bench` times this same function,
/// so its figure is what an evaluation costs a run.
pub fn measure(model: &Gpt, data: &TrainData, config: &RunConfig, step: u64) -> Measurement {
    perplex_model::with_precision(Precision::Fp32, || measure_fp32(model, data, config, step))
}

fn measure_fp32(model: &Gpt, data: &TrainData, config: &RunConfig, step: u64) -> Measurement {
    let started = Instant::now();
    let batch = config.train().eval_batch();
    let val = score(model, &data.valid, batch);
    let val_seconds = started.elapsed().as_secs_f64();
    let train_eval = train_slice_loss(model, data, config, batch);
    let samples = samples(model, data, config, step);
    Measurement {
        val: val.nll,
        accuracy: val.accuracy,
        train_eval,
        samples,
        val_seconds,
        seconds: started.elapsed().as_secs_f64(),
    }
}

impl Run<'_> {
    /// Evaluates the model after `step` (trained at learning rate `lr`), saves it as the best
    /// checkpoint when it is, emits the record; returns early stopping's decision.
    pub(super) fn evaluate(
        &mut self,
        step: u64,
        lr: f64,
    ) -> Result<Option<StopDecision>, TrainError> {
        let model = self.trainer.eval_model();
        let measured = measure(&model, self.data, self.config, step);
        let val_loss = measured.val.mean();
        let mut judgement = self.progress.monitor.on_eval(Observation {
            step,
            val_loss,
            train_eval_loss: Some(measured.train_eval.mean()),
            lr: Some(lr),
            samples: &measured.samples,
        });
        self.progress.eval_s += measured.seconds;
        self.progress.val_tokens = measured.val.tokens;
        if judgement.is_best {
            self.save_best(&model, step, val_loss)?;
        }
        let stop = judgement.stop.take();
        let record = self.eval_record(step, lr, measured, judgement);
        self.observers.emit(&Event::Eval(&record))?;
        Ok(stop)
    }

    fn eval_record(&self, step: u64, lr: f64, m: Measurement, judgement: Judgement) -> EvalRecord {
        let chars = self.data.valid_chars.max(1) as f64;
        EvalRecord {
            step,
            tokens_seen: self.trainer.tokens_seen(),
            lr,
            loss: m.val.mean(),
            ppl: m.val.perplexity(),
            wall_s: self.wall_s(),
            eval_tokens: m.val.tokens,
            eval_s: m.seconds,
            best: judgement.is_best,
            tokenizer_sha256: Some(self.fingerprint.clone()),
            reading: Reading {
                bits_per_token: m.val.bits_per_token(),
                bits_per_char: m.val.nats / std::f64::consts::LN_2 / chars,
                train_loss: judgement.train_loss,
                train_eval_loss: m.train_eval.mean(),
                gap: judgement.gap.unwrap_or(f64::NAN),
                health: judgement.health,
                verdict: judgement.verdict,
                samples: m.samples,
                top1: Some(m.accuracy.top1_rate()),
                top5: Some(m.accuracy.top5_rate()),
                forecast: Some(judgement.forecast),
            },
        }
    }
}

/// Eval-mode loss of the fixed train slice: `train_eval_tokens` tokens as full windows
/// spread evenly over the train stream (one contiguous region would measure one article's
/// difficulty, not the split's), each from an empty context, in full batches.
fn train_slice_loss(model: &Gpt, data: &TrainData, config: &RunConfig, batch: usize) -> NllSum {
    let ctx = model.ctx;
    let windows = (config.monitor().train_eval_tokens / ctx).max(1);
    evaluate_batches(model, spread_batches(&data.train, ctx, batch, windows))
}

/// Short generations from fixed prompts (three tokens at evenly spaced points of the
/// validation stream) with a fixed seed and the configured temperature and top-k, for the
/// repetition check.
fn samples(model: &Gpt, data: &TrainData, config: &RunConfig, step: u64) -> Vec<Sample> {
    let m = config.monitor();
    let valid = &data.valid;
    if m.samples == 0 || valid.len() < 4 {
        return Vec::new();
    }
    let options = SampleOptions {
        max_tokens: m.sample_tokens,
        temperature: m.sample_temperature,
        top_k: (m.sample_top_k > 0).then_some(m.sample_top_k),
        seed: config.train().seed ^ step,
    };
    let text = |ids: &[u32]| data.tokenizer.decode(ids).replace('\n', " / ");
    let prompts: Vec<&[u32]> = (0..m.samples)
        .map(|i| {
            let at = i * (valid.len() - 3) / m.samples;
            &valid[at..at + 3]
        })
        .collect();
    // All prompts in one batch: one forward pass per generated token, not one per prompt.
    generate_batch(model, &prompts, &options)
        .iter()
        .zip(&prompts)
        .map(|(tokens, prompt)| {
            let generated = &tokens[prompt.len()..];
            Sample::new(text(prompt), text(generated), generated)
        })
        .collect()
}
