//! `tokenizers`: the same text under word-level, BPE and character tokenizers. Per-token
//! perplexities cannot be compared across them; bits per character can.

use std::path::PathBuf;

use anyhow::{Context, Result};
use perplex_data::{CorpusTokenizer, Split, TokenizerKind};
use perplex_monitor::nll::format_ppl;

use super::runs::{Finished, RunSpec, demo_config};
use super::{Demo, Learned, SHORT_TINY};

/// What to look at while it runs.
pub const LOOK_AT: &str = "three runs of one model shape on the same text: the per-token \
perplexity of each (hundreds for words, a few for characters), then bits per character, which \
puts them on one scale; the report draws bits per character because the tokenizers differ";

/// BPE's vocabulary: between characters and words.
const BPE_VOCAB: usize = 2000;

pub fn teach(demo: &Demo) -> Result<Learned> {
    let train_lines = demo.data.read_split(Split::Train)?;
    let mut runs: Vec<Finished> = Vec::new();
    for kind in [
        TokenizerKind::WordLevel,
        TokenizerKind::Bpe,
        TokenizerKind::Char,
    ] {
        let mut overrides = demo.overrides(SHORT_TINY);
        if kind != TokenizerKind::WordLevel {
            // Word level is PTB's own vocabulary, as in every other lesson.
            let path = learn(demo, kind, &train_lines)?;
            overrides.push(format!("data.tokenizer={path:?}"));
        }
        runs.push(demo.train(&RunSpec {
            name: kind.name(),
            config: demo_config!("ptb-tiny"),
            overrides,
            data: &demo.data,
        })?);
    }
    let rows: Vec<(String, f64, f64, usize)> = runs
        .iter()
        .map(|r| {
            let last = r.last_eval().context("a run made no evaluation")?;
            let vocab = r.baseline().map_or(0, |b| b.vocab_size);
            Ok((r.name.clone(), last.ppl, last.reading.bits_per_char, vocab))
        })
        .collect::<Result<_>>()?;
    let ppl: Vec<f64> = rows.iter().map(|r| r.1).collect();
    let bpc: Vec<f64> = rows.iter().map(|r| r.2).collect();
    let spread = |v: &[f64]| {
        v.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
            / v.iter().cloned().fold(f64::INFINITY, f64::min)
    };
    let described: Vec<String> = rows
        .iter()
        .map(|(name, ppl, bpc, vocab)| {
            format!(
                "{name} ({vocab} types): perplexity {} per token, {bpc:.3} bits per character",
                format_ppl(*ppl, 2)
            )
        })
        .collect();
    let mut learned = Learned {
        runs: runs.iter().map(|r| r.dir.clone()).collect(),
        ..Learned::default()
    };
    learned.text = format!(
        "Tokenizers. One model shape, {} steps each, on PTB split into words, into {BPE_VOCAB} \
         BPE pieces and into characters. {}. Per-token perplexities differ {:.0}-fold: a \
         character is far easier to guess than a word, so a lower number says nothing about \
         the better model. Bits per character divide each run's total loss by the same \
         count, the characters of the validation text, and land within a factor of {:.2} of \
         each other. The report noticed the tokenizers differ and drew bits per character \
         instead of overlaying perplexities.",
        runs[0].summary.steps,
        described.join("; "),
        spread(&ppl),
        spread(&bpc),
    );
    let keys = [
        ("wordlevel_ppl", "wordlevel_bits_per_char"),
        ("bpe_ppl", "bpe_bits_per_char"),
        ("char_ppl", "char_bits_per_char"),
    ];
    for ((_, ppl, bpc, _), (ppl_key, bpc_key)) in rows.iter().zip(keys) {
        learned.figure(ppl_key, *ppl);
        learned.figure(bpc_key, *bpc);
    }
    learned.figure("ppl_spread", spread(&ppl));
    learned.figure("bits_per_char_spread", spread(&bpc));
    Ok(learned)
}

/// Learns a `kind` tokenizer from PTB train into the demo's `tokenizers/`; its absolute path.
fn learn(demo: &Demo, kind: TokenizerKind, lines: &[String]) -> Result<PathBuf> {
    let path = demo.dir.join("tokenizers").join(format!("{kind}.json"));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    eprintln!("-- learning a {kind} tokenizer from PTB train");
    CorpusTokenizer::train(kind, lines, BPE_VOCAB)?.save(&path)?;
    Ok(path)
}
