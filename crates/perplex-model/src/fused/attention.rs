//! Causal self-attention on the CPU backend, read straight out of the packed `[q | k | v]`
//! projection and written straight into the `[batch, seq, d_model]` layout the output
//! projection takes.
//!
//! Burn's autodiff builds attention from its parts (split, head transposes, two matmuls, a
//! mask, a softmax, and the backward of each), most of them one-threaded passes and copies.
//! Here one rayon task per sequence runs, for each head, the six small products of
//! attention's forward and backward passes through `gemm` (the matrix library Burn's CPU
//! backend uses), reading the heads in place through strides. The softmax probabilities
//! (`[batch, heads, seq, seq]`, 2 MB per layer for ptb-small) are the only saved state.
//!
//! Per head, with `S = scale · Q Kᵀ` masked to `j ≤ i` and `P = softmax(S)` row by row:
//!
//! - forward: `Y = P V`;
//! - backward: `dP = dY Vᵀ`, `dS = scale · P ⊙ (dP − rowsum(dP ⊙ P))`,
//!   `dQ = dS K`, `dK = dSᵀ Q`, `dV = Pᵀ dY`.

use burn::backend::flex::FlexTensor;
use burn::tensor::Shape;
use rayon::prelude::*;

use super::flex::{dense, tensor, values, zeroed};
use super::kernels;
use super::matrix::{Strided, Threads, matmul};

/// What attention's backward pass needs: the packed projection and the probabilities.
#[derive(Clone, Debug)]
pub(super) struct AttentionState {
    qkv: FlexTensor,
    probs: Vec<f32>,
    heads: usize,
}

/// The shape of one call: `[batch, seq, 3·d_model]` in, `heads` heads of `head_dim`.
#[derive(Clone, Copy, Debug)]
struct Dims {
    batch: usize,
    seq: usize,
    d_model: usize,
    heads: usize,
    head_dim: usize,
}

impl Dims {
    fn of(qkv: &FlexTensor, heads: usize) -> Self {
        let [batch, seq, width] = qkv.layout().shape().dims::<3>();
        assert!(
            width.is_multiple_of(3) && (width / 3).is_multiple_of(heads),
            "packed q|k|v of width {width} cannot split into 3 × {heads} heads"
        );
        let d_model = width / 3;
        Self {
            batch,
            seq,
            d_model,
            heads,
            head_dim: d_model / heads,
        }
    }

    /// `1 / √head_dim`, the scale of the scores.
    fn scale(&self) -> f32 {
        1.0 / (self.head_dim as f32).sqrt()
    }

    /// Head `h`'s queries, keys or values (`part` 0, 1, 2) inside one sequence's `[seq, 3d]`.
    fn part(&self, part: usize, h: usize) -> Strided {
        Strided::rows(part * self.d_model + h * self.head_dim, 3 * self.d_model)
    }

    /// Head `h`'s columns inside one sequence's `[seq, d]` output (or its gradient).
    fn out(&self, h: usize) -> Strided {
        Strided::rows(h * self.head_dim, self.d_model)
    }

    /// Head `h`'s `[seq, seq]` probabilities inside one sequence's `[heads, seq, seq]`.
    fn probs(&self, h: usize) -> Strided {
        Strided::rows(h * self.seq * self.seq, self.seq)
    }
}

/// `[batch, seq, 3·d_model]` packed queries, keys and values → `[batch, seq, d_model]`, the
/// heads side by side; and the state the backward pass needs.
pub(super) fn attention_forward(qkv: FlexTensor, heads: usize) -> (AttentionState, FlexTensor) {
    let qkv = dense(qkv);
    let dims = Dims::of(&qkv, heads);
    let (batch, seq, d_model) = (dims.batch, dims.seq, dims.d_model);
    let (out_len, probs_len) = (batch * seq * d_model, batch * heads * seq * seq);
    let mut out = Vec::<f32>::with_capacity(out_len);
    let mut probs = Vec::<f32>::with_capacity(probs_len);
    out.spare_capacity_mut()[..out_len]
        .par_chunks_mut(seq * d_model)
        .zip(probs.spare_capacity_mut()[..probs_len].par_chunks_mut(heads * seq * seq))
        .zip(values(&qkv).par_chunks(seq * 3 * d_model))
        .for_each(|((out, probs), qkv)| sequence_forward(dims, qkv, zeroed(probs), zeroed(out)));
    // SAFETY: one task per sequence zeroed (then wrote) each sequence's pieces of both.
    unsafe {
        out.set_len(out_len);
        probs.set_len(probs_len);
    }
    let out = tensor(out, Shape::new([batch, seq, d_model]));
    (AttentionState { qkv, probs, heads }, out)
}

/// One sequence, every head: `probs ← softmax(scale · Q Kᵀ)`, `out ← probs · V`.
fn sequence_forward(dims: Dims, qkv: &[f32], probs: &mut [f32], out: &mut [f32]) {
    let (seq, hd, scale) = (dims.seq, dims.head_dim, dims.scale());
    for h in 0..dims.heads {
        let (p, q, k, v) = (
            dims.probs(h),
            dims.part(0, h),
            dims.part(1, h),
            dims.part(2, h),
        );
        head_product(
            [seq, hd, seq],
            scale,
            (&mut *probs, p),
            (qkv, q),
            (qkv, k.t()),
        );
        let rows = probs[p.offset..p.offset + seq * seq].chunks_mut(seq);
        for (i, row) in rows.enumerate() {
            kernels::causal_softmax_row(row, i);
        }
        head_product(
            [seq, seq, hd],
            1.0,
            (&mut *out, dims.out(h)),
            (probs, p),
            (qkv, v),
        );
    }
}

/// One head's product on the calling thread (the callers run one task per sequence).
fn head_product(
    mkn: [usize; 3],
    scale: f32,
    dst: (&mut [f32], Strided),
    lhs: (&[f32], Strided),
    rhs: (&[f32], Strided),
) {
    matmul(mkn, scale, dst, lhs, rhs, false, Threads::One);
}

/// `∂loss/∂qkv` (`[batch, seq, 3·d_model]`) from the output's gradient `grad`.
pub(super) fn attention_backward(state: AttentionState, grad: FlexTensor) -> FlexTensor {
    let AttentionState { qkv, probs, heads } = state;
    let dims = Dims::of(&qkv, heads);
    let (batch, seq, d_model) = (dims.batch, dims.seq, dims.d_model);
    let grad = dense(grad);
    let len = batch * seq * 3 * d_model;
    let mut dqkv = Vec::<f32>::with_capacity(len);
    dqkv.spare_capacity_mut()[..len]
        .par_chunks_mut(seq * 3 * d_model)
        .zip(values(&grad).par_chunks(seq * d_model))
        .zip(values(&qkv).par_chunks(seq * 3 * d_model))
        .zip(probs.par_chunks(heads * seq * seq))
        .for_each(|(((dqkv, dy), qkv), probs)| {
            sequence_backward(dims, qkv, probs, dy, zeroed(dqkv))
        });
    // SAFETY: one task per sequence zeroed (then wrote) its piece.
    unsafe { dqkv.set_len(len) };
    tensor(dqkv, Shape::new([batch, seq, 3 * d_model]))
}

/// One sequence, every head: the five products of attention's backward pass.
fn sequence_backward(dims: Dims, qkv: &[f32], probs: &[f32], dy: &[f32], dqkv: &mut [f32]) {
    let (seq, hd) = (dims.seq, dims.head_dim);
    let square = Strided::rows(0, seq);
    let mut ds = vec![0.0f32; seq * seq];
    for h in 0..dims.heads {
        let (p, dy_h) = (dims.probs(h), dims.out(h));
        let (q, k, v) = (dims.part(0, h), dims.part(1, h), dims.part(2, h));
        head_product(
            [seq, hd, seq],
            1.0,
            (&mut ds, square),
            (dy, dy_h),
            (qkv, v.t()),
        );
        let p_rows = probs[p.offset..p.offset + seq * seq].chunks(seq);
        for (i, (ds, p)) in ds.chunks_mut(seq).zip(p_rows).enumerate() {
            kernels::causal_softmax_backward_row(ds, p, i, dims.scale());
        }
        head_product(
            [seq, seq, hd],
            1.0,
            (&mut *dqkv, q),
            (&ds, square),
            (qkv, k),
        );
        head_product(
            [seq, seq, hd],
            1.0,
            (&mut *dqkv, k),
            (&ds, square.t()),
            (qkv, q),
        );
        head_product(
            [seq, seq, hd],
            1.0,
            (&mut *dqkv, v),
            (probs, p.t()),
            (dy, dy_h),
        );
    }
}
