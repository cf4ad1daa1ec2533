//! CSV with a header row: perplex's own `metrics.csv`, Lightning's `CSVLogger` (`step`,
//! `train_loss_step`, `val_loss`, many empty cells), Keras's `CSVLogger` (`epoch`, `loss`,
//! `val_loss`), W&B's exported history. Each line is parsed by the `csv` crate (quotes,
//! ragged rows); the columns come from [`Columns::pick`]. Empty cells are missing values.

use super::columns::{Columns, Role, several_eval_sets};
use super::{Parsed, Row, RowError};

/// A CSV log read line by line: the first non-empty line is the header.
#[derive(Debug, Clone, Default)]
pub struct CsvReader {
    at: Option<Layout>,
    note: Option<String>,
}

/// Where the step, the losses and the rate are in each row.
#[derive(Debug, Clone)]
struct Layout {
    fields: usize,
    step: usize,
    /// Keras numbers epochs from 0, written after each epoch: epoch `e` is read as step
    /// `e + 1`, so that step 0 still means "before training".
    epoch_offset: u64,
    train: Option<usize>,
    val: Option<usize>,
    lr: Option<usize>,
}

impl CsvReader {
    /// Reads one line (`line` is its 1-based number): the header first, then rows. A row with
    /// an empty step is skipped; a cell that is not a number, or a row with more fields than
    /// the header, is an error (a shorter row's missing cells are empty).
    pub fn parse(&mut self, text: &str, line: usize, cols: &Columns) -> Result<Parsed, RowError> {
        let err = |reason: String| RowError { line, reason };
        let fields = split(text).map_err(|e| err(e.to_string()))?;
        let Some(at) = &self.at else {
            let names: Vec<&str> = fields.iter().map(String::as_str).collect();
            let (layout, note) = layout(&names, cols).map_err(err)?;
            self.at = Some(layout);
            self.note = note;
            return Ok(Parsed::Rows(Vec::new()));
        };
        if fields.len() > at.fields {
            return Err(err(format!(
                "{} fields, the header has {}",
                fields.len(),
                at.fields
            )));
        }
        let cell = |i: Option<usize>| -> Result<Option<f64>, RowError> {
            match i.and_then(|i| fields.get(i)).map(|f| f.trim()) {
                None | Some("") => Ok(None),
                Some(v) => super::number_text(v)
                    .map(Some)
                    .ok_or_else(|| err(format!("`{v}` is not a number"))),
            }
        };
        let Some(step) = cell(Some(at.step))? else {
            return Ok(Parsed::Skipped("the step is empty".into()));
        };
        let step = step as u64 + at.epoch_offset;
        let (train, val, lr) = (cell(at.train)?, cell(at.val)?, cell(at.lr)?);
        Ok(Parsed::Rows(Row::of_record(step, train, val, lr)))
    }

    /// How the header was read (the epoch as the step, one eval set of several), once.
    pub fn take_note(&mut self) -> Option<String> {
        self.note.take()
    }
}

/// The fields of one CSV line.
fn split(text: &str) -> Result<Vec<String>, ::csv::Error> {
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    match reader.records().next() {
        Some(record) => Ok(record?.iter().map(str::to_string).collect()),
        None => Ok(Vec::new()),
    }
}

/// Whether `line` looks like a CSV header: two or more comma-separated names, none of them
/// starting with a digit (a timestamped log line has a comma in its milliseconds) nor
/// holding `: `.
pub fn is_header(line: &str) -> bool {
    let Ok(fields) = split(line) else {
        return false;
    };
    fields.len() >= 2
        && fields.iter().all(|f| {
            let f = f.trim();
            !f.is_empty()
                && !f.starts_with(|c: char| c.is_ascii_digit() || c == '-')
                && !f.contains(": ")
        })
}

fn layout(names: &[&str], cols: &Columns) -> Result<(Layout, Option<String>), String> {
    let trimmed: Vec<&str> = names.iter().map(|n| n.trim()).collect();
    let index = |name: Option<&str>| name.and_then(|n| trimmed.iter().position(|m| *m == n));
    let step_name = cols.pick(Role::Step, &trimmed);
    let step = index(step_name).ok_or_else(|| match cols.asked(Role::Step) {
        Some(asked) => format!("no `{asked}` column in the header {trimmed:?}"),
        None => format!(
            "no step column (step, iter, epoch, …) in the header {trimmed:?}; name it with \
             --step-col"
        ),
    })?;
    let val_name = cols.pick(Role::Val, &trimmed);
    let (train, val) = (index(cols.pick(Role::Train, &trimmed)), index(val_name));
    if train.is_none() && val.is_none() {
        return Err(format!(
            "no training or validation loss column in the header {trimmed:?}; name them with \
             --train-col and --val-col"
        ));
    }
    let by_epoch = step_name == Some("epoch") && !trimmed.contains(&"step");
    let mut notes: Vec<String> = Vec::new();
    if by_epoch {
        notes.push("the step column is `epoch`: epoch e (from 0) is read as step e + 1".into());
    }
    notes.extend(several_eval_sets(&trimmed, val_name));
    let layout = Layout {
        fields: names.len(),
        step,
        epoch_offset: u64::from(by_epoch),
        train,
        val,
        lr: index(cols.pick(Role::Lr, &trimmed)),
    };
    Ok((layout, (!notes.is_empty()).then(|| notes.join("; "))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lightning_s_ragged_rows_and_empty_cells_are_read() {
        let cols = Columns::default();
        let mut r = CsvReader::default();
        r.parse(
            "epoch,step,train_loss_step,val_loss,train_loss_epoch",
            1,
            &cols,
        )
        .unwrap();
        assert_eq!(
            r.parse("0,49,8.62,,", 2, &cols).unwrap(),
            Parsed::Rows(vec![Row::Train {
                step: 49,
                loss: 8.62
            }])
        );
        let Parsed::Rows(rows) = r.parse("0,286,,6.83", 3, &cols).unwrap() else {
            panic!("rows")
        };
        assert!(matches!(rows[..], [Row::Eval { step: 286, .. }]));
    }

    #[test]
    fn keras_epochs_are_steps_from_one_and_quoted_fields_are_fields() {
        let cols = Columns::default();
        let mut r = CsvReader::default();
        r.parse("epoch,accuracy,loss,val_accuracy,val_loss,\"lr\"", 1, &cols)
            .unwrap();
        assert!(r.take_note().unwrap().contains("step e + 1"));
        let Parsed::Rows(rows) = r.parse("0,0.5,1.2,0.6,1.1,0.001", 2, &cols).unwrap() else {
            panic!("rows")
        };
        assert_eq!(rows[0], Row::Train { step: 1, loss: 1.2 });
        assert_eq!(rows[2], Row::Lr { step: 1, lr: 0.001 });
        assert!(is_header("epoch,loss,val_loss"));
        assert!(!is_header("0,1.2,1.1"));
        assert!(!is_header("step 0: train loss 4.2, val loss 4.3"));
        assert!(!is_header(
            "2025-05-16 01:32:59,799 - INFO - Loading data..."
        ));
    }
}
