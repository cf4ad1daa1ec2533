//! The fused ops on Burn's CPU backend (`Flex`): tensors in, tensors out, work split over
//! rayon's pool (the one Flex's matmuls use).

use burn::backend::flex::FlexTensor;
use burn::backend::ops::FloatTensorOps;
use burn::backend::{Distribution, Flex, FlexDevice};
use burn::tensor::{DType, FloatDType, Shape, TensorData};
use rayon::prelude::*;
use std::mem::MaybeUninit;

use super::kernels;

/// Elements per rayon task in the element-wise kernels: large enough to amortise the task,
/// small enough to balance two to sixteen threads.
pub(super) const CHUNK: usize = 1 << 14;

/// `t` as a dense, zero-offset `f32` tensor. Shares `t`'s storage when it already is one (so
/// [`FlexTensor::storage_mut`] writes in place when nothing else holds it), copies otherwise.
pub fn dense(t: FlexTensor) -> FlexTensor {
    assert_eq!(
        t.dtype(),
        DType::F32,
        "the fused CPU kernels take f32 tensors"
    );
    let t = t.to_contiguous();
    let n = t.layout().num_elements();
    if t.layout().contiguous_offsets() == Some((0, n)) && t.bytes().len() == 4 * n {
        return t;
    }
    let shape = t.layout().shape().clone();
    let values = t.as_slice::<f32>().expect("contiguous f32").to_vec();
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// The elements of a dense tensor from [`dense`].
pub(super) fn values(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("a dense f32 tensor")
}

/// The elements of a dense tensor, writable: in place when unshared, on a copy otherwise.
pub(super) fn values_mut(t: &mut FlexTensor) -> &mut [f32] {
    t.storage_mut::<f32>()
}

/// Zeroes `piece` of a fresh buffer's spare capacity and returns it as initialised floats:
/// how the kernels build their outputs, one piece per rayon task.
///
/// A `vec![0.0; len]` zeroes the whole buffer on the calling thread first: at ptb-small's
/// shapes those memsets were 1.5% of a training step's samples, all on the main thread while
/// the pool waited (`perf`, Intel Xeon). Zeroing a piece on the task that then writes it costs
/// next to nothing, and runs on every core. Call `set_len` only after every piece went
/// through here (a panicking task makes the parallel loop panic before it).
pub(super) fn zeroed(piece: &mut [MaybeUninit<f32>]) -> &mut [f32] {
    piece.fill(MaybeUninit::new(0.0));
    // SAFETY: every element was just written, and `MaybeUninit<f32>` has `f32`'s layout.
    unsafe { &mut *(piece as *mut [MaybeUninit<f32>] as *mut [f32]) }
}

/// A tensor of `shape` holding `values`.
pub(super) fn tensor(values: Vec<f32>, shape: Shape) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// Target ids of a `[rows]` integer tensor, checked against the vocabulary size.
pub(super) fn target_ids(targets: &FlexTensor, vocab: usize) -> Vec<u32> {
    fn checked<T: Copy + Into<i64>>(ids: Option<&[T]>, vocab: usize) -> Vec<u32> {
        let ids = ids.expect("contiguous targets");
        ids.iter()
            .map(|&id| {
                let id: i64 = id.into();
                assert!(
                    (0..vocab as i64).contains(&id),
                    "target id {id} is outside the vocabulary of {vocab}"
                );
                id as u32
            })
            .collect()
    }
    let targets = targets.to_contiguous();
    match targets.dtype() {
        DType::I64 => checked(targets.as_slice::<i64>(), vocab),
        DType::I32 => checked(targets.as_slice::<i32>(), vocab),
        DType::U32 => checked(targets.as_slice::<u32>(), vocab),
        other => panic!("target ids must be integers, not {other:?}"),
    }
}

/// What the cross-entropy's backward pass needs: the logits, the targets and each row's
/// logsumexp (nats).
#[derive(Clone, Debug)]
pub(super) struct NllState {
    logits: FlexTensor,
    targets: Vec<u32>,
    logsumexp: Vec<f32>,
}

/// A row's `logsumexp` (nats) from its maximum and `Σ e^(x − max)`: one expression for
/// [`nll_forward`] and [`nll_rank_forward`], so the two report the same bits.
fn row_logsumexp(max: f32, sum: f32) -> f32 {
    max + sum.ln()
}

/// `[rows, vocab]` logits and `[rows]` targets → `[rows]` NLL in nats, and the state its
/// backward pass needs.
pub(super) fn nll_forward(logits: FlexTensor, targets: &FlexTensor) -> (NllState, FlexTensor) {
    let logits = dense(logits);
    let [rows, vocab] = logits.layout().shape().dims::<2>();
    let targets = target_ids(targets, vocab);
    assert_eq!(targets.len(), rows, "one target per row of logits");
    let mut nll = vec![0.0f32; rows];
    let mut logsumexp = vec![0.0f32; rows];
    nll.par_iter_mut()
        .zip(logsumexp.par_iter_mut())
        .zip(values(&logits).par_chunks(vocab))
        .zip(targets.par_iter())
        .for_each(|(((nll, lse), row), &target)| {
            let (max, sum) = kernels::nll_forward_row(row);
            *lse = row_logsumexp(max, sum);
            *nll = *lse - row[target as usize];
        });
    let state = NllState {
        logits,
        targets,
        logsumexp,
    };
    (state, tensor(nll, Shape::new([rows])))
}

/// `∂loss/∂logits = grad · (softmax − onehot(target))` from the forward pass's `state`,
/// written over the logits' own buffer when nothing else holds it.
pub(super) fn nll_backward(state: NllState, grad: FlexTensor) -> FlexTensor {
    let NllState {
        mut logits,
        targets,
        logsumexp,
    } = state;
    let grad = dense(grad);
    let grad = values(&grad);
    let [_, vocab] = logits.layout().shape().dims::<2>();
    values_mut(&mut logits)
        .par_chunks_mut(vocab)
        .enumerate()
        .for_each(|(row_index, row)| {
            let g = grad[row_index];
            kernels::nll_backward_row(row, logsumexp[row_index], g);
            row[targets[row_index] as usize] -= g;
        });
    logits
}

/// `[rows, vocab]` logits and `[rows]` targets → `[rows, 2]`: each row's NLL in nats (the
/// same bits as [`nll_forward`]'s) and how many logits are strictly greater than the target's
/// (as `f32`, exact below 2^24; 0 when the target is the model's first guess). One read of the
/// logits for both, for an evaluation, which needs no backward pass.
pub(super) fn nll_rank_forward(logits: FlexTensor, targets: &FlexTensor) -> FlexTensor {
    let logits = dense(logits);
    let [rows, vocab] = logits.layout().shape().dims::<2>();
    let targets = target_ids(targets, vocab);
    assert_eq!(targets.len(), rows, "one target per row of logits");
    let mut pairs = vec![0.0f32; 2 * rows];
    pairs
        .par_chunks_mut(2)
        .zip(values(&logits).par_chunks(vocab))
        .zip(targets.par_iter())
        .for_each(|((pair, row), &target)| {
            let (max, sum, above) = kernels::nll_rank_row(row, target as usize);
            pair[0] = row_logsumexp(max, sum) - row[target as usize];
            pair[1] = above as f32;
        });
    tensor(pairs, Shape::new([rows, 2]))
}

/// `residual + branch`, element-wise over equal shapes, written over `branch`'s buffer when
/// nothing else holds it (the residual stream itself is usually still needed).
pub(super) fn add_forward(residual: FlexTensor, branch: FlexTensor) -> FlexTensor {
    let residual = dense(residual);
    let mut sum = dense(branch);
    assert_eq!(
        residual.layout().shape(),
        sum.layout().shape(),
        "a residual add of two different shapes"
    );
    values_mut(&mut sum)
        .par_chunks_mut(CHUNK)
        .zip(values(&residual).par_chunks(CHUNK))
        .for_each(|(sum, residual)| {
            for (s, &r) in sum.iter_mut().zip(residual) {
                *s += r;
            }
        });
    sum
}

/// Exact GELU of `x`, written over `x`'s buffer when nothing else holds it: for inference,
/// which needs no derivative.
pub(super) fn gelu_forward(x: FlexTensor) -> FlexTensor {
    let mut x = dense(x);
    values_mut(&mut x)
        .par_chunks_mut(CHUNK)
        .for_each(kernels::gelu_forward);
    x
}

/// Exact GELU of `x`, written over `x`'s buffer when nothing else holds it, and `GELU'(x)`
/// into a new tensor: the derivative is what the backward pass keeps instead of `x` (the
/// same memory), so that pass is one multiplication rather than a second erf.
pub(super) fn gelu_forward_train(x: FlexTensor) -> (FlexTensor, FlexTensor) {
    let mut x = dense(x);
    let shape = x.layout().shape().clone();
    let values = values_mut(&mut x);
    let mut derivative = Vec::<f32>::with_capacity(values.len());
    derivative.spare_capacity_mut()[..values.len()]
        .par_chunks_mut(CHUNK)
        .zip(values.par_chunks_mut(CHUNK))
        .for_each(|(derivative, x)| kernels::gelu_forward_and_derivative(x, derivative));
    // SAFETY: every element of the derivative was written by its task above.
    unsafe { derivative.set_len(values.len()) };
    (tensor(derivative, shape), x)
}

/// `grad · GELU'(x)` from the `derivative` of [`gelu_forward_train`], over `grad`'s buffer
/// when nothing else holds it.
pub(super) fn gelu_backward(derivative: &FlexTensor, grad: FlexTensor) -> FlexTensor {
    let mut grad = dense(grad);
    values_mut(&mut grad)
        .par_chunks_mut(CHUNK)
        .zip(values(derivative).par_chunks(CHUNK))
        .for_each(|(g, d)| kernels::gelu_backward(d, g));
    grad
}

/// The parameters of one dropout mask: which elements survive and how much they are scaled.
#[derive(Clone, Copy, Debug)]
pub(super) struct DropoutMask {
    seed: u32,
    drop_below: u32,
    scale: f32,
}

impl DropoutMask {
    /// A fresh mask dropping each element with probability `prob`, its seed drawn from the
    /// CPU backend's generator (so `Device::seed` makes it reproducible).
    pub(super) fn draw(prob: f64) -> Self {
        let draws = Flex::float_random(
            Shape::new([2]),
            Distribution::Uniform(0.0, 65_536.0),
            &FlexDevice,
            FloatDType::F32,
        );
        let halves = values(&draws);
        let seed = ((halves[0] as u32) << 16) | (halves[1] as u32 & 0xFFFF);
        Self {
            seed,
            drop_below: (prob * 4_294_967_296.0).min(u32::MAX as f64) as u32,
            scale: (1.0 / (1.0 - prob)) as f32,
        }
    }
}

/// `x · mask · scale`, over `x`'s buffer when nothing else holds it.
pub(super) fn dropout_forward(mask: DropoutMask, x: FlexTensor) -> FlexTensor {
    let mut x = dense(x);
    values_mut(&mut x)
        .par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(chunk, values)| {
            let first = (chunk * CHUNK) as u32;
            kernels::dropout_forward(values, first, mask.seed, mask.drop_below, mask.scale);
        });
    x
}

/// `grad · mask · scale`: dropout is linear, so its backward pass is its forward pass with
/// the same mask.
pub(super) fn dropout_backward(mask: DropoutMask, grad: FlexTensor) -> FlexTensor {
    dropout_forward(mask, grad)
}
