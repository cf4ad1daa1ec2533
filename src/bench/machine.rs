//! What a benchmark figure needs next to it: the CPU it ran on, the threads it had, and how
//! many of them were busy.

use std::time::Instant;

use serde::{Deserialize, Serialize};

/// The machine a benchmark ran on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// The CPU's model name as the OS reports it (`model name` in `/proc/cpuinfo`), if known.
    pub cpu: Option<String>,
    /// The widest vector extension the CPU kernels use here: `avx512`, `avx2` or `baseline`.
    pub simd: String,
    /// Logical CPUs the OS offers this process.
    pub logical_cpus: usize,
    /// Threads in the pool that runs the matrix products and fused kernels (rayon's;
    /// `RAYON_NUM_THREADS` sets it).
    pub threads: usize,
}

impl Machine {
    /// This machine, now.
    pub fn this() -> Self {
        Self {
            cpu: cpu_model(),
            simd: simd().to_string(),
            logical_cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            threads: rayon::current_num_threads(),
        }
    }
}

/// The first `model name` line of `/proc/cpuinfo` (Linux; `None` elsewhere).
fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("model name"))?;
    Some(line.split_once(':')?.1.trim().to_string())
}

/// The vector extension the kernels pick at run time.
fn simd() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            return "avx512";
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return "avx2";
        }
    }
    "baseline"
}

/// A stopwatch that also reads the CPU time this process spent, so that the ratio says how
/// many cores were busy on average: 2.0 means two threads ran the whole time, 1.0 that the
/// work was as good as serial.
#[derive(Debug, Clone, Copy)]
pub struct CoreMeter {
    wall: Instant,
    cpu: Option<f64>,
    waited: f64,
}

impl CoreMeter {
    /// Starts measuring.
    pub fn start() -> Self {
        Self {
            wall: Instant::now(),
            cpu: process_cpu_seconds(),
            waited: perplex_model::waiting_seconds(),
        }
    }

    /// Average busy cores since [`CoreMeter::start`]: CPU seconds over wall seconds, less the
    /// seconds workers spent spinning while they waited for a step's next op
    /// ([`perplex_model::waiting_seconds`]), which the OS counts as CPU time (`None` where
    /// the OS does not say).
    pub fn cores_busy(&self) -> Option<f64> {
        let wall = self.wall.elapsed().as_secs_f64();
        let waited = perplex_model::waiting_seconds() - self.waited;
        let cpu = process_cpu_seconds()? - self.cpu? - waited;
        (wall > 0.0).then_some(cpu / wall)
    }
}

/// User plus system CPU time of every thread of this process so far, seconds.
#[cfg(unix)]
fn process_cpu_seconds() -> Option<f64> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: getrusage writes a whole `rusage` into the pointer it is given, and returns 0
    // only when it did.
    let usage = unsafe {
        if libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) != 0 {
            return None;
        }
        usage.assume_init()
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    Some(seconds(usage.ru_utime) + seconds(usage.ru_stime))
}

#[cfg(not(unix))]
fn process_cpu_seconds() -> Option<f64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_spinning_threads_read_as_more_than_one_core() {
        // Other tests of this binary run in the same process and only add CPU time, so a
        // lower bound is what holds; a meter that read one thread's time would see ≤ 1.
        let spin = || {
            let start = Instant::now();
            let mut x = 0u64;
            while start.elapsed().as_millis() < 400 {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            }
            std::hint::black_box(x);
        };
        let meter = CoreMeter::start();
        std::thread::scope(|s| {
            s.spawn(spin);
            spin();
        });
        let busy = meter.cores_busy().expect("getrusage works here");
        if std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2 {
            assert!(busy > 1.2, "two spinning threads read as {busy} cores");
        } else {
            assert!(busy > 0.6, "a spinning thread read as {busy} cores");
        }
    }

    #[test]
    fn the_machine_names_its_threads() {
        let machine = Machine::this();
        assert!(machine.threads >= 1 && machine.logical_cpus >= 1);
        #[cfg(target_os = "linux")]
        assert!(
            machine.cpu.is_some(),
            "/proc/cpuinfo has a model name on Linux"
        );
    }
}
