//! `averaging`: one checkpoint's validation perplexity averaged per token (right), as a mean
//! of per-sentence perplexities and as a mean of per-batch losses (both wrong).

use anyhow::Result;
use perplex_monitor::averaging::Averaging;
use perplex_train::CheckpointKind;
use perplex_train::evaluate::token_losses;

use super::runs::{RunSpec, demo_config};
use super::{Demo, Learned, SHORT_TINY};

/// What to look at while it runs.
pub const LOOK_AT: &str = "nothing during training (a ptb-tiny run); then one checkpoint's \
validation losses averaged three ways, and how far the two wrong ways land from the right one";

pub fn teach(demo: &Demo) -> Result<Learned> {
    let run = demo.train(&RunSpec {
        name: "ptb-tiny",
        config: demo_config!("ptb-tiny"),
        overrides: demo.overrides(SHORT_TINY),
        data: &demo.data,
    })?;
    let l = demo.checkpoint(&run, CheckpointKind::Best, &demo.data)?;
    let eos = l.data.tokenizer.eos_id();
    let losses = token_losses(&l.model, &l.data.valid, l.eval_batch, eos);
    let [token, sequence, batch] = Averaging::ALL.map(|a| losses.perplexity(a));
    let off = |wrong: f64| 100.0 * (wrong - token) / token;
    let batches = losses.batch_ends.len();
    let last_batch = batches.checked_sub(2).map_or(losses.nats.len(), |i| {
        losses.nats.len() - losses.batch_ends[i]
    });
    let mut learned = Learned {
        runs: vec![run.dir.clone()],
        ..Learned::default()
    };
    learned.text = format!(
        "Averaging. The same checkpoint, the same {} validation losses, three averages. Per \
         token — the total NLL divided by the number of tokens, then exp — perplexity {token:.2}: \
         the right one, what `perplex eval` and the training log report. The mean of the {} \
         sentences' own perplexities: {sequence:.2} ({:+.1}%), wrong twice: a two-word \
         sentence weighs as much as a forty-word one, and exp is taken before the mean, which \
         lets the hardest sentences dominate. Exp of the mean of the {batches} batches' mean \
         losses: {batch:.2} ({:+.2}%), wrong because the last batch holds {last_batch} tokens \
         where the others hold {} and still counts as one. `perplex eval --run {} \
         --averaging all` shows the three for any run.",
        losses.nats.len(),
        losses.sentence_ends.len(),
        off(sequence),
        off(batch),
        losses.batch_ends.first().copied().unwrap_or(0),
        run.dir.display(),
    );
    learned.figure("token_ppl", token);
    learned.figure("sequence_ppl", sequence);
    learned.figure("batch_ppl", batch);
    learned.figure("sequence_off_pct", off(sequence));
    learned.figure("batch_off_pct", off(batch));
    learned.figure("logged_val_ppl", run.best_loss().exp());
    Ok(learned)
}
