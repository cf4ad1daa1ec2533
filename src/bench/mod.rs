//! Timing training steps: steady-state throughput after warm-up, the machine and how busy
//! its cores were, the matrix library alone on the same shapes, and one evaluation as a run makes it.

mod machine;
mod replay;

use std::time::Instant;

use burn::backend::DispatchDevice;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use perplex_train::trainer::Trainer;
use perplex_train::{RunConfig, TrainData, TrainError};

pub use machine::{CoreMeter, Machine};
pub use replay::{ProductTiming, SubnormalCost, subnormal_cost, time_products};

/// What `perplex bench` measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// Where it ran: CPU model, vector extension, threads.
    pub machine: Machine,
    /// The training products' number format (`train.precision`); evaluation is always f32.
    #[serde(default)]
    pub precision: perplex_model::Precision,
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
    /// Average busy cores over the timed steps (CPU seconds / wall seconds; `None` where the
    /// OS does not report CPU time). Well under the thread count means serial work.
    pub cores_busy: Option<f64>,
    /// Seconds a timed step spent in its matrix products, on average, clocked inside the
    /// steps (the pool's products from entry to return, attention's per-head products'
    /// summed time shared among the threads; CPU backend only, else `None`).
    #[serde(default)]
    pub products_in_step_s: Option<f64>,
    /// `products_in_step_s` over the mean timed step: the rest of a step, as it runs, is
    /// everything else (element-wise kernels, copies, the optimizer, bookkeeping, waiting).
    #[serde(default)]
    pub products_in_step_share: Option<f64>,
    /// The step's matrix products timed alone (`None` when not asked for).
    pub matmul: Option<ProductTiming>,
    /// Share of the median step the products take alone, `matmul.seconds / median`: the
    /// rest of the step is everything else (element-wise kernels, copies, bookkeeping).
    pub matmul_share: Option<f64>,
    /// What subnormal operands cost the smallest linear-layer product, kept and flushed (CPU
    /// only, with the products; `None` otherwise or where the CPU cannot flush).
    pub subnormal: Option<SubnormalCost>,
    /// Seconds of one evaluation as a run makes it, if asked for: the validation pass with
    /// top-1/top-5 counts, the train slice's eval-mode loss and the generated samples.
    pub eval_s: Option<f64>,
    /// Seconds of that evaluation's validation pass alone.
    pub eval_pass_s: Option<f64>,
    /// Tokens the validation pass predicted.
    pub eval_tokens: Option<u64>,
    /// The config's `train.eval_every`, steps (0: the run evaluates only at its end).
    pub eval_every: u64,
    /// What the evaluations cost a run at that cadence: `eval_s / (eval_every · median step
    /// + eval_s)`, a fraction of wall time (`None` without `--eval` or when `eval_every` is 0).
    pub eval_share: Option<f64>,
    /// Peak resident memory of the process while training and validating, MiB (Linux only).
    pub peak_rss_mib: Option<f64>,
    /// Loss of the last timed step, nats (a sanity check that training happened).
    pub last_loss: f64,
}

/// What to time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchPlan {
    /// Timed training steps.
    pub steps: usize,
    /// Untimed steps before them.
    pub warmup: usize,
    /// Also time one evaluation as a run makes it (`perplex_train::run::measure`).
    pub eval: bool,
    /// Also time the step's matrix products alone (that many passes; 0 = not at all).
    pub matmul: usize,
}

/// Times `plan.steps` training steps after `plan.warmup` untimed ones on `device` with
/// `config`'s shape, and what else `plan` asks for.
pub fn bench(
    config: &RunConfig,
    data: &TrainData,
    device: &Device,
    plan: BenchPlan,
) -> Result<BenchReport, TrainError> {
    let BenchPlan {
        steps,
        warmup,
        eval: with_eval,
        matmul,
    } = plan;
    let shape = config.model().shape(data.tokenizer.vocab_size())?;
    perplex_train::memory::check(
        &shape,
        config.train().batch_size,
        perplex_train::memory::available_bytes(),
    )?;
    let mut trainer = Trainer::new(config, &shape, data.train.len(), device)?;
    let timed = time_steps(&mut trainer, &data.train, steps, warmup);
    let (times, last_loss, cores_busy) = (timed.seconds, timed.last_loss, timed.cores_busy);
    let tokens_per_step = trainer.tokens_per_step() as usize;
    let total: f64 = times.iter().sum();
    let on_cpu = matches!(device.as_dispatch(), DispatchDevice::Flex(_));
    // All timed steps' products over all their time: the share of the mean step.
    let in_steps = on_cpu.then(|| timed.products.wall(rayon::current_num_threads()));
    let median = median(&times);
    let flops_per_token = shape.train_flops_per_token();
    let median_tokens_per_s = tokens_per_step as f64 / median;
    let evaluation = with_eval.then(|| {
        let step = (warmup + steps) as u64;
        perplex_train::run::measure(&trainer.eval_model(), data, config, step)
    });
    let eval_every = config.train().eval_every;
    let eval_s = evaluation.as_ref().map(|m| m.seconds);
    let eval_share = eval_s
        .filter(|_| eval_every > 0)
        .map(|s| s / (eval_every as f64 * median + s));
    drop(trainer);
    // Before the products are replayed: their operands are not part of training.
    let peak_rss_mib = peak_rss_mib();
    let passes = matmul;
    let matmul = (matmul > 0).then(|| {
        time_products(
            &shape.step_products(config.train().batch_size),
            device,
            matmul,
        )
    });
    let subnormal = (matmul.is_some() && on_cpu)
        .then(|| subnormal_cost(&shape.step_products(config.train().batch_size), passes))
        .flatten();
    Ok(BenchReport {
        machine: Machine::this(),
        precision: config.train().precision,
        subnormal,
        cores_busy,
        products_in_step_s: in_steps.map(|s| s / steps.max(1) as f64),
        products_in_step_share: in_steps.map(|s| s / total),
        matmul_share: matmul.as_ref().map(|m| m.seconds / median),
        matmul,
        steps,
        warmup,
        tokens_per_step,
        params: shape.num_params(),
        median_s_per_step: median,
        min_s_per_step: times.iter().copied().fold(f64::NAN, f64::min),
        max_s_per_step: times.iter().copied().fold(f64::NAN, f64::max),
        median_tokens_per_s,
        mean_tokens_per_s: (tokens_per_step * steps) as f64 / total,
        flops_per_token,
        gflops: flops_per_token * median_tokens_per_s / 1e9,
        eval_s,
        eval_pass_s: evaluation.as_ref().map(|m| m.val_seconds),
        eval_tokens: evaluation.as_ref().map(|m| m.val.tokens),
        eval_every,
        eval_share,
        peak_rss_mib,
        last_loss,
    })
}

/// The middle value of `values` (the upper one of the two middle values when their count is
/// even); NaN when there are none.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

/// What [`time_steps`] measured.
struct TimedSteps {
    /// Seconds of each timed step.
    seconds: Vec<f64>,
    /// Loss of the last one, nats.
    last_loss: f64,
    /// Average busy cores over them.
    cores_busy: Option<f64>,
    /// Time in matrix products during them, all steps together.
    products: perplex_model::ProductSeconds,
}

/// `warmup` untimed steps, then `steps` steps timed one by one.
fn time_steps(trainer: &mut Trainer, train: &[u32], steps: usize, warmup: usize) -> TimedSteps {
    for _ in 0..warmup {
        trainer.step(train);
    }
    let mut seconds = Vec::with_capacity(steps);
    let mut last_loss = f64::NAN;
    let meter = CoreMeter::start();
    let ((), products) = perplex_model::clock_products(|| {
        for _ in 0..steps {
            let started = Instant::now();
            last_loss = trainer.step(train).loss;
            seconds.push(started.elapsed().as_secs_f64());
        }
    });
    TimedSteps {
        seconds,
        last_loss,
        cores_busy: meter.cores_busy(),
        products,
    }
}

/// Peak resident set size of this process in MiB, from `/proc/self/status` (`VmHWM`).
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
