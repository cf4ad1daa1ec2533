//! The baseline levels drawn across the loss panels (uniform guess, unigram model) and the y
//! range they and the curves set.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Chart, DrawResult, Labels, Panel, RunCurves};

/// The baseline levels of `runs` to draw across the loss panels: each distinct uniform and
/// unigram level (nats), with its name.
pub(super) fn levels(runs: &[RunCurves]) -> Vec<(&'static str, f64)> {
    let mut levels: Vec<(&'static str, f64)> = Vec::new();
    for b in runs.iter().filter_map(|r| r.history.baselines) {
        for level in [("uniform", b.uniform), ("unigram", b.unigram)] {
            if let (name, Some(v)) = level
                && !levels
                    .iter()
                    .any(|&(n, w)| n == name && (w - v).abs() < 1e-9)
            {
                levels.push((name, v));
            }
        }
    }
    levels
}

/// The levels worth drawing on a panel: those within one span of its curves' values. A level
/// far from every curve (the uniform guess under a run that ends near its corpus's floor)
/// would squeeze the curves into a sliver; one a run sits far above (a diverged run's uniform
/// guess) stays.
pub(super) fn near_levels<'a>(panels: &[Panel], levels: &[(&'a str, f64)]) -> Vec<(&'a str, f64)> {
    let (lo, hi) = y_range(panels, &[]);
    let span = hi - lo;
    levels
        .iter()
        .copied()
        .filter(|&(_, v)| v > lo - span && v < hi + span)
        .collect()
}

/// The y range over every finite value of the panels, their forecasts' intervals and every
/// level, padded by 5% below and
/// 25% above, where the signal onsets are named.
pub(super) fn y_range(panels: &[Panel], levels: &[(&str, f64)]) -> (f64, f64) {
    let values = panels
        .iter()
        .flat_map(|p| p.main.iter().chain(p.extra.iter().flat_map(|e| e.iter())))
        .map(|&(_, v)| v)
        .chain(levels.iter().map(|&(_, v)| v))
        .chain(forecast_ends(panels))
        .filter(|v| v.is_finite());
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-3);
    (lo - pad, hi + 5.0 * pad)
}

/// The ends of each panel's forecast interval, which the y range must show.
fn forecast_ends<'a>(panels: &'a [Panel]) -> impl Iterator<Item = f64> + 'a {
    panels
        .iter()
        .filter_map(|p| p.forecast)
        .flat_map(|(_, f)| [f.low, f.high])
}

/// The baseline levels: a dashed grey line across the panel each, named at its right end with
/// its value (a perplexity on a perplexity panel).
pub(super) fn draw_levels<'a, DB>(
    chart: &mut Chart<'a, DB>,
    levels: &[(&str, f64)],
    labels: Labels,
    x_max: f64,
) -> DrawResult<DB>
where
    DB: DrawingBackend + 'a,
{
    let grey = RGBColor(110, 110, 110);
    let lowest = levels.iter().map(|l| l.1).fold(f64::INFINITY, f64::min);
    for &(name, v) in levels {
        let line = vec![(0.0, v), (x_max, v)];
        chart.draw_series(DashedLineSeries::new(line, 8, 6, grey.stroke_width(2)))?;
        let text = match (labels, name) {
            (Labels::Plain, "uniform") => format!("uniform guess, ln V = {v:.2}"),
            (Labels::Plain, _) => format!("{name} model, {v:.2}"),
            (Labels::Exp, "uniform") => format!("uniform guess, ppl {:.0}", v.exp()),
            (Labels::Exp, _) => format!("{name} model, ppl {:.0}", v.exp()),
        };
        // Named at the right end, clear of the legend and the curves' start: above the line,
        // or below it for the lowest level, so two close levels keep their names apart.
        let side = if v == lowest { VPos::Top } else { VPos::Bottom };
        let font = ("sans-serif", 13)
            .into_font()
            .color(&grey)
            .pos(Pos::new(HPos::Right, side));
        chart.draw_series([Text::new(text, (x_max * 0.99, v), font)])?;
    }
    Ok(())
}
