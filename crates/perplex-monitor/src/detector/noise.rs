//! How noisy a run's validation loss is, estimated from its own curve: a trainer that
//! evaluates on a few batches (batch size 2, ten batches) scatters its validation loss by
//! hundredths or tenths of a nat, and a rise of that size is noise, not a trend.
//!
//! Each evaluation is compared with the mean of its two neighbours, `r = v[i] − (v[i−1] +
//! v[i+1]) / 2`, which a smooth trend nearly cancels and independent noise of spread σ leaves
//! with spread σ·√1.5. The median of |r| over the recent evaluations, scaled to a standard
//! deviation (×1.4826), is robust to the one evaluation where the curve turns.

use super::EvalPoint;
use super::spikes::{MAD_TO_SIGMA, median_of};

/// Evaluations the estimate looks back over.
const WINDOW: usize = 64;
/// Residuals needed before an estimate is given: a short curve is mostly its early bend,
/// which the neighbours' mean does not cancel, so below a dozen evaluations the noise is
/// not estimated (and the margins stay the configured ones).
const MIN_RESIDUALS: usize = 10;

/// The standard deviation of the validation loss's evaluation noise, nats, from the last
/// evaluations of `evals`; `None` with fewer than twelve finite evaluations.
pub(super) fn val_noise(evals: &[EvalPoint]) -> Option<f64> {
    let vals: Vec<f64> = evals
        .iter()
        .map(|p| p.val_loss)
        .filter(|v| v.is_finite())
        .collect();
    let recent = &vals[vals.len().saturating_sub(WINDOW)..];
    let residuals: Vec<f64> = recent
        .windows(3)
        .map(|w| (w[1] - 0.5 * (w[0] + w[2])).abs())
        .collect();
    if residuals.len() < MIN_RESIDUALS {
        return None;
    }
    Some(MAD_TO_SIGMA * median_of(residuals) / 1.5f64.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evals(vals: &[f64]) -> Vec<EvalPoint> {
        vals.iter()
            .enumerate()
            .map(|(i, &v)| EvalPoint {
                step: i as u64,
                val_loss: v,
                train_loss: v,
                train_eval_loss: None,
                lr: None,
            })
            .collect()
    }

    #[test]
    fn a_smooth_curve_has_almost_no_noise_and_a_scattered_one_has_its_own() {
        let smooth: Vec<f64> = (1..30).map(|i| 3.0 + 2.0 / (i as f64).sqrt()).collect();
        let sigma = val_noise(&evals(&smooth)).unwrap();
        assert!(sigma < 0.002, "{sigma}");
        // The same curve with ±0.1 alternating: |r| = 0.2 at every point.
        let noisy: Vec<f64> = smooth
            .iter()
            .enumerate()
            .map(|(i, v)| v + if i % 2 == 0 { 0.1 } else { -0.1 })
            .collect();
        let sigma = val_noise(&evals(&noisy)).unwrap();
        assert!((0.2..0.3).contains(&sigma), "{sigma}");
        assert_eq!(val_noise(&evals(&smooth[..11])), None);
    }
}
