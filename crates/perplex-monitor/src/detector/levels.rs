//! The judgements of levels rather than trends: `diverged` (worse than guessing, or than the
//! model was before it learned) and `stalled` (never better than word frequencies).

use super::{Detector, EvalPoint};

impl Detector {
    /// The evidence that the run has diverged at `point`: its validation loss above the
    /// uniform guess or its own step-0 loss, or its mean training loss since the previous
    /// evaluation above the higher of the two, each by more than `diverge_margin` nats.
    pub(super) fn diverged(&self, point: &EvalPoint) -> Option<String> {
        // A noisy foreign log may scatter a few noise deviations above the level by chance.
        let m = self.config.diverge_margin.max(self.noise_floor(3.0));
        let b = &self.baselines;
        let uniform = b.uniform.map(|u| {
            let v = u.exp().round();
            (
                format!("a uniform guess over the vocabulary (ln V = ln {v:.0} = {u:.4})"),
                u,
            )
        });
        let initial = b
            .initial
            .map(|i| (format!("the model's own loss before training ({i:.4})"), i));
        let mut found: Vec<String> = [&uniform, &initial]
            .into_iter()
            .flatten()
            .filter(|(_, level)| point.val_loss > level + m)
            .map(|(what, level)| {
                let d = point.val_loss - level;
                format!("val loss {:.4} nats is {d:.2} above {what}", point.val_loss)
            })
            .collect();
        let ceiling = [&uniform, &initial]
            .into_iter()
            .flatten()
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((what, level)) = ceiling
            && point.train_loss > level + m
        {
            found.push(format!(
                "the mean training loss since the last evaluation, {:.4}, is {:.2} above {what}",
                point.train_loss,
                point.train_loss - level
            ));
        }
        let advice = self.advice(
            "Lower train.lr, add warm-up (train.warmup_steps) or clip gradients \
             (train.grad_clip = 1.0)",
            "Lower the peak learning rate, lengthen the warm-up, or clip the gradient norm \
             (1.0 is usual)",
        );
        (!found.is_empty()).then(|| {
            format!(
                "{}: the model predicts worse than guessing. {advice}",
                found.join("; ")
            )
        })
    }

    /// The evidence that the run has stalled: `stall_evals` evaluations or more, its best
    /// validation loss still not below the unigram baseline, and not on course to get there:
    /// at the improvement of this evaluation (the fall of the best loss from `previous_best`,
    /// or from the step-0 loss at the first evaluation), `stall_evals` more evaluations would
    /// not close the gap. A run improving fast enough is slow, not stalled.
    pub(super) fn stalled(&self, previous_best: Option<f64>) -> Option<String> {
        let (k, n) = (self.config.stall_evals, self.evals.len());
        let unigram = self.baselines.unigram?;
        let best = self.best()?.val_loss;
        if k == 0 || n < k || best < unigram {
            return None;
        }
        let before = previous_best.or(self.baselines.initial).unwrap_or(best);
        let fall = (before - best).max(0.0);
        let gap = best - unigram;
        if fall * k as f64 > gap {
            return None;
        }
        let pace = if fall > 0.0 {
            format!(
                "fell only {fall:.4} since the previous evaluation, {:.0} evaluations' worth \
                 of the gap",
                gap / fall
            )
        } else {
            "did not fall at this evaluation".to_string()
        };
        Some(format!(
            "after {n} evaluations the best val loss {best:.4} is still {gap:.2} nats above the \
             unigram baseline {unigram:.4} and {pace}: the model knows little more than word \
             frequencies. {}",
            self.advice(
                "Raise train.lr, or check the data",
                "Raise the learning rate, or check the data"
            )
        ))
    }
}
