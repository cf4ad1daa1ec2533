//! One number for how a run is doing: a health score from 0 to 100.
//!
//! Per evaluation, from the signals it produced:
//!
//! ```text
//! health = 0                                  if the state is non_finite or diverged, else
//!          trend      (40: healthy, 30: warming_up, 20: plateau, 10: stalled,
//!                      0: overfitting or diverging)
//!        + gap        (20 · clamp(1 − max(0, gap − 0.1) / 1.0, 0, 1); 15 when the gap is unknown)
//!        + stability  (20 − 5 per `unstable` spike since the previous evaluation, at least 0;
//!                      a one-step blip costs nothing unless three come between evaluations)
//!        + leakage    (10, or 0 with leak_suspected)
//!        + repetition (10, or 0 with degenerate_samples)
//!        − regression (overfitting or diverging: 40 · min(1, rise / 1 nat), at most the rest)
//! ```
//!
//! `gap` is val − eval-mode train loss in nats: up to 0.1 costs nothing, a full nat of
//! memorisation costs all 20 points. `rise` is how far the validation loss is above its best,
//! in nats: an overfitting or diverging run's health keeps falling as it gets worse than
//! it was. A run's health is the mean over its evaluations after
//! warm-up (or the last one, if all were warm-up).

use serde::{Deserialize, Serialize};

use crate::signal::{SignalKind, Verdict};

/// The health of one evaluation, and whether it was during warm-up (which the run's health
/// leaves out).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EvalHealth {
    /// Health score, 0–100.
    pub score: f64,
    /// Whether the evaluation's state was `warming_up`.
    pub warming_up: bool,
}

/// Health (0–100) of one evaluation from its `verdict`, the generalisation `gap` (nats) if
/// known, the number of `spikes` since the previous evaluation, and how far (`rise`, nats)
/// the validation loss is above its best.
pub fn eval_health(verdict: &Verdict, gap: Option<f64>, spikes: usize, rise: f64) -> f64 {
    let has = |kind| verdict.has(kind);
    if has(SignalKind::NonFinite) || has(SignalKind::Diverged) {
        return 0.0;
    }
    let trend = if has(SignalKind::Overfitting) || has(SignalKind::Diverging) {
        0.0
    } else if has(SignalKind::Stalled) {
        10.0
    } else if has(SignalKind::Plateau) {
        20.0
    } else if has(SignalKind::WarmingUp) {
        30.0
    } else {
        40.0
    };
    let gap = gap.map_or(15.0, |g| 20.0 * (1.0 - (g - 0.1).max(0.0)).clamp(0.0, 1.0));
    let stability = (20.0 - 5.0 * spikes as f64).max(0.0);
    let leakage = if has(SignalKind::LeakSuspected) {
        0.0
    } else {
        10.0
    };
    let repetition = if has(SignalKind::DegenerateSamples) {
        0.0
    } else {
        10.0
    };
    let total = trend + gap + stability + leakage + repetition;
    if has(SignalKind::Diverging) || has(SignalKind::Overfitting) {
        (total - 40.0 * rise.clamp(0.0, 1.0)).max(0.0)
    } else {
        total
    }
}

/// Health of a whole run: the mean over its evaluations after warm-up (or the last one, if
/// all were warm-up).
pub fn run_health(evals: &[EvalHealth]) -> Option<f64> {
    let judged: Vec<f64> = evals
        .iter()
        .filter(|e| !e.warming_up)
        .map(|e| e.score)
        .collect();
    if judged.is_empty() {
        return evals.last().map(|e| e.score);
    }
    Some(judged.iter().sum::<f64>() / judged.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::Signal;

    fn verdict(kinds: &[SignalKind]) -> Verdict {
        let sig = |kind| Signal::new(kind, 1, "");
        Verdict {
            state: sig(kinds[0]),
            alarms: kinds[1..].iter().map(|&k| sig(k)).collect(),
        }
    }

    #[test]
    fn the_formula_gives_its_documented_values() {
        use SignalKind::*;
        assert_eq!(eval_health(&verdict(&[Healthy]), Some(0.05), 0, 0.0), 100.0);
        assert_eq!(eval_health(&verdict(&[Healthy]), None, 0, 0.0), 95.0);
        assert_eq!(
            eval_health(&verdict(&[Plateau]), Some(0.6), 1, 0.0),
            20.0 + 10.0 + 15.0 + 20.0
        );
        assert_eq!(
            eval_health(&verdict(&[Overfitting, LeakSuspected]), Some(1.5), 5, 0.0),
            10.0
        );
        assert_eq!(eval_health(&verdict(&[NonFinite]), None, 0, 0.0), 0.0);
        assert_eq!(
            eval_health(&verdict(&[Diverged, Unstable]), Some(0.0), 0, 0.0),
            0.0
        );
        assert_eq!(eval_health(&verdict(&[Stalled]), Some(0.0), 0, 0.0), 70.0);
        // Diverging: no trend points, and 4 more lost per 0.1 nat above the best.
        let diverging = |rise| eval_health(&verdict(&[Diverging]), Some(0.0), 0, rise);
        assert_eq!(diverging(0.1), 56.0);
        assert_eq!(diverging(0.3), 48.0);
        assert_eq!(diverging(2.0), 20.0);
        // The rise costs nothing in other states.
        assert_eq!(eval_health(&verdict(&[Plateau]), Some(0.0), 0, 0.3), 80.0);
    }

    #[test]
    fn run_health_skips_warm_up() {
        let e = |score, warming_up| EvalHealth { score, warming_up };
        assert_eq!(
            run_health(&[e(85.0, true), e(100.0, false), e(60.0, false)]),
            Some(80.0)
        );
        assert_eq!(run_health(&[e(85.0, true)]), Some(85.0));
        assert_eq!(run_health(&[]), None);
    }
}
