//! Where a run is going: a power law fitted to its validation curve, extrapolated to the
//! run's last step, with an interval, and the step at which a target loss would be reached.
//!
//! The curve is `L(t) = a + b·t^(−c)` in nats per token against optimizer steps `t`, the
//! shape language-model losses follow while the learning rate is not changing fast (see
//! [`fit`]). The interval is `±(2·√(se² + rmse²) + drift)`: `se` the jackknife's (the fit
//! repeated leaving out each evaluation in turn), `rmse` the points' own scatter around the
//! curve, and `drift` how far the forecast moved with the last third of the evaluations (a
//! curve that is still bending moves it). A cosine schedule that
//! anneals to a low floor lowers the loss of the last steps below the power law, so the
//! forecast tends to err high there; a curve that flattens late, faster than the power law
//! fitted so far predicts (as on the long PTB recipe, `ptb-best-bf16.toml`), makes it err
//! low. The README states how far, both ways, on PTB.
//!
//! No forecast is made where it would be a guess: too few evaluations, a curve that is not
//! falling, a fit that misses its points, or a run whose state is a rise. [`NoForecast`]
//! then says why.

pub mod calibrate;
pub mod fit;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::nll::format_ppl;
use crate::signal::SignalKind;
pub use calibrate::Schedule;
use fit::{PowerLaw, fit_power_law};

/// Evaluations (after step 0) a forecast needs: three parameters, and two more to check them.
pub const MIN_POINTS: usize = 5;

/// A fit whose points stray from it by more than this share of the fall they span (rmse over
/// first − last loss) is too poor to extrapolate.
pub const MAX_RELATIVE_RMSE: f64 = 0.1;

/// What the monitor forecasts at one evaluation: a projection, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Forecast {
    /// The fitted curve's value at the run's last step (boxed: it is most of the record).
    Fitted(Box<Projection>),
    /// No forecast, and why.
    Unavailable {
        /// Why not.
        reason: NoForecast,
    },
}

impl Forecast {
    /// The projection, when there is one.
    pub fn projection(&self) -> Option<&Projection> {
        match self {
            Forecast::Fitted(p) => Some(p.as_ref()),
            Forecast::Unavailable { .. } => None,
        }
    }
}

/// The validation loss forecast for a step, from a fit of the curve so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Projection {
    /// The step forecast for (the run's `max_steps`).
    pub step: u64,
    /// Forecast validation loss, nats per token.
    pub val_loss: f64,
    /// Lower end of the interval, nats per token.
    pub low: f64,
    /// Upper end of the interval, nats per token.
    pub high: f64,
    /// The fit's asymptote `a`, nats per token.
    pub floor: f64,
    /// The fit's scale `b`, nats per token.
    pub scale: f64,
    /// The fit's exponent `c`.
    pub exponent: f64,
    /// Root-mean-square distance of the evaluations from the fit, nats.
    pub rmse: f64,
    /// Evaluations fitted (at most [`MAX_FITTED`], spread evenly over the curve).
    pub points: usize,
    /// When the target loss would be reached, if a target was set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetOutlook>,
    /// How much the interval was widened below for an anneal a foreign log's unknown
    /// schedule may still hold, nats (0 for perplex's own runs).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub anneal_allowance: f64,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

impl Projection {
    /// The fitted curve.
    pub fn curve(&self) -> PowerLaw {
        PowerLaw {
            a: self.floor,
            b: self.scale,
            c: self.exponent,
        }
    }
}

/// When the fitted curve reaches the early-stopping target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetOutlook {
    /// The target validation loss, nats per token.
    pub loss: f64,
    /// The step at which the curve reaches it; `None` when the curve's floor is above it.
    pub step: Option<u64>,
}

impl fmt::Display for Forecast {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Forecast::Fitted(p) => p.fmt(f),
            Forecast::Unavailable { reason } => write!(f, "no forecast: {reason}"),
        }
    }
}

impl fmt::Display for Projection {
    /// e.g. `forecast for step 5000: val loss 4.712 nats (4.650–4.779), ppl 111.3
    /// (104.6–119.0), fitted to 12 evaluations`, then the target's outlook.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ppl = |l: f64| format_ppl(l.exp(), 1);
        write!(
            f,
            "forecast for step {}: val loss {:.3} nats ({:.3}–{:.3}), ppl {} ({}–{}), fitted \
             to {} evaluations",
            self.step,
            self.val_loss,
            self.low,
            self.high,
            ppl(self.val_loss),
            ppl(self.low),
            ppl(self.high),
            self.points
        )?;
        if self.anneal_allowance > 0.0 {
            write!(
                f,
                " (widened {:.3} below: the log has no learning rate, an anneal may be ahead)",
                self.anneal_allowance
            )?;
        }
        match &self.target {
            Some(TargetOutlook {
                loss,
                step: Some(at),
            }) => {
                let when = if *at <= self.step {
                    ""
                } else {
                    ", after the last step"
                };
                write!(f, "; the target {loss:.3} is reached near step {at}{when}")
            }
            Some(TargetOutlook { loss, step: None }) => write!(
                f,
                "; the target {loss:.3} is never reached: the curve levels off at {:.3}",
                self.floor
            ),
            None => Ok(()),
        }
    }
}

/// Why no forecast was made.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "why", rename_all = "snake_case")]
pub enum NoForecast {
    /// Not enough evaluations yet.
    TooFewEvaluations {
        /// Evaluations after step 0 so far.
        have: usize,
        /// Evaluations needed.
        need: usize,
    },
    /// The run's last step is unknown (a foreign log without `--max-steps`).
    NoHorizon,
    /// The run is at (or past) its last step: there is nothing left to forecast.
    AtHorizon,
    /// The run's state is a rise (`diverging`, `overfitting`, `diverged`, `non_finite`): a
    /// falling curve does not describe it.
    Rising {
        /// The state.
        state: SignalKind,
    },
    /// The fitted curve does not fall.
    NotFalling,
    /// The evaluations stray too far from the fitted curve.
    PoorFit {
        /// Their root-mean-square distance from it, nats.
        rmse: f64,
        /// The fall they span (first − last loss), nats.
        fall: f64,
    },
}

impl NoForecast {
    /// Whether this reason takes back an earlier forecast: the curve rose, stopped falling or
    /// left the fit. Too few evaluations, no horizon or the last step say nothing against it.
    pub fn withdraws(&self) -> bool {
        matches!(
            self,
            NoForecast::Rising { .. } | NoForecast::NotFalling | NoForecast::PoorFit { .. }
        )
    }
}

impl fmt::Display for NoForecast {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            NoForecast::TooFewEvaluations { have, need } => {
                write!(f, "{have} of the {need} evaluations a fit needs")
            }
            NoForecast::NoHorizon => f.write_str("the run's last step is unknown (--max-steps)"),
            NoForecast::AtHorizon => f.write_str("the run is at its last step"),
            NoForecast::Rising { state } => {
                write!(
                    f,
                    "the run is `{state}`: a falling curve does not describe it"
                )
            }
            NoForecast::NotFalling => f.write_str("the fitted curve does not fall"),
            NoForecast::PoorFit { rmse, fall } => write!(
                f,
                "the evaluations stray {rmse:.3} nats from the fitted curve, more than {:.0}% \
                 of the {fall:.3} nats they fall",
                100.0 * MAX_RELATIVE_RMSE
            ),
        }
    }
}

/// Forecasts the validation loss at `horizon` from `curve`'s `(step, val loss)` points (nats),
/// for a run whose state is now `state`; `target` is the loss to reach, if any; `schedule`
/// says what is known of the schedule ahead (see [`calibrate`]).
pub fn forecast(
    curve: &[(u64, f64)],
    state: SignalKind,
    horizon: Option<u64>,
    target: Option<f64>,
    schedule: Schedule,
) -> Forecast {
    match project(curve, state, horizon, target, schedule) {
        Ok(p) => Forecast::Fitted(Box::new(p)),
        Err(reason) => Forecast::Unavailable { reason },
    }
}

fn project(
    curve: &[(u64, f64)],
    state: SignalKind,
    horizon: Option<u64>,
    target: Option<f64>,
    schedule: Schedule,
) -> Result<Projection, NoForecast> {
    use SignalKind::*;
    if matches!(state, Diverging | Overfitting | Diverged | NonFinite) {
        return Err(NoForecast::Rising { state });
    }
    let points: Vec<(f64, f64)> = curve
        .iter()
        .filter(|&&(t, l)| t > 0 && l.is_finite())
        .map(|&(t, l)| (t as f64, l))
        .collect();
    if points.len() < MIN_POINTS {
        return Err(NoForecast::TooFewEvaluations {
            have: points.len(),
            need: MIN_POINTS,
        });
    }
    let points = thinned(points);
    let horizon = horizon.ok_or(NoForecast::NoHorizon)?;
    let last = points[points.len() - 1];
    if horizon as f64 <= last.0 {
        return Err(NoForecast::AtHorizon);
    }
    let fitted = fit_power_law(&points).ok_or(NoForecast::NotFalling)?;
    let law = fitted.curve;
    if law.b <= 0.0 {
        return Err(NoForecast::NotFalling);
    }
    let fall = points[0].1 - last.1;
    if fall <= 0.0 || fitted.rmse > MAX_RELATIVE_RMSE * fall {
        return Err(NoForecast::PoorFit {
            rmse: fitted.rmse,
            fall,
        });
    }
    let at = horizon as f64;
    let value = law.at(at);
    let (low, high, allowance) = interval(&points, fitted.rmse, at, value, schedule);
    Ok(Projection {
        step: horizon,
        val_loss: value,
        low,
        high,
        anneal_allowance: allowance,
        floor: law.a,
        scale: law.b,
        exponent: law.c,
        rmse: fitted.rmse,
        points: points.len(),
        target: target.map(|loss| TargetOutlook {
            loss,
            step: law.step_reaching(loss).map(|t| t.ceil() as u64),
        }),
    })
}

/// The interval around the forecast `value` at `at`, `±(2·√(se² + rmse²) + drift)`, widened
/// for a foreign log (see [`calibrate`]): its low and high ends, and the anneal allowance
/// taken off below.
fn interval(
    points: &[(f64, f64)],
    rmse: f64,
    at: f64,
    value: f64,
    schedule: Schedule,
) -> (f64, f64, f64) {
    let widened = calibrate::widening(schedule, points, at, value);
    let half = 2.0 * (jackknife_se(points, at).powi(2) + rmse.powi(2)).sqrt()
        + drift(points, at, value)
        + widened.both;
    (value - half - widened.below, value + half, widened.below)
}

/// How far the forecast at `at` moved with the last third of the evaluations: the fit of the
/// first two thirds, forecast there, against `value`. A curve still bending (a learning rate
/// annealing) keeps moving its forecast, and the interval widens by as much.
fn drift(points: &[(f64, f64)], at: f64, value: f64) -> f64 {
    let kept = points.len() - points.len() / 3;
    match fit_power_law(&points[..kept]) {
        Some(early) if kept >= 4 && early.curve.at(at).is_finite() => {
            (value - early.curve.at(at)).abs()
        }
        _ => 0.0,
    }
}

/// Groups of the jackknife: each refit leaves out every `JACKKNIFE_GROUPS`-th evaluation, so
/// its cost stays fixed however many evaluations a run has.
const JACKKNIFE_GROUPS: usize = 10;

/// The most evaluations fitted: a longer curve is thinned evenly (its first and last kept),
/// so a log of thousands of evaluations is still forecast in milliseconds each.
pub const MAX_FITTED: usize = 60;

/// `points` thinned to at most [`MAX_FITTED`], evenly, keeping the first and the last.
fn thinned(points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    let n = points.len();
    if n <= MAX_FITTED {
        return points;
    }
    (0..MAX_FITTED)
        .map(|i| points[i * (n - 1) / (MAX_FITTED - 1)])
        .collect()
}

/// The grouped jackknife's standard error of the forecast at `at`: the fit repeated leaving
/// out one group of evaluations at a time (each point alone when there are few). The refits
/// are most of a forecast's cost, so half of them run on a second thread.
fn jackknife_se(points: &[(f64, f64)], at: f64) -> f64 {
    let groups = points.len().min(JACKKNIFE_GROUPS);
    let refit = |group: usize| {
        let rest: Vec<(f64, f64)> = points
            .iter()
            .enumerate()
            .filter(|&(i, _)| i % groups != group)
            .map(|(_, &p)| p)
            .collect();
        fit_power_law(&rest).map(|f| f.curve.at(at))
    };
    let (first, second) = std::thread::scope(|s| {
        let second = s.spawn(|| (groups / 2..groups).map(refit).collect::<Vec<_>>());
        let first: Vec<Option<f64>> = (0..groups / 2).map(refit).collect();
        (first, second.join().expect("a jackknife refit panicked"))
    });
    let forecasts: Vec<f64> = first
        .into_iter()
        .chain(second)
        .flatten()
        .filter(|v| v.is_finite())
        .collect();
    if forecasts.len() < 2 {
        return 0.0;
    }
    let k = forecasts.len() as f64;
    let mean = forecasts.iter().sum::<f64>() / k;
    let ss: f64 = forecasts.iter().map(|f| (f - mean).powi(2)).sum();
    ((k - 1.0) / k * ss).sqrt()
}

#[cfg(test)]
mod tests;
