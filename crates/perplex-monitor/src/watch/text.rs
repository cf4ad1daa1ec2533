//! nanoGPT's text log: `step 2000: train loss 1.2345, val loss 1.4567` at evaluations and
//! `iter 100: loss 2.3456, time 12.34ms, mfu 4.56%` at steps. Any other line (the model's
//! size, compile messages) is skipped.

use super::{Parsed, Row, RowError};

/// Reads one line of a nanoGPT log.
pub fn parse(text: &str, line: usize) -> Result<Parsed, RowError> {
    let text = text.trim();
    let skipped = || Ok(Parsed::Skipped("not a nanoGPT record".into()));
    let (head, rest) = match text.split_once(':') {
        Some(parts) => parts,
        None => return skipped(),
    };
    let mut head = head.split_whitespace();
    let (kind, step) = match (head.next(), head.next(), head.next()) {
        (Some(kind @ ("step" | "iter")), Some(step), None) => match step.parse::<u64>() {
            Ok(step) => (kind, step),
            Err(_) => return skipped(),
        },
        _ => return skipped(),
    };
    let value = |name: &str| -> Result<Option<f64>, RowError> {
        let Some(field) = rest
            .split(',')
            .map(str::trim)
            .find_map(|f| f.strip_prefix(name))
        else {
            return Ok(None);
        };
        let v = field.trim();
        super::number_text(v).map(Some).ok_or_else(|| RowError {
            line,
            reason: format!("`{name}{v}` holds no number"),
        })
    };
    let rows = match kind {
        "iter" => value("loss ")?
            .map(|loss| Row::Train { step, loss })
            .into_iter()
            .collect(),
        // nanoGPT's `estimate_loss` measures both losses in eval mode, so the train loss of
        // a `step` line is the eval-mode train loss that overfitting is judged by.
        _ => {
            let train_eval = value("train loss ")?;
            match value("val loss ")? {
                Some(val) => vec![Row::Eval {
                    step,
                    val,
                    train_eval,
                    lr: None,
                }],
                None => train_eval
                    .map(|loss| Row::Train { step, loss })
                    .into_iter()
                    .collect(),
            }
        }
    };
    Ok(Parsed::Rows(rows))
}
