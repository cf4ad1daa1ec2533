//! Fused CPU kernels for the hot spots of a training step outside the big matrix products.
//!
//! Profiling a ptb-small step on Burn's CPU backend showed the matrix multiplies running on
//! both cores and much of everything between them on one: the softmax cross-entropy over the
//! 10,000-word vocabulary (a `[tokens, vocab]` log-softmax, a gather and their backward, each a
//! full pass over 82 MB), the exact GELU (a scalar `erff` per element), dropout (a ChaCha draw
//! per element, then two multiplies), and, under autodiff, attention and LayerNorm built from
//! a dozen small ops each. Here each is one parallel pass with its backward written by hand:
//!
//! - [`token_nll`]: logsumexp per row forward; `g · (softmax − onehot)` backward, written over
//!   the logits' own buffer. Nothing `[tokens, vocab]`-sized is allocated besides the logits.
//! - [`gelu`]: `x · Φ(x)` with a vectorised erf; the forward pass also keeps
//!   `Φ(x) + x · φ(x)`, so the backward pass is one multiplication.
//! - [`dropout`]: a mask hashed from (seed, element index), so the backward pass re-derives it
//!   instead of storing it.
//! - [`causal_attention`]: heads read in place from the packed `q | k | v` projection, one task
//!   per sequence (`attention.rs`).
//! - [`layer_norm`]: one pass per row each way (`layer_norm.rs`).
//! - [`residual_add`]: the residual stream's sums in one parallel pass.
//! - [`linear`]: one `gemm` per product with no zero-fill first, the bias folded into the
//!   forward product (`linear.rs`).
//! - [`mean_token_nll`]: the training loss, its gradient written in the same pass over each
//!   row of logits while the row is in cache (`loss.rs`).
//! - [`token_nll_and_rank`]: an evaluation's NLL and top-1/top-5 count in one read of the logits.
//! - `amx`: every pool-wide product with bf16 inputs on Intel's AMX tiles, when
//!   [`crate::set_precision`] asks for bf16 (`train.precision`).
//!
//! They run on the CPU backend only; on other devices the same functions fall back to Burn's
//! own ops: all but dropout agree up to float rounding, while dropout there draws its masks
//! from Burn's generator, so runs with dropout differ between devices.

#[cfg(target_arch = "x86_64")]
pub(crate) mod amx;
mod attention;
mod autodiff;
pub(crate) mod clock;
mod flex;
mod kernels;
mod layer_norm;
mod layout;
mod linear;
mod loss;
pub(crate) mod matrix;

pub use flex::dense as dense_f32;

use burn::backend::flex::FlexTensor;
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Backend, Dispatch, DispatchDevice, Flex, backend_extension};
use burn::nn::{Dropout, LayerNorm};
use burn::tensor::activation::log_softmax;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{DType, Int, Tensor};

use flex::DropoutMask;

/// The `epsilon` of every LayerNorm in the model, added to the variance before the square
/// root (PyTorch's and Burn's default).
pub const LAYER_NORM_EPSILON: f64 = 1e-5;

/// The fused ops, as a Burn backend extension: implemented for the CPU backend and for
/// autodiff over it (`autodiff.rs`).
#[backend_extension(Flex, Autodiff)]
pub trait FusedOps: Backend {
    /// `[rows, vocab]` logits and `[rows]` target ids → `[rows]` negative log-likelihood, nats.
    fn fused_nll(logits: FloatTensor<Self>, targets: IntTensor<Self>) -> FloatTensor<Self>;
    /// `[rows, vocab]` logits and `[rows]` target ids → `[1]`: the mean NLL per token, nats.
    fn fused_mean_nll(logits: FloatTensor<Self>, targets: IntTensor<Self>) -> FloatTensor<Self>;
    /// `[rows, vocab]` logits and `[rows]` targets → `[rows, 2]`: each row's NLL (nats) and
    /// its count of logits above the target's (as a float), for evaluation (no gradient).
    fn fused_nll_rank(logits: FloatTensor<Self>, targets: IntTensor<Self>) -> FloatTensor<Self>;
    /// Exact (erf) GELU, element-wise.
    fn fused_gelu(x: FloatTensor<Self>) -> FloatTensor<Self>;
    /// `residual + branch` for two tensors of one shape.
    fn fused_add(residual: FloatTensor<Self>, branch: FloatTensor<Self>) -> FloatTensor<Self>;
    /// Zeroes each element with probability `prob` and scales the rest by `1 / (1 − prob)`.
    fn fused_dropout(x: FloatTensor<Self>, prob: f64) -> FloatTensor<Self>;
    /// Causal attention of `heads` heads: `[batch, seq, 3·d]` packed queries, keys and values
    /// → `[batch, seq, d]`.
    fn fused_attention(qkv: FloatTensor<Self>, heads: usize) -> FloatTensor<Self>;
    /// `[rows, d_in] · [d_in, d_out] + bias` → `[rows, d_out]` (the weight may be a view).
    fn fused_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
    /// `[rows, d_in] · [d_in, d_out]` → `[rows, d_out]`, no bias (the weight may be a view).
    fn fused_matmul(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self>;
    /// LayerNorm over the last dimension with scale `gamma` and shift `beta`.
    fn fused_layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

impl FusedOps for Flex {
    fn fused_nll(logits: FlexTensor, targets: FlexTensor) -> FlexTensor {
        flex::nll_forward(logits, &targets).1
    }

    fn fused_mean_nll(logits: FlexTensor, targets: FlexTensor) -> FlexTensor {
        loss::mean_nll(logits, &targets)
    }

    fn fused_nll_rank(logits: FlexTensor, targets: FlexTensor) -> FlexTensor {
        flex::nll_rank_forward(logits, &targets)
    }

    fn fused_gelu(x: FlexTensor) -> FlexTensor {
        flex::gelu_forward(x)
    }

    fn fused_dropout(x: FlexTensor, prob: f64) -> FlexTensor {
        flex::dropout_forward(DropoutMask::draw(prob), x)
    }

    fn fused_add(residual: FlexTensor, branch: FlexTensor) -> FlexTensor {
        flex::add_forward(residual, branch)
    }

    fn fused_attention(qkv: FlexTensor, heads: usize) -> FlexTensor {
        attention::attention_forward(qkv, heads).1
    }

    fn fused_linear(x: FlexTensor, weight: FlexTensor, bias: FlexTensor) -> FlexTensor {
        linear::linear_forward(x, weight, Some(bias)).1
    }

    fn fused_matmul(x: FlexTensor, weight: FlexTensor) -> FlexTensor {
        linear::linear_forward(x, weight, None).1
    }

    fn fused_layer_norm(x: FlexTensor, gamma: FlexTensor, beta: FlexTensor) -> FlexTensor {
        layer_norm::layer_norm_forward(x, gamma, beta, LAYER_NORM_EPSILON as f32).1
    }
}

/// Whether the fused kernels serve `tensor`: f32 on the CPU backend, with or without autodiff.
fn fused_on<const D: usize>(tensor: &Tensor<D>) -> bool {
    let device = tensor.device().without_autodiff();
    matches!(device.as_dispatch(), DispatchDevice::Flex(_)) && tensor.dtype() == DType::F32
}

/// Negative log-likelihood of each target under `logits`, in nats:
/// `[batch, seq, vocab]`, `[batch, seq] → [batch, seq]`.
///
/// Kept per token (not reduced) so callers choose the reduction: the training loss is the
/// mean, and evaluation sums every token of a split before dividing once.
pub fn token_nll(logits: Tensor<3>, targets: Tensor<2, Int>) -> Tensor<2> {
    if !fused_on(&logits) {
        return composed_token_nll(logits, targets);
    }
    let [batch, seq, vocab] = logits.dims();
    let nll = <Dispatch as FusedOps>::fused_nll(
        logits.reshape([batch * seq, vocab]).into_dispatch(),
        targets.reshape([batch * seq]).into_dispatch(),
    );
    Tensor::<1>::from_dispatch(nll).reshape([batch, seq])
}

/// The mean of [`token_nll`] over every token, nats: a training step's loss,
/// `[batch, seq, vocab]`, `[batch, seq]` → `[1]`.
///
/// On the CPU its gradient is computed with its value, in one pass over the logits
/// (`loss.rs`): prefer it to `token_nll(..).mean()` wherever the mean is what is
/// differentiated.
pub fn mean_token_nll(logits: Tensor<3>, targets: Tensor<2, Int>) -> Tensor<1> {
    if !fused_on(&logits) {
        return composed_token_nll(logits, targets).mean();
    }
    let [batch, seq, vocab] = logits.dims();
    Tensor::from_dispatch(<Dispatch as FusedOps>::fused_mean_nll(
        logits.reshape([batch * seq, vocab]).into_dispatch(),
        targets.reshape([batch * seq]).into_dispatch(),
    ))
}

/// [`token_nll`] from Burn's own ops: log-softmax, then a gather.
fn composed_token_nll(logits: Tensor<3>, targets: Tensor<2, Int>) -> Tensor<2> {
    log_softmax(logits, 2)
        .gather(2, targets.unsqueeze_dim::<3>(2))
        .squeeze_dim::<2>(2)
        .neg()
}

/// [`token_nll`] of every target, and how many of its row's logits are strictly greater than
/// its own (0: the target was the model's first guess; below 5: among its first five), both
/// row-major: `[batch, seq, vocab]`, `[batch, seq]` → `batch · seq` of each. For an evaluation:
/// on the CPU one read of the logits gives both, where the NLL and a separate count would be
/// two passes over `batch · seq · vocab` floats.
pub fn token_nll_and_rank(logits: Tensor<3>, targets: Tensor<2, Int>) -> (Vec<f32>, Vec<u64>) {
    let [batch, seq, vocab] = logits.dims();
    let rows = batch * seq;
    let pairs = if fused_on(&logits) {
        Tensor::<2>::from_dispatch(<Dispatch as FusedOps>::fused_nll_rank(
            logits.reshape([rows, vocab]).into_dispatch(),
            targets.reshape([rows]).into_dispatch(),
        ))
    } else {
        let nll = composed_token_nll(logits.clone(), targets.clone());
        let target = logits
            .clone()
            .gather(2, targets.unsqueeze_dim::<3>(2))
            .expand([batch, seq, vocab]);
        let above = logits.greater(target).float().sum_dim(2);
        Tensor::cat(vec![nll.reshape([rows, 1]), above.reshape([rows, 1])], 1)
    };
    let pairs = pairs.into_data().try_to_vec::<f32>();
    let pairs = pairs.expect("the NLL and counts of a float model are floats");
    pairs.chunks(2).map(|p| (p[0], p[1] as u64)).unzip()
}

/// Exact GELU, `x · Φ(x)`, element-wise.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if !fused_on(&x) {
        return burn::tensor::activation::gelu(x);
    }
    Tensor::from_dispatch(<Dispatch as FusedOps>::fused_gelu(x.into_dispatch()))
}

/// `residual + branch`, a residual connection: the same sum as `+` on equal shapes, in one
/// parallel pass on the CPU (Burn's element-wise add there runs on one thread).
pub fn residual_add<const D: usize>(residual: Tensor<D>, branch: Tensor<D>) -> Tensor<D> {
    if !fused_on(&residual) || residual.dims() != branch.dims() {
        return residual + branch;
    }
    Tensor::from_dispatch(<Dispatch as FusedOps>::fused_add(
        residual.into_dispatch(),
        branch.into_dispatch(),
    ))
}

/// `layer` applied to `x`: identity unless `layer` is training, `x` can take part in a
/// backward pass and the probability is above zero (Burn's own rule).
pub fn dropout<const D: usize>(layer: &Dropout, x: Tensor<D>) -> Tensor<D> {
    let active = layer.training.is_enabled() && x.device().is_autodiff() && layer.prob > 0.0;
    if !active || !fused_on(&x) {
        return layer.forward(x);
    }
    Tensor::from_dispatch(<Dispatch as FusedOps>::fused_dropout(
        x.into_dispatch(),
        layer.prob,
    ))
}

/// Causal self-attention of `heads` heads over packed queries, keys and values:
/// `[batch, seq, 3·d_model] → [batch, seq, d_model]`, position `i` attending to `0..=i`,
/// scores scaled by `1/√head_dim`.
pub fn causal_attention(qkv: Tensor<3>, heads: usize) -> Tensor<3> {
    if !fused_on(&qkv) {
        return composed_causal_attention(qkv, heads);
    }
    Tensor::from_dispatch(<Dispatch as FusedOps>::fused_attention(
        qkv.into_dispatch(),
        heads,
    ))
}

/// [`causal_attention`] from Burn's own ops: split the heads out, Burn's `attention` with
/// `is_causal`, heads back side by side.
fn composed_causal_attention(qkv: Tensor<3>, heads: usize) -> Tensor<3> {
    let [batch, seq, width] = qkv.dims();
    let d_model = width / 3;
    let split = |part: usize| {
        qkv.clone()
            .narrow(2, part * d_model, d_model)
            .reshape([batch, seq, heads, d_model / heads])
            .swap_dims(1, 2)
    };
    let options = AttentionModuleOptions {
        scale: None,
        softcap: None,
        is_causal: true,
    };
    let y = attention(split(0), split(1), split(2), None, None, options);
    y.swap_dims(1, 2).reshape([batch, seq, d_model])
}

/// `x · weight + bias` for `[rows, d_in]` rows and a `[d_in, d_out]` weight (Burn's layout;
/// a transposed view works, as for the tied output projection).
pub fn linear(x: Tensor<2>, weight: Tensor<2>, bias: Option<Tensor<1>>) -> Tensor<2> {
    if !fused_on(&x) {
        let y = x.matmul(weight);
        return match bias {
            Some(bias) => y + bias.unsqueeze(),
            None => y,
        };
    }
    let (x, weight) = (x.into_dispatch(), weight.into_dispatch());
    Tensor::from_dispatch(match bias {
        Some(bias) => <Dispatch as FusedOps>::fused_linear(x, weight, bias.into_dispatch()),
        None => <Dispatch as FusedOps>::fused_matmul(x, weight),
    })
}

/// `ln` applied to `x` over its last dimension. `ln` must have been made with
/// [`LAYER_NORM_EPSILON`] (its epsilon is private to Burn, so the fused path assumes it).
pub fn layer_norm<const D: usize>(ln: &LayerNorm, x: Tensor<D>) -> Tensor<D> {
    let Some(beta) = ln.beta.as_ref().filter(|_| fused_on(&x)) else {
        return ln.forward(x);
    };
    Tensor::from_dispatch(<Dispatch as FusedOps>::fused_layer_norm(
        x.into_dispatch(),
        ln.gamma.val().into_dispatch(),
        beta.val().into_dispatch(),
    ))
}

#[cfg(test)]
mod tests;
