//! `perplex generate`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use perplex_train::generate::{SampleOptions, generate};
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
    /// Sample among the K most likely words only.
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

/// Runs `perplex generate`.
pub fn run(args: GenerateArgs) -> Result<()> {
    if !(args.temperature >= 0.0 && args.temperature.is_finite()) {
        anyhow::bail!("--temperature {} must be ≥ 0", args.temperature);
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
    let tokens = generate(&model, &prompt, &options);
    println!("{}", tokenizer.decode(&tokens).trim_start_matches('\n'));
    Ok(())
}
