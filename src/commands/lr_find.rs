//! `perplex lr-find`: the learning-rate range test for a run config, with the suggested rate,
//! the command that trains at it, and the curve as a PNG. Writes no run directory.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use perplex_monitor::lr_range::{NoSuggestion, RangePoint, RangeTest, Suggestion, Sweep};
use perplex_train::{RunConfig, TrainData};
use serde_json::json;

use super::train::interrupt_control;
use super::{device, ensure_corpus, print_json, shown};
use crate::DataDirArg;

/// Flags of `perplex lr-find`.
#[derive(Debug, Args)]
pub struct LrFindArgs {
    /// The run's TOML config: its model, batch, AdamW and clipping are what is tested.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Override a config value, e.g. --set train.batch_size=32 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// The first learning rate of the sweep.
    #[arg(long, default_value_t = Sweep::default().start_lr)]
    pub start_lr: f64,
    /// The last learning rate of the sweep (it stops earlier when the loss explodes).
    #[arg(long, default_value_t = Sweep::default().end_lr)]
    pub end_lr: f64,
    /// Optimizer steps in the sweep, one learning rate each, log-spaced.
    #[arg(long, default_value_t = Sweep::default().steps)]
    pub steps: usize,
    /// Where to draw the curve (PNG).
    #[arg(long, default_value = "lr-find.png", value_name = "FILE")]
    pub plot: PathBuf,
    /// Print one JSON object (`suggested_lr`, the rule, the curve) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Backend, as for `train`.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    #[command(flatten)]
    pub data: DataDirArg,
}

/// Runs `perplex lr-find`.
pub fn run(args: LrFindArgs) -> Result<()> {
    let sweep = Sweep {
        start_lr: args.start_lr,
        end_lr: args.end_lr,
        steps: args.steps,
    };
    sweep.validate().map_err(anyhow::Error::msg)?;
    let config = RunConfig::load(&args.config, &args.overrides)?;
    let device = device(&args.device)?;
    let control = interrupt_control()?;
    let data_dir = args.data.resolve();
    ensure_corpus(&data_dir)?;
    let data = TrainData::prepare(&data_dir, config.data())?;
    let started = Instant::now();
    let mut progress = Progress::new(args.json, args.steps);
    let test = perplex_train::lr_find::lr_find(&config, &data, &device, sweep, &control, |p| {
        progress.show(p)
    })?;
    progress.finish();
    let seconds = started.elapsed().as_secs_f64();
    let suggestion = test.suggest();
    crate::plot::lr_find::draw(&test, suggestion.as_ref().ok(), &args.plot)
        .with_context(|| format!("drawing {}", shown(&args.plot)))?;
    let min_ratio = config.train().min_lr / config.train().lr;
    if args.json {
        print_json(&report(&test, &suggestion, seconds, &args, min_ratio));
    } else {
        print_text(&test, &suggestion, seconds, &args, min_ratio);
    }
    suggestion.map(|_| ()).map_err(anyhow::Error::from)
}

/// How the sweep's progress is shown on stderr.
enum Progress {
    /// Nothing (`--json`).
    Quiet,
    /// One line rewritten in place.
    Terminal,
    /// Into a log file: a plain line at the first point and every `every` points (a tenth of
    /// the sweep), so the log does not fill with hundreds of carriage returns on one line.
    Log { every: usize, shown: usize },
}

impl Progress {
    fn new(json: bool, steps: usize) -> Self {
        if json {
            Self::Quiet
        } else if std::io::stderr().is_terminal() {
            Self::Terminal
        } else {
            let every = steps.div_ceil(10).max(1);
            Self::Log { every, shown: 0 }
        }
    }

    fn show(&mut self, p: &RangePoint) {
        let line = || {
            format!(
                "lr {:.2e}: loss {:.4}, smoothed {:.4}",
                p.lr, p.loss, p.smoothed
            )
        };
        match self {
            Self::Quiet => {}
            Self::Terminal => eprint!("\r{}   ", line()),
            Self::Log { every, shown } => {
                *shown += 1;
                if *shown == 1 || shown.is_multiple_of(*every) {
                    eprintln!("step {shown}: {}", line());
                }
            }
        }
    }

    fn finish(&self) {
        if let Self::Terminal = self {
            eprintln!();
        }
    }
}

/// How the sweep ended, in words, with the last rate it ran.
fn ended(test: &RangeTest) -> String {
    let last = test.points.last().map_or(f64::NAN, |p| p.lr);
    match test.end {
        Some(end) => format!("{end} (lr {last:.2e})"),
        None => format!("interrupted at lr {last:.2e}"),
    }
}

fn print_text(
    test: &RangeTest,
    suggestion: &Result<Suggestion, NoSuggestion>,
    seconds: f64,
    args: &LrFindArgs,
    min_ratio: f64,
) {
    println!(
        "lr-find: {} steps from lr {:.2e} in {seconds:.1}s; {}",
        test.points.len(),
        test.sweep.start_lr,
        ended(test)
    );
    match suggestion {
        Ok(s) => {
            println!(
                "suggested lr {:.2e} ({}); the lowest smoothed loss was at lr {:.2e}",
                s.lr, s.rule, s.min_loss_lr
            );
            println!(
                "train at it: perplex train --config {} --set train.lr={:.2e} --set \
                 train.min_lr={:.2e}",
                shown(&args.config),
                s.lr,
                s.lr * min_ratio
            );
        }
        Err(why) => println!("no suggestion: {why}"),
    }
    println!("curve: {}", shown(&args.plot));
}

fn report(
    test: &RangeTest,
    suggestion: &Result<Suggestion, NoSuggestion>,
    seconds: f64,
    args: &LrFindArgs,
    min_ratio: f64,
) -> serde_json::Value {
    let s = suggestion.as_ref().ok();
    json!({
        "suggested_lr": s.map(|s| s.lr),
        "suggested_min_lr": s.map(|s| s.lr * min_ratio),
        "rule": s.map(|s| s.rule),
        "min_loss_lr": s.map(|s| s.min_loss_lr),
        "why_none": suggestion.as_ref().err().map(|e| e.to_string()),
        "end": test.end,
        "steps": test.points.len(),
        "seconds": seconds,
        "sweep": test.sweep,
        "config": shown(&args.config),
        "plot": shown(&args.plot),
        "points": test.points,
    })
}
