//! build-nanogpt's `log.txt`: one number a line, `{step} {stream} {value}` — `0 val 10.9310`,
//! `0 hella 0.2413`, `0 train 10.934416`. The `val` stream is the validation loss, `train`
//! the training loss; other streams (HellaSwag accuracy) are skipped.

use super::{Parsed, Row, RowError};

/// Reads one line of a build-nanogpt `log.txt`.
pub fn parse(text: &str, line: usize) -> Result<Parsed, RowError> {
    let mut words = text.split_whitespace();
    let (Some(step), Some(stream), Some(value), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Ok(Parsed::Skipped("not `step stream value`".into()));
    };
    let Ok(step) = step.parse::<u64>() else {
        return Ok(Parsed::Skipped("not `step stream value`".into()));
    };
    let number = || {
        super::number_text(value).ok_or_else(|| RowError {
            line,
            reason: format!("`{value}` is not a number"),
        })
    };
    Ok(match stream {
        "train" => Parsed::Rows(vec![Row::Train {
            step,
            loss: number()?,
        }]),
        "val" => Parsed::Rows(vec![Row::Eval {
            step,
            val: number()?,
            train_eval: None,
            lr: None,
        }]),
        other => Parsed::Skipped(format!("the `{other}` stream holds no loss")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn train_and_val_streams_are_losses_and_others_are_skipped() {
        assert_eq!(
            parse("250 val 6.2648", 1).unwrap(),
            Parsed::Rows(vec![Row::Eval {
                step: 250,
                val: 6.2648,
                train_eval: None,
                lr: None
            }])
        );
        assert!(matches!(parse("0 hella 0.2413", 2), Ok(Parsed::Skipped(_))));
        assert!(matches!(
            parse("step 0: loss 1.0", 3),
            Ok(Parsed::Skipped(_))
        ));
        let err = parse("5 train oops", 4).unwrap_err();
        assert_eq!(err.to_string(), "line 4: `oops` is not a number");
    }
}
