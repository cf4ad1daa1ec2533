//! Hugging Face Trainer's `trainer_state.json`: one JSON document whose `log_history` holds a
//! record per logging step (`loss`, `learning_rate`, `grad_norm`), one per evaluation
//! (`eval_loss`, or `eval_<set>_loss` for each of several eval sets), and a closing summary
//! (`train_loss` averaged over the whole run, `train_runtime`) that is no step's loss.

use serde::Deserialize;
use serde_json::Value;

use super::columns::{Columns, Role, several_eval_sets};
use super::{Row, RowError};

/// The part of `trainer_state.json` that is read.
#[derive(Debug, Deserialize)]
struct TrainerState {
    log_history: Vec<serde_json::Map<String, Value>>,
    #[serde(default)]
    max_steps: Option<u64>,
}

/// What a `trainer_state.json` holds: its rows in order, its planned last step, and what to
/// say about how it was read.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The rows, in the order of `log_history`.
    pub rows: Vec<Row>,
    /// `max_steps`, the run's planned last step.
    pub max_steps: Option<u64>,
    /// Which validation loss was read when there are several.
    pub note: Option<String>,
}

/// Reads a whole `trainer_state.json`. `--train-col`, `--val-col`, `--lr-col` pick other
/// keys (a second eval set's `eval_<set>_loss`, say).
pub fn parse(text: &str, cols: &Columns) -> Result<Document, RowError> {
    let err = |reason: String| RowError { line: 0, reason };
    let state: TrainerState = serde_json::from_str(text).map_err(|e| RowError {
        line: e.line(),
        reason: e.to_string(),
    })?;
    let mut keys: Vec<&str> = state
        .log_history
        .iter()
        .flat_map(|r| r.keys().map(String::as_str))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let val_key = cols.pick(Role::Val, &keys);
    let train_key = cols.asked(Role::Train).unwrap_or("loss");
    let lr_key = cols.asked(Role::Lr).unwrap_or("learning_rate");
    let mut rows = Vec::new();
    for record in &state.log_history {
        // The closing summary averages the whole run: it is not the loss at its step.
        if record.contains_key("train_runtime") {
            continue;
        }
        let Some(step) = record.get("step").and_then(Value::as_u64) else {
            continue;
        };
        let num = |key: &str| -> Result<Option<f64>, RowError> {
            match record.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_f64()
                    .or_else(|| super::number_text(v.as_str()?))
                    .map(Some)
                    .ok_or_else(|| err(format!("`{key}` at step {step} is {v}, not a number"))),
            }
        };
        if let Some(loss) = num(train_key)? {
            rows.push(Row::Train { step, loss });
            if let Some(lr) = num(lr_key)? {
                rows.push(Row::Lr { step, lr });
            }
        }
        if let Some(val) = val_key.map(num).transpose()?.flatten() {
            rows.push(Row::Eval {
                step,
                val,
                train_eval: None,
                lr: None,
            });
        }
    }
    Ok(Document {
        rows,
        max_steps: state.max_steps,
        note: several_eval_sets(&keys, val_key),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATE: &str = r#"{"global_step": 20, "max_steps": 20, "log_history": [
        {"epoch": 0.5, "grad_norm": 4.1, "learning_rate": 4e-05, "loss": 1.4671, "step": 10},
        {"epoch": 0.5, "eval_loss": 1.2, "eval_code_loss": 1.5, "eval_runtime": 7.2, "step": 10},
        {"epoch": 1.0, "predict_loss": 0.9, "step": 20},
        {"epoch": 1.0, "step": 20, "train_loss": 2.38, "train_runtime": 472.1}
    ]}"#;

    #[test]
    fn log_history_gives_train_lr_and_eval_rows_and_the_summary_is_left_out() {
        let doc = parse(STATE, &Columns::default()).unwrap();
        assert_eq!(doc.max_steps, Some(20));
        assert_eq!(
            doc.rows,
            [
                Row::Train {
                    step: 10,
                    loss: 1.4671
                },
                Row::Lr { step: 10, lr: 4e-5 },
                Row::Eval {
                    step: 10,
                    val: 1.2,
                    train_eval: None,
                    lr: None
                }
            ]
        );
        let note = doc.note.unwrap();
        assert!(note.contains("reading `eval_loss`"), "{note}");
        let other = Columns {
            val: Some("eval_code_loss".into()),
            ..Columns::default()
        };
        let doc = parse(STATE, &other).unwrap();
        assert!(matches!(doc.rows[2], Row::Eval { val, .. } if val == 1.5));
    }

    #[test]
    fn a_truncated_document_names_its_line() {
        let err = parse("{\n  \"log_history\": [\n", &Columns::default()).unwrap_err();
        assert_eq!(err.line, 3, "{err}");
    }
}
