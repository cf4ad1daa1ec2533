//! The trainer's side of the monitor: feeds perplex-monitor's detectors and early stopping
//! with a run's numbers, and keeps what they need across a resume.

use perplex_monitor::health::{eval_health, run_health};
use perplex_monitor::{
    Detector, EarlyStopping, EvalPoint, NllSum, Reading, Sample, Signal, SignalKind, StopDecision,
    stopping::Metric,
};
use serde::{Deserialize, Serialize};

use crate::RunConfig;

/// What the monitor remembers between evaluations (saved in `state.bin`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Watch {
    detector: Detector,
    stopping: EarlyStopping,
    /// Training loss of the steps since the previous evaluation.
    since_eval: NllSum,
    /// `unstable` spikes since the previous evaluation.
    spikes: usize,
    /// Health of each evaluation, and whether it was warm-up.
    healths: Vec<(f64, bool)>,
}

/// What one evaluation measured, before the monitor reads it.
pub struct EvalNumbers {
    /// Optimizer steps completed.
    pub step: u64,
    /// The validation pass.
    pub val: NllSum,
    /// Characters of the validation text.
    pub val_chars: u64,
    /// The eval-mode pass over the fixed train slice.
    pub train_eval: NllSum,
    /// Generated samples.
    pub samples: Vec<Sample>,
}

impl Watch {
    /// A fresh monitor for `config`.
    pub fn new(config: &RunConfig) -> Self {
        Self {
            detector: Detector::new(config.monitor.detectors.clone()),
            stopping: EarlyStopping::new(config.early_stopping.clone()),
            since_eval: NllSum::default(),
            spikes: 0,
            healths: Vec::new(),
        }
    }

    /// Reads one training step's loss (nats); returns an `unstable` or `non_finite` signal.
    pub fn on_step(&mut self, step: u64, loss: f64, tokens: u64) -> Option<Signal> {
        if loss.is_finite() {
            self.since_eval.add(loss * tokens as f64, tokens);
        }
        let signal = self.detector.on_train_step(step, loss);
        if signal
            .as_ref()
            .is_some_and(|s| s.kind == SignalKind::Unstable)
        {
            self.spikes += 1;
        }
        signal
    }

    /// Reads one evaluation: the signals, the health, and whether early stopping says stop.
    pub fn on_eval(&mut self, n: EvalNumbers) -> (Reading, Option<StopDecision>) {
        let train_loss = self.since_eval.mean();
        let point = EvalPoint {
            step: n.step,
            val_loss: n.val.mean(),
            train_loss,
            train_eval_loss: Some(n.train_eval.mean()),
        };
        let mut signals = self.detector.on_eval(point);
        signals.extend(self.detector.on_samples(n.step, &n.samples));
        let gap = point.gap().unwrap_or(f64::NAN);
        let health = eval_health(&signals, point.gap(), self.spikes);
        let warming = signals[0].kind == SignalKind::WarmingUp;
        self.healths.push((health, warming));
        let watched = match self.stopping.config().monitor {
            Metric::ValLoss => point.val_loss,
            Metric::ValPpl => n.val.perplexity(),
            Metric::TrainLoss => train_loss,
        };
        let decision = self.stopping.on_eval(n.step, watched, &signals);
        self.since_eval = NllSum::default();
        self.spikes = 0;
        let reading = Reading {
            bits_per_token: n.val.bits_per_token(),
            bits_per_char: n.val.nats / std::f64::consts::LN_2 / n.val_chars.max(1) as f64,
            train_loss,
            train_eval_loss: n.train_eval.mean(),
            gap,
            health,
            signals,
            samples: n.samples,
        };
        (reading, decision)
    }

    /// The run's health so far (mean over evaluations after warm-up).
    pub fn run_health(&self) -> Option<f64> {
        run_health(&self.healths)
    }

    /// Whether the final model should be the best checkpoint.
    pub fn restore_best(&self) -> bool {
        self.stopping.config().restore_best
    }
}
