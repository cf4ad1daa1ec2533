//! One evaluation of a run: the exact validation pass, the eval-mode loss of a fixed train
//! slice, a few generated samples, the monitor's judgement of them, and the record.

use std::time::Instant;

use perplex_data::spread_batches;
use perplex_model::Gpt;
use perplex_monitor::{
    EvalRecord, Judgement, NllSum, Observation, Reading, Sample, StopDecision, TopK,
};

use super::Run;
use super::events::Event;
use crate::TrainError;
use crate::evaluate::{evaluate_batches, score};
use crate::generate::{SampleOptions, generate};

/// What an evaluation measured before the monitor reads it.
struct Measured {
    val: NllSum,
    accuracy: TopK,
    train_eval: NllSum,
    samples: Vec<Sample>,
    seconds: f64,
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
        let measured = self.measure(&model, step);
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

    fn measure(&self, model: &Gpt, step: u64) -> Measured {
        let started = Instant::now();
        let batch = self.config.train().eval_batch();
        let val = score(model, &self.data.valid, batch);
        let train_eval = self.train_slice_loss(model, batch);
        let samples = self.samples(model, step);
        Measured {
            val: val.nll,
            accuracy: val.accuracy,
            train_eval,
            samples,
            seconds: started.elapsed().as_secs_f64(),
        }
    }

    fn eval_record(&self, step: u64, lr: f64, m: Measured, judgement: Judgement) -> EvalRecord {
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

    /// Eval-mode loss of the fixed train slice: `train_eval_tokens` tokens as full windows
    /// spread evenly over the train stream (one contiguous region would measure one article's
    /// difficulty, not the split's), each from an empty context, in full batches.
    fn train_slice_loss(&self, model: &Gpt, batch: usize) -> NllSum {
        let ctx = model.ctx;
        let windows = (self.config.monitor().train_eval_tokens / ctx).max(1);
        evaluate_batches(model, spread_batches(&self.data.train, ctx, batch, windows))
    }

    /// Short generations from fixed prompts (three tokens at evenly spaced points of the
    /// validation stream) with a fixed seed and the configured temperature and top-k, for the
    /// repetition check.
    fn samples(&self, model: &Gpt, step: u64) -> Vec<Sample> {
        let m = self.config.monitor();
        let valid = &self.data.valid;
        if m.samples == 0 || valid.len() < 4 {
            return Vec::new();
        }
        let options = SampleOptions {
            max_tokens: m.sample_tokens,
            temperature: m.sample_temperature,
            top_k: (m.sample_top_k > 0).then_some(m.sample_top_k),
            seed: self.config.train().seed ^ step,
        };
        let text = |ids: &[u32]| self.data.tokenizer.decode(ids).replace('\n', " / ");
        (0..m.samples)
            .map(|i| {
                let at = i * (valid.len() - 3) / m.samples;
                let prompt = &valid[at..at + 3];
                let tokens = generate(model, prompt, &options);
                let generated = &tokens[prompt.len()..];
                Sample::new(text(prompt), text(generated), generated)
            })
            .collect()
    }
}
