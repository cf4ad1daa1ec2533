//! Refusing a run that cannot fit in memory before it allocates, rather than being killed by
//! the kernel (or taking the machine down with it) at its first step.

use perplex_model::{GptConfig, MemoryEstimate};

use crate::TrainError;

/// What the process needs beside the step itself (the binary, the corpus and its hashes, the
/// evaluation's buffers): measured at 120–150 MiB for PTB runs.
const OVERHEAD: u64 = 128 << 20;

/// The memory the system can give a new process, from `/proc/meminfo`'s `MemAvailable`
/// (Linux; `None` elsewhere, where the check is skipped).
pub fn available_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The estimate for training `shape` at `batch` sequences a step; refused, with the largest
/// batch that fits, when it exceeds `available` bytes.
pub fn check(
    shape: &GptConfig,
    batch: usize,
    available: Option<u64>,
) -> Result<MemoryEstimate, TrainError> {
    let estimate = shape.train_memory(batch);
    if let Some(available) = available
        && estimate.total().saturating_add(OVERHEAD) > available
    {
        return Err(TrainError::Memory {
            needed_mib: mib(estimate.total().saturating_add(OVERHEAD)),
            available_mib: mib(available),
            batch,
            largest: shape.largest_batch(available.saturating_sub(OVERHEAD)),
        });
    }
    Ok(estimate)
}

/// Bytes in MiB, rounded up.
pub fn mib(bytes: u64) -> u64 {
    bytes.div_ceil(1 << 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_past_the_available_memory_is_refused_with_one_that_fits() {
        let shape = GptConfig {
            vocab_size: 10_000,
            ctx: 64,
            layers: 4,
            heads: 4,
            d_model: 256,
            dropout: 0.1,
            word_dropout: 0.0,
        };
        let available = 4 << 30;
        assert!(check(&shape, 32, Some(available)).is_ok());
        let err = check(&shape, 100_000_000, Some(available)).unwrap_err();
        let TrainError::Memory { largest, .. } = err else {
            panic!("{err}")
        };
        assert!(largest > 32 && check(&shape, largest, Some(available)).is_ok());
        assert!(check(&shape, largest + 1, Some(available)).is_err());
        assert!(
            check(&shape, 100_000_000, None).is_ok(),
            "unknown memory: not checked"
        );
    }
}
