//! `perplex watch`: the monitor's detectors over any trainer's log.
//!
//! Line-based logs (JSON lines, CSV, nanoGPT text) are read line by line; TensorBoard event
//! directories frame by frame. With `--follow` both keep polling for more until Ctrl-C, which
//! ends the watch with its summary.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use perplex_monitor::baselines::uniform_loss;
use perplex_monitor::watch::tensorboard::{
    EventDir, Scalar, Tags, choose_tags, is_event_dir, rows,
};
use perplex_monitor::watch::{Columns, Format, LineReader, Parsed, Row, Said, Unit, feed};
use perplex_monitor::{Baselines, DetectorConfig, EarlyStoppingConfig, Monitor};

/// How often `--follow` looks for more.
const POLL: Duration = Duration::from_millis(500);

/// Flags of `perplex watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The log: a JSON-lines file (perplex's metrics.jsonl, most loggers), a CSV file with a
    /// header row, a nanoGPT text log, or a directory of TensorBoard event files (a perplex
    /// run directory, PyTorch's SummaryWriter, Lightning, Keras).
    pub log: PathBuf,
    /// The log's format; `auto` takes a directory as TensorBoard, `.csv` as CSV, and
    /// otherwise JSON lines when the first line is an object, nanoGPT text when not.
    #[arg(long, value_enum, default_value_t = FormatArg::Auto)]
    pub format: FormatArg,
    /// Keep reading as the log grows; Ctrl-C ends the watch with its summary.
    #[arg(long)]
    pub follow: bool,
    /// The column or key holding the optimizer step (CSV, JSON lines).
    #[arg(long, default_value = "step")]
    pub step_col: String,
    /// The column or key holding the training loss (CSV, JSON lines).
    #[arg(long, default_value = "train_loss")]
    pub train_col: String,
    /// The column or key holding the validation loss (CSV, JSON lines).
    #[arg(long, default_value = "val_loss")]
    pub val_col: String,
    /// The scalar tag holding the training loss (TensorBoard; by default the first of
    /// train/loss, train_loss, loss/train, Loss/train, train/epoch_loss, training_loss, loss).
    #[arg(long, value_name = "TAG")]
    pub train_tag: Option<String>,
    /// The scalar tag holding the validation loss (TensorBoard; by default the first of
    /// val/loss, val_loss, loss/val, Loss/val, validation/epoch_loss, valid/loss,
    /// validation_loss).
    #[arg(long, value_name = "TAG")]
    pub val_tag: Option<String>,
    /// The unit of the log's losses: nats per token (PyTorch's cross-entropy), bits per
    /// token, or perplexity (ppl); all are judged in nats.
    #[arg(long, default_value_t = Unit::Nats)]
    pub unit: Unit,
    /// The vocabulary size, for the uniform-guess baseline ln V nats (a perplex run's own log
    /// carries its baselines).
    #[arg(long, value_name = "N")]
    pub vocab_size: Option<usize>,
    /// The run's last step: each evaluation then forecasts the validation loss there (a
    /// power law fitted to the curve so far).
    #[arg(long, value_name = "STEPS")]
    pub max_steps: Option<u64>,
}

/// The formats `--format` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Decide from the path and the first line.
    Auto,
    /// One JSON object per line.
    Jsonl,
    /// CSV with a header row.
    Csv,
    /// nanoGPT's printed log.
    Text,
    /// A directory of TensorBoard event files.
    Tensorboard,
}

impl FormatArg {
    /// The format asked for, `None` for auto.
    fn format(self) -> Option<Format> {
        match self {
            FormatArg::Auto => None,
            FormatArg::Jsonl => Some(Format::JsonLines),
            FormatArg::Csv => Some(Format::Csv),
            FormatArg::Text => Some(Format::Text),
            FormatArg::Tensorboard => Some(Format::TensorBoard),
        }
    }
}

/// Runs `perplex watch`.
pub fn run(args: WatchArgs) -> Result<()> {
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
    monitor.set_horizon(args.max_steps);
    let stop = Arc::new(AtomicBool::new(false));
    if args.follow {
        let flag = stop.clone();
        ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
            .context("cannot install the Ctrl-C handler")?;
    }
    let mut watch = Watch {
        monitor,
        unit: args.unit,
        skipped: 0,
        stop,
    };
    let format = args.format.format().or_else(|| Format::of_path(&args.log));
    let looked_for = if format == Some(Format::TensorBoard) {
        watch_events(&args, &mut watch)?
    } else {
        watch_lines(&args, format, &mut watch)?;
        format!("`{}`", args.val_col)
    };
    watch.finish(&looked_for);
    Ok(())
}

/// The monitor and what the watch has counted.
struct Watch {
    monitor: Monitor,
    unit: Unit,
    skipped: usize,
    stop: Arc<AtomicBool>,
}

impl Watch {
    /// Feeds a row (converted to nats) and prints what the monitor said.
    fn row(&mut self, row: Row) {
        match feed(&mut self.monitor, row.in_nats(self.unit)) {
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
                println!("step {step}: {}", judgement.forecast);
            }
            None => {}
        }
    }

    /// Counts a skipped line, saying why for the first one only.
    fn skip(&mut self, line: usize, why: &str) {
        if self.skipped == 0 {
            println!(
                "line {line} skipped: {why} (lines without a step or a loss are skipped and counted)"
            );
        }
        self.skipped += 1;
    }

    /// Waits before polling again; false once Ctrl-C asked to stop.
    fn wait(&self) -> bool {
        std::thread::sleep(POLL);
        !self.stop.load(Ordering::SeqCst)
    }

    /// Prints the summary.
    fn finish(self, looked_for: &str) {
        if self.skipped > 0 {
            println!("{} lines skipped", self.skipped);
        }
        match self.monitor.run_health() {
            Some(health) => println!("run health {health:.0}/100"),
            None => println!("no validation losses found (looked for {looked_for})"),
        }
    }
}

/// Reads a line-based log, deciding its format from the first non-empty line when not given.
fn watch_lines(args: &WatchArgs, format: Option<Format>, watch: &mut Watch) -> Result<()> {
    let shown = args.log.display().to_string();
    let file = std::fs::File::open(&args.log).with_context(|| shown.clone())?;
    let mut reader = BufReader::new(file);
    let cols = Columns {
        step: args.step_col.clone(),
        train: args.train_col.clone(),
        val: args.val_col.clone(),
    };
    let mut parser = format.and_then(LineReader::new);
    if let Some(format) = format {
        println!(
            "reading {shown} as {}, losses in {}",
            format.name(),
            args.unit
        );
    }
    let (mut number, mut line) = (0, String::new());
    loop {
        line.clear();
        let read = reader.read_line(&mut line).with_context(|| shown.clone())?;
        if args.follow && !line.ends_with('\n') {
            // Wait for the writer to finish the line, then read it again whole.
            reader
                .seek_relative(-(read as i64))
                .with_context(|| shown.clone())?;
            if !watch.wait() {
                return Ok(());
            }
            continue;
        }
        if read == 0 {
            return Ok(());
        }
        number += 1;
        if line.trim().is_empty() {
            continue;
        }
        let parser = parser.get_or_insert_with(|| {
            let format = Format::of_first_line(&line);
            println!(
                "reading {shown} as {}, losses in {}",
                format.name(),
                args.unit
            );
            LineReader::new(format).expect("a line-based format")
        });
        match parser
            .parse(&line, number, &cols)
            .with_context(|| shown.clone())?
        {
            Parsed::Rows(rows) => rows.into_iter().for_each(|row| watch.row(row)),
            Parsed::Skipped(why) => watch.skip(number, &why),
        }
    }
}

/// Reads a TensorBoard event directory; returns the validation tag looked for.
fn watch_events(args: &WatchArgs, watch: &mut Watch) -> Result<String> {
    let shown = args.log.display().to_string();
    anyhow::ensure!(
        args.follow || is_event_dir(&args.log),
        "{shown} holds no TensorBoard event files (events.out.tfevents.*)"
    );
    println!(
        "reading {shown} as TensorBoard events, losses in {}",
        args.unit
    );
    let mut events = EventDir::new(&args.log);
    let (mut seen, mut pending, mut tags) = (BTreeSet::new(), Vec::<Scalar>::new(), None);
    loop {
        let new = events.read_new().map_err(|e| anyhow::anyhow!(e.reason))?;
        seen.extend(new.iter().map(|s| s.tag.clone()));
        pending.extend(new);
        let seen_list: Vec<String> = seen.iter().cloned().collect();
        match choose_tags(
            &seen_list,
            args.train_tag.as_deref(),
            args.val_tag.as_deref(),
        ) {
            Ok(chosen) => {
                let merged = keep_chosen(tags.take(), chosen);
                tags = Some(merged);
            }
            // A followed log may not have written its losses yet.
            Err(_) if args.follow => {}
            Err(e) => anyhow::bail!("{shown}: {e}"),
        }
        if let Some(tags) = &tags {
            rows(&pending, tags).into_iter().for_each(|r| watch.row(r));
            pending.clear();
        }
        if !args.follow || !watch.wait() {
            let val = tags.and_then(|t| t.val);
            return Ok(val.or(args.val_tag.clone()).map_or_else(
                || "a validation tag".to_string(),
                |tag| format!("the tag `{tag}`"),
            ));
        }
    }
}

/// Keeps the tags already chosen, filling in those found since (and saying so).
fn keep_chosen(old: Option<Tags>, new: Tags) -> Tags {
    let old_tags = old.clone();
    let tags = match old {
        None => new,
        Some(old) => Tags {
            train: old.train.or(new.train),
            val: old.val.or(new.val),
            train_eval: old.train_eval.or(new.train_eval),
        },
    };
    if old_tags.as_ref() != Some(&tags) {
        let name =
            |t: &Option<String>| t.as_deref().map_or("none yet".into(), |t| format!("`{t}`"));
        println!(
            "tags: train loss {}, val loss {}",
            name(&tags.train),
            name(&tags.val)
        );
    }
    tags
}
