//! Where a CPU model's work runs: on one fixed worker of rayon's global pool.
//!
//! Every parallel op of the CPU kernels (each product, each fused kernel) is a fork in rayon's
//! pool. Called from a thread outside the pool, each such op is a job handed to the pool while
//! the caller sleeps until a worker wakes it: hundreds of hand-offs a training step. Called
//! from a worker, the op forks inside the pool and the worker takes part (a ptb-small step
//! measured 3.4% faster, Intel Xeon, 2 threads).
//!
//! The worker is always the same one, index 0, because the allocator (mimalloc) keeps a heap
//! per thread and each heap keeps the memory its thread freed: a step that ran on whichever
//! worker was free left a step's worth of buffers cached in every worker's heap (peak RSS of a
//! 100 s `ptb-best-bf16` run: 645–665 MiB on any worker, 605–621 MiB on worker 0).
//!
//! Meanwhile the other workers wait awake ([`stay_awake_until`]): a worker that sleeps between
//! two ops must be woken for the next, tens of microseconds each time on a virtual machine,
//! hundreds of times a step (awake: a ptb-small step 1.04× faster, same machine).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use burn::backend::DispatchDevice;
use burn::tensor::Device;

/// Held while a caller's work runs on the pool: one caller at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `work` on worker 0 of rayon's global pool when `device` is the CPU backend, and on the
/// calling thread otherwise (a GPU backend's ops do not run on the pool). Returns what `work`
/// returned; a panic in `work` reaches the caller.
pub fn on_cpu_worker<R: Send>(device: &Device, work: impl FnOnce() -> R + Send) -> R {
    let on_cpu = matches!(
        device.clone().without_autodiff().as_dispatch(),
        DispatchDevice::Flex(_)
    );
    // Already on a worker of the pool (inside another caller's work): its forks stay in the
    // pool as they are, and a broadcast from here would wait on workers that wait on it.
    if !on_cpu || rayon::current_thread_index().is_some() {
        return work();
    }
    // Callers take turns. Two broadcasts at once deadlock: a worker waiting awake for the
    // first takes the second's waiting job inside one of the first's forks, and spins there
    // until worker 0 runs the second work, while worker 0 waits for that fork to return (seen
    // with perplex-train's tests running side by side).
    let _one_at_a_time = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    // `broadcast` runs its closure once on every worker; worker 0 takes the work, the others
    // stay awake until it is done, taking its forks as they come.
    let work = Mutex::new(Some(work));
    let done = AtomicBool::new(false);
    let mut results = rayon::broadcast(|worker| {
        if worker.index() != 0 {
            stay_awake_until(&done);
            return None;
        }
        let _done = SetOnDrop(&done);
        let work = work.lock().unwrap_or_else(PoisonError::into_inner).take();
        work.map(|work| work())
    });
    results
        .swap_remove(0)
        .expect("worker 0 of the pool ran the work")
}

/// Runs the pool's pending jobs until `done` is set, never sleeping in between: a worker
/// that went to sleep between two ops would have to be woken for the next one. After a few
/// idle polls in a row it offers its core to other threads (`sched_yield`) at each poll, so
/// that a busy machine's other work is not starved by the waiting. The CPU time it spends
/// between finding no job and finding one is added to [`waiting_seconds`].
fn stay_awake_until(done: &AtomicBool) {
    /// Idle polls before each further one also yields the core to the OS.
    const SPINS: u32 = 64;
    let mut idle = 0u32;
    // This thread's CPU time when the current run of idle polls began. The clock (a system
    // call) is read only while waiting: not between two jobs found one after the other.
    let mut waiting_since: Option<Duration> = None;
    while !done.load(Ordering::Acquire) {
        let polled_at = waiting_since.and_then(|_| thread_cpu_time());
        if rayon::yield_now() == Some(rayon::Yield::Executed) {
            idle = 0;
            if let (Some(since), Some(now)) = (waiting_since.take(), polled_at) {
                count_waiting(now.saturating_sub(since));
            }
        } else {
            if waiting_since.is_none() {
                waiting_since = thread_cpu_time();
            }
            if idle < SPINS {
                idle += 1;
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }
    if let (Some(since), Some(now)) = (waiting_since, thread_cpu_time()) {
        count_waiting(now.saturating_sub(since));
    }
}

/// CPU time the calling thread has used (`None` where the OS does not say). CPU time, not wall
/// time: a waiting worker the OS has descheduled (a loaded machine) costs the process nothing.
#[cfg(unix)]
fn thread_cpu_time() -> Option<Duration> {
    let mut time = std::mem::MaybeUninit::<libc::timespec>::uninit();
    // SAFETY: clock_gettime writes a whole `timespec` into the pointer it is given, and
    // returns 0 only when it did.
    let time = unsafe {
        if libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, time.as_mut_ptr()) != 0 {
            return None;
        }
        time.assume_init()
    };
    let nanos = u32::try_from(time.tv_nsec).ok()?;
    Some(Duration::new(u64::try_from(time.tv_sec).ok()?, nanos))
}

#[cfg(not(unix))]
fn thread_cpu_time() -> Option<Duration> {
    None
}

/// Nanoseconds of CPU time workers have spent waiting in [`stay_awake_until`], all threads
/// together.
static WAITED_NANOS: AtomicU64 = AtomicU64::new(0);

fn count_waiting(waited: Duration) {
    let nanos = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
    WAITED_NANOS.fetch_add(nanos, Ordering::Relaxed);
}

/// CPU seconds the pool's workers have spent waiting for work inside [`on_cpu_worker`] since
/// the process started, all workers together. They wait on the CPU instead of sleeping, so
/// this is part of the process's CPU time: subtract it to read how much of that was work.
pub fn waiting_seconds() -> f64 {
    WAITED_NANOS.load(Ordering::Relaxed) as f64 * 1e-9
}

/// Sets its flag when dropped: the work's end, even when it panics.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_work_runs_on_the_first_worker_of_the_pool_every_time() {
        let device = Device::flex();
        for _ in 0..4 {
            let index = on_cpu_worker(&device, rayon::current_thread_index);
            assert_eq!(index, Some(0));
        }
        // And its forks still spread: a parallel sum inside gives the sum.
        let sum: u64 = on_cpu_worker(&device, || {
            use rayon::prelude::*;
            (1..=1000u64).into_par_iter().sum()
        });
        assert_eq!(sum, 500_500);
    }

    #[test]
    fn the_other_workers_wait_awake_and_their_waiting_is_counted() {
        let device = Device::flex();
        let before = waiting_seconds();
        // 50 ms of work with no forks: every other worker waits through it.
        on_cpu_worker(&device, || std::thread::sleep(Duration::from_millis(50)));
        let waited = waiting_seconds() - before;
        if rayon::current_num_threads() >= 2 {
            // CPU time, so less than the 50 ms where other tests share the cores; none at
            // all would mean the waiting went uncounted.
            assert!(waited >= 0.005, "waited {waited} s");
        } else {
            // No other worker: nobody waits (and no other test can add any).
            assert_eq!(waited, 0.0);
        }
    }

    #[test]
    fn a_panic_in_the_work_reaches_the_caller() {
        let device = Device::flex();
        let caught = std::panic::catch_unwind(|| on_cpu_worker(&device, || panic!("inside")));
        assert!(caught.is_err());
        // The pool survives it.
        assert_eq!(on_cpu_worker(&device, || 7), 7);
    }

    /// `i · j`, after a few microseconds of work, so that forks overlap.
    fn leaf(i: u64, j: u64) -> u64 {
        let mut x = i * j;
        for _ in 0..500 {
            x = std::hint::black_box(x);
        }
        x
    }

    /// Two callers at once, each forking inside its work: they take turns and both finish
    /// (side by side, a worker waiting for one caller could take the other's waiting job
    /// inside a fork and deadlock the pool).
    #[test]
    fn two_callers_at_once_both_finish() {
        use rayon::prelude::*;
        let (sent, finished) = std::sync::mpsc::channel();
        for _ in 0..2 {
            let sent = sent.clone();
            std::thread::spawn(move || {
                let device = Device::flex();
                // Forks inside forks, as a product inside a layer's kernel makes them.
                let nested = || -> u64 {
                    (0..64u64)
                        .into_par_iter()
                        .map(|i| (0..64u64).into_par_iter().map(|j| leaf(i, j)).sum::<u64>())
                        .sum()
                };
                let sums: Vec<u64> = (0..30).map(|_| on_cpu_worker(&device, nested)).collect();
                sent.send(sums.iter().all(|&s| s == 2016 * 2016)).unwrap();
            });
        }
        for _ in 0..2 {
            let right = finished
                .recv_timeout(Duration::from_secs(60))
                .expect("a caller did not finish within 60 s: the pool deadlocked");
            assert!(right);
        }
    }

    #[test]
    fn work_from_inside_the_pool_runs_where_it_is() {
        let device = Device::flex();
        let inner = on_cpu_worker(&device, || {
            on_cpu_worker(&device, rayon::current_thread_index)
        });
        assert_eq!(inner, Some(0));
    }
}
