//! `overfitting` while it forms: the validation loss rising evaluation after evaluation while
//! the training loss falls (or the gap between them past a set bound). Once the rise has
//! gone on, [`super::rise`] keeps the state named for as long as it lasts.

use super::{Detector, EvalPoint};

/// Rises in a row that are a trend in any log, whatever its noise: four in a row happen by
/// chance in one of 120 windows of a flat, noisy curve.
const LONG_RISE: usize = 4;

impl Detector {
    /// Validation loss rising for `divergence_evals` consecutive evaluations while the training
    /// loss fell over the same span.
    pub(super) fn divergence(&self) -> Option<String> {
        let k = self.config.divergence_evals.max(1);
        if self.evals.len() < k + 1 {
            return None;
        }
        let span = &self.evals[self.evals.len() - k - 1..];
        // A foreign log's rise must also clear its own noise (two rises in a row are a
        // one-in-six chance in a flat, noisy stretch), unless it has gone on for
        // `LONG_RISE` evaluations (one in 120).
        let val_rising = span.windows(2).all(|w| w[1].val_loss > w[0].val_loss)
            && (span[k].val_loss - span[0].val_loss
                > self.noise_floor(3.0 * std::f64::consts::SQRT_2)
                || self.rises_in_a_row() >= LONG_RISE);
        let train = |p: &EvalPoint| p.train_eval_loss.unwrap_or(p.train_loss);
        let train_falling = train(&span[k]) < train(&span[0]);
        (val_rising && train_falling).then(|| {
            format!(
                "val loss rose {k} evaluations in a row ({:.4} → {:.4}) while train loss fell \
                 ({:.4} → {:.4})",
                span[0].val_loss,
                span[k].val_loss,
                train(&span[0]),
                train(&span[k])
            )
        })
    }

    /// How many evaluations in a row the validation loss has risen, up to the last one.
    pub(super) fn rises_in_a_row(&self) -> usize {
        self.evals
            .windows(2)
            .rev()
            .take_while(|w| w[1].val_loss > w[0].val_loss)
            .count()
    }

    /// The gap val − eval-mode train past `max_gap`, when both are set.
    pub(super) fn gap_past_bound(&self, point: &EvalPoint) -> Option<String> {
        let (gap, bound) = (point.gap()?, self.config.max_gap?);
        (gap > bound).then(|| {
            format!(
                "generalisation gap {gap:.4} nats (val {:.4} − eval-mode train {:.4}) is past \
                 the bound {bound}",
                point.val_loss,
                point.train_eval_loss.unwrap_or(f64::NAN)
            )
        })
    }
}
