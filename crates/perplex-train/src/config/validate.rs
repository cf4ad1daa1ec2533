//! The range checks every [`RunConfig`] passes before it exists: each refusal names the key,
//! the value and the allowed range ([`OutOfRange`]), or the model shape's own error.

use perplex_model::ShapeError;
use perplex_monitor::OutOfRange;

use super::RunConfig;
use crate::mismatch::Mismatch;

/// Why a config cannot make a run.
#[derive(Debug, thiserror::Error)]
pub enum Invalid {
    /// A value outside its range.
    #[error(transparent)]
    Range(#[from] OutOfRange),
    /// A model shape that cannot be built.
    #[error(transparent)]
    Shape(#[from] ShapeError),
    /// `model.vocab_size` disagrees with the tokenizer.
    #[error(transparent)]
    Vocab(#[from] Mismatch),
}

/// Refuses values that cannot make a sensible run.
pub(super) fn check(config: &RunConfig) -> Result<(), Invalid> {
    check_train(config)?;
    check_data(config)?;
    let m = &config.monitor;
    let tokens = m.train_eval_tokens;
    OutOfRange::check(
        tokens >= 2,
        "monitor.train_eval_tokens",
        tokens,
        "at least 2",
    )?;
    let temperature = m.sample_temperature;
    OutOfRange::check(
        temperature >= 0.0 && temperature.is_finite(),
        "monitor.sample_temperature",
        temperature,
        "≥ 0 (0: greedy)",
    )?;
    m.detectors.validate()?;
    config.early_stopping.validate()?;
    let model = &config.model;
    // The vocabulary comes from the tokenizer unless the file fixes it; any size ≥ 1 lets
    // the rest of the shape be checked now.
    model.shape(model.vocab_size.unwrap_or(1))?.validate()?;
    Ok(())
}

fn check_train(config: &RunConfig) -> Result<(), OutOfRange> {
    let t = &config.train;
    OutOfRange::check(
        t.batch_size >= 1,
        "train.batch_size",
        t.batch_size,
        "at least 1",
    )?;
    OutOfRange::check(
        t.max_steps >= 1,
        "train.max_steps",
        t.max_steps,
        "at least 1",
    )?;
    OutOfRange::check(t.lr > 0.0 && t.lr <= 1.0, "train.lr", t.lr, "in (0, 1]")?;
    OutOfRange::check(
        t.min_lr >= 0.0 && t.min_lr <= t.lr,
        "train.min_lr",
        t.min_lr,
        format!("in [0, train.lr = {}]", t.lr),
    )?;
    OutOfRange::check(
        t.warmup_steps < t.max_steps,
        "train.warmup_steps",
        t.warmup_steps,
        format!("below train.max_steps = {}", t.max_steps),
    )?;
    let wd = t.weight_decay;
    OutOfRange::check(
        (0.0..1.0).contains(&wd),
        "train.weight_decay",
        wd,
        "in [0, 1)",
    )?;
    let clip = t.grad_clip;
    OutOfRange::check(
        clip >= 0.0 && clip.is_finite(),
        "train.grad_clip",
        clip,
        "≥ 0 (0: off)",
    )?;
    let eval = t.eval_batch();
    OutOfRange::check(eval >= 1, "train.eval_batch_size", eval, "at least 1")?;
    if let Some(budget) = t.time_budget_s {
        OutOfRange::check(
            budget > 0.0 && budget.is_finite(),
            "train.time_budget_s",
            budget,
            "a positive number of seconds",
        )?;
    }
    Ok(())
}

fn check_data(config: &RunConfig) -> Result<(), OutOfRange> {
    let d = &config.data;
    OutOfRange::check(
        (0.0..=1.0).contains(&d.max_overlap),
        "data.max_overlap",
        d.max_overlap,
        "a share between 0 and 1",
    )?;
    OutOfRange::check(d.ngram >= 1, "data.ngram", d.ngram, "at least 1")?;
    if let Some(n) = d.max_train_tokens {
        OutOfRange::check(n >= 1, "data.max_train_tokens", n, "at least 1 when set")?;
    }
    Ok(())
}
