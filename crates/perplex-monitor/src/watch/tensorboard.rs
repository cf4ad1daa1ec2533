//! TensorBoard event directories, as PyTorch's `SummaryWriter`, Lightning, Keras and perplex
//! itself write them: TFRecord frames of `tensorflow.Event` protocol buffers, decoded by hand
//! for the few fields a scalar needs (`step`, and a value's `tag` with its `simple_value` or
//! its scalar `tensor`). Events in a subdirectory get its path before their tag (Keras writes
//! `train/` and `validation/` beside each other, both with the tag `epoch_loss`).

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::{Row, RowError};
use crate::baselines::Baselines;
use crate::sinks::tensorboard::masked_crc;

/// One scalar of an event file.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    /// The tag, with the subdirectory it was written in before it.
    pub tag: String,
    /// The step.
    pub step: u64,
    /// The value.
    pub value: f64,
}

/// The event files under a directory, read incrementally (so `--follow` sees new events).
#[derive(Debug, Clone)]
pub struct EventDir {
    root: PathBuf,
    offsets: BTreeMap<PathBuf, u64>,
}

impl EventDir {
    /// The event files under `root` (none read yet).
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_owned(),
            offsets: BTreeMap::new(),
        }
    }

    /// The scalars written since the last call, file by file in name order; a frame still
    /// being written is left for the next call.
    pub fn read_new(&mut self) -> Result<Vec<Scalar>, RowError> {
        let mut files = Vec::new();
        event_files(&self.root, &mut files);
        files.sort();
        let mut out = Vec::new();
        for path in files {
            let offset = self.offsets.get(&path).copied().unwrap_or(0);
            let prefix = prefix(&self.root, &path);
            let (read, scalars) = read_from(&path, offset, &prefix)?;
            out.extend(scalars);
            self.offsets.insert(path, offset + read);
        }
        Ok(out)
    }
}

/// Whether `dir` holds TensorBoard event files (directly or in a subdirectory).
pub fn is_event_dir(dir: &Path) -> bool {
    let mut files = Vec::new();
    event_files(dir, &mut files);
    !files.is_empty()
}

fn event_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.flatten().map(|e| e.path()) {
        if path.is_dir() {
            event_files(&path, out);
        } else if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains("tfevents"))
        {
            out.push(path);
        }
    }
}

/// `train/` for `root/train/events…`, empty for a file in `root` itself.
fn prefix(root: &Path, file: &Path) -> String {
    let parent = file.parent().unwrap_or(root);
    match parent.strip_prefix(root) {
        Ok(rel) if !rel.as_os_str().is_empty() => format!("{}/", rel.to_string_lossy()),
        _ => String::new(),
    }
}

/// The scalars of the complete frames of `path` from byte `offset`, and how many bytes they
/// took.
fn read_from(path: &Path, offset: u64, prefix: &str) -> Result<(u64, Vec<Scalar>), RowError> {
    let err = |reason: String| RowError {
        line: 0,
        reason: format!("{}: {reason}", path.display()),
    };
    let mut file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| err(e.to_string()))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| err(e.to_string()))?;
    let (mut at, mut out) = (0usize, Vec::new());
    while bytes.len() >= at + 12 {
        let len_bytes = &bytes[at..at + 8];
        let len = u64::from_le_bytes(len_bytes.try_into().expect("8 bytes")) as usize;
        if u32::from_le_bytes(bytes[at + 8..at + 12].try_into().expect("4 bytes"))
            != masked_crc(len_bytes)
        {
            return Err(err(format!(
                "a record length at byte {} is corrupt",
                offset as usize + at
            )));
        }
        let Some(frame) = bytes.get(at + 12..at + 16 + len) else {
            break; // still being written
        };
        let data = &frame[..len];
        if u32::from_le_bytes(frame[len..].try_into().expect("4 bytes")) != masked_crc(data) {
            return Err(err(format!(
                "the record at byte {} is corrupt",
                offset as usize + at
            )));
        }
        out.extend(event_scalars(data, prefix));
        at += 16 + len;
    }
    Ok((at as u64, out))
}

/// The scalars of one `Event`: its `step` (field 2) and the values of its `summary` (5).
fn event_scalars(event: &[u8], prefix: &str) -> Vec<Scalar> {
    let (mut step, mut values) = (0u64, Vec::new());
    for (field, value) in Fields(event) {
        match (field, value) {
            (2, Wire::Varint(v)) => step = v,
            (5, Wire::Bytes(summary)) => {
                for (f, v) in Fields(summary) {
                    if let (1, Wire::Bytes(value)) = (f, v)
                        && let Some(pair) = summary_value(value)
                    {
                        values.push(pair);
                    }
                }
            }
            _ => {}
        }
    }
    values
        .into_iter()
        .map(|(tag, value)| Scalar {
            tag: format!("{prefix}{tag}"),
            step,
            value,
        })
        .collect()
}

/// A `Summary.Value`'s tag (field 1) and scalar: `simple_value` (2) or a one-element `tensor`
/// (8) of floats or doubles.
fn summary_value(value: &[u8]) -> Option<(String, f64)> {
    let (mut tag, mut scalar) = (None, None);
    for (field, wire) in Fields(value) {
        match (field, wire) {
            (1, Wire::Bytes(t)) => tag = Some(String::from_utf8_lossy(t).into_owned()),
            (2, Wire::Fixed32(v)) => scalar = Some(f64::from(f32::from_bits(v))),
            (8, Wire::Bytes(tensor)) => scalar = scalar.or_else(|| tensor_scalar(tensor)),
            _ => {}
        }
    }
    Some((tag?, scalar?))
}

/// The single value of a `TensorProto`: `float_val` (5), `double_val` (6), or 4 or 8 bytes of
/// `tensor_content` (4) for a float or double `dtype` (1).
fn tensor_scalar(tensor: &[u8]) -> Option<f64> {
    let (mut dtype, mut value) = (0, None);
    for (field, wire) in Fields(tensor) {
        match (field, wire) {
            (1, Wire::Varint(d)) => dtype = d,
            (5, Wire::Fixed32(v)) => value = Some(f64::from(f32::from_bits(v))),
            (5, Wire::Bytes(b)) if b.len() >= 4 => {
                value = Some(f64::from(f32::from_le_bytes(b[..4].try_into().ok()?)))
            }
            (6, Wire::Fixed64(v)) => value = Some(f64::from_bits(v)),
            (6, Wire::Bytes(b)) if b.len() >= 8 => {
                value = Some(f64::from_le_bytes(b[..8].try_into().ok()?))
            }
            (4, Wire::Bytes(b)) => {
                value = value.or(match (dtype, b.len()) {
                    (1, 4) => Some(f64::from(f32::from_le_bytes(b.try_into().ok()?))),
                    (2, 8) => Some(f64::from_le_bytes(b.try_into().ok()?)),
                    _ => None,
                })
            }
            _ => {}
        }
    }
    value
}

/// One protobuf field's value.
enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

/// The fields of a protobuf message, in order; stops at anything malformed.
struct Fields<'a>(&'a [u8]);

impl<'a> Iterator for Fields<'a> {
    type Item = (u64, Wire<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let key = varint(&mut self.0)?;
        let wire = match key & 7 {
            0 => Wire::Varint(varint(&mut self.0)?),
            1 => Wire::Fixed64(u64::from_le_bytes(take(&mut self.0, 8)?.try_into().ok()?)),
            2 => {
                let len = usize::try_from(varint(&mut self.0)?).ok()?;
                Wire::Bytes(take(&mut self.0, len)?)
            }
            5 => Wire::Fixed32(u32::from_le_bytes(take(&mut self.0, 4)?.try_into().ok()?)),
            _ => return None,
        };
        Some((key >> 3, wire))
    }
}

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    let (head, rest) = bytes.split_at_checked(n)?;
    *bytes = rest;
    Some(head)
}

fn varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// Which tags hold the training and validation losses.
#[derive(Debug, Clone, PartialEq)]
pub struct Tags {
    /// The training-loss tag, if the log has one.
    pub train: Option<String>,
    /// The validation-loss tag, if the log has one.
    pub val: Option<String>,
    /// The eval-mode training-loss tag (perplex's `train/loss_eval`), if the log has one.
    pub train_eval: Option<String>,
    /// The learning-rate tag (`train/learning_rate`, `lr`, `lr-AdamW`, …), if the log has one.
    pub lr: Option<String>,
}

/// Tag names that usually hold a training loss, tried in order when `--train-tag` is not
/// given (perplex, PyTorch and Lightning conventions, Keras's `train/epoch_loss`).
pub const TRAIN_TAGS: [&str; 7] = [
    "train/loss",
    "train_loss",
    "loss/train",
    "Loss/train",
    "train/epoch_loss",
    "training_loss",
    "loss",
];
/// Tag names that usually hold a validation loss, tried in order when `--val-tag` is not
/// given (`eval/loss` is Hugging Face Trainer's).
pub const VAL_TAGS: [&str; 8] = [
    "val/loss",
    "eval/loss",
    "val_loss",
    "loss/val",
    "Loss/val",
    "validation/epoch_loss",
    "valid/loss",
    "validation_loss",
];
/// The tag of an eval-mode training loss, as perplex writes it.
pub const TRAIN_EVAL_TAG: &str = "train/loss_eval";

/// Chooses the tags among `seen`: the ones asked for, or the first known names; an error
/// listing the tags found when neither loss can be found, or when an asked-for tag is not
/// there.
pub fn choose_tags(
    seen: &[String],
    train: Option<&str>,
    val: Option<&str>,
) -> Result<Tags, String> {
    let listing = || format!("the scalar tags found are {seen:?}");
    let pick = |asked: Option<&str>, known: &[&str]| -> Result<Option<String>, String> {
        match asked {
            Some(tag) if seen.iter().any(|s| s == tag) => Ok(Some(tag.to_string())),
            Some(tag) => Err(format!("no scalar tag `{tag}`; {}", listing())),
            None => Ok(known
                .iter()
                .find(|k| seen.iter().any(|s| s == *k))
                .map(|k| k.to_string())),
        }
    };
    let tags = Tags {
        train: pick(train, &TRAIN_TAGS)?,
        val: pick(val, &VAL_TAGS)?,
        train_eval: pick(None, &[TRAIN_EVAL_TAG])?,
        lr: pick(None, &super::columns::LR_NAMES)?,
    };
    if tags.train.is_none() && tags.val.is_none() {
        return Err(format!(
            "no training or validation loss under a known tag; {}; name them with --train-tag \
             and --val-tag",
            listing()
        ));
    }
    Ok(tags)
}

/// The rows of `scalars` under `tags`, in step order (a step's training loss before its
/// validation loss); perplex's own `baseline/*` scalars become its baselines.
pub fn rows(scalars: &[Scalar], tags: &Tags) -> Vec<Row> {
    let mut rows: Vec<(u64, u8, Row)> = Vec::new();
    let level = |name: &str| {
        scalars
            .iter()
            .find(|s| s.tag == format!("baseline/{name}"))
            .map(|s| s.value)
    };
    if let (Some(uniform), Some(unigram), Some(initial)) =
        (level("uniform"), level("unigram"), level("initial"))
    {
        let b = Baselines {
            uniform: Some(uniform),
            unigram: Some(unigram),
            initial: Some(initial),
        };
        rows.push((0, 0, Row::Baselines(b)));
    }
    let train_eval = |step: u64| {
        scalars
            .iter()
            .find(|s| s.step == step && Some(&s.tag) == tags.train_eval.as_ref())
            .map(|s| s.value)
    };
    for s in scalars {
        if Some(&s.tag) == tags.train.as_ref() {
            let row = Row::Train {
                step: s.step,
                loss: s.value,
            };
            rows.push((s.step, 1, row));
        } else if Some(&s.tag) == tags.lr.as_ref() {
            let row = Row::Lr {
                step: s.step,
                lr: s.value,
            };
            rows.push((s.step, 0, row));
        } else if Some(&s.tag) == tags.val.as_ref() {
            let row = Row::Eval {
                step: s.step,
                val: s.value,
                train_eval: train_eval(s.step),
                lr: None,
            };
            rows.push((s.step, 2, row));
        }
    }
    rows.sort_by_key(|&(step, order, _)| (step, order));
    rows.into_iter().map(|(_, _, row)| row).collect()
}
