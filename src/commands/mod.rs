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

/// A command stopped by Ctrl-C after doing (and printing) part of its work; the binary exits
/// with status 130 for it.
#[derive(Debug)]
pub struct Interrupted(pub String);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Interrupted {}

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
