//! JSON lines: perplex's own records (with `kind`), and any object with a step and a train
//! or validation loss under the keys `--step-col`, `--train-col`, `--val-col` name, or the
//! names trainers use ([`Columns::pick`]: `step`, `_step`, `train/loss`, `eval/loss`, …, as
//! W&B's `wandb-history.jsonl` writes them).

use serde_json::Value;

use super::columns::{Columns, Role};
use super::{Parsed, Row, RowError};
use crate::records::BaselineRecord;

/// Reads one JSON line. A perplex record (with `kind`) is understood as it is; any other
/// object gives a train row if it has the train key and an eval row if it has the val key,
/// and is skipped when it has no step or neither loss (a config record, say). A key holding
/// something that is not a number is an error; Python's bare `NaN` and `Infinity` are
/// numbers.
pub fn parse(text: &str, line: usize, cols: &Columns) -> Result<Parsed, RowError> {
    let err = |reason: String| RowError { line, reason };
    if matches!(text.trim(), "{" | "[") {
        return Err(err(format!(
            "`{}` alone: this is one JSON document spread over lines, not a JSON object a \
             line; watch reads a document only as Hugging Face's trainer_state.json (with \
             `log_history`)",
            text.trim()
        )));
    }
    let text = quote_non_finite(text);
    let value: Value = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
    if value.get("kind").and_then(Value::as_str) == Some("baseline") {
        let record: BaselineRecord =
            serde_json::from_value(value).map_err(|e| err(e.to_string()))?;
        return Ok(Parsed::Rows(vec![Row::Baselines(record.baselines())]));
    }
    let num = |key: &str| -> Result<Option<f64>, RowError> {
        match value.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => number(v)
                .map(Some)
                .ok_or_else(|| err(format!("`{key}` is {v}, not a number"))),
        }
    };
    let keys: Vec<&str> = value
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let key = |role| cols.pick(role, &keys);
    let Some(step) = key(Role::Step).map(num).transpose()?.flatten() else {
        let step = cols.asked(Role::Step).unwrap_or("step");
        return Ok(Parsed::Skipped(format!("no numeric `{step}`")));
    };
    let step = step as u64;
    let rows = if let Some(kind) = value.get("kind").and_then(Value::as_str)
        && let Some(loss) = num("loss")?
    {
        match kind {
            "train" => vec![Row::Train { step, loss }],
            "eval" => vec![Row::Eval {
                step,
                val: loss,
                train_eval: num("train_eval_loss")?,
                lr: num("lr")?,
            }],
            _ => Vec::new(),
        }
    } else {
        let value_of = |role| key(role).map(num).transpose().map(Option::flatten);
        Row::of_record(
            step,
            value_of(Role::Train)?,
            value_of(Role::Val)?,
            value_of(Role::Lr)?,
        )
    };
    Ok(if rows.is_empty() {
        let name = |role, default| cols.asked(role).unwrap_or(default).to_string();
        Parsed::Skipped(format!(
            "neither `{}` nor `{}`",
            name(Role::Train, "train_loss"),
            name(Role::Val, "val_loss")
        ))
    } else {
        Parsed::Rows(rows)
    })
}

/// A JSON value as a number: a JSON number, or a string holding one (some loggers write
/// `"NaN"`, `"Infinity"` or `"-inf"` for the non-finite ones, which JSON cannot hold).
fn number(v: &Value) -> Option<f64> {
    v.as_f64().or_else(|| super::number_text(v.as_str()?))
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
