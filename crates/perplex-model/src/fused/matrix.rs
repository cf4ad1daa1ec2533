//! Matrix products through `gemm` (the library Burn's CPU backend uses) on matrices that lie
//! anywhere inside a slice, at any row and column strides: heads inside a packed projection,
//! transposes without a copy.

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

pub(crate) use super::layout::{Strided, Threads};

/// `dst ← scale · lhs · rhs` for an `[m, k]` by `[k, n]` product; `dst ← dst + lhs · rhs`
/// when `accumulate` (then `scale` must be 1).
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul(
    [m, k, n]: [usize; 3],
    scale: f32,
    (dst, d): (&mut [f32], Strided),
    (lhs, l): (&[f32], Strided),
    (rhs, r): (&[f32], Strided),
    accumulate: bool,
    threads: Threads,
) {
    assert!(d.fits(m, n, dst.len()), "product output out of bounds");
    // SAFETY: `dst` is an initialised, exclusively borrowed slice and `d` lies inside it.
    unsafe {
        gemm_into(
            [m, k, n],
            scale,
            (dst.as_mut_ptr(), d),
            (lhs, l),
            (rhs, r),
            accumulate,
            threads,
        )
    }
}

/// `dst ← lhs · rhs` into memory not yet written: afterwards every element of the `m × n`
/// matrix `d` is initialised.
pub(crate) fn matmul_uninit(
    [m, k, n]: [usize; 3],
    (dst, d): (&mut [MaybeUninit<f32>], Strided),
    (lhs, l): (&[f32], Strided),
    (rhs, r): (&[f32], Strided),
    threads: Threads,
) {
    assert!(d.fits(m, n, dst.len()), "product output out of bounds");
    // SAFETY: `d` lies inside `dst`, which is exclusively borrowed; gemm without `accumulate`
    // writes every output element and reads none.
    unsafe {
        let dst = dst.as_mut_ptr().cast::<f32>();
        gemm_into([m, k, n], 1.0, (dst, d), (lhs, l), (rhs, r), false, threads)
    }
}

/// Whether products are being recorded (see [`record_products`]); one relaxed load per
/// product when not.
static RECORDING: AtomicBool = AtomicBool::new(false);
/// The `[m, k, n]` of each product run while recording.
static RECORDED: Mutex<Vec<[usize; 3]>> = Mutex::new(Vec::new());

/// Runs `work` and returns what it returned with the `[m, k, n]` of every matrix product the
/// CPU kernels ran meanwhile, on any thread: how a test checks [`crate::StepProduct`]'s
/// hand-kept list against what the model really multiplies. Products run by other work at
/// the same time are recorded too, so call it where nothing else runs.
pub fn record_products<R>(work: impl FnOnce() -> R) -> (R, Vec<[usize; 3]>) {
    let lock =
        |m: &'static Mutex<Vec<[usize; 3]>>| m.lock().unwrap_or_else(PoisonError::into_inner);
    lock(&RECORDED).clear();
    RECORDING.store(true, Ordering::SeqCst);
    let result = work();
    RECORDING.store(false, Ordering::SeqCst);
    (result, std::mem::take(&mut *lock(&RECORDED)))
}

/// # Safety
/// `dst` must be valid for writes (and reads, when `accumulate`) of the `m × n` matrix `d`,
/// and must not overlap `lhs` or `rhs`.
unsafe fn gemm_into(
    [m, k, n]: [usize; 3],
    scale: f32,
    (dst, d): (*mut f32, Strided),
    (lhs, l): (&[f32], Strided),
    (rhs, r): (&[f32], Strided),
    accumulate: bool,
    threads: Threads,
) {
    if RECORDING.load(Ordering::Relaxed) {
        RECORDED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push([m, k, n]);
    }
    assert!(
        l.fits(m, k, lhs.len()) && r.fits(k, n, rhs.len()),
        "product input out of bounds"
    );
    assert!(
        !accumulate || scale == 1.0,
        "accumulating products take no scale"
    );
    super::clock::clocked(threads, || {
        // bf16 takes the pool's products (the layers'); attention's small per-head products
        // (`Threads::One`) stay f32, which measured faster than padding them into tiles.
        #[cfg(target_arch = "x86_64")]
        if crate::precision() == crate::Precision::Bf16 && threads == Threads::Pool {
            // SAFETY: the caller's promises, as for gemm below; bf16 is set only with AMX
            // granted.
            unsafe {
                super::amx::matmul_bf16([m, k, n], scale, (dst, d), (lhs, l), (rhs, r), accumulate)
            };
            return;
        }
        let parallelism = match threads {
            Threads::One => gemm::Parallelism::None,
            Threads::Pool => gemm::Parallelism::Rayon(0),
        };
        // SAFETY: both inputs lie inside their slices (checked above), the output as the
        // caller promises; gemm touches only those elements.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst.add(d.offset),
                d.col as isize,
                d.row as isize,
                accumulate,
                lhs.as_ptr().add(l.offset),
                l.col as isize,
                l.row as isize,
                rhs.as_ptr().add(r.offset),
                r.col as isize,
                r.row as isize,
                1.0,
                scale,
                false,
                false,
                false,
                parallelism,
            );
        }
    });
}
