//! Early stopping: the knobs of Lightning's and Keras's `EarlyStopping`, plus a stop on the
//! overfitting pattern that neither has.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::signal::{SignalKind, Verdict};

/// Which number early stopping watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Mean validation NLL per token, nats.
    ValLoss,
    /// Validation perplexity.
    ValPpl,
    /// Mean training loss since the previous evaluation, nats.
    TrainLoss,
}

/// Whether lower or higher is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Lower is better (losses, perplexity).
    Min,
    /// Higher is better.
    Max,
}

/// Early-stopping settings (`[early_stopping]` in a run config). Defaults: watch `val_loss`
/// (min), stop on NaN, on divergence (a level above guessing, or a slow climb back), and on
/// overfitting, never on patience alone, restore the
/// best weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EarlyStoppingConfig {
    /// The watched metric.
    pub monitor: Metric,
    /// Whether lower or higher is better.
    pub mode: Mode,
    /// A change smaller than this (in the metric's units) is not an improvement.
    pub min_delta: f64,
    /// Nor one smaller than this fraction of the best value.
    pub min_delta_rel: f64,
    /// Stop after this many evaluations without improvement (None: never on patience).
    pub patience: Option<usize>,
    /// Stop at once when the metric is worse than this.
    pub divergence_threshold: Option<f64>,
    /// Stop at once when the metric reaches this (the target is met).
    pub stopping_threshold: Option<f64>,
    /// Stop at once when the metric is NaN or infinite.
    pub check_finite: bool,
    /// Ignore the first this many evaluations entirely.
    pub start_from: usize,
    /// Stop when the detector reports `overfitting`.
    pub stop_on_overfitting: bool,
    /// Stop when the detector reports `diverged` (a loss above the uniform guess or the
    /// step-0 loss).
    pub stop_on_divergence: bool,
    /// Stop when the detector reports `diverging` (validation and training loss climbing back
    /// above the validation loss's best).
    pub stop_on_diverging: bool,
    /// The run's final model is its best checkpoint.
    pub restore_best: bool,
}

impl Default for EarlyStoppingConfig {
    fn default() -> Self {
        Self {
            monitor: Metric::ValLoss,
            mode: Mode::Min,
            min_delta: 0.0,
            min_delta_rel: 0.0,
            patience: None,
            divergence_threshold: None,
            stopping_threshold: None,
            check_finite: true,
            start_from: 0,
            stop_on_overfitting: true,
            stop_on_divergence: true,
            stop_on_diverging: true,
            restore_best: true,
        }
    }
}

impl EarlyStoppingConfig {
    /// Refuses settings outside their ranges, naming the key.
    pub fn validate(&self) -> Result<(), String> {
        let key = |name: &str| format!("early_stopping.{name}");
        if !(self.min_delta >= 0.0 && self.min_delta.is_finite()) {
            return Err(format!(
                "{} = {} must be a number ≥ 0",
                key("min_delta"),
                self.min_delta
            ));
        }
        if !(0.0..1.0).contains(&self.min_delta_rel) {
            return Err(format!(
                "{} = {} must be in [0, 1)",
                key("min_delta_rel"),
                self.min_delta_rel
            ));
        }
        if self.patience == Some(0) {
            return Err(format!("{} must be at least 1 when set", key("patience")));
        }
        for (name, v) in [
            ("divergence_threshold", self.divergence_threshold),
            ("stopping_threshold", self.stopping_threshold),
        ] {
            if let Some(v) = v
                && !v.is_finite()
            {
                return Err(format!("{} = {v} must be a finite number", key(name)));
            }
        }
        Ok(())
    }
}

/// Why early stopping ended a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopCause {
    /// `patience` evaluations without improvement.
    Patience,
    /// The metric became worse than `divergence_threshold`.
    DivergenceThreshold,
    /// The metric reached `stopping_threshold`.
    StoppingThreshold,
    /// The metric is NaN or infinite.
    NonFinite,
    /// The detector saw validation loss rise while training loss fell.
    Overfitting,
    /// The detector saw a loss above the uniform guess or the step-0 loss.
    Diverged,
    /// The detector saw validation and training loss climb back above the best.
    Diverging,
}

/// A decision to stop, with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopDecision {
    /// Why.
    pub cause: StopCause,
    /// The step of the evaluation that decided it.
    pub step: u64,
    /// The numbers behind it.
    pub evidence: String,
}

impl Metric {
    /// The snake_case name used in configs and files.
    pub fn name(self) -> &'static str {
        match self {
            Metric::ValLoss => "val_loss",
            Metric::ValPpl => "val_ppl",
            Metric::TrainLoss => "train_loss",
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl StopCause {
    /// The snake_case name used in `summary.json` and logs.
    pub fn name(self) -> &'static str {
        match self {
            StopCause::Patience => "patience",
            StopCause::DivergenceThreshold => "divergence_threshold",
            StopCause::StoppingThreshold => "stopping_threshold",
            StopCause::NonFinite => "non_finite",
            StopCause::Overfitting => "overfitting",
            StopCause::Diverged => "diverged",
            StopCause::Diverging => "diverging",
        }
    }
}

impl fmt::Display for StopCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for StopDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.cause, self.evidence)
    }
}

/// Decides, evaluation by evaluation, whether a run should stop. Serialisable, so a resumed
/// run keeps its patience count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    config: EarlyStoppingConfig,
    best: Option<f64>,
    wait: usize,
    seen: usize,
}

impl EarlyStopping {
    /// Early stopping with the given settings.
    pub fn new(config: EarlyStoppingConfig) -> Self {
        Self {
            config,
            best: None,
            wait: 0,
            seen: 0,
        }
    }

    /// The settings.
    pub fn config(&self) -> &EarlyStoppingConfig {
        &self.config
    }

    /// Looks at one evaluation: the watched metric's `value` and the detectors' `verdict`.
    pub fn on_eval(&mut self, step: u64, value: f64, verdict: &Verdict) -> Option<StopDecision> {
        let c = &self.config;
        let stop = |cause, evidence: String| {
            Some(StopDecision {
                cause,
                step,
                evidence,
            })
        };
        self.seen += 1;
        if c.check_finite && !value.is_finite() {
            return stop(StopCause::NonFinite, format!("{} is {value}", c.monitor));
        }
        if self.seen <= c.start_from {
            return None;
        }
        let better = |a: f64, b: f64| match c.mode {
            Mode::Min => a < b,
            Mode::Max => a > b,
        };
        if let Some(target) = c.stopping_threshold
            && (value == target || better(value, target))
        {
            return stop(
                StopCause::StoppingThreshold,
                format!("{} = {value:.4} reached the target {target}", c.monitor),
            );
        }
        if let Some(limit) = c.divergence_threshold
            && better(limit, value)
        {
            return stop(
                StopCause::DivergenceThreshold,
                format!("{} = {value:.4} is worse than the limit {limit}", c.monitor),
            );
        }
        if c.stop_on_divergence
            && let Some(s) = verdict.find(SignalKind::Diverged)
        {
            return stop(StopCause::Diverged, s.evidence.clone());
        }
        if c.stop_on_diverging
            && let Some(s) = verdict.find(SignalKind::Diverging)
        {
            return stop(StopCause::Diverging, s.evidence.clone());
        }
        if c.stop_on_overfitting
            && let Some(s) = verdict.find(SignalKind::Overfitting)
        {
            return stop(StopCause::Overfitting, s.evidence.clone());
        }
        let improved = match self.best {
            None => true,
            Some(best) => {
                let delta = c.min_delta.max(c.min_delta_rel * best.abs());
                match c.mode {
                    Mode::Min => value < best - delta,
                    Mode::Max => value > best + delta,
                }
            }
        };
        if improved {
            self.best = Some(value);
            self.wait = 0;
            return None;
        }
        self.wait += 1;
        match c.patience {
            Some(patience) if self.wait >= patience => stop(
                StopCause::Patience,
                format!(
                    "{} has not improved on {:.4} for {} evaluations",
                    c.monitor,
                    self.best.unwrap_or(f64::NAN),
                    self.wait
                ),
            ),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
