//! Charts, as SVG and PNG, drawn with an embedded font so they render on a
//! machine with no fonts installed.

use super::results;
use super::run::Outcomes;
use anyhow::{anyhow, Context as _};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

const FONT: &str = "sans-serif";
const SIZE: (u32, u32) = (960, 600);

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is a valid TTF shipped inside the `dejavu` crate.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
    });
}

/// A line of a chart: a name and its points.
pub struct Series {
    /// Legend text.
    pub name: String,
    /// (x, y) points.
    pub points: Vec<(f64, f64)>,
    /// Dashed (for bounds) or solid.
    pub dashed: bool,
    /// Index into the palette; a bound takes its measurement's.
    pub color: usize,
}

/// A chart to draw.
pub struct Chart<'a> {
    /// Caption.
    pub title: &'a str,
    /// X axis label.
    pub x_label: &'a str,
    /// Y axis label.
    pub y_label: &'a str,
    /// Its lines.
    pub series: Vec<Series>,
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, chart: &Chart<'_>) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("drawing: {e:?}");
    root.fill(&WHITE).map_err(err)?;
    let points = chart.series.iter().flat_map(|s| &s.points);
    let x_max = points.clone().map(|p| p.0).fold(1.0, f64::max);
    let y_max = points.map(|p| p.1).fold(0.001, f64::max) * 1.08;
    let x_min = chart
        .series
        .iter()
        .flat_map(|s| &s.points)
        .map(|p| p.0)
        .fold(x_max, f64::min);
    let mut plot = ChartBuilder::on(&root)
        .caption(chart.title, (FONT, 26))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(x_min..x_max, 0.0..y_max)
        .map_err(err)?;
    plot.configure_mesh()
        .x_desc(chart.x_label)
        .x_labels(((x_max - x_min) as usize + 1).min(12))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc(chart.y_label)
        .label_style((FONT, 16))
        .axis_desc_style((FONT, 18))
        .draw()
        .map_err(err)?;
    // Measurements first, wide and light; bounds dashed over them, so a
    // bound stays visible where a measurement meets it.
    let mut order: Vec<&Series> = chart.series.iter().collect();
    order.sort_by_key(|s| s.dashed);
    let with_bounds = order.iter().any(|s| s.dashed);
    for series in order {
        let color = Palette99::pick(series.color).to_rgba();
        let style = match (series.dashed, with_bounds) {
            (true, _) => color.stroke_width(2),
            (false, true) => color.mix(0.4).stroke_width(7),
            (false, false) => color.stroke_width(3),
        };
        let drawn = if series.dashed {
            plot.draw_series(DashedLineSeries::new(
                series.points.iter().copied(),
                8,
                6,
                style,
            ))
            .map_err(err)?
        } else {
            plot.draw_series(LineSeries::new(series.points.iter().copied(), style))
                .map_err(err)?
        };
        drawn
            .label(series.name.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(3)));
    }
    plot.configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, 16))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// Draws `chart` to `dir/stem.svg` and `dir/stem.png`.
pub fn write(dir: &Path, stem: &str, chart: &Chart<'_>) -> anyhow::Result<()> {
    register_font();
    let svg = dir.join(format!("{stem}.svg"));
    draw(SVGBackend::new(&svg, SIZE).into_drawing_area(), chart)
        .with_context(|| format!("{}", svg.display()))?;
    let png = dir.join(format!("{stem}.png"));
    draw(BitMapBackend::new(&png, SIZE).into_drawing_area(), chart)
        .with_context(|| format!("{}", png.display()))?;
    Ok(())
}

/// Cumulative download time against RFCs downloaded, one curve per peer.
pub fn cumulative(dir: &Path, outcome: &Outcomes, title: &str) -> anyhow::Result<()> {
    let series = results::peer_totals(outcome)
        .into_iter()
        .enumerate()
        .map(|(color, totals)| {
            let mut rows: Vec<_> = outcome
                .rows
                .iter()
                .filter(|r| r.peer == totals.peer)
                .collect();
            rows.sort_by(|a, b| a.end_ms.total_cmp(&b.end_ms));
            let mut sum = 0.0;
            let mut points = vec![(0.0, 0.0)];
            for (k, row) in rows.iter().enumerate() {
                sum += row.duration_ms() / 1000.0;
                points.push(((k + 1) as f64, sum));
            }
            Series {
                name: totals.peer,
                points,
                dashed: false,
                color,
            }
        })
        .collect();
    let chart = Chart {
        title,
        x_label: "RFCs downloaded",
        y_label: "cumulative download time (s)",
        series,
    };
    write(dir, &outcome.name, &chart)
}

/// Total time against peers, centralized and peer-to-peer, with bounds.
pub fn sweep(dir: &Path, title: &str, points: &[super::report::SweepPoint]) -> anyhow::Result<()> {
    type Pick = fn(&super::report::SweepPoint) -> Option<f64>;
    let line = |name: &str, color: usize, dashed: bool, value: Pick| Series {
        name: name.to_owned(),
        points: points
            .iter()
            .filter_map(|p| Some((p.peers as f64, value(p)?)))
            .collect(),
        dashed,
        color,
    };
    let chart = Chart {
        title,
        x_label: "peers",
        y_label: "time to distribute every document (s)",
        series: vec![
            line("centralized (Task 1)", 0, false, |p| {
                Some(p.centralized_secs)
            }),
            line("centralized: physical bound", 0, true, |p| {
                p.centralized_bound_secs
            }),
            line("peer-to-peer (Task 2, best order)", 3, false, |p| {
                Some(p.p2p_secs)
            }),
            line("peer-to-peer: physical bound", 3, true, |p| {
                p.p2p_bound_secs
            }),
        ],
    };
    write(dir, "sweep", &chart)
}
