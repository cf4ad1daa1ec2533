//! The range checks every [`RunConfig`] passes before it exists: each message names the key
//! and the allowed range.

use super::RunConfig;

/// Refuses values that cannot make a sensible run.
pub(super) fn check(config: &RunConfig) -> Result<(), String> {
    check_train(config)?;
    check_data(config)?;
    if config.monitor.train_eval_tokens < 2 {
        return Err("monitor.train_eval_tokens must be at least 2".into());
    }
    let temperature = config.monitor.sample_temperature;
    if !(temperature >= 0.0 && temperature.is_finite()) {
        return Err(format!(
            "monitor.sample_temperature = {temperature} must be ≥ 0 (0: greedy)"
        ));
    }
    config.monitor.detectors.validate()?;
    config.early_stopping.validate()?;
    let model = &config.model;
    // The vocabulary comes from the tokenizer unless the file fixes it; any size ≥ 1 lets
    // the rest of the shape be checked now.
    model
        .shape(model.vocab_size.unwrap_or(1))
        .map_err(|e| e.to_string())?
        .validate()
        .map_err(|e| e.to_string())
}

fn check_train(config: &RunConfig) -> Result<(), String> {
    let t = &config.train;
    if t.batch_size == 0 {
        return Err("train.batch_size must be at least 1".into());
    }
    if t.max_steps == 0 {
        return Err("train.max_steps must be at least 1".into());
    }
    if !(t.lr > 0.0 && t.lr <= 1.0) {
        return Err(format!("train.lr = {} must be in (0, 1]", t.lr));
    }
    if !(t.min_lr >= 0.0 && t.min_lr <= t.lr) {
        return Err(format!(
            "train.min_lr = {} must be in [0, train.lr]",
            t.min_lr
        ));
    }
    if t.warmup_steps >= t.max_steps {
        return Err(format!(
            "train.warmup_steps = {} must be below train.max_steps = {}",
            t.warmup_steps, t.max_steps
        ));
    }
    if !(t.weight_decay >= 0.0 && t.weight_decay < 1.0) {
        return Err(format!(
            "train.weight_decay = {} must be in [0, 1)",
            t.weight_decay
        ));
    }
    if !(t.grad_clip >= 0.0 && t.grad_clip.is_finite()) {
        return Err(format!(
            "train.grad_clip = {} must be ≥ 0 (0: off)",
            t.grad_clip
        ));
    }
    if t.eval_batch() == 0 {
        return Err("train.eval_batch_size must be at least 1".into());
    }
    if t.time_budget_s.is_some_and(|b| !(b > 0.0 && b.is_finite())) {
        return Err("train.time_budget_s must be a positive number of seconds".into());
    }
    Ok(())
}

fn check_data(config: &RunConfig) -> Result<(), String> {
    let d = &config.data;
    if !(0.0..=1.0).contains(&d.max_overlap) {
        return Err(format!(
            "data.max_overlap = {} is not a share between 0 and 1",
            d.max_overlap
        ));
    }
    if d.ngram == 0 {
        return Err("data.ngram must be at least 1".into());
    }
    if d.max_train_tokens == Some(0) {
        return Err("data.max_train_tokens must be at least 1 when set".into());
    }
    Ok(())
}
