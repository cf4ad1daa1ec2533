//! Packing f32 operands into the tiles' bf16 layouts, and writing result blocks out.

use super::{BLOCK, G, KB, PAIRS, SharedOut};
use crate::fused::layout::Strided;

/// Two values of the depth (`lo` first) rounded to bf16, as the tiles read a pair.
#[inline(always)]
pub(super) fn pair(lo: f32, hi: f32) -> u32 {
    u32::from(to_bf16(lo)) | (u32::from(to_bf16(hi)) << 16)
}

/// `x` rounded to the nearest bf16, ties to even; a NaN stays a NaN.
#[inline(always)]
pub(super) fn to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    let rounded = ((bits + 0x7fff + ((bits >> 16) & 1)) >> 16) as u16;
    if x.is_nan() { 0x7fc0 } else { rounded }
}

/// Zeroes a packed group that has padding (fewer than 32 rows or columns, or a depth `k` past
/// the last whole k-block), which the packing does not write.
fn clear_padded(out: &mut [u32], inside: usize, k: usize) {
    if inside < G || !k.is_multiple_of(KB) {
        out.fill(0);
    }
}

/// Packs rows `first..first + 32` of the `m × k` matrix `(src, s)` as one A group,
/// `[k-block][row][pair]`: row by row where rows are contiguous, otherwise a pair of depths
/// at a time (reading along the columns).
#[target_feature(enable = "avx512f,avx512bw")]
pub(super) fn pack_rows(
    out: &mut [u32],
    src: &[f32],
    s: Strided,
    first: usize,
    m: usize,
    k: usize,
) {
    let rows = G.min(m - first);
    clear_padded(out, rows, k);
    if s.col == 1 {
        for row in 0..rows {
            let line = &src[s.offset + (first + row) * s.row..][..k];
            for (kb, chunk) in line.chunks(KB).enumerate() {
                let dst = &mut out[kb * BLOCK + row * PAIRS..][..PAIRS];
                if let Ok(full) = <&[f32; KB]>::try_from(chunk) {
                    for (j, word) in dst.iter_mut().enumerate() {
                        *word = pair(full[2 * j], full[2 * j + 1]);
                    }
                } else {
                    for (word, two) in dst.iter_mut().zip(chunk.chunks(2)) {
                        *word = pair(two[0], two.get(1).copied().unwrap_or(0.0));
                    }
                }
            }
        }
    } else if s.row == 1 {
        // Each depth's rows are contiguous: convert a pair of depths for all rows at once.
        let mut words = [0u32; G];
        for p in 0..k.div_ceil(2) {
            let (lo, hi) = (2 * p, 2 * p + 1);
            let first_rows = &src[s.offset + lo * s.col + first..][..rows];
            let second_rows = (hi < k).then(|| &src[s.offset + hi * s.col + first..][..rows]);
            match second_rows {
                Some(second) => {
                    for ((w, &x), &y) in words.iter_mut().zip(first_rows).zip(second) {
                        *w = pair(x, y);
                    }
                }
                None => words
                    .iter_mut()
                    .zip(first_rows)
                    .for_each(|(w, &x)| *w = pair(x, 0.0)),
            }
            let dst = &mut out[(lo / KB) * BLOCK + p % PAIRS..];
            for (row, &word) in words[..rows].iter().enumerate() {
                dst[row * PAIRS] = word;
            }
        }
    } else {
        for p in 0..k.div_ceil(2) {
            let (lo, hi) = (2 * p, 2 * p + 1);
            let at = |depth: usize| s.offset + depth * s.col + first * s.row;
            let dst = &mut out[(lo / KB) * BLOCK + p % PAIRS..];
            for row in 0..rows {
                let second = if hi < k {
                    src[at(hi) + row * s.row]
                } else {
                    0.0
                };
                dst[row * PAIRS] = pair(src[at(lo) + row * s.row], second);
            }
        }
    }
}

/// Packs columns `first..first + 32` of the `k × n` matrix `(src, s)` as one B group,
/// `[k-block][half][pair][column]`: two rows at a time where rows are contiguous, column by
/// column otherwise.
#[target_feature(enable = "avx512f,avx512bw")]
pub(super) fn pack_columns(
    out: &mut [u32],
    src: &[f32],
    s: Strided,
    first: usize,
    k: usize,
    n: usize,
) {
    let cols = G.min(n - first);
    clear_padded(out, cols, k);
    // Where the pair `p` of column `c` goes.
    let at = |p: usize, c: usize| {
        (2 * p / KB) * BLOCK + (c / 16) * (BLOCK / 2) + (p % PAIRS) * 16 + c % 16
    };
    let row = |depth: usize| &src[s.offset + depth * s.row + first * s.col..];
    for p in 0..k.div_ceil(2) {
        let (lo, hi) = (2 * p, 2 * p + 1);
        if s.col == 1 {
            let first_row = &row(lo)[..cols];
            let second_row = (hi < k).then(|| &row(hi)[..cols]);
            for (half, values) in first_row.chunks(16).enumerate() {
                let dst = &mut out[at(p, 16 * half)..][..values.len()];
                match second_row {
                    Some(second) => {
                        let second = &second[16 * half..][..values.len()];
                        for ((word, &x), &y) in dst.iter_mut().zip(values).zip(second) {
                            *word = pair(x, y);
                        }
                    }
                    None => dst
                        .iter_mut()
                        .zip(values)
                        .for_each(|(w, &x)| *w = pair(x, 0.0)),
                }
            }
        } else if s.row != 1 {
            for c in 0..cols {
                let second = if hi < k { row(hi)[c * s.col] } else { 0.0 };
                out[at(p, c)] = pair(row(lo)[c * s.col], second);
            }
        }
    }
    if s.row == 1 && s.col != 1 {
        // Each column's depth is contiguous: read it in order, a pair at a time.
        for c in 0..cols {
            let column = &src[s.offset + (first + c) * s.col..][..k];
            for (p, two) in column.chunks(2).enumerate() {
                out[at(p, c)] = pair(two[0], two.get(1).copied().unwrap_or(0.0));
            }
        }
    }
}

/// Writes the 32 × 32 `block` computed for rows `at[0]..` and columns `at[1]..` into the
/// part of `dst` inside the `m × n` matrix.
///
/// # Safety
/// `dst` must be valid for the `m × n` matrix `d`, and no other thread may touch this block.
#[target_feature(enable = "avx512f,avx512bw")]
pub(super) unsafe fn write_block(
    block: &[f32; G * G],
    dst: SharedOut,
    d: Strided,
    [i0, j0]: [usize; 2],
    [m, n]: [usize; 2],
    scale: f32,
    accumulate: bool,
) {
    let (rows, cols) = (G.min(m - i0), G.min(n - j0));
    for (i, values) in block.chunks_exact(G).take(rows).enumerate() {
        let row = d.offset + (i0 + i) * d.row + j0 * d.col;
        let values = &values[..cols];
        // SAFETY: (i0 + i, j0 + j) lies inside the m × n matrix `d` for every j < cols.
        unsafe {
            if d.col == 1 {
                let out = std::slice::from_raw_parts_mut(dst.0.add(row), cols);
                if accumulate {
                    out.iter_mut().zip(values).for_each(|(o, &v)| *o += v);
                } else {
                    out.iter_mut()
                        .zip(values)
                        .for_each(|(o, &v)| *o = scale * v);
                }
            } else if d.row != 1 {
                for (j, &v) in values.iter().enumerate() {
                    let out = dst.0.add(row + j * d.col);
                    *out = if accumulate { *out + v } else { scale * v };
                }
            }
        }
    }
    if d.row == 1 && d.col != 1 {
        // A transposed output: its columns are contiguous, so write column by column.
        for j in 0..cols {
            let column = d.offset + i0 + (j0 + j) * d.col;
            for i in 0..rows {
                let v = block[i * G + j];
                // SAFETY: (i0 + i, j0 + j) lies inside the m × n matrix `d`.
                unsafe {
                    let out = dst.0.add(column + i);
                    *out = if accumulate { *out + v } else { scale * v };
                }
            }
        }
    }
}
