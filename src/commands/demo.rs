//! `perplex demo`: the lessons about reading loss and perplexity, each a run of two minutes or
//! less on two CPU cores.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};

use super::{device, ensure_corpus};
use crate::DataDirArg;
use crate::demo::{Demo, Lesson, run_lesson};

/// Flags of `perplex demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// `list`, `all`, or a lesson: healthy, plateau, overfitting, blow-up, lr-find, leak,
    /// averaging, tokenizers, vocabulary, repetition.
    #[arg(value_parser = parse_target)]
    pub what: Target,
    /// Where each lesson writes its runs, report.png, lesson.txt and lesson.json (DIR/NAME/).
    #[arg(long, default_value = "demos", value_name = "DIR")]
    pub out: PathBuf,
    /// Backend, as for `train`.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// The share of validation lines the `leak` lesson plants in train (0–1).
    #[arg(long, default_value_t = 0.15, value_name = "SHARE")]
    pub leak_share: f64,
    /// Shortened runs, as the tests use: each lesson still shows, with rougher numbers.
    #[arg(long)]
    pub quick: bool,
    #[command(flatten)]
    pub data: DataDirArg,
}

/// What `perplex demo` is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Print the lessons.
    List,
    /// Run every lesson in order.
    All,
    /// Run one lesson.
    One(Lesson),
}

fn parse_target(text: &str) -> Result<Target, String> {
    match text {
        "list" => Ok(Target::List),
        "all" => Ok(Target::All),
        name => Lesson::from_str(name, false).map(Target::One).map_err(|_| {
            let names: Vec<&str> = Lesson::ALL.iter().map(|l| l.name()).collect();
            format!(
                "no lesson `{name}`: use list, all, or one of {}",
                names.join(", ")
            )
        }),
    }
}

/// Runs `perplex demo`.
pub fn run(args: DemoArgs) -> Result<()> {
    let lessons = match args.what {
        Target::List => {
            list();
            return Ok(());
        }
        Target::All => Lesson::ALL.to_vec(),
        Target::One(lesson) => vec![lesson],
    };
    anyhow::ensure!(
        args.leak_share > 0.0 && args.leak_share <= 1.0,
        "--leak-share must be in (0, 1]: the share of validation lines planted in train"
    );
    let data = args.data.resolve();
    ensure_corpus(&data)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    // Runs name their tokenizers by absolute path, which must not depend on the data
    // directory a config resolves relative paths against.
    let out = std::fs::canonicalize(&args.out)?;
    let control = super::train::interrupt_control()?;
    let mut times = Vec::new();
    for lesson in lessons {
        let demo = Demo {
            dir: out.join(lesson.name()),
            data: data.clone(),
            device: device(&args.device)?,
            control: control.clone(),
            leak_share: args.leak_share,
            quick: args.quick,
        };
        let (text, seconds) = run_lesson(lesson, &demo)?;
        println!("\n{text}");
        times.push((lesson, seconds));
    }
    if times.len() > 1 {
        println!("wall time per lesson:");
        for (lesson, seconds) in times {
            println!("  {:<12} {seconds:>5.0} s", lesson.name());
        }
    }
    Ok(())
}

/// Prints each lesson with what to look at.
fn list() {
    for lesson in Lesson::ALL {
        let about = lesson
            .to_possible_value()
            .and_then(|v| v.get_help().map(ToString::to_string))
            .unwrap_or_default();
        println!("{:<12} {about}", lesson.name());
    }
    println!(
        "\nperplex demo NAME runs one (runs, report.png, lesson.txt in demos/NAME); perplex \
         demo all runs them in order."
    );
}
