//! `perplex data fetch ptb` and `perplex data stats`.

use anyhow::Result;
use clap::{Args, Subcommand};
use perplex_data::fetch::{fetch_ptb, ptb_base_url};
use perplex_data::{Split, WordTokenizer};
use serde::Serialize;

use super::{print_json, report_fetch, shown};
use crate::DataDirArg;

/// `perplex data ...`.
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Download a corpus (checksummed) into --data-dir (default data/ptb).
    Fetch(FetchArgs),
    /// Tokens, vocabulary and <unk> counts of each split.
    Stats(StatsArgs),
}

/// Flags of `perplex data fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// The corpus to fetch; only `ptb` exists.
    #[arg(value_parser = ["ptb"])]
    pub corpus: String,
    #[command(flatten)]
    pub data: DataDirArg,
}

/// Flags of `perplex data stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub data: DataDirArg,
}

#[derive(Debug, Serialize)]
struct SplitStats {
    split: Split,
    lines: usize,
    tokens: usize,
    unk_tokens: usize,
    oov_words: usize,
}

#[derive(Debug, Serialize)]
struct Stats {
    data_dir: String,
    vocab_size: usize,
    splits: Vec<SplitStats>,
}

/// Runs `perplex data ...`.
pub fn run(command: DataCommand) -> Result<()> {
    match command {
        DataCommand::Fetch(args) => {
            let dir = args.data.resolve();
            report_fetch(&fetch_ptb(&ptb_base_url(), dir.root())?);
            Ok(())
        }
        DataCommand::Stats(args) => stats(args),
    }
}

fn stats(args: StatsArgs) -> Result<()> {
    let dir = args.data.resolve();
    let corpus = dir.read_all()?;
    let tokenizer = WordTokenizer::from_train_lines(&corpus.train)?;
    let splits = Split::ALL
        .iter()
        .map(|&split| {
            let enc = tokenizer.encode_lines(corpus.split(split))?;
            Ok(SplitStats {
                split,
                lines: enc.lines,
                tokens: enc.ids.len(),
                unk_tokens: enc.unk_tokens,
                oov_words: enc.oov_words,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let stats = Stats {
        data_dir: shown(dir.root()),
        vocab_size: tokenizer.vocab_size(),
        splits,
    };
    if args.json {
        print_json(&stats);
        return Ok(());
    }
    println!(
        "{}: vocabulary {} (train split only)",
        stats.data_dir, stats.vocab_size
    );
    println!(
        "{:<6} {:>8} {:>10} {:>8} {:>6}",
        "split", "lines", "tokens", "<unk>", "oov"
    );
    for s in &stats.splits {
        println!(
            "{:<6} {:>8} {:>10} {:>8} {:>6}",
            s.split.name(),
            s.lines,
            s.tokens,
            s.unk_tokens,
            s.oov_words
        );
    }
    Ok(())
}
