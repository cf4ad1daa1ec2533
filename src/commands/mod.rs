//! One module per subcommand: each parses its flags, calls the crates, and prints.

pub mod bench;
pub mod data;
pub mod demo;
pub mod eval;
pub mod export;
pub mod generate;
pub mod lr_find;
pub mod report;
pub mod tokenizer;
pub mod torch_peer;
pub mod train;
pub mod watch;

use std::path::Path;

use anyhow::Result;
use perplex_data::DataDir;
use perplex_data::fetch::{FetchOutcome, fetch_ptb, ptb_base_url};
use perplex_train::{RunSummary, StopReason};

/// A command that stopped before its work was done, for a [`StopReason`] the binary maps to
/// its exit status: 130 for Ctrl-C (after saving), 3 for a non-finite training loss.
#[derive(Debug)]
pub struct Stopped {
    /// Why.
    pub reason: StopReason,
    /// What to tell the user: what happened and what to do.
    pub message: String,
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Stopped {}

/// A training run that did not finish (interrupted, or a non-finite step) as the error that
/// sets the binary's exit status; a finished run as itself.
pub fn finished(summary: RunSummary, dir: &Path) -> Result<RunSummary> {
    let step = summary.steps;
    let message = match summary.stop_reason {
        StopReason::Interrupted => format!(
            "interrupted after step {step}; the state is saved, continue with \
             `perplex train --resume {}`",
            dir.display()
        ),
        StopReason::NonFinite => format!(
            "training stopped at step {step}: the loss or gradient norm is not finite ({}); \
             the best checkpoint is untouched. Try a lower train.lr or train.grad_clip = 1.0",
            summary
                .stop
                .as_ref()
                .map_or("NaN or inf", |d| d.evidence.as_str())
        ),
        _ => return Ok(summary),
    };
    Err(Stopped {
        reason: summary.stop_reason,
        message,
    }
    .into())
}

/// Makes sure the corpus is on disk, downloading PTB into `dir` (and saying so) when a split
/// file is missing.
pub fn ensure_corpus(dir: &DataDir) -> Result<()> {
    if dir.is_complete() {
        return Ok(());
    }
    tracing::info!(
        "PTB not found in {}; downloading it there (use --data-dir or PERPLEX_DATA_DIR to \
         point at an existing copy)",
        dir.root().display()
    );
    report_fetch(&fetch_ptb(&ptb_base_url(), dir.root())?);
    Ok(())
}

/// Logs what a fetch did to each file.
pub fn report_fetch(outcomes: &[FetchOutcome]) {
    for outcome in outcomes {
        match outcome {
            FetchOutcome::AlreadyPresent(path) => {
                tracing::info!("{}: present, checksum ok", path.display())
            }
            FetchOutcome::Downloaded { path, bytes } => {
                tracing::info!("{}: downloaded {bytes} bytes, checksum ok", path.display())
            }
        }
    }
}

/// The device of a `--device` flag.
pub fn device(spec: &str) -> Result<burn::tensor::Device> {
    Ok(perplex_train::open_device(spec)?)
}

/// Writes `value` as one line of JSON to stdout.
pub fn print_json(value: &impl serde::Serialize) {
    println!(
        "{}",
        serde_json::to_string(value).expect("reports always serialise")
    );
}

/// A path as text, for messages.
pub fn shown(path: &Path) -> String {
    path.display().to_string()
}
