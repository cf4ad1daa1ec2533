//! `unstable`: a training loss far above the recent ones, judged against a robust level (the
//! median, and the median absolute deviation as the spread), so a run that bounces between
//! 20 and 80 nats cannot average its own spikes into its threshold.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::DetectorConfig;

/// 1.4826 × MAD estimates the standard deviation of normally distributed values.
pub(super) const MAD_TO_SIGMA: f64 = 1.4826;

/// The last `spike_window` training losses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct RecentLosses {
    losses: VecDeque<f64>,
}

impl RecentLosses {
    /// Whether no loss has been seen.
    pub(super) fn is_empty(&self) -> bool {
        self.losses.is_empty()
    }

    /// Judges `loss` (nats) against the window once it holds `needed` losses, then adds it;
    /// the evidence of a spike.
    pub(super) fn judge_and_push(
        &mut self,
        loss: f64,
        needed: usize,
        config: &DetectorConfig,
    ) -> Option<String> {
        let window = config.spike_window.max(2);
        let evidence = (self.losses.len() >= needed.max(2))
            .then(|| self.spike(loss, config))
            .flatten();
        self.losses.push_back(loss);
        if self.losses.len() > window {
            self.losses.pop_front();
        }
        evidence
    }

    fn spike(&self, loss: f64, config: &DetectorConfig) -> Option<String> {
        let values: Vec<f64> = self.losses.iter().copied().collect();
        let median = median(&values);
        let deviations: Vec<f64> = values.iter().map(|v| (v - median).abs()).collect();
        let spread = MAD_TO_SIGMA * median_of(deviations);
        let n = values.len();
        let z = (loss - median) / spread;
        if spread > 0.0 && z > config.spike_z {
            return Some(format!(
                "training loss {loss:.4} is {z:.1} robust standard deviations above the median \
                 of the last {n} steps ({median:.4}, spread {spread:.4})"
            ));
        }
        let ratio = loss / median;
        (config.spike_ratio > 0.0 && median > 0.0 && ratio >= config.spike_ratio).then(|| {
            format!(
                "training loss {loss:.4} is {ratio:.2}× the median of the last {n} steps \
                 ({median:.4})"
            )
        })
    }
}

fn median(values: &[f64]) -> f64 {
    median_of(values.to_vec())
}

/// The median of `values` (NaN for none).
pub(super) fn median_of(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => values[n / 2],
        _ => 0.5 * (values[n / 2 - 1] + values[n / 2]),
    }
}
