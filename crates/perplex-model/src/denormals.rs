//! Flush-to-zero for subnormal floats, on every thread that computes.
//!
//! An `f32` below 1.18e-38 in magnitude is *subnormal*. Many Intel cores handle an operation
//! that reads or produces one through a microcode assist that costs ~100 cycles, so a matrix
//! product whose operands turn subnormal can run several times slower (a run at too high a
//! learning rate does this: softmax probabilities underflow towards zero). The usual cure is
//! the two MXCSR bits PyTorch's `torch.set_flush_denormal(True)` sets: FTZ writes a
//! subnormal result as zero, DAZ reads a subnormal operand as zero. Both change only values
//! smaller than 1.18e-38, so a run where none occurs is bit-identical either way.
//!
//! MXCSR is per thread, so the setting is applied to the calling thread and to every thread of
//! rayon's global pool (which runs the fused kernels, `gemm` and Flex's own ops).

/// Whether this build can flush subnormals (x86 and x86-64, through MXCSR).
pub const FLUSH_SUPPORTED: bool = cfg!(any(target_arch = "x86", target_arch = "x86_64"));

/// Sets (or clears) flush-to-zero and denormals-are-zero on the calling thread and on every
/// thread of rayon's global pool. Returns whether the CPU honours it ([`FLUSH_SUPPORTED`]); on
/// other architectures it changes nothing.
pub fn flush_denormals(on: bool) -> bool {
    if !FLUSH_SUPPORTED {
        return false;
    }
    set_this_thread(on);
    rayon::broadcast(|_| set_this_thread(on));
    true
}

/// Whether flush-to-zero and denormals-are-zero are both set on the calling thread.
pub fn flushing_on_this_thread() -> bool {
    mxcsr::read().is_some_and(|csr| csr & mxcsr::FLUSH == mxcsr::FLUSH)
}

/// Sets (or clears) both bits on the calling thread alone.
pub(crate) fn set_this_thread(on: bool) {
    if let Some(csr) = mxcsr::read() {
        let csr = if on {
            csr | mxcsr::FLUSH
        } else {
            csr & !mxcsr::FLUSH
        };
        mxcsr::write(csr);
    }
}

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
mod mxcsr {
    use std::arch::asm;

    /// FTZ (bit 15) and DAZ (bit 6) of MXCSR.
    pub const FLUSH: u32 = (1 << 15) | (1 << 6);

    pub fn read() -> Option<u32> {
        let mut csr = 0u32;
        // SAFETY: stmxcsr stores the 32-bit control register at a valid, writable address.
        unsafe { asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags)) };
        Some(csr)
    }

    pub fn write(csr: u32) {
        // SAFETY: ldmxcsr loads a value read from MXCSR with only FTZ/DAZ changed; no
        // reserved bit is set, so it cannot fault.
        unsafe { asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, preserves_flags)) };
    }
}

#[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
mod mxcsr {
    pub const FLUSH: u32 = 0;
    pub fn read() -> Option<u32> {
        None
    }
    pub fn write(_: u32) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hint::black_box;

    /// Half the smallest normal `f32`: subnormal, exactly representable.
    const SUBNORMAL: f32 = f32::MIN_POSITIVE / 2.0;

    /// The thread-local half: the products of subnormal values on a thread of our own, whose
    /// MXCSR no other test touches.
    #[test]
    fn flushing_zeroes_subnormal_results_and_operands_and_clearing_restores_them() {
        if !FLUSH_SUPPORTED {
            return;
        }
        std::thread::spawn(|| {
            set_this_thread(false);
            assert!(!flushing_on_this_thread());
            assert_eq!(black_box(f32::MIN_POSITIVE) * black_box(0.5), SUBNORMAL);
            assert_eq!(
                black_box(SUBNORMAL) * black_box(4.0),
                f32::MIN_POSITIVE * 2.0
            );
            set_this_thread(true);
            assert!(flushing_on_this_thread());
            // FTZ: a subnormal result is written as zero.
            assert_eq!(black_box(f32::MIN_POSITIVE) * black_box(0.5), 0.0);
            // DAZ: a subnormal operand is read as zero.
            assert_eq!(black_box(SUBNORMAL) * black_box(4.0), 0.0);
            // Normal values are untouched.
            assert_eq!(
                black_box(1.5f32) * black_box(f32::MIN_POSITIVE),
                1.5 * f32::MIN_POSITIVE
            );
            set_this_thread(false);
            assert_eq!(black_box(f32::MIN_POSITIVE) * black_box(0.5), SUBNORMAL);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn the_setting_reaches_every_thread_of_the_pool() {
        assert_eq!(flush_denormals(true), FLUSH_SUPPORTED);
        let on: Vec<bool> = rayon::broadcast(|_| flushing_on_this_thread());
        assert_eq!(on.len(), rayon::current_num_threads());
        assert!(on.iter().all(|&on| on == FLUSH_SUPPORTED), "{on:?}");
        assert_eq!(flushing_on_this_thread(), FLUSH_SUPPORTED);
    }
}
