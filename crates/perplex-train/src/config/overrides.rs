//! Parsing a config's text and applying `--set key=value` overrides, with "did you mean"
//! suggestions for misspelled keys.

use std::path::Path;

use serde::Deserialize;

use super::{ConfigError, RawRunConfig};

/// Parses `text` (from `path`) into the config's sections and applies `overrides`. Errors of
/// the file carry its line and column; errors of an override name the override.
pub(super) fn parse(
    text: &str,
    path: &Path,
    overrides: &[String],
) -> Result<RawRunConfig, ConfigError> {
    let parse_err = |message: String| ConfigError::Parse {
        path: path.to_owned(),
        message: with_suggestion(message),
    };
    // Parsed once as the schema so errors carry the file's line and column.
    let raw: RawRunConfig = toml::from_str(text).map_err(|e| parse_err(e.to_string()))?;
    if overrides.is_empty() {
        return Ok(raw);
    }
    let mut table: toml::Table = toml::from_str(text).map_err(|e| parse_err(e.to_string()))?;
    for arg in overrides {
        apply_override(&mut table, arg)?;
    }
    RawRunConfig::deserialize(table).map_err(|e| ConfigError::Override {
        arg: overrides.join(" "),
        message: with_suggestion(e.to_string()),
    })
}

/// Sets `a.b.c = value` in a TOML table, creating intermediate tables.
fn apply_override(table: &mut toml::Table, arg: &str) -> Result<(), ConfigError> {
    let err = |message: &str| ConfigError::Override {
        arg: arg.to_string(),
        message: message.to_string(),
    };
    let (key, raw) = arg
        .split_once('=')
        .ok_or_else(|| err("expected key=value, e.g. --set train.lr=3e-4"))?;
    let path: Vec<&str> = key.trim().split('.').collect();
    if path.iter().any(|p| p.is_empty()) {
        return Err(err("the key is empty or has an empty part"));
    }
    let value = toml::from_str::<toml::Table>(&format!("v = {}", raw.trim()))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.trim().to_string()));
    let (last, parents) = path.split_last().expect("path has at least one part");
    let mut node = table;
    for part in parents {
        node = node
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| err(&format!("`{part}` is a value, not a section")))?;
    }
    node.insert(last.to_string(), value);
    Ok(())
}

/// Appends "did you mean `x`?" to serde's unknown-field message when a known field is close.
fn with_suggestion(message: String) -> String {
    let Some(rest) = message.split("unknown field `").nth(1) else {
        return message;
    };
    let Some((unknown, expected)) = rest.split_once('`') else {
        return message;
    };
    let best = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|candidate| (strsim::jaro_winkler(unknown, candidate), candidate))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((_, candidate)) => format!("{message}\ndid you mean `{candidate}`?"),
        None => message,
    }
}
