//! The training loss: the mean cross-entropy of a batch, with its gradient computed in the
//! same pass as its value.
//!
//! A training step differentiates the mean NLL and nothing else, so the gradient with respect
//! to the logits, `(softmax − onehot) / rows`, is known when the loss is: each row is read from
//! memory once, its exponentials taken once, and the gradient written over it while it is still
//! in cache ([`kernels::nll_gradient_row`]). The per-token op (`flex::nll_forward` and
//! `flex::nll_backward`) reads every row twice and takes every exponential twice, once each
//! way; at ptb-small's shape the two were 5% of a step's CPU samples (`perf`, Intel Xeon).
//! The backward step only scales the stored gradient when the loss's incoming gradient is not
//! 1, which `loss.backward()` never gives.

use burn::backend::flex::FlexTensor;
use burn::tensor::Shape;
use rayon::prelude::*;

use super::flex::{dense, nll_forward, target_ids, tensor, values, values_mut};
use super::kernels;

/// Elements per rayon task when the stored gradient is scaled.
const CHUNK: usize = 1 << 14;

/// `[rows, vocab]` logits and `[rows]` targets → `[1]`: the mean NLL per token, nats, summed
/// in `f64` in row order (so the figure does not depend on the thread count). No gradient.
pub(super) fn mean_nll(logits: FlexTensor, targets: &FlexTensor) -> FlexTensor {
    let (_, nll) = nll_forward(logits, targets);
    mean_of(values(&nll))
}

/// [`mean_nll`], and `∂(mean NLL)/∂logits` written over the logits' buffer (a copy when
/// something else holds it): the backward step's state.
pub(super) fn mean_nll_and_gradient(
    logits: FlexTensor,
    targets: &FlexTensor,
) -> (FlexTensor, FlexTensor) {
    let mut logits = dense(logits);
    let [rows, vocab] = logits.layout().shape().dims::<2>();
    let targets = target_ids(targets, vocab);
    assert_eq!(targets.len(), rows, "one target per row of logits");
    let scale = 1.0 / rows as f32;
    let mut nll = vec![0.0f32; rows];
    values_mut(&mut logits)
        .par_chunks_mut(vocab)
        .zip(nll.par_iter_mut())
        .zip(targets.par_iter())
        .for_each(|((row, nll), &target)| {
            *nll = kernels::nll_gradient_row(row, target as usize, scale);
        });
    (logits, mean_of(&nll))
}

/// The gradient of the logits for an incoming gradient `grad` (`[1]`) of the mean: the stored
/// one when `grad` is 1, scaled by it otherwise.
pub(super) fn mean_nll_backward(mut gradient: FlexTensor, grad: FlexTensor) -> FlexTensor {
    let grad = dense(grad);
    let g = values(&grad)[0];
    if g != 1.0 {
        values_mut(&mut gradient)
            .par_chunks_mut(CHUNK)
            .for_each(|piece| piece.iter_mut().for_each(|x| *x *= g));
    }
    gradient
}

/// `[1]`: the mean of `nll`, summed in `f64` (NaN when there is none).
fn mean_of(nll: &[f32]) -> FlexTensor {
    let sum: f64 = nll.iter().map(|&v| f64::from(v)).sum();
    let mean = (sum / nll.len() as f64) as f32;
    tensor(vec![mean], Shape::new([1]))
}
