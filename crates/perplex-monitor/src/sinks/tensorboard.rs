//! TensorBoard event files, written without TensorFlow.
//!
//! An event file is a sequence of TFRecords — `len: u64 LE`, `masked_crc32c(len)`, `data`,
//! `masked_crc32c(data)` — whose payloads are `tensorflow.Event` protocol buffers. perplex
//! writes only three shapes of event, so the protobuf encoding is done by hand here (a few
//! varints and length-delimited fields) instead of pulling in a protobuf toolchain:
//!
//! - the file-version header every reader expects first;
//! - scalars: `Summary.Value { tag, simple_value }`;
//! - text: `Summary.Value { tag, metadata: { plugin_data: { plugin_name: "text" } },
//!   tensor: { dtype: DT_STRING, string_val } }`, which TensorBoard's text dashboard shows.
//!
//! Each event is flushed as it is written, like `metrics.jsonl`, so a killed run keeps its
//! curves. The CI reads these files back with TensorBoard's own `EventAccumulator`.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{MetricSink, SinkError};
use crate::records::MetricRecord;

/// Appends TensorBoard events to one `events.out.tfevents.*` file.
#[derive(Debug)]
pub struct EventWriter {
    path: PathBuf,
    file: File,
}

impl EventWriter {
    /// Creates a new event file in `dir`, named as TensorBoard expects
    /// (`events.out.tfevents.<unix seconds>.<host>.<pid>.<n>`, `n` counting the files this
    /// process made), and writes its header event. TensorBoard reads every file of the
    /// directory in name order.
    pub fn create(dir: &Path) -> Result<Self, SinkError> {
        static FILES: AtomicUsize = AtomicUsize::new(0);
        let now = unix_seconds();
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "perplex".into());
        let name = format!(
            "{PREFIX}{}.{}.{}.{}",
            now as u64,
            sanitize(&host),
            std::process::id(),
            FILES.fetch_add(1, Ordering::Relaxed)
        );
        let path = dir.join(name);
        let file = File::create(&path).map_err(|source| SinkError::Io {
            path: path.clone(),
            source,
        })?;
        let mut writer = Self { path, file };
        let mut event = event_header(now, 0);
        put_bytes(&mut event, 3, b"brain.Event:2");
        writer.write_record(&event)?;
        Ok(writer)
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one scalar (TensorBoard stores it as an f32).
    pub fn scalar(&mut self, tag: &str, step: u64, value: f64) -> Result<(), SinkError> {
        let mut value_msg = Vec::new();
        put_bytes(&mut value_msg, 1, tag.as_bytes());
        put_f32(&mut value_msg, 2, value as f32);
        self.summary(step, &value_msg)
    }

    /// Writes one text entry (Markdown, shown by TensorBoard's text dashboard).
    pub fn text(&mut self, tag: &str, step: u64, text: &str) -> Result<(), SinkError> {
        let mut plugin = Vec::new();
        put_bytes(&mut plugin, 1, b"text");
        let mut metadata = Vec::new();
        put_bytes(&mut metadata, 1, &plugin);
        // TensorShapeProto { dim: [{ size: 1 }] }: a vector of one string.
        let mut dim = Vec::new();
        put_varint_field(&mut dim, 1, 1);
        let mut shape = Vec::new();
        put_bytes(&mut shape, 2, &dim);
        let mut tensor = Vec::new();
        put_varint_field(&mut tensor, 1, 7); // DT_STRING
        put_bytes(&mut tensor, 2, &shape);
        put_bytes(&mut tensor, 8, text.as_bytes());
        let mut value_msg = Vec::new();
        put_bytes(&mut value_msg, 1, tag.as_bytes());
        put_bytes(&mut value_msg, 8, &tensor);
        put_bytes(&mut value_msg, 9, &metadata);
        self.summary(step, &value_msg)
    }

    /// Writes the scalars (and, for evaluations, the signals and samples as text) of one
    /// metrics record: `baseline/uniform`, `baseline/unigram`, `baseline/initial` for the
    /// baseline record; `train/loss`, `lr`, `train/tokens_per_s` for train records;
    /// `val/loss`, `val/ppl`, `val/bits_per_char`, `train/loss_eval`, `gap`, `health`,
    /// `val/top1`, `val/top5`, and with a forecast `forecast/val_loss`, `forecast/low`,
    /// `forecast/high` (nats, for the run's last step) for evaluations.
    pub fn record(&mut self, record: &MetricRecord) -> Result<(), SinkError> {
        match record {
            MetricRecord::Baseline(r) => {
                self.scalar("baseline/uniform", r.step, r.uniform)?;
                self.scalar("baseline/unigram", r.step, r.unigram)?;
                self.scalar("baseline/initial", r.step, r.initial)
            }
            MetricRecord::Train(r) => {
                self.scalar("train/loss", r.step, r.loss)?;
                self.scalar("lr", r.step, r.lr)?;
                self.scalar("train/tokens_per_s", r.step, r.tokens_per_s)
            }
            MetricRecord::Eval(r) => {
                let g = &r.reading;
                for (tag, value) in [
                    ("val/loss", r.loss),
                    ("val/ppl", r.ppl),
                    ("val/bits_per_char", g.bits_per_char),
                    ("train/loss_eval", g.train_eval_loss),
                    ("gap", g.gap),
                    ("health", g.health),
                ] {
                    self.scalar(tag, r.step, value)?;
                }
                let projection = g.forecast.as_ref().and_then(|f| f.projection());
                let optional = [
                    ("val/top1", g.top1),
                    ("val/top5", g.top5),
                    ("forecast/val_loss", projection.map(|p| p.val_loss)),
                    ("forecast/low", projection.map(|p| p.low)),
                    ("forecast/high", projection.map(|p| p.high)),
                ];
                for (tag, value) in optional {
                    if let Some(value) = value {
                        self.scalar(tag, r.step, value)?;
                    }
                }
                let signals: Vec<String> = g
                    .verdict
                    .signals()
                    .map(|s| format!("- **{}**: {}", s.kind, s.evidence))
                    .collect();
                self.text("signals", r.step, &signals.join("\n"))?;
                if g.samples.is_empty() {
                    return Ok(());
                }
                let samples: Vec<String> = g
                    .samples
                    .iter()
                    .map(|s| format!("- *{}* → {}", s.prompt, s.text))
                    .collect();
                self.text("samples", r.step, &samples.join("\n"))
            }
        }
    }

    fn summary(&mut self, step: u64, value_msg: &[u8]) -> Result<(), SinkError> {
        let mut summary = Vec::new();
        put_bytes(&mut summary, 1, value_msg);
        let mut event = event_header(unix_seconds(), step);
        put_bytes(&mut event, 5, &summary);
        self.write_record(&event)
    }

    fn write_record(&mut self, data: &[u8]) -> Result<(), SinkError> {
        let frame = tf_record(data);
        self.file
            .write_all(&frame)
            .and_then(|_| self.file.flush())
            .map_err(|source| SinkError::Io {
                path: self.path.clone(),
                source,
            })
    }
}

impl MetricSink for EventWriter {
    fn write(&mut self, record: &MetricRecord) -> Result<(), SinkError> {
        self.record(record)
    }
}

/// The start of every event file's name.
const PREFIX: &str = "events.out.tfevents.";

/// Replaces every event file in `dir` by one holding exactly `records`. A resumed run calls
/// this after dropping the records written past its saved state, so TensorBoard shows each
/// step once (its own orphan purging leaves duplicates behind).
pub fn rewrite_events(dir: &Path, records: &[MetricRecord]) -> Result<(), SinkError> {
    let io = |path: &Path, source| SinkError::Io {
        path: path.to_owned(),
        source,
    };
    let entries = std::fs::read_dir(dir).map_err(|e| io(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| io(dir, e))?.path();
        let is_events = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(PREFIX));
        if is_events {
            std::fs::remove_file(&path).map_err(|e| io(&path, e))?;
        }
    }
    let mut writer = EventWriter::create(dir)?;
    records.iter().try_for_each(|r| writer.record(r))
}

/// One TFRecord frame around `data`.
fn tf_record(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut frame = Vec::with_capacity(data.len() + 16);
    frame.extend_from_slice(&len);
    frame.extend_from_slice(&masked_crc(&len).to_le_bytes());
    frame.extend_from_slice(data);
    frame.extend_from_slice(&masked_crc(data).to_le_bytes());
    frame
}

/// TFRecord's masked CRC-32C: rotate right by 15 and add a constant, so a CRC of data that
/// itself holds CRCs stays well distributed.
pub(crate) fn masked_crc(data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(data);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// `Event { wall_time (1, double), step (2, int64) }`.
fn event_header(wall_time: f64, step: u64) -> Vec<u8> {
    let mut event = Vec::new();
    put_key(&mut event, 1, 1);
    event.extend_from_slice(&wall_time.to_le_bytes());
    put_varint_field(&mut event, 2, step);
    event
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// A field key: field number and wire type (0 varint, 1 64-bit, 2 bytes, 5 32-bit).
fn put_key(buf: &mut Vec<u8>, field: u32, wire: u8) {
    put_varint(buf, (u64::from(field) << 3) | u64::from(wire));
}

fn put_varint_field(buf: &mut Vec<u8>, field: u32, v: u64) {
    put_key(buf, field, 0);
    put_varint(buf, v);
}

fn put_bytes(buf: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_key(buf, field, 2);
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

fn put_f32(buf: &mut Vec<u8>, field: u32, v: f32) {
    put_key(buf, field, 5);
    buf.extend_from_slice(&v.to_le_bytes());
}

fn unix_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn sanitize(host: &str) -> String {
    host.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads back the frames of an event file, checking both CRCs of each.
    fn frames(bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let len_bytes = &bytes[at..at + 8];
            let len = u64::from_le_bytes(len_bytes.try_into().unwrap()) as usize;
            let len_crc = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap());
            assert_eq!(len_crc, masked_crc(len_bytes));
            let data = &bytes[at + 12..at + 12 + len];
            let crc = u32::from_le_bytes(bytes[at + 12 + len..at + 16 + len].try_into().unwrap());
            assert_eq!(crc, masked_crc(data));
            out.push(data.to_vec());
            at += 16 + len;
        }
        out
    }

    #[test]
    fn crc32c_is_the_castagnoli_polynomial() {
        // The standard check value of CRC-32C.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn varints_encode_as_protobuf_does() {
        let mut buf = Vec::new();
        put_varint(&mut buf, 300);
        assert_eq!(buf, [0xac, 0x02]);
    }

    #[test]
    fn a_scalar_event_holds_its_tag_step_and_value() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = EventWriter::create(dir.path()).unwrap();
        w.scalar("val/ppl", 300, 123.5).unwrap();
        let bytes = std::fs::read(w.path()).unwrap();
        let frames = frames(&bytes);
        assert_eq!(frames.len(), 2);
        assert!(frames[0].windows(13).any(|w| w == b"brain.Event:2"));
        let event = &frames[1];
        // step 300 as field 2 varint, right after the 9-byte wall time field.
        assert_eq!(&event[9..12], &[0x10, 0xac, 0x02]);
        let value = 123.5f32.to_le_bytes();
        assert!(event.windows(4).any(|w| w == value));
        assert!(event.windows(7).any(|w| w == b"val/ppl"));
    }

    #[test]
    fn rewriting_leaves_one_file_with_exactly_the_given_records() {
        let dir = tempfile::tempdir().unwrap();
        for _ in 0..2 {
            EventWriter::create(dir.path())
                .unwrap()
                .scalar("x", 1, 1.0)
                .unwrap();
        }
        std::fs::write(dir.path().join("metrics.jsonl"), "").unwrap();
        let record = crate::records::tests::train(7, 2.5);
        rewrite_events(dir.path(), &[record]).unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with(PREFIX))
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        let bytes = std::fs::read(dir.path().join(&files[0])).unwrap();
        // The header, then train/loss, lr and train/tokens_per_s at step 7.
        assert_eq!(frames(&bytes).len(), 4);
        assert!(
            dir.path().join("metrics.jsonl").exists(),
            "other files are left alone"
        );
    }
}
