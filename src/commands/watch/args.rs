//! The flags of `perplex watch`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use perplex_monitor::watch::{Columns, Format, Unit};

/// Flags of `perplex watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The log: a file (JSON lines, CSV, Hugging Face's trainer_state.json, or a printed log of
    /// nanoGPT, build-nanogpt, modded-nanogpt, llm.c, MLX-LM, Megatron, fairseq or any
    /// `step … loss …` lines) or a directory of TensorBoard event files.
    pub log: PathBuf,
    /// The log's format; `auto` decides from what the log holds.
    #[arg(long, value_enum, default_value_t = FormatArg::Auto)]
    pub format: FormatArg,
    /// Keep reading as the log grows; Ctrl-C ends the watch with its summary.
    #[arg(long)]
    pub follow: bool,
    /// The column or key holding the optimizer step (by default the first of step, _step,
    /// global_step, iter, iteration, epoch; in printed logs step, iter, s, num_updates, …).
    #[arg(long, value_name = "NAME")]
    pub step_col: Option<String>,
    /// The column or key holding the training loss (by default train_loss, train/loss,
    /// train_loss_step, loss, …).
    #[arg(long, value_name = "NAME")]
    pub train_col: Option<String>,
    /// The column or key holding the validation loss (by default val_loss, val/loss,
    /// eval_loss, …, else the first eval_*_loss).
    #[arg(long, value_name = "NAME")]
    pub val_col: Option<String>,
    /// The column or key holding the learning rate (by default lr, learning_rate, …).
    #[arg(long, value_name = "NAME")]
    pub lr_col: Option<String>,
    /// The scalar tag holding the training loss (TensorBoard; by default the first of
    /// train/loss, train_loss, loss/train, Loss/train, train/epoch_loss, training_loss, loss).
    #[arg(long, value_name = "TAG")]
    pub train_tag: Option<String>,
    /// The scalar tag holding the validation loss (TensorBoard; by default the first of
    /// val/loss, eval/loss, val_loss, loss/val, Loss/val, validation/epoch_loss, valid/loss,
    /// validation_loss).
    #[arg(long, value_name = "TAG")]
    pub val_tag: Option<String>,
    /// The unit of the log's losses: nats per token (PyTorch's cross-entropy), bits per
    /// token (fairseq's, the default for its logs), or perplexity (ppl); all are judged in
    /// nats.
    #[arg(long)]
    pub unit: Option<Unit>,
    /// The vocabulary size, for the uniform-guess baseline ln V nats (a perplex run's own log
    /// carries its baselines).
    #[arg(long, value_name = "N")]
    pub vocab_size: Option<usize>,
    /// The run's last step: each evaluation then forecasts the validation loss there (a
    /// power law fitted to the curve so far). A trainer_state.json carries its own.
    #[arg(long, value_name = "STEPS")]
    pub max_steps: Option<u64>,
}

impl WatchArgs {
    /// The columns or keys asked for.
    pub fn columns(&self) -> Columns {
        Columns {
            step: self.step_col.clone(),
            train: self.train_col.clone(),
            val: self.val_col.clone(),
            lr: self.lr_col.clone(),
        }
    }
}

/// The formats `--format` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Decide from what the log holds.
    Auto,
    /// One JSON object per line.
    Jsonl,
    /// CSV with a header row.
    Csv,
    /// nanoGPT's printed log.
    Text,
    /// build-nanogpt's log.txt (`250 val 6.2648`).
    Streams,
    /// Printed `key: value` lines (modded-nanogpt, llm.c, MLX-LM, Megatron, fairseq, …).
    Kv,
    /// A printed table of named columns (a model card's training results).
    Table,
    /// Hugging Face Trainer's trainer_state.json.
    TrainerState,
    /// A directory of TensorBoard event files.
    Tensorboard,
}

impl FormatArg {
    /// The format asked for, `None` for auto.
    pub fn format(self) -> Option<Format> {
        match self {
            FormatArg::Auto => None,
            FormatArg::Jsonl => Some(Format::JsonLines),
            FormatArg::Csv => Some(Format::Csv),
            FormatArg::Text => Some(Format::Text),
            FormatArg::Streams => Some(Format::Streams),
            FormatArg::Kv => Some(Format::KeyValue),
            FormatArg::Table => Some(Format::Table),
            FormatArg::TrainerState => Some(Format::TrainerState),
            FormatArg::Tensorboard => Some(Format::TensorBoard),
        }
    }
}
