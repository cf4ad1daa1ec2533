//! `perplex demo`: each lesson about reading loss and perplexity as a run of two minutes or
//! less on two CPU cores, deterministic, that prints what to look at, draws its picture and
//! writes what it measured.
//!
//! A lesson trains the runs of its configs (`configs/demos/`, compiled in), reads their
//! records, and returns a paragraph with the measured numbers (`lesson.txt`), the figures
//! behind it (`lesson.json`, which the tests check) and the runs to overlay (`report.png`).

mod averaging;
mod blow_up;
mod healthy;
mod leak;
mod lr_find;
mod overfitting;
mod plateau;
mod repetition;
pub mod runs;
mod tokenizers;
mod vocabulary;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use burn::tensor::Device;
use clap::ValueEnum;
use perplex_data::DataDir;
use perplex_train::Control;
use serde_json::Value;

/// The lessons, in the order a course takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lesson {
    /// A clean decline with warm-up and cosine annealing.
    Healthy,
    /// A constant learning rate stalls where cosine annealing keeps improving.
    Plateau,
    /// Train falls, validation rises, early stopping keeps the best weights.
    Overfitting,
    /// Too high a learning rate without warm-up blows up; with warm-up it does not.
    BlowUp,
    /// A rate picked by hand blows up; the range test (`perplex lr-find`) finds one that trains.
    LrFind,
    /// Validation text planted in train: a breakthrough that is not one.
    Leak,
    /// One checkpoint's perplexity averaged the right way and two wrong ways.
    Averaging,
    /// Word, BPE and character tokenizers: per-token perplexities apart, bits per char not.
    Tokenizers,
    /// A smaller vocabulary lowers perplexity while the model knows less.
    Vocabulary,
    /// Low perplexity is not good text: greedy samples loop.
    Repetition,
}

impl Lesson {
    /// Every lesson, in course order.
    pub const ALL: [Lesson; 10] = [
        Lesson::Healthy,
        Lesson::Plateau,
        Lesson::Overfitting,
        Lesson::BlowUp,
        Lesson::LrFind,
        Lesson::Leak,
        Lesson::Averaging,
        Lesson::Tokenizers,
        Lesson::Vocabulary,
        Lesson::Repetition,
    ];

    /// The name `perplex demo` takes.
    pub fn name(self) -> &'static str {
        match self {
            Lesson::Healthy => "healthy",
            Lesson::Plateau => "plateau",
            Lesson::Overfitting => "overfitting",
            Lesson::BlowUp => "blow-up",
            Lesson::LrFind => "lr-find",
            Lesson::Leak => "leak",
            Lesson::Averaging => "averaging",
            Lesson::Tokenizers => "tokenizers",
            Lesson::Vocabulary => "vocabulary",
            Lesson::Repetition => "repetition",
        }
    }

    /// What to look at while it runs.
    pub fn look_at(self) -> &'static str {
        match self {
            Lesson::Healthy => healthy::LOOK_AT,
            Lesson::Plateau => plateau::LOOK_AT,
            Lesson::Overfitting => overfitting::LOOK_AT,
            Lesson::BlowUp => blow_up::LOOK_AT,
            Lesson::LrFind => lr_find::LOOK_AT,
            Lesson::Leak => leak::LOOK_AT,
            Lesson::Averaging => averaging::LOOK_AT,
            Lesson::Tokenizers => tokenizers::LOOK_AT,
            Lesson::Vocabulary => vocabulary::LOOK_AT,
            Lesson::Repetition => repetition::LOOK_AT,
        }
    }

    fn teach(self, demo: &Demo) -> Result<Learned> {
        match self {
            Lesson::Healthy => healthy::teach(demo),
            Lesson::Plateau => plateau::teach(demo),
            Lesson::Overfitting => overfitting::teach(demo),
            Lesson::BlowUp => blow_up::teach(demo),
            Lesson::LrFind => lr_find::teach(demo),
            Lesson::Leak => leak::teach(demo),
            Lesson::Averaging => averaging::teach(demo),
            Lesson::Tokenizers => tokenizers::teach(demo),
            Lesson::Vocabulary => vocabulary::teach(demo),
            Lesson::Repetition => repetition::teach(demo),
        }
    }
}

/// Where and how a lesson runs.
pub struct Demo {
    /// The lesson's directory: `runs/`, `report.png`, `lesson.txt`, `lesson.json`.
    pub dir: PathBuf,
    /// PTB.
    pub data: DataDir,
    /// The training device.
    pub device: Device,
    /// Ctrl-C, shared by every run.
    pub control: Control,
    /// The share of validation lines the `leak` lesson plants in train, 0–1.
    pub leak_share: f64,
    /// Shortened runs (for tests): each lesson still shows, with rougher numbers.
    pub quick: bool,
}

/// The shortened form of a ptb-tiny-sized run (600 steps, evaluations every 100 or 200):
/// 200 steps, two evaluations.
pub const SHORT_TINY: &[&str] = &[
    "train.max_steps=200",
    "train.eval_every=100",
    "train.warmup_steps=20",
];

impl Demo {
    /// The `--set` overrides of a run: none, or `quick` ones when the demo is shortened.
    pub fn overrides(&self, quick: &[&str]) -> Vec<String> {
        match self.quick {
            true => quick.iter().map(|o| o.to_string()).collect(),
            false => Vec::new(),
        }
    }
}

/// What a lesson measured.
#[derive(Debug, Default)]
pub struct Learned {
    /// The runs drawn on one picture (none: no picture).
    pub runs: Vec<PathBuf>,
    /// The reading, with the measured numbers.
    pub text: String,
    /// The figures behind the text, by name (units in the names: `_ppl`, `_nats`, `_step`).
    pub figures: BTreeMap<&'static str, Value>,
}

impl Learned {
    /// Records a figure.
    pub fn figure(&mut self, name: &'static str, value: impl Into<Value>) {
        self.figures.insert(name, value.into());
    }
}

/// Runs `lesson` in `demo.dir`: its runs, its picture, `lesson.txt` and `lesson.json`.
/// Returns the reading and the wall time, seconds.
pub fn run_lesson(lesson: Lesson, demo: &Demo) -> Result<(String, f64)> {
    let started = Instant::now();
    std::fs::create_dir_all(&demo.dir)
        .with_context(|| format!("creating {}", demo.dir.display()))?;
    eprintln!("== demo {}: {}", lesson.name(), lesson.look_at());
    let learned = lesson.teach(demo)?;
    if !learned.runs.is_empty() {
        crate::commands::report::write_report(&learned.runs, &demo.dir)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let text = format!(
        "{}\n\n({} s on {}; picture: {})\n",
        learned.text,
        seconds.round(),
        cpu_name(),
        demo.dir.join("report.png").display()
    );
    let write = |name: &str, contents: &str| {
        let path = demo.dir.join(name);
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))
    };
    write("lesson.txt", &text)?;
    let mut figures = learned.figures;
    figures.insert("wall_s", seconds.into());
    write("lesson.json", &serde_json::to_string_pretty(&figures)?)?;
    Ok((text, seconds))
}

/// The CPU's model name (Linux), for saying where a lesson's time was measured.
fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|name| name.trim().to_owned())
        })
        .unwrap_or_else(|| "this machine".into())
}
