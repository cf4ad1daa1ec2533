//! `metrics.csv`: the records of `metrics.jsonl` as one CSV row each, with empty cells where a
//! record has no value and the signal kinds joined by `;`. The baseline row holds the step-0
//! validation loss as its `loss`, and the uniform and unigram levels in the last two columns.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::{MetricSink, SinkError, append, write_line};
use crate::records::{BaselineRecord, EvalRecord, MetricRecord, Reading, TrainRecord};
use crate::signal::{Signal, SignalKind, Verdict};

/// The columns of `metrics.csv`.
pub const HEADER: &str = "kind,step,tokens_seen,lr,loss,ppl,tokens_per_s,wall_s,eval_tokens,\
eval_s,best,bits_per_token,bits_per_char,train_loss,train_eval_loss,gap,health,signals,\
uniform_loss,unigram_loss,top1,top5";

/// Appends records to a CSV file, writing the header first when the file is new.
#[derive(Debug)]
pub struct CsvSink {
    path: PathBuf,
    file: File,
}

impl CsvSink {
    /// Opens `path` for appending, creating it (with its header) if needed.
    pub fn open(path: &Path) -> Result<Self, SinkError> {
        let mut file = append(path)?;
        if file.metadata().map(|m| m.len() == 0).unwrap_or(true) {
            write_line(&mut file, path, HEADER)?;
        }
        Ok(Self {
            path: path.to_owned(),
            file,
        })
    }
}

impl MetricSink for CsvSink {
    fn write(&mut self, record: &MetricRecord) -> Result<(), SinkError> {
        write_line(&mut self.file, &self.path, &row(record))
    }
}

/// A record as one CSV row (no line break), in [`HEADER`]'s columns.
pub fn row(record: &MetricRecord) -> String {
    let empty = |n| std::iter::repeat_n(String::new(), n);
    let cells: Vec<String> = match record {
        MetricRecord::Baseline(r) => {
            let mut cells = vec!["baseline".into(), r.step.to_string(), "0".into()];
            cells.push(String::new());
            cells.extend(numbers(&[r.initial, r.initial.exp()]));
            cells.extend(empty(2));
            cells.extend([r.eval_tokens.to_string(), r.eval_s.to_string()]);
            cells.extend(empty(8));
            cells.extend(numbers(&[r.uniform, r.unigram]));
            cells.extend(empty(2));
            cells
        }
        MetricRecord::Train(r) => {
            let mut cells = vec![
                "train".into(),
                r.step.to_string(),
                r.tokens_seen.to_string(),
            ];
            cells.extend(numbers(&[r.lr, r.loss, r.ppl, r.tokens_per_s, r.wall_s]));
            cells.extend(empty(14));
            cells
        }
        MetricRecord::Eval(r) => {
            let g = &r.reading;
            let kinds: Vec<&str> = g.verdict.signals().map(|s| s.kind.name()).collect();
            let mut cells = vec!["eval".into(), r.step.to_string(), r.tokens_seen.to_string()];
            cells.extend(numbers(&[r.lr, r.loss, r.ppl]));
            cells.extend([
                String::new(),
                r.wall_s.to_string(),
                r.eval_tokens.to_string(),
            ]);
            cells.extend([r.eval_s.to_string(), r.best.to_string()]);
            cells.extend(numbers(&[
                g.bits_per_token,
                g.bits_per_char,
                g.train_loss,
                g.train_eval_loss,
                g.gap,
                g.health,
            ]));
            cells.push(kinds.join(";"));
            cells.extend(empty(2));
            let optional = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
            cells.extend([optional(g.top1), optional(g.top5)]);
            cells
        }
    };
    cells.join(",")
}

fn numbers(values: &[f64]) -> impl Iterator<Item = String> + '_ {
    values.iter().map(f64::to_string)
}

/// The records of a `metrics.csv`'s text, one per row after the header (`None` for a row that
/// is not one). Columns are found by name, so older files with fewer columns read too. Rows
/// hold no evidence and no samples: an evaluation's signals come back with the evidence "(from
/// metrics.csv)".
pub fn read_rows(text: &str) -> Vec<Option<MetricRecord>> {
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let names: Vec<&str> = header.split(',').collect();
    lines.map(|line| parse_row(&names, line)).collect()
}

fn parse_row(names: &[&str], line: &str) -> Option<MetricRecord> {
    let cells: Vec<&str> = line.split(',').collect();
    if cells.len() != names.len() {
        return None;
    }
    let cell = |name: &str| names.iter().position(|n| *n == name).map(|i| cells[i]);
    let num = |name: &str| cell(name)?.parse::<f64>().ok();
    let int = |name: &str| cell(name)?.parse::<u64>().ok();
    let step = int("step")?;
    match cell("kind")? {
        "baseline" => {
            let uniform = num("uniform_loss")?;
            Some(MetricRecord::Baseline(BaselineRecord {
                step,
                vocab_size: uniform.exp().round() as usize,
                uniform,
                unigram: num("unigram_loss")?,
                initial: num("loss")?,
                train_tokens: 0,
                eval_tokens: int("eval_tokens")?,
                eval_s: num("eval_s")?,
                tokenizer_sha256: None,
            }))
        }
        "train" => Some(MetricRecord::Train(TrainRecord {
            step,
            tokens_seen: int("tokens_seen")?,
            lr: num("lr")?,
            loss: num("loss")?,
            ppl: num("ppl")?,
            tokens_per_s: num("tokens_per_s")?,
            wall_s: num("wall_s")?,
            tokenizer_sha256: None,
        })),
        "eval" => {
            let kinds: Vec<SignalKind> = cell("signals")?
                .split(';')
                .map(|k| k.parse().ok())
                .collect::<Option<_>>()?;
            let at = kinds.iter().position(|k| k.is_state())?;
            let signal = |kind| Signal::new(kind, step, "(from metrics.csv)");
            let verdict = Verdict {
                state: signal(kinds[at]),
                alarms: kinds
                    .iter()
                    .enumerate()
                    .filter(|&(i, _)| i != at)
                    .map(|(_, &k)| signal(k))
                    .collect(),
            };
            Some(MetricRecord::Eval(EvalRecord {
                step,
                tokens_seen: int("tokens_seen")?,
                lr: num("lr")?,
                loss: num("loss")?,
                ppl: num("ppl")?,
                wall_s: num("wall_s")?,
                eval_tokens: int("eval_tokens")?,
                eval_s: num("eval_s")?,
                best: cell("best")?.parse().ok()?,
                tokenizer_sha256: None,
                reading: Reading {
                    bits_per_token: num("bits_per_token")?,
                    bits_per_char: num("bits_per_char")?,
                    train_loss: num("train_loss")?,
                    train_eval_loss: num("train_eval_loss")?,
                    gap: num("gap")?,
                    health: num("health")?,
                    verdict,
                    samples: Vec::new(),
                    top1: num("top1"),
                    top5: num("top5"),
                    forecast: None,
                },
            }))
        }
        _ => None,
    }
}

/// The whole text of a `metrics.csv` holding `records`.
pub fn to_text(records: &[MetricRecord]) -> String {
    let mut text = format!("{HEADER}\n");
    for r in records {
        text.push_str(&row(r));
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::tests::{eval, train};
    use crate::signal::SignalKind;

    #[test]
    fn rows_read_back_as_the_records_they_were_less_evidence_and_samples() {
        let written = vec![
            crate::records::tests::baseline(),
            train(10, 5.123456789012345),
            eval(
                20,
                4.0,
                &[SignalKind::Overfitting, SignalKind::LeakSuspected],
            ),
        ];
        let mut text = to_text(&written);
        text.push_str("eval,30,not-a-row\n");
        let back = read_rows(&text);
        assert_eq!(back.len(), 4);
        assert_eq!(back[3], None);
        let MetricRecord::Train(t) = back[1].clone().unwrap() else {
            panic!("{back:?}")
        };
        assert_eq!(
            MetricRecord::Train(TrainRecord {
                tokenizer_sha256: Some("ab12".into()),
                ..t
            }),
            written[1]
        );
        let MetricRecord::Eval(e) = back[2].clone().unwrap() else {
            panic!("{back:?}")
        };
        assert_eq!(e.loss, 4.0);
        assert_eq!(e.reading.verdict.state.kind, SignalKind::Overfitting);
        assert_eq!(e.reading.verdict.alarms[0].kind, SignalKind::LeakSuspected);
        let MetricRecord::Baseline(b) = back[0].clone().unwrap() else {
            panic!("{back:?}")
        };
        assert_eq!((b.vocab_size, b.unigram, b.initial), (10_000, 6.5, 9.25));
    }

    #[test]
    fn rows_fill_the_header_s_columns_with_empty_cells_where_a_record_has_none() {
        let columns = HEADER.split(',').count();
        let t = row(&train(10, 5.123456789012345));
        assert_eq!(
            t,
            "train,10,640,0.001,5.123456789012345,167.91481361900958,1234.5,1.5,,,,,,,,,,,,,,"
        );
        let e = row(&eval(
            20,
            4.0,
            &[SignalKind::Overfitting, SignalKind::LeakSuspected],
        ));
        assert_eq!(e.split(',').count(), columns);
        assert!(e.starts_with("eval,20,1280,0.001,4,"), "{e}");
        assert!(e.contains(",,2,99,0.1,true,"), "{e}");
        assert!(
            e.ends_with(",80,overfitting;leak_suspected,,,0.25,0.5"),
            "{e}"
        );
        let b = row(&crate::records::tests::baseline());
        assert_eq!(b.split(',').count(), columns);
        assert!(b.starts_with("baseline,0,0,,9.25,"), "{b}");
        assert!(b.ends_with(",,9.210340371976184,6.5,,"), "{b}");
    }
}
