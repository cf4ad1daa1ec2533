//! The learning-rate range test (Smith 2015, "Cyclical Learning Rates for Training Neural
//! Networks"; fastai's and Lightning's `lr_find`): train for a few steps while the learning
//! rate grows exponentially from a tiny value, watch the smoothed training loss, stop once it
//! explodes, and suggest the rate where the loss fell fastest.
//!
//! Numbers only: the caller runs the steps, this module says which rate to use next, when
//! to stop, and what the curve suggests.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::setting::OutOfRange;

/// The sweep: `steps` learning rates spaced evenly in log scale from `start_lr` to `end_lr`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    /// The first learning rate.
    pub start_lr: f64,
    /// The last learning rate.
    pub end_lr: f64,
    /// Optimizer steps in the sweep (at most; it stops early when the loss explodes).
    pub steps: usize,
}

impl Default for Sweep {
    /// 1e-6 … 1 in 300 steps: wide enough for Adam on any small GPT. The smoothing averages
    /// over about 50 steps, so it lags the raw curve by 50 steps' worth of rate: a decade at
    /// 300 steps, three at fastai's and Lightning's 100. On ptb-tiny 100 steps suggested
    /// 8.7e-3 (val ppl 475.1 in 600 steps), 300 steps 2.35e-3 (374.5), where the shipped rate
    /// 6e-3 reaches 478.9 (AMD EPYC, 2 cores).
    fn default() -> Self {
        Self {
            start_lr: 1e-6,
            end_lr: 1.0,
            steps: 300,
        }
    }
}

impl Sweep {
    /// Refuses a sweep that cannot run, saying which value is wrong.
    pub fn validate(&self) -> Result<(), OutOfRange> {
        let (start, end) = (self.start_lr, self.end_lr);
        OutOfRange::check(start > 0.0 && start.is_finite(), "--start-lr", start, "> 0")?;
        OutOfRange::check(
            end > start && end.is_finite(),
            "--end-lr",
            end,
            format!("above --start-lr {start}"),
        )?;
        OutOfRange::check(
            self.steps >= MIN_STEPS,
            "--steps",
            self.steps,
            format!("at least {MIN_STEPS}: the suggestion skips the first {SKIP_BEGIN} steps"),
        )
    }

    /// The learning rate of step `i` (0-based).
    pub fn lr_at(&self, i: usize) -> f64 {
        let t = i as f64 / (self.steps - 1).max(1) as f64;
        self.start_lr * (self.end_lr / self.start_lr).powf(t)
    }
}

/// EMA factor of the smoothed loss (fastai's and Lightning's).
pub const BETA: f64 = 0.98;
/// The sweep stops once the smoothed loss is this many times its lowest value (Lightning's
/// `early_stop_threshold`).
pub const EXPLODE_FACTOR: f64 = 4.0;
/// Steps at the start left out of the suggestion: the smoothing is still settling there.
pub const SKIP_BEGIN: usize = 10;
/// The fewest steps a sweep may have.
pub const MIN_STEPS: usize = 20;

/// One step of the sweep.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RangePoint {
    /// The learning rate of the step.
    pub lr: f64,
    /// The step's training loss, nats per token.
    pub loss: f64,
    /// The bias-corrected exponential moving average of the losses so far, nats per token.
    pub smoothed: f64,
}

/// Why the sweep ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepEnd {
    /// Every step of the sweep ran.
    Completed,
    /// The smoothed loss passed [`EXPLODE_FACTOR`] times its lowest value.
    Exploded,
    /// A step's loss was NaN or infinite.
    NonFinite,
}

impl fmt::Display for SweepEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SweepEnd::Completed => f.write_str("ran to its last rate"),
            SweepEnd::Exploded => write!(
                f,
                "stopped where the smoothed loss passed {EXPLODE_FACTOR}× its lowest"
            ),
            SweepEnd::NonFinite => f.write_str("stopped where a step's loss was not finite"),
        }
    }
}

/// The rule a suggestion was made by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Lightning's: the rate where the smoothed loss falls fastest per step of log lr (the
    /// steepest negative slope), after the first [`SKIP_BEGIN`] steps and before the last.
    SteepestDescent,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rule::SteepestDescent => {
                "steepest descent: where the smoothed loss falls fastest against log lr"
            }
        })
    }
}

/// What the curve suggests.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Suggestion {
    /// The suggested peak learning rate.
    pub lr: f64,
    /// By which rule.
    pub rule: Rule,
    /// The step of the sweep it was found at.
    pub index: usize,
    /// The lowest smoothed loss and its learning rate: above it, training gets worse.
    pub min_loss_lr: f64,
}

/// A range test in progress: feed each step's loss, and it says whether to go on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RangeTest {
    /// The sweep.
    pub sweep: Sweep,
    /// The steps so far.
    pub points: Vec<RangePoint>,
    /// How it ended, once it has.
    pub end: Option<SweepEnd>,
    average: f64,
    lowest: f64,
}

impl RangeTest {
    /// A test of `sweep` (validated by the caller).
    pub fn new(sweep: Sweep) -> Self {
        Self {
            sweep,
            points: Vec::new(),
            end: None,
            average: 0.0,
            lowest: f64::INFINITY,
        }
    }

    /// The learning rate of the next step, or `None` once the sweep has ended.
    pub fn next_lr(&self) -> Option<f64> {
        (self.end.is_none() && self.points.len() < self.sweep.steps)
            .then(|| self.sweep.lr_at(self.points.len()))
    }

    /// Records the loss (nats per token) of the step run at `lr`; returns whether to go on.
    pub fn record(&mut self, lr: f64, loss: f64) -> bool {
        if !loss.is_finite() {
            self.end = Some(SweepEnd::NonFinite);
            return false;
        }
        let n = self.points.len() as i32 + 1;
        self.average = BETA * self.average + (1.0 - BETA) * loss;
        let smoothed = self.average / (1.0 - BETA.powi(n));
        self.points.push(RangePoint { lr, loss, smoothed });
        self.lowest = self.lowest.min(smoothed);
        if smoothed > EXPLODE_FACTOR * self.lowest {
            self.end = Some(SweepEnd::Exploded);
        } else if self.points.len() >= self.sweep.steps {
            self.end = Some(SweepEnd::Completed);
        }
        self.end.is_none()
    }

    /// The suggested learning rate, or why there is none.
    pub fn suggest(&self) -> Result<Suggestion, NoSuggestion> {
        let smoothed: Vec<f64> = self.points.iter().map(|p| p.smoothed).collect();
        // The last point is where it exploded (or the end): its slope is not a descent.
        let usable = smoothed.len().saturating_sub(1);
        if usable < SKIP_BEGIN + 3 {
            return Err(NoSuggestion::TooFewSteps {
                have: self.points.len(),
                need: SKIP_BEGIN + 4,
            });
        }
        let slope = |i: usize| (smoothed[i + 1] - smoothed[i - 1]) / 2.0;
        let (index, steepest) = (SKIP_BEGIN..usable - 1)
            .map(|i| (i, slope(i)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("at least one step in range");
        if steepest >= 0.0 {
            return Err(NoSuggestion::NeverFell);
        }
        let min_at = (0..smoothed.len())
            .min_by(|&a, &b| smoothed[a].total_cmp(&smoothed[b]))
            .expect("points");
        Ok(Suggestion {
            lr: self.points[index].lr,
            rule: Rule::SteepestDescent,
            index,
            min_loss_lr: self.points[min_at].lr,
        })
    }
}

/// Why a range test suggests nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NoSuggestion {
    /// The sweep ended too early to judge.
    #[error(
        "the sweep ended after {have} steps, fewer than the {need} a suggestion needs: start \
         lower (--start-lr) or take more steps (--steps)"
    )]
    TooFewSteps {
        /// Steps run.
        have: usize,
        /// Steps needed.
        need: usize,
    },
    /// The smoothed loss never fell after the first steps.
    #[error(
        "the smoothed loss never fell: the range starts too high (lower --start-lr), or the \
         model cannot learn from this data"
    )]
    NeverFell,
}

#[cfg(test)]
mod tests;
