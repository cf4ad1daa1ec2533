//! Named states of a run, each with the evidence that produced it.
//!
//! [`Detector`] turns the numbers of a run into [`Signal`]s: after each training step (spikes,
//! NaN) and after each evaluation (trend of the validation loss, gap to the train loss,
//! leakage). It keeps only numbers, so it can watch any run, perplex's or not.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// What a run looks like at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    /// One of the first evaluations: too early to judge.
    WarmingUp,
    /// Validation loss is improving by more than `min_delta`.
    Healthy,
    /// No meaningful improvement for `patience` evaluations, and not rising.
    Plateau,
    /// Validation loss rising while the training loss keeps falling, or the gap between them
    /// past its bound: the model is memorising its training data.
    Overfitting,
    /// Validation loss below the eval-mode training loss by a margin, or an implausibly sudden
    /// drop: held-out text may be in the training data.
    LeakSuspected,
    /// A training-loss spike far outside the recent spread.
    Unstable,
    /// A NaN or infinite loss.
    NonFinite,
    /// Generated samples repeat themselves past the thresholds.
    DegenerateSamples,
}

impl SignalKind {
    /// The snake_case name used in logs, `metrics.jsonl` and `metrics.csv`.
    pub fn name(self) -> &'static str {
        match self {
            SignalKind::WarmingUp => "warming_up",
            SignalKind::Healthy => "healthy",
            SignalKind::Plateau => "plateau",
            SignalKind::Overfitting => "overfitting",
            SignalKind::LeakSuspected => "leak_suspected",
            SignalKind::Unstable => "unstable",
            SignalKind::NonFinite => "non_finite",
            SignalKind::DegenerateSamples => "degenerate_samples",
        }
    }
}

/// A signal with the step it fired at and the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// Which state.
    pub kind: SignalKind,
    /// Optimizer step at which it fired.
    pub step: u64,
    /// Human-readable evidence: the numbers and the rule they met.
    pub evidence: String,
}

/// Thresholds of the detectors. Losses are mean NLL per token in nats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectorConfig {
    /// Evaluations reported as `warming_up` before any judgement.
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
    pub leak_margin: f64,
    /// `leak_suspected` when val falls by more than this fraction in one evaluation after
    /// warm-up.
    pub leak_drop: f64,
    /// `unstable` when a training loss is this many standard deviations above the recent mean.
    pub spike_z: f64,
    /// Training steps in the window the spike statistics are taken over.
    pub spike_window: usize,
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
            leak_margin: 0.05,
            leak_drop: 0.3,
            spike_z: 6.0,
            spike_window: 50,
        }
    }
}

/// The numbers of one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EvalPoint {
    /// Optimizer steps completed.
    pub step: u64,
    /// Mean validation NLL per token, nats.
    pub val_loss: f64,
    /// Mean training loss of the steps since the previous evaluation (dropout on).
    pub train_loss: f64,
    /// Loss of a fixed slice of the train split in eval mode, if measured.
    pub train_eval_loss: Option<f64>,
}

impl EvalPoint {
    /// The generalisation gap: val − eval-mode train loss (nats), when the latter is known.
    pub fn gap(&self) -> Option<f64> {
        self.train_eval_loss.map(|t| self.val_loss - t)
    }
}

/// Watches a run's numbers and names what it sees. Serialisable, so a resumed run keeps its
/// history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detector {
    config: DetectorConfig,
    evals: Vec<EvalPoint>,
    best: Option<f64>,
    since_improvement: usize,
    recent_train: VecDeque<f64>,
}

impl Detector {
    /// A detector with the given thresholds.
    pub fn new(config: DetectorConfig) -> Self {
        Self {
            config,
            evals: Vec::new(),
            best: None,
            since_improvement: 0,
            recent_train: VecDeque::new(),
        }
    }

    /// The evaluations seen so far.
    pub fn evals(&self) -> &[EvalPoint] {
        &self.evals
    }

    /// Looks at one training step's loss: `non_finite` for NaN or infinity, `unstable` for a
    /// spike more than `spike_z` standard deviations above the window's mean.
    pub fn on_train_step(&mut self, step: u64, loss: f64) -> Option<Signal> {
        if !loss.is_finite() {
            return Some(Signal {
                kind: SignalKind::NonFinite,
                step,
                evidence: format!("training loss is {loss} at step {step}"),
            });
        }
        let window = self.config.spike_window.max(2);
        let spike = (self.recent_train.len() >= window / 2)
            .then(|| mean_std(self.recent_train.iter().copied()))
            .filter(|&(_, std)| std > 0.0)
            .map(|(mean, std)| (mean, std, (loss - mean) / std))
            .filter(|&(_, _, z)| z > self.config.spike_z);
        self.recent_train.push_back(loss);
        if self.recent_train.len() > window {
            self.recent_train.pop_front();
        }
        spike.map(|(mean, std, z)| Signal {
            kind: SignalKind::Unstable,
            step,
            evidence: format!(
                "training loss {loss:.4} is {z:.1} standard deviations above the mean of the \
                 last {} steps ({mean:.4} ± {std:.4})",
                self.recent_train.len() - 1
            ),
        })
    }

    /// Looks at one evaluation. Returns the run's state (`warming_up`, `healthy`, `plateau` or
    /// `overfitting`) first, then any alarms (`leak_suspected`, `non_finite`).
    pub fn on_eval(&mut self, point: EvalPoint) -> Vec<Signal> {
        let step = point.step;
        let signal = |kind, evidence: String| Signal {
            kind,
            step,
            evidence,
        };
        if !point.val_loss.is_finite() {
            self.evals.push(point);
            return vec![signal(
                SignalKind::NonFinite,
                format!("validation loss is {}", point.val_loss),
            )];
        }
        let previous = self.evals.last().copied();
        let improved = self.record_best(point.val_loss);
        self.evals.push(point);
        let mut signals = vec![self.state(&point, improved)];
        if let Some(leak) = self.leak(&point, previous) {
            signals.push(leak);
        }
        signals
    }

    /// Looks at the repetition of an evaluation's generated samples: `degenerate_samples`
    /// when at least half of them are degenerate.
    pub fn on_samples(&self, step: u64, samples: &[crate::samples::Sample]) -> Option<Signal> {
        let bad: Vec<&crate::samples::Sample> =
            samples.iter().filter(|s| s.is_degenerate()).collect();
        (!samples.is_empty() && bad.len() * 2 >= samples.len()).then(|| Signal {
            kind: SignalKind::DegenerateSamples,
            step,
            evidence: format!(
                "{} of {} samples repeat themselves, e.g. {:?} (distinct-2 {:.2}, repeated \
                 4-grams {:.0}%, loop of {} tokens)",
                bad.len(),
                samples.len(),
                bad[0].text,
                bad[0].repetition.distinct_2,
                100.0 * bad[0].repetition.repeated_4gram_share,
                bad[0].repetition.longest_loop
            ),
        })
    }

    /// Updates the best loss; whether `loss` improved on it by more than the minimum delta.
    fn record_best(&mut self, loss: f64) -> bool {
        let improved = match self.best {
            None => true,
            Some(best) => {
                let delta = self
                    .config
                    .min_delta
                    .max(self.config.min_delta_rel * best.abs());
                loss < best - delta
            }
        };
        if improved {
            self.best = Some(loss);
            self.since_improvement = 0;
        } else {
            self.since_improvement += 1;
            self.best = self.best.map(|b| b.min(loss));
        }
        improved
    }

    fn state(&self, point: &EvalPoint, improved: bool) -> Signal {
        let (step, n) = (point.step, self.evals.len());
        let make = |kind, evidence: String| Signal {
            kind,
            step,
            evidence,
        };
        if n <= self.config.warmup_evals {
            return make(
                SignalKind::WarmingUp,
                format!("evaluation {n} of the first {}", self.config.warmup_evals),
            );
        }
        if let Some(evidence) = self.divergence() {
            return make(SignalKind::Overfitting, evidence);
        }
        if let (Some(gap), Some(bound)) = (point.gap(), self.config.max_gap)
            && gap > bound
        {
            return make(
                SignalKind::Overfitting,
                format!(
                    "generalisation gap {gap:.4} nats (val {:.4} − eval-mode train {:.4}) is past \
                     the bound {bound}",
                    point.val_loss,
                    point.train_eval_loss.unwrap_or(f64::NAN)
                ),
            );
        }
        if improved {
            return make(
                SignalKind::Healthy,
                format!("val loss {:.4} is a new best", point.val_loss),
            );
        }
        if self.since_improvement >= self.config.patience {
            return make(
                SignalKind::Plateau,
                format!(
                    "no improvement beyond the minimum delta for {} evaluations (best {:.4}); \
                     let the cosine schedule decay, or try a lower learning rate",
                    self.since_improvement,
                    self.best.unwrap_or(f64::NAN)
                ),
            );
        }
        make(
            SignalKind::Healthy,
            format!(
                "val loss {:.4}, {} evaluation(s) since the best {:.4}",
                point.val_loss,
                self.since_improvement,
                self.best.unwrap_or(f64::NAN)
            ),
        )
    }

    /// Validation loss rising for `divergence_evals` consecutive evaluations while the training
    /// loss fell over the same span.
    fn divergence(&self) -> Option<String> {
        let k = self.config.divergence_evals.max(1);
        if self.evals.len() < k + 1 {
            return None;
        }
        let span = &self.evals[self.evals.len() - k - 1..];
        let val_rising = span.windows(2).all(|w| w[1].val_loss > w[0].val_loss);
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

    fn leak(&self, point: &EvalPoint, previous: Option<EvalPoint>) -> Option<Signal> {
        let make = |evidence| Signal {
            kind: SignalKind::LeakSuspected,
            step: point.step,
            evidence,
        };
        if let Some(train) = point.train_eval_loss
            && point.val_loss < train - self.config.leak_margin
        {
            return Some(make(format!(
                "val loss {:.4} is below the eval-mode train loss {train:.4} by more than \
                 {} nats: held-out text may be in the training data",
                point.val_loss, self.config.leak_margin
            )));
        }
        let prev = previous?;
        let drop = (prev.val_loss - point.val_loss) / prev.val_loss;
        let train_drop = (prev.train_loss - point.train_loss) / prev.train_loss;
        (self.evals.len() > self.config.warmup_evals + 1
            && drop > self.config.leak_drop
            && drop > 2.0 * train_drop.max(0.0))
        .then(|| {
            make(format!(
                "val loss fell {:.0}% in one evaluation ({:.4} → {:.4}) while train loss fell \
                 {:.0}%: implausibly sudden",
                100.0 * drop,
                prev.val_loss,
                point.val_loss,
                100.0 * train_drop
            ))
        })
    }
}

/// Mean and (population) standard deviation.
fn mean_std(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let n = values.clone().count().max(1) as f64;
    let mean = values.clone().sum::<f64>() / n;
    let var = values.map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds (val, train) pairs as evaluations 100 steps apart; returns each state's kind.
    fn states(config: DetectorConfig, curve: &[(f64, f64)]) -> Vec<SignalKind> {
        let mut d = Detector::new(config);
        curve
            .iter()
            .enumerate()
            .map(|(i, &(val, train))| {
                d.on_eval(EvalPoint {
                    step: 100 * (i as u64 + 1),
                    val_loss: val,
                    train_loss: train,
                    train_eval_loss: None,
                })[0]
                    .kind
            })
            .collect()
    }

    use SignalKind::*;

    #[test]
    fn a_steadily_improving_run_is_healthy_after_warm_up() {
        let curve: Vec<(f64, f64)> = (0..8)
            .map(|i| (6.0 - 0.2 * i as f64, 6.1 - 0.25 * i as f64))
            .collect();
        let got = states(DetectorConfig::default(), &curve);
        assert_eq!(got[0], WarmingUp);
        assert!(got[1..].iter().all(|k| *k == Healthy), "{got:?}");
    }

    #[test]
    fn a_flat_run_becomes_a_plateau_after_patience() {
        let curve = [
            (5.0, 5.1),
            (4.5, 4.6),
            (4.5, 4.55),
            (4.5, 4.55),
            (4.5, 4.55),
            (4.5, 4.5),
        ];
        let got = states(DetectorConfig::default(), &curve);
        assert_eq!(
            got,
            vec![WarmingUp, Healthy, Healthy, Healthy, Plateau, Plateau]
        );
    }

    #[test]
    fn val_rising_while_train_falls_is_overfitting_and_nothing_else_is() {
        let curve = [(5.0, 5.1), (4.5, 4.4), (4.4, 4.0), (4.5, 3.6), (4.7, 3.2)];
        let got = states(DetectorConfig::default(), &curve);
        assert_eq!(got, vec![WarmingUp, Healthy, Healthy, Healthy, Overfitting]);
        // Both rising (a bad learning rate, not memorisation) is not overfitting.
        let both = [(5.0, 5.1), (4.5, 4.4), (4.4, 4.3), (4.5, 4.4), (4.7, 4.6)];
        assert!(!states(DetectorConfig::default(), &both).contains(&Overfitting));
    }

    #[test]
    fn a_gap_past_its_bound_is_overfitting() {
        let mut d = Detector::new(DetectorConfig {
            max_gap: Some(0.5),
            ..DetectorConfig::default()
        });
        let point = |step, val, train_eval| EvalPoint {
            step,
            val_loss: val,
            train_loss: train_eval + 0.1,
            train_eval_loss: Some(train_eval),
        };
        d.on_eval(point(100, 5.0, 4.9));
        assert_eq!(d.on_eval(point(200, 4.6, 4.3))[0].kind, Healthy);
        let s = d.on_eval(point(300, 4.5, 3.9));
        assert_eq!(s[0].kind, Overfitting, "{s:?}");
        assert!(s[0].evidence.contains("gap 0.6"), "{}", s[0].evidence);
    }

    #[test]
    fn val_below_eval_mode_train_is_a_suspected_leak() {
        let mut d = Detector::new(DetectorConfig::default());
        let s = d.on_eval(EvalPoint {
            step: 100,
            val_loss: 3.0,
            train_loss: 3.5,
            train_eval_loss: Some(3.4),
        });
        assert!(s.iter().any(|s| s.kind == LeakSuspected), "{s:?}");
        // Below the dropout-on train loss but above the eval-mode one is normal.
        let mut d = Detector::new(DetectorConfig::default());
        let s = d.on_eval(EvalPoint {
            step: 100,
            val_loss: 3.45,
            train_loss: 3.6,
            train_eval_loss: Some(3.4),
        });
        assert!(s.iter().all(|s| s.kind != LeakSuspected), "{s:?}");
    }

    #[test]
    fn a_sudden_val_drop_without_a_train_drop_is_a_suspected_leak() {
        let mut d = Detector::new(DetectorConfig::default());
        let mut kinds = Vec::new();
        for (i, (val, train)) in [(6.0, 6.1), (5.5, 5.6), (5.3, 5.4), (2.5, 5.3)]
            .iter()
            .enumerate()
        {
            let s = d.on_eval(EvalPoint {
                step: 100 * (i as u64 + 1),
                val_loss: *val,
                train_loss: *train,
                train_eval_loss: None,
            });
            kinds.push(s.iter().map(|s| s.kind).collect::<Vec<_>>());
        }
        assert!(
            kinds[..3].iter().all(|k| !k.contains(&LeakSuspected)),
            "{kinds:?}"
        );
        assert!(kinds[3].contains(&LeakSuspected), "{kinds:?}");
    }

    #[test]
    fn spikes_and_nans_in_training_loss_are_flagged_and_noise_is_not() {
        let mut d = Detector::new(DetectorConfig::default());
        let mut fired = Vec::new();
        for step in 1..=200u64 {
            // Gentle decline with ±0.02 noise, one spike at step 150, a NaN at 180.
            let noise = if step % 2 == 0 { 0.02 } else { -0.02 };
            let loss = match step {
                150 => 9.0,
                180 => f64::NAN,
                _ => 5.0 - step as f64 * 0.001 + noise,
            };
            if let Some(s) = d.on_train_step(step, loss) {
                fired.push((step, s.kind));
            }
        }
        assert_eq!(fired, vec![(150, Unstable), (180, NonFinite)]);
    }

    #[test]
    fn names_agree_with_the_serialised_form() {
        for kind in [
            WarmingUp,
            Healthy,
            Plateau,
            Overfitting,
            LeakSuspected,
            Unstable,
            NonFinite,
            DegenerateSamples,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.name());
        }
    }

    #[test]
    fn a_non_finite_validation_loss_is_reported() {
        let mut d = Detector::new(DetectorConfig::default());
        let s = d.on_eval(EvalPoint {
            step: 10,
            val_loss: f64::INFINITY,
            train_loss: 3.0,
            train_eval_loss: None,
        });
        assert_eq!(s[0].kind, NonFinite);
    }
}
