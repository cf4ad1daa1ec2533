//! Timing training steps: steady-state throughput after warm-up, and one validation pass.

use std::time::Instant;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::TrainError;
use crate::config::RunConfig;
use crate::data::TrainData;
use crate::evaluate::evaluate;
use crate::trainer::Trainer;

/// What `perplex bench` measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// Timed training steps.
    pub steps: usize,
    /// Untimed warm-up steps before them.
    pub warmup: usize,
    /// Tokens per training step (batch × ctx).
    pub tokens_per_step: usize,
    /// Trainable parameters.
    pub params: usize,
    /// Median seconds per step.
    pub median_s_per_step: f64,
    /// Fastest step, seconds.
    pub min_s_per_step: f64,
    /// Slowest step, seconds.
    pub max_s_per_step: f64,
    /// Tokens per second at the median step time.
    pub median_tokens_per_s: f64,
    /// Tokens per second over all timed steps (total tokens / total time).
    pub mean_tokens_per_s: f64,
    /// Model FLOPs per trained token (see `GptConfig::train_flops_per_token`).
    pub flops_per_token: f64,
    /// Achieved model GFLOP/s at the median step time.
    pub gflops: f64,
    /// Seconds of one full validation pass, if asked for.
    pub eval_s: Option<f64>,
    /// Tokens that validation pass predicted.
    pub eval_tokens: Option<u64>,
    /// Peak resident memory of the process, MiB (Linux only).
    pub peak_rss_mib: Option<f64>,
    /// Loss of the last timed step, nats (a sanity check that training happened).
    pub last_loss: f64,
}

/// Times `steps` training steps after `warmup` untimed ones, and optionally one full
/// validation pass, on `device` with `config`'s shape.
pub fn bench(
    config: &RunConfig,
    data: &TrainData,
    device: &Device,
    steps: usize,
    warmup: usize,
    with_eval: bool,
) -> Result<BenchReport, TrainError> {
    let shape = config.model().shape(data.tokenizer.vocab_size())?;
    crate::memory::check(
        &shape,
        config.train().batch_size,
        crate::memory::available_bytes(),
    )?;
    let mut trainer = Trainer::new(config, &shape, data.train.len(), device)?;
    for _ in 0..warmup {
        trainer.step(&data.train);
    }
    let mut times = Vec::with_capacity(steps);
    let mut last_loss = f64::NAN;
    for _ in 0..steps {
        let started = Instant::now();
        last_loss = trainer.step(&data.train).loss;
        times.push(started.elapsed().as_secs_f64());
    }
    let tokens_per_step = trainer.tokens_per_step() as usize;
    let total: f64 = times.iter().sum();
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN);
    let flops_per_token = shape.train_flops_per_token();
    let median_tokens_per_s = tokens_per_step as f64 / median;
    let (eval_s, eval_tokens) = if with_eval {
        let model = trainer.eval_model();
        let started = Instant::now();
        let sum = evaluate(&model, &data.valid, config.train().eval_batch());
        (Some(started.elapsed().as_secs_f64()), Some(sum.tokens))
    } else {
        (None, None)
    };
    Ok(BenchReport {
        steps,
        warmup,
        tokens_per_step,
        params: shape.num_params(),
        median_s_per_step: median,
        min_s_per_step: sorted.first().copied().unwrap_or(f64::NAN),
        max_s_per_step: sorted.last().copied().unwrap_or(f64::NAN),
        median_tokens_per_s,
        mean_tokens_per_s: (tokens_per_step * steps) as f64 / total,
        flops_per_token,
        gflops: flops_per_token * median_tokens_per_s / 1e9,
        eval_s,
        eval_tokens,
        peak_rss_mib: peak_rss_mib(),
        last_loss,
    })
}

/// Peak resident set size of this process in MiB, from `/proc/self/status` (`VmHWM`).
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
