//! The range test's picture: training loss against a log-scaled learning rate, raw (thin) and
//! smoothed (thick), with the suggested rate marked.

use std::path::Path;

use anyhow::{Result, anyhow};
use perplex_monitor::lr_range::{RangeTest, Suggestion};
use plotters::prelude::*;

use super::{SIZE, register_font, write_png};

/// Draws `test` (and the `suggestion`, if any) into the PNG `path`.
pub fn draw(test: &RangeTest, suggestion: Option<&Suggestion>, path: &Path) -> Result<()> {
    register_font()?;
    let size = (SIZE.0, SIZE.1 * 2 / 3);
    let mut pixels = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let area = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
        draw_on(&area, test, suggestion).map_err(|e| anyhow!("drawing: {e:?}"))?;
        area.present().map_err(|e| anyhow!("{e:?}"))?;
    }
    write_png(path, &pixels, size).map_err(|e| anyhow!("{}: {e}", path.display()))
}

fn draw_on<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    test: &RangeTest,
    suggestion: Option<&Suggestion>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    area.fill(&WHITE)?;
    let points = &test.points;
    let lrs = (test.sweep.start_lr, test.sweep.end_lr);
    let lowest = points.iter().flat_map(|p| [p.smoothed, p.loss]);
    let lo = lowest.fold(f64::INFINITY, f64::min);
    let first = points.first().map_or(lo + 1.0, |p| p.smoothed);
    // Up to where the sweep stops (4× the lowest) would flatten the useful part: show from
    // the lowest loss, raw or smoothed, to a margin above the start's level.
    let hi = first.max(lo + 0.5) + 0.25 * (first - lo).max(0.5);
    let lo = lo - 0.1 * (hi - lo);
    let mut chart = ChartBuilder::on(area)
        .caption(
            "learning-rate range test: training loss (thin), smoothed (thick)",
            ("sans-serif", 18),
        )
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d((lrs.0..lrs.1).log_scale(), lo..hi)?;
    chart
        .configure_mesh()
        .x_desc("learning rate (log scale)")
        .y_desc("nats / token")
        .x_label_formatter(&|v| format!("{v:.0e}"))
        .y_label_formatter(&|v| format!("{v:.2}"))
        .light_line_style(RGBColor(240, 240, 240))
        .draw()?;
    let clamp = |v: f64| v.clamp(lo, hi);
    let blue = RGBColor(31, 119, 180);
    chart.draw_series(LineSeries::new(
        points.iter().map(|p| (p.lr, clamp(p.loss))),
        blue.mix(0.4).stroke_width(1),
    ))?;
    chart.draw_series(LineSeries::new(
        points.iter().map(|p| (p.lr, clamp(p.smoothed))),
        blue.stroke_width(3),
    ))?;
    if let Some(s) = suggestion {
        let red = RGBColor(214, 39, 40);
        chart.draw_series([PathElement::new(
            vec![(s.lr, lo), (s.lr, hi)],
            red.stroke_width(2),
        )])?;
        let font = ("sans-serif", 16).into_font().color(&red);
        let label = format!("suggested {:.2e}", s.lr);
        chart.draw_series([Text::new(label, (s.lr, hi - 0.05 * (hi - lo)), font)])?;
    }
    Ok(())
}
