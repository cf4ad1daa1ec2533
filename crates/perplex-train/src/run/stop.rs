//! When the loop stops, decided in one place from plain numbers: a non-finite step at once;
//! after a step, early stopping's decision, then the time budget, an interrupt, the last
//! step. Every answer is a [`StopDecision`] with its evidence, carried into `summary.json`.

use perplex_monitor::{StopDecision, StopReason};

use crate::trainer::StepStats;

/// What the loop knows after a finished (finite) step.
#[derive(Debug, Clone, Default)]
pub(super) struct AfterStep {
    /// Optimizer steps completed.
    pub step: u64,
    /// The run's last step.
    pub max_steps: u64,
    /// Early stopping's decision at this step's evaluation, if it made one.
    pub early_stop: Option<StopDecision>,
    /// Wall-clock seconds of the run so far (across resumes).
    pub wall_s: f64,
    /// `train.time_budget_s`, when set.
    pub budget_s: Option<f64>,
    /// Whether SIGINT or SIGTERM asked the run to stop.
    pub interrupted: bool,
}

impl AfterStep {
    /// Whether the time budget is spent (the loop then evaluates before stopping).
    pub fn budget_spent(&self) -> bool {
        self.budget_s.is_some_and(|budget| self.wall_s >= budget)
    }
}

/// A step whose loss or gradient norm is NaN or infinite stops the run before its update
/// counts for anything.
pub(super) fn non_finite(step: u64, stats: &StepStats) -> Option<StopDecision> {
    (!stats.is_finite()).then(|| StopDecision {
        reason: StopReason::NonFinite,
        step,
        evidence: format!(
            "training loss {} and gradient norm {} at step {step}",
            stats.loss, stats.grad_norm
        ),
    })
}

/// Whether the run stops after a finite step, and why: early stopping's decision first, then
/// the time budget, the interrupt, and the last step.
pub(super) fn after_step(mut now: AfterStep) -> Option<StopDecision> {
    if let Some(decision) = now.early_stop.take() {
        return Some(decision);
    }
    let decide = |reason, evidence: String| {
        Some(StopDecision {
            reason,
            step: now.step,
            evidence,
        })
    };
    if now.budget_spent() {
        decide(
            StopReason::TimeBudget,
            format!(
                "{:.0} s of wall time used of a {:.0} s budget",
                now.wall_s,
                now.budget_s.unwrap_or(f64::NAN)
            ),
        )
    } else if now.interrupted {
        decide(StopReason::Interrupted, "SIGINT or SIGTERM".into())
    } else if now.step >= now.max_steps {
        decide(
            StopReason::MaxSteps,
            format!("all {} steps ran", now.max_steps),
        )
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(step: u64) -> AfterStep {
        AfterStep {
            step,
            max_steps: 100,
            wall_s: 10.0,
            ..AfterStep::default()
        }
    }

    fn reason(now: AfterStep) -> Option<StopReason> {
        after_step(now).map(|d| d.reason)
    }

    #[test]
    fn a_step_stops_only_for_its_reasons_in_their_order() {
        let early = StopDecision {
            reason: StopReason::Overfitting,
            step: 50,
            evidence: "val rose".into(),
        };
        let everything = AfterStep {
            early_stop: Some(early.clone()),
            budget_s: Some(5.0),
            interrupted: true,
            ..at(100)
        };
        assert_eq!(after_step(everything.clone()), Some(early));
        let no_early = AfterStep {
            early_stop: None,
            ..everything
        };
        assert_eq!(reason(no_early.clone()), Some(StopReason::TimeBudget));
        let budget_left = AfterStep {
            budget_s: Some(60.0),
            ..no_early
        };
        assert_eq!(reason(budget_left.clone()), Some(StopReason::Interrupted));
        let not_interrupted = AfterStep {
            interrupted: false,
            ..budget_left
        };
        assert_eq!(reason(not_interrupted.clone()), Some(StopReason::MaxSteps));
        assert_eq!(
            reason(AfterStep {
                step: 99,
                ..not_interrupted
            }),
            None
        );
    }

    #[test]
    fn a_non_finite_loss_or_gradient_stops_and_a_finite_step_does_not() {
        let stats = |loss, grad_norm| StepStats {
            loss,
            grad_norm,
            lr: 1e-3,
        };
        assert_eq!(non_finite(3, &stats(4.0, 1.0)), None);
        for bad in [stats(f64::NAN, 1.0), stats(4.0, f64::INFINITY)] {
            let d = non_finite(3, &bad).unwrap();
            assert_eq!((d.reason, d.step), (StopReason::NonFinite, 3));
        }
    }

    #[test]
    fn the_budget_counts_as_spent_at_its_last_second() {
        let budget = |wall_s| AfterStep {
            wall_s,
            budget_s: Some(10.0),
            ..at(1)
        };
        assert!(!budget(9.99).budget_spent());
        assert!(budget(10.0).budget_spent());
        assert!(!at(1).budget_spent(), "no budget, never spent");
    }
}
