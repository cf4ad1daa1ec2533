//! The learning-rate schedule: linear warmup, then cosine annealing to `min_lr`, both from
//! Burn's schedulers, chained with its sequential scheduler.
//!
//! At optimizer step `s` (0-based) this gives `lr·(s+1)/W` for `s < W` (W warmup steps),
//! then `min_lr + ½(lr − min_lr)(1 + cos(π·(s − W)/(S − W)))` up to the last step `S − 1`:
//! the schedule of the PyTorch reference, checked step by step in the tests below.

use burn::optim::lr_scheduler::LrSchedulerConfig;
use burn::optim::lr_scheduler::cosine::CosineAnnealingLrSchedulerConfig;
use burn::optim::lr_scheduler::linear::LinearLrSchedulerConfig;
use burn::optim::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::optim::lr_scheduler::sequential::SequentialLrSchedulerConfig;

use crate::config::TrainConfig;

/// Builds the warmup-then-cosine scheduler of a run. `config` must have passed validation
/// (`0 < min_lr ≤ lr ≤ 1`, `warmup_steps < max_steps`).
pub fn lr_scheduler(config: &TrainConfig) -> ModuleLrScheduler {
    let warmup = config.warmup_steps as usize;
    let decay = (config.max_steps - config.warmup_steps) as usize;
    let cosine = CosineAnnealingLrSchedulerConfig::new(config.lr, decay).with_min_lr(config.min_lr);
    let built = if warmup == 0 {
        cosine.init()
    } else {
        let ramp = if warmup == 1 {
            LrSchedulerConfig::Constant(config.lr)
        } else {
            LrSchedulerConfig::Linear(LinearLrSchedulerConfig::new(
                config.lr / warmup as f64,
                config.lr,
                warmup - 1,
            ))
        };
        SequentialLrSchedulerConfig::new(
            vec![ramp, LrSchedulerConfig::Cosine(cosine)],
            vec![warmup],
        )
        .init()
    };
    built.expect("a validated config always makes a valid schedule")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(warmup: u64, max_steps: u64) -> TrainConfig {
        TrainConfig {
            batch_size: 1,
            max_steps,
            lr: 1e-3,
            min_lr: 1e-4,
            warmup_steps: warmup,
            weight_decay: 0.0,
            grad_clip: 0.0,
            seed: 0,
            log_every: 1,
            eval_every: 0,
            checkpoint_every: 0,
            eval_batch_size: None,
            time_budget_s: None,
            flush_denormals: true,
            precision: Default::default(),
        }
    }

    /// The reference schedule, written out as in the PyTorch peer `bench/torch_peer.py`.
    fn reference(s: u64, c: &TrainConfig) -> f64 {
        if s < c.warmup_steps {
            return c.lr * (s + 1) as f64 / c.warmup_steps as f64;
        }
        let span = (c.max_steps - c.warmup_steps).max(1) as f64;
        let progress = (s - c.warmup_steps) as f64 / span;
        c.min_lr + 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()) * (c.lr - c.min_lr)
    }

    #[test]
    fn matches_the_reference_at_every_step() {
        for (warmup, max_steps) in [(200, 5000), (10, 40), (1, 9), (0, 25)] {
            let c = config(warmup, max_steps);
            let mut scheduler = lr_scheduler(&c);
            for s in 0..max_steps {
                let got = scheduler.step().base();
                let want = reference(s, &c);
                assert!(
                    (got - want).abs() < 1e-12,
                    "warmup {warmup}, step {s}: {got} vs {want}"
                );
            }
        }
    }
}
