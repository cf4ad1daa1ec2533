//! What a run tells the outside world, and who listens: the console (progress bar and log
//! lines) and the metric sinks (`metrics.jsonl`, `metrics.csv`, TensorBoard). The loop's
//! decisions never draw or write themselves; they emit an [`Event`].

use perplex_model::{GptConfig, MemoryEstimate};
use perplex_monitor::{
    BaselineRecord, Baselines, EvalRecord, MetricRecord, MetricSink, RunSinks, Signal,
    StopDecision, TrainRecord,
};

use crate::TrainError;
use crate::run_dir::RunDir;
use crate::trainer::StepStats;

/// Something that happened in a run.
pub(super) enum Event<'a> {
    /// Training (re)starts with this shape and data.
    Started {
        shape: &'a GptConfig,
        train_tokens: usize,
        valid_tokens: usize,
        max_steps: u64,
        tokens_per_step: u64,
        device: &'a str,
        baselines: Baselines,
        memory: MemoryEstimate,
    },
    /// A new run measured its baselines before its first step.
    Baseline(&'a BaselineRecord),
    /// An optimizer step finished.
    Stepped { step: u64 },
    /// A training loss far above the recent ones.
    Spike(&'a Signal),
    /// A step's loss or gradient norm was NaN or infinite; its update was not applied.
    NonFinite { step: u64, stats: StepStats },
    /// The training loss since the previous train record.
    Train(&'a TrainRecord),
    /// An evaluation and the monitor's reading of it.
    Eval(&'a EvalRecord),
    /// The run stopped, and `summary.json` is written.
    Stopped {
        step: u64,
        decision: &'a StopDecision,
        budget_s: Option<f64>,
        dir: &'a RunDir,
    },
}

/// Something that listens to a run's events.
pub(super) trait Observer {
    /// Takes one event.
    fn observe(&mut self, event: &Event) -> Result<(), TrainError>;
}

/// The metric sinks write the train and eval records; they ignore everything else.
impl Observer for RunSinks {
    fn observe(&mut self, event: &Event) -> Result<(), TrainError> {
        let record = match event {
            Event::Baseline(r) => MetricRecord::Baseline((*r).clone()),
            Event::Train(r) => MetricRecord::Train((*r).clone()),
            Event::Eval(r) => MetricRecord::Eval((*r).clone()),
            _ => return Ok(()),
        };
        Ok(self.write(&record)?)
    }
}
