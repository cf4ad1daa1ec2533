//! `perplex export`.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};
use perplex_train::export::export_hf;
use perplex_train::{CheckpointKind, RunDir};

use super::{print_json, shown};
use crate::DataDirArg;

/// The formats a run can be exported to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// 🤗 transformers' GPT2LMHeadModel directory (config.json, model.safetensors, tokenizer).
    Hf,
}

/// Flags of `perplex export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The run directory, e.g. runs/ptb-small.
    #[arg(long, value_name = "DIR")]
    pub run: PathBuf,
    /// The format to write.
    #[arg(long, value_enum, default_value = "hf")]
    pub format: Format,
    /// The directory to write the export into.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Which checkpoint: best or last.
    #[arg(long, default_value = "best")]
    pub checkpoint: CheckpointKind,
    /// Replace files already in --out.
    #[arg(long)]
    pub overwrite: bool,
    /// Print what was written as one JSON object.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub data: DataDirArg,
}

/// Runs `perplex export`. With the run's corpus at hand (--data-dir, PERPLEX_DATA_DIR or
/// data/ptb), the model card gets its test perplexity too.
pub fn run(args: ExportArgs) -> Result<()> {
    let run = RunDir::open(&args.run)?;
    let dir = args.data.resolve();
    let corpus = dir.is_complete().then_some(&dir);
    let Format::Hf = args.format;
    let exported = export_hf(&run, args.checkpoint, &args.out, corpus, args.overwrite)?;
    if args.json {
        print_json(&exported);
        return Ok(());
    }
    println!(
        "{}: GPT2LMHeadModel from step {} ({}); load it with \
         AutoModelForCausalLM.from_pretrained(\"{}\")",
        shown(&exported.dir),
        exported.step,
        exported.files.join(", "),
        shown(&exported.dir)
    );
    Ok(())
}
