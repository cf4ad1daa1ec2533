//! A loss that climbs back: `diverging`, and the learning-rate trend that decides what to
//! advise for it and for a plateau.
//!
//! Three patterns look alike in a single curve and need different cures. A plateau does not
//! rise. Overfitting rises on validation while the training loss falls (memorising). A run
//! that is *diverging* rises on both: the steps have become too large for where the model is
//! (a warm-up that overshoots, a resume at a higher rate), and it is losing what it learned.

use std::fmt::Write;

use super::smooth::{Rise, train};
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
    /// `k` standard deviations of the validation loss's own noise, nats, for another
    /// trainer's log (0 for a perplex run, whose full-split validation is not noisy, and
    /// while too few evaluations are in to tell).
    pub(super) fn noise_floor(&self, k: f64) -> f64 {
        if !self.foreign {
            return 0.0;
        }
        k * super::noise::val_noise(&self.evals).unwrap_or(0.0)
    }

    /// Whether the validation loss has risen above its best: the last `rise_evals`
    /// evaluations all more than the rise threshold above the best one. A foreign log whose
    /// noise is known is read through its levels ([`Detector::noisy_rise`]); one whose noise
    /// is not known yet counts a rise of three evaluations in a row too (a resumed run
    /// climbing back by a few hundredths per evaluation), however small against
    /// `rise_margin`.
    fn risen(&self) -> Option<Rise> {
        let sigma = super::noise::val_noise(&self.evals).filter(|_| self.foreign);
        if let Some(sigma) = sigma {
            return self.noisy_rise(sigma);
        }
        let (k, margin) = (self.config.rise_evals.max(1), self.config.rise_margin);
        let n = self.evals.len();
        let at_best = *self.best_point()?;
        let now = self.evals[n - 1];
        let rise = |margin| Rise {
            at_best,
            val_now: now.val_loss,
            val_best: at_best.val_loss,
            margin,
            train_then: train(&at_best),
            train_now: train(&now),
        };
        let above = |p: &EvalPoint| p.val_loss > at_best.val_loss + margin;
        if n > k && self.evals[n - k..].iter().all(above) {
            return Some(rise(margin));
        }
        let climbing = self.foreign && self.rises_in_a_row() >= 3 && at_best.step < now.step;
        climbing.then(|| rise(now.val_loss - at_best.val_loss))
    }

    /// The evidence of overfitting that has gone on: the validation loss risen above its
    /// best (see [`Detector::risen`]) while the training loss fell below what it was there.
    /// It stays `overfitting` however the rise slows, never a plateau.
    pub(super) fn above_best_while_train_falls(&self, point: &EvalPoint) -> Option<String> {
        let r = self.risen()?;
        (r.train_now < r.train_then).then(|| {
            format!(
                "val loss {:.4} is {:.2} nats above its best {:.4} (step {}), more than {}, \
                 while the train loss fell ({:.4} → {:.4}): the model is memorising the \
                 training data; the best weights are at step {}",
                point.val_loss,
                r.val_now - r.val_best,
                r.val_best,
                r.at_best.step,
                rounded(r.margin),
                r.train_then,
                r.train_now,
                r.at_best.step,
            )
        })
    }

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
            Some(LrTrend::Falling) => self.advice(
                "let it decay further, or try a lower train.lr",
                "let it decay further, or try a lower peak learning rate",
            ),
            Some(LrTrend::Constant) => self.advice(
                "decay it (train.min_lr below train.lr anneals it by cosine), or lower train.lr",
                "decay it (a cosine or linear decay to a lower floor), or lower it",
            ),
            Some(LrTrend::Rising) => self.advice(
                "if the loss does not fall once it peaks, lower train.lr or lengthen \
                 train.warmup_steps",
                "if the loss does not fall once it peaks, lower the peak learning rate or \
                 lengthen the warm-up",
            ),
            None => "decay the learning rate, or try a lower one",
        };
        format!("{}: {advice}", lr.describe())
    }

    /// The evidence that the run is diverging at `point`: its validation loss more than
    /// `rise_margin` nats above its best at each of the last `rise_evals` evaluations, and
    /// its training loss (eval-mode slice when measured) above what it was at the best.
    pub(super) fn diverging(&self, point: &EvalPoint) -> Option<String> {
        let r = self.risen()?;
        let with_train = train_with_the_rise(&r)?;
        let above = |p: &EvalPoint| p.val_loss > r.val_best + r.margin;
        let evals_above = self
            .evals
            .iter()
            .rev()
            .take_while(|p| above(p))
            .count()
            .max(1);
        let mut evidence = format!(
            "val loss {:.4} is {:.2} nats above its best {:.4} (step {}), more than {} \
             above it for {evals_above} evaluations, {with_train}: the run is getting worse, \
             not memorising",
            point.val_loss,
            r.val_now - r.val_best,
            r.val_best,
            r.at_best.step,
            rounded(r.margin),
        );
        let at_best = r.at_best;
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
            Some(LrTrend::Rising) => self.advice(
                "lower train.lr or lengthen train.warmup_steps, and clip gradients \
                 (train.grad_clip = 1.0)",
                "lower the peak learning rate or lengthen the warm-up, and clip the gradient \
                 norm if it is not clipped",
            ),
            Some(LrTrend::Constant) => self.advice(
                "lower train.lr, or let it decay (train.min_lr)",
                "lower the learning rate, or let it decay",
            ),
            Some(LrTrend::Falling) => self.advice(
                "it may recover as the rate decays, but the best weights are behind it: lower \
                 train.lr",
                "it may recover as the rate decays, but the best weights are behind it: lower \
                 the peak learning rate",
            ),
            None => "lower the learning rate",
        };
        let _ = write!(evidence, "; {}: {advice}", lr.describe());
        Some(evidence)
    }
}

/// What the training loss did beside a rise that makes it `diverging`: rose with it, or is
/// not in the log (a rise beyond the noise is still no plateau); `None` when it fell (that
/// is overfitting).
fn train_with_the_rise(r: &Rise) -> Option<String> {
    let (then, now) = (r.train_then, r.train_now);
    if now > then {
        Some(format!(
            "and the train loss rose with it ({then:.4} → {now:.4})"
        ))
    } else if then.is_nan() || now.is_nan() {
        Some("and the log has no training loss to tell memorising from getting worse".into())
    } else {
        None
    }
}

/// A margin as evidence quotes it: three decimals at most (`0.1`, `0.254`).
fn rounded(margin: f64) -> f64 {
    (margin * 1000.0).round() / 1000.0
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
