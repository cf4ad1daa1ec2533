//! The monitor: one type that reads a run step by step and evaluation by evaluation, and
//! says what it sees, how healthy the run is and whether to stop. `perplex train` feeds it
//! from the training loop; `perplex watch` feeds it the rows of any log.

use serde::{Deserialize, Serialize};

use crate::baselines::Baselines;
use crate::best::{Best, best_index};
use crate::contamination::Contamination;
use crate::detector::{Detector, DetectorConfig, EvalPoint};
use crate::forecast::{Forecast, Schedule, forecast};
use crate::health::{EvalHealth, eval_health, run_health};
use crate::nll::NllSum;
use crate::samples::Sample;
use crate::signal::{Signal, SignalKind, Verdict};
use crate::stopping::{EarlyStopping, EarlyStoppingConfig, Metric, Mode, StopDecision};

/// One-step blips that make a cluster, counted as `unstable`: this many within
/// [`CLUSTER_SPAN`] training steps.
pub const CLUSTER: usize = 3;
/// The training steps (as logged) a cluster of blips falls within.
pub const CLUSTER_SPAN: u64 = 10;

/// What one evaluation measured, as the monitor reads it.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    /// Optimizer steps completed.
    pub step: u64,
    /// Mean validation NLL per token, nats.
    pub val_loss: f64,
    /// Eval-mode loss of a fixed train slice, nats, when measured.
    pub train_eval_loss: Option<f64>,
    /// Learning rate of the last step before the evaluation, when known.
    pub lr: Option<f64>,
    /// Samples generated at this evaluation (may be empty).
    pub samples: &'a [Sample],
}

/// The monitor's judgement of one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// The run's state and the alarms beside it.
    pub verdict: Verdict,
    /// Mean training loss of the steps since the previous evaluation (dropout on), nats per
    /// token (NaN when none was seen).
    pub train_loss: f64,
    /// Generalisation gap, val − eval-mode train loss, nats (when the latter was measured).
    pub gap: Option<f64>,
    /// Health score of this evaluation, 0–100.
    pub health: f64,
    /// Early stopping's decision, when it says stop.
    pub stop: Option<StopDecision>,
    /// Whether this evaluation is the best so far (its weights are the `best` checkpoint).
    pub is_best: bool,
    /// Where the validation loss is heading by the run's last step, or why no forecast.
    pub forecast: Forecast,
}

/// Reads a run's numbers. Serialisable, so a resumed run keeps what it has seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Monitor {
    detector: Detector,
    stopping: EarlyStopping,
    /// Training loss of the steps since the previous evaluation.
    since_eval: NllSum,
    /// `unstable` spikes since the previous evaluation that did not recover at the next step
    /// (or clustered: see [`CLUSTER`]).
    spikes: usize,
    /// One-step blips since the previous evaluation: a spike gone at the next step.
    #[serde(default)]
    blips: usize,
    /// A spike at the last step, not yet known to be a blip or the start of trouble.
    #[serde(default)]
    pending: Option<Signal>,
    /// The step of a spike that the last training step found still there.
    #[serde(default)]
    stayed: Option<u64>,
    /// Training steps seen (as logged), and the step counts of the last blips.
    #[serde(default)]
    steps_seen: u64,
    #[serde(default)]
    blip_at: Vec<u64>,
    /// Blips since the previous evaluation that closed a cluster.
    #[serde(default)]
    clustered: usize,
    /// The first spike since the previous evaluation, quoted by its `unstable` alarm.
    first_spike: Option<Signal>,
    /// Health of each evaluation so far.
    healths: Vec<EvalHealth>,
    /// What the data check found of the validation split in train, when a check ran.
    #[serde(default)]
    contamination: Option<Contamination>,
    /// The run's last step, which the forecast is made for (unknown for a foreign log).
    #[serde(default)]
    horizon: Option<u64>,
}

impl Monitor {
    /// A monitor with the detectors' thresholds and early stopping's settings, judging
    /// levels against `baselines`.
    pub fn new(
        detectors: DetectorConfig,
        stopping: EarlyStoppingConfig,
        baselines: Baselines,
    ) -> Self {
        Self {
            detector: Detector::new(detectors, baselines),
            stopping: EarlyStopping::new(stopping),
            since_eval: NllSum::default(),
            spikes: 0,
            blips: 0,
            pending: None,
            stayed: None,
            steps_seen: 0,
            blip_at: Vec::new(),
            clustered: 0,
            first_spike: None,
            healths: Vec::new(),
            contamination: None,
            horizon: None,
        }
    }

    /// Says whether the run is another trainer's (`perplex watch`): its advice then speaks
    /// the field's words (peak learning rate, warm-up, clipping), not perplex's config keys.
    pub fn set_foreign(&mut self, foreign: bool) {
        self.detector.set_foreign(foreign);
    }

    /// Sets the run's last step, which the forecast at each evaluation is made for.
    pub fn set_horizon(&mut self, max_steps: Option<u64>) {
        self.horizon = max_steps;
    }

    /// Tells the monitor what the data check found of the validation split in train. A
    /// `leak_suspected` alarm then quotes it, so the log says whether the corpus explains the
    /// alarm; past the check's threshold, every evaluation carries the alarm.
    pub fn set_contamination(&mut self, found: Option<Contamination>) {
        self.contamination = found;
    }

    /// Reads one training step's mean loss (nats per token) over `tokens` tokens (give 1 when
    /// the count is unknown: each step then weighs the same). Returns an `unstable` or
    /// `non_finite` signal when the step raises one.
    ///
    /// A spike is judged at the step after it: gone there, it was a one-step blip (counted,
    /// no alarm); still there, it is trouble (`unstable`). Both are returned as they happen.
    pub fn on_step(&mut self, step: u64, loss: f64, tokens: u64) -> Option<Signal> {
        if loss.is_finite() {
            self.since_eval.add(loss * tokens as f64, tokens);
        }
        let signal = self.detector.on_train_step(step, loss);
        self.steps_seen += 1;
        let spiked = signal.as_ref().filter(|s| s.kind == SignalKind::Unstable);
        self.stayed = None;
        match (self.pending.take(), spiked) {
            (Some(before), Some(_)) => {
                self.spikes += 1;
                self.stayed = Some(before.step);
            }
            (Some(_), None) => self.count_blip(),
            (None, _) => {}
        }
        if let Some(spike) = spiked {
            self.first_spike.get_or_insert_with(|| spike.clone());
            self.pending = Some(spike.clone());
        }
        signal
    }

    /// The step of the spike that the last training step found not recovered (`None` when
    /// that step was no spike, the first of one, or back to normal).
    pub fn spike_stayed(&self) -> Option<u64> {
        self.stayed
    }

    /// The `unstable` alarm of an evaluation, when `troubling` spikes came since the previous
    /// one: how many, and the first of them.
    fn unstable_alarm(&mut self, step: u64, troubling: usize) -> Option<Signal> {
        let first = self.first_spike.take().filter(|_| troubling > 0)?;
        let evidence = format!(
            "{troubling} training-loss spike(s) since the previous evaluation that did not \
             recover at the next step or came in a cluster ({} one-step blip(s) in all); the \
             first, at step {}: {}",
            self.blips, first.step, first.evidence
        );
        Some(Signal::new(SignalKind::Unstable, step, evidence))
    }

    /// What the forecast knows of the schedule ahead: perplex's own, or a foreign log's,
    /// known when the log gives the learning rate.
    fn schedule(&self, lr: Option<f64>) -> Schedule {
        match (self.detector.is_foreign(), lr) {
            (false, _) => Schedule::Own,
            (true, Some(_)) => Schedule::ForeignKnown,
            (true, None) => Schedule::ForeignUnknown,
        }
    }

    /// Counts a one-step blip, and whether it closes a cluster of [`CLUSTER`] blips within
    /// [`CLUSTER_SPAN`] training steps.
    fn count_blip(&mut self) {
        self.blips += 1;
        let now = self.steps_seen;
        self.blip_at.retain(|&at| now - at <= CLUSTER_SPAN);
        self.blip_at.push(now);
        if self.blip_at.len() >= CLUSTER {
            self.clustered += 1;
        }
    }

    /// The spikes since the previous evaluation that count against the run: those that did
    /// not recover at the next step (a spike at the last step before the evaluation has not
    /// yet), and blips that came in a cluster.
    fn troubling_spikes(&self) -> usize {
        self.spikes + usize::from(self.pending.is_some()) + self.clustered
    }

    /// Reads one evaluation: the state, the alarms (with `unstable` when a training step
    /// spiked since the previous evaluation), the health, and whether to stop.
    pub fn on_eval(&mut self, seen: Observation) -> Judgement {
        let train_loss = self.since_eval.mean();
        let point = EvalPoint {
            step: seen.step,
            val_loss: seen.val_loss,
            train_loss,
            train_eval_loss: seen.train_eval_loss,
            lr: seen.lr,
        };
        let mut verdict = self.detector.on_eval(point, seen.samples);
        let troubling = self.troubling_spikes();
        verdict
            .alarms
            .extend(self.unstable_alarm(seen.step, troubling));
        if let Some(found) = &self.contamination {
            found.cite_in(&mut verdict);
        }
        let rise = self.best().map_or(0.0, |b| seen.val_loss - b.val_loss);
        let health = eval_health(&verdict, point.gap(), troubling, rise);
        self.healths.push(EvalHealth {
            score: health,
            warming_up: verdict.is_warming_up(),
        });
        let metric = self.stopping.config().monitor;
        let evals = self.detector.evals();
        let is_best = best_index(evals.iter().map(|p| p.val_loss)) == Some(evals.len() - 1);
        let earlier = &evals[..evals.len() - 1];
        let best = self
            .stopping
            .watched_best(earlier.iter().map(|p| watched(metric, p)));
        let stop = self
            .stopping
            .on_eval(seen.step, watched(metric, &point), best, &verdict);
        self.since_eval = NllSum::default();
        self.spikes = 0;
        self.blips = 0;
        self.clustered = 0;
        // A spike at the last step was counted as unresolved: it is not judged again.
        self.pending = None;
        let forecast = forecast(
            &self.detector.val_curve(),
            verdict.state.kind,
            self.horizon,
            self.target_loss(),
            self.schedule(seen.lr),
        );
        Judgement {
            verdict,
            train_loss,
            gap: point.gap(),
            health,
            stop,
            is_best,
            forecast,
        }
    }

    /// The best evaluation so far (the lowest finite validation loss): the `best`
    /// checkpoint. The one place "best" is decided; the detectors, early stopping and the
    /// training loop read it.
    pub fn best(&self) -> Option<Best> {
        self.detector.best()
    }

    /// Early stopping's `stopping_threshold` as a validation loss in nats, when it watches
    /// the validation loss or perplexity (lower is better).
    fn target_loss(&self) -> Option<f64> {
        let c = self.stopping.config();
        let target = c.stopping_threshold.filter(|_| c.mode == Mode::Min)?;
        match c.monitor {
            Metric::ValLoss => Some(target),
            Metric::ValPpl => Some(target.ln()),
            Metric::TrainLoss => None,
        }
    }

    /// The evaluations seen so far, oldest first.
    pub fn evals_seen(&self) -> &[crate::detector::EvalPoint] {
        self.detector.evals()
    }

    /// The levels losses are judged against.
    pub fn baselines(&self) -> &Baselines {
        self.detector.baselines()
    }

    /// Sets the levels losses are judged against from now on.
    pub fn set_baselines(&mut self, baselines: Baselines) {
        self.detector.set_baselines(baselines);
    }

    /// Whether the monitor has seen no step and no evaluation yet.
    pub fn is_fresh(&self) -> bool {
        self.detector.is_fresh()
    }

    /// The run's health so far (mean over evaluations after warm-up), 0–100.
    pub fn run_health(&self) -> Option<f64> {
        run_health(&self.healths)
    }

    /// Whether the final model should be the best checkpoint (early stopping's
    /// `restore_best`).
    pub fn restore_best(&self) -> bool {
        self.stopping.config().restore_best
    }
}

/// Early stopping's watched `metric` at one evaluation.
fn watched(metric: Metric, point: &EvalPoint) -> f64 {
    match metric {
        Metric::ValLoss => point.val_loss,
        Metric::ValPpl => point.val_loss.exp(),
        Metric::TrainLoss => point.train_loss,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(step: u64, val_loss: f64) -> Observation<'static> {
        Observation {
            step,
            val_loss,
            train_eval_loss: Some(val_loss - 0.05),
            lr: None,
            samples: &[],
        }
    }

    #[test]
    fn the_train_loss_is_the_token_weighted_mean_since_the_last_evaluation() {
        let mut m = Monitor::new(
            DetectorConfig::default(),
            EarlyStoppingConfig::default(),
            Baselines::default(),
        );
        m.on_step(1, 6.0, 100);
        m.on_step(2, 3.0, 200);
        let j = m.on_eval(seen(2, 5.0));
        assert_eq!(j.train_loss, 4.0);
        assert_eq!(j.verdict.state.kind, SignalKind::WarmingUp);
        assert!(m.on_eval(seen(3, 4.9)).train_loss.is_nan(), "no step since");
    }

    #[test]
    fn spikes_cost_health_and_overfitting_stops_the_run() {
        let mut m = Monitor::new(
            DetectorConfig::default(),
            EarlyStoppingConfig::default(),
            Baselines::default(),
        );
        let mut step = 0;
        let mut steps = |m: &mut Monitor, loss: f64, n: u64| {
            (0..n)
                .filter_map(|i| {
                    step += 1;
                    m.on_step(step, loss + 0.01 * (i % 2) as f64, 1)
                })
                .count()
        };
        let val = |step, val_loss| Observation {
            train_eval_loss: None,
            ..seen(step, val_loss)
        };
        steps(&mut m, 5.0, 50);
        // Warming up 30 + gap unknown 15 + stability 20 + leakage 10 + repetition 10.
        assert_eq!(m.on_eval(val(50, 5.0)).health, 85.0);
        assert_eq!(steps(&mut m, 50.0, 1), 1, "one spike");
        steps(&mut m, 4.0, 49);
        let j = m.on_eval(val(100, 4.5));
        // Gone at the next step: a blip, counted but no alarm and no cost.
        assert_eq!(
            (j.verdict.state.kind, j.health, j.verdict.alarms.len()),
            (SignalKind::Healthy, 95.0, 0)
        );
        assert_eq!(steps(&mut m, 40.0, 2), 2, "two spikes in a row");
        steps(&mut m, 3.0, 48);
        let j = m.on_eval(val(150, 4.375));
        assert_eq!(j.health, 90.0, "the spike that did not recover costs 5");
        assert!(j.verdict.has(SignalKind::Unstable), "{:?}", j.verdict);
        steps(&mut m, 2.0, 50);
        let j = m.on_eval(val(200, 4.5));
        steps(&mut m, 1.5, 50);
        assert_eq!(j.health, 95.0);
        let j = m.on_eval(val(250, 4.625));
        // No trend points, and 40 × 0.25 nats above the best.
        assert_eq!(
            (j.verdict.state.kind, j.health),
            (SignalKind::Overfitting, 55.0 - 10.0)
        );
        assert_eq!(j.stop.map(|d| d.step), Some(250));
        assert_eq!(m.run_health(), Some((95.0 + 90.0 + 95.0 + 45.0) / 4.0));
    }
}
