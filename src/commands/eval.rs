//! `perplex eval`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use perplex_data::Split;
use perplex_train::evaluate::evaluate;
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
    #[command(flatten)]
    pub data: DataDirArg,
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
    logged_val_loss: Option<f64>,
}

/// Runs `perplex eval`.
pub fn run(args: EvalArgs) -> Result<()> {
    let run = RunDir::open(&args.run)?;
    let device = device(&args.device)?;
    let (model, meta) = run.checkpoint(args.checkpoint, &device)?;
    let data_dir = args.data.resolve();
    ensure_corpus(&data_dir)?;
    run.check_corpus(&data_dir)?;
    let lines = data_dir.read_split(args.split)?;
    let ids = run.tokenizer.encode_lines(&lines)?.ids;
    let sum = evaluate(&model, &ids, run.config.train().eval_batch());
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
        logged_val_loss: meta.val_loss,
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
    Ok(())
}
