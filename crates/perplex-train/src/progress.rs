//! What a run has measured so far that is not a tensor: the loss since the last log, the
//! timers and the monitor's memory (which holds the best evaluation). Saved in `state.bin`
//! so a resumed run continues every number where it stopped.

use perplex_monitor::{Monitor, NllSum};
use serde::{Deserialize, Serialize};

/// The training loss since the last train record and the seconds its steps took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LossWindow {
    /// Summed training NLL (nats) and token count.
    pub loss: NllSum,
    /// Seconds spent in those steps.
    pub seconds: f64,
}

impl LossWindow {
    /// Adds one step's mean loss (nats per token) over `tokens` tokens, taking `seconds`.
    pub fn add(&mut self, loss: f64, tokens: u64, seconds: f64) {
        self.loss.add(loss * tokens as f64, tokens);
        self.seconds += seconds;
    }

    /// Training tokens per second over the window.
    pub fn tokens_per_s(&self) -> f64 {
        self.loss.tokens as f64 / self.seconds
    }
}

/// Everything about a run's progress that is not a tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Tokens predicted by a validation pass (0 before the first).
    pub val_tokens: u64,
    /// Training loss since the last train record.
    pub window: LossWindow,
    /// Seconds of the run so far (wall clock, across resumes), as of the last save.
    pub wall_s: f64,
    /// Seconds spent in training steps.
    pub train_s: f64,
    /// Seconds spent in evaluations.
    pub eval_s: f64,
    /// The monitor's memory: detectors, early stopping, health so far.
    pub monitor: Monitor,
}

impl Progress {
    /// The progress of a run that has not started, watched by `monitor`.
    pub fn new(monitor: Monitor) -> Self {
        Self {
            val_tokens: 0,
            window: LossWindow::default(),
            wall_s: 0.0,
            train_s: 0.0,
            eval_s: 0.0,
            monitor,
        }
    }
}

#[cfg(test)]
mod tests {
    use perplex_monitor::{Baselines, DetectorConfig, EarlyStoppingConfig};

    use super::*;

    /// state.bin keeps the progress as JSON: every f64 must come back with the same bits, or
    /// a run resumed twice drifts in the last digit (serde_json's default parser reads some
    /// values one ulp off; perplex enables its `float_roundtrip`).
    #[test]
    fn progress_read_back_from_its_json_keeps_every_f64_bit_for_bit() {
        let monitor = Monitor::new(
            DetectorConfig::default(),
            EarlyStoppingConfig::default(),
            Baselines::default(),
        );
        let mut progress = Progress::new(monitor);
        // A value the default parser reads back as 1.2469135802746911.
        progress.window.loss.nats = 4.987654321098765 / 4.0;
        progress.window.seconds = 0.1 + 0.2;
        progress.train_s = 1e-7 / 3.0;
        let back: Progress =
            serde_json::from_slice(&serde_json::to_vec(&progress).unwrap()).unwrap();
        assert_eq!(
            back.window.loss.nats.to_bits(),
            progress.window.loss.nats.to_bits()
        );
        assert_eq!(back, progress);
    }
}
