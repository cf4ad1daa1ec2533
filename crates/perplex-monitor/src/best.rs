//! "Best so far", decided once: [`Best`] is the evaluation with the lowest finite validation
//! loss (the first one, on a tie), read from the monitor's one list of evaluations; and
//! [`beats`] is the one rule for "better by more than a minimum change" that the plateau
//! detector and early stopping's patience both apply against it.

use serde::{Deserialize, Serialize};

/// The best evaluation so far: where the `best` checkpoint was saved.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Best {
    /// Optimizer steps completed at that evaluation.
    pub step: u64,
    /// Its mean validation NLL per token, nats.
    pub val_loss: f64,
}

impl Best {
    /// The best of `(step, val loss)` evaluations: see [`best_index`].
    pub fn of(evals: impl IntoIterator<Item = (u64, f64)>) -> Option<Best> {
        let evals: Vec<_> = evals.into_iter().collect();
        let i = best_index(evals.iter().map(|&(_, loss)| loss))?;
        let (step, val_loss) = evals[i];
        Some(Best { step, val_loss })
    }
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
        let evals = [
            (100, 5.0),
            (200, f64::NAN),
            (300, 4.0),
            (400, 4.0),
            (500, 4.5),
        ];
        assert_eq!(
            Best::of(evals),
            Some(Best {
                step: 300,
                val_loss: 4.0
            })
        );
        assert_eq!(Best::of([(1, f64::INFINITY)]), None);
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
