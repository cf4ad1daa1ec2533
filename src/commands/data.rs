//! `perplex data fetch | stats | check | split | synth`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use perplex_data::corpus::{Corpus, read_lines};
use perplex_data::fetch::{fetch_ptb, ptb_base_url};
use perplex_data::hygiene::{DEFAULT_NGRAM, HygieneReport, SplitShares, hash_split};
use perplex_data::markov::{ChainSpec, MarkovChain, sample_corpus};
use perplex_data::{CorpusTokenizer, DataDir, Split};
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
    /// How much of valid and test also occurs in train (lines and n-gram shingles), and
    /// unknown-word rates; exits 1 past --max-overlap.
    Check(CheckArgs),
    /// Split one text file into train/valid/test by a hash of each line, so identical lines
    /// always land in the same split.
    Split(SplitArgs),
    /// Write a corpus sampled from a Markov chain, with its exact entropy in entropy.json.
    Synth(SynthArgs),
}

/// The default `--max-overlap`: a share (0–1) of held-out tokens inside 13-grams that also
/// occur in train. PTB's own natural overlap (boilerplate such as "terms were n't disclosed")
/// is 3.2% of valid's tokens and 2.2% of test's; a leak has to add a few percent to stand out.
pub const DEFAULT_MAX_OVERLAP: f64 = 0.05;

/// Flags of `perplex data check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The train file (instead of --data-dir's ptb.train.txt).
    #[arg(long, requires = "valid")]
    pub train: Option<PathBuf>,
    /// The validation file.
    #[arg(long, requires = "train")]
    pub valid: Option<PathBuf>,
    /// The test file (optional with --train/--valid).
    #[arg(long, requires = "train")]
    pub test: Option<PathBuf>,
    /// Shingle length in tokens.
    #[arg(long, default_value_t = DEFAULT_NGRAM)]
    pub ngram: usize,
    /// Fail (exit 1) when a split's share of tokens inside n-grams that also occur in train
    /// exceeds this (0–1).
    #[arg(long, default_value_t = DEFAULT_MAX_OVERLAP)]
    pub max_overlap: f64,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub data: DataDirArg,
}

/// Flags of `perplex data split`.
#[derive(Debug, Args)]
pub struct SplitArgs {
    /// The text to split, one sentence or document per line.
    #[arg(long)]
    pub input: PathBuf,
    /// Share of lines for validation (0–1; 1–5% is the usual advice).
    #[arg(long, default_value_t = 0.02)]
    pub valid: f64,
    /// Share of lines for test.
    #[arg(long, default_value_t = 0.02)]
    pub test: f64,
    /// Seed mixed into each line's hash.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Directory to write ptb.train.txt, ptb.valid.txt and ptb.test.txt into.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace split files already in --out.
    #[arg(long)]
    pub overwrite: bool,
    /// Print the sizes as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `perplex data synth`.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// The generator; only `markov` exists.
    #[arg(long, value_parser = ["markov"], default_value = "markov")]
    pub kind: String,
    /// Tokens of the chain, `<eos>` included.
    #[arg(long, default_value_t = 100)]
    pub vocab: usize,
    /// Tokens of context: 1 or 2.
    #[arg(long, default_value_t = 1)]
    pub order: usize,
    /// Favoured successors per state.
    #[arg(long, default_value_t = 4)]
    pub branching: usize,
    /// Train tokens, at least 100 (valid and test get a tenth each); every split ends at a
    /// line end, so each holds up to one line more.
    #[arg(long, default_value_t = 200_000)]
    pub tokens: usize,
    /// Seed of the chain and the text.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Directory to write the PTB-layout files and entropy.json into.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace split files already in --out.
    #[arg(long)]
    pub overwrite: bool,
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
        DataCommand::Check(args) => check(args),
        DataCommand::Split(args) => split(args),
        DataCommand::Synth(args) => synth(args),
    }
}

fn check(args: CheckArgs) -> Result<()> {
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.max_overlap),
        "--max-overlap {} is not a share between 0 and 1",
        args.max_overlap
    );
    anyhow::ensure!(args.ngram >= 1, "--ngram must be at least 1");
    let corpus = match (&args.train, &args.valid) {
        (Some(train), Some(valid)) => Corpus {
            train: read_lines(train)?,
            valid: read_lines(valid)?,
            test: match &args.test {
                Some(test) => read_lines(test)?,
                None => Vec::new(),
            },
        },
        _ => args.data.resolve().read_all()?,
    };
    let tokenizer = CorpusTokenizer::from_train_lines(&corpus.train)?;
    let report = HygieneReport::run(&corpus, &tokenizer, args.ngram, args.max_overlap)?;
    if args.json {
        print_json(&report);
    } else {
        print_hygiene(&report);
    }
    if !report.overlap.passed {
        let worst = report.overlap.worst().expect("a failed check has a split");
        anyhow::bail!(
            "{}: {:.2}% of its tokens lie in {}-grams that also occur in train ({:.2}% of its \
             lines), past --max-overlap {:.2}%; held-out text in train makes validation loss \
             optimistic (deduplicate, or split with `perplex data split`)",
            worst.split,
            100.0 * worst.token_share,
            report.overlap.ngram,
            100.0 * worst.line_share,
            100.0 * args.max_overlap
        );
    }
    Ok(())
}

/// The text form of a hygiene report.
pub fn print_hygiene(report: &HygieneReport) {
    let o = &report.overlap;
    println!(
        "overlap with train ({} lines; whole lines and {}-gram shingles):",
        o.train_lines, o.ngram
    );
    for (line, split) in o.summary().iter().zip(&o.splits) {
        println!("  {line}");
        for e in &split.examples {
            println!("    line {}: {}", e.line, e.text);
        }
    }
    println!("unknown words (against the train vocabulary):");
    for v in &report.vocab {
        println!(
            "  {}: {:.2}% <unk>, {:.2}% out of vocabulary",
            v.split,
            100.0 * v.unk_rate,
            100.0 * v.oov_rate
        );
    }
    for w in &report.warnings {
        println!("warning: {w}");
    }
}

#[derive(Debug, Serialize)]
struct SplitSizes {
    split: Split,
    path: String,
    lines: usize,
    tokens: usize,
}

fn split(args: SplitArgs) -> Result<()> {
    let shares = SplitShares {
        valid: args.valid,
        test: args.test,
        seed: args.seed,
    };
    anyhow::ensure!(
        args.valid >= 0.0 && args.test >= 0.0 && args.valid + args.test < 1.0,
        "--valid {} and --test {} must be shares that leave some lines for train",
        args.valid,
        args.test
    );
    let lines = read_lines(&args.input)?;
    let corpus = hash_split(&lines, &shares);
    for split in Split::ALL {
        anyhow::ensure!(
            !corpus.split(split).is_empty(),
            "{}: no line fell into {split} ({} non-empty lines, share {}); give a larger share \
             or more text",
            shown(&args.input),
            lines.iter().filter(|l| !l.trim().is_empty()).count(),
            match split {
                Split::Train => 1.0 - args.valid - args.test,
                Split::Valid => args.valid,
                Split::Test => args.test,
            }
        );
    }
    let dir = DataDir::new(&args.out);
    dir.write(&corpus, args.overwrite)?;
    let sizes: Vec<SplitSizes> = Split::ALL
        .iter()
        .map(|&s| SplitSizes {
            split: s,
            path: shown(&dir.split_path(s)),
            lines: corpus.split(s).len(),
            tokens: corpus
                .split(s)
                .iter()
                .map(|l| l.split_whitespace().count() + 1)
                .sum(),
        })
        .collect();
    if args.json {
        print_json(&sizes);
    } else {
        for s in &sizes {
            println!("{}: {} lines, {} tokens", s.path, s.lines, s.tokens);
        }
    }
    Ok(())
}

fn synth(args: SynthArgs) -> Result<()> {
    anyhow::ensure!(
        args.tokens >= 100,
        "--tokens {} is too few: at least 100 train tokens (valid and test get a tenth each)",
        args.tokens
    );
    let spec = ChainSpec {
        vocab: args.vocab,
        order: args.order,
        branching: args.branching,
        seed: args.seed,
        ..ChainSpec::default()
    };
    let chain = MarkovChain::new(spec).map_err(anyhow::Error::msg)?;
    let sampled = sample_corpus(&chain, args.tokens, args.seed.wrapping_add(1));
    DataDir::new(&args.out).write(&sampled.corpus, args.overwrite)?;
    let path = args.out.join("entropy.json");
    let json = serde_json::to_string_pretty(&sampled.report).expect("reports serialise");
    std::fs::write(&path, format!("{json}\n")).with_context(|| shown(&path))?;
    let r = &sampled.report;
    println!(
        "{}: order-{} chain over {} tokens; entropy rate {:.4} nats/token (ppl {:.2}); oracle \
         valid NLL {:.4} (ppl {:.2}), test {:.4} (ppl {:.2})",
        shown(&args.out),
        args.order,
        args.vocab,
        r.entropy_rate_nats,
        r.entropy_rate_ppl,
        r.valid.nll,
        r.valid.ppl,
        r.test.nll,
        r.test.ppl
    );
    Ok(())
}

fn stats(args: StatsArgs) -> Result<()> {
    let dir = args.data.resolve();
    let corpus = dir.read_all()?;
    let tokenizer = CorpusTokenizer::from_train_lines(&corpus.train)?;
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
