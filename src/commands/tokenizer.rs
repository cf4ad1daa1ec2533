//! `perplex tokenizer train`: learn a tokenizer for any plain-text corpus.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use perplex_data::corpus::read_lines;
use perplex_data::{CorpusTokenizer, TokenizerKind};
use serde::Serialize;

use super::{print_json, shown};

/// `perplex tokenizer ...`.
#[derive(Debug, Subcommand)]
pub enum TokenizerCommand {
    /// Learn a word-level, BPE or character tokenizer from a text file (one line per sentence
    /// or document) and write it as tokenizer.json; name it in a config's `data.tokenizer`.
    Train(TrainTokenizerArgs),
}

/// Flags of `perplex tokenizer train`.
#[derive(Debug, Args)]
pub struct TrainTokenizerArgs {
    /// The text to learn from: the train split only, so held-out text stays unseen.
    #[arg(long)]
    pub input: PathBuf,
    /// bpe, wordlevel or char.
    #[arg(long)]
    pub kind: TokenizerKind,
    /// Most token types, `<eos>` and `<unk>` included (ignored for char).
    #[arg(long, default_value_t = 8000)]
    pub vocab_size: usize,
    /// Where to write tokenizer.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct TokenizerSummary {
    path: String,
    kind: TokenizerKind,
    vocab_size: usize,
    sha256: String,
    lines: usize,
    tokens: usize,
    chars_per_token: f64,
    unk_tokens: usize,
}

/// Runs `perplex tokenizer ...`.
pub fn run(command: TokenizerCommand) -> Result<()> {
    let TokenizerCommand::Train(args) = command;
    anyhow::ensure!(
        args.vocab_size >= 3 || args.kind == TokenizerKind::Char,
        "--vocab-size {} leaves no room beside <eos> and <unk>",
        args.vocab_size
    );
    let lines = read_lines(&args.input)?;
    let tokenizer = CorpusTokenizer::train(args.kind, &lines, args.vocab_size)
        .with_context(|| format!("learning a tokenizer from {}", shown(&args.input)))?;
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| shown(dir))?;
    }
    tokenizer.save(&args.out)?;
    let encoded = tokenizer.encode_lines(&lines)?;
    let chars: usize = lines.iter().map(|l| l.chars().count() + 1).sum();
    let summary = TokenizerSummary {
        path: shown(&args.out),
        kind: args.kind,
        vocab_size: tokenizer.vocab_size(),
        sha256: tokenizer.fingerprint()?,
        lines: lines.len(),
        tokens: encoded.ids.len(),
        chars_per_token: chars as f64 / encoded.ids.len().max(1) as f64,
        unk_tokens: encoded.unk_tokens,
    };
    if args.json {
        print_json(&summary);
    } else {
        println!(
            "{}: {} tokenizer, {} types, sha256 {}; on its input: {} tokens for {} lines, {:.2} \
             characters per token",
            summary.path,
            summary.kind,
            summary.vocab_size,
            &summary.sha256[..12],
            summary.tokens,
            summary.lines,
            summary.chars_per_token
        );
    }
    Ok(())
}
