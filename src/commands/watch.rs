//! `perplex watch`: the monitor's detectors over any metrics log.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use perplex_monitor::DetectorConfig;
use perplex_monitor::watch::{Columns, Row, Verdict, Watcher, csv_rows, json_rows};

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
}

/// Runs `perplex watch`.
pub fn run(args: WatchArgs) -> Result<()> {
    let cols = Columns {
        step: args.step_col.clone(),
        train: args.train_col.clone(),
        val: args.val_col.clone(),
    };
    let mut watcher = Watcher::new(DetectorConfig::default());
    let shown = args.file.display().to_string();
    let is_csv = args.file.extension().is_some_and(|e| e == "csv");
    if is_csv {
        anyhow::ensure!(!args.follow, "--follow reads JSON lines only");
        let text = std::fs::read_to_string(&args.file).with_context(|| shown.clone())?;
        let rows = csv_rows(&text, &cols).with_context(|| shown.clone())?;
        rows.into_iter().for_each(|row| report(&mut watcher, row));
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
            rows.into_iter().for_each(|row| report(&mut watcher, row));
        }
    }
    match watcher.run_health() {
        Some(health) => println!("run health {health:.0}/100"),
        None => println!("no validation losses found (looked for `{}`)", args.val_col),
    }
    Ok(())
}

/// Feeds a row and prints what the detectors said.
fn report(watcher: &mut Watcher, row: Row) {
    let Some(Verdict {
        step,
        signals,
        health,
    }) = watcher.feed(row)
    else {
        return;
    };
    let value = |s: &perplex_monitor::Signal| s.kind.name();
    if let Some(health) = health {
        println!(
            "step {step}: {} (health {health:.0}): {}",
            value(&signals[0]),
            signals[0].evidence
        );
        for s in &signals[1..] {
            println!("step {step}: {}: {}", value(s), s.evidence);
        }
    } else {
        for s in &signals {
            println!("step {step}: {}: {}", value(s), s.evidence);
        }
    }
}
