//! `--device cpu|wgpu|vulkan|metal|cuda[:N]`: which backend runs the model.
//!
//! Burn 0.22 picks the backend at run time through [`Device`]; a backend is available only
//! when its Cargo feature was compiled in, and asking for one that was not says which
//! feature to build with.

use burn::tensor::Device;

/// A `--device` value that names no backend, or one this build lacks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// The name is not a backend perplex knows.
    #[error("unknown device `{0}`: use cpu, wgpu, vulkan, metal or cuda[:N]")]
    Unknown(String),
    /// The backend exists but this binary was built without it.
    #[error(
        "device `{name}` is not compiled into this binary (compiled in: {compiled}); rebuild \
         with `cargo build --release --features {feature}`"
    )]
    NotCompiled {
        name: String,
        feature: &'static str,
        compiled: String,
    },
    /// The device index is not a number.
    #[error("device `{0}`: the index after `:` must be a number, e.g. cuda:0")]
    BadIndex(String),
    /// The backend is compiled in but the device did not start (no GPU, no driver).
    #[error(
        "device `{name}` is compiled in but did not start: {reason}. Check the GPU driver \
         (Vulkan for wgpu on Linux, the CUDA driver for cuda), or use --device cpu"
    )]
    Unavailable { name: String, reason: String },
}

/// The backends compiled into this build, by `--device` name.
pub fn compiled_devices() -> Vec<&'static str> {
    let mut names = vec!["cpu"];
    if cfg!(feature = "wgpu") {
        names.push("wgpu");
    }
    if cfg!(feature = "vulkan") {
        names.push("vulkan");
    }
    if cfg!(feature = "metal") {
        names.push("metal");
    }
    if cfg!(feature = "cuda") {
        names.push("cuda");
    }
    names
}

/// Parses a `--device` value into a Burn device (without autodiff).
pub fn parse_device(spec: &str) -> Result<Device, DeviceError> {
    let (name, index) = match spec.split_once(':') {
        Some((name, idx)) => (
            name,
            Some(
                idx.parse::<usize>()
                    .map_err(|_| DeviceError::BadIndex(spec.to_string()))?,
            ),
        ),
        None => (spec, None),
    };
    let missing = |feature: &'static str| DeviceError::NotCompiled {
        name: spec.to_string(),
        feature,
        compiled: compiled_devices().join(", "),
    };
    let _ = index;
    match name {
        "cpu" | "flex" => Ok(Device::flex()),
        "wgpu" => {
            #[cfg(feature = "wgpu")]
            return Ok(Device::wgpu(gpu_kind(index)));
            #[allow(unreachable_code)]
            Err(missing("wgpu"))
        }
        "vulkan" => {
            #[cfg(feature = "vulkan")]
            return Ok(Device::vulkan(gpu_kind(index)));
            #[allow(unreachable_code)]
            Err(missing("vulkan"))
        }
        "metal" => {
            #[cfg(feature = "metal")]
            return Ok(Device::metal(gpu_kind(index)));
            #[allow(unreachable_code)]
            Err(missing("metal"))
        }
        "cuda" => {
            #[cfg(feature = "cuda")]
            return Ok(Device::cuda(index.unwrap_or(0)));
            #[allow(unreachable_code)]
            Err(missing("cuda"))
        }
        _ => Err(DeviceError::Unknown(spec.to_string())),
    }
}

/// Parses a `--device` value and checks that the device works by running one tiny operation
/// on it, so a missing GPU or driver is an error message rather than a panic mid-run.
pub fn open_device(spec: &str) -> Result<Device, DeviceError> {
    let device = parse_device(spec)?;
    let probe = device.clone();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(move || {
        burn::tensor::Tensor::<1>::ones([2], &probe)
            .sum()
            .into_data()
            .try_to_vec::<f32>()
            .map(|v| v.first().copied())
    });
    std::panic::set_hook(hook);
    match result {
        Ok(Ok(Some(2.0))) => Ok(device),
        Ok(other) => Err(DeviceError::Unavailable {
            name: spec.to_string(),
            reason: format!("a test sum gave {other:?} instead of 2"),
        }),
        Err(panic) => Err(DeviceError::Unavailable {
            name: spec.to_string(),
            reason: panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "the backend panicked".into()),
        }),
    }
}

/// The wgpu adapter for an optional index: the default adapter, or the N-th discrete GPU.
#[cfg(any(feature = "wgpu", feature = "vulkan", feature = "metal"))]
fn gpu_kind(index: Option<usize>) -> burn::tensor::DeviceKind {
    match index {
        Some(i) => burn::tensor::DeviceKind::DiscreteGpu(i),
        None => burn::tensor::DeviceKind::DefaultDevice,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_always_there_and_unknown_names_are_refused() {
        assert!(open_device("cpu").is_ok());
        assert!(matches!(parse_device("tpu"), Err(DeviceError::Unknown(_))));
        assert!(matches!(
            parse_device("cuda:x"),
            Err(DeviceError::BadIndex(_))
        ));
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn a_backend_not_compiled_in_names_its_feature() {
        let err = parse_device("cuda:1").unwrap_err().to_string();
        assert!(err.contains("--features cuda"), "{err}");
        assert!(err.contains("compiled in: cpu"), "{err}");
    }
}
