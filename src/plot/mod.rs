//! The report picture: loss and perplexity against steps for one or more runs, with the best
//! checkpoint, signal onsets and the stop marked. Drawn with `plotters` into PNG and SVG from
//! the same code; the font (DejaVu Sans) is compiled in, so the picture looks the same on a
//! machine without fonts.

use std::path::Path;
use std::sync::Once;

use anyhow::{Result, anyhow};
use perplex_monitor::history::{History, Point};
use perplex_monitor::nll::format_ppl;
use perplex_monitor::{Projection, SignalKind};
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::FontStyle;

mod forecast;
mod levels;
pub mod lr_find;

use forecast::draw_forecast;
use levels::{draw_levels, levels, near_levels, y_range};

/// Width and height of the picture, pixels.
pub const SIZE: (u32, u32) = (1200, 900);

/// One run to draw.
pub struct RunCurves<'a> {
    /// The legend name (the run directory's name).
    pub name: &'a str,
    /// Its curves.
    pub history: &'a History,
    /// The step early stopping (or a fault) ended it, and why, if it did not run to the end.
    pub stop: Option<(u64, String)>,
}

/// Draws `runs` into `png` and `svg`. With `same_tokenizer` false, per-token losses are not
/// comparable, so only bits per character is drawn.
pub fn draw(runs: &[RunCurves], same_tokenizer: bool, png: &Path, svg: &Path) -> Result<()> {
    register_font()?;
    let mut pixels = vec![0u8; SIZE.0 as usize * SIZE.1 as usize * 3];
    {
        let area = BitMapBackend::with_buffer(&mut pixels, SIZE).into_drawing_area();
        draw_on(&area, runs, same_tokenizer)?;
        area.present()
            .map_err(|e| anyhow!("{}: {e}", png.display()))?;
    }
    write_png(png, &pixels, SIZE).map_err(|e| anyhow!("{}: {e}", png.display()))?;
    let area = SVGBackend::new(svg, SIZE).into_drawing_area();
    draw_on(&area, runs, same_tokenizer)?;
    area.present()
        .map_err(|e| anyhow!("{}: {e}", svg.display()))?;
    Ok(())
}

/// Writes RGB `pixels` of `size` as a PNG, compressed as far as the encoder goes (the
/// default level left the pictures 30% larger; the docs' gallery keeps each under 200 KB).
fn write_png(path: &Path, pixels: &[u8], size: (u32, u32)) -> Result<(), png::EncodingError> {
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut encoder = png::Encoder::new(file, size.0, size.1);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Best);
    encoder.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(pixels)?;
    writer.finish()
}

fn register_font() -> Result<()> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        result = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        )
        .map_err(|_| anyhow!("the compiled-in DejaVu Sans font could not be loaded"));
    });
    result
}

type Area<DB> = DrawingArea<DB, Shift>;

fn draw_on<DB: DrawingBackend>(area: &Area<DB>, runs: &[RunCurves], same: bool) -> Result<()> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("drawing the report: {e:?}");
    area.fill(&WHITE).map_err(err)?;
    let levels = levels(runs);
    if same {
        let (top, bottom) = area.split_vertically(SIZE.1 / 2);
        // Each run's latest forecast is drawn dashed from the step it was made at.
        let losses = runs
            .iter()
            .map(|r| Panel {
                main: &r.history.val_loss,
                extra: vec![&r.history.train_loss, &r.history.train_eval_loss],
                forecast: r.history.forecast.as_ref(),
            })
            .collect::<Vec<_>>();
        draw_panel(
            &top,
            runs,
            &losses,
            "loss per token — val (thick), train with dropout (thin), train slice in eval mode (dotted)",
            "nats / token",
            Labels::Plain,
            &levels,
        )
        .map_err(err)?;
        // Perplexity on a log scale is the loss on a linear one, labelled with exp(loss).
        draw_panel(
            &bottom,
            runs,
            &with_forecast(runs),
            "validation perplexity (log scale); dashed: the latest forecast, with its interval",
            "perplexity",
            Labels::Exp,
            &levels,
        )
        .map_err(err)?;
    } else {
        draw_panel(
            area,
            runs,
            &only(runs, |h| &h.val_bits_per_char),
            "validation bits per character (the runs use different tokenizers: per-token loss \
             and perplexity are not comparable)",
            "bits / character",
            Labels::Plain,
            &[],
        )
        .map_err(err)?;
    }
    Ok(())
}

/// The curves of one run in one panel: the main (validation) curve, drawn thick and marked
/// with the best checkpoint, thinner companions, and the forecast (made at a step) dashed.
struct Panel<'a> {
    main: &'a [Point],
    extra: Vec<&'a [Point]>,
    forecast: Option<&'a (u64, Projection)>,
}

/// Each run's validation curve and its forecast.
fn with_forecast<'a>(runs: &[RunCurves<'a>]) -> Vec<Panel<'a>> {
    runs.iter()
        .map(|r| Panel {
            main: &r.history.val_loss,
            extra: Vec::new(),
            forecast: r.history.forecast.as_ref(),
        })
        .collect()
}

/// One curve per run: the series `pick` takes from its history, nothing drawn beside it.
fn only<'a>(runs: &[RunCurves<'a>], pick: fn(&'a History) -> &'a Vec<Point>) -> Vec<Panel<'a>> {
    runs.iter()
        .map(|r| Panel {
            main: pick(r.history),
            extra: Vec::new(),
            forecast: None,
        })
        .collect()
}

fn run_color(i: usize) -> RGBColor {
    const COLORS: [RGBColor; 6] = [
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(44, 160, 44),
        RGBColor(148, 103, 189),
        RGBColor(255, 127, 14),
        RGBColor(23, 190, 207),
    ];
    COLORS[i % COLORS.len()]
}

fn signal_color(kind: SignalKind) -> RGBColor {
    match kind {
        SignalKind::WarmingUp => RGBColor(150, 150, 150),
        SignalKind::Healthy => RGBColor(44, 160, 44),
        SignalKind::Plateau => RGBColor(230, 140, 0),
        SignalKind::Overfitting => RGBColor(200, 0, 0),
        SignalKind::Diverging => RGBColor(170, 40, 90),
        SignalKind::Stalled => RGBColor(160, 120, 0),
        SignalKind::Diverged => RGBColor(120, 0, 0),
        SignalKind::LeakSuspected => RGBColor(140, 0, 160),
        SignalKind::Unstable => RGBColor(120, 70, 20),
        SignalKind::NonFinite => RGBColor(0, 0, 0),
        SignalKind::DegenerateSamples => RGBColor(200, 0, 140),
    }
}

/// How a panel labels its y axis.
#[derive(Clone, Copy)]
enum Labels {
    /// The values themselves.
    Plain,
    /// `exp(value)`: a loss axis read as perplexity (a log-scaled perplexity axis).
    Exp,
}

fn draw_panel<DB: DrawingBackend>(
    area: &Area<DB>,
    runs: &[RunCurves],
    panels: &[Panel],
    title: &str,
    y_desc: &str,
    labels: Labels,
    levels: &[(&str, f64)],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let forecast_end = |p: &Panel| p.forecast.map_or(0, |(_, f)| f.step);
    let max_step = runs
        .iter()
        .map(|r| r.history.last_step)
        .chain(panels.iter().map(forecast_end))
        .max()
        .unwrap_or(1);
    // Room on the right for the stop's label.
    let x_max = max_step.max(1) as f64 * 1.15;
    let x = 0f64..x_max;
    let levels = &near_levels(panels, levels);
    let (lo, hi) = y_range(panels, levels);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(x, lo..hi)?;
    // A narrow perplexity range (a run near its floor) needs decimals to tell ticks apart.
    let ppl_decimals = match hi - lo {
        _ if lo.exp() >= 100.0 => 0,
        d if d < 0.7 => 2,
        d if d < 3.0 => 1,
        _ => 0,
    };
    let y_label = |v: &f64| match labels {
        Labels::Plain => format!("{v:.2}"),
        Labels::Exp => format_ppl(v.exp(), ppl_decimals),
    };
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc(y_desc)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&y_label)
        .light_line_style(RGBColor(240, 240, 240))
        .draw()?;
    draw_levels(&mut chart, levels, labels, x_max)?;
    draw_curves(&mut chart, runs, panels, (lo, hi))
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;
type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn draw_curves<'a, DB>(
    chart: &mut Chart<'a, DB>,
    runs: &[RunCurves],
    panels: &[Panel],
    range: (f64, f64),
) -> DrawResult<DB>
where
    DB: DrawingBackend + 'a,
{
    for (i, (run, panel)) in runs.iter().zip(panels).enumerate() {
        draw_run(chart, i, run, panel)?;
        if let Some(made) = panel.forecast {
            draw_forecast(chart, run_color(i), made, range)?;
        }
        draw_marks(chart, i, run, range)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
}

/// The finite points of a curve, steps as x.
fn finite(p: &[Point]) -> Vec<(f64, f64)> {
    p.iter()
        .filter(|(_, v)| v.is_finite())
        .map(|&(s, v)| (s as f64, v))
        .collect()
}

/// Run `i`'s curves: the thin and dotted extras, the thick main curve with its legend entry,
/// and a ring at the best checkpoint.
fn draw_run<'a, DB>(
    chart: &mut Chart<'a, DB>,
    i: usize,
    run: &RunCurves,
    panel: &Panel,
) -> DrawResult<DB>
where
    DB: DrawingBackend + 'a,
{
    let color = run_color(i);
    for (j, extra) in panel.extra.iter().enumerate() {
        let points = finite(extra);
        if j == 0 {
            chart.draw_series(LineSeries::new(points, color.mix(0.45).stroke_width(1)))?;
        } else {
            chart.draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 2, color.mix(0.7).filled())),
            )?;
        }
    }
    let main = finite(panel.main);
    chart
        .draw_series(LineSeries::new(main.clone(), color.stroke_width(3)))?
        .label(run.name)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3)));
    // The best checkpoint: a ring on the main curve at the best validation loss's step.
    if let Some((best, _)) = run.history.best
        && let Some(&p) = main.iter().find(|(s, _)| *s == best as f64)
    {
        let font = ("sans-serif", 14).into_font().color(&color);
        chart.draw_series([EmptyElement::at(p)
            + Circle::new((0, 0), 8, color.stroke_width(3))
            + Text::new(format!("best @{best}"), (-20, 12), font)])?;
    }
    Ok(())
}

/// Run `i`'s signal onsets (a tick at the top of the panel with the signal's name, staggered
/// so that neighbouring names do not overwrite each other) and its stop (a black line).
fn draw_marks<'a, DB>(
    chart: &mut Chart<'a, DB>,
    i: usize,
    run: &RunCurves,
    (lo, hi): (f64, f64),
) -> DrawResult<DB>
where
    DB: DrawingBackend + 'a,
{
    for (k, &(step, kind)) in run.history.onsets.iter().enumerate() {
        let c = signal_color(kind);
        let x = step as f64;
        let row = (i + k) % 3;
        let y_top = lerp(lo, hi, 0.97 - 0.05 * row as f64);
        let y_low = lerp(lo, hi, 0.80);
        chart.draw_series([PathElement::new(
            vec![(x, y_low), (x, y_top)],
            c.stroke_width(2),
        )])?;
        let font = ("sans-serif", 12).into_font().color(&c);
        chart.draw_series([Text::new(kind.name(), (x, y_top), font)])?;
    }
    if let Some((step, why)) = &run.stop {
        let x = *step as f64;
        chart.draw_series([PathElement::new(
            vec![(x, lo), (x, hi)],
            BLACK.stroke_width(2),
        )])?;
        let font = ("sans-serif", 14).into_font().color(&BLACK);
        chart.draw_series([EmptyElement::at((x, lerp(lo, hi, 0.5)))
            + Text::new(format!("stop @{step}:"), (6, -16), font.clone())
            + Text::new(why.clone(), (6, 0), font)])?;
    }
    Ok(())
}

/// The value a fraction `t` of the way from `lo` to `hi`.
fn lerp(lo: f64, hi: f64, t: f64) -> f64 {
    lo + (hi - lo) * t
}
