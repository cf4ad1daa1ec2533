//! How long the CPU's matrix products take inside real work, a training step, rather than
//! replayed alone: a product inside a step reads operands that other kernels wrote or that
//! were written long before (from memory, not cache), so it is slower there than alone, and
//! "the time outside the products" is only honest when both are measured.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use super::layout::Threads;

/// Whether products are being clocked (see [`clock_products`]); one relaxed load per product
/// when not.
static CLOCKING: AtomicBool = AtomicBool::new(false);
/// Nanoseconds of products that use the whole pool, timed on the thread that called them.
static POOL_NANOS: AtomicU64 = AtomicU64::new(0);
/// Nanoseconds of one-thread products (attention's per-head ones, run inside the pool's own
/// tasks), summed over the threads that ran them.
static TASK_NANOS: AtomicU64 = AtomicU64::new(0);

/// The time the CPU kernels spent in matrix products while [`clock_products`] ran.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProductSeconds {
    /// Wall seconds of the products that split themselves over the pool (the layers' and the
    /// logits'), timed on the calling thread from entry to return.
    pub pool: f64,
    /// Seconds of the products that run on one thread each inside parallel tasks (attention's
    /// per-head products), summed over the threads.
    pub per_task: f64,
}

impl ProductSeconds {
    /// Wall seconds in products on a pool of `threads`: the pool's products as timed, plus the
    /// per-task ones divided among the threads that ran them side by side (an estimate: it
    /// assumes they kept every thread busy, so it never overstates the products' share).
    pub fn wall(&self, threads: usize) -> f64 {
        self.pool + self.per_task / threads.max(1) as f64
    }
}

/// Runs `work` and returns what it returned with the time the CPU kernels spent in matrix
/// products meanwhile, on any thread. Products run by other work at the same time are counted
/// too, so call it where nothing else runs.
pub fn clock_products<R>(work: impl FnOnce() -> R) -> (R, ProductSeconds) {
    POOL_NANOS.store(0, Ordering::SeqCst);
    TASK_NANOS.store(0, Ordering::SeqCst);
    CLOCKING.store(true, Ordering::SeqCst);
    let result = work();
    CLOCKING.store(false, Ordering::SeqCst);
    let seconds = |n: &AtomicU64| n.load(Ordering::SeqCst) as f64 * 1e-9;
    let clocked = ProductSeconds {
        pool: seconds(&POOL_NANOS),
        per_task: seconds(&TASK_NANOS),
    };
    (result, clocked)
}

/// Runs one product, adding its time to the clock when [`clock_products`] is running.
pub(crate) fn clocked<R>(threads: Threads, product: impl FnOnce() -> R) -> R {
    if !CLOCKING.load(Ordering::Relaxed) {
        return product();
    }
    let started = Instant::now();
    let result = product();
    let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    let counter = match threads {
        Threads::Pool => &POOL_NANOS,
        Threads::One => &TASK_NANOS,
    };
    counter.fetch_add(nanos, Ordering::Relaxed);
    result
}
