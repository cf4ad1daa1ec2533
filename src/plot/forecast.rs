//! A run's forecast on the loss panels: the fitted curve dashed from the step the forecast was
//! made at to the step it forecasts, and its interval as a bar at the end.

use perplex_monitor::Projection;
use plotters::prelude::*;

use super::{Chart, DrawResult};

/// Points along the dashed curve.
const SAMPLES: usize = 48;

/// Draws `made` (the step the forecast was made at, and the forecast) in `color`, its values
/// clamped to the panel's y range `(lo, hi)` so nothing is drawn outside it.
pub(super) fn draw_forecast<'a, DB>(
    chart: &mut Chart<'a, DB>,
    color: RGBColor,
    (made_at, p): &(u64, Projection),
    (lo, hi): (f64, f64),
) -> DrawResult<DB>
where
    DB: DrawingBackend + 'a,
{
    let curve = p.curve();
    let (from, to) = (*made_at as f64, p.step as f64);
    let clamp = |v: f64| v.clamp(lo, hi);
    let points: Vec<(f64, f64)> = (0..=SAMPLES)
        .map(|i| from + (to - from) * i as f64 / SAMPLES as f64)
        .map(|t| (t, clamp(curve.at(t))))
        .collect();
    chart.draw_series(DashedLineSeries::new(points, 8, 6, color.stroke_width(2)))?;
    let cap = (to - from).max(1.0) * 0.01;
    let style = color.stroke_width(2);
    chart.draw_series([
        PathElement::new(vec![(to, clamp(p.low)), (to, clamp(p.high))], style),
        PathElement::new(
            vec![(to - cap, clamp(p.low)), (to + cap, clamp(p.low))],
            style,
        ),
        PathElement::new(
            vec![(to - cap, clamp(p.high)), (to + cap, clamp(p.high))],
            style,
        ),
    ])?;
    let font = ("sans-serif", 13).into_font().color(&color);
    let label = format!("forecast @{made_at}: ppl {:.1}", p.val_loss.exp());
    chart.draw_series([Text::new(label, (to, clamp(p.high)), font)])?;
    Ok(())
}
