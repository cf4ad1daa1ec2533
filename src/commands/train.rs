//! `perplex train`.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use anyhow::{Context, Result};
use clap::Args;
use perplex_monitor::nll::format_ppl;
use perplex_train::{Control, NewRun, RunConfig, RunDir};

use super::{device, ensure_corpus, finished, shown};
use crate::DataDirArg;

/// Flags of `perplex train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The run's TOML config, e.g. configs/ptb-small.toml.
    #[arg(long, value_name = "FILE", required_unless_present = "resume")]
    pub config: Option<PathBuf>,
    /// Override a config value, e.g. --set train.lr=3e-4 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", conflicts_with = "resume")]
    pub overrides: Vec<String>,
    /// Continue the run in this directory from its last saved state, as if it had never
    /// stopped (its config and tokenizer are the run's own).
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["config", "run_name", "overwrite"])]
    pub resume: Option<PathBuf>,
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
    let device = device(&args.device)?;
    let control = interrupt_control()?;
    let data_dir = args.data.resolve();
    let summary = match (&args.resume, &args.config) {
        (Some(dir), _) => {
            let run = RunDir::open(dir)?;
            ensure_corpus(&data_dir)?;
            let data = run.data(&data_dir)?;
            finished(perplex_train::resume(&run, &data, &device, &control)?, dir)?
        }
        (None, Some(config_path)) => {
            let config = RunConfig::load(config_path, &args.overrides)?;
            let name = run_name(&args, config_path);
            let run = NewRun::claim(&args.runs_dir, &name, args.overwrite)?;
            ensure_corpus(&data_dir)?;
            let data = run.data(&data_dir, &config)?;
            let dir = run.root().root().to_owned();
            tracing::info!("run directory: {}", shown(&dir));
            finished(
                perplex_train::train(&config, &data, run, &device, &control)?,
                &dir,
            )?
        }
        (None, None) => anyhow::bail!("give --config FILE, or --resume RUN_DIR"),
    };
    match (
        summary.best_step,
        summary.best_val_loss,
        summary.best_val_ppl,
    ) {
        (Some(step), Some(loss), Some(ppl)) => eprintln!(
            "done: {} steps in {:.0}s ({:.0} tokens/s training); best val loss {loss:.4} \
             nats/token, ppl {} at step {step}",
            summary.steps,
            summary.wall_s,
            summary.train_tokens_per_s,
            format_ppl(ppl, 2),
        ),
        _ => eprintln!(
            "done: {} steps, no validation pass completed",
            summary.steps
        ),
    }
    Ok(())
}

/// The run's name: `--run-name`, else the config file's name without its extension.
fn run_name(args: &TrainArgs, config_path: &Path) -> String {
    match &args.run_name {
        Some(name) => name.clone(),
        None => config_path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "run".into()),
    }
}

/// A stop flag set by the first SIGINT or SIGTERM (the loop then finishes its step, saves
/// and exits with status 130); a second signal exits at once.
pub fn interrupt_control() -> Result<Control> {
    let control = Control::default();
    let stop = control.stop.clone();
    ctrlc::set_handler(move || {
        if stop.swap(true, Ordering::SeqCst) {
            eprintln!("\nsecond interrupt: exiting now without saving");
            std::process::exit(crate::EXIT_INTERRUPTED);
        }
        eprintln!("\ninterrupt: finishing this step and saving (interrupt again to quit now)");
    })
    .context("cannot install the Ctrl-C handler")?;
    Ok(control)
}
