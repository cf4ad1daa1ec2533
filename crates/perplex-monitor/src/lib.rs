//! Watching a training run: the numbers that say how it is going.
//!
//! This crate never imports Burn: it takes plain numbers (summed losses, token counts, steps)
//! and returns decisions and records, so it is fast to test and can watch any run.
//!
//! - [`nll`]: per-token negative log-likelihood and perplexity, from one sum and one count;
//! - [`schedule`]: when to validate and when to log;
//! - [`metrics`]: the records of `metrics.jsonl` and the sink that appends them.

pub mod metrics;
pub mod nll;
pub mod schedule;

pub use metrics::{MetricKind, MetricRecord, MetricsSink};
pub use nll::NllSum;
pub use schedule::Schedule;
