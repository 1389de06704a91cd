//! Charts, as SVG and PNG, drawn with an embedded font so they render on a
//! machine with no fonts installed. Colours are the Okabe-Ito palette (safe
//! for colour-blind readers, readable on white), and each distribution has
//! one colour in every chart ([`kind_color`]): centralized vermillion,
//! peer-to-peer blue, swarm green. A measurement is a solid line with round
//! markers (and its repeats' range as error bars), a textbook bound a
//! dashed line, the bound of our caps a dotted one; runs of one kind on one
//! chart are told apart by their line's pattern.

use super::plan::Kind;
use super::results::{self, PointResult, SweepPoint};
use anyhow::{anyhow, Context as _};
use plotters::coord::Shift;
use plotters::element::{Drawable, PointCollection};
use plotters::prelude::*;
use plotters_backend::{BackendCoord, DrawingErrorKind};
use std::path::Path;
use std::sync::Once;

const FONT: &str = "sans-serif";
const SIZE: (u32, u32) = (960, 600);

/// Okabe and Ito's palette, without the yellow (too light on white).
const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(230, 159, 0),   // orange
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(86, 180, 233),  // sky blue
    RGBColor(0, 0, 0),       // black
];

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is a valid TTF shipped inside the `dejavu` crate.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
    });
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A measurement: solid, with markers.
    Measured,
    /// A measurement with many points: solid, no markers.
    Curve,
    /// A textbook bound: dashed.
    Textbook,
    /// The bound our caps imply: dotted.
    OurBound,
}

/// A line of a chart.
pub struct Series {
    /// Legend text.
    pub name: String,
    /// (x, y) points.
    pub points: Vec<(f64, f64)>,
    /// (x, low, high) ranges drawn as error bars.
    pub ranges: Vec<(f64, f64, f64)>,
    /// How it is drawn.
    pub style: Style,
    /// Index into the palette.
    pub color: usize,
    /// For a [`Style::Curve`]: which of its colour's patterns (0: solid).
    pub pattern: usize,
}

impl Series {
    /// A series with no ranges.
    pub fn new(
        name: impl Into<String>,
        points: Vec<(f64, f64)>,
        style: Style,
        color: usize,
    ) -> Self {
        Series {
            name: name.into(),
            points,
            ranges: Vec::new(),
            style,
            color,
            pattern: 0,
        }
    }
}

/// A chart to draw.
pub struct Chart<'a> {
    /// Caption.
    pub title: &'a str,
    /// The parameters, under the caption.
    pub subtitle: String,
    /// X axis label (with its unit).
    pub x_label: &'a str,
    /// Y axis label (with its unit).
    pub y_label: &'a str,
    /// Whether x takes whole numbers only.
    pub x_whole: bool,
    /// Its lines.
    pub series: Vec<Series>,
    /// Vertical marks: (x, label, palette index).
    pub marks: Vec<(f64, String, usize)>,
    /// Where the legend goes: a corner the lines leave free.
    pub legend: Corner,
    /// Seconds one unit of y stands for, shown beside each y label (the
    /// textbook's F/u), if y is not in seconds.
    pub y_unit_secs: Option<f64>,
}

/// A corner of the plot, for the legend.
#[derive(Debug, Clone, Copy)]
pub enum Corner {
    /// Where rising curves start: free on a chart of growing times.
    UpperLeft,
    /// Below curves that rise to the right.
    LowerRight,
}

impl Corner {
    fn position(self) -> SeriesLabelPosition {
        match self {
            Corner::UpperLeft => SeriesLabelPosition::UpperLeft,
            Corner::LowerRight => SeriesLabelPosition::LowerRight,
        }
    }
}

/// Characters of subtitle that fit on one line of a chart.
const SUBTITLE_LINE: usize = 120;

/// `text` in lines of at most about `width` characters, broken after a
/// "; " or ", " where possible.
fn wrap(text: &str, width: usize) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = text;
    while rest.len() > width {
        let end = (0..=width)
            .rev()
            .find(|&i| rest.is_char_boundary(i))
            .unwrap_or(0);
        let head = &rest[..end];
        let cut = head
            .rfind("; ")
            .or_else(|| head.rfind(", "))
            .map_or(head.len(), |at| at + 1);
        lines.push(rest[..cut].trim_end());
        rest = rest[cut..].trim_start();
    }
    lines.push(rest);
    lines
}

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// The palette index of a distribution, the same in every chart.
pub fn kind_color(kind: Kind) -> usize {
    match kind {
        Kind::Centralized => CENTRALIZED,
        Kind::Distributed(_) => PEER_TO_PEER,
        Kind::Swarm => SWARM,
        Kind::Scenario => 6,
    }
}

const PEER_TO_PEER: usize = 0;
const CENTRALIZED: usize = 1;
const SWARM: usize = 2;

/// The dash pattern of the `k`th curve of one colour: solid, dashed,
/// dotted, long dashes, ... (on, off) in pixels.
fn pattern(k: usize) -> Option<(u32, u32)> {
    match k % 4 {
        0 => None,
        1 => Some((8, 5)),
        2 => Some((2, 4)),
        _ => Some((16, 5)),
    }
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, chart: &Chart<'_>) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("drawing: {e:?}");
    root.fill(&WHITE).map_err(err)?;
    let subtitle = wrap(&chart.subtitle, SUBTITLE_LINE);
    let (top, body) = root.split_vertically(52 + 18 * subtitle.len() as i32);
    top.draw_text(chart.title, &(FONT, 24).into_font().color(&BLACK), (20, 10))
        .map_err(err)?;
    for (i, line) in subtitle.iter().enumerate() {
        top.draw_text(
            line,
            &(FONT, 14).into_font().color(&RGBColor(80, 80, 80)),
            (20, 44 + 18 * i as i32),
        )
        .map_err(err)?;
    }
    let xs = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .chain(chart.marks.iter().map(|m| m.0));
    let x_max = xs.clone().fold(f64::MIN, f64::max).max(1.0);
    let x_min = xs.fold(f64::MAX, f64::min).min(x_max - 1.0).max(0.0);
    // Room on the right for a mark's label, on a time axis.
    let x_max = if chart.x_whole { x_max } else { x_max * 1.04 };
    let y_max = chart
        .series
        .iter()
        .flat_map(|s| {
            s.points
                .iter()
                .map(|p| p.1)
                .chain(s.ranges.iter().map(|r| r.2))
        })
        .fold(0.001, f64::max)
        * 1.1;
    let mut plot = ChartBuilder::on(&body)
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(if chart.y_unit_secs.is_some() { 110 } else { 70 })
        .build_cartesian_2d(x_min..x_max, 0.0..y_max)
        .map_err(err)?;
    let whole = chart.x_whole;
    plot.configure_mesh()
        .x_desc(chart.x_label)
        .x_labels(if whole {
            ((x_max - x_min) as usize + 1).min(13)
        } else {
            10
        })
        .x_label_formatter(&|x| {
            if whole {
                format!("{x:.0}")
            } else {
                format!("{x:.1}")
            }
        })
        .y_label_formatter(&|y| {
            let shown = if y_max > 10.0 {
                format!("{y:.0}")
            } else {
                format!("{y:.1}")
            };
            match chart.y_unit_secs {
                Some(unit) => format!("{shown} ({:.2} s)", y * unit),
                None => shown,
            }
        })
        .y_desc(chart.y_label)
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 17))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(err)?;
    // Each mark in its series' colour, labels stepped down so that none
    // covers another, written left of the line near the right edge.
    for (k, (x, label, series)) in chart.marks.iter().enumerate() {
        let c = color(*series);
        let line = [(*x, 0.0), (*x, y_max)];
        plot.draw_series(DashedLineSeries::new(line, 4, 4, c.stroke_width(1)))
            .map_err(err)?;
        let y = y_max * (0.96 - 0.06 * k as f64);
        let near_right = (*x - x_min) / (x_max - x_min) > 0.7;
        let text = if near_right {
            format!("{label} ")
        } else {
            format!(" {label}")
        };
        let anchor = if near_right {
            plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Right,
                plotters::style::text_anchor::VPos::Center,
            )
        } else {
            plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Left,
                plotters::style::text_anchor::VPos::Center,
            )
        };
        let style = (FONT, 14).into_font().color(&c).pos(anchor);
        plot.draw_series(std::iter::once(Text::new(text, (*x, y), style)))
            .map_err(err)?;
    }
    for series in &chart.series {
        let c = color(series.color);
        let stroke = c.stroke_width(2);
        let drawn = match series.style {
            Style::Curve if pattern(series.pattern).is_some() => {
                let (on, off) = pattern(series.pattern).unwrap_or((1, 0));
                plot.draw_series(DashedLineSeries::new(
                    series.points.iter().copied(),
                    on,
                    off,
                    stroke,
                ))
                .map_err(err)?
            }
            Style::Measured | Style::Curve => plot
                .draw_series(LineSeries::new(series.points.iter().copied(), stroke))
                .map_err(err)?,
            Style::Textbook => plot
                .draw_series(DashedLineSeries::new(
                    series.points.iter().copied(),
                    10,
                    6,
                    stroke,
                ))
                .map_err(err)?,
            Style::OurBound => plot
                .draw_series(DashedLineSeries::new(
                    series.points.iter().copied(),
                    2,
                    5,
                    stroke,
                ))
                .map_err(err)?,
        };
        let (style, dashes) = (series.style, pattern(series.pattern));
        drawn.label(series.name.as_str()).legend(move |at| Swatch {
            at,
            style,
            dashes,
            color: c,
        });
        if series.style == Style::Measured {
            plot.draw_series(
                series
                    .points
                    .iter()
                    .map(|&(x, y)| Circle::new((x, y), 4, c.filled())),
            )
            .map_err(err)?;
            for &(x, low, high) in &series.ranges {
                let cap = (x_max - x_min) / 150.0;
                let bars = [
                    vec![(x, low), (x, high)],
                    vec![(x - cap, low), (x + cap, low)],
                    vec![(x - cap, high), (x + cap, high)],
                ];
                for bar in bars {
                    plot.draw_series(LineSeries::new(bar, c.stroke_width(1)))
                        .map_err(err)?;
                }
            }
        }
    }
    plot.configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(150, 150, 150))
        .label_font((FONT, 14))
        .position(chart.legend.position())
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// A legend swatch: a line with a marker, dashes or dots.
struct Swatch {
    at: (i32, i32),
    style: Style,
    /// A curve's dashes, if it is not solid.
    dashes: Option<(u32, u32)>,
    color: RGBColor,
}

impl<'a> PointCollection<'a, (i32, i32)> for &'a Swatch {
    type Point = &'a (i32, i32);
    type IntoIter = std::iter::Once<&'a (i32, i32)>;
    fn point_iter(self) -> Self::IntoIter {
        std::iter::once(&self.at)
    }
}

impl<DB: DrawingBackend> Drawable<DB> for Swatch {
    fn draw<I: Iterator<Item = BackendCoord>>(
        &self,
        mut at: I,
        backend: &mut DB,
        _: (u32, u32),
    ) -> Result<(), DrawingErrorKind<DB::ErrorType>> {
        let Some((x, y)) = at.next() else {
            return Ok(());
        };
        let stroke = self.color.stroke_width(2);
        let mut segment =
            |from: i32, to: i32| backend.draw_line((x + from, y), (x + to, y), &stroke);
        match (self.style, self.dashes) {
            (Style::Curve, Some((on, off))) => {
                let (on, step) = (on as i32, (on + off) as i32);
                let mut from = 0;
                while from < 22 {
                    segment(from, (from + on).min(22))?;
                    from += step;
                }
            }
            (Style::Measured | Style::Curve, _) => segment(0, 22)?,
            (Style::Textbook, _) => {
                segment(0, 8)?;
                segment(14, 22)?;
            }
            (Style::OurBound, _) => {
                for k in 0..6 {
                    segment(4 * k, 4 * k + 1)?;
                }
            }
        }
        if self.style == Style::Measured {
            backend.draw_circle((x + 11, y), 4, &self.color.filled(), true)?;
        }
        Ok(())
    }
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

/// The parameters line of a point.
pub fn parameters(p: &PointResult, corpus: &str) -> String {
    let cap =
        |rate: Option<u64>| rate.map_or("none".to_owned(), |r| format!("{} MB/s", r as f64 / 1e6));
    format!(
        "{} peers, {} documents, upload cap {}, download cap {}; {corpus}; {} repeat(s), median shown",
        p.point.peers,
        p.point.setup.documents(),
        cap(p.caps.upload),
        cap(p.caps.download),
        p.runs.len(),
    )
}

/// Cumulative download time against RFCs downloaded, one curve per peer
/// (the median repeat).
pub fn cumulative(dir: &Path, p: &PointResult, subtitle: String) -> anyhow::Result<()> {
    let Some(run) = p.median_run() else {
        return Ok(());
    };
    let series = results::peer_totals(&p.point.setup.names, run)
        .into_iter()
        .enumerate()
        .map(|(color, totals)| {
            let mut rows: Vec<_> = run.rows.iter().filter(|r| r.peer == totals.peer).collect();
            rows.sort_by(|a, b| a.end_ms.total_cmp(&b.end_ms));
            let mut sum = 0.0;
            let mut points = vec![(0.0, 0.0)];
            for (k, row) in rows.iter().enumerate() {
                sum += row.duration_ms() / 1000.0;
                points.push(((k + 1) as f64, sum));
            }
            Series::new(totals.peer, points, Style::Curve, color)
        })
        .collect();
    let chart = Chart {
        title: &p.title,
        subtitle,
        x_label: "RFCs downloaded",
        y_label: "cumulative download time (s)",
        x_whole: true,
        series,
        marks: Vec::new(),
        legend: Corner::UpperLeft,
        y_unit_secs: None,
    };
    write(dir, &p.stem(), &chart)
}

/// The share of the planned downloads completed over time, one curve per
/// point (their median repeats), on one axis; a mark at each stop.
pub fn completion(
    dir: &Path,
    stem: &str,
    title: &str,
    subtitle: String,
    points: &[&PointResult],
) -> anyhow::Result<()> {
    let mut marks = Vec::new();
    let mut seen = std::collections::HashMap::new();
    let series = points
        .iter()
        .filter_map(|p| {
            let color = kind_color(p.point.kind);
            let nth = seen.entry(color).or_insert(0usize);
            let pattern = *nth;
            *nth += 1;
            let run = p.median_run()?;
            let planned = p.point.setup.planned().max(1) as f64;
            let mut ends: Vec<f64> = run.rows.iter().map(|r| r.end_ms / 1000.0).collect();
            ends.sort_by(f64::total_cmp);
            let mut curve = vec![(0.0, 0.0)];
            for (k, end) in ends.iter().enumerate() {
                curve.push((*end, 100.0 * (k + 1) as f64 / planned));
            }
            if let (Some(killed), Some((who, _))) = (run.killed_at_ms, p.point.setup.stopped()) {
                marks.push((
                    killed / 1000.0,
                    format!("{who} of {} stopped", p.row()),
                    color,
                ));
            }
            let mut line = Series::new(p.row(), curve, Style::Curve, color);
            line.pattern = pattern;
            Some(line)
        })
        .collect();
    let chart = Chart {
        title,
        subtitle,
        x_label: "time since the download phase began (s)",
        y_label: "planned downloads completed (%)",
        x_whole: false,
        series,
        marks,
        legend: Corner::LowerRight,
        y_unit_secs: None,
    };
    write(dir, stem, &chart)
}

/// A distribution's medians at each x (with their repeats' range) and
/// its textbook bound, in seconds divided by `unit`; labelled `name:
/// measured` and `name: bound_label`.
fn measured_and_textbook(
    (name, bound_label): (&str, &str),
    color: usize,
    results: &[(f64, &PointResult)],
    unit: f64,
) -> [Series; 2] {
    let mut measured = Series::new(
        format!("{name}: measured"),
        results
            .iter()
            .map(|(x, p)| (*x, p.makespan_ms() / 1000.0 / unit))
            .collect(),
        Style::Measured,
        color,
    );
    measured.ranges = results
        .iter()
        .map(|(x, p)| {
            let (low, high) = p.range_ms();
            (*x, low / 1000.0 / unit, high / 1000.0 / unit)
        })
        .collect();
    let textbook = Series::new(
        format!("{name}: {bound_label}"),
        results
            .iter()
            .filter_map(|(x, p)| Some((*x, p.textbook_secs()? / unit)))
            .collect(),
        Style::Textbook,
        color,
    );
    [measured, textbook]
}

/// Time against peers: each distribution's median (with its repeats'
/// range), its textbook bound (dashed) and the bound of our caps (dotted).
pub fn scaling(
    dir: &Path,
    title: &str,
    subtitle: String,
    points: &[SweepPoint<'_>],
) -> anyhow::Result<()> {
    type Pick = for<'a> fn(&SweepPoint<'a>) -> Option<&'a PointResult>;
    let kinds: [(&str, Pick, usize); 3] = [
        ("centralized", |s| s.centralized, CENTRALIZED),
        ("peer-to-peer (best order)", |s| s.p2p, PEER_TO_PEER),
        ("swarm", |s| s.swarm, SWARM),
    ];
    let mut series = Vec::new();
    for (name, pick, color) in kinds {
        let results: Vec<(f64, &PointResult)> = points
            .iter()
            .filter_map(|s| Some((s.peers as f64, pick(s)?)))
            .collect();
        if results.is_empty() {
            continue;
        }
        series.extend(measured_and_textbook(
            (name, "textbook bound"),
            color,
            &results,
            1.0,
        ));
        series.push(Series::new(
            format!("{name}: bound of our caps"),
            results
                .iter()
                .filter_map(|(x, p)| Some((*x, p.bound_secs()?)))
                .collect(),
            Style::OurBound,
            color,
        ));
    }
    let chart = Chart {
        title,
        subtitle,
        x_label: "peers N (the holder or seed included)",
        y_label: "time until every peer holds every document (s)",
        x_whole: true,
        series,
        marks: Vec::new(),
        legend: Corner::UpperLeft,
        y_unit_secs: None,
    };
    write(dir, "sweep", &chart)
}

/// The textbook's figure: distribution time against N, the peers
/// downloading, in units of F/u (`f_over_u` seconds, shown beside each
/// label): client-server and the swarm, measured (medians, with their
/// repeats' range) on their textbook curves (dashed).
pub fn textbook(
    dir: &Path,
    title: &str,
    subtitle: String,
    points: &[SweepPoint<'_>],
    f_over_u: f64,
) -> anyhow::Result<()> {
    type Pick = for<'a> fn(&SweepPoint<'a>) -> Option<&'a PointResult>;
    let kinds: [(&str, Pick, usize); 2] = [
        (
            "client-server (centralized)",
            |s| s.centralized,
            CENTRALIZED,
        ),
        ("peer-to-peer (swarm)", |s| s.swarm, SWARM),
    ];
    let unit = f_over_u.max(1e-9);
    let mut series = Vec::new();
    for (name, pick, color) in kinds {
        let results: Vec<(f64, &PointResult)> = points
            .iter()
            .filter_map(|s| Some(((s.peers - 1) as f64, pick(s)?)))
            .collect();
        if !results.is_empty() {
            series.extend(measured_and_textbook(
                (name, "textbook"),
                color,
                &results,
                unit,
            ));
        }
    }
    let chart = Chart {
        title,
        subtitle,
        x_label: "N, the peers downloading the file",
        y_label: "distribution time, in units of F/u",
        x_whole: true,
        series,
        marks: Vec::new(),
        legend: Corner::UpperLeft,
        y_unit_secs: Some(unit),
    };
    write(dir, "textbook", &chart)
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn a_long_subtitle_breaks_after_a_separator() {
        assert_eq!(wrap("short", 10), ["short"]);
        assert_eq!(
            wrap("a peer stopped; 6 peers, 30 documents", 20),
            ["a peer stopped;", "6 peers,", "30 documents"]
        );
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        // Never inside a character: × is two bytes.
        assert_eq!(wrap("ab×cd", 3), ["ab", "×c", "d"]);
    }
}
