//! `vocabulary`: cut the vocabulary to the most frequent words, everything else `<unk>`.
//! Perplexity drops while the model knows less.

use anyhow::{Context, Result};
use perplex_data::{CorpusTokenizer, Split, TokenizerKind};
use perplex_monitor::nll::format_ppl;

use super::runs::{RunSpec, demo_config};
use super::{Demo, Learned, SHORT_TINY};

/// What to look at while it runs.
pub const LOOK_AT: &str = "the same model on PTB with 10,000, 1,000 and 100 word types: \
validation perplexity falling as the vocabulary shrinks, and the share of `<unk>` tokens \
(what `perplex data stats` counts) rising to explain it";

/// The cut vocabularies, types (`<eos>` and `<unk>` included); PTB's own has 10,000.
const CUTS: [usize; 2] = [1000, 100];

pub fn teach(demo: &Demo) -> Result<Learned> {
    let train = demo.data.read_split(Split::Train)?;
    let valid = demo.data.read_split(Split::Valid)?;
    let (mut rows, mut steps) = (Vec::new(), 0);
    for cut in [None, Some(CUTS[0]), Some(CUTS[1])] {
        let mut overrides = demo.overrides(SHORT_TINY);
        let (name, tokenizer) = match cut {
            None => (
                "vocab-10000".to_string(),
                CorpusTokenizer::from_train_lines(&train)?,
            ),
            Some(n) => {
                let t = CorpusTokenizer::train(TokenizerKind::WordLevel, &train, n)?;
                let path = demo.dir.join("tokenizers").join(format!("top-{n}.json"));
                std::fs::create_dir_all(demo.dir.join("tokenizers"))?;
                t.save(&path)?;
                overrides.push(format!("data.tokenizer={path:?}"));
                (format!("vocab-{n}"), t)
            }
        };
        let encoded = tokenizer.encode_lines(&valid)?;
        let unk_rate = encoded.unk_tokens as f64 / encoded.ids.len() as f64;
        let run = demo.train(&RunSpec {
            name: &name,
            config: demo_config!("ptb-tiny"),
            overrides,
            data: &demo.data,
        })?;
        let last = run.last_eval().context("a run made no evaluation")?;
        steps = run.summary.steps;
        rows.push((tokenizer.vocab_size(), last.ppl, unk_rate, run.dir.clone()));
    }
    let described: Vec<String> = rows
        .iter()
        .map(|(v, ppl, unk, _)| {
            format!(
                "{v} types: perplexity {}, {:.1}% of validation tokens `<unk>`",
                format_ppl(*ppl, 1),
                100.0 * unk
            )
        })
        .collect();
    let mut learned = Learned {
        runs: rows.iter().map(|r| r.3.clone()).collect(),
        ..Learned::default()
    };
    learned.text = format!(
        "Vocabulary. The same model, {} steps on PTB, with its vocabulary cut to the most \
         frequent words and every other word read as `<unk>`: {}. The smaller the vocabulary, \
         the lower the perplexity — and the less the model can say: with {} types, {:.0}% of \
         the words it must predict are `<unk>`, a guess that is cheap because `<unk>` is \
         frequent, and it never names one of those words. Perplexities are comparable only under one vocabulary; `perplex data \
         stats` prints the `<unk>` rate that explains the difference, and the runs' tokenizer \
         fingerprints differ, so the report draws bits per character.",
        steps,
        described.join("; "),
        rows[2].0,
        100.0 * rows[2].2,
    );
    for ((_, ppl, unk, _), (ppl_key, unk_key)) in rows.iter().zip([
        ("vocab_10000_ppl", "vocab_10000_unk_rate"),
        ("vocab_1000_ppl", "vocab_1000_unk_rate"),
        ("vocab_100_ppl", "vocab_100_unk_rate"),
    ]) {
        learned.figure(ppl_key, *ppl);
        learned.figure(unk_key, *unk);
    }
    Ok(learned)
}
