//! Printed logs of `key value` pairs, whatever the trainer: modded-nanogpt
//! (`step:125/6200 val_loss:5.2017 …`), llm.c (`s:250 tel:6.1710`, `s:0 trl:11.0091 lr:…`),
//! MLX-LM (`Iter 1: Val loss 2.199, …`), Megatron (`iteration 5426/ 250000 | … | lm loss: …`),
//! fairseq (`… | valid on 'valid' subset | loss 7.6 | … | num_updates 4000`), build-nanogpt's
//! stdout (`step   250 | loss: 6.255 | lr 5.99e-04 | …`, then `validation loss: 6.26`), and
//! the `Epoch [1/10] Train Loss: … Val Loss: …` of course assignments. The pairs come from
//! [`super::pairs`]; this file only says which key is the step, which a loss, which the rate.

use super::pairs::{Pair, normalise, pairs};
use super::{Columns, Parsed, Row, RowError};

/// Keys of the step, most specific first: the first one a line has is its step.
const STEP_KEYS: [&str; 10] = [
    "step",
    "global step",
    "iteration",
    "iter",
    "it",
    "s",
    "num updates",
    "updates",
    "update",
    "epoch",
];
/// Keys that are a training loss wherever they appear.
const TRAIN_KEYS: [&str; 6] = [
    "train loss",
    "training loss",
    "trl",
    "train loss step",
    "train nll",
    "loss train",
];
/// Keys that are a validation loss wherever they appear.
const VAL_KEYS: [&str; 8] = [
    "val loss",
    "valid loss",
    "validation loss",
    "eval loss",
    "tel",
    "val nll",
    "loss val",
    "dev loss",
];
/// Keys that are the loss of whatever the line reports: a validation loss on a line that
/// says it validates (fairseq's `valid on 'valid' subset`, Megatron's `validation loss at
/// iteration`), a training loss otherwise. The NLL comes first: fairseq's `loss` is
/// label-smoothed, its `nll_loss` the likelihood.
const LOSS_KEYS: [&str; 4] = ["nll loss", "lm loss value", "lm loss", "loss"];
/// Keys of the learning rate.
const LR_KEYS: [&str; 2] = ["lr", "learning rate"];
/// Words that mark a line as a validation report.
const VALIDATION_WORDS: [&str; 4] = ["valid", "validation", "eval", "evaluation"];

/// Reads key-value lines, remembering the last step for validation lines that print none
/// (build-nanogpt's `validation loss: 6.2648`).
#[derive(Debug, Clone, Default)]
pub struct KeyValueReader {
    last_step: Option<u64>,
}

impl KeyValueReader {
    /// Reads one line (`line` is its 1-based number). `cols` names keys to prefer (the
    /// `--step-col`, `--train-col`, `--val-col`, `--lr-col` flags, matched after the same
    /// normalisation).
    pub fn parse(&mut self, text: &str, line: usize, cols: &Columns) -> Result<Parsed, RowError> {
        let _ = line; // every line can be read: there is nothing to refuse
        let found = pairs(text);
        let lookup = |asked: &Option<String>, known: &[&str]| -> Option<f64> {
            match asked {
                Some(name) => value(&found, &normalise(name)),
                None => known.iter().find_map(|k| value(&found, k)),
            }
        };
        let step = match &cols.step {
            Some(name) => value(&found, &normalise(name)),
            None => step_of(&found),
        };
        let validating = is_validation(text);
        let explicit_val = lookup(&cols.val, &VAL_KEYS);
        let explicit_train = lookup(&cols.train, &TRAIN_KEYS);
        let loss = LOSS_KEYS.iter().find_map(|k| value(&found, k));
        let (train, val) = match (explicit_train, explicit_val, loss) {
            (t, Some(v), _) => (t, Some(v)),
            (None, None, Some(l)) if validating => (None, Some(l)),
            (None, None, l) => (l, None),
            (Some(t), None, _) => (Some(t), None),
        };
        let lr = lookup(&cols.lr, &LR_KEYS);
        let step = match step.and_then(as_step) {
            // MLX-LM evaluates at iteration 1 before its first update (`Iter 1: Val loss …,
            // Val took …`): that is the untrained model, step 0.
            Some(1) if val.is_some() && text.contains("Val took") => 0,
            Some(step) => step,
            // A line that holds a validation loss and nothing else is reported at the step
            // of the lines before it.
            None if found.len() == 1 && found[0].key == "validation loss" => {
                self.last_step.unwrap_or(0)
            }
            None => return Ok(Parsed::Skipped("no step and loss in the line".into())),
        };
        self.last_step = Some(step);
        let rows = Row::of_record(step, train, val, lr);
        Ok(if rows.is_empty() {
            Parsed::Skipped("a step but no loss".into())
        } else {
            Parsed::Rows(rows)
        })
    }
}

/// The value of the first pair whose key is `key`.
fn value(found: &[Pair], key: &str) -> Option<f64> {
    found.iter().find(|p| p.key == key).map(|p| p.value)
}

/// The step of a line: the first of [`STEP_KEYS`] it has, or a key that ends in one
/// (Megatron's `validation loss at iteration 1000`).
fn step_of(found: &[Pair]) -> Option<f64> {
    STEP_KEYS.iter().find_map(|k| value(found, k)).or_else(|| {
        found
            .iter()
            .find(|p| {
                [" at iteration", " at step"]
                    .iter()
                    .any(|s| p.key.ends_with(s))
            })
            .map(|p| p.value)
    })
}

/// A step: a whole, non-negative, finite number.
fn as_step(value: f64) -> Option<u64> {
    (value.is_finite() && value >= 0.0 && value.fract() == 0.0).then_some(value as u64)
}

/// Whether the line reports a validation: one of [`VALIDATION_WORDS`] as a word.
fn is_validation(text: &str) -> bool {
    text.split(|c: char| !c.is_alphanumeric())
        .any(|w| VALIDATION_WORDS.iter().any(|v| w.eq_ignore_ascii_case(v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(lines: &str) -> Vec<Row> {
        let mut reader = KeyValueReader::default();
        let cols = Columns::default();
        lines
            .lines()
            .enumerate()
            .flat_map(|(i, l)| match reader.parse(l, i + 1, &cols).unwrap() {
                Parsed::Rows(rows) => rows,
                Parsed::Skipped(_) => Vec::new(),
            })
            .collect()
    }

    fn eval(step: u64, val: f64, lr: Option<f64>) -> Row {
        Row::Eval {
            step,
            val,
            train_eval: None,
            lr,
        }
    }

    #[test]
    fn modded_nanogpt_and_llm_c_lines() {
        let rows = read(
            "step:125/6200 val_loss:5.2017 train_time:21503ms step_avg:172.02ms\n\
             step:126/6200 train_loss:5.1000 train_time:21675ms step_avg:172.02ms\n\
             s:250 tel:6.1710\n\
             s:0 trl:11.0091 lr:0.000001 norm:15.37",
        );
        assert_eq!(
            rows,
            [
                eval(125, 5.2017, None),
                Row::Train {
                    step: 126,
                    loss: 5.1
                },
                eval(250, 6.171, None),
                Row::Train {
                    step: 0,
                    loss: 11.0091
                },
                Row::Lr { step: 0, lr: 1e-6 },
            ]
        );
    }

    #[test]
    fn mlx_megatron_and_fairseq_lines() {
        let rows = read(
            "Iter 1: Val loss 2.133, Val took 116.913s\n\
             Iter 10: Train loss 2.003, Learning Rate 1.000e-05, It/sec 0.120\n\
             iteration     4873/   10000 | consumed samples: 311872 | learning rate: 1.500E-04 | lm loss: 3.296875E+00 | grad norm: 0.430 |\n\
             validation loss at iteration 5000 | lm loss value: 3.350E+00 | lm loss PPL: 28.5 |\n\
             2023-06-13 17:32:41 | INFO | valid | epoch 143 | valid on 'valid' subset | loss 12.677 | nll_loss 11.546 | ppl 6550.94 | num_updates 40297 | best_bleu 30.53",
        );
        assert_eq!(
            rows,
            [
                eval(0, 2.133, None),
                Row::Train {
                    step: 10,
                    loss: 2.003
                },
                Row::Lr { step: 10, lr: 1e-5 },
                Row::Train {
                    step: 4873,
                    loss: 3.296875
                },
                Row::Lr {
                    step: 4873,
                    lr: 1.5e-4
                },
                eval(5000, 3.35, None),
                eval(40297, 11.546, None),
            ]
        );
    }

    #[test]
    fn a_validation_line_without_a_step_takes_the_step_before_it() {
        let rows = read(
            "validation loss: 10.9522\n\
             step     0 | loss: 10.955010 | lr 8.3916e-07 | norm: 15.4 | dt: 1000.00ms\n\
             step   249 | loss: 6.3 | lr 5.9977e-04 | norm: 0.27 | dt: 330.00ms\n\
             validation loss: 6.2648",
        );
        assert_eq!(rows[0], eval(0, 10.9522, None));
        assert_eq!(rows.last(), Some(&eval(249, 6.2648, None)));
    }

    #[test]
    fn a_course_assignment_s_epoch_line_gives_both_losses() {
        let rows = read("Epoch [3/10] Train Loss: 2.0870 Val Loss: 2.0067");
        assert_eq!(
            rows,
            [
                Row::Train {
                    step: 3,
                    loss: 2.087
                },
                eval(3, 2.0067, None)
            ]
        );
    }

    #[test]
    fn code_and_settings_are_skipped() {
        assert!(read("    val_loss_every : int = 125 # every how many steps").is_empty());
        assert!(read("        val_loss = 0.0").is_empty());
        assert!(read("num_iterations : int = 5100").is_empty());
    }
}
