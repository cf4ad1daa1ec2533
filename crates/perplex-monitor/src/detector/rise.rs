//! A loss that climbs back: `diverging`, and the learning-rate trend that decides what to
//! advise for it and for a plateau.
//!
//! Three patterns look alike in a single curve and need different cures. A plateau does not
//! rise. Overfitting rises on validation while the training loss falls (memorising). A run
//! that is *diverging* rises on both: the steps have become too large for where the model is
//! (a warm-up that overshoots, a resume at a higher rate), and it is losing what it learned.

use std::fmt::Write;

use super::{Detector, EvalPoint};

/// Which way the learning rate moved between two evaluations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LrTrend {
    /// Still warming up, or a schedule that grows.
    Rising,
    /// Held fixed (`min_lr = lr`, or a constant schedule).
    Constant,
    /// Decaying (cosine, step or linear decay).
    Falling,
}

/// The trend from `before` to `now`, both per-step learning rates; `None` when either is
/// unknown (a foreign log without one).
pub(super) fn lr_trend(before: Option<f64>, now: Option<f64>) -> Option<LrTrend> {
    let (before, now) = (before?, now?);
    let tolerance = 1e-6 * before.abs().max(now.abs());
    Some(if now > before + tolerance {
        LrTrend::Rising
    } else if now < before - tolerance {
        LrTrend::Falling
    } else {
        LrTrend::Constant
    })
}

/// The learning rate at one evaluation and its trend since the previous one, for evidence.
struct Lr {
    before: Option<f64>,
    now: Option<f64>,
    trend: Option<LrTrend>,
}

impl Lr {
    fn describe(&self) -> String {
        match (self.trend, self.before, self.now) {
            (Some(LrTrend::Rising), Some(b), Some(n)) => {
                format!("the learning rate is still rising ({b:.3e} → {n:.3e})")
            }
            (Some(LrTrend::Falling), Some(b), Some(n)) => {
                format!("the learning rate is decaying ({b:.3e} → {n:.3e})")
            }
            (Some(LrTrend::Constant), _, Some(n)) => {
                format!("the learning rate is constant at {n:.3e}")
            }
            _ => "the learning rate is not in the log".into(),
        }
    }
}

impl Detector {
    /// The learning rate at `point` and its trend since the previous evaluation.
    fn lr(&self, point: &EvalPoint) -> Lr {
        let n = self.evals.len();
        let before = n.checked_sub(2).and_then(|i| self.evals[i].lr);
        Lr {
            before,
            now: point.lr,
            trend: lr_trend(before, point.lr),
        }
    }

    /// What to do about a plateau, given the learning rate's trend.
    pub(super) fn plateau_advice(&self, point: &EvalPoint) -> String {
        let lr = self.lr(point);
        let advice = match lr.trend {
            Some(LrTrend::Falling) => "let it decay further, or try a lower train.lr",
            Some(LrTrend::Constant) => {
                "decay it (train.min_lr below train.lr anneals it by cosine), or lower train.lr"
            }
            Some(LrTrend::Rising) => {
                "if the loss does not fall once it peaks, lower train.lr or lengthen \
                 train.warmup_steps"
            }
            None => "decay the learning rate, or try a lower one",
        };
        format!("{}: {advice}", lr.describe())
    }

    /// The evidence that the run is diverging at `point`: its validation loss more than
    /// `rise_margin` nats above its best at each of the last `rise_evals` evaluations, and
    /// its training loss (eval-mode slice when measured) above what it was at the best.
    pub(super) fn diverging(&self, point: &EvalPoint) -> Option<String> {
        let (k, margin) = (self.config.rise_evals.max(1), self.config.rise_margin);
        let n = self.evals.len();
        let at_best = self.best_point()?;
        let above = |p: &EvalPoint| p.val_loss > at_best.val_loss + margin;
        if n < k + 1 || !self.evals[n - k..].iter().all(above) {
            return None;
        }
        let train = |p: &EvalPoint| p.train_eval_loss.unwrap_or(p.train_loss);
        let train_rose = train(point) > train(at_best);
        if !train_rose {
            return None;
        }
        let evals_above = self.evals.iter().rev().take_while(|p| above(p)).count();
        let mut evidence = format!(
            "val loss {:.4} is {:.2} nats above its best {:.4} (step {}), more than {margin} \
             above it for {evals_above} evaluations, and the train loss rose with it ({:.4} → \
             {:.4}): the run is getting worse, not memorising",
            point.val_loss,
            point.val_loss - at_best.val_loss,
            at_best.val_loss,
            at_best.step,
            train(at_best),
            train(point),
        );
        if let Some(u) = self.baselines.unigram
            && point.val_loss >= u
            && at_best.val_loss < u
        {
            let _ = write!(
                evidence,
                "; it is back above the unigram level {u:.4}: the model now predicts worse \
                 than word frequencies alone"
            );
        }
        let lr = self.lr(point);
        let advice = match lr.trend {
            Some(LrTrend::Rising) => {
                "lower train.lr or lengthen train.warmup_steps, and clip gradients \
                 (train.grad_clip = 1.0)"
            }
            Some(LrTrend::Constant) => "lower train.lr, or let it decay (train.min_lr)",
            Some(LrTrend::Falling) => {
                "it may recover as the rate decays, but the best weights are behind it: lower \
                 train.lr"
            }
            None => "lower the learning rate",
        };
        let _ = write!(evidence, "; {}: {advice}", lr.describe());
        Some(evidence)
    }
}

#[cfg(test)]
mod tests {
    use super::super::DetectorConfig;
    use super::*;
    use crate::baselines::Baselines;
    use crate::signal::{SignalKind, Verdict};

    fn levels() -> Baselines {
        Baselines {
            uniform: Some(10_000f64.ln()),
            unigram: Some(6.53),
            initial: Some(9.25),
        }
    }

    /// Evaluations every 50 steps of `(val, eval-mode train, lr)`.
    fn judge(curve: &[(f64, f64, f64)]) -> Vec<Verdict> {
        let mut d = Detector::new(DetectorConfig::default(), levels());
        curve
            .iter()
            .enumerate()
            .map(|(i, &(val, train, lr))| {
                let point = EvalPoint {
                    step: 50 * (i as u64 + 1),
                    val_loss: val,
                    train_loss: train + 0.1,
                    train_eval_loss: Some(train),
                    lr: Some(lr),
                };
                d.on_eval(point, &[])
            })
            .collect()
    }

    /// The run: val falls to 6.48 at step 250 while the warm-up keeps raising the
    /// rate, then climbs with the train loss by 0.0225 nats per evaluation to 6.77 at 900.
    fn slow_blow_up() -> Vec<(f64, f64, f64)> {
        (1..=18u64)
            .map(|i| {
                let step = 50.0 * i as f64;
                let val = if i <= 5 {
                    6.48 + 0.25 * (5 - i) as f64
                } else {
                    6.48 + 0.0225 * (i - 5) as f64
                };
                (val, val - 0.04, 0.02 * step / 1000.0)
            })
            .collect()
    }

    #[test]
    fn a_loss_climbing_back_with_the_train_loss_is_diverging_not_a_plateau() {
        let verdicts = judge(&slow_blow_up());
        let kinds: Vec<SignalKind> = verdicts.iter().map(|v| v.state.kind).collect();
        let first = kinds.iter().position(|&k| k == SignalKind::Diverging);
        // 0.1 nats above the best (6.58) is passed at evaluation 10 (6.5925); the second
        // evaluation past it, 11, names it.
        assert_eq!(first, Some(10), "{kinds:?}");
        assert!(!kinds.contains(&SignalKind::Overfitting), "{kinds:?}");
        let evidence = &verdicts[10].state.evidence;
        for needle in [
            "above its best 6.4800 (step 250)",
            "still rising",
            "lengthen",
        ] {
            assert!(evidence.contains(needle), "{needle}: {evidence}");
        }
        assert!(!evidence.contains("cosine"), "{evidence}");
        assert!(
            evidence.contains("back above the unigram level 6.5300"),
            "{evidence}"
        );
        let below = judge(&slow_blow_up()[..9]);
        assert!(below.iter().all(|v| v.state.kind != SignalKind::Diverging));
    }

    #[test]
    fn noise_around_a_falling_curve_is_never_diverging() {
        // Falling 0.02 per evaluation with ±0.06 of noise on val and ±0.03 on train.
        let curve: Vec<(f64, f64, f64)> = (0..40)
            .map(|i| {
                let trend = 6.5 - 0.02 * i as f64;
                let wobble = [0.06, -0.06, 0.03, -0.02, 0.05][i % 5];
                (trend + wobble, trend - 0.05 + wobble / 2.0, 1e-3)
            })
            .collect();
        let kinds: Vec<SignalKind> = judge(&curve).iter().map(|v| v.state.kind).collect();
        assert!(!kinds.contains(&SignalKind::Diverging), "{kinds:?}");
    }

    #[test]
    fn val_above_its_best_while_train_falls_is_not_diverging() {
        let mut curve = slow_blow_up();
        for (i, p) in curve.iter_mut().enumerate().skip(5) {
            p.1 = 6.4 - 0.05 * i as f64;
        }
        let kinds: Vec<SignalKind> = judge(&curve).iter().map(|v| v.state.kind).collect();
        assert!(!kinds.contains(&SignalKind::Diverging), "{kinds:?}");
    }

    #[test]
    fn plateau_advice_follows_the_schedule_in_force() {
        let flat = |lr: &dyn Fn(usize) -> f64| {
            let curve: Vec<(f64, f64, f64)> = (0..8)
                .map(|i| (if i == 0 { 6.0 } else { 5.5 }, 5.4, lr(i)))
                .collect();
            let v = judge(&curve);
            assert_eq!(v[7].state.kind, SignalKind::Plateau, "{:?}", v[7]);
            v[7].state.evidence.clone()
        };
        let constant = flat(&|_| 1e-3);
        assert!(constant.contains("constant at 1.000e-3"), "{constant}");
        assert!(!constant.contains("let it decay further"), "{constant}");
        let decaying = flat(&|i| 1e-3 / (i + 1) as f64);
        assert!(decaying.contains("decaying"), "{decaying}");
        let rising = flat(&|i| 1e-4 * (i + 1) as f64);
        assert!(rising.contains("still rising"), "{rising}");
        assert!(!rising.contains("decay further"), "{rising}");
    }

    #[test]
    fn the_lr_trend_needs_both_rates() {
        assert_eq!(lr_trend(Some(1e-3), Some(2e-3)), Some(LrTrend::Rising));
        assert_eq!(lr_trend(Some(1e-3), Some(1e-3)), Some(LrTrend::Constant));
        assert_eq!(lr_trend(Some(2e-3), Some(1e-3)), Some(LrTrend::Falling));
        assert_eq!(lr_trend(None, Some(1e-3)), None);
    }
}
