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
/// (min), stop on NaN and on overfitting, never on patience alone, restore the best weights.
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
            restore_best: true,
        }
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
mod tests {
    use super::*;
    use crate::signal::Signal;

    fn run(config: EarlyStoppingConfig, values: &[f64]) -> Option<(usize, StopCause)> {
        let mut es = EarlyStopping::new(config);
        values.iter().enumerate().find_map(|(i, &v)| {
            es.on_eval(100 * (i as u64 + 1), v, &healthy(100 * (i as u64 + 1)))
                .map(|d| (i, d.cause))
        })
    }

    fn healthy(step: u64) -> Verdict {
        Verdict {
            state: Signal::new(SignalKind::Healthy, step, ""),
            alarms: Vec::new(),
        }
    }

    fn with(f: impl FnOnce(&mut EarlyStoppingConfig)) -> EarlyStoppingConfig {
        let mut c = EarlyStoppingConfig::default();
        f(&mut c);
        c
    }

    #[test]
    fn patience_counts_evaluations_without_improvement() {
        let values = [5.0, 4.0, 4.1, 4.2, 4.05, 3.9];
        assert_eq!(
            run(with(|c| c.patience = Some(3)), &values),
            Some((4, StopCause::Patience))
        );
        assert_eq!(run(with(|c| c.patience = Some(4)), &values), None);
        assert_eq!(
            run(EarlyStoppingConfig::default(), &values),
            None,
            "no patience by default"
        );
    }

    #[test]
    fn min_delta_absolute_and_relative_decide_what_counts_as_better() {
        let values = [5.0, 4.99, 4.98, 4.97];
        let abs = with(|c| {
            c.patience = Some(2);
            c.min_delta = 0.05;
        });
        assert_eq!(run(abs, &values), Some((2, StopCause::Patience)));
        let rel = with(|c| {
            c.patience = Some(2);
            c.min_delta_rel = 0.01; // 1% of 5.0 = 0.05
        });
        assert_eq!(run(rel, &values), Some((2, StopCause::Patience)));
        let none = with(|c| c.patience = Some(2));
        assert_eq!(
            run(none, &values),
            None,
            "every 0.01 counts without a delta"
        );
    }

    #[test]
    fn thresholds_stop_at_once_in_either_mode() {
        let falling = [6.0, 5.0, 4.0, 3.0];
        let target = with(|c| c.stopping_threshold = Some(4.0));
        assert_eq!(
            run(target, &falling),
            Some((2, StopCause::StoppingThreshold))
        );
        let limit = with(|c| c.divergence_threshold = Some(5.5));
        assert_eq!(
            run(limit, &falling),
            Some((0, StopCause::DivergenceThreshold))
        );
        let max_mode = with(|c| {
            c.mode = Mode::Max;
            c.stopping_threshold = Some(0.9);
        });
        assert_eq!(
            run(max_mode, &[0.5, 0.8, 0.95]),
            Some((2, StopCause::StoppingThreshold))
        );
    }

    #[test]
    fn non_finite_stops_unless_disabled_and_start_from_ignores_early_evals() {
        let values = [5.0, f64::NAN, 4.0];
        assert_eq!(
            run(EarlyStoppingConfig::default(), &values),
            Some((1, StopCause::NonFinite))
        );
        assert_eq!(run(with(|c| c.check_finite = false), &values), None);
        let late = with(|c| {
            c.start_from = 2;
            c.divergence_threshold = Some(5.5);
        });
        assert_eq!(
            run(late, &[9.0, 9.0, 5.0, 6.0]),
            Some((3, StopCause::DivergenceThreshold))
        );
    }

    #[test]
    fn the_overfitting_signal_stops_unless_disabled() {
        let overfit = Verdict {
            state: Signal::new(SignalKind::Overfitting, 300, "val rose"),
            alarms: Vec::new(),
        };
        let mut es = EarlyStopping::new(EarlyStoppingConfig::default());
        let decision = es.on_eval(300, 4.0, &overfit).unwrap();
        assert_eq!(decision.to_string(), "overfitting: val rose");
        let mut es = EarlyStopping::new(with(|c| c.stop_on_overfitting = false));
        assert!(es.on_eval(300, 4.0, &overfit).is_none());
    }
}
