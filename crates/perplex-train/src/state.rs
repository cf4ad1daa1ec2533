//! The resumable state of a run: everything `perplex train --resume` needs to continue as if
//! it had never stopped.
//!
//! One file, `checkpoints/state.bin`, written atomically like every checkpoint:
//!
//! ```text
//! "PERPLEX-STATE-2\n"
//! u64 LE length + JSON header   step, data sampler (ChaCha8 state), the fingerprints of the
//!                               train and valid token streams, best, timers, loss window, the
//!                               monitor's memory
//! u64 LE length + model         burnpack bytes (burn-store's format that keeps parameter ids)
//! u64 LE length + optimizer     Burn's AdamW record (moments per parameter id)
//! u32 LE                        CRC-32C of every byte before it
//! ```
//!
//! The checksum is verified before anything is read, so a file damaged after it was written
//! is refused by name rather than resumed with other numbers.
//!
//! The learning-rate schedule is not stored: it is a function of the step, so resuming
//! replays it to the saved step. Dropout masks are a function of (seed, step) too (the trainer
//! reseeds the device each step), so a resumed run on the CPU reproduces an uninterrupted one
//! bit for bit; only wall-clock fields differ.

use std::path::{Path, PathBuf};

use burn::store::{BurnpackStore, ModuleSnapshot};
use burn::tensor::Bytes;
use perplex_data::TrainSampler;
use perplex_model::{Gpt, GptConfig};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{CheckpointError, write_atomically};
use crate::data::StreamFingerprints;
use crate::progress::Progress;

/// The marker at the start of a state file; the number is the format's version.
const MAGIC: &[u8] = b"PERPLEX-STATE-2\n";
/// The marker of the first format, refused with a clear message.
const MAGIC_V1: &[u8] = b"PERPLEX-STATE-1\n";

/// The header of a state file: where the run is, and what it must match to be resumed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateHeader {
    /// The model shape the weights belong to.
    pub model: GptConfig,
    /// sha256 of the tokenizer of the run.
    pub tokenizer_sha256: String,
    /// Optimizer steps completed.
    pub step: u64,
    /// The training batch sampler, generator state included.
    pub sampler: TrainSampler,
    /// sha256 of the train and valid token streams the run learns from and is judged on.
    pub streams: StreamFingerprints,
    /// Everything else the run has measured.
    pub progress: Progress,
}

/// A state read back from disk.
pub struct SavedState {
    /// The header.
    pub header: StateHeader,
    /// Model weights (burnpack), to load into a model of `header.model`'s shape.
    pub model: Bytes,
    /// Optimizer record bytes.
    pub optimizer: Bytes,
}

/// Writes the state file atomically.
pub fn save(
    path: &Path,
    header: &StateHeader,
    model: &Gpt,
    optimizer: &Bytes,
) -> Result<(), CheckpointError> {
    let invalid = |reason: String| CheckpointError::Invalid {
        path: path.to_owned(),
        reason,
    };
    let mut store = BurnpackStore::from_bytes(None);
    model
        .save_into(&mut store)
        .map_err(|e| invalid(e.to_string()))?;
    let weights = store.get_bytes().map_err(|e| invalid(e.to_string()))?;
    let json = serde_json::to_vec(header).expect("a state header always serialises");
    let mut bytes = MAGIC.to_vec();
    for part in [&json[..], &weights[..], &optimizer[..]] {
        bytes.extend_from_slice(&(part.len() as u64).to_le_bytes());
        bytes.extend_from_slice(part);
    }
    let crc = crc32c::crc32c(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    write_atomically(path, &bytes)
}

/// Reads a state file, refusing anything truncated or foreign with the file's name.
pub fn load(path: &Path) -> Result<SavedState, CheckpointError> {
    let bytes = std::fs::read(path).map_err(|source| CheckpointError::Io {
        path: path.to_owned(),
        source,
    })?;
    let invalid = |reason: &str| CheckpointError::Invalid {
        path: path.to_owned(),
        reason: format!("{reason}; the state file is truncated, corrupted or not perplex's"),
    };
    if bytes.starts_with(MAGIC_V1) {
        return Err(CheckpointError::Invalid {
            path: path.to_owned(),
            reason: "written by an older perplex (state format 1), which this one cannot \
                     resume; start a new run"
                .into(),
        });
    }
    let (body, crc) = bytes
        .split_last_chunk::<4>()
        .ok_or_else(|| invalid("it is shorter than a checksum"))?;
    let mut rest = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| invalid("it does not start with the perplex state marker"))?;
    if crc32c::crc32c(body) != u32::from_le_bytes(*crc) {
        return Err(CheckpointError::Invalid {
            path: path.to_owned(),
            reason: "its checksum does not match its contents: the file was damaged after it \
                     was written (resume from a copy, or start a new run)"
                .into(),
        });
    }
    let mut parts: Vec<&[u8]> = Vec::with_capacity(3);
    for _ in 0..3 {
        let (len, tail) = rest
            .split_first_chunk::<8>()
            .ok_or_else(|| invalid("a section length is missing"))?;
        let len = usize::try_from(u64::from_le_bytes(*len)).unwrap_or(usize::MAX);
        if len > tail.len() {
            return Err(invalid("a section runs past the end of the file"));
        }
        let (part, tail) = tail.split_at(len);
        parts.push(part);
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(invalid("bytes follow the last section"));
    }
    let header = serde_json::from_slice(parts[0])
        .map_err(|e| invalid(&format!("the header is not valid ({e})")))?;
    Ok(SavedState {
        header,
        model: Bytes::from_bytes_vec(parts[1].to_vec()),
        optimizer: Bytes::from_bytes_vec(parts[2].to_vec()),
    })
}

/// Loads burnpack weights into `model`, keeping the saved parameter ids (the optimizer's
/// record is keyed by them).
pub fn load_weights(model: &mut Gpt, weights: Bytes, path: &Path) -> Result<(), CheckpointError> {
    let mut store = BurnpackStore::from_bytes(Some(weights));
    model
        .load_from(&mut store)
        .map(|_| ())
        .map_err(|e| CheckpointError::Invalid {
            path: PathBuf::from(path),
            reason: format!("weights do not fit the stored model shape: {e}"),
        })
}
