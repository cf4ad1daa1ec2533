//! Watching a metrics log that perplex did not write: rows of step / train loss / val loss
//! from JSON lines or CSV, fed to the same [`Monitor`] that watches perplex's own runs.

use serde_json::Value;

use crate::baselines::Baselines;
use crate::monitor::{Judgement, Monitor, Observation};
use crate::records::BaselineRecord;
use crate::signal::Signal;

/// Which columns (CSV) or keys (JSON) hold the numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    /// The optimizer step.
    pub step: String,
    /// The training loss (nats per token).
    pub train: String,
    /// The validation loss (nats per token).
    pub val: String,
}

impl Default for Columns {
    fn default() -> Self {
        Self {
            step: "step".into(),
            train: "train_loss".into(),
            val: "val_loss".into(),
        }
    }
}

/// One observation of a log.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Row {
    /// A training loss at a step.
    Train { step: u64, loss: f64 },
    /// A validation loss at a step, with the eval-mode train loss when the log has it.
    Eval {
        step: u64,
        val: f64,
        train_eval: Option<f64>,
    },
    /// The baselines of a perplex run (its `baseline` record).
    Baselines(Baselines),
}

impl Row {
    /// The loss a train or eval row carries, nats per token.
    pub fn loss(&self) -> Option<f64> {
        match *self {
            Row::Train { loss, .. } => Some(loss),
            Row::Eval { val, .. } => Some(val),
            Row::Baselines(_) => None,
        }
    }
}

/// A line of a log that cannot be read, with its number.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct RowError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// Reads one JSON line. perplex's own records (with `kind`) are understood as they are;
/// any other object gives a train row if it has the train key and an eval row if it has the
/// val key.
pub fn json_rows(text: &str, line: usize, cols: &Columns) -> Result<Vec<Row>, RowError> {
    let err = |reason: String| RowError { line, reason };
    let text = quote_non_finite(text);
    let value: Value = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
    if value.get("kind").and_then(Value::as_str) == Some("baseline") {
        let record: BaselineRecord =
            serde_json::from_value(value).map_err(|e| err(e.to_string()))?;
        return Ok(vec![Row::Baselines(record.baselines())]);
    }
    let num = |key: &str| -> Result<Option<f64>, RowError> {
        match value.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => number(v)
                .map(Some)
                .ok_or_else(|| err(format!("`{key}` is {v}, not a number"))),
        }
    };
    let step = num(&cols.step)?.ok_or_else(|| err(format!("no numeric `{}`", cols.step)))? as u64;
    if let (Some(kind), Some(loss)) = (value.get("kind").and_then(Value::as_str), num("loss")?) {
        return Ok(match kind {
            "train" => vec![Row::Train { step, loss }],
            "eval" => vec![Row::Eval {
                step,
                val: loss,
                train_eval: num("train_eval_loss")?,
            }],
            _ => Vec::new(),
        });
    }
    let mut rows = Vec::new();
    if let Some(loss) = num(&cols.train)? {
        rows.push(Row::Train { step, loss });
    }
    if let Some(val) = num(&cols.val)? {
        rows.push(Row::Eval {
            step,
            val,
            train_eval: None,
        });
    }
    Ok(rows)
}

/// A JSON value as a number: a JSON number, or the strings Python and others write for the
/// non-finite ones (`"NaN"`, `"Infinity"`, `"-Infinity"`, `"nan"`, `"inf"`, `"-inf"`).
fn number(v: &Value) -> Option<f64> {
    v.as_f64().or_else(|| match v.as_str()? {
        "NaN" | "nan" => Some(f64::NAN),
        "Infinity" | "inf" => Some(f64::INFINITY),
        "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
        _ => None,
    })
}

/// Puts the bare `NaN`, `Infinity` and `-Infinity` that Python's `json.dumps` writes (and
/// strict JSON refuses) in quotes, leaving strings alone.
fn quote_non_finite(text: &str) -> std::borrow::Cow<'_, str> {
    const BARE: [&str; 3] = ["-Infinity", "Infinity", "NaN"];
    if !BARE.iter().any(|b| text.contains(b)) {
        return text.into();
    }
    let (mut out, mut in_string, mut escaped) =
        (String::with_capacity(text.len() + 8), false, false);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if !in_string && let Some(b) = BARE.iter().find(|b| rest.starts_with(**b)) {
            out.push('"');
            out.push_str(b);
            out.push('"');
            rest = &rest[b.len()..];
            continue;
        }
        match (in_string, escaped, c) {
            (true, false, '\\') => escaped = true,
            (true, false, '"') | (false, _, '"') => in_string = !in_string,
            _ => escaped = false,
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out.into()
}

/// Reads CSV text with a header row; empty cells are missing values. Fields are split on
/// commas (no quoting).
pub fn csv_rows(text: &str, cols: &Columns) -> Result<Vec<Row>, RowError> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Ok(Vec::new());
    };
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    let find = |name: &str| names.iter().position(|n| *n == name);
    let step_at = find(&cols.step).ok_or_else(|| RowError {
        line: 1,
        reason: format!("no `{}` column in the header {names:?}", cols.step),
    })?;
    let (train_at, val_at) = (find(&cols.train), find(&cols.val));
    if train_at.is_none() && val_at.is_none() {
        return Err(RowError {
            line: 1,
            reason: format!("neither `{}` nor `{}` is a column", cols.train, cols.val),
        });
    }
    let mut rows = Vec::new();
    for (i, line) in lines {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let err = |reason: String| RowError {
            line: i + 1,
            reason,
        };
        if fields.len() != names.len() {
            return Err(err(format!(
                "{} fields, the header has {}",
                fields.len(),
                names.len()
            )));
        }
        let cell = |at: Option<usize>| -> Result<Option<f64>, RowError> {
            match at.map(|a| fields[a]) {
                None | Some("") => Ok(None),
                Some(v) => v
                    .parse()
                    .map(Some)
                    .map_err(|_| err(format!("`{v}` is not a number"))),
            }
        };
        let step = cell(Some(step_at))?.ok_or_else(|| err("the step is empty".into()))? as u64;
        if let Some(loss) = cell(train_at)? {
            rows.push(Row::Train { step, loss });
        }
        if let Some(val) = cell(val_at)? {
            rows.push(Row::Eval {
                step,
                val,
                train_eval: None,
            });
        }
    }
    Ok(rows)
}

/// What the monitor said about one row.
#[derive(Debug, Clone, PartialEq)]
pub enum Said {
    /// A training row raised a signal (`unstable`, `non_finite`).
    Step(Signal),
    /// An evaluation row was judged.
    Eval {
        /// The row's step.
        step: u64,
        /// The judgement.
        judgement: Judgement,
    },
}

/// Feeds one row to `monitor` (a training row counts as one step of unknown size); returns
/// what it said, if anything. A perplex baseline record sets the monitor's levels; otherwise,
/// when the step-0 level is unknown, the first row's loss stands for it.
pub fn feed(monitor: &mut Monitor, row: Row) -> Option<Said> {
    if let Row::Baselines(b) = row {
        monitor.set_baselines(b);
        return None;
    }
    if monitor.is_fresh()
        && monitor.baselines().initial.is_none()
        && let Some(loss) = row.loss().filter(|l| l.is_finite())
    {
        let inferred = Baselines {
            initial: Some(loss),
            ..*monitor.baselines()
        };
        monitor.set_baselines(inferred);
    }
    match row {
        Row::Baselines(_) => None,
        Row::Train { step, loss } => monitor.on_step(step, loss, 1).map(Said::Step),
        Row::Eval {
            step,
            val,
            train_eval,
        } => {
            let judgement = monitor.on_eval(Observation {
                step,
                val_loss: val,
                train_eval_loss: train_eval,
                samples: &[],
            });
            Some(Said::Eval { step, judgement })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detector::DetectorConfig;
    use crate::signal::SignalKind;
    use crate::stopping::EarlyStoppingConfig;

    const LOG: &str = "\
iter,train_loss,val_loss,lr
0,9.2,,0.001
100,6.0,6.1,0.001
200,5.0,5.3,0.001
300,4.2,5.2,0.001
400,3.6,5.4,0.001
500,3.1,5.8,0.001
";

    #[test]
    fn a_hand_written_csv_with_renamed_columns_is_read_and_judged() {
        let cols = Columns {
            step: "iter".into(),
            ..Columns::default()
        };
        let rows = csv_rows(LOG, &cols).unwrap();
        assert_eq!(rows.len(), 11, "6 train losses and 5 val losses");
        let mut monitor = Monitor::new(
            DetectorConfig::default(),
            EarlyStoppingConfig::default(),
            Baselines::default(),
        );
        let states: Vec<(u64, SignalKind)> = rows
            .into_iter()
            .filter_map(|r| match feed(&mut monitor, r)? {
                Said::Eval { step, judgement } => Some((step, judgement.verdict.state.kind)),
                Said::Step(_) => None,
            })
            .collect();
        use SignalKind::*;
        assert_eq!(
            states,
            vec![
                (100, WarmingUp),
                (200, Healthy),
                (300, Healthy),
                (400, Healthy),
                (500, Overfitting)
            ]
        );
        assert!(monitor.run_health().unwrap() < 90.0);
    }

    #[test]
    fn bad_rows_name_their_line() {
        let err = csv_rows("step,val_loss\n1,2.0\n2,abc\n", &Columns::default()).unwrap_err();
        assert_eq!(err.line, 3);
        let err = csv_rows("x,y\n1,2\n", &Columns::default()).unwrap_err();
        assert!(err.reason.contains("no `step` column"), "{err}");
        let err = json_rows("{\"val_loss\": 1}", 4, &Columns::default()).unwrap_err();
        assert_eq!(err.to_string(), "line 4: no numeric `step`");
    }

    #[test]
    fn python_s_bare_nan_is_read_as_non_finite_and_a_string_loss_is_an_error() {
        let cols = Columns::default();
        let rows = json_rows(
            r#"{"step": 3, "train_loss": NaN, "note": "NaN in text"}"#,
            7,
            &cols,
        )
        .unwrap();
        assert!(matches!(rows[0], Row::Train { step: 3, loss } if loss.is_nan()));
        let rows = json_rows(r#"{"step": 4, "val_loss": -Infinity}"#, 8, &cols).unwrap();
        assert!(matches!(rows[0], Row::Eval { val, .. } if val == f64::NEG_INFINITY));
        let err = json_rows(r#"{"step": 5, "train_loss": "2.5x"}"#, 9, &cols).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"line 9: `train_loss` is "2.5x", not a number"#
        );
        let mut monitor = Monitor::new(
            DetectorConfig::default(),
            EarlyStoppingConfig::default(),
            Baselines::default(),
        );
        let said = feed(
            &mut monitor,
            Row::Train {
                step: 3,
                loss: f64::NAN,
            },
        );
        assert!(matches!(said, Some(Said::Step(s)) if s.kind == SignalKind::NonFinite));
    }

    #[test]
    fn json_lines_of_perplex_and_of_others_are_understood() {
        let cols = Columns::default();
        let ours = r#"{"kind":"eval","step":500,"loss":5.1,"train_eval_loss":5.0}"#;
        assert_eq!(
            json_rows(ours, 1, &cols).unwrap(),
            vec![Row::Eval {
                step: 500,
                val: 5.1,
                train_eval: Some(5.0)
            }]
        );
        let theirs = r#"{"step": 10, "train_loss": 4.5, "val_loss": 4.7}"#;
        assert_eq!(json_rows(theirs, 1, &cols).unwrap().len(), 2);
    }
}
