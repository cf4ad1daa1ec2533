//! `perplex eval`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use perplex_data::{CorpusTokenizer, DataDir, Split};
use perplex_train::checkpoint;
use perplex_train::corpus_tokenizer;
use perplex_train::evaluate::evaluate;
use perplex_train::{CheckpointKind, RunDir};
use serde::Serialize;

use super::{device, ensure_corpus, print_json, read_run_config, shown};
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
    let run = RunDir::new(&args.run);
    let config = read_run_config(&run)?;
    let tokenizer = CorpusTokenizer::load(&run.tokenizer())?;
    let path = run.checkpoint(args.checkpoint);
    let device = device(&args.device)?;
    let (model, meta) = checkpoint::load(&path, &device)?;
    let fingerprint = tokenizer.fingerprint()?;
    if meta.tokenizer_sha256 != fingerprint {
        anyhow::bail!(
            "{}: the checkpoint was trained with tokenizer {} but {} is {}; the ids would \
             mean other words",
            shown(&path),
            meta.tokenizer_sha256,
            shown(&run.tokenizer()),
            fingerprint
        );
    }
    let data_dir = args.data.resolve();
    ensure_corpus(&data_dir)?;
    refuse_other_tokenizer(&data_dir, &config, &fingerprint, &run)?;
    let lines = data_dir.read_split(args.split)?;
    let encoded = tokenizer.encode_lines(&lines)?;
    let sum = evaluate(&model, &encoded.ids, config.train.eval_batch());
    let report = EvalReport {
        run: shown(run.root()),
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

/// Refuses a corpus whose tokenizer (the one the run's config makes from it) is not the run's:
/// its ids would mean other words, and the perplexity would not be comparable with the run's.
fn refuse_other_tokenizer(
    data_dir: &DataDir,
    config: &perplex_train::RunConfig,
    run_fingerprint: &str,
    run: &RunDir,
) -> Result<()> {
    let train = data_dir.read_split(Split::Train)?;
    let data_fingerprint = corpus_tokenizer(data_dir, &config.data, &train)?.fingerprint()?;
    if data_fingerprint != run_fingerprint {
        anyhow::bail!(
            "{}: this corpus's tokenizer (sha256 {}) is not the run's ({}, {}); perplexity is \
             only comparable under one tokenizer. Point --data-dir (or PERPLEX_DATA_DIR) at \
             the corpus the run was trained on",
            shown(data_dir.root()),
            &data_fingerprint[..12],
            &run_fingerprint[..12.min(run_fingerprint.len())],
            shown(&run.tokenizer())
        );
    }
    Ok(())
}
