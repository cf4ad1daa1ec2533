//! Early stopping: the knobs of Lightning's and Keras's `EarlyStopping`, plus a stop on the
//! overfitting pattern that neither has.

mod reason;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use reason::{StopDecision, StopReason};

use crate::best::{beats, best_index};
use crate::names::UnknownName;
use crate::setting::OutOfRange;
use crate::signal::{SignalKind, Verdict};

/// Which number early stopping watches.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(into = "&'static str", try_from = "String")]
#[strum(serialize_all = "snake_case")]
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
    pub fn validate(&self) -> Result<(), OutOfRange> {
        let key = |name: &str| format!("early_stopping.{name}");
        let d = self.min_delta;
        OutOfRange::check(
            d >= 0.0 && d.is_finite(),
            key("min_delta"),
            d,
            "a number ≥ 0",
        )?;
        let rel = self.min_delta_rel;
        OutOfRange::check(
            (0.0..1.0).contains(&rel),
            key("min_delta_rel"),
            rel,
            "in [0, 1)",
        )?;
        if let Some(p) = self.patience {
            OutOfRange::check(p >= 1, key("patience"), p, "at least 1 when set")?;
        }
        for (name, v) in [
            ("divergence_threshold", self.divergence_threshold),
            ("stopping_threshold", self.stopping_threshold),
        ] {
            if let Some(v) = v {
                OutOfRange::check(v.is_finite(), key(name), v, "a finite number")?;
            }
        }
        Ok(())
    }
}

/// Decides, evaluation by evaluation, whether a run should stop. Serialisable, so a resumed
/// run keeps its patience count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    config: EarlyStoppingConfig,
    wait: usize,
    seen: usize,
}

impl EarlyStopping {
    /// Early stopping with the given settings.
    pub fn new(config: EarlyStoppingConfig) -> Self {
        Self {
            config,
            wait: 0,
            seen: 0,
        }
    }

    /// The settings.
    pub fn config(&self) -> &EarlyStoppingConfig {
        &self.config
    }

    /// Looks at one evaluation: the watched metric's `value`, its `best` over the earlier
    /// evaluations that are not ignored (the monitor keeps them; see
    /// [`EarlyStopping::watched_best`]), and the detectors' `verdict`.
    pub fn on_eval(
        &mut self,
        step: u64,
        value: f64,
        best: Option<f64>,
        verdict: &Verdict,
    ) -> Option<StopDecision> {
        let c = &self.config;
        let stop = |cause, evidence: String| {
            Some(StopDecision {
                reason: cause,
                step,
                evidence,
            })
        };
        self.seen += 1;
        if c.check_finite && !value.is_finite() {
            return stop(StopReason::NonFinite, format!("{} is {value}", c.monitor));
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
                StopReason::StoppingThreshold,
                format!("{} = {value:.4} reached the target {target}", c.monitor),
            );
        }
        if let Some(limit) = c.divergence_threshold
            && better(limit, value)
        {
            return stop(
                StopReason::DivergenceThreshold,
                format!("{} = {value:.4} is worse than the limit {limit}", c.monitor),
            );
        }
        if c.stop_on_divergence
            && let Some(s) = verdict.find(SignalKind::Diverged)
        {
            return stop(StopReason::Diverged, s.evidence.clone());
        }
        if c.stop_on_diverging
            && let Some(s) = verdict.find(SignalKind::Diverging)
        {
            return stop(StopReason::Diverging, s.evidence.clone());
        }
        if c.stop_on_overfitting
            && let Some(s) = verdict.find(SignalKind::Overfitting)
        {
            return stop(StopReason::Overfitting, s.evidence.clone());
        }
        if beats(
            value,
            best,
            c.min_delta,
            c.min_delta_rel,
            c.mode == Mode::Max,
        ) {
            self.wait = 0;
            return None;
        }
        self.wait += 1;
        match c.patience {
            Some(patience) if self.wait >= patience => stop(
                StopReason::Patience,
                format!(
                    "{} has not improved on {:.4} for {} evaluations",
                    c.monitor,
                    best.unwrap_or(f64::NAN),
                    self.wait
                ),
            ),
            _ => None,
        }
    }

    /// The best of the watched metric's `values` at earlier evaluations, oldest first: the
    /// first `start_from` are ignored, then the lowest (highest in `max` mode) finite one,
    /// by the rule that picks the best checkpoint.
    pub fn watched_best(&self, values: impl IntoIterator<Item = f64>) -> Option<f64> {
        let sign = match self.config.mode {
            Mode::Min => 1.0,
            Mode::Max => -1.0,
        };
        let values: Vec<f64> = values.into_iter().skip(self.config.start_from).collect();
        best_index(values.iter().map(|v| sign * v)).map(|i| values[i])
    }
}

impl Metric {
    /// The snake_case name used in configs and files.
    pub fn name(self) -> &'static str {
        self.into()
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl TryFrom<String> for Metric {
    type Error = UnknownName;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        crate::names::parse(&name, "metric")
    }
}

#[cfg(test)]
mod tests;
