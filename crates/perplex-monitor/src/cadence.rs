//! The cadence of a run: when to log the training loss and when to validate.

use serde::{Deserialize, Serialize};

/// The cadence of a run, in optimizer steps (1-based: step `s` is the `s`-th update).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cadence {
    /// Total optimizer steps.
    pub max_steps: u64,
    /// Validate every this many steps (0: only at the end).
    pub eval_every: u64,
    /// Log the training loss every this many steps.
    pub log_every: u64,
}

impl Cadence {
    /// Whether to run a validation pass after step `step`: every `eval_every` steps and always
    /// after the last step, so a run ends with a measured model.
    pub fn eval_after(&self, step: u64) -> bool {
        step == self.max_steps || (self.eval_every > 0 && step.is_multiple_of(self.eval_every))
    }

    /// Whether to log the training loss after step `step` (and always after the last one).
    pub fn log_after(&self, step: u64) -> bool {
        step == self.max_steps || (self.log_every > 0 && step.is_multiple_of(self.log_every))
    }

    /// Number of validation passes a whole run makes.
    pub fn evals_in_run(&self) -> u64 {
        (1..=self.max_steps).filter(|&s| self.eval_after(s)).count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluates_on_the_cadence_and_at_the_end() {
        let s = Cadence {
            max_steps: 1050,
            eval_every: 500,
            log_every: 100,
        };
        let evals: Vec<u64> = (1..=1050).filter(|&k| s.eval_after(k)).collect();
        assert_eq!(evals, vec![500, 1000, 1050]);
        assert_eq!(s.evals_in_run(), 3);
        assert!(s.log_after(100) && !s.log_after(150) && s.log_after(1050));
    }

    #[test]
    fn eval_every_zero_means_only_at_the_end() {
        let s = Cadence {
            max_steps: 10,
            eval_every: 0,
            log_every: 0,
        };
        let evals: Vec<u64> = (1..=10).filter(|&k| s.eval_after(k)).collect();
        assert_eq!(evals, vec![10]);
    }
}
