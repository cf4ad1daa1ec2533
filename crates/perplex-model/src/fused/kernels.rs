//! The slice kernels behind the fused CPU ops: plain loops over `f32` that the compiler turns
//! into AVX-512 or AVX2 code, chosen once per call from what the CPU reports.
//!
//! Three pieces of math are written out by hand because the library versions are scalar calls:
//! `exp` (Cody–Waite range reduction and a degree-6 polynomial, as in Cephes' `expf`; the test
//! below holds its relative error under 5e-7 on [-87, 88]), `erf` (Abramowitz & Stegun 7.1.26,
//! published absolute error ≤ 1.5e-7; tested against a numerical integral) and a 32-bit
//! integer hash for dropout masks (MurmurHash3's finaliser over the element index). Every
//! kernel works on one contiguous run of elements; the callers split tensors into such runs and
//! hand them to rayon.

use std::mem::MaybeUninit;

/// Compiles `$body` three times, for AVX-512, for AVX2 + FMA and for the baseline target, and
/// runs the best one the CPU supports. The checks are cached by the standard library.
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body($($arg: $ty),*) $(-> $ret)? $body

            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                fn v4($($arg: $ty),*) $(-> $ret)? { body($($arg),*) }
                #[target_feature(enable = "avx2,fma")]
                fn v3($($arg: $ty),*) $(-> $ret)? { body($($arg),*) }

                if std::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has just reported AVX-512F.
                    return unsafe { v4($($arg),*) };
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: the CPU has just reported AVX2 and FMA.
                    return unsafe { v3($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}

/// Lanes of the hand-unrolled reductions: one AVX-512 register of `f32`.
const LANES: usize = 16;

/// `e^x` for `x` in `[-87, 88]` (inputs outside are clamped; NaN stays NaN).
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5 · 2^23: adding it rounds to the nearest integer and leaves that integer in the low
    // mantissa bits, so no float→int conversion is needed.
    const ROUNDER: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * LOG2E + ROUNDER;
    let n = shifted - ROUNDER;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let p = p * r * r + r + 1.0;
    let exponent = shifted
        .to_bits()
        .wrapping_sub(ROUNDER.to_bits())
        .wrapping_add(127)
        << 23;
    p * f32::from_bits(exponent)
}

/// `(erf(x / √2), e^(-x²/2))`: the Gaussian CDF's core and density kernel, shared by GELU's
/// forward and backward.
#[inline(always)]
fn erf_and_gauss(x: f32) -> (f32, f32) {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_74,
        1.421_413_8,
        -1.453_152,
        1.061_405_4,
    ];
    let z = x.abs() * std::f32::consts::FRAC_1_SQRT_2;
    let t = 1.0 / (1.0 + P * z);
    let poly = ((((A[4] * t + A[3]) * t + A[2]) * t + A[1]) * t + A[0]) * t;
    let gauss = exp(-z * z);
    let erf_abs = 1.0 - poly * gauss;
    (erf_abs.copysign(x), gauss)
}

/// `(GELU(x), GELU'(x))` = `(x · Φ(x), Φ(x) + x · φ(x))`: the one place both are written,
/// so inference and training compute the same bits.
#[inline(always)]
fn gelu_and_derivative(x: f32) -> (f32, f32) {
    const INV_SQRT_2PI: f32 = 0.398_942_3;
    let (erf, gauss) = erf_and_gauss(x);
    let phi = 0.5 * (1.0 + erf);
    (0.5 * x * (1.0 + erf), phi + x * gauss * INV_SQRT_2PI)
}

/// The largest element of `x` (−∞ when empty), kept in [`LANES`] running maxima so the
/// loop is one vector `max` per register instead of a serial chain.
#[inline(always)]
fn max_of(x: &[f32]) -> f32 {
    let mut maxes = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (m, &v) in maxes.iter_mut().zip(chunk) {
            *m = m.max(v);
        }
    }
    tail.iter()
        .chain(&maxes)
        .fold(f32::NEG_INFINITY, |m, &v| m.max(v))
}

/// The largest element of `x` (as [`max_of`]) and how many elements are strictly greater than
/// `value`, in one pass of [`LANES`] running maxima and counts.
#[inline(always)]
fn max_and_count_above(x: &[f32], value: f32) -> (f32, u32) {
    let mut maxes = [f32::NEG_INFINITY; LANES];
    let mut counts = [0u32; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for ((m, c), &v) in maxes.iter_mut().zip(&mut counts).zip(chunk) {
            *m = m.max(v);
            *c += u32::from(v > value);
        }
    }
    let max = tail
        .iter()
        .chain(&maxes)
        .fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let tail_count = tail.iter().map(|&v| u32::from(v > value)).sum::<u32>();
    (max, tail_count + counts.iter().sum::<u32>())
}

/// `Σ term(a[j], b[j], c[j])` over slices of equal length, in [`LANES`] partial sums: floats
/// do not reassociate, so a single accumulator would keep the compiler to one lane at a time.
#[inline(always)]
fn sum3(a: &[f32], b: &[f32], c: &[f32], term: impl Fn(f32, f32, f32) -> f32) -> f32 {
    debug_assert!(a.len() == b.len() && a.len() == c.len());
    let mut sums = [0.0f32; LANES];
    let (wa, wb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let wc = c.chunks_exact(LANES);
    let tails = wa
        .remainder()
        .iter()
        .zip(wb.remainder())
        .zip(wc.remainder());
    let tail: f32 = tails.map(|((&x, &y), &z)| term(x, y, z)).sum();
    for ((ca, cb), cc) in wa.zip(wb).zip(wc) {
        for (((s, &x), &y), &z) in sums.iter_mut().zip(ca).zip(cb).zip(cc) {
            *s += term(x, y, z);
        }
    }
    tail + sums.iter().sum::<f32>()
}

/// `Σ term(a[j], b[j])`, in [`LANES`] partial sums (see [`sum3`]).
#[inline(always)]
fn sum2(a: &[f32], b: &[f32], term: impl Fn(f32, f32) -> f32) -> f32 {
    sum3(a, b, b, |x, y, _| term(x, y))
}

/// `Σ term(x[j])`, in [`LANES`] partial sums (see [`sum3`]).
#[inline(always)]
fn sum_of(x: &[f32], term: impl Fn(f32) -> f32) -> f32 {
    sum3(x, x, x, |v, _, _| term(v))
}

multiversion! {
    /// The largest element of `row` and `Σ e^(row[j] − max)`: a softmax row's normaliser,
    /// `logsumexp = max + ln(sum)`.
    pub(crate) fn nll_forward_row(row: &[f32]) -> (f32, f32) {
        let max = max_of(row);
        (max, sum_of(row, |x| exp(x - max)))
    }
}

multiversion! {
    /// [`nll_forward_row`]'s maximum and sum, and how many elements of `row` are strictly
    /// greater than `row[target]`, counted in the same read of the row as the maximum.
    pub(crate) fn nll_rank_row(row: &[f32], target: usize) -> (f32, f32, u32) {
        let (max, above) = max_and_count_above(row, row[target]);
        (max, sum_of(row, |x| exp(x - max)), above)
    }
}

multiversion! {
    /// The training loss of one row and its gradient in one visit: returns the row's NLL of
    /// `target` (nats) and overwrites the row with `scale · (softmax − onehot(target))`, both
    /// the same bits as [`nll_forward_row`] followed by [`nll_backward_row`] give.
    ///
    /// Only the first read (the maximum) comes from memory: the row (40 KB at a 10,000-word
    /// vocabulary) then stays in the core's cache for the sum and for the gradient, where the
    /// separate forward and backward rows each read it from memory. (Storing `e^(x − max)` in
    /// the sum's pass would save the second exponential, but `e^(x − max) / Σ` is not
    /// `e^(x − logsumexp)` to the last bit, and every recorded run would move.)
    pub(crate) fn nll_gradient_row(row: &mut [f32], target: usize, scale: f32) -> f32 {
        let max = max_of(row);
        let sum = sum_of(row, |x| exp(x - max));
        let logsumexp = max + sum.ln();
        let nll = logsumexp - row[target];
        scaled_softmax(row, logsumexp, scale);
        row[target] -= scale;
        nll
    }
}

/// `row ← scale · e^(row − logsumexp)`: the one place the cross-entropy's gradient is written,
/// so [`nll_backward_row`] and [`nll_gradient_row`] give the same bits.
#[inline(always)]
fn scaled_softmax(row: &mut [f32], logsumexp: f32, scale: f32) {
    for x in row.iter_mut() {
        *x = scale * exp(*x - logsumexp);
    }
}

multiversion! {
    /// Overwrites a row of logits with `scale · softmax`, given the row's `logsumexp`.
    pub(crate) fn nll_backward_row(row: &mut [f32], logsumexp: f32, scale: f32) {
        scaled_softmax(row, logsumexp, scale);
    }
}

multiversion! {
    /// `x ← GELU(x) = x · Φ(x)`, the exact (erf) form.
    pub(crate) fn gelu_forward(x: &mut [f32]) {
        for v in x.iter_mut() {
            // The derivative is unused here, and the compiler drops its arithmetic.
            *v = gelu_and_derivative(*v).0;
        }
    }
}

multiversion! {
    /// `x ← GELU(x)` and `derivative = GELU'(x) = Φ(x) + x · φ(x)` in one pass, for
    /// training: the erf and the Gaussian that both need are computed once, here, and the
    /// backward pass becomes one multiplication ([`gelu_backward`]) instead of a second erf.
    pub(crate) fn gelu_forward_and_derivative(x: &mut [f32], derivative: &mut [MaybeUninit<f32>]) {
        for (v, d) in x.iter_mut().zip(derivative.iter_mut()) {
            let (value, slope) = gelu_and_derivative(*v);
            *v = value;
            d.write(slope);
        }
    }
}

multiversion! {
    /// `grad ← grad · GELU'(x)`, given the `derivative` that
    /// [`gelu_forward_and_derivative`] saved.
    pub(crate) fn gelu_backward(derivative: &[f32], grad: &mut [f32]) {
        for (g, &d) in grad.iter_mut().zip(derivative) {
            *g *= d;
        }
    }
}

multiversion! {
    /// Row `i` of causal attention scores → probabilities: a softmax over `row[..=i]` (the
    /// positions up to and including `i`) and zeros after.
    pub(crate) fn causal_softmax_row(row: &mut [f32], i: usize) {
        let (seen, future) = row.split_at_mut(i + 1);
        let max = max_of(seen);
        for x in seen.iter_mut() {
            *x = exp(*x - max);
        }
        let inverse = 1.0 / sum_of(seen, |x| x);
        for x in seen.iter_mut() {
            *x *= inverse;
        }
        future.fill(0.0);
    }
}

multiversion! {
    /// Row `i` of the scores' gradient, over the probabilities' gradient `grad`:
    /// `scale · p ⊙ (grad − Σ grad ⊙ p)` on `..=i`, zeros after.
    pub(crate) fn causal_softmax_backward_row(grad: &mut [f32], p: &[f32], i: usize, scale: f32) {
        let (seen, future) = grad.split_at_mut(i + 1);
        let dot = sum2(seen, &p[..=i], |g, p| g * p);
        for (g, &p) in seen.iter_mut().zip(p) {
            *g = scale * p * (*g - dot);
        }
        future.fill(0.0);
    }
}

multiversion! {
    /// One row of LayerNorm, `out = (x − mean) · rstd · gamma + beta` with
    /// `rstd = 1 / √(var + epsilon)`; returns `(mean, rstd)` for the backward pass.
    pub(crate) fn layer_norm_forward_row(
        x: &[f32],
        gamma: &[f32],
        beta: &[f32],
        epsilon: f32,
        out: &mut [MaybeUninit<f32>],
    ) -> (f32, f32) {
        let n = x.len() as f32;
        let mean = sum_of(x, |v| v) / n;
        let var = sum_of(x, |v| (v - mean) * (v - mean)) / n;
        let rstd = 1.0 / (var + epsilon).sqrt();
        for (((o, &v), &g), &b) in out.iter_mut().zip(x).zip(gamma).zip(beta) {
            o.write((v - mean) * rstd * g + b);
        }
        (mean, rstd)
    }
}

multiversion! {
    /// One row of LayerNorm's backward pass: `dx = rstd · (g − mean(g) − x̂ · mean(g ⊙ x̂))`
    /// with `g = dy ⊙ gamma` and `x̂ = (x − mean) · rstd`; adds the row's share of the
    /// parameters' gradients, `dy ⊙ x̂` and `dy`, into `dgamma` and `dbeta`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn layer_norm_backward_row(
        x: &[f32],
        dy: &[f32],
        gamma: &[f32],
        stats: (f32, f32),
        dx: &mut [MaybeUninit<f32>],
        dgamma: &mut [f32],
        dbeta: &mut [f32],
    ) {
        let (mean, rstd) = stats;
        let n = x.len() as f32;
        let g_mean = sum2(dy, gamma, |d, w| d * w) / n;
        let gx_mean = sum3(x, dy, gamma, |v, d, w| d * w * (v - mean) * rstd) / n;
        let grads = dx.iter_mut().zip(dgamma.iter_mut()).zip(dbeta.iter_mut());
        for (((dx, dg), db), ((&v, &d), &w)) in grads.zip(x.iter().zip(dy).zip(gamma)) {
            let x_hat = (v - mean) * rstd;
            dx.write(rstd * (d * w - g_mean - x_hat * gx_mean));
            *dg += d * x_hat;
            *db += d;
        }
    }
}

/// Whether element `index` survives dropout under `seed`: a uniform 32-bit hash of the pair,
/// compared with `drop_below` (the drop probability times 2^32).
#[inline(always)]
pub(crate) fn keeps(index: u32, seed: u32, drop_below: u32) -> bool {
    let mut h = index.wrapping_mul(0x9E37_79B9) ^ seed;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85EB_CA6B);
    h ^= h >> 13;
    h = h.wrapping_mul(0xC2B2_AE35);
    h ^= h >> 16;
    h >= drop_below
}

multiversion! {
    /// `x ← x · mask · scale` for the elements numbered `first..first + x.len()`, the mask
    /// being [`keeps`] under `seed`. The same call on the gradient is the backward pass.
    pub(crate) fn dropout_forward(x: &mut [f32], first: u32, seed: u32, drop_below: u32, scale: f32) {
        for (i, v) in x.iter_mut().enumerate() {
            let keep = keeps(first.wrapping_add(i as u32), seed, drop_below);
            *v = if keep { *v * scale } else { 0.0 };
        }
    }
}

#[cfg(test)]
#[path = "kernels_tests.rs"]
mod tests;
