//! `repetition`: low perplexity is not good text. Greedy samples loop while validation
//! perplexity falls; sampling with a temperature and top-k from the same model does not.
//! Next-token accuracy sits beside perplexity as a task metric.

use anyhow::{Context, Result};
use perplex_monitor::nll::format_ppl;
use perplex_monitor::{Repetition, SignalKind};
use perplex_train::CheckpointKind;
use perplex_train::generate::{SampleOptions, generate_batch};

use super::runs::{RunSpec, demo_config};
use super::{Demo, Learned, SHORT_TINY};

/// What to look at while it runs.
pub const LOOK_AT: &str = "validation perplexity falling and next-token accuracy rising at \
every evaluation while the greedy samples loop and the monitor says `degenerate_samples`; \
then the same model sampled at temperature 1, top-k 40";

/// Tokens each contrast sample generates.
const TOKENS: usize = 24;

pub fn teach(demo: &Demo) -> Result<Learned> {
    let run = demo.train(&RunSpec {
        name: "greedy-samples",
        config: demo_config!("demos/repetition"),
        overrides: demo.overrides(SHORT_TINY),
        data: &demo.data,
    })?;
    let last = run.last_eval().context("the run made no evaluation")?;
    let first = run.evals().next().context("the run made no evaluation")?;
    let degenerate = run.count(SignalKind::DegenerateSamples);
    let l = demo.checkpoint(&run, CheckpointKind::Best, &demo.data)?;
    let valid = &l.data.valid;
    let prompts: Vec<&[u32]> = (0..3)
        .map(|i| {
            let at = i * (valid.len() - 3) / 3;
            &valid[at..at + 3]
        })
        .collect();
    let decode = |temperature: f64, top_k: Option<usize>| -> Vec<(String, Repetition)> {
        let options = SampleOptions {
            max_tokens: TOKENS,
            temperature,
            top_k,
            seed: 7,
        };
        generate_batch(&l.model, &prompts, &options)
            .iter()
            .zip(&prompts)
            .map(|(tokens, p)| {
                let text = l.data.tokenizer.decode(tokens).replace('\n', " / ");
                (text, Repetition::of(&tokens[p.len()..]))
            })
            .collect()
    };
    let greedy = decode(0.0, None);
    let sampled = decode(1.0, Some(40));
    let mean = |v: &[(String, Repetition)]| {
        v.iter().map(|(_, r)| r.distinct_2).sum::<f64>() / v.len() as f64
    };
    let mut learned = Learned {
        runs: vec![run.dir.clone()],
        ..Learned::default()
    };
    learned.text = format!(
        "Repetition. Validation perplexity fell from {} at step {} to {} at step {}, and \
         next-token accuracy rose from {:.1}% to {:.1}% top-1 ({:.1}% to {:.1}% top-5). Yet \
         {degenerate} of {} evaluations said `degenerate_samples`: decoded greedily, the \
         model's most likely continuation loops. From the best checkpoint, greedy: \"{}\" \
         (distinct bigrams {:.2} on average over three prompts). The same prompts sampled at \
         temperature 1 with top-k 40: \"{}\" (distinct bigrams {:.2}). Perplexity measures \
         how well the model spreads probability over the next word, not what a decoding \
         rule does with it; accuracy measures only the top of the list.",
        format_ppl(first.ppl, 1),
        first.step,
        format_ppl(last.ppl, 1),
        last.step,
        100.0 * first.reading.top1.unwrap_or(f64::NAN),
        100.0 * last.reading.top1.unwrap_or(f64::NAN),
        100.0 * first.reading.top5.unwrap_or(f64::NAN),
        100.0 * last.reading.top5.unwrap_or(f64::NAN),
        run.evals().count(),
        greedy[0].0,
        mean(&greedy),
        sampled[0].0,
        mean(&sampled),
    );
    learned.figure("final_val_ppl", last.ppl);
    learned.figure("final_top1", last.reading.top1);
    learned.figure("final_top5", last.reading.top5);
    learned.figure("degenerate_evals", degenerate);
    learned.figure("evals", run.evals().count());
    learned.figure("greedy_distinct_2", mean(&greedy));
    learned.figure("sampled_distinct_2", mean(&sampled));
    Ok(learned)
}
