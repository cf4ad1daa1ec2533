//! Watching a training run: the numbers that say how it is going.
//!
//! This crate never imports Burn: it takes plain numbers (summed losses, token counts, steps)
//! and returns decisions and records, so it is fast to test and can watch any run.
//!
//! - [`nll`]: per-token negative log-likelihood and perplexity, from one sum and one count;
//! - [`accuracy`]: next-token top-1 and top-5 accuracy, a task metric beside perplexity;
//! - [`averaging`]: the right and two wrong ways to average token losses (for teaching);
//! - [`baselines`]: the levels a loss is judged against (uniform, unigram, step-0);
//! - [`cadence`]: when to validate and when to log;
//! - [`contamination`]: validation text the data check found in train;
//! - [`signal`]: what the monitor can say: states, alarms, and the verdict of an evaluation;
//! - [`detector`]: the rules that name a run's state (diverged, stalled, healthy, plateau,
//!   overfitting, diverging, …) and its alarms (leak suspected, unstable, degenerate samples), with their
//!   evidence;
//! - [`forecast`]: a power law fitted to the validation curve, extrapolated to the last step;
//! - [`lr_range`]: the learning-rate range test (`perplex lr-find`): when to stop, what to
//!   suggest;
//! - [`stopping`]: early stopping with Lightning's and Keras's knobs, plus overfitting;
//! - [`samples`]: repetition diagnostics of generated text;
//! - [`health`]: the 0–100 health score;
//! - [`monitor`]: the one [`Monitor`] that reads a run through all of the above;
//! - [`records`]: the typed train and eval records of `metrics.jsonl` (no I/O);
//! - [`sinks`]: the writers of `metrics.jsonl`, `metrics.csv` and TensorBoard events;
//! - [`history`]: a run's curves and landmarks read back from its records (for reports);
//! - [`watch`]: the rows of a log perplex did not write (JSON lines, CSV, nanoGPT text,
//!   TensorBoard events).

pub mod accuracy;
pub mod averaging;
pub mod baselines;
pub mod best;
pub mod cadence;
pub mod contamination;
pub mod detector;
pub mod forecast;
pub mod health;
pub mod history;
pub mod lr_range;
pub mod monitor;
pub mod names;
pub mod nll;
pub mod records;
pub mod samples;
pub mod setting;
pub mod signal;
pub mod sinks;
pub mod stopping;
pub mod watch;

pub use accuracy::TopK;
pub use baselines::Baselines;
pub use best::Best;
pub use cadence::Cadence;
pub use contamination::Contamination;
pub use detector::{DetectorConfig, EvalPoint};
pub use forecast::{Forecast, NoForecast, Projection};
pub use monitor::{Judgement, Monitor, Observation};
pub use names::UnknownName;
pub use nll::NllSum;
pub use records::{BaselineRecord, EvalRecord, MetricRecord, Reading, TrainRecord};
pub use samples::{Repetition, Sample};
pub use setting::OutOfRange;
pub use signal::{Signal, SignalKind, Verdict};
pub use sinks::{MetricSink, RunSinks, SinkError};
pub use stopping::{EarlyStoppingConfig, StopDecision, StopReason};
