//! `healthy`: a clean decline with warm-up and cosine annealing.

use anyhow::{Context, Result};
use perplex_monitor::SignalKind;
use perplex_monitor::nll::format_ppl;

use super::runs::{RunSpec, demo_config};
use super::{Demo, Learned};

/// What to look at while it runs.
pub const LOOK_AT: &str = "train and validation falling together, the gap between them small \
and steady, validation perplexity going below the unigram level and staying far below the \
uniform guess";

pub fn teach(demo: &Demo) -> Result<Learned> {
    let run = demo.train(&RunSpec {
        name: "healthy",
        config: demo_config!("demos/healthy"),
        overrides: demo.overrides(&["train.max_steps=450", "train.warmup_steps=50"]),
        data: &demo.data,
    })?;
    let b = run.baseline().context("the run wrote no baseline record")?;
    let evals: Vec<_> = run.evals().collect();
    let last = run.last_eval().context("the run made no evaluation")?;
    let below_unigram = evals.iter().find(|e| e.loss < b.unigram).map(|e| e.step);
    let gaps: Vec<f64> = evals.iter().skip(1).map(|e| e.reading.gap).collect();
    let (gap_min, gap_max) = gaps
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &g| {
            (lo.min(g), hi.max(g))
        });
    let healthy = run.count(SignalKind::Healthy);
    let mut learned = Learned {
        runs: vec![run.dir.clone()],
        ..Learned::default()
    };
    learned.text = format!(
        "Healthy. Validation perplexity fell from {} (the model before training) to {} at step \
         {}. It went below the unigram level ({}: a model that knows only how frequent each \
         word is) at step {} and ended {:.2} nats under it; a uniform guess over the {} words \
         scores {}. Train and validation moved together: after the first evaluation the gap \
         (validation loss minus the eval-mode train loss) stayed between {gap_min:+.3} and \
         {gap_max:+.3} nats. The monitor said `healthy` at {healthy} of {} evaluations (the \
         first is `warming_up`); run health {:.0}/100.",
        format_ppl(b.initial.exp(), 1),
        format_ppl(last.ppl, 1),
        last.step,
        format_ppl(b.unigram.exp(), 1),
        below_unigram.map_or("no step".into(), |s| s.to_string()),
        b.unigram - last.loss,
        b.vocab_size,
        format_ppl(b.uniform.exp(), 0),
        evals.len(),
        run.summary.health.unwrap_or(f64::NAN),
    );
    learned.figure("final_val_ppl", last.ppl);
    learned.figure("unigram_ppl", b.unigram.exp());
    learned.figure("below_unigram_step", below_unigram);
    learned.figure("gap_min_nats", gap_min);
    learned.figure("gap_max_nats", gap_max);
    learned.figure("healthy_evals", healthy);
    learned.figure("evals", evals.len());
    Ok(learned)
}
