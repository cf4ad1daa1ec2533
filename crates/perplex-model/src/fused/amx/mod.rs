//! Matrix products with bf16 inputs and f32 accumulation on Intel's AMX tiles
//! (`tdpbf16ps`), for `train.precision = "bf16"`.
//!
//! Each operand is rounded to bf16 (round to nearest even) while it is packed into the
//! layout the tiles load, the products accumulate in f32 and the result is written as f32:
//! the mixed precision of PyTorch's `autocast(bfloat16)` for a product, with the weights,
//! gradients and optimizer state still f32. One `tdpbf16ps` does 16 × 16 × 32 multiply-adds,
//! 16 times the work of an AVX-512 FMA; the packing, not the tiles, is most of the cost.
//!
//! Layouts (`KB` = 32 values of the inner dimension, one tile's depth):
//! - A, `m × k`, in groups of 32 rows: `[group][k / KB][32 rows][32 values]`;
//! - B, `k × n`, in groups of 32 columns, each k-block two tiles of 16 columns with pairs of
//!   rows interleaved ("VNNI"): `[group][k / KB][2 halves][16 row pairs][16 columns][2]`.
//!
//! Rows, columns and depth past the matrix are zero in the packed copies; the kernel always
//! computes a whole 32 × 32 block, and only the part inside `dst` is written.

use std::arch::asm;
use std::sync::OnceLock;

use rayon::prelude::*;

use super::layout::Strided;
use pack::{pack_columns, pack_rows, write_block};

mod pack;
#[cfg(test)]
mod tests;

/// Depth of one tile: bf16 values of the inner dimension per tile row (64 bytes).
const KB: usize = 32;
/// Rows (of A) and columns (of B) in one group: two tiles of 16.
const G: usize = 32;
/// Pairs of bf16 values along the depth in one tile row: one 32-bit word each.
const PAIRS: usize = KB / 2;
/// Words of one packed group's k-block: 32 rows (or columns) × 16 pairs, 2 KiB.
const BLOCK: usize = G * PAIRS;
/// Row groups of A one task computes (128 rows), so that each B panel is reused four times.
const TASK_GROUPS_M: usize = 4;
/// Column groups of B one task computes (256 columns).
const TASK_GROUPS_N: usize = 8;

/// Whether this process may use AMX: the CPU reports `amx_bf16` and the kernel grants the
/// tile state (Linux `arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`). Asked once.
pub fn available() -> bool {
    static GRANTED: OnceLock<bool> = OnceLock::new();
    *GRANTED.get_or_init(|| {
        // CPUID leaf 7: EDX bit 22 is AMX-BF16, bit 24 AMX-TILE (the std macro's AMX names
        // are not stable yet).
        let edx = std::arch::x86_64::__cpuid_count(7, 0).edx;
        edx & (1 << 22) != 0 && edx & (1 << 24) != 0 && request_tile_state()
    })
}

#[cfg(target_os = "linux")]
fn request_tile_state() -> bool {
    // From Linux's asm/prctl.h and the XSAVE feature numbers (not in the libc crate).
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    // SAFETY: arch_prctl with this request only asks the kernel to enable a state component
    // for the process; it reads and writes no memory of ours.
    unsafe {
        libc::syscall(
            libc::SYS_arch_prctl,
            ARCH_REQ_XCOMP_PERM,
            XFEATURE_XTILEDATA,
        ) == 0
    }
}

#[cfg(not(target_os = "linux"))]
fn request_tile_state() -> bool {
    false
}

/// A pointer that may cross to rayon's threads; each task writes a disjoint block of it.
#[derive(Clone, Copy)]
struct SharedOut(*mut f32);
// SAFETY: the tasks write disjoint elements (distinct 32 × 32 blocks of `dst`).
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

/// `dst ← scale · lhs · rhs`, or `dst ← dst + lhs · rhs` when `accumulate`, with both inputs
/// rounded to bf16 and f32 accumulation, on the whole rayon pool. [`available`] must have
/// returned true.
///
/// # Safety
/// As for `gemm_into`: `dst` valid for the `m × n` matrix `d`, not overlapping the inputs,
/// which lie inside their slices.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn matmul_bf16(
    [m, k, n]: [usize; 3],
    scale: f32,
    (dst, d): (*mut f32, Strided),
    (lhs, l): (&[f32], Strided),
    (rhs, r): (&[f32], Strided),
    accumulate: bool,
) {
    if packing_cost([n, k, m], r.t(), l.t(), d.t()) < packing_cost([m, k, n], l, r, d) {
        // dstᵀ = rhsᵀ · lhsᵀ reads its inputs along contiguous memory where this does not.
        // SAFETY: the same matrices, transposed.
        return unsafe {
            matmul_bf16(
                [n, k, m],
                scale,
                (dst, d.t()),
                (rhs, r.t()),
                (lhs, l.t()),
                accumulate,
            )
        };
    }
    if k == 0 {
        // An empty sum: zeros, or `dst` unchanged when accumulating (the kernel needs depth).
        let zeros = [0f32; G * G];
        for (i0, j0) in (0..m)
            .step_by(G)
            .flat_map(|i| (0..n).step_by(G).map(move |j| (i, j)))
        {
            // SAFETY: the caller's promise on `dst`; blocks are disjoint.
            unsafe {
                write_block(
                    &zeros,
                    SharedOut(dst),
                    d,
                    [i0, j0],
                    [m, n],
                    scale,
                    accumulate,
                )
            };
        }
        return;
    }
    let k_blocks = k.div_ceil(KB);
    let (m_groups, n_groups) = (m.div_ceil(G), n.div_ceil(G));
    let group = k_blocks * BLOCK;
    let mut scratch = Scratch::take((m_groups + n_groups) * group);
    let (a, b) = scratch.values().split_at_mut(m_groups * group);
    // SAFETY (both): AMX CPUs have AVX-512 F and BW (`available` checked AMX).
    let pack_a = |(g, out): (usize, &mut [u32])| unsafe { pack_rows(out, lhs, l, g * G, m, k) };
    let pack_b = |(g, out): (usize, &mut [u32])| unsafe { pack_columns(out, rhs, r, g * G, k, n) };
    let (tasks_m, tasks_n) = (
        m_groups.div_ceil(TASK_GROUPS_M),
        n_groups.div_ceil(TASK_GROUPS_N),
    );
    a.par_chunks_mut(group).enumerate().for_each(pack_a);
    b.par_chunks_mut(group).enumerate().for_each(pack_b);
    let out = SharedOut(dst);
    let task = |t: usize| {
        let (tm, tn) = (t / tasks_n, t % tasks_n);
        let ms = tm * TASK_GROUPS_M..((tm + 1) * TASK_GROUPS_M).min(m_groups);
        let ns = tn * TASK_GROUPS_N..((tn + 1) * TASK_GROUPS_N).min(n_groups);
        let _tiles = Tiles::configure();
        let mut block = [0f32; G * G];
        for gn in ns {
            for gm in ms.clone() {
                let (i0, j0) = (gm * G, gn * G);
                let (a, b) = (a[gm * group..].as_ptr(), b[gn * group..].as_ptr());
                // SAFETY: both packed groups hold `k_blocks` blocks; the tiles are configured;
                // a block that lies whole inside a row-major `dst` is written there directly
                // (this task's block only), any other through `block`.
                unsafe {
                    if i0 + G <= m && j0 + G <= n && d.col == 1 && !accumulate && scale == 1.0 {
                        let at = out.0.add(d.offset + i0 * d.row + j0);
                        kernel(a, b, at, d.row, k_blocks);
                    } else {
                        kernel(a, b, block.as_mut_ptr(), G, k_blocks);
                        write_block(&block, out, d, [i0, j0], [m, n], scale, accumulate);
                    }
                }
            }
        }
    };
    (0..tasks_m * tasks_n).into_par_iter().for_each(task);
}

/// A rough cost of packing both inputs and writing the output, in element-times: reading
/// along contiguous memory counts 1, across it several times that.
fn packing_cost([m, k, n]: [usize; 3], l: Strided, r: Strided, d: Strided) -> usize {
    let across = |contiguous: bool| if contiguous { 1 } else { 4 };
    m * k * across(l.col == 1) + k * n * across(r.col == 1) + m * n * across(d.col == 1)
}

/// The calling thread's packing buffer, kept between products: a fresh one for every product
/// would fault in and zero new pages each time (allocators hand big blocks back to the OS).
struct Scratch(Vec<u32>, usize);

thread_local! {
    static SCRATCH: std::cell::Cell<Vec<u32>> = const { std::cell::Cell::new(Vec::new()) };
}

impl Scratch {
    /// A buffer of at least `len` values, of which [`Scratch::values`] gives `len` (their
    /// contents stale: the packing writes every one).
    fn take(len: usize) -> Self {
        let mut values = SCRATCH.take();
        if values.len() < len {
            values.resize(len, 0);
        }
        Scratch(values, len)
    }

    /// The `len` values asked for.
    fn values(&mut self) -> &mut [u32] {
        &mut self.0[..self.1]
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        SCRATCH.set(std::mem::take(&mut self.0));
    }
}

/// The tile configuration of the calling thread, released when dropped: eight tiles of 16
/// rows × 64 bytes (tmm0–3 the f32 accumulators, tmm4–5 two A tiles, tmm6–7 two B tiles).
struct Tiles;

impl Tiles {
    fn configure() -> Self {
        #[repr(C, align(64))]
        struct Config([u8; 64]);
        let mut config = Config([0; 64]);
        config.0[0] = 1; // palette 1
        for tile in 0..8 {
            config.0[16 + 2 * tile] = 64; // bytes per row
            config.0[48 + tile] = 16; // rows
        }
        // SAFETY: a valid palette-1 configuration; AMX was granted (see `available`).
        unsafe { asm!("ldtilecfg [{}]", in(reg) config.0.as_ptr(), options(nostack)) };
        Tiles
    }
}

impl Drop for Tiles {
    fn drop(&mut self) {
        // SAFETY: releases this thread's tile state, configured in `configure`.
        unsafe { asm!("tilerelease", options(nostack, nomem)) };
    }
}

/// One 32 × 32 f32 block of A·B: `a` a packed A group, `b` a packed B group, both
/// `k_blocks` deep; the result overwrites the 32 × 32 row-major block at `c`, whose rows are
/// `row` floats apart.
///
/// # Safety
/// Tiles configured on this thread; `a` and `b` hold `k_blocks · BLOCK` values, `k_blocks ≥ 1`;
/// `c` valid for writes of the block.
unsafe fn kernel(a: *const u32, b: *const u32, c: *mut f32, row: usize, k_blocks: usize) {
    // SAFETY: the caller's promises; each tile load reads 16 rows of 64 bytes, each store
    // writes 16 rows of 16 floats.
    unsafe {
        let (c1, c2) = (c.add(16), c.add(16 * row));
        let c3 = c2.add(16);
        asm!(
            "tilezero tmm0", "tilezero tmm1", "tilezero tmm2", "tilezero tmm3",
            "2:",
            "tileloadd tmm4, [{a} + {s64}*1]",
            "tileloadd tmm5, [{a} + {s64}*1 + 1024]",
            "tileloadd tmm6, [{b} + {s64}*1]",
            "tileloadd tmm7, [{b} + {s64}*1 + 1024]",
            "add {a}, 2048",
            "add {b}, 2048",
            "tdpbf16ps tmm0, tmm4, tmm6",
            "tdpbf16ps tmm1, tmm4, tmm7",
            "tdpbf16ps tmm2, tmm5, tmm6",
            "tdpbf16ps tmm3, tmm5, tmm7",
            "dec {k}",
            "jnz 2b",
            "tilestored [{c} + {stride}*1], tmm0",
            "tilestored [{c1} + {stride}*1], tmm1",
            "tilestored [{c2} + {stride}*1], tmm2",
            "tilestored [{c3} + {stride}*1], tmm3",
            a = inout(reg) a => _,
            b = inout(reg) b => _,
            k = inout(reg) k_blocks => _,
            c = in(reg) c,
            c1 = in(reg) c1,
            c2 = in(reg) c2,
            c3 = in(reg) c3,
            s64 = in(reg) 64usize,
            stride = in(reg) 4 * row,
            options(nostack),
        );
    }
}
