//! How sure a forecast of another trainer's run can be. perplex knows its own schedule; a
//! foreign log may not say its learning rate, and its curve may still have an anneal ahead
//! (modded-nanogpt's warm-down, a warmup-stable-decay schedule) that no fit to the stable
//! part can see. So a foreign forecast's interval is checked against the run's own history
//! and, when the schedule is unknown, widened below for the anneal that may come.

use serde::{Deserialize, Serialize};

use super::fit::fit_power_law;

/// What the forecast knows of the schedule ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Schedule {
    /// A perplex run: its schedule is its config's, its interval the plain one.
    #[default]
    Own,
    /// A foreign log that logs its learning rate: the interval is checked against the
    /// run's own history.
    ForeignKnown,
    /// A foreign log without a learning rate: checked against its history, and widened
    /// below by [`ANNEAL_SHARE`].
    ForeignUnknown,
}

/// The share of the loss an anneal still to come may take off, below the fitted curve: a
/// decay of the learning rate to zero at the end of a run typically lowers the final loss
/// by 2–4% against holding the rate (0.10 nats at 3.28 in modded-nanogpt's 2024-10-10
/// record, whose warm-down is its last 1,800 of 6,200 steps).
pub const ANNEAL_SHARE: f64 = 0.04;

/// The widening of a foreign forecast, nats: `below` extends the low end, `both` both ends.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Widening {
    /// Added to both sides: the backtest's error, scaled to the horizon.
    pub both: f64,
    /// Added below only: the anneal allowance.
    pub below: f64,
}

/// The widening for `schedule`, from `points` (step, loss) fitted and forecast to `at`
/// (value `value`).
pub fn widening(schedule: Schedule, points: &[(f64, f64)], at: f64, value: f64) -> Widening {
    match schedule {
        Schedule::Own => Widening::default(),
        Schedule::ForeignKnown => Widening {
            both: backtest(points, at),
            below: 0.0,
        },
        Schedule::ForeignUnknown => Widening {
            both: backtest(points, at),
            below: ANNEAL_SHARE * value,
        },
    }
}

/// The run's own history as a test of the method: the first half of the evaluations fitted
/// and forecast at the last one, the miss scaled by how much farther the horizon is (in log
/// steps) than that test reached.
fn backtest(points: &[(f64, f64)], at: f64) -> f64 {
    let half = points.len() / 2;
    let (Some(&(t_mid, _)), Some(&(t_last, actual))) = (points.get(half - 1), points.last()) else {
        return 0.0;
    };
    let Some(early) = fit_power_law(&points[..half]) else {
        return 0.0;
    };
    let reach = (t_last / t_mid).ln();
    let ahead = (at / t_last).ln();
    let miss = (early.curve.at(t_last) - actual).abs();
    if !(reach > 0.0 && miss.is_finite()) {
        return 0.0;
    }
    miss * (ahead / reach).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_curve_the_power_law_describes_passes_its_backtest_and_own_runs_are_not_widened() {
        let law: Vec<(f64, f64)> = (1..=20)
            .map(|i| (100.0 * i as f64, 2.0 + 3.0 * (100.0 * i as f64).powf(-0.4)))
            .collect();
        let w = widening(Schedule::ForeignKnown, &law, 4000.0, 2.1);
        assert!(w.both < 1e-6 && w.below == 0.0, "{w:?}");
        assert_eq!(
            widening(Schedule::Own, &law, 4000.0, 2.1),
            Widening::default()
        );
        let unknown = widening(Schedule::ForeignUnknown, &law, 4000.0, 2.5);
        assert!((unknown.below - 0.1).abs() < 1e-12, "{unknown:?}");
    }

    #[test]
    fn a_curve_that_bends_away_from_its_early_fit_widens_both_ways() {
        // A power law, then a steeper fall from step 1,100 on (an anneal).
        let bent: Vec<(f64, f64)> = (1..=20)
            .map(|i| {
                let t = 100.0 * i as f64;
                let anneal = if t > 1000.0 {
                    0.0004 * (t - 1000.0)
                } else {
                    0.0
                };
                (t, 2.0 + 3.0 * t.powf(-0.4) - anneal)
            })
            .collect();
        let w = widening(Schedule::ForeignKnown, &bent, 4000.0, 1.5);
        assert!(w.both > 0.1, "{w:?}");
    }
}
