//! Checkpoints: the model's weights as safetensors (through burn-store) with the facts needed
//! to use them again (model shape, step, validation loss, tokenizer fingerprint) in the file's
//! own metadata, so weights and facts can never disagree.
//!
//! Files are written to a temporary name, fsynced and renamed into place: a crash mid-write
//! leaves the previous checkpoint whole.

use std::io::Read;
use std::path::{Path, PathBuf};

use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::Device;
use perplex_model::{Gpt, GptConfig};
use serde::{Deserialize, Serialize};

use perplex_monitor::sinks;

/// The metadata key under which perplex stores [`CheckpointMeta`] as JSON.
const META_KEY: &str = "perplex";

/// What a checkpoint is: enough to rebuild the model and to know what it scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// The model's shape.
    pub model: GptConfig,
    /// Optimizer steps completed when the weights were saved.
    pub step: u64,
    /// Mean validation NLL per token (nats) of these weights, if they were evaluated.
    pub val_loss: Option<f64>,
    /// sha256 of the tokenizer the model was trained with.
    pub tokenizer_sha256: String,
    /// CRC-32C of the file's tensor data (everything after the safetensors header), verified
    /// on load; absent in checkpoints written before perplex kept it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_crc32c: Option<u32>,
}

/// A checkpoint that cannot be written or read, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Reading, writing or renaming failed.
    #[error("checkpoint {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not a perplex safetensors checkpoint (truncated, corrupted or foreign).
    #[error("checkpoint {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// Saves `model` with `meta` at `path`, atomically, with the CRC-32C of its tensor data in
/// the metadata (the data is laid out first, its checksum taken, then the file is written with
/// it; the second layout's data is the same bytes).
pub fn save(model: &Gpt, meta: &CheckpointMeta, path: &Path) -> Result<(), CheckpointError> {
    let first = serialize(model, meta, path)?;
    let crc = crc32c::crc32c(data_section(&first, path)?);
    let meta = CheckpointMeta {
        data_crc32c: Some(crc),
        ..meta.clone()
    };
    let bytes = serialize(model, &meta, path)?;
    write_atomically(path, &bytes)
}

/// The safetensors bytes of `model` with `meta`.
fn serialize(model: &Gpt, meta: &CheckpointMeta, path: &Path) -> Result<Vec<u8>, CheckpointError> {
    let invalid = |reason: String| CheckpointError::Invalid {
        path: path.to_owned(),
        reason,
    };
    let json = serde_json::to_string(meta).expect("checkpoint metadata always serialises");
    let mut store = SafetensorsStore::from_bytes(None).metadata(META_KEY, json);
    model
        .save_into(&mut store)
        .map_err(|e| invalid(e.to_string()))?;
    store.get_bytes().map_err(|e| invalid(e.to_string()))
}

/// The tensor data of a safetensors file: everything after its 8-byte length and header.
fn data_section<'a>(bytes: &'a [u8], path: &Path) -> Result<&'a [u8], CheckpointError> {
    let len = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("eight bytes")))
        .and_then(|n| usize::try_from(n).ok())
        .and_then(|n| n.checked_add(8));
    len.and_then(|start| bytes.get(start..))
        .ok_or_else(|| CheckpointError::Invalid {
            path: path.to_owned(),
            reason: "the header runs past the end of the file; the file is truncated".into(),
        })
}

/// Writes checkpoint bytes atomically ([`sinks::write_atomically`]), naming the file on error.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    sinks::write_atomically(path, bytes).map_err(|source| CheckpointError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Loads a checkpoint onto `device`: the model is rebuilt from the stored shape and every
/// tensor must be present with its shape.
pub fn load(path: &Path, device: &Device) -> Result<(Gpt, CheckpointMeta), CheckpointError> {
    let bytes = std::fs::read(path).map_err(|source| CheckpointError::Io {
        path: path.to_owned(),
        source,
    })?;
    let meta = parse_meta(path, &bytes)?;
    if let Some(crc) = meta.data_crc32c
        && crc32c::crc32c(data_section(&bytes, path)?) != crc
    {
        return Err(CheckpointError::Invalid {
            path: path.to_owned(),
            reason: "its checksum does not match its tensor data: the file was damaged after \
                     it was written"
                .into(),
        });
    }
    meta.model
        .validate()
        .map_err(|e| CheckpointError::Invalid {
            path: path.to_owned(),
            reason: format!("stored model shape is invalid: {e}"),
        })?;
    let mut model = meta.model.init(device);
    let mut store = SafetensorsStore::from_bytes(Some(bytes));
    model
        .load_from(&mut store)
        .map_err(|e| CheckpointError::Invalid {
            path: path.to_owned(),
            reason: format!("weights do not fit the stored model shape: {e}"),
        })?;
    Ok((model, meta))
}

/// Reads only the metadata of a checkpoint (the safetensors header), not its weights.
pub fn read_meta(path: &Path) -> Result<CheckpointMeta, CheckpointError> {
    let io = |source| CheckpointError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut len = [0u8; 8];
    file.read_exact(&mut len).map_err(io)?;
    let header_len = u64::from_le_bytes(len).min(100 << 20) as usize;
    let mut header = vec![0u8; header_len];
    file.read_exact(&mut header).map_err(io)?;
    let mut bytes = len.to_vec();
    bytes.extend(header);
    parse_meta(path, &bytes)
}

/// Finds [`CheckpointMeta`] in the `__metadata__` of a safetensors header.
fn parse_meta(path: &Path, bytes: &[u8]) -> Result<CheckpointMeta, CheckpointError> {
    let invalid = |reason: &str| CheckpointError::Invalid {
        path: path.to_owned(),
        reason: format!("{reason}; the file is truncated, corrupted or not a perplex checkpoint"),
    };
    let len = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("eight bytes")) as usize)
        .ok_or_else(|| invalid("shorter than a safetensors header"))?;
    let header = bytes
        .get(8..8usize.saturating_add(len))
        .ok_or_else(|| invalid("header runs past the end of the file"))?;
    let header: serde_json::Value =
        serde_json::from_slice(header).map_err(|_| invalid("header is not JSON"))?;
    let json = header
        .get("__metadata__")
        .and_then(|m| m.get(META_KEY))
        .and_then(|m| m.as_str())
        .ok_or_else(|| invalid("no perplex metadata in the header"))?;
    serde_json::from_str(json).map_err(|_| invalid("perplex metadata is unreadable"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> CheckpointMeta {
        CheckpointMeta {
            model: GptConfig {
                vocab_size: 20,
                ctx: 4,
                layers: 1,
                heads: 2,
                d_model: 8,
                dropout: 0.0,
                word_dropout: 0.0,
            },
            step: 7,
            val_loss: Some(2.5),
            tokenizer_sha256: "abc".into(),
            data_crc32c: None,
        }
    }

    #[test]
    fn weights_and_metadata_round_trip_exactly() {
        let device = Device::flex();
        device.seed(5);
        let model = meta().model.init(&device);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("best.safetensors");
        save(&model, &meta(), &path).unwrap();
        let saved = read_meta(&path).unwrap();
        assert!(saved.data_crc32c.is_some());
        assert_eq!(
            CheckpointMeta {
                data_crc32c: None,
                ..saved
            },
            meta()
        );
        let (back, m) = load(&path, &device).unwrap();
        assert_eq!(m, read_meta(&path).unwrap());
        let a = model.tok_emb.weight.val().into_data();
        let b = back.tok_emb.weight.val().into_data();
        assert_eq!(a, b);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            leftovers.len(),
            1,
            "no temporary file may remain: {leftovers:?}"
        );
    }

    #[test]
    fn a_checkpoint_damaged_in_place_is_refused_by_its_checksum() {
        let device = Device::flex();
        let model = meta().model.init(&device);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("best.safetensors");
        save(&model, &meta(), &path).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.len() - 40;
        bytes[at..at + 8].fill(0xff);
        std::fs::write(&path, &bytes).unwrap();
        let err = load(&path, &device).unwrap_err().to_string();
        assert!(
            err.contains("best.safetensors") && err.contains("checksum"),
            "{err}"
        );
    }

    #[test]
    fn a_truncated_checkpoint_is_a_clear_error_not_a_panic() {
        let device = Device::flex();
        let model = meta().model.init(&device);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("last.safetensors");
        save(&model, &meta(), &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        for cut in [4, 100, bytes.len() - 10] {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            let err = load(&path, &device).unwrap_err().to_string();
            assert!(err.contains("last.safetensors"), "cut {cut}: {err}");
        }
    }
}
