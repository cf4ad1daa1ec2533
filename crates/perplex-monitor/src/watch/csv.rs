//! CSV with a header row: the columns `--step-col`, `--train-col`, `--val-col` name, found by
//! name; empty cells are missing values. Fields are split on commas (no quoting).

use super::{Columns, Parsed, Row, RowError};

/// A CSV log read line by line: the first non-empty line is the header.
#[derive(Debug, Clone, Default)]
pub struct CsvReader {
    at: Option<Layout>,
}

/// Where the step and the losses are in each row.
#[derive(Debug, Clone)]
struct Layout {
    fields: usize,
    step: usize,
    train: Option<usize>,
    val: Option<usize>,
}

impl CsvReader {
    /// Reads one line (`line` is its 1-based number): the header first, then rows. A row with
    /// an empty step is skipped; a cell that is not a number, or a row with another number of
    /// fields than the header, is an error.
    pub fn parse(&mut self, text: &str, line: usize, cols: &Columns) -> Result<Parsed, RowError> {
        let err = |reason: String| RowError { line, reason };
        let fields: Vec<&str> = text.split(',').map(str::trim).collect();
        let Some(at) = &self.at else {
            self.at = Some(layout(&fields, cols).map_err(err)?);
            return Ok(Parsed::Rows(Vec::new()));
        };
        if fields.len() != at.fields {
            return Err(err(format!(
                "{} fields, the header has {}",
                fields.len(),
                at.fields
            )));
        }
        let cell = |i: Option<usize>| -> Result<Option<f64>, RowError> {
            match i.map(|i| fields[i]) {
                None | Some("") => Ok(None),
                Some(v) => super::number_text(v)
                    .map(Some)
                    .ok_or_else(|| err(format!("`{v}` is not a number"))),
            }
        };
        let Some(step) = cell(Some(at.step))? else {
            return Ok(Parsed::Skipped("the step is empty".into()));
        };
        let step = step as u64;
        let mut rows = Vec::new();
        if let Some(loss) = cell(at.train)? {
            rows.push(Row::Train { step, loss });
        }
        if let Some(val) = cell(at.val)? {
            rows.push(Row::Eval {
                step,
                val,
                train_eval: None,
                lr: None,
            });
        }
        Ok(Parsed::Rows(rows))
    }
}

fn layout(names: &[&str], cols: &Columns) -> Result<Layout, String> {
    let find = |name: &str| names.iter().position(|n| *n == name);
    let step = find(&cols.step)
        .ok_or_else(|| format!("no `{}` column in the header {names:?}", cols.step))?;
    let (train, val) = (find(&cols.train), find(&cols.val));
    if train.is_none() && val.is_none() {
        return Err(format!(
            "neither `{}` nor `{}` is a column",
            cols.train, cols.val
        ));
    }
    Ok(Layout {
        fields: names.len(),
        step,
        train,
        val,
    })
}
