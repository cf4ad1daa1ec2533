//! `perplex watch` over a log file: line by line (JSON lines, CSV, printed text), or as one
//! document (`trainer_state.json`, read again whole when it changes under `--follow`).

use std::io::{BufRead, BufReader};

use anyhow::{Context, Result};
use perplex_monitor::watch::{Format, LineReader, Parsed, Unit, detect, trainer_state};

use super::args::WatchArgs;
use super::report::Watch;

/// Reads the log file; returns what it held, for the summary's message when nothing could be
/// read.
pub fn watch_file(args: &WatchArgs, asked: Option<Format>, watch: &mut Watch) -> Result<String> {
    let shown = args.log.display().to_string();
    std::fs::metadata(&args.log).with_context(|| shown.clone())?;
    // The log's beginning, read once: its format, its unit and its first line come from it.
    let (format, head) = loop {
        let head = detect::head(&args.log).unwrap_or_default();
        match asked.or_else(|| Format::of_text(&head)) {
            Some(format) => break (format, head),
            // An empty file being followed: wait for its first line.
            None if args.follow && watch.wait() => continue,
            None if args.follow => return Ok("an empty file".into()),
            None => anyhow::bail!("{shown} is empty: there is no loss to read"),
        }
    };
    if let (None, Some(unit)) = (args.unit, detect::unit_of(&head)) {
        watch.unit = unit;
    }
    let unit_note = match (args.unit, watch.unit) {
        (None, Unit::Bits) => " (fairseq logs base-2 losses; --unit nats if these are not)",
        _ => "",
    };
    println!(
        "reading {shown} as {}, losses in {}{unit_note}",
        format.name(),
        watch.unit
    );
    if format == Format::TrainerState {
        return watch_document(args, watch);
    }
    let parser = LineReader::new(format).context("a line-based format")?;
    watch_lines(args, parser, watch)?;
    Ok(format!("read as {}; {}", format.name(), first_line(&head)))
}

/// Reads a line-based log with `parser`.
fn watch_lines(args: &WatchArgs, mut parser: LineReader, watch: &mut Watch) -> Result<()> {
    let shown = args.log.display().to_string();
    let file = std::fs::File::open(&args.log).with_context(|| shown.clone())?;
    let mut reader = BufReader::new(file);
    let cols = args.columns();
    let (mut number, mut line) = (0, String::new());
    loop {
        line.clear();
        let read = reader.read_line(&mut line).with_context(|| shown.clone())?;
        if args.follow && !line.ends_with('\n') {
            // Wait for the writer to finish the line, then read it again whole.
            reader
                .seek_relative(-(read as i64))
                .with_context(|| shown.clone())?;
            if !watch.wait() {
                return Ok(());
            }
            continue;
        }
        if read == 0 {
            return Ok(());
        }
        number += 1;
        if line.trim().is_empty() {
            continue;
        }
        let parsed = parser
            .parse(&line, number, &cols)
            .with_context(|| shown.clone())?;
        if let Some(note) = parser.take_note() {
            println!("{note}");
        }
        match parsed {
            Parsed::Rows(rows) => rows.into_iter().for_each(|row| watch.row(row)),
            Parsed::Skipped(why) => watch.skip(number, &line, &why),
        }
    }
}

/// Reads a `trainer_state.json` whole; under `--follow`, again each time it changes, feeding
/// only the rows past those already fed (the Trainer rewrites it at each checkpoint).
fn watch_document(args: &WatchArgs, watch: &mut Watch) -> Result<String> {
    let shown = args.log.display().to_string();
    let (mut fed, mut said_note, mut last_text) = (0, false, String::new());
    loop {
        let text = std::fs::read_to_string(&args.log).with_context(|| shown.clone())?;
        if text != last_text {
            let doc = trainer_state::parse(&text, &args.columns());
            match doc {
                Ok(doc) => {
                    if !std::mem::replace(&mut said_note, true) {
                        if let Some(note) = &doc.note {
                            println!("{note}");
                        }
                        if args.max_steps.is_none() {
                            watch.feeder.set_horizon(doc.max_steps);
                        }
                    }
                    for row in doc.rows.into_iter().skip(fed) {
                        watch.row(row);
                        fed += 1;
                    }
                }
                // A file caught half-written is read again at the next poll.
                Err(_) if args.follow => {}
                Err(e) => return Err(anyhow::Error::from(e).context(shown)),
            }
            last_text = text;
        }
        if !args.follow || !watch.wait() {
            return Ok(
                "read as Hugging Face trainer_state.json: no `loss` or `eval_loss` in \
                       its log_history"
                    .into(),
            );
        }
    }
}

/// The first non-empty line of a log's beginning `head` (its header, keys or first record),
/// quoted.
fn first_line(head: &str) -> String {
    match head.lines().find(|l| !l.trim().is_empty()) {
        Some(line) if line.len() > 160 => format!(
            "its first line: {}…",
            &line[..line.floor_char_boundary(160)]
        ),
        Some(line) => format!("its first line: {line}"),
        None => "no line".into(),
    }
}
