//! The detectors: the rules that turn a run's numbers into its state and alarms.
//!
//! [`Detector`] looks at each training step (spikes, NaN) and each evaluation: levels first
//! (a loss above the uniform guess or the step-0 loss is `diverged`; one never below the
//! unigram baseline is `stalled`), then the trend of the validation loss (warm-up, healthy,
//! plateau, overfitting, diverging), then alarms (leakage, repetitive samples). It keeps only numbers,
//! so it can watch any run, perplex's or not.

mod config;
mod levels;
mod noise;
mod overfit;
mod rise;
mod smooth;
mod spikes;

use serde::{Deserialize, Serialize};

pub use config::DetectorConfig;

use crate::baselines::Baselines;
use crate::best::{Best, beats, best_index};
use crate::samples::Sample;
use crate::signal::{Signal, SignalKind, Verdict};
use spikes::RecentLosses;

/// Training losses a foreign log must have shown before one is judged a spike.
const FOREIGN_SPIKE_HISTORY: usize = 8;

/// The numbers of one evaluation, as the detectors compare them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EvalPoint {
    /// Optimizer steps completed.
    pub step: u64,
    /// Mean validation NLL per token, nats.
    pub val_loss: f64,
    /// Mean training loss of the steps since the previous evaluation (dropout on), nats.
    pub train_loss: f64,
    /// Loss of a fixed slice of the train split in eval mode, nats, if measured.
    pub train_eval_loss: Option<f64>,
    /// Learning rate of the last step before the evaluation, if known (absent in states
    /// saved before it was recorded).
    #[serde(default)]
    pub lr: Option<f64>,
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
    baselines: Baselines,
    evals: Vec<EvalPoint>,
    since_improvement: usize,
    recent_train: RecentLosses,
    /// Whether the run is another trainer's: advice in the field's words, margins scaled
    /// to its own noise.
    #[serde(default)]
    foreign: bool,
    /// The validation loss at the last evaluation that counted as an improvement: a foreign
    /// log's improvements are measured from it, as Keras's and Lightning's early stopping
    /// do, so a curve that keeps falling by less than the minimum delta per evaluation, but
    /// by more over a few, is not a plateau.
    #[serde(default)]
    reference: Option<f64>,
}

impl Detector {
    /// A detector with the given thresholds, judging levels against `baselines`.
    pub fn new(config: DetectorConfig, baselines: Baselines) -> Self {
        Self {
            config,
            baselines,
            evals: Vec::new(),
            since_improvement: 0,
            recent_train: RecentLosses::default(),
            foreign: false,
            reference: None,
        }
    }

    /// Whether the run is another trainer's.
    pub fn is_foreign(&self) -> bool {
        self.foreign
    }

    /// Says whether the run is another trainer's (see [`crate::Monitor::set_foreign`]).
    pub fn set_foreign(&mut self, foreign: bool) {
        self.foreign = foreign;
    }

    /// `ours` for a perplex run, `theirs` (the same advice in the field's words) for another
    /// trainer's.
    pub(crate) fn advice<'a>(&self, ours: &'a str, theirs: &'a str) -> &'a str {
        if self.foreign { theirs } else { ours }
    }

    /// The levels losses are judged against.
    pub fn baselines(&self) -> &Baselines {
        &self.baselines
    }

    /// Sets the levels losses are judged against from now on.
    pub fn set_baselines(&mut self, baselines: Baselines) {
        self.baselines = baselines;
    }

    /// The best evaluation so far (the lowest finite validation loss).
    pub fn best(&self) -> Option<Best> {
        self.best_point().map(|p| Best {
            step: p.step,
            val_loss: p.val_loss,
        })
    }

    /// The evaluation that is the best so far.
    fn best_point(&self) -> Option<&EvalPoint> {
        self.evals
            .get(best_index(self.evals.iter().map(|p| p.val_loss))?)
    }

    /// The evaluations so far, oldest first.
    pub fn evals(&self) -> &[EvalPoint] {
        &self.evals
    }

    /// The evaluations so far as `(step, val loss)`, nats.
    pub fn val_curve(&self) -> Vec<(u64, f64)> {
        self.evals.iter().map(|p| (p.step, p.val_loss)).collect()
    }

    /// Whether the detector has seen nothing yet.
    pub fn is_fresh(&self) -> bool {
        self.evals.is_empty() && self.recent_train.is_empty()
    }

    /// Looks at one training step's loss (nats): `non_finite` for NaN or infinity, `unstable`
    /// for a spike far above the recent median (see [`DetectorConfig::spike_z`] and
    /// [`DetectorConfig::spike_ratio`]).
    pub fn on_train_step(&mut self, step: u64, loss: f64) -> Option<Signal> {
        if !loss.is_finite() {
            return Some(Signal::new(
                SignalKind::NonFinite,
                step,
                format!("training loss is {loss} at step {step}"),
            ));
        }
        // A perplex run logs every step; a foreign log may log every tenth, so a few of its
        // losses are enough to judge a spike by.
        let needed = if self.foreign {
            FOREIGN_SPIKE_HISTORY
        } else {
            self.config.spike_window / 2
        };
        let evidence = self
            .recent_train
            .judge_and_push(loss, needed, &self.config)?;
        Some(Signal::new(SignalKind::Unstable, step, evidence))
    }

    /// Looks at one evaluation and its generated `samples`: the run's state (`non_finite`,
    /// `diverged`, `warming_up`, `overfitting`, `diverging`, `stalled`, `healthy` or
    /// `plateau`, the first that applies), and any alarms (`leak_suspected`, `degenerate_samples`). Warm-up softens
    /// only the trend: a run that has diverged or stalled is named so during warm-up too.
    pub fn on_eval(&mut self, point: EvalPoint, samples: &[Sample]) -> Verdict {
        let mut verdict = self.judge(point);
        verdict.alarms.extend(degenerate(point.step, samples));
        verdict
    }

    fn judge(&mut self, point: EvalPoint) -> Verdict {
        if !point.val_loss.is_finite() {
            self.evals.push(point);
            let evidence = format!("validation loss is {}", point.val_loss);
            return Verdict {
                state: Signal::new(SignalKind::NonFinite, point.step, evidence),
                alarms: Vec::new(),
            };
        }
        let previous = self.evals.last().copied();
        let best_before = self.best().map(|b| b.val_loss);
        let against = if self.foreign {
            self.reference.or(best_before)
        } else {
            best_before
        };
        let improved = self.count_improvement(point.val_loss, against);
        if improved {
            self.reference = Some(point.val_loss);
        }
        self.evals.push(point);
        let state = self.state(&point, improved, best_before);
        // A model that predicts worse than guessing says nothing about leakage: at 20 nats a
        // tenth of a nat between validation and train is noise (the `hot` run raised it).
        let alarms = match state.kind {
            SignalKind::Diverged => Vec::new(),
            _ => self.leak(&point, previous).into_iter().collect(),
        };
        Verdict { state, alarms }
    }

    /// Whether `loss` improved on `best` by more than the minimum delta; counts the
    /// evaluations since one last did.
    fn count_improvement(&mut self, loss: f64, best: Option<f64>) -> bool {
        let c = &self.config;
        let improved = beats(loss, best, c.min_delta, c.min_delta_rel, false);
        self.since_improvement = if improved {
            0
        } else {
            self.since_improvement + 1
        };
        improved
    }

    fn state(&self, point: &EvalPoint, improved: bool, best_before: Option<f64>) -> Signal {
        let (step, n) = (point.step, self.evals.len());
        let make = |kind, evidence: String| Signal::new(kind, step, evidence);
        // An evaluation at step 0 measures the model before any update (nanoGPT evaluates
        // there): a fresh model sits a little above ln V, which is its starting level, not
        // a divergence.
        if step > 0
            && let Some(evidence) = self.diverged(point)
        {
            return make(SignalKind::Diverged, evidence);
        }
        // Stalled is a level, named even during warm-up; overfitting, the more specific
        // reading, comes first once the trend is judged.
        let stalled = self.stalled(best_before);
        if n <= self.config.warmup_evals {
            return match stalled {
                Some(evidence) => make(SignalKind::Stalled, evidence),
                None => make(
                    SignalKind::WarmingUp,
                    format!("evaluation {n} of the first {}", self.config.warmup_evals),
                ),
            };
        }
        if let Some(evidence) = self
            .divergence()
            .or_else(|| self.gap_past_bound(point))
            .or_else(|| self.above_best_while_train_falls(point))
        {
            return make(SignalKind::Overfitting, evidence);
        }
        if let Some(evidence) = self.diverging(point) {
            return make(SignalKind::Diverging, evidence);
        }
        if let Some(evidence) = stalled {
            return make(SignalKind::Stalled, evidence);
        }
        let best = self.best().map_or(f64::NAN, |b| b.val_loss);
        if improved {
            let above = match self.baselines.unigram {
                Some(u) if point.val_loss >= u => {
                    format!(" (still not below the unigram baseline {u:.4})")
                }
                _ => String::new(),
            };
            return make(
                SignalKind::Healthy,
                format!("val loss {:.4} is a new best{above}", point.val_loss),
            );
        }
        if self.since_improvement >= self.config.patience {
            return make(
                SignalKind::Plateau,
                format!(
                    "no improvement beyond the minimum delta for {} evaluations (best {best:.4}); \
                     {}",
                    self.since_improvement,
                    self.plateau_advice(point),
                ),
            );
        }
        // Lower than every evaluation before, by less than the minimum delta: the best
        // checkpoint moves, but patience counts on, and the evidence says both.
        if let Some(before) = best_before.filter(|&b| point.val_loss < b) {
            return make(
                SignalKind::Healthy,
                format!(
                    "val loss {:.4} is a new best by {:.4} nats, less than the minimum \
                     improvement; {} evaluation(s) without one",
                    point.val_loss,
                    before - point.val_loss,
                    self.since_improvement,
                ),
            );
        }
        make(
            SignalKind::Healthy,
            format!(
                "val loss {:.4}, {} evaluation(s) since the best {best:.4}",
                point.val_loss, self.since_improvement,
            ),
        )
    }

    fn leak(&self, point: &EvalPoint, previous: Option<EvalPoint>) -> Option<Signal> {
        let make = |evidence| Signal::new(SignalKind::LeakSuspected, point.step, evidence);
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
        // A fall back to where the run already was (a recovery from a blow-up) is no leak:
        // the drop is measured from the lower of the previous and the best evaluation.
        let before = self.evals[..self.evals.len() - 1]
            .iter()
            .map(|p| p.val_loss)
            .filter(|v| v.is_finite())
            .fold(prev.val_loss, f64::min);
        let drop = (before - point.val_loss) / before;
        let train_drop = (prev.train_loss - point.train_loss) / prev.train_loss;
        (self.evals.len() > self.config.warmup_evals + 1
            && drop > self.config.leak_drop
            && drop > 2.0 * train_drop.max(0.0))
        .then(|| {
            make(format!(
                "val loss fell {:.0}% in one evaluation ({:.4} → {:.4}) while train loss fell \
                 {:.0}%: implausibly sudden",
                100.0 * drop,
                before,
                point.val_loss,
                100.0 * train_drop
            ))
        })
    }
}

/// `degenerate_samples` when at least half of the evaluation's samples repeat themselves.
fn degenerate(step: u64, samples: &[Sample]) -> Option<Signal> {
    let bad: Vec<&Sample> = samples.iter().filter(|s| s.is_degenerate()).collect();
    (!samples.is_empty() && bad.len() * 2 >= samples.len()).then(|| {
        let evidence = format!(
            "{} of {} samples repeat themselves, e.g. {:?} (distinct-2 {:.2}, repeated \
             4-grams {:.0}%, loop of {} tokens)",
            bad.len(),
            samples.len(),
            bad[0].text,
            bad[0].repetition.distinct_2,
            100.0 * bad[0].repetition.repeated_4gram_share,
            bad[0].repetition.longest_loop
        );
        Signal::new(SignalKind::DegenerateSamples, step, evidence)
    })
}

#[cfg(test)]
mod tests;
