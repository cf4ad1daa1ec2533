//! Printed tables of named columns: the "Training results" table a Hugging Face Trainer writes
//! into a model card (`| Training Loss | Epoch | Step | Validation Loss |`, `No log` where a
//! loss was not logged), the table a notebook prints while training (tab-separated), and the
//! Markdown tables course reports paste their epochs into. A header row of names comes first;
//! rule rows (`|:---:|`) are skipped; each later row of numbers is a record.

use super::pairs::normalise;
use super::{Parsed, Row, RowError};

/// Header names of each column a table's records are read from, normalised.
const STEP: [&str; 5] = ["step", "global step", "iteration", "iter", "epoch"];
const TRAIN: [&str; 4] = ["training loss", "train loss", "loss", "train nll"];
const VAL: [&str; 5] = [
    "validation loss",
    "val loss",
    "valid loss",
    "eval loss",
    "dev loss",
];
const LR: [&str; 2] = ["learning rate", "lr"];

/// A table read row by row: its header once seen.
#[derive(Debug, Clone, Default)]
pub struct TableReader {
    at: Option<Layout>,
}

/// The columns of the step, the losses and the rate.
#[derive(Debug, Clone)]
struct Layout {
    step: usize,
    train: Option<usize>,
    val: Option<usize>,
    lr: Option<usize>,
}

impl TableReader {
    /// Reads one line: a header (the first row of names that has a step and a loss column),
    /// then records. A cell that is neither a number nor `No log` is an error.
    pub fn parse(&mut self, text: &str, line: usize) -> Result<Parsed, RowError> {
        let cells = cells(text);
        let Some(at) = &self.at else {
            return Ok(match layout(&cells) {
                Some(layout) => {
                    self.at = Some(layout);
                    Parsed::Rows(Vec::new())
                }
                None => Parsed::Skipped("not a table header".into()),
            });
        };
        if cells.len() < 2 || cells.iter().all(|c| c.chars().all(|c| "-:= ".contains(c))) {
            return Ok(Parsed::Skipped("a rule or a line outside the table".into()));
        }
        let cell = |i: Option<usize>| -> Result<Option<f64>, RowError> {
            match i.and_then(|i| cells.get(i)).map(|c| c.as_str()) {
                None | Some("") => Ok(None),
                Some(c) if c.eq_ignore_ascii_case("no log") => Ok(None),
                Some(c) => super::number_text(c).map(Some).ok_or_else(|| RowError {
                    line,
                    reason: format!("`{c}` is not a number"),
                }),
            }
        };
        let Some(step) = cell(Some(at.step))?.filter(|s| *s >= 0.0) else {
            return Ok(Parsed::Skipped("the step cell is empty".into()));
        };
        let (train, val, lr) = (cell(at.train)?, cell(at.val)?, cell(at.lr)?);
        Ok(Parsed::Rows(Row::of_record(step as u64, train, val, lr)))
    }
}

/// The cells of a table line: split at `|` when it has them, else at tabs, else at runs of
/// two or more spaces; trimmed, the empty ends of `| a | b |` dropped.
fn cells(text: &str) -> Vec<String> {
    let text = text.trim();
    let parts: Vec<&str> = if text.contains('|') {
        text.trim_matches('|').split('|').collect()
    } else if text.contains('\t') {
        text.split('\t').collect()
    } else {
        text.split("  ").filter(|p| !p.trim().is_empty()).collect()
    };
    parts.iter().map(|p| p.trim().to_string()).collect()
}

/// The layout of a header row: a step column and a training or validation loss column,
/// and no cell a number.
fn layout(cells: &[String]) -> Option<Layout> {
    if cells.len() < 2 || cells.iter().any(|c| c.parse::<f64>().is_ok()) {
        return None;
    }
    let names: Vec<String> = cells.iter().map(|c| normalise(c)).collect();
    let find = |known: &[&str]| known.iter().find_map(|k| names.iter().position(|n| n == k));
    let (train, val) = (find(&TRAIN), find(&VAL));
    (train.is_some() || val.is_some()).then_some(())?;
    Some(Layout {
        step: find(&STEP)?,
        train,
        val,
        lr: find(&LR),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Vec<Row> {
        let mut r = TableReader::default();
        text.lines()
            .enumerate()
            .flat_map(|(i, l)| match r.parse(l, i + 1).unwrap() {
                Parsed::Rows(rows) => rows,
                Parsed::Skipped(_) => Vec::new(),
            })
            .collect()
    }

    #[test]
    fn a_model_card_s_training_results_are_read_with_its_no_log_cells() {
        let card = "\
### Training results

| Training Loss | Epoch | Step | Validation Loss |
|:-------------:|:-----:|:----:|:---------------:|
| No log        | 1.0   | 100  | 2.1234          |
| 1.2345        | 2.0   | 200  | 1.9876          |
";
        assert_eq!(
            read(card),
            [
                Row::eval(100, 2.1234),
                Row::Train {
                    step: 200,
                    loss: 1.2345
                },
                Row::eval(200, 1.9876)
            ]
        );
    }

    #[test]
    fn a_notebook_s_tab_separated_table_and_a_markdown_epoch_table_are_read() {
        let rows = read("Step\tTraining Loss\tValidation Loss\n500\t2.3456\t2.1234\n");
        assert_eq!(rows.len(), 2);
        let rows = read(
            "| Epoch | Train Loss | Train Acc (%) | Val Loss | Learning Rate |\n\
             ----------------------------------------------------\n\
             | 1     | 1.0658     | 57.58         | 0.9513   | 5.00e-04      |",
        );
        assert_eq!(
            rows[1..],
            [
                Row::Eval {
                    step: 1,
                    val: 0.9513,
                    train_eval: None,
                    lr: Some(5e-4)
                },
                Row::Lr { step: 1, lr: 5e-4 }
            ]
        );
    }

    #[test]
    fn a_cell_that_is_not_a_number_names_its_line() {
        let mut r = TableReader::default();
        r.parse("| Step | Validation Loss |", 1).unwrap();
        let err = r.parse("| 100 | oops |", 2).unwrap_err();
        assert_eq!(err.to_string(), "line 2: `oops` is not a number");
    }
}
