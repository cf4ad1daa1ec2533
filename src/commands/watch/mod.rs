//! `perplex watch`: the monitor's detectors over any trainer's log.
//!
//! Line-based logs (JSON lines, CSV, printed text) are read line by line, a whole
//! `trainer_state.json` at once, TensorBoard event directories frame by frame. With
//! `--follow` each keeps polling for more until Ctrl-C, which ends the watch with its summary.

mod args;
mod events;
mod lines;
mod report;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use perplex_monitor::baselines::uniform_loss;
use perplex_monitor::watch::{Feeder, Format, detect, vocab};
use perplex_monitor::{Baselines, DetectorConfig, EarlyStoppingConfig, Monitor};

pub use args::WatchArgs;
use report::Watch;

/// The vocabulary size the log or a `config.json` beside it states, said when found.
fn stated_vocabulary(log: &Path) -> Option<usize> {
    let dir = if log.is_dir() {
        Some(log)
    } else {
        log.parent()
    };
    let beside = dir
        .map(|d| d.join("config.json"))
        .and_then(|c| std::fs::read_to_string(c).ok())
        .and_then(|text| vocab::in_config(&text))
        .map(|size| vocab::Found {
            size,
            from: "config.json beside the log".into(),
        });
    let stated = beside.or_else(|| vocab::in_log(&detect::head(log)?))?;
    println!(
        "vocabulary: {} token types, from {} (--vocab-size overrides)",
        stated.size, stated.from
    );
    Some(stated.size)
}

/// Runs `perplex watch`.
pub fn run(args: WatchArgs) -> Result<()> {
    anyhow::ensure!(
        args.vocab_size.is_none_or(|v| v >= 2),
        "--vocab-size must be at least 2 (the number of token types)"
    );
    let vocab = args.vocab_size.or_else(|| stated_vocabulary(&args.log));
    let baselines = Baselines {
        uniform: vocab.map(uniform_loss),
        ..Baselines::default()
    };
    let mut monitor = Monitor::new(
        DetectorConfig::default(),
        EarlyStoppingConfig::default(),
        baselines,
    );
    monitor.set_horizon(args.max_steps);
    monitor.set_foreign(true);
    let stop = Arc::new(AtomicBool::new(false));
    if args.follow {
        let flag = stop.clone();
        ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
            .context("cannot install the Ctrl-C handler")?;
    }
    let mut watch = Watch {
        feeder: Feeder::new(monitor),
        unit: args.unit.unwrap_or_default(),
        skipped: 0,
        unread: Vec::new(),
        stop,
    };
    let asked = args.format.format();
    let seen = if asked == Some(Format::TensorBoard) || args.log.is_dir() {
        events::watch_events(&args, &mut watch)?
    } else {
        lines::watch_file(&args, asked, &mut watch)?
    };
    watch.finish(&seen)
}
