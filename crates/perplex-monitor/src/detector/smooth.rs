//! A rise above the best, read through a noisy foreign log. Against the single lowest
//! evaluation of a noisy curve every later one looks risen: the minimum of many noisy
//! values sits a few noise deviations below the curve. So the curve is read as trailing
//! means of [`WINDOW`] evaluations (levels), and a level counts as risen only past the
//! selection bias of the lowest level plus three of its deviations.

use super::{Detector, EvalPoint};

/// Evaluations averaged into one level.
const WINDOW: usize = 4;

/// A validation loss risen above its best, with what the training loss did meanwhile.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rise {
    /// The evaluation at the best (the last of the lowest level's window for a noisy log).
    pub at_best: EvalPoint,
    /// The validation loss the rise is measured at (the current level for a noisy log).
    pub val_now: f64,
    /// The validation loss at the best (the lowest level for a noisy log).
    pub val_best: f64,
    /// How far above the best counts as risen, nats.
    pub margin: f64,
    /// The training loss at the best and now (levels for a noisy log).
    pub train_then: f64,
    /// See `train_then`.
    pub train_now: f64,
}

impl Detector {
    /// The rise of a foreign log whose noise is known: the last `rise_evals` levels all above
    /// the lowest level by more than the threshold.
    pub(super) fn noisy_rise(&self, sigma: f64) -> Option<Rise> {
        let vals: Vec<f64> = self.evals.iter().map(|p| p.val_loss).collect();
        let trains: Vec<f64> = self.evals.iter().map(train).collect();
        let levels = trailing_means(&vals);
        if levels.len() < 2 {
            return None;
        }
        let (best, &lowest) = levels
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .min_by(|a, b| a.1.total_cmp(b.1))?;
        let sigma_level = sigma / (WINDOW as f64).sqrt();
        let blocks = (levels.len() as f64 / WINDOW as f64).max(2.0);
        let bias = sigma_level * (2.0 * blocks.ln()).sqrt();
        let margin = self.config.rise_margin.max(bias + 3.0 * sigma_level);
        let k = self.config.rise_evals.max(1);
        let n = levels.len();
        let risen = n > k && levels[n - k..].iter().all(|&l| l > lowest + margin);
        let train_levels = trailing_means(&trains);
        risen.then(|| Rise {
            at_best: self.evals[best + WINDOW - 1],
            val_now: levels[n - 1],
            val_best: lowest,
            margin,
            train_then: train_levels[best],
            train_now: train_levels[n - 1],
        })
    }
}

/// The eval-mode train loss when measured, else the mean training loss since the previous
/// evaluation.
pub(super) fn train(p: &EvalPoint) -> f64 {
    p.train_eval_loss.unwrap_or(p.train_loss)
}

/// Means of each [`WINDOW`] consecutive values, ending at each value from the
/// `WINDOW`-th on (NaN where one of them is).
fn trailing_means(values: &[f64]) -> Vec<f64> {
    values
        .windows(WINDOW)
        .map(|w| w.iter().sum::<f64>() / WINDOW as f64)
        .collect()
}
