//! `lr-find`: a learning rate picked too high blows up; the range test finds one that trains.

use anyhow::{Context, Result};
use perplex_monitor::lr_range::{RangeTest, Suggestion, Sweep};
use perplex_monitor::nll::format_ppl;
use perplex_train::{RunConfig, TrainData};

use super::runs::{DemoConfig, Finished, RunSpec, demo_config};
use super::{Demo, Learned, SHORT_TINY};

/// What to look at while it runs.
pub const LOOK_AT: &str = "the run at a rate picked by hand leaving its falling curve and \
stopped; the range test's curve (lr-find.png) flat, then falling, then turning as the rate \
grows; the run at the suggested rate ending where the shipped config ends, or lower";

/// A rate a newcomer might try, far too high for Adam on this shape even with warm-up and
/// clipping.
const HOT_LR: f64 = 1.0;

pub fn teach(demo: &Demo) -> Result<Learned> {
    let tiny = demo_config!("ptb-tiny");
    let hot = demo.train(&at_rate(demo, tiny, "picked-by-hand", HOT_LR))?;
    let (test, suggestion) = range_test(demo, tiny)?;
    let found = demo.train(&at_rate(demo, tiny, "lr-find", suggestion.lr))?;
    let shipped = demo.train(&RunSpec {
        name: "shipped",
        config: tiny,
        overrides: demo.overrides(SHORT_TINY),
        data: &demo.data,
    })?;
    let stop = hot
        .summary
        .stop
        .as_ref()
        .filter(|d| d.reason.is_early_stop())
        .map_or_else(|| "ran to its end".into(), |d| d.to_string());
    let (fixed, reference) = (found.best_loss(), shipped.best_loss());
    // The hand-picked run would stretch the loss axis to 20 nats: the picture compares the
    // two that train (the range test's own curve is lr-find.png).
    let mut learned = Learned {
        runs: vec![found.dir.clone(), shipped.dir.clone()],
        ..Learned::default()
    };
    learned.text = format!(
        "Finding the learning rate. At lr {HOT_LR} (ptb-tiny's warm-up and clipping kept) the \
         run's best validation perplexity was {} and it stopped after {} steps: {stop}. The \
         range test (`perplex lr-find --config configs/ptb-tiny.toml`) trained {} steps with \
         the rate growing from {:.0e} to {:.0e} and {}; it suggests lr {:.2e} ({}). Trained at \
         that rate (min_lr a tenth of it, as shipped), the run reached validation perplexity {} \
         ({:+.1}% in loss against the shipped config's {}, lr {}).",
        format_ppl(hot.best_loss().exp(), 1),
        hot.summary.steps,
        test.points.len(),
        test.sweep.start_lr,
        test.sweep.end_lr,
        test.end
            .map_or_else(|| "interrupted".into(), |end| end.to_string()),
        suggestion.lr,
        suggestion.rule,
        format_ppl(fixed.exp(), 1),
        100.0 * (fixed - reference) / reference,
        format_ppl(reference.exp(), 1),
        shipped.config.train().lr,
    );
    figures(&mut learned, &hot, &test, &suggestion, fixed, reference);
    Ok(learned)
}

/// ptb-tiny at peak rate `lr` (and a tenth of it as the floor, ptb-tiny's ratio).
fn at_rate<'a>(demo: &'a Demo, config: DemoConfig, name: &'a str, lr: f64) -> RunSpec<'a> {
    let mut overrides = demo.overrides(SHORT_TINY);
    overrides.push(format!("train.lr={lr}"));
    overrides.push(format!("train.min_lr={}", lr / 10.0));
    RunSpec {
        name,
        config,
        overrides,
        data: &demo.data,
    }
}

/// The range test of `config`, drawn into the lesson's `lr-find.png`.
fn range_test(demo: &Demo, config: DemoConfig) -> Result<(RangeTest, Suggestion)> {
    let c = RunConfig::parse(config.text, std::path::Path::new(config.file), &[])?;
    let data = TrainData::prepare(&demo.data, c.data())?;
    eprintln!("-- lr-find ({})", config.file);
    let test = perplex_train::lr_find::lr_find(
        &c,
        &data,
        &demo.device,
        Sweep::default(),
        &demo.control,
        |_| {},
    )?;
    let suggestion = test.suggest().context("the range test suggested no rate")?;
    crate::plot::lr_find::draw(&test, Some(&suggestion), &demo.dir.join("lr-find.png"))?;
    Ok((test, suggestion))
}

fn figures(
    learned: &mut Learned,
    hot: &Finished,
    test: &RangeTest,
    suggestion: &Suggestion,
    fixed: f64,
    reference: f64,
) {
    learned.figure("hot_lr", HOT_LR);
    learned.figure("hot_best_val_loss_nats", hot.best_loss());
    learned.figure("hot_steps", hot.summary.steps);
    let stopped = hot
        .summary
        .stop
        .as_ref()
        .filter(|d| d.reason.is_early_stop())
        .map(|d| d.reason.to_string());
    learned.figure("hot_stop_cause", stopped);
    learned.figure("sweep_steps", test.points.len());
    learned.figure("suggested_lr", suggestion.lr);
    learned.figure("min_loss_lr", suggestion.min_loss_lr);
    learned.figure("found_best_val_loss_nats", fixed);
    learned.figure("shipped_best_val_loss_nats", reference);
}
