//! The number format of the CPU kernels' matrix products: f32 (the default and the
//! yardstick), or bf16 inputs with f32 accumulation on Intel's AMX tiles.
//!
//! One setting for the whole process, because the products run deep inside the backend's
//! ops and on rayon's threads. Only the products change: weights, gradients, optimizer
//! state, the element-wise kernels and the loss stay f32.

use std::sync::atomic::{AtomicBool, Ordering};

use burn::backend::DispatchDevice;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

/// The inputs' number format of every matrix product the CPU kernels run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// f32 inputs, f32 products (gemm's AVX-512/AVX2 kernels).
    #[default]
    Fp32,
    /// Inputs rounded to bf16 (8 bits of mantissa), products accumulated in f32, on AMX
    /// tiles: several times the products' speed where the CPU has AMX.
    Bf16,
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16",
        })
    }
}

/// Why a precision cannot be used on this machine.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PrecisionError {
    /// bf16 products need AMX, which this CPU or kernel does not offer.
    #[error(
        "bf16 products need Intel AMX (amx_bf16, e.g. Xeon Sapphire Rapids or later) and a \
         Linux kernel that grants it; this machine has none: use precision \"fp32\""
    )]
    NoAmx,
    /// bf16 products are the CPU kernels'; other devices multiply as their backend does.
    #[error(
        "bf16 products are perplex's CPU kernels (AMX); on another device use precision \"fp32\""
    )]
    CpuOnly,
}

static BF16: AtomicBool = AtomicBool::new(false);

/// Sets the format of every product from now on, in every thread, for a model on `device`;
/// refuses bf16 off the CPU backend and where AMX is unavailable.
pub fn set_precision(precision: Precision, device: &Device) -> Result<(), PrecisionError> {
    if precision == Precision::Bf16 {
        let on_cpu = matches!(
            device.clone().without_autodiff().as_dispatch(),
            DispatchDevice::Flex(_)
        );
        if !on_cpu {
            return Err(PrecisionError::CpuOnly);
        }
        if !amx_available() {
            return Err(PrecisionError::NoAmx);
        }
    }
    BF16.store(precision == Precision::Bf16, Ordering::Relaxed);
    Ok(())
}

/// The format products use now.
pub fn precision() -> Precision {
    if BF16.load(Ordering::Relaxed) {
        Precision::Bf16
    } else {
        Precision::Fp32
    }
}

/// Runs `work` with products in `precision`, then restores the format before it (an
/// evaluation inside a bf16 run is measured in f32 this way).
pub fn with_precision<R>(precision: Precision, work: impl FnOnce() -> R) -> R {
    let before = BF16.swap(precision == Precision::Bf16, Ordering::Relaxed);
    let result = work();
    BF16.store(before, Ordering::Relaxed);
    result
}

/// Whether this machine can run bf16 products (x86-64 with AMX granted by the kernel).
pub fn amx_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        crate::fused::amx::available()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AMX is found where Linux lists `amx_bf16`, and only there; without it bf16 is refused
    /// and the products stay f32. (Where it is found, the products themselves are tested in
    /// `fused/amx/tests.rs`; setting bf16 here would change every other test's products.)
    #[test]
    fn amx_is_found_where_the_cpu_lists_it_and_bf16_refused_elsewhere() {
        if let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") {
            let listed = info.split_whitespace().any(|flag| flag == "amx_bf16");
            assert_eq!(amx_available(), listed);
        }
        if !amx_available() {
            let cpu = Device::flex();
            assert_eq!(
                set_precision(Precision::Bf16, &cpu),
                Err(PrecisionError::NoAmx)
            );
            assert_eq!(precision(), Precision::Fp32);
        }
        assert_eq!(with_precision(Precision::Fp32, precision), Precision::Fp32);
        assert_eq!(Precision::Bf16.to_string(), "bf16");
    }
}
