//! `perplex bench`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use perplex_train::bench::bench;
use perplex_train::{RunConfig, TrainData};

use super::{device, ensure_corpus, print_json, shown};
use crate::DataDirArg;

/// Flags of `perplex bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The run config whose shape to time, e.g. configs/ptb-small.toml.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Override a config value (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Timed training steps.
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
    /// Untimed warm-up steps before them.
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Also time one full validation pass.
    #[arg(long)]
    pub eval: bool,
    /// Backend, as for `train`.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub data: DataDirArg,
}

/// Runs `perplex bench`.
pub fn run(args: BenchArgs) -> Result<()> {
    let config = RunConfig::load(&args.config, &args.overrides)?;
    if args.steps == 0 {
        anyhow::bail!("--steps must be at least 1");
    }
    let device = device(&args.device)?;
    let dir = args.data.resolve();
    ensure_corpus(&dir)?;
    let data = TrainData::prepare(&dir, config.data())?;
    let r = bench(&config, &data, &device, args.steps, args.warmup, args.eval)?;
    if args.json {
        print_json(&r);
        return Ok(());
    }
    println!(
        "{} on {}: {} params, {} tokens/step",
        shown(&args.config),
        args.device,
        r.params,
        r.tokens_per_step
    );
    println!(
        "  {} steps after {} warm-up: median {:.4} s/step (min {:.4}, max {:.4})",
        r.steps, r.warmup, r.median_s_per_step, r.min_s_per_step, r.max_s_per_step
    );
    println!(
        "  {:.0} tokens/s at the median step ({:.0} over all steps)",
        r.median_tokens_per_s, r.mean_tokens_per_s
    );
    println!(
        "  {:.3e} FLOPs/token → {:.1} GFLOP/s",
        r.flops_per_token, r.gflops
    );
    if let (Some(s), Some(t)) = (r.eval_s, r.eval_tokens) {
        println!(
            "  validation pass: {t} tokens in {s:.2} s ({:.0} tokens/s)",
            t as f64 / s
        );
    }
    if let Some(rss) = r.peak_rss_mib {
        println!("  peak RSS {rss:.0} MiB");
    }
    Ok(())
}
