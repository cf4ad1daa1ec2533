//! What a run saves, and when it is read back: the `best` checkpoint at each improvement,
//! the `last` checkpoint with the resumable state, and the best weights made final at the end.

use perplex_model::Gpt;

use super::Run;
use crate::TrainError;
use crate::checkpoint::{self, CheckpointMeta};
use crate::run_dir::CheckpointKind;

impl Run<'_> {
    fn meta(&self, step: u64, val_loss: Option<f64>) -> CheckpointMeta {
        CheckpointMeta {
            model: self.shape.clone(),
            step,
            val_loss,
            tokenizer_sha256: self.fingerprint.clone(),
            data_crc32c: None,
        }
    }

    /// Saves `model`, evaluated after `step` at `val_loss` nats, as the `best` checkpoint.
    pub(super) fn save_best(
        &self,
        model: &Gpt,
        step: u64,
        val_loss: f64,
    ) -> Result<(), TrainError> {
        let path = self.dir.checkpoint(CheckpointKind::Best);
        checkpoint::save(model, &self.meta(step, Some(val_loss)), &path)?;
        Ok(())
    }

    /// Saves the `last` weights and the resumable state after `step`.
    pub(super) fn save_last(&mut self, step: u64) -> Result<(), TrainError> {
        let best = self.progress.monitor.best();
        let meta = self.meta(step, best.filter(|b| b.step == step).map(|b| b.val_loss));
        let path = self.dir.checkpoint(CheckpointKind::Last);
        checkpoint::save(&self.trainer.eval_model(), &meta, &path)?;
        self.progress.wall_s = self.wall_s();
        self.trainer.save_state(
            &self.dir.state(),
            &self.shape,
            &self.fingerprint,
            &self.streams,
            &self.progress,
        )
    }

    /// Makes the `best` checkpoint the `last` one, when early stopping's `restore_best` asks
    /// for it and there is one; whether it did.
    pub(super) fn restore_best(&self) -> Result<bool, TrainError> {
        let best = self.dir.checkpoint(CheckpointKind::Best);
        let monitor = &self.progress.monitor;
        if !(monitor.restore_best() && monitor.best().is_some() && best.is_file()) {
            return Ok(false);
        }
        let bytes = std::fs::read(&best).map_err(|e| TrainError::io(&best, e))?;
        checkpoint::write_atomically(&self.dir.checkpoint(CheckpointKind::Last), &bytes)?;
        Ok(true)
    }
}
