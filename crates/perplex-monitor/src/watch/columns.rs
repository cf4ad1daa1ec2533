//! Which columns (CSV) or keys (JSON) hold the step, the losses and the learning rate: the
//! ones the user names, else the first of the names trainers use (perplex, PyTorch scripts,
//! Lightning's `CSVLogger`, Keras's `CSVLogger`, Hugging Face, W&B).

/// Names of the step, most specific first. `epoch` last: Keras counts epochs, not steps.
pub const STEP_NAMES: [&str; 8] = [
    "step",
    "_step",
    "global_step",
    "Step",
    "iter",
    "iteration",
    "trainer/global_step",
    "epoch",
];
/// Names of the training loss. Lightning writes `train_loss_step` at steps and
/// `train_loss_epoch` at epoch ends; the per-step one is read when both exist.
pub const TRAIN_NAMES: [&str; 8] = [
    "train_loss",
    "train/loss",
    "train_loss_step",
    "loss",
    "training_loss",
    "train/epoch_loss",
    "train_loss_epoch",
    "trn_loss",
];
/// Names of the validation loss.
pub const VAL_NAMES: [&str; 9] = [
    "val_loss",
    "val/loss",
    "valid_loss",
    "validation_loss",
    "eval_loss",
    "eval/loss",
    "val_loss_epoch",
    "validation/loss",
    "dev_loss",
];
/// Names of the learning rate (Lightning's `LearningRateMonitor` writes `lr-AdamW`).
pub const LR_NAMES: [&str; 6] = [
    "lr",
    "learning_rate",
    "train/learning_rate",
    "train/lr",
    "lr-AdamW",
    "lr-Adam",
];

/// The names asked for on the command line; `None` takes the first known name the log has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Columns {
    /// The optimizer step (`--step-col`).
    pub step: Option<String>,
    /// The training loss (`--train-col`).
    pub train: Option<String>,
    /// The validation loss (`--val-col`).
    pub val: Option<String>,
    /// The learning rate (`--lr-col`).
    pub lr: Option<String>,
}

/// What a column or key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The step.
    Step,
    /// The training loss.
    Train,
    /// The validation loss.
    Val,
    /// The learning rate.
    Lr,
}

impl Columns {
    /// The name asked for `role`, if any.
    pub fn asked(&self, role: Role) -> Option<&str> {
        match role {
            Role::Step => self.step.as_deref(),
            Role::Train => self.train.as_deref(),
            Role::Val => self.val.as_deref(),
            Role::Lr => self.lr.as_deref(),
        }
    }

    /// The name among `names` that holds `role`: the one asked for (only if present), else
    /// the first known one present, else (validation) an `eval_*_loss` / `val_*_loss` of a
    /// second eval set.
    pub fn pick<'a>(&self, role: Role, names: &[&'a str]) -> Option<&'a str> {
        let has = |n: &str| names.iter().copied().find(|m| *m == n);
        if let Some(asked) = self.asked(role) {
            return has(asked);
        }
        let known: &[&str] = match role {
            Role::Step => &STEP_NAMES,
            Role::Train => &TRAIN_NAMES,
            Role::Val => &VAL_NAMES,
            Role::Lr => &LR_NAMES,
        };
        known
            .iter()
            .find_map(|k| has(k))
            .or_else(|| known.iter().find_map(|k| exported(names, k)))
            .or_else(|| match role {
                Role::Val => other_eval_sets(names).first().copied(),
                Role::Lr => names.iter().copied().find(|n| n.starts_with("lr-")),
                _ => None,
            })
    }
}

/// A column of W&B's exported CSV for `known`: `RUN - train/loss` (its `__MIN` and `__MAX`
/// companions are not the value).
fn exported<'a>(names: &[&'a str], known: &str) -> Option<&'a str> {
    let suffix = format!(" - {known}");
    names.iter().copied().find(|n| n.ends_with(&suffix))
}

/// The losses of named eval sets (`eval_wiki_loss`, `val_ood_loss`), sorted.
pub fn other_eval_sets<'a>(names: &[&'a str]) -> Vec<&'a str> {
    let mut sets: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| {
            (n.starts_with("eval_") || n.starts_with("val_"))
                && n.ends_with("_loss")
                && !VAL_NAMES.contains(n)
        })
        .collect();
    sets.sort_unstable();
    sets
}

/// A sentence naming the validation loss read when the log has several, and how to pick
/// another; `None` when there is only one.
pub fn several_eval_sets(names: &[&str], chosen: Option<&str>) -> Option<String> {
    let mut all: Vec<&str> = VAL_NAMES
        .iter()
        .copied()
        .filter(|v| names.contains(v))
        .collect();
    all.extend(other_eval_sets(names));
    let chosen = chosen?;
    (all.len() > 1).then(|| {
        format!(
            "the log has {} validation losses ({}); reading `{chosen}` (--val-col NAME picks \
             another)",
            all.len(),
            all.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_asked_name_wins_and_known_names_are_tried_in_order() {
        let names = [
            "epoch",
            "step",
            "train_loss_step",
            "train_loss_epoch",
            "val_loss",
        ];
        let cols = Columns::default();
        assert_eq!(cols.pick(Role::Step, &names), Some("step"));
        assert_eq!(cols.pick(Role::Train, &names), Some("train_loss_step"));
        assert_eq!(cols.pick(Role::Lr, &names), None);
        let asked = Columns {
            val: Some("val_acc".into()),
            ..Columns::default()
        };
        assert_eq!(asked.pick(Role::Val, &names), None, "asked and absent");
    }

    #[test]
    fn w_and_b_s_exported_columns_are_found_by_their_suffix() {
        let names = [
            "Step",
            "run-7 - train/loss",
            "run-7 - train/loss__MIN",
            "run-7 - eval/loss",
        ];
        let cols = Columns::default();
        assert_eq!(cols.pick(Role::Step, &names), Some("Step"));
        assert_eq!(cols.pick(Role::Train, &names), Some("run-7 - train/loss"));
        assert_eq!(cols.pick(Role::Val, &names), Some("run-7 - eval/loss"));
    }

    #[test]
    fn a_second_eval_set_is_named_with_the_flag_to_pick_it() {
        let names = ["step", "eval_wiki_loss", "eval_code_loss"];
        let cols = Columns::default();
        let chosen = cols.pick(Role::Val, &names);
        assert_eq!(chosen, Some("eval_code_loss"));
        let note = several_eval_sets(&names, chosen).unwrap();
        assert!(note.contains("eval_code_loss, eval_wiki_loss"), "{note}");
        assert!(note.contains("--val-col"), "{note}");
        assert_eq!(several_eval_sets(&["eval_loss"], Some("eval_loss")), None);
    }
}
