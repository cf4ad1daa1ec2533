//! `overfitting`: train falls, validation rises, early stopping keeps the best weights.

use anyhow::{Context, Result};
use perplex_monitor::SignalKind;
use perplex_monitor::nll::format_ppl;
use perplex_train::CheckpointKind;
use perplex_train::evaluate::evaluate;

use super::runs::{RunSpec, demo_config};
use super::{Demo, Learned};

/// What to look at while it runs.
pub const LOOK_AT: &str = "the eval-mode train loss falling at every evaluation while the \
validation loss turns and rises; the gap between them growing; `overfitting` named, the run \
stopped, and its best weights kept";

pub fn teach(demo: &Demo) -> Result<Learned> {
    let run = demo.train(&RunSpec {
        name: "overfitting",
        config: demo_config!("ptb-overfit"),
        overrides: Vec::new(),
        data: &demo.data,
    })?;
    let s = &run.summary;
    let named = run
        .first(SignalKind::Overfitting)
        .context("the run was never called overfitting")?;
    let best_step = s.best_step.context("no best checkpoint")?;
    let gaps: Vec<String> = run
        .evals()
        .map(|e| format!("{:+.2}", e.reading.gap))
        .collect();
    let unigram = run.baseline().map_or(f64::NAN, |b| b.unigram);
    let l = demo.checkpoint(&run, CheckpointKind::Last, &demo.data)?;
    let last = evaluate(&l.model, &l.data.valid, l.eval_batch);
    let mut learned = Learned {
        runs: vec![run.dir.clone()],
        ..Learned::default()
    };
    learned.text = format!(
        "Overfitting. A 4-layer model without dropout on 20,000 tokens memorises them: its \
         best validation perplexity, {} at step {best_step}, is only {:.2} nats below a \
         unigram model of those tokens, and from there validation rises while the eval-mode \
         train loss keeps falling. The gap grew at every evaluation ({} nats). At step {} \
         the monitor named `overfitting` ({}); early stopping ended the run at step {} and \
         restored the best weights: the final checkpoint scores {} on validation, the best \
         one's perplexity, not the last step's.",
        format_ppl(s.best_val_loss.unwrap_or(f64::NAN).exp(), 2),
        unigram - s.best_val_loss.unwrap_or(f64::NAN),
        gaps.join(", "),
        named.step,
        named.reading.verdict.state.evidence,
        s.steps,
        format_ppl(last.perplexity(), 2),
    );
    learned.figure("best_step", best_step);
    learned.figure("best_val_loss_nats", s.best_val_loss);
    learned.figure("overfitting_step", named.step);
    learned.figure("stop_step", s.steps);
    learned.figure("last_checkpoint_val_loss_nats", last.mean());
    learned.figure("gap_first_nats", run.evals().next().map(|e| e.reading.gap));
    learned.figure("gap_last_nats", run.last_eval().map(|e| e.reading.gap));
    Ok(learned)
}
