//! `perplex train`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use std::sync::atomic::Ordering;

use perplex_train::hygiene::{check_data, save_data_check};
use perplex_train::{Control, RunConfig, RunDir, TrainData};

use super::{device, ensure_corpus, shown};
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
            let run = RunDir::new(dir);
            if !run.state().is_file() {
                anyhow::bail!(
                    "{}: no saved state to resume from (is this a perplex run directory?)",
                    shown(&run.state())
                );
            }
            let config = super::read_run_config(&run)?;
            ensure_corpus(&data_dir)?;
            let data = TrainData::prepare(&data_dir, &config.data)?;
            perplex_train::resume(&data, &run, &device, &control)?
        }
        (None, Some(config_path)) => {
            let config = RunConfig::load(config_path, &args.overrides)?;
            config
                .validate()
                .with_context(|| format!("{}: invalid config", shown(config_path)))?;
            let run = new_run_dir(&args, config_path)?;
            ensure_corpus(&data_dir)?;
            // Read once: the run uses train and valid, the data check all three splits.
            let corpus = data_dir.read_all()?;
            let data =
                TrainData::from_lines(&data_dir, &config.data, &corpus.train, &corpus.valid)?;
            let check = check_data(&data_dir, &corpus, &data.tokenizer, &config.data)?;
            std::fs::create_dir_all(run.root()).with_context(|| {
                format!("{}: cannot create the run directory", shown(run.root()))
            })?;
            save_data_check(&run, &check)?;
            tracing::info!("run directory: {}", shown(run.root()));
            perplex_train::train(&config, &data, &run, &device, &control)?
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
             nats/token, ppl {ppl:.2} at step {step}",
            summary.steps, summary.wall_s, summary.train_tokens_per_s,
        ),
        _ => eprintln!(
            "done: {} steps, no validation pass completed",
            summary.steps
        ),
    }
    Ok(())
}

/// The run directory a new run will write, refusing an existing one unless `--overwrite`.
fn new_run_dir(args: &TrainArgs, config_path: &std::path::Path) -> Result<RunDir> {
    let name = match &args.run_name {
        Some(name) => name.clone(),
        None => config_path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "run".into()),
    };
    let run = RunDir::new(args.runs_dir.join(&name));
    if run.root().exists() {
        if !args.overwrite {
            anyhow::bail!(
                "{}: the run directory already exists; continue it with --resume {}, choose \
                 another --run-name, or pass --overwrite to replace it",
                shown(run.root()),
                shown(run.root())
            );
        }
        std::fs::remove_dir_all(run.root())
            .with_context(|| format!("{}: cannot remove", shown(run.root())))?;
    }
    Ok(run)
}

/// A stop flag set by the first SIGINT or SIGTERM (the loop then finishes its step, saves
/// and exits with status 130); a second signal exits at once.
fn interrupt_control() -> Result<Control> {
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
