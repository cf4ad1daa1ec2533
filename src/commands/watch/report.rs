//! What `perplex watch` prints: each judgement as it comes, skipped lines counted, and the
//! summary, whose end decides the exit status (documented in the README): 0 for a run that
//! was judged, 3 for a NaN or infinite loss anywhere, 4 for a run that ends diverged or
//! diverging, 1 when nothing could be read.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Result;
use perplex_monitor::watch::{Feeder, Row, RunEnd, Said, Unit};
use perplex_monitor::{SignalKind, StopReason};

use crate::commands::Stopped;

/// How often `--follow` looks for more.
const POLL: Duration = Duration::from_millis(500);
/// Unread lines quoted when nothing in a log could be read.
const QUOTED: usize = 3;

/// The feeder and what the watch has counted.
pub struct Watch {
    /// The monitor, fed row by row.
    pub feeder: Feeder,
    /// The unit of the log's losses.
    pub unit: Unit,
    /// Lines that held no row.
    pub skipped: usize,
    /// The first of them, quoted when nothing was read.
    pub unread: Vec<String>,
    /// Set by Ctrl-C under `--follow`.
    pub stop: Arc<AtomicBool>,
}

impl Watch {
    /// Feeds a row (converted to nats) and prints what the monitor said.
    pub fn row(&mut self, row: Row) {
        for said in self.feeder.feed(row.in_nats(self.unit)) {
            print_said(said);
        }
    }

    /// Counts a skipped line, saying why for the first one only.
    pub fn skip(&mut self, line: usize, text: &str, why: &str) {
        if self.skipped == 0 {
            println!(
                "line {line} skipped: {why} (lines without a step or a loss are skipped and counted)"
            );
        }
        if self.unread.len() < QUOTED {
            self.unread
                .push(format!("line {line}: {}", shorten(text.trim())));
        }
        self.skipped += 1;
    }

    /// Waits before polling again; false once Ctrl-C asked to stop.
    pub fn wait(&self) -> bool {
        std::thread::sleep(POLL);
        !self.stop.load(Ordering::SeqCst)
    }

    /// Prints the summary; an error (with its exit status) for a run that is non-finite or
    /// diverged, or a log in which nothing was read. `seen` describes what the log held
    /// (its keys, columns or tags) for that last case.
    pub fn finish(self, seen: &str) -> Result<()> {
        if self.skipped > 0 {
            println!("{} lines skipped", self.skipped);
        }
        let health = self.feeder.monitor().run_health();
        match self.feeder.end() {
            RunEnd::NothingRead => nothing_read(seen, &self.unread),
            RunEnd::NoEvaluation { train_rows } => {
                println!(
                    "no validation losses found ({seen}): {train_rows} training losses read, \
                     no evaluation to judge the run by (--val-col names the validation loss)"
                );
                Ok(())
            }
            RunEnd::Diverged { step, loss, level } => {
                println!(
                    "no validation losses found ({seen}); the last training loss, {loss:.4} at \
                     step {step}, is {:.2} nats above the level {level:.4} (uniform or step 0)",
                    loss - level
                );
                let why = format!(
                    "the run ends diverged: its training loss {loss:.4} at step {step} is worse \
                     than guessing"
                );
                stopped(StopReason::Diverged, why)
            }
            RunEnd::NonFinite { step, which } => {
                println!("run health 0/100: non-finite");
                let why = format!(
                    "the {which} loss is NaN or infinite from step {step}: the run is broken \
                     there, whatever it logged after"
                );
                stopped(StopReason::NonFinite, why)
            }
            RunEnd::Judged { health: h, last } => {
                println!("run health {:.0}/100", health.unwrap_or(h));
                match last {
                    SignalKind::Diverged | SignalKind::Diverging => stopped(
                        StopReason::Diverged,
                        format!("the run ends {last}: see its last evaluation above"),
                    ),
                    _ => Ok(()),
                }
            }
        }
    }
}

/// The error of a log in which nothing was read: what it held, its first unread lines, and
/// the flags that name a format and the columns.
fn nothing_read(seen: &str, unread: &[String]) -> Result<()> {
    let quoted = if unread.is_empty() {
        String::new()
    } else {
        format!("; the first lines not read:\n  {}", unread.join("\n  "))
    };
    anyhow::bail!(
        "no loss could be read from this log ({seen}){quoted}\nname the format with --format \
         (jsonl, csv, text, streams, kv, table, trainer-state, tensorboard) and the losses with \
         --step-col/--train-col/--val-col (or --train-tag/--val-tag)"
    )
}

/// The error that ends a watch with the exit status of `reason` (see `main.rs`).
fn stopped(reason: StopReason, message: String) -> Result<()> {
    Err(Stopped { reason, message }.into())
}

/// Prints one thing the monitor said.
fn print_said(said: Said) {
    match said {
        Said::Step(signal) => println!("step {}: {signal}", signal.step),
        Said::Spike(signal) => println!(
            "step {}: spike: {} (a blip if the next step is back)",
            signal.step, signal.evidence
        ),
        Said::Eval { step, judgement } => {
            let v = &judgement.verdict;
            println!(
                "step {step}: {} (health {:.0}): {}",
                v.state.kind, judgement.health, v.state.evidence
            );
            for alarm in &v.alarms {
                println!("step {step}: {alarm}");
            }
            println!("step {step}: {}", judgement.forecast);
        }
        Said::Levels(levels) => println!("{levels}"),
    }
}

/// At most 120 characters of a line, for quoting.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(120) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}
