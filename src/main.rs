//! `perplex`: train a small GPT on Penn Treebank and read what its numbers mean.

mod bench;
mod commands;
mod demo;

/// Training allocates and frees the same large tensors (logits alone are 80 MB at ptb-small's
/// shape) every step. glibc's malloc hands blocks that large straight back to the kernel, so
/// each step page-faulted its memory in again (measured: 12% of a step in the kernel zeroing
/// pages, `perplex bench` 2,061 tokens/s); mimalloc keeps and reuses it (2,852 tokens/s).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (the same index in its v2 and v3 headers): how long
/// freed memory waits before it is returned to the kernel, in ms; -1 never. A training step
/// frees and reallocates the same sizes every ~0.7 s, so returning them only costs page
/// faults (measured: 2,852 → 3,053 tokens/s); the process's footprint stays at its peak.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn keep_freed_memory() {
    // SAFETY: setting an option is thread-safe and valid at any time in mimalloc.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

/// Rust ignores SIGPIPE, so `perplex watch log | head` would panic on the closed pipe
/// ("failed printing to stdout"). Commands whose output is a stream die of the signal
/// instead, quietly, as `cat` does; `train` keeps ignoring it, so a closed pipe can never
/// stop a run without its checkpoint.
fn die_quietly_on_a_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: restoring a signal's default disposition at start-up, before any thread.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

mod plot;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use perplex_train::StopReason;

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
    /// Write a run's checkpoint in another tool's format (🤗 transformers' GPT-2).
    Export(commands::export::ExportArgs),
    /// Find a learning rate before a run: the range test (the loss as the rate grows
    /// exponentially), its suggestion and its curve.
    LrFind(commands::lr_find::LrFindArgs),
    /// Time training steps and a validation pass.
    Bench(commands::bench::BenchArgs),
    /// Read the signals of any trainer's log: JSON lines, CSV, nanoGPT text, TensorBoard.
    Watch(commands::watch::WatchArgs),
    /// Run a lesson about reading loss and perplexity (`perplex demo list`).
    Demo(commands::demo::DemoArgs),
    /// Draw a run's curves (or several runs' overlaid) into report.png and report.svg, with the
    /// best checkpoint, signal onsets and the stop marked, and summarise them.
    Report(commands::report::ReportArgs),
    /// Fetch, check, split, generate or describe a corpus.
    #[command(subcommand)]
    Data(commands::data::DataCommand),
    /// Learn a tokenizer (BPE, word-level, character) for any plain-text corpus.
    #[command(subcommand)]
    Tokenizer(commands::tokenizer::TokenizerCommand),
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

/// The error and its causes on one line, skipping a cause whose text the message already holds.
fn error_chain(err: &anyhow::Error) -> String {
    let mut message = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
    }
    message
}

/// Exit status of a run stopped by SIGINT or SIGTERM after saving its state.
pub const EXIT_INTERRUPTED: i32 = 130;
/// Exit status of a run stopped because its loss or gradient became NaN or infinite (and of
/// `perplex watch` over a log with a NaN or infinite loss).
pub const EXIT_NON_FINITE: u8 = 3;
/// Exit status of `perplex watch` over a log whose run ends diverged or diverging.
pub const EXIT_DIVERGED: u8 = 4;

fn main() -> ExitCode {
    keep_freed_memory();
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
    if !matches!(cli.command, Command::Train(_)) {
        die_quietly_on_a_closed_pipe();
    }
    let result = match cli.command {
        Command::Train(args) => commands::train::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Generate(args) => commands::generate::run(args),
        Command::Export(args) => commands::export::run(args),
        Command::LrFind(args) => commands::lr_find::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Watch(args) => commands::watch::run(args),
        Command::Demo(args) => commands::demo::run(args),
        Command::Report(args) => commands::report::run(args),
        Command::Data(cmd) => commands::data::run(cmd),
        Command::Tokenizer(cmd) => commands::tokenizer::run(cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", error_chain(&err));
            ExitCode::from(exit_status(&err))
        }
    }
}

/// The exit status of a failed command: 130 for a run stopped by a signal after saving, 3
/// for a non-finite loss, 4 for a watched run that ends diverged, 1 for everything else.
fn exit_status(err: &anyhow::Error) -> u8 {
    match err.downcast_ref::<commands::Stopped>().map(|s| s.reason) {
        Some(StopReason::Interrupted) => EXIT_INTERRUPTED as u8,
        Some(StopReason::NonFinite) => EXIT_NON_FINITE,
        Some(StopReason::Diverged) => EXIT_DIVERGED,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_way_a_run_stops_has_its_documented_exit_status() {
        let stopped = |reason| {
            exit_status(&anyhow::Error::from(commands::Stopped {
                reason,
                message: "stopped".into(),
            }))
        };
        assert_eq!(stopped(StopReason::NonFinite), 3);
        assert_eq!(stopped(StopReason::Diverged), 4);
        assert_eq!(stopped(StopReason::Interrupted), 130);
        let wrapped = anyhow::Error::from(commands::Stopped {
            reason: StopReason::Interrupted,
            message: "generation stopped".into(),
        })
        .context("while generating");
        assert_eq!(exit_status(&wrapped), 130, "found under a context too");
        assert_eq!(exit_status(&anyhow::anyhow!("bad flag")), 1);
    }
}
