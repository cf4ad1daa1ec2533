//! Every observer of a run, assembled: the metric sinks and the console. The loop emits each
//! [`Event`] once, here.

use perplex_monitor::RunSinks;

use super::console::Console;
use super::events::{Event, Observer};
use crate::TrainError;
use crate::run_dir::RunDir;

/// Every observer of a run: the sinks first (a record is on disk before it is shown), then
/// the console.
pub(super) struct Observers {
    sinks: RunSinks,
    console: Console,
}

impl Observers {
    /// Opens the run's sinks (appending to its metrics files) and its console, whose progress
    /// bar counts `max_steps` from `done`.
    pub(super) fn open(dir: &RunDir, max_steps: u64, done: u64) -> Result<Self, TrainError> {
        Ok(Self {
            sinks: RunSinks::open(&dir.metrics())?,
            console: Console::new(max_steps, done),
        })
    }

    /// Tells every observer.
    pub(super) fn emit(&mut self, event: &Event) -> Result<(), TrainError> {
        self.sinks.observe(event)?;
        self.console.observe(event)
    }
}
