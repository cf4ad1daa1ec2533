//! "Best so far", decided once: [`best_index`] picks the evaluation with the lowest finite
//! validation loss (the first one, on a tie) from the monitor's one list of evaluations, which
//! [`Best`] reports; and [`beats`] is the one rule for "better by more than a minimum change"
//! that the plateau detector and early stopping's patience both apply against it.

use serde::{Deserialize, Serialize};

/// The best evaluation so far: where the `best` checkpoint was saved.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Best {
    /// Optimizer steps completed at that evaluation.
    pub step: u64,
    /// Its mean validation NLL per token, nats.
    pub val_loss: f64,
}

/// Which of `losses` is the best: the lowest finite one, the earliest on a tie (a later
/// equal loss is no improvement); `None` when none is finite.
pub fn best_index(losses: impl IntoIterator<Item = f64>) -> Option<usize> {
    losses
        .into_iter()
        .enumerate()
        .filter(|(_, loss)| loss.is_finite())
        .fold(None, |best: Option<(usize, f64)>, (i, loss)| match best {
            Some((_, b)) if b <= loss => best,
            _ => Some((i, loss)),
        })
        .map(|(i, _)| i)
}

/// Whether `value` is better than `best` by more than `min_delta` (absolute, in the value's
/// units) and more than `min_delta_rel` of `|best|`; lower is better unless `higher_is_better`.
/// Anything finite beats no best at all.
pub fn beats(
    value: f64,
    best: Option<f64>,
    min_delta: f64,
    min_delta_rel: f64,
    higher_is_better: bool,
) -> bool {
    let Some(best) = best else {
        return value.is_finite();
    };
    let delta = min_delta.max(min_delta_rel * best.abs());
    if higher_is_better {
        value > best + delta
    } else {
        value < best - delta
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_is_the_first_lowest_finite_loss() {
        let losses = [5.0, f64::NAN, 4.0, 4.0, 4.5];
        assert_eq!(best_index(losses), Some(2));
        assert_eq!(best_index([f64::INFINITY, f64::NAN]), None);
    }

    #[test]
    fn an_improvement_must_clear_the_larger_of_the_two_deltas() {
        assert!(beats(4.9, Some(5.0), 0.0, 0.0, false));
        assert!(!beats(4.96, Some(5.0), 0.05, 0.0, false));
        assert!(!beats(4.96, Some(5.0), 0.0, 0.01, false), "1% of 5 is 0.05");
        assert!(beats(4.94, Some(5.0), 0.0, 0.01, false));
        assert!(beats(0.95, Some(0.9), 0.0, 0.0, true));
        assert!(beats(7.0, None, 0.0, 0.0, false));
        assert!(!beats(f64::NAN, None, 0.0, 0.0, false));
    }
}
