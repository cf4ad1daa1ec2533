//! A demo's training runs: configs compiled in from `configs/demos/`, trained in-process into
//! the demo's directory, and read back as the records a lesson quotes.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use perplex_data::DataDir;
use perplex_model::Gpt;
use perplex_monitor::records::{BaselineRecord, EvalRecord};
use perplex_monitor::sinks::jsonl::read_records;
use perplex_monitor::{MetricRecord, SignalKind};
use perplex_train::{CheckpointKind, NewRun, RunConfig, RunDir, RunSummary, TrainData};

use super::Demo;

/// A config of `configs/` (most in `configs/demos/`), compiled into the binary so a demo runs
/// from anywhere; the file is the same text, for reading and copying.
#[derive(Debug, Clone, Copy)]
pub struct DemoConfig {
    /// Its path in the repository.
    pub file: &'static str,
    /// Its TOML.
    pub text: &'static str,
}

/// The config `configs/<name>.toml`, e.g. `demo_config!("demos/healthy")`.
macro_rules! demo_config {
    ($name:literal) => {
        $crate::demo::runs::DemoConfig {
            file: concat!("configs/", $name, ".toml"),
            text: include_str!(concat!("../../configs/", $name, ".toml")),
        }
    };
}
pub(crate) use demo_config;

/// One run of a demo: its name, config, `--set` overrides and corpus.
#[derive(Debug, Clone)]
pub struct RunSpec<'a> {
    /// The run directory's name under the demo's `runs/`.
    pub name: &'a str,
    /// The config.
    pub config: DemoConfig,
    /// `key=value` overrides, as `perplex train --set` takes them.
    pub overrides: Vec<String>,
    /// The corpus.
    pub data: &'a DataDir,
}

/// A finished run and what it wrote.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The run's name.
    pub name: String,
    /// Its directory.
    pub dir: PathBuf,
    /// Its config, as trained (overrides applied).
    pub config: RunConfig,
    /// Its `summary.json`.
    pub summary: RunSummary,
    /// Its `metrics.jsonl`.
    pub records: Vec<MetricRecord>,
}

impl Finished {
    /// The evaluation records, in order.
    pub fn evals(&self) -> impl Iterator<Item = &EvalRecord> {
        self.records.iter().filter_map(|r| match r {
            MetricRecord::Eval(e) => Some(e),
            _ => None,
        })
    }

    /// The baseline record.
    pub fn baseline(&self) -> Option<&BaselineRecord> {
        self.records.iter().find_map(|r| match r {
            MetricRecord::Baseline(b) => Some(b),
            _ => None,
        })
    }

    /// The last evaluation.
    pub fn last_eval(&self) -> Option<&EvalRecord> {
        self.evals().last()
    }

    /// The first evaluation whose signals include `kind`.
    pub fn first(&self, kind: SignalKind) -> Option<&EvalRecord> {
        self.evals().find(|e| e.reading.verdict.has(kind))
    }

    /// How many evaluations name `kind` (as state or alarm).
    pub fn count(&self, kind: SignalKind) -> usize {
        self.evals().filter(|e| e.reading.verdict.has(kind)).count()
    }

    /// The best validation loss, nats per token.
    pub fn best_loss(&self) -> f64 {
        self.summary.best_val_loss.unwrap_or(f64::NAN)
    }
}

impl Demo {
    /// Trains `spec` into the demo's `runs/` (replacing an earlier run of the same name),
    /// logging as `perplex train` does.
    pub fn train(&self, spec: &RunSpec) -> Result<Finished> {
        let c = spec.config;
        let config = RunConfig::parse(c.text, Path::new(c.file), &spec.overrides)?;
        let runs = self.dir.join("runs");
        std::fs::create_dir_all(&runs).with_context(|| format!("creating {}", runs.display()))?;
        let run = NewRun::claim(&runs, spec.name, true)?;
        let data = run.data(spec.data, &config)?;
        eprintln!(
            "-- run {} ({}{})",
            spec.name,
            c.file,
            overrides_text(&spec.overrides)
        );
        let dir = runs.join(spec.name);
        let summary = perplex_train::train(&config, &data, run, &self.device, &self.control)?;
        let summary = crate::commands::finished(summary, &dir)?;
        let records = read_records(&dir.join("metrics.jsonl"))?;
        Ok(Finished {
            name: spec.name.to_owned(),
            dir,
            config,
            summary,
            records,
        })
    }
}

/// A run's checkpoint, ready to evaluate.
pub struct Loaded {
    /// The model, in eval mode.
    pub model: Gpt,
    /// The run's streams of the corpus (its tokenizer's ids).
    pub data: TrainData,
    /// The run's evaluation batch, windows.
    pub eval_batch: usize,
}

impl Demo {
    /// A finished run's checkpoint, with the run's own view of `data` (its tokenizer, its
    /// streams).
    pub fn checkpoint(
        &self,
        run: &Finished,
        kind: CheckpointKind,
        data: &DataDir,
    ) -> Result<Loaded> {
        let open = RunDir::open(&run.dir)?;
        let (model, _) = open.checkpoint(kind, &self.device)?;
        Ok(Loaded {
            model,
            data: open.data(data)?,
            eval_batch: open.config.train().eval_batch(),
        })
    }
}

fn overrides_text(overrides: &[String]) -> String {
    overrides.iter().map(|o| format!(" --set {o}")).collect()
}
