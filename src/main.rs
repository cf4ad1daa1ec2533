//! `perplex`: train a small GPT on Penn Treebank and read what its numbers mean.

mod commands;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Train a small transformer language model and read its signals.
#[derive(Debug, Parser)]
#[command(name = "perplex", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train a model from a TOML config, writing a run directory.
    Train(commands::train::TrainArgs),
    /// Evaluate a run's checkpoint on a split: tokens, mean NLL per token, perplexity.
    Eval(commands::eval::EvalArgs),
    /// Sample text from a run's checkpoint.
    Generate(commands::generate::GenerateArgs),
    /// Time training steps and a validation pass.
    Bench(commands::bench::BenchArgs),
    /// Fetch the corpus or describe it.
    #[command(subcommand)]
    Data(commands::data::DataCommand),
}

/// Where the corpus lives: `--data-dir`, else `PERPLEX_DATA_DIR`, else `data/ptb`.
#[derive(Debug, Clone, Args)]
pub struct DataDirArg {
    /// Directory holding ptb.train.txt, ptb.valid.txt and ptb.test.txt.
    #[arg(long, value_name = "DIR", env = "PERPLEX_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

impl DataDirArg {
    /// The resolved corpus directory.
    pub fn resolve(&self) -> perplex_data::DataDir {
        perplex_data::DataDir::resolve(self.data_dir.as_deref())
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PERPLEX_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(args) => commands::train::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Generate(args) => commands::generate::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Data(cmd) => commands::data::run(cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
