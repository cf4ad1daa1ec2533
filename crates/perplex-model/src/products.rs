//! The matrix products of one training step, listed so that a benchmark can time the matrix
//! library alone on exactly the shapes the model gives it.

use serde::{Deserialize, Serialize};

use crate::GptConfig;
use crate::fused::matrix::{Strided, Threads, matmul};

/// How an operand lies in memory when the product reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operand {
    /// Stored as the `[rows, cols]` the product reads.
    RowMajor,
    /// Stored as `[cols, rows]` and read through a transposed view (no copy).
    Transposed,
}

/// `calls × batch` products of an `[m, k]` matrix by a `[k, n]` one: `calls` separate calls,
/// each over a batch of `batch` independent products.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepProduct {
    /// Where the product comes from, e.g. `"mlp.fc1 forward"`.
    pub what: String,
    /// Rows of the left operand and of the result.
    pub m: usize,
    /// The shared (summed-over) dimension.
    pub k: usize,
    /// Columns of the right operand and of the result.
    pub n: usize,
    /// Separate calls per step (one per layer, or one).
    pub calls: usize,
    /// Independent products per call (sequences × heads for attention, else 1).
    pub batch: usize,
    /// The left operand's layout.
    pub lhs: Operand,
    /// The right operand's layout.
    pub rhs: Operand,
}

impl StepProduct {
    /// Floating-point operations of all `calls × batch` products: `2·m·k·n` each.
    pub fn flops(&self) -> f64 {
        2.0 * (self.m * self.k * self.n * self.calls * self.batch) as f64
    }
}

impl GptConfig {
    /// Every matrix product of one training step (forward and backward) on `batch` sequences
    /// of `ctx` tokens. Attention's products are listed at their full `ctx × ctx` size, as the
    /// CPU kernel runs them (the causal half of the scores is computed, then masked).
    pub fn step_products(&self, batch: usize) -> Vec<StepProduct> {
        use Operand::{RowMajor as R, Transposed as T};
        let (d, v, l) = (self.d_model, self.vocab_size, self.layers);
        let rows = batch * self.ctx;
        let product =
            |what: String, [m, k, n]: [usize; 3], [calls, batch]: [usize; 2], lhs, rhs| {
                StepProduct {
                    what,
                    m,
                    k,
                    n,
                    calls,
                    batch,
                    lhs,
                    rhs,
                }
            };
        let mut products = Vec::new();
        // Burn stores a linear layer's weight as [d_in, d_out]: y = x·W, dx = dy·Wᵀ, dW = xᵀ·dy.
        for (name, d_in, d_out) in [
            ("attn.qkv", d, 3 * d),
            ("attn.proj", d, d),
            ("mlp.fc1", d, 4 * d),
            ("mlp.fc2", 4 * d, d),
        ] {
            products.extend([
                product(format!("{name} forward"), [rows, d_in, d_out], [l, 1], R, R),
                product(format!("{name} ∂x"), [rows, d_out, d_in], [l, 1], R, T),
                product(format!("{name} ∂W"), [d_in, rows, d_out], [l, 1], T, R),
            ]);
        }
        let (t, hd) = (self.ctx, d / self.heads);
        let per_head = [l, batch * self.heads];
        products.extend([
            product("attention Q·Kᵀ".into(), [t, hd, t], per_head, R, T),
            product("attention P·V".into(), [t, t, hd], per_head, R, R),
            product("attention ∂P = ∂Y·Vᵀ".into(), [t, hd, t], per_head, R, T),
            product("attention ∂Q = ∂S·K".into(), [t, t, hd], per_head, R, R),
            product("attention ∂K = ∂Sᵀ·Q".into(), [t, t, hd], per_head, T, R),
            product("attention ∂V = Pᵀ·∂Y".into(), [t, t, hd], per_head, T, R),
        ]);
        // The tied output projection: logits = x·Eᵀ with E the [vocab, d] embedding.
        products.extend([
            product("logits forward".into(), [rows, d, v], [1, 1], R, T),
            product("logits ∂x".into(), [rows, v, d], [1, 1], R, R),
            product("logits ∂E".into(), [v, rows, d], [1, 1], T, R),
        ]);
        products
    }
}

/// One [`StepProduct`] ready to run on the CPU as the fused kernels run it: `gemm` over the
/// whole pool for the layers' products, one task per matrix for attention's small ones;
/// operands and output allocated once, so that a run times the matrix library alone.
#[derive(Debug)]
pub struct CpuProduct {
    product: StepProduct,
    lhs: Vec<f32>,
    rhs: Vec<f32>,
    out: Vec<f32>,
}

impl CpuProduct {
    /// Operands for `product` (small, fixed values: nothing subnormal) and its output.
    pub fn new(product: &StepProduct) -> Self {
        Self::with_fill(product)
    }

    /// [`CpuProduct::new`] with every value of the left operand subnormal (below 1.18e-38 in
    /// magnitude, none zero), so its products and sums are
    /// subnormal too: the values a run at too high a learning rate produces (underflowing
    /// attention probabilities). Timed beside `new`, it shows what subnormals cost a CPU, with
    /// and without [`crate::denormals::flush_denormals`].
    pub fn subnormal(product: &StepProduct) -> Self {
        let mut cpu = Self::new(product);
        // Built from bits, not by scaling: with flush-to-zero on (as in `perplex bench`,
        // which has set up training), a multiplication into the subnormal range gives 0.
        for (i, v) in cpu.lhs.iter_mut().enumerate() {
            let mantissa = ((i % 17) as u32 + 1) << 18;
            let sign = (i as u32 & 1) << 31;
            *v = f32::from_bits(sign | mantissa);
        }
        cpu
    }

    fn with_fill(product: &StepProduct) -> Self {
        let StepProduct { m, k, n, batch, .. } = *product;
        let fill = |len: usize| (0..len).map(|i| (i % 17) as f32 * 0.01 - 0.08).collect();
        Self {
            product: product.clone(),
            lhs: fill(batch * m * k),
            rhs: fill(batch * k * n),
            out: vec![0.0; batch * m * n],
        }
    }

    /// Runs all `calls × batch` products once.
    pub fn run(&mut self) {
        self.run_with(Threads::Pool);
    }

    /// [`CpuProduct::run`] of a one-matrix product on the calling thread alone.
    #[cfg(test)]
    fn run_on_this_thread(&mut self) {
        assert_eq!(self.product.batch, 1);
        self.run_with(Threads::One);
    }

    fn run_with(&mut self, threads: Threads) {
        use rayon::prelude::*;
        let StepProduct { m, k, n, batch, .. } = self.product;
        let layout = |operand, rows, cols| match operand {
            Operand::RowMajor => Strided::rows(0, cols),
            Operand::Transposed => Strided::rows(0, rows).t(),
        };
        let (l, r) = (
            layout(self.product.lhs, m, k),
            layout(self.product.rhs, k, n),
        );
        let d = Strided::rows(0, n);
        for _ in 0..self.product.calls {
            if batch == 1 {
                let (lhs, rhs) = ((&self.lhs[..], l), (&self.rhs[..], r));
                matmul([m, k, n], 1.0, (&mut self.out, d), lhs, rhs, false, threads);
                continue;
            }
            self.out
                .par_chunks_mut(m * n)
                .zip(self.lhs.par_chunks(m * k))
                .zip(self.rhs.par_chunks(k * n))
                .for_each(|((out, lhs), rhs)| {
                    matmul(
                        [m, k, n],
                        1.0,
                        (out, d),
                        (lhs, l),
                        (rhs, r),
                        false,
                        Threads::One,
                    );
                });
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_products_add_up_to_the_model_flops_outside_attention() {
        let config = crate::config::ptb_small();
        let batch = 32;
        let products = config.step_products(batch);
        let (attention, rest): (Vec<_>, Vec<_>) = products
            .iter()
            .partition(|p| p.what.starts_with("attention"));
        let tokens = (batch * config.ctx) as f64;
        let rest: f64 = rest.iter().map(|p| p.flops()).sum();
        let (v, d, l) = (10_000.0, 256.0, 4.0);
        assert_eq!(rest, 6.0 * (l * 12.0 * d * d + v * d) * tokens);
        // Six dense ctx × ctx × head_dim products per head: twice the causal estimate in
        // `train_flops_per_token`.
        let attention: f64 = attention.iter().map(|p| p.flops()).sum();
        assert_eq!(attention, 2.0 * 6.0 * l * 64.0 * d * tokens);
        assert_eq!(products.len(), 4 * 3 + 6 + 3);
    }

    #[test]
    fn the_subnormal_operand_is_subnormal_and_flushing_zeroes_its_product() {
        let product = crate::config::ptb_small().step_products(1).remove(0);
        // On a thread of its own, so that no other test's setting is changed. The operand is
        // made while flushing is on (as `perplex bench` makes it), and must still be
        // subnormal; the product is computed single-threaded with subnormals kept, then
        // flushed.
        std::thread::spawn(move || {
            crate::denormals::set_this_thread(true);
            let mut cpu = super::CpuProduct::subnormal(&product);
            assert!(cpu.lhs.iter().all(|v| v.is_subnormal()));
            crate::denormals::set_this_thread(false);
            cpu.run_on_this_thread();
            assert!(cpu.out.iter().any(|v| v.is_subnormal()));
            if crate::denormals::FLUSH_SUPPORTED {
                crate::denormals::set_this_thread(true);
                cpu.run_on_this_thread();
                assert!(
                    cpu.out.iter().all(|&v| v == 0.0),
                    "flushed operands give zeros"
                );
                crate::denormals::set_this_thread(false);
            }
        })
        .join()
        .unwrap();
    }
}
