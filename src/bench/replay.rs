//! The matrix library alone on one step's shapes: how fast the products could go with nothing
//! around them, and so how much of a step is matrix work and how much everything else.
//!
//! On the CPU the products run exactly as the model's fused kernels run them (`gemm` over the
//! pool, attention's small products one task each, from the pool's first worker as a step
//! runs: `perplex_model::on_cpu_worker`), with operands and outputs allocated once; on other
//! devices through Burn's matmul.

use std::time::Instant;

use burn::backend::DispatchDevice;
use burn::tensor::{Device, Distribution, Tensor};
use perplex_model::{CpuProduct, Operand, StepProduct};
use serde::{Deserialize, Serialize};

use super::median;

/// How long the matrix products of one training step take by themselves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductTiming {
    /// Seconds for all of one step's products: the median of the passes.
    pub seconds: f64,
    /// Floating-point operations of one step's products.
    pub flops: f64,
    /// `flops / seconds`, in GFLOP/s.
    pub gflops: f64,
    /// Each product on its own, in the order of [`perplex_model::GptConfig::step_products`].
    pub products: Vec<TimedProduct>,
}

/// One line of [`ProductTiming`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimedProduct {
    /// The product and its shape.
    #[serde(flatten)]
    pub product: StepProduct,
    /// Seconds per step (all its calls), median of the passes.
    pub seconds: f64,
    /// GFLOP/s it reached.
    pub gflops: f64,
}

/// Runs each product of `products` once untimed and then `passes` times, on `device` without
/// autodiff, with operands laid out as the step lays them out (made once per product, before
/// its runs).
pub fn time_products(products: &[StepProduct], device: &Device, passes: usize) -> ProductTiming {
    let device = device.clone().without_autodiff();
    let timed: Vec<TimedProduct> = products
        .iter()
        .map(|product| {
            // Where a step's products run: on the CPU, from the pool's first worker.
            let times = perplex_model::on_cpu_worker(&device, || {
                time_passes(product, &device, passes.max(1))
            });
            let seconds = median(&times);
            TimedProduct {
                gflops: product.flops() / seconds / 1e9,
                product: product.clone(),
                seconds,
            }
        })
        .collect();
    let seconds: f64 = timed.iter().map(|p| p.seconds).sum();
    let flops: f64 = products.iter().map(StepProduct::flops).sum();
    ProductTiming {
        seconds,
        flops,
        gflops: flops / seconds / 1e9,
        products: timed,
    }
}

/// Seconds of each of `passes` runs of one product's `calls` calls, after one untimed run.
fn time_passes(product: &StepProduct, device: &Device, passes: usize) -> Vec<f64> {
    let mut run = runner(product, device);
    run();
    (0..passes)
        .map(|_| {
            let _ = device.sync();
            let started = Instant::now();
            run();
            let _ = device.sync();
            started.elapsed().as_secs_f64()
        })
        .collect()
}

/// One run of a product's `calls` calls, its operands made here: on the CPU as the fused
/// kernels run it, elsewhere through Burn's matmul (a plain 2-D product when `batch` is 1).
fn runner(product: &StepProduct, device: &Device) -> Box<dyn FnMut()> {
    if matches!(device.as_dispatch(), DispatchDevice::Flex(_)) {
        let mut cpu = CpuProduct::new(product);
        return Box::new(move || cpu.run());
    }
    let StepProduct {
        m,
        k,
        n,
        batch,
        calls,
        ..
    } = *product;
    let lhs = operand([batch, m, k], product.lhs, device);
    let rhs = operand([batch, k, n], product.rhs, device);
    if batch == 1 {
        let (lhs, rhs) = (lhs.squeeze_dim::<2>(0), rhs.squeeze_dim::<2>(0));
        return Box::new(move || (0..calls).for_each(|_| drop(lhs.clone().matmul(rhs.clone()))));
    }
    Box::new(move || (0..calls).for_each(|_| drop(lhs.clone().matmul(rhs.clone()))))
}

/// What subnormal operands cost the step's smallest linear-layer product on this CPU: the
/// product timed with ordinary operands, then with its left operand subnormal, with subnormals
/// kept (no flush) and flushed to zero (as training runs by default). A `flushed_slowdown` well above 1
/// means flushing no longer reaches the threads that multiply; a large `kept_slowdown` is
/// what a run whose values underflow would pay without it (several times on many Intel cores).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubnormalCost {
    /// The product timed (the step's smallest linear-layer product).
    pub product: String,
    /// Seconds with ordinary operands (median of the passes).
    pub normal_s: f64,
    /// Seconds with a subnormal left operand, subnormals kept.
    pub kept_s: f64,
    /// Seconds with a subnormal left operand, flushed to zero.
    pub flushed_s: f64,
    /// `kept_s / normal_s`.
    pub kept_slowdown: f64,
    /// `flushed_s / normal_s`.
    pub flushed_slowdown: f64,
}

/// Times the smallest linear-layer product of `products` three ways on the CPU (see
/// [`SubnormalCost`]), `passes` times each after one untimed run, alternating, and leaves flushing as it found it. `None`
/// where this CPU cannot flush (then there is nothing to compare).
pub fn subnormal_cost(products: &[StepProduct], passes: usize) -> Option<SubnormalCost> {
    use perplex_model::denormals::{flush_denormals, flushing_on_this_thread};
    // The smallest of the linear layers' products: kept subnormals made a product 160–211×
    // slower on an Intel Xeon, which on the largest would lengthen every bench by far.
    let product = products
        .iter()
        .filter(|p| !p.what.starts_with("attention"))
        .min_by(|a, b| a.flops().total_cmp(&b.flops()))?;
    let was_on = flushing_on_this_thread();
    let mut operands = [CpuProduct::new(product), CpuProduct::subnormal(product)];
    // (operands, flush) of the three cases: ordinary, subnormal kept, subnormal flushed.
    let cases = [(0, true), (1, false), (1, true)];
    let mut times = [vec![], vec![], vec![]];
    for pass in 0..=passes.max(1) {
        for (i, &(which, flush)) in cases.iter().enumerate() {
            if !flush_denormals(flush) {
                return None;
            }
            let started = Instant::now();
            operands[which].run();
            if pass > 0 {
                times[i].push(started.elapsed().as_secs_f64());
            }
        }
    }
    flush_denormals(was_on);
    let [normal_s, kept_s, flushed_s] = times.map(|t| median(&t));
    Some(SubnormalCost {
        product: product.what.clone(),
        normal_s,
        kept_s,
        flushed_s,
        kept_slowdown: kept_s / normal_s,
        flushed_slowdown: flushed_s / normal_s,
    })
}

/// A random `[batch, rows, cols]` operand, stored transposed when `layout` says so.
fn operand([batch, rows, cols]: [usize; 3], layout: Operand, device: &Device) -> Tensor<3> {
    let normal = Distribution::Normal(0.0, 1.0);
    match layout {
        Operand::RowMajor => Tensor::random([batch, rows, cols], normal, device),
        Operand::Transposed => Tensor::random([batch, cols, rows], normal, device).swap_dims(1, 2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use perplex_model::GptConfig;

    #[test]
    fn every_product_is_timed_and_the_total_is_their_sum() {
        let config = GptConfig {
            vocab_size: 300,
            ctx: 16,
            layers: 2,
            heads: 2,
            d_model: 32,
            dropout: 0.0,
            word_dropout: 0.0,
        };
        let products = config.step_products(4);
        let timing = time_products(&products, &Device::flex(), 3);
        assert_eq!(timing.products.len(), products.len());
        assert!(timing.products.iter().all(|p| p.seconds > 0.0));
        let sum: f64 = timing.products.iter().map(|p| p.seconds).sum();
        assert!((sum - timing.seconds).abs() < 1e-12);
        let flops: f64 = products.iter().map(StepProduct::flops).sum();
        assert!((timing.gflops - flops / timing.seconds / 1e9).abs() < 1e-9);
    }

    #[test]
    fn the_subnormal_case_times_a_linear_product_and_restores_the_setting() {
        use perplex_model::denormals::{FLUSH_SUPPORTED, flushing_on_this_thread};
        let config = GptConfig {
            vocab_size: 300,
            ctx: 16,
            layers: 1,
            heads: 2,
            d_model: 32,
            dropout: 0.0,
            word_dropout: 0.0,
        };
        let before = flushing_on_this_thread();
        let cost = subnormal_cost(&config.step_products(4), 2);
        assert_eq!(
            cost.is_some(),
            FLUSH_SUPPORTED,
            "timed exactly where the CPU flushes"
        );
        let Some(cost) = cost else { return };
        assert!(!cost.product.starts_with("attention"), "{}", cost.product);
        assert!(cost.normal_s > 0.0 && cost.kept_s > 0.0 && cost.flushed_s > 0.0);
        assert_eq!(cost.kept_slowdown, cost.kept_s / cost.normal_s);
        assert_eq!(flushing_on_this_thread(), before);
    }
}
