//! `perplex train`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use perplex_train::{RunConfig, RunDir, TrainData};

use super::{device, ensure_corpus, shown};
use crate::DataDirArg;

/// Flags of `perplex train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The run's TOML config, e.g. configs/ptb-small.toml.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Override a config value, e.g. --set train.lr=3e-4 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Backend: cpu, wgpu, vulkan, metal or cuda[:N] (GPU ones need their Cargo feature).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Name of the run directory under --runs-dir (default: the config's file name).
    #[arg(long)]
    pub run_name: Option<String>,
    /// Where run directories go.
    #[arg(long, default_value = "runs", value_name = "DIR")]
    pub runs_dir: PathBuf,
    /// Replace an existing run directory of the same name.
    #[arg(long)]
    pub overwrite: bool,
    #[command(flatten)]
    pub data: DataDirArg,
}

/// Runs `perplex train`.
pub fn run(args: TrainArgs) -> Result<()> {
    let config = RunConfig::load(&args.config, &args.overrides)?;
    config
        .validate()
        .with_context(|| format!("{}: invalid config", shown(&args.config)))?;
    let device = device(&args.device)?;
    let name = match &args.run_name {
        Some(name) => name.clone(),
        None => args
            .config
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "run".into()),
    };
    let run = RunDir::new(args.runs_dir.join(&name));
    if run.root().exists() {
        if !args.overwrite {
            anyhow::bail!(
                "{}: the run directory already exists; choose another --run-name, or pass \
                 --overwrite to replace it",
                shown(run.root())
            );
        }
        std::fs::remove_dir_all(run.root())
            .with_context(|| format!("{}: cannot remove", shown(run.root())))?;
    }

    let data_dir = args.data.resolve();
    ensure_corpus(&data_dir)?;
    let data = TrainData::prepare(&data_dir, config.data.max_train_tokens)?;
    std::fs::create_dir_all(run.root())
        .with_context(|| format!("{}: cannot create the run directory", shown(run.root())))?;
    tracing::info!("run directory: {}", shown(run.root()));
    let summary = perplex_train::train(&config, &data, &run, &device)?;
    match (
        summary.best_step,
        summary.best_val_loss,
        summary.best_val_ppl,
    ) {
        (Some(step), Some(loss), Some(ppl)) => eprintln!(
            "done: {} steps in {:.0}s ({:.0} tokens/s training); best val loss {loss:.4} \
             nats/token, ppl {ppl:.2} at step {step}; checkpoints in {}",
            summary.steps,
            summary.wall_s,
            summary.train_tokens_per_s,
            shown(&run.checkpoints())
        ),
        _ => eprintln!(
            "done: {} steps, no validation pass completed",
            summary.steps
        ),
    }
    Ok(())
}
