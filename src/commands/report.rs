//! `perplex report`: the picture and the text summary of one or more runs.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use perplex_monitor::Baselines;
use perplex_monitor::history::{History, same_tokenizer};
use perplex_monitor::sinks::jsonl::read_records;
use perplex_train::{RunDir, RunSummary, StopReason};
use serde::Serialize;

use crate::plot::{RunCurves, draw};

/// Flags of `perplex report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Run directories (written by `perplex train`); several are overlaid in one picture.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// Where to write report.png, report.svg and report.txt: by default the run directory for
    /// one run, `./report` for several.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print the summary as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What the report says of one run.
#[derive(Debug, Serialize)]
pub struct RunReport {
    /// The run directory's name.
    pub name: String,
    /// Optimizer steps recorded.
    pub steps: u64,
    /// Step of the lowest validation loss.
    pub best_step: Option<u64>,
    /// Lowest validation loss, nats per token.
    pub best_val_loss: Option<f64>,
    /// Its perplexity.
    pub best_val_ppl: Option<f64>,
    /// Validation bits per character at the best step.
    pub best_val_bits_per_char: Option<f64>,
    /// Why the run ended (`max_steps`, `overfitting`, …); `null` while it runs (no summary).
    pub stop_reason: Option<StopReason>,
    /// Early stopping's reason and evidence, when it stopped the run.
    pub stop_evidence: Option<String>,
    /// Health 0–100 of the whole run.
    pub health: Option<f64>,
    /// Each signal onset: (step, signal name).
    pub onsets: Vec<(u64, String)>,
    /// The run's tokenizer fingerprint.
    pub tokenizer_sha256: Option<String>,
    /// The levels the run was judged against (uniform, unigram, step-0), nats per token.
    pub baselines: Option<Baselines>,
}

/// The whole report.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Per run.
    pub runs: Vec<RunReport>,
    /// Whether per-token loss and perplexity were overlaid (one tokenizer for all runs).
    pub ppl_comparable: bool,
    /// The picture, PNG.
    pub png: PathBuf,
    /// The picture, SVG.
    pub svg: PathBuf,
}

/// Runs `perplex report`.
pub fn run(args: ReportArgs) -> Result<()> {
    let out = match (&args.out, args.runs.as_slice()) {
        (Some(out), _) => out.clone(),
        (None, [one]) => one.clone(),
        (None, _) => PathBuf::from("report"),
    };
    let (report, text) = write_report(&args.runs, &out)?;
    if args.json {
        super::print_json(&report);
    } else {
        print!("{text}");
    }
    Ok(())
}

/// Draws `runs` into `out` (report.png, report.svg) and writes the summary (report.txt);
/// returns the report and its text.
pub fn write_report(runs: &[PathBuf], out: &Path) -> Result<(Report, String)> {
    let mut loaded = Vec::new();
    for dir in runs {
        loaded.push(load(dir)?);
    }
    let histories: Vec<&History> = loaded.iter().map(|(_, h, _)| h).collect();
    let same = histories.len() == 1 || same_tokenizer(&histories);
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let reports: Vec<RunReport> = loaded
        .iter()
        .map(|(name, h, s)| run_report(name, h, s.as_ref()))
        .collect();
    let curves: Vec<RunCurves> = loaded
        .iter()
        .zip(&reports)
        .map(|((name, history, summary), r)| RunCurves {
            name,
            history,
            stop: summary
                .as_ref()
                .and_then(stop_mark)
                .map(|label| (r.steps, label)),
        })
        .collect();
    let (png, svg) = (out.join("report.png"), out.join("report.svg"));
    let unwritable = || {
        format!(
            "cannot write the report into {} (read-only, or a name taken by a directory?); \
             choose another directory with --out DIR",
            out.display()
        )
    };
    let report = Report {
        runs: reports,
        ppl_comparable: same,
        png,
        svg,
    };
    let text = summary_text(&report);
    std::fs::write(out.join("report.txt"), &text).with_context(unwritable)?;
    draw(&curves, same, &report.png, &report.svg).with_context(unwritable)?;
    Ok((report, text))
}

/// A run's name, curves and summary (absent while it is still running or was killed).
fn load(dir: &Path) -> Result<(String, History, Option<RunSummary>)> {
    let run = RunDir::new(dir);
    let metrics = run.metrics();
    if !metrics.is_file() {
        anyhow::bail!(
            "{}: no metrics.jsonl (is this a run directory written by `perplex train`?)",
            dir.display()
        );
    }
    let history = History::from_records(&read_records(&metrics)?);
    let summary = run.read_summary()?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string());
    Ok((name, history, summary))
}

fn run_report(name: &str, h: &History, summary: Option<&RunSummary>) -> RunReport {
    let stop_reason = summary.map(|s| s.stop_reason);
    let early = summary
        .and_then(|s| s.stop.as_ref())
        .filter(|d| d.reason.is_early_stop());
    RunReport {
        name: name.to_owned(),
        steps: summary.map(|s| s.steps).unwrap_or(h.last_step),
        best_step: h.best.map(|b| b.0),
        best_val_loss: h.best.map(|b| b.1),
        best_val_ppl: h.best.map(|b| b.1.exp()),
        best_val_bits_per_char: h.best.and_then(|(step, _)| {
            h.val_bits_per_char
                .iter()
                .find(|(s, _)| *s == step)
                .map(|p| p.1)
        }),
        stop_reason,
        stop_evidence: early.map(ToString::to_string),
        health: summary.and_then(|s| s.health).or_else(|| h.run_health()),
        onsets: h
            .onsets
            .iter()
            .map(|(s, k)| (*s, k.name().to_owned()))
            .collect(),
        tokenizer_sha256: h.tokenizer_sha256.clone(),
        baselines: h.baselines,
    }
}

/// The label of a run's stop line in the picture: early stopping's cause, or why else it
/// ended before its last step (none when it ran to the end).
fn stop_mark(summary: &RunSummary) -> Option<String> {
    match summary.stop_reason {
        StopReason::MaxSteps => None,
        reason => Some(reason.name().to_owned()),
    }
}

fn summary_text(report: &Report) -> String {
    let mut t = String::new();
    for r in &report.runs {
        let opt = |v: Option<f64>, digits: usize| match v {
            Some(v) => format!("{v:.digits$}"),
            None => "-".into(),
        };
        t.push_str(&format!("{}\n", r.name));
        t.push_str(&format!(
            "  best: step {}, val loss {} nats/token, ppl {}, {} bits/char\n",
            r.best_step.map(|s| s.to_string()).unwrap_or("-".into()),
            opt(r.best_val_loss, 4),
            opt(r.best_val_ppl, 2),
            opt(r.best_val_bits_per_char, 3),
        ));
        t.push_str(&format!(
            "  stopped: {} after {} steps",
            r.stop_reason.map_or("running", StopReason::name),
            r.steps
        ));
        if let Some(e) = &r.stop_evidence {
            t.push_str(&format!(" ({e})"));
        }
        t.push('\n');
        if let (Some(b), Some(best)) = (r.baselines, r.best_val_loss) {
            t.push_str(&format!(
                "  best val against the baselines: {}\n",
                b.compare(best)
            ));
        }
        t.push_str(&format!("  health: {}/100\n", opt(r.health, 0)));
        let onsets: Vec<String> = r.onsets.iter().map(|(s, k)| format!("{k}@{s}")).collect();
        t.push_str(&format!("  signals: {}\n", onsets.join(", ")));
    }
    if !report.ppl_comparable && report.runs.len() > 1 {
        t.push_str(
            "note: the runs' tokenizers differ (or are unrecorded), so only bits per character \
             is overlaid; per-token loss and perplexity are not comparable across them\n",
        );
    }
    t.push_str(&format!(
        "picture: {} and {}\n",
        report.png.display(),
        report.svg.display()
    ));
    t
}
