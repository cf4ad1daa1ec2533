//! The detectors' thresholds (`[monitor.detectors]` in a run config), their defaults and the
//! ranges they must lie in.

use serde::{Deserialize, Serialize};

use crate::setting::OutOfRange;

/// Thresholds of the detectors. Losses are mean NLL per token in nats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectorConfig {
    /// Evaluations reported as `warming_up` before any judgement of the trend.
    pub warmup_evals: usize,
    /// An improvement smaller than this many nats does not count.
    pub min_delta: f64,
    /// Nor one smaller than this fraction of the best loss.
    pub min_delta_rel: f64,
    /// Evaluations without improvement before `plateau`.
    pub patience: usize,
    /// Consecutive evaluations of rising validation loss with falling training loss before
    /// `overfitting`.
    pub divergence_evals: usize,
    /// `overfitting` also when val − eval-mode train loss exceeds this many nats.
    pub max_gap: Option<f64>,
    /// `leak_suspected` when val is below the eval-mode train loss by more than this many nats.
    /// The train slice is a fixed sample (16,384 tokens by default) whose difficulty differs
    /// from the split's by a few hundredths of a nat: a clean BPE run of PTB sat 0.055 below
    /// it at two evaluations, so the margin is 0.1.
    pub leak_margin: f64,
    /// `leak_suspected` when val falls by more than this fraction in one evaluation after
    /// warm-up.
    pub leak_drop: f64,
    /// `unstable` when a training loss is this many robust standard deviations (1.4826 × the
    /// median absolute deviation) above the median of the recent steps.
    pub spike_z: f64,
    /// `unstable` also when a training loss is at least this many times the recent median
    /// (0: off).
    pub spike_ratio: f64,
    /// Training steps in the window the spike statistics are taken over.
    pub spike_window: usize,
    /// `diverged` when the validation loss is more than this many nats above the uniform
    /// guess (ln V) or the model's step-0 loss, or the mean training loss since the previous
    /// evaluation above the higher of the two.
    pub diverge_margin: f64,
    /// `diverging` when the validation loss has stayed more than this many nats above its
    /// best for `rise_evals` evaluations while the training loss rose too. The shipped healthy
    /// runs never sat more than 0.0032 nats above their best, a noisy one (batch 4) 0.015
    /// (the README lists them); an overshooting warm-up passed 0.1 three evaluations after its
    /// plateau began.
    pub rise_margin: f64,
    /// Consecutive evaluations past `rise_margin` before `diverging`.
    pub rise_evals: usize,
    /// `stalled` when, from this evaluation on, the best validation loss is not below the
    /// unigram baseline and its last fall, repeated this many times, would not get it there
    /// (0: never).
    pub stall_evals: usize,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            warmup_evals: 1,
            min_delta: 0.0,
            min_delta_rel: 1e-3,
            patience: 3,
            divergence_evals: 2,
            max_gap: None,
            leak_margin: 0.1,
            leak_drop: 0.3,
            spike_z: 6.0,
            spike_ratio: 1.5,
            spike_window: 50,
            diverge_margin: 0.1,
            rise_margin: 0.1,
            rise_evals: 2,
            stall_evals: 3,
        }
    }
}

impl DetectorConfig {
    /// Refuses thresholds outside their ranges, naming the key.
    pub fn validate(&self) -> Result<(), OutOfRange> {
        let key = |name: &str| format!("monitor.detectors.{name}");
        let non_negative = [
            ("min_delta", self.min_delta),
            ("leak_margin", self.leak_margin),
            ("diverge_margin", self.diverge_margin),
            ("rise_margin", self.rise_margin),
        ];
        for (name, v) in non_negative {
            OutOfRange::check(v >= 0.0 && v.is_finite(), key(name), v, "a number ≥ 0")?;
        }
        for (name, v) in [
            ("min_delta_rel", self.min_delta_rel),
            ("leak_drop", self.leak_drop),
        ] {
            OutOfRange::check((0.0..1.0).contains(&v), key(name), v, "in [0, 1)")?;
        }
        let z = self.spike_z;
        OutOfRange::check(z > 0.0 && z.is_finite(), key("spike_z"), z, "> 0")?;
        let ratio = self.spike_ratio;
        OutOfRange::check(
            ratio == 0.0 || (ratio > 1.0 && ratio.is_finite()),
            key("spike_ratio"),
            ratio,
            "> 1, or 0 (off)",
        )?;
        if let Some(gap) = self.max_gap {
            OutOfRange::check(gap > 0.0 && gap.is_finite(), key("max_gap"), gap, "> 0")?;
        }
        let window = self.spike_window;
        OutOfRange::check(window >= 2, key("spike_window"), window, "at least 2")?;
        for (name, n) in [
            ("divergence_evals", self.divergence_evals),
            ("patience", self.patience),
            ("rise_evals", self.rise_evals),
        ] {
            OutOfRange::check(n >= 1, key(name), n, "at least 1")?;
        }
        Ok(())
    }
}
