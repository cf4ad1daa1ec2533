//! `perplex watch`: the monitor's detectors over any metrics log.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use perplex_monitor::baselines::uniform_loss;
use perplex_monitor::watch::{Columns, Row, Said, csv_rows, feed, json_rows};
use perplex_monitor::{Baselines, DetectorConfig, EarlyStoppingConfig, Monitor};

/// Flags of `perplex watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The log: JSON lines (one object per line, e.g. perplex's metrics.jsonl) or CSV with a
    /// header row (by extension: .csv is CSV, anything else JSON lines).
    pub file: PathBuf,
    /// Keep reading as the file grows (Ctrl-C to stop); JSON lines only.
    #[arg(long)]
    pub follow: bool,
    /// The column or key holding the optimizer step.
    #[arg(long, default_value = "step")]
    pub step_col: String,
    /// The column or key holding the training loss (nats per token).
    #[arg(long, default_value = "train_loss")]
    pub train_col: String,
    /// The column or key holding the validation loss (nats per token).
    #[arg(long, default_value = "val_loss")]
    pub val_col: String,
    /// The vocabulary size, for the uniform-guess baseline ln V (a perplex run's own
    /// metrics.jsonl carries its baselines).
    #[arg(long, value_name = "N")]
    pub vocab_size: Option<usize>,
}

/// Runs `perplex watch`.
pub fn run(args: WatchArgs) -> Result<()> {
    let cols = Columns {
        step: args.step_col.clone(),
        train: args.train_col.clone(),
        val: args.val_col.clone(),
    };
    anyhow::ensure!(
        args.vocab_size.is_none_or(|v| v >= 2),
        "--vocab-size must be at least 2 (the number of token types)"
    );
    let baselines = Baselines {
        uniform: args.vocab_size.map(uniform_loss),
        ..Baselines::default()
    };
    let mut monitor = Monitor::new(
        DetectorConfig::default(),
        EarlyStoppingConfig::default(),
        baselines,
    );
    let shown = args.file.display().to_string();
    let is_csv = args.file.extension().is_some_and(|e| e == "csv");
    if is_csv {
        anyhow::ensure!(!args.follow, "--follow reads JSON lines only");
        let text = std::fs::read_to_string(&args.file).with_context(|| shown.clone())?;
        let rows = csv_rows(&text, &cols).with_context(|| shown.clone())?;
        rows.into_iter().for_each(|row| report(&mut monitor, row));
    } else {
        let file = std::fs::File::open(&args.file).with_context(|| shown.clone())?;
        let mut reader = BufReader::new(file);
        let mut number = 0;
        let mut line = String::new();
        loop {
            line.clear();
            let read = reader.read_line(&mut line).with_context(|| shown.clone())?;
            if read == 0 || !line.ends_with('\n') {
                if !args.follow {
                    break;
                }
                // Wait for the writer to finish the line, then read it again whole.
                let back = -(read as i64);
                reader.seek_relative(back).with_context(|| shown.clone())?;
                std::thread::sleep(Duration::from_millis(500));
                continue;
            }
            number += 1;
            if line.trim().is_empty() {
                continue;
            }
            let rows = json_rows(line.trim(), number, &cols).with_context(|| shown.clone())?;
            rows.into_iter().for_each(|row| report(&mut monitor, row));
        }
    }
    match monitor.run_health() {
        Some(health) => println!("run health {health:.0}/100"),
        None => println!("no validation losses found (looked for `{}`)", args.val_col),
    }
    Ok(())
}

/// Feeds a row and prints what the monitor said.
fn report(monitor: &mut Monitor, row: Row) {
    match feed(monitor, row) {
        Some(Said::Step(signal)) => println!("step {}: {signal}", signal.step),
        Some(Said::Eval { step, judgement }) => {
            let v = &judgement.verdict;
            println!(
                "step {step}: {} (health {:.0}): {}",
                v.state.kind, judgement.health, v.state.evidence
            );
            for alarm in &v.alarms {
                println!("step {step}: {alarm}");
            }
        }
        None => {}
    }
}
