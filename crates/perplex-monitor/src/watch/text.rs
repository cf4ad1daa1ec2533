//! nanoGPT's text log: `step 2000: train loss 1.2345, val loss 1.4567` at evaluations and
//! `iter 100: loss 2.3456, time 12.34ms, mfu 4.56%` at steps, with or without a timestamp
//! before each line (`ts` or a logging handler). Any other line (the model's size, compile
//! messages) is skipped.

use super::{Parsed, Row, RowError};

/// Reads one line of a nanoGPT log.
pub fn parse(text: &str, line: usize) -> Result<Parsed, RowError> {
    let text = strip_timestamp(text.trim());
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

/// The line without a leading timestamp and log level: `2024-05-01 10:00:00,123 INFO `,
/// `[2024-05-01T10:00:00Z] `, `Jan 01 10:00:00 ` (`ts`'s default), `| INFO |`.
pub fn strip_timestamp(text: &str) -> &str {
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let body = text.trim_start_matches(['[', '(']);
    let dated = body.len() > 10
        && (body.as_bytes()[..4].iter().all(u8::is_ascii_digit)
            && matches!(body.as_bytes()[4], b'-' | b'/')
            || month.iter().any(|m| body.starts_with(m)) && body.as_bytes()[3] == b' ');
    if !dated {
        return text;
    }
    let body = match month.iter().find(|m| body.starts_with(**m)) {
        Some(m) => &body[m.len()..],
        None => body,
    };
    let rest = body.trim_start_matches(|c: char| {
        c.is_ascii_digit() || c.is_whitespace() || "-:./,TZ+[]()|".contains(c)
    });
    let rest = rest.trim_start();
    let rest = ["INFO", "DEBUG", "WARNING", "ERROR"]
        .iter()
        .find_map(|level| rest.strip_prefix(level))
        .unwrap_or(rest);
    rest.trim_start_matches(|c: char| c.is_whitespace() || "|:-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_and_log_levels_are_stripped() {
        let line = "step 250: train loss 1.9669, val loss 2.0757";
        for prefix in [
            "2024-05-01 10:00:00,123 INFO ",
            "[2024-05-01T10:00:00Z] ",
            "Jan 01 10:00:00 ",
            "2024/05/01 10:00:00 | INFO | ",
            "",
        ] {
            assert_eq!(
                strip_timestamp(&format!("{prefix}{line}")),
                line,
                "{prefix}"
            );
        }
        assert_eq!(strip_timestamp("iter 10: loss 3.2"), "iter 10: loss 3.2");
    }
}
