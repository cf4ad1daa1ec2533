//! Linear layers and the output projection on the CPU backend: each product one `gemm` call
//! over the whole pool, written into memory that is not zero-filled first, the bias folded
//! into the forward product, and the bias gradient as per-block column sums.
//!
//! Burn's CPU matmul zero-fills every output before the product overwrites it, and adds a
//! bias in a second, one-threaded pass; at ptb-small's shapes both are serial work between
//! parallel products.

use burn::backend::flex::FlexTensor;
use burn::tensor::{DType, Shape};
use rayon::prelude::*;

use super::flex::{dense, tensor, values};
use super::matrix::{Strided, Threads, matmul, matmul_uninit};

/// Rows per partial sum of the bias gradient.
const ROWS: usize = 64;

/// What a linear layer's backward pass needs: its input and its weight (as laid out).
#[derive(Clone, Debug)]
pub(super) struct LinearState {
    x: FlexTensor,
    weight: FlexTensor,
    bias: bool,
}

/// The gradients of a linear layer's input, weight and (when it has one) bias.
pub(super) struct LinearGrads {
    pub x: FlexTensor,
    pub weight: FlexTensor,
    pub bias: Option<FlexTensor>,
}

/// A 2-D `f32` tensor's storage, layout and `[rows, cols]`, read in place at any strides.
fn matrix(t: &FlexTensor) -> (&[f32], Strided, [usize; 2]) {
    assert_eq!(
        t.dtype(),
        DType::F32,
        "the fused CPU kernels take f32 tensors"
    );
    let layout = t.layout();
    let dims = layout.shape().dims::<2>();
    let strides = layout.strides();
    assert!(strides.iter().all(|&s| s >= 0), "negative strides");
    let at = Strided {
        offset: layout.start_offset(),
        row: strides[0] as usize,
        col: strides[1] as usize,
    };
    (t.storage::<f32>(), at, dims)
}

/// `[rows, d_in] · [d_in, d_out] (+ bias)` → `[rows, d_out]`, and the backward state.
pub(super) fn linear_forward(
    x: FlexTensor,
    weight: FlexTensor,
    bias: Option<FlexTensor>,
) -> (LinearState, FlexTensor) {
    let x = dense(x);
    let [rows, d_in] = x.layout().shape().dims::<2>();
    let (w, w_at, [w_in, d_out]) = matrix(&weight);
    assert_eq!(w_in, d_in, "linear: input width {d_in}, weight rows {w_in}");
    let shape = [rows, d_in, d_out];
    let x_at = Strided::rows(0, d_in);
    let out_at = Strided::rows(0, d_out);
    let mut out = Vec::<f32>::with_capacity(rows * d_out);
    match &bias {
        Some(bias) => {
            let bias = dense(bias.clone());
            let bias = values(&bias);
            assert_eq!(
                bias.len(),
                d_out,
                "linear: bias of {} for width {d_out}",
                bias.len()
            );
            out.spare_capacity_mut()[..rows * d_out]
                .par_chunks_mut(d_out)
                .for_each(|row| {
                    for (o, &b) in row.iter_mut().zip(bias) {
                        o.write(b);
                    }
                });
            // SAFETY: every one of the `rows · d_out` elements was written just above.
            unsafe { out.set_len(rows * d_out) };
            let dst = (&mut out[..], out_at);
            matmul(
                shape,
                1.0,
                dst,
                (values(&x), x_at),
                (w, w_at),
                true,
                Threads::Pool,
            );
        }
        None => {
            let dst = (&mut out.spare_capacity_mut()[..rows * d_out], out_at);
            matmul_uninit(shape, dst, (values(&x), x_at), (w, w_at), Threads::Pool);
            // SAFETY: the product wrote every element of the `rows × d_out` output.
            unsafe { out.set_len(rows * d_out) };
        }
    }
    let out = tensor(out, Shape::new([rows, d_out]));
    let state = LinearState {
        x,
        weight,
        bias: bias.is_some(),
    };
    (state, out)
}

/// `dx = dy · Wᵀ`, `dW = xᵀ · dy`, `db = Σ_rows dy`. A weight read through a transposed view
/// (the output projection's `Eᵀ`) gets its gradient as `(dyᵀ · x)ᵀ`: the product is written
/// in the layout of the stored matrix, and the view handed back is its transpose.
pub(super) fn linear_backward(state: LinearState, grad: FlexTensor) -> LinearGrads {
    let LinearState { x, weight, bias } = state;
    let dy = dense(grad);
    let [rows, d_in] = x.layout().shape().dims::<2>();
    let (w, w_at, [_, d_out]) = matrix(&weight);
    let (x_at, dy_at) = (Strided::rows(0, d_in), Strided::rows(0, d_out));
    let (x, dy_values) = (values(&x), values(&dy));

    let dx = uninit_product([rows, d_out, d_in], (dy_values, dy_at), (w, w_at.t()));
    let dx = tensor(dx, Shape::new([rows, d_in]));
    let weight = if w_at.row == 1 && w_at.col != 1 {
        let g = uninit_product([d_out, rows, d_in], (dy_values, dy_at.t()), (x, x_at));
        tensor(g, Shape::new([d_out, d_in])).transpose(0, 1)
    } else {
        let g = uninit_product([d_in, rows, d_out], (x, x_at.t()), (dy_values, dy_at));
        tensor(g, Shape::new([d_in, d_out]))
    };
    let bias = bias.then(|| tensor(column_sums(dy_values, d_out), Shape::new([d_out])));
    LinearGrads {
        x: dx,
        weight,
        bias,
    }
}

/// `lhs · rhs` into a fresh row-major `[m, n]` buffer, on the whole pool.
fn uninit_product(
    [m, k, n]: [usize; 3],
    lhs: (&[f32], Strided),
    rhs: (&[f32], Strided),
) -> Vec<f32> {
    let mut out = Vec::<f32>::with_capacity(m * n);
    let dst = (&mut out.spare_capacity_mut()[..m * n], Strided::rows(0, n));
    matmul_uninit([m, k, n], dst, lhs, rhs, Threads::Pool);
    // SAFETY: the product wrote every element of the `m × n` output.
    unsafe { out.set_len(m * n) };
    out
}

/// Sums of each column of a row-major `[rows, width]` matrix: per-block partial sums added in
/// block order, so the result does not depend on the thread count.
fn column_sums(matrix: &[f32], width: usize) -> Vec<f32> {
    let partials: Vec<Vec<f32>> = matrix
        .par_chunks(width * ROWS)
        .map(|block| {
            let mut sums = vec![0.0f32; width];
            for row in block.chunks(width) {
                for (s, &v) in sums.iter_mut().zip(row) {
                    *s += v;
                }
            }
            sums
        })
        .collect();
    let mut sums = vec![0.0f32; width];
    for partial in &partials {
        for (s, p) in sums.iter_mut().zip(partial) {
            *s += p;
        }
    }
    sums
}
