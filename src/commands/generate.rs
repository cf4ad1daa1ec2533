//! `perplex generate`.

use std::path::PathBuf;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use clap::Args;
use perplex_train::generate::{SampleOptions, generate_each};
use perplex_train::{CheckpointKind, RunDir};

use super::device;

/// Flags of `perplex generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The run directory, e.g. runs/ptb-small.
    #[arg(long, value_name = "DIR")]
    pub run: PathBuf,
    /// Text to continue (words outside the vocabulary become <unk>; empty: start a sentence).
    #[arg(long, default_value = "")]
    pub prompt: String,
    /// Tokens to generate.
    #[arg(long, default_value_t = 50)]
    pub max_tokens: usize,
    /// Sampling temperature (0: always the most likely word).
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f64,
    /// Sample among the K most likely words only (at least 1; 1 always takes the most likely
    /// word; leave it out to sample from every word).
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Seed of the sampler.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Which checkpoint: best or last.
    #[arg(long, default_value = "best")]
    pub checkpoint: CheckpointKind,
    /// Backend, as for `train`.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// Runs `perplex generate`: tokens are printed as they are drawn, and Ctrl-C stops cleanly
/// with what was printed kept (exit status 130).
pub fn run(args: GenerateArgs) -> Result<()> {
    if !(args.temperature >= 0.0 && args.temperature.is_finite()) {
        anyhow::bail!("--temperature {} must be ≥ 0", args.temperature);
    }
    if args.top_k == Some(0) {
        anyhow::bail!(
            "--top-k 0 would leave no word to sample: give at least 1 (1 always takes the most \
             likely word), or leave --top-k out to sample from every word"
        );
    }
    let run = RunDir::open(&args.run)?;
    let tokenizer = &run.tokenizer;
    let (model, _) = run.checkpoint(args.checkpoint, &device(&args.device)?)?;
    let mut prompt = tokenizer.encode_text(&args.prompt)?;
    if prompt.is_empty() {
        prompt.push(tokenizer.eos_id());
    }
    let options = SampleOptions {
        max_tokens: args.max_tokens,
        temperature: args.temperature,
        top_k: args.top_k,
        seed: args.seed,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .context("cannot install the Ctrl-C handler")?;
    let mut out = std::io::stdout().lock();
    write!(
        out,
        "{}",
        tokenizer.decode(&prompt).trim_start_matches('\n')
    )?;
    let (mut previous, mut written) = (prompt.last().copied(), 0usize);
    let mut failed = None;
    generate_each(&model, &prompt, &options, |id| {
        let text = tokenizer.decode_next(previous, id);
        previous = Some(id);
        written += 1;
        if let Err(e) = write!(out, "{text}").and_then(|_| out.flush()) {
            failed = Some(e);
            return false;
        }
        !stop.load(Ordering::SeqCst)
    });
    writeln!(out)?;
    if let Some(e) = failed {
        return Err(e).context("writing the generated text");
    }
    if stop.load(Ordering::SeqCst) {
        return Err(super::Stopped {
            reason: perplex_train::StopReason::Interrupted,
            message: format!("generation stopped by Ctrl-C after {written} tokens"),
        }
        .into());
    }
    Ok(())
}
