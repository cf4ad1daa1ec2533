//! `perplex eval`.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use perplex_data::Split;
use perplex_model::Gpt;
use perplex_monitor::averaging::{Averaging, TokenLosses};
use perplex_train::evaluate::{evaluate_sliding, score, token_losses};
use perplex_train::{CheckpointKind, RunDir};
use serde::Serialize;

use super::{device, ensure_corpus, print_json, shown};
use crate::DataDirArg;

/// Flags of `perplex eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The run directory, e.g. runs/ptb-tiny.
    #[arg(long, value_name = "DIR")]
    pub run: PathBuf,
    /// Which split to evaluate: valid or test.
    #[arg(long, default_value = "valid")]
    pub split: Split,
    /// Which checkpoint: best or last.
    #[arg(long, default_value = "best")]
    pub checkpoint: CheckpointKind,
    /// Backend, as for `train`.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also average the token losses a wrong way, beside the right one (for teaching):
    /// `sequence` (the mean of per-sentence perplexities), `batch` (exp of the mean of
    /// per-batch losses, the last batch ragged), or `all`.
    #[arg(long, value_enum, value_name = "WAY")]
    pub averaging: Option<AveragingArg>,
    /// Also score the split with context carried across windows: windows of ctx tokens that
    /// advance by this many, each scoring only its last STRIDE tokens, so every token after
    /// the first window sees at least ctx − STRIDE tokens of context (costs ~ctx/STRIDE
    /// passes). A separate number from the standard perplexity, shown beside it.
    #[arg(long, value_name = "STRIDE")]
    pub carry_context: Option<usize>,
    #[command(flatten)]
    pub data: DataDirArg,
}

/// The perplexity with context carried across windows (`--carry-context`).
#[derive(Debug, Serialize)]
struct CarriedReport {
    /// Tokens the windows advance by.
    stride: usize,
    /// The least context a scored token had after the first window (tokens: ctx − stride).
    min_context: usize,
    /// Tokens scored: every predictable token of the split, once.
    tokens: u64,
    /// Mean NLL over them (nats/token).
    mean_nll: f64,
    /// `exp(mean_nll)`.
    ppl: f64,
}

/// The values of `--averaging`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AveragingArg {
    /// Per token: the perplexity (shown anyway).
    Token,
    /// The mean of per-sentence perplexities.
    Sequence,
    /// exp of the mean of per-batch losses.
    Batch,
    /// All three.
    All,
}

impl AveragingArg {
    /// The averages to show, the right one first.
    fn ways(self) -> Vec<Averaging> {
        match self {
            AveragingArg::Token => vec![Averaging::Token],
            AveragingArg::Sequence => vec![Averaging::Token, Averaging::Sequence],
            AveragingArg::Batch => vec![Averaging::Token, Averaging::Batch],
            AveragingArg::All => Averaging::ALL.to_vec(),
        }
    }
}

/// One way of averaging and the perplexity it gives.
#[derive(Debug, Serialize)]
struct AverageReport {
    #[serde(skip)]
    way: Averaging,
    averaging: &'static str,
    ppl: f64,
    right: bool,
    /// Relative difference from the per-token perplexity, percent.
    vs_token_pct: f64,
}

/// What `perplex eval` reports.
#[derive(Debug, Serialize)]
struct EvalReport {
    run: String,
    checkpoint: String,
    step: u64,
    split: Split,
    tokens: u64,
    nll_sum: f64,
    mean_nll: f64,
    ppl: f64,
    bits_per_token: f64,
    /// Next-token accuracy: share of targets ranked first, and in the first five.
    top1: f64,
    top5: f64,
    logged_val_loss: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    averages: Vec<AverageReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    carried_context: Option<CarriedReport>,
}

/// Runs `perplex eval`.
pub fn run(args: EvalArgs) -> Result<()> {
    let run = RunDir::open(&args.run)?;
    let device = device(&args.device)?;
    perplex_model::denormals::flush_denormals(run.config.train().flush_denormals);
    let (model, meta) = run.checkpoint(args.checkpoint, &device)?;
    let data_dir = args.data.resolve();
    ensure_corpus(&data_dir)?;
    run.check_corpus(&data_dir)?;
    let lines = data_dir.read_split(args.split)?;
    let ids = run.tokenizer.encode_lines(&lines)?.ids;
    let batch = run.config.train().eval_batch();
    let scores = score(&model, &ids, batch);
    let sum = scores.nll;
    let averages = match args.averaging {
        Some(arg) => {
            let losses = token_losses(&model, &ids, batch, run.tokenizer.eos_id());
            averages(&losses, &arg.ways())
        }
        None => Vec::new(),
    };
    let carried_context = args
        .carry_context
        .map(|stride| carried(&model, &ids, stride, batch))
        .transpose()?;
    let path = run.dir.checkpoint(args.checkpoint);
    let report = EvalReport {
        run: shown(run.dir.root()),
        checkpoint: shown(&path),
        step: meta.step,
        split: args.split,
        tokens: sum.tokens,
        nll_sum: sum.nats,
        mean_nll: sum.mean(),
        ppl: sum.perplexity(),
        bits_per_token: sum.bits_per_token(),
        top1: scores.accuracy.top1_rate(),
        top5: scores.accuracy.top5_rate(),
        logged_val_loss: meta.val_loss,
        averages,
        carried_context,
    };
    if args.json {
        print_json(&report);
        return Ok(());
    }
    println!(
        "{} split, checkpoint {} (step {}):",
        report.split,
        shown(&path),
        report.step
    );
    println!("  tokens predicted  {}", report.tokens);
    println!("  mean NLL          {:.6} nats/token", report.mean_nll);
    println!("  perplexity        {:.4}", report.ppl);
    println!(
        "  next-token accuracy  top-1 {:.2}%, top-5 {:.2}%",
        100.0 * report.top1,
        100.0 * report.top5
    );
    if let (Split::Valid, Some(logged)) = (args.split, meta.val_loss) {
        let verdict = if logged == report.mean_nll {
            "identical"
        } else {
            "DIFFERENT"
        };
        println!(
            "  logged in training {:.6} nats/token, ppl {:.4} ({verdict})",
            logged,
            logged.exp()
        );
    }
    if let Some(c) = &report.carried_context {
        println!(
            "  with context carried across windows (stride {}, every token after the first \
             window sees at least {} tokens): mean NLL {:.6} nats/token, perplexity {:.4} — a \
             separate number from the standard one above",
            c.stride, c.min_context, c.mean_nll, c.ppl
        );
    }
    print_averages(&report.averages);
    Ok(())
}

/// The pass of `--carry-context STRIDE`, refused unless `STRIDE` is in `1..=ctx`.
fn carried(model: &Gpt, ids: &[u32], stride: usize, batch: usize) -> Result<CarriedReport> {
    if stride == 0 || stride > model.ctx {
        bail!(
            "--carry-context {stride}: the stride must be between 1 and the model's context \
             length, {} (try {})",
            model.ctx,
            (model.ctx / 4).max(1)
        );
    }
    let sum = evaluate_sliding(model, ids, stride, batch);
    Ok(CarriedReport {
        stride,
        min_context: model.ctx - stride,
        tokens: sum.tokens,
        mean_nll: sum.mean(),
        ppl: sum.perplexity(),
    })
}

/// The perplexity under each of `ways`, with its difference from the per-token one.
fn averages(losses: &TokenLosses, ways: &[Averaging]) -> Vec<AverageReport> {
    let right = losses.perplexity(Averaging::Token);
    ways.iter()
        .map(|&way| {
            let ppl = losses.perplexity(way);
            AverageReport {
                way,
                averaging: way.name(),
                ppl,
                right: way.is_right(),
                vs_token_pct: 100.0 * (ppl - right) / right,
            }
        })
        .collect()
}

fn print_averages(averages: &[AverageReport]) {
    if averages.is_empty() {
        return;
    }
    println!("  the same losses averaged three ways:");
    for a in averages {
        let (what, why) = match a.way {
            Averaging::Token => (
                "per token",
                "RIGHT: exp of the mean NLL per token".to_string(),
            ),
            Averaging::Sequence => (
                "mean of sentence ppls",
                format!(
                    "{:+.2}% WRONG: a short sentence weighs as much as a long one, and exp \
                     comes before the mean",
                    a.vs_token_pct
                ),
            ),
            Averaging::Batch => (
                "mean of batch losses",
                format!(
                    "{:+.2}% WRONG: the ragged last batch weighs as much as a full one",
                    a.vs_token_pct
                ),
            ),
        };
        println!("    {what:<22} ppl {:>10.4}  {why}", a.ppl);
    }
}
