//! What a person watching the terminal sees: a progress bar (drawn only when stderr is a
//! terminal) and the log lines of each event, written around the bar so it never leaves a
//! stale line behind.

use indicatif::{ProgressBar, ProgressStyle};
use perplex_monitor::nll::format_ppl;
use perplex_monitor::{BaselineRecord, Baselines, EvalRecord, StopReason, TrainRecord};

use super::events::{Event, Observer};
use crate::TrainError;
use crate::memory::mib;

/// The progress bar and the log.
pub(super) struct Console {
    bar: ProgressBar,
    max_steps: u64,
    /// The levels each evaluation is compared with.
    baselines: Baselines,
    /// Validation perplexity of the latest evaluation this session, for the bar's message.
    last_val_ppl: Option<f64>,
}

impl Console {
    /// A console whose bar counts `max_steps` steps, `done` of them already.
    pub(super) fn new(max_steps: u64, done: u64) -> Self {
        let bar = ProgressBar::new(max_steps);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} step {pos}/{len} [{bar:30}] {msg} | {elapsed_precise} ETA {eta_precise}",
            )
            .expect("the progress template is valid")
            .progress_chars("=> "),
        );
        bar.set_position(done);
        bar.reset_eta();
        Self {
            bar,
            max_steps,
            baselines: Baselines::default(),
            last_val_ppl: None,
        }
    }

    /// Logs `line` without tearing the bar.
    fn log(&self, line: impl FnOnce()) {
        self.bar.suspend(line);
    }
}

impl Observer for Console {
    fn observe(&mut self, event: &Event) -> Result<(), TrainError> {
        match event {
            Event::Started { baselines, .. } => {
                self.baselines = *baselines;
                self.log(|| log_start(event));
            }
            Event::Baseline(r) => self.log(|| log_baseline(r)),
            Event::Stepped { step } => self.bar.set_position(*step),
            Event::Spike(signal) => self.log(|| tracing::warn!("step {}: {signal}", signal.step)),
            Event::NonFinite { step, stats } => self.log(|| {
                tracing::error!(
                    "step {step}: non-finite training loss ({}) or gradient norm ({}); \
                     stopping without applying the update, checkpoints untouched",
                    stats.loss,
                    stats.grad_norm
                )
            }),
            Event::Train(r) => self.train(r),
            Event::Eval(r) => {
                self.log(|| log_eval(r, &self.baselines));
                self.last_val_ppl = Some(r.ppl);
                let g = &r.reading;
                let state = g.verdict.state.kind;
                self.bar
                    .set_message(format!("{state}, health {:.0}", g.health));
            }
            Event::Stopped { .. } => {
                self.bar.finish_and_clear();
                log_stop(event);
            }
        }
        Ok(())
    }
}

impl Console {
    /// The bar's message after a train record; a log line too when there is no bar.
    fn train(&self, r: &TrainRecord) {
        let val = self
            .last_val_ppl
            .map_or_else(|| "-".to_string(), |ppl| format_ppl(ppl, 1));
        self.bar.set_message(format!(
            "loss {:.3} | val ppl {val} | {:.0} tok/s",
            r.loss, r.tokens_per_s
        ));
        if self.bar.is_hidden() {
            tracing::info!(
                "step {}/{}: train loss {:.4} (ppl {}), lr {:.2e}, {:.0} tok/s",
                r.step,
                self.max_steps,
                r.loss,
                format_ppl(r.ppl, 1),
                r.lr,
                r.tokens_per_s
            );
        }
    }
}

/// The run's shape and data, before the first step.
fn log_start(event: &Event) {
    let Event::Started {
        shape: s,
        train_tokens,
        valid_tokens,
        max_steps,
        tokens_per_step,
        device,
        memory,
        ..
    } = event
    else {
        return;
    };
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
        "data: {train_tokens} train tokens, {valid_tokens} valid tokens; {max_steps} steps \
         of {tokens_per_step} tokens on {device}"
    );
    tracing::info!(
        "memory: a training step needs about {} MiB (weights and AdamW {} MiB, activations \
         {} MiB)",
        mib(memory.total()),
        mib(memory.weights_and_optimizer),
        mib(memory.activations)
    );
}

/// The baselines, once, before the first step.
fn log_baseline(r: &BaselineRecord) {
    tracing::info!(
        "baselines: a uniform guess scores ln V = ln {} = {:.4} nats/token (ppl {:.0}); a \
         unigram model of the {} train tokens {:.4} (ppl {:.1}); this model before training \
         {:.4} (ppl {:.1}, {} validation tokens in {:.1}s)",
        r.vocab_size,
        r.uniform,
        r.uniform.exp(),
        r.train_tokens,
        r.unigram,
        r.unigram.exp(),
        r.initial,
        r.initial.exp(),
        r.eval_tokens,
        r.eval_s
    );
}

/// Why the run stopped, when it stopped before its last step for a reason of its own (a
/// non-finite step was logged when it happened).
fn log_stop(event: &Event) {
    let Event::Stopped {
        step,
        decision,
        budget_s,
        dir,
    } = event
    else {
        return;
    };
    match decision.reason {
        StopReason::MaxSteps | StopReason::NonFinite => {}
        StopReason::TimeBudget => tracing::info!(
            "time budget of {:.0} s reached after step {step}; stopping",
            budget_s.unwrap_or(f64::NAN)
        ),
        StopReason::Interrupted => tracing::warn!(
            "interrupted after step {step}: state saved; continue with `perplex train \
             --resume {}`",
            dir.root().display()
        ),
        _ => tracing::warn!("early stopping at step {step}: {decision}"),
    }
}

/// The log lines of one evaluation: the numbers, then the monitor's reading.
fn log_eval(r: &EvalRecord, baselines: &Baselines) {
    let g = &r.reading;
    let step = r.step;
    tracing::info!(
        "step {step}: val loss {:.4} nats/token, ppl {}, {:.3} bits/token, {:.3} bits/char \
         over {} tokens ({:.1}s){}",
        r.loss,
        format_ppl(r.ppl, 2),
        g.bits_per_token,
        g.bits_per_char,
        r.eval_tokens,
        r.eval_s,
        if r.best { ", best so far" } else { "" }
    );
    tracing::info!(
        "step {step}: train loss {:.4} (dropout on), {:.4} (eval mode, train slice); gap {:+.4}; \
         health {:.0}",
        g.train_loss,
        g.train_eval_loss,
        g.gap,
        g.health
    );
    if let (Some(top1), Some(top5)) = (g.top1, g.top5) {
        tracing::info!(
            "step {step}: next-token accuracy on valid: top-1 {:.2}%, top-5 {:.2}%",
            100.0 * top1,
            100.0 * top5
        );
    }
    let levels = baselines.compare(r.loss);
    if !levels.is_empty() {
        tracing::info!("step {step}: val {:.4} nats: {levels}", r.loss);
    }
    for signal in g.verdict.signals() {
        tracing::info!("step {step}: {signal}");
    }
    if let Some(forecast) = &g.forecast {
        tracing::info!("step {step}: {forecast}");
    }
}
