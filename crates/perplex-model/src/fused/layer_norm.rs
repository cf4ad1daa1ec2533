//! LayerNorm on the CPU backend: one parallel pass forward, one backward.
//!
//! Burn's CPU backend has a fused LayerNorm forward, but under autodiff LayerNorm is built from
//! its parts (a mean, a subtraction, a square, a second mean, a square root, a division, a
//! scale and a shift), each a one-threaded pass with its own node and its own backward. Here
//! the forward keeps each row's mean and `1/σ`, and the backward gives the input's gradient
//! row by row and the parameters' gradients as per-block sums added in a fixed order (so the
//! result does not depend on the thread count).

use burn::backend::flex::FlexTensor;
use burn::tensor::Shape;
use rayon::prelude::*;

use super::flex::{dense, tensor, values};
use super::kernels;

/// Rows per rayon task, and per partial sum of the parameters' gradients.
const ROWS: usize = 64;

/// What LayerNorm's backward pass needs.
#[derive(Clone, Debug)]
pub(super) struct LayerNormState {
    x: FlexTensor,
    gamma: Vec<f32>,
    stats: Vec<(f32, f32)>,
}

/// `[…, d]` input, `[d]` scale and shift → the normalised `[…, d]`, and the backward state.
pub(super) fn layer_norm_forward(
    x: FlexTensor,
    gamma: FlexTensor,
    beta: FlexTensor,
    epsilon: f32,
) -> (LayerNormState, FlexTensor) {
    let (x, gamma, beta) = (dense(x), dense(gamma), dense(beta));
    let shape = x.layout().shape().clone();
    let d = gamma.layout().num_elements();
    let input = values(&x);
    assert!(
        input.len().is_multiple_of(d) && values(&beta).len() == d,
        "LayerNorm of width {d} over a tensor of shape {shape:?}"
    );
    let (gamma, beta) = (values(&gamma).to_vec(), values(&beta));
    let mut out = Vec::<f32>::with_capacity(input.len());
    let mut stats = vec![(0.0f32, 0.0f32); input.len() / d];
    out.spare_capacity_mut()[..input.len()]
        .par_chunks_mut(d * ROWS)
        .zip(input.par_chunks(d * ROWS))
        .zip(stats.par_chunks_mut(ROWS))
        .for_each(|((out, x), stats)| {
            for ((out, x), stats) in out.chunks_mut(d).zip(x.chunks(d)).zip(stats) {
                *stats = kernels::layer_norm_forward_row(x, &gamma, beta, epsilon, out);
            }
        });
    // SAFETY: every row of the output was written by its task above.
    unsafe { out.set_len(input.len()) };
    let out = tensor(out, shape);
    (LayerNormState { x, gamma, stats }, out)
}

/// The gradients of the input, the scale and the shift, from the output's gradient.
pub(super) fn layer_norm_backward(
    state: LayerNormState,
    grad: FlexTensor,
) -> (FlexTensor, FlexTensor, FlexTensor) {
    let LayerNormState { x, gamma, stats } = state;
    let d = gamma.len();
    let grad = dense(grad);
    let len = values(&x).len();
    let mut dx = Vec::<f32>::with_capacity(len);
    let partials: Vec<Vec<f32>> = dx.spare_capacity_mut()[..len]
        .par_chunks_mut(d * ROWS)
        .zip(values(&x).par_chunks(d * ROWS))
        .zip(values(&grad).par_chunks(d * ROWS))
        .zip(stats.par_chunks(ROWS))
        .map(|(((dx, x), dy), stats)| {
            let mut sums = vec![0.0f32; 2 * d];
            let (dgamma, dbeta) = sums.split_at_mut(d);
            let rows = dx.chunks_mut(d).zip(x.chunks(d)).zip(dy.chunks(d));
            for (((dx, x), dy), &stats) in rows.zip(stats) {
                kernels::layer_norm_backward_row(x, dy, &gamma, stats, dx, dgamma, dbeta);
            }
            sums
        })
        .collect();
    // SAFETY: every row of `dx` was written by its task above.
    unsafe { dx.set_len(len) };
    let mut sums = vec![0.0f32; 2 * d];
    for partial in &partials {
        for (s, p) in sums.iter_mut().zip(partial) {
            *s += p;
        }
    }
    let dbeta = sums.split_off(d);
    let dx = tensor(dx, x.layout().shape().clone());
    (
        dx,
        tensor(sums, Shape::new([d])),
        tensor(dbeta, Shape::new([d])),
    )
}
