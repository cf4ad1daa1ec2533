//! The learning-rate range test on a real model: a fresh model of the run config's shape,
//! trained one step per rate of the sweep (AdamW, clipping and dropout as the config says),
//! until the sweep ends or the loss explodes. Nothing is written: the model is thrown away.
//!
//! The decisions (the rates, when to stop, what to suggest) are perplex-monitor's
//! [`RangeTest`]; this is only the loop that feeds it.

use std::sync::atomic::Ordering;

use burn::tensor::Device;
use perplex_monitor::lr_range::{RangePoint, RangeTest, Sweep};

use crate::config::RunConfig;
use crate::data::TrainData;
use crate::run::Control;
use crate::trainer::Trainer;
use crate::{TrainError, memory};

/// Runs the range test of `sweep` for `config`'s model on `data`, calling `on_step` after each
/// step (for progress). Ctrl-C (`control`) ends the sweep early; what it measured is kept.
pub fn lr_find(
    config: &RunConfig,
    data: &TrainData,
    device: &Device,
    sweep: Sweep,
    control: &Control,
    mut on_step: impl FnMut(&RangePoint),
) -> Result<RangeTest, TrainError> {
    let shape = config.model().shape(data.tokenizer.vocab_size())?;
    memory::check(&shape, config.train().batch_size, memory::available_bytes())?;
    let mut trainer = Trainer::new(config, &shape, data.train.len(), device)?;
    let mut test = RangeTest::new(sweep);
    while let Some(lr) = test.next_lr() {
        if control.stop.load(Ordering::SeqCst) {
            break;
        }
        let stats = trainer.step_at_lr(&data.train, lr);
        let go_on = test.record(lr, stats.loss);
        if let Some(point) = test.points.last().filter(|_| stats.loss.is_finite()) {
            on_step(point);
        }
        if !go_on {
            break;
        }
    }
    Ok(test)
}
