//! `blow-up`: too high a learning rate without warm-up or clipping, beside the same run with
//! both.

use anyhow::{Context, Result};
use perplex_monitor::nll::format_ppl;
use perplex_monitor::{MetricRecord, SignalKind};

use super::runs::{Finished, RunSpec, demo_config};
use super::{Demo, Learned};

/// What to look at while it runs.
pub const LOOK_AT: &str = "the first steps of the run without warm-up: the training loss \
jumping far above a uniform guess (9.21 nats), `diverged` at the first evaluation and the run \
stopped; then the same learning rate reached by warm-up, with clipping, never leaving the \
falling curve";

pub fn teach(demo: &Demo) -> Result<Learned> {
    let hot = demo.train(&RunSpec {
        name: "no-warmup",
        config: demo_config!("demos/blow-up"),
        overrides: demo.overrides(&["train.max_steps=60"]),
        data: &demo.data,
    })?;
    let tamed = demo.train(&RunSpec {
        name: "with-warmup",
        config: demo_config!("demos/blow-up-tamed"),
        overrides: demo.overrides(&["train.max_steps=100", "train.warmup_steps=50"]),
        data: &demo.data,
    })?;
    let uniform = hot.baseline().map_or(f64::NAN, |b| b.uniform);
    let (peak_step, peak) = peak_train_loss(&hot);
    let (tamed_step, tamed_peak) = peak_train_loss(&tamed);
    let diverged = hot
        .first(SignalKind::Diverged)
        .context("the run without warm-up was never called diverged")?;
    let tamed_last = tamed
        .last_eval()
        .context("the tamed run made no evaluation")?;
    let mut learned = Learned {
        runs: vec![hot.dir.clone(), tamed.dir.clone()],
        ..Learned::default()
    };
    learned.text = format!(
        "Blow-up. At Adam's learning rate 0.1 from the first step, without warm-up or \
         clipping, the training loss reached {peak:.2} nats at step {peak_step}, {:.2} above a \
         uniform guess over the vocabulary ({uniform:.2}): the model predicted far worse than \
         not knowing anything. At the first evaluation, step {}, the monitor said `diverged` \
         ({}) and early stopping ended the run after {} steps. The same model at the same peak \
         learning rate, reached over {} warm-up steps with the gradient norm clipped to {}, \
         never went above {tamed_peak:.2} nats (step {tamed_step}) and ended at validation \
         perplexity {} after {} steps, called `{}`. (Warm-up lets Adam's second-moment \
         estimates settle before the steps get large; at 0.1 the result is still poor — this \
         shape trains best near 1e-3.)",
        peak - uniform,
        diverged.step,
        diverged.reading.verdict.state.evidence,
        hot.summary.steps,
        tamed.config.train().warmup_steps,
        tamed.config.train().grad_clip,
        format_ppl(tamed_last.ppl, 1),
        tamed.summary.steps,
        tamed_last.reading.verdict.state.kind,
    );
    learned.figure("peak_train_loss_nats", peak);
    learned.figure("uniform_nats", uniform);
    learned.figure("diverged_step", diverged.step);
    learned.figure("no_warmup_steps", hot.summary.steps);
    learned.figure("tamed_peak_train_loss_nats", tamed_peak);
    learned.figure("tamed_diverged_evals", tamed.count(SignalKind::Diverged));
    learned.figure("tamed_final_val_ppl", tamed_last.ppl);
    Ok(learned)
}

/// The step and value of the highest logged training loss.
fn peak_train_loss(run: &Finished) -> (u64, f64) {
    run.records
        .iter()
        .filter_map(|r| match r {
            MetricRecord::Train(t) => Some((t.step, t.loss)),
            _ => None,
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((0, f64::NAN))
}
