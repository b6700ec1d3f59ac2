//! The page's charts, drawn by `plotters` to inline SVG: the heatmap and its legend, the cost
//! over time, and horizontal bars (top keys, guard trips, latency).

use std::fmt::Write as _;

use plotters::coord::Shift;
use plotters::prelude::*;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::markup::esc;
use crate::commands::report::summary::money;
use crate::commands::report::summary::{Dimension, Summary};
use crate::commands::report::time::{self, WEEKDAYS};

/// The charts' width in pixels (they scale down with the page).
const WIDTH: u32 = 960;
/// The generic family: the page loads no font.
const FONT: &str = "sans-serif";
/// The bars' colour and the heatmap's darkest.
const INK: RGBColor = RGBColor(0x1f, 0x4e, 0x8c);
/// The second series: p95 latency, guard trips.
const SECOND: RGBColor = RGBColor(0xe0, 0x8a, 0x1e);
/// A heatmap cell of $0.
const EMPTY: RGBColor = RGBColor(0xee, 0xf0, 0xf3);
/// The heatmap's lightest cell that has a cost.
const LOW: RGBColor = RGBColor(0xd6, 0xe6, 0xf5);

/// What a drawing step returns: `plotters`' errors as text, for the page to say.
type Drawn = Result<(), String>;

fn failed(error: impl std::fmt::Display) -> String {
    error.to_string()
}

fn float(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
}

/// Enough decimals for an axis up to `top` dollars to tell its labels apart.
fn dollars(x: f64, top: f64) -> String {
    let decimals = if top > 0.0 {
        (2.0 - top.log10().floor()).clamp(2.0, 12.0) as usize
    } else {
        2
    };
    format!("${x:.decimals$}")
}

fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        let mut clipped: String = text.chars().take(width.saturating_sub(1)).collect();
        clipped.push('…');
        clipped
    }
}

/// Draws into an SVG of `size` and returns it for inlining: with `id`, an accessible label, and
/// without the `xmlns` attribute (an inline SVG in HTML needs none, and the page then names no
/// URL at all).
fn svg(
    id: &str,
    label: &str,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Drawn,
) -> String {
    let mut buffer = String::new();
    let result = {
        let root = SVGBackend::with_string(&mut buffer, size).into_drawing_area();
        root.fill(&WHITE)
            .map_err(failed)
            .and_then(|()| draw(&root))
            .and_then(|()| root.present().map_err(failed))
    };
    if let Err(error) = result {
        return format!(
            "<p class=\"note\" id=\"{id}\">This chart could not be drawn: {}</p>",
            esc(&error)
        );
    }
    let buffer = buffer.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1);
    buffer.replacen(
        "<svg ",
        &format!(
            "<svg id=\"{id}\" role=\"img\" aria-label=\"{}\" preserveAspectRatio=\"xMinYMin meet\" ",
            esc(label)
        ),
        1,
    )
}

/// The heatmap colour of a cell: grey for $0, then from light to dark blue with the cost.
fn heat(cell: Decimal, max: Decimal) -> RGBColor {
    if cell <= Decimal::ZERO || max <= Decimal::ZERO {
        return EMPTY;
    }
    let t = (float(cell) / float(max)).clamp(0.0, 1.0);
    let mix = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * t).round() as u8;
    RGBColor(mix(LOW.0, INK.0), mix(LOW.1, INK.1), mix(LOW.2, INK.2))
}

/// The cost by weekday and UTC hour.
pub(super) fn heatmap(summary: &Summary) -> String {
    let max = summary.heatmap_max();
    svg(
        "heatmap",
        "Cost by weekday and UTC hour",
        (WIDTH, 290),
        |root| {
            let mut chart = ChartBuilder::on(root)
                .margin(10)
                .x_label_area_size(40)
                .y_label_area_size(48)
                .build_cartesian_2d((0u32..23).into_segmented(), (0u32..6).into_segmented())
                .map_err(failed)?;
            chart
                .configure_mesh()
                .disable_mesh()
                .x_labels(24)
                .y_labels(7)
                .x_label_formatter(&|v| match v {
                    SegmentValue::CenterOf(h) => format!("{h:02}"),
                    _ => String::new(),
                })
                .y_label_formatter(&|v| match v {
                    SegmentValue::CenterOf(row) => WEEKDAYS
                        .get(6usize.saturating_sub(*row as usize))
                        .map_or_else(String::new, |d| (*d).to_owned()),
                    _ => String::new(),
                })
                .x_desc("hour of day (UTC)")
                .label_style((FONT, 13))
                .axis_desc_style((FONT, 13))
                .draw()
                .map_err(failed)?;
            let cells = summary.heatmap.iter().enumerate().flat_map(|(day, hours)| {
                hours.iter().enumerate().map(move |(hour, cell)| {
                    let (x, y) = (hour as u32, 6 - day as u32);
                    let mut rect = Rectangle::new(
                        [
                            (SegmentValue::Exact(x), SegmentValue::Exact(y)),
                            (SegmentValue::Exact(x + 1), SegmentValue::Exact(y + 1)),
                        ],
                        heat(cell.cost_or_zero(), max).filled(),
                    );
                    rect.set_margin(1, 1, 1, 1);
                    rect
                })
            });
            chart.draw_series(cells).map_err(failed)?;
            Ok(())
        },
    )
}

/// The cost per hour when the calls span less than three days, else per day; gaps are $0.
fn over_time(summary: &Summary) -> (String, Vec<(String, f64)>) {
    let (Some(&first), Some(&last)) = (
        summary.hourly.keys().next(),
        summary.hourly.keys().next_back(),
    ) else {
        return ("hour".to_owned(), Vec::new());
    };
    if last - first < 72 {
        let points = (first..=last)
            .map(|h| {
                let cost = summary
                    .hourly
                    .get(&h)
                    .map_or(0.0, |b| float(b.cost_or_zero()));
                (time::hour_text(h), cost)
            })
            .collect();
        return ("hour (UTC)".to_owned(), points);
    }
    let (first_day, last_day) = (first / 24, last / 24);
    let mut days =
        vec![govops_core::money::ExactSum::default(); (last_day - first_day + 1) as usize];
    for (hour, bucket) in &summary.hourly {
        if let Some(day) = days.get_mut((hour / 24 - first_day) as usize) {
            day.add_sum(&bucket.cost);
        }
    }
    let points = days
        .iter()
        .enumerate()
        .map(|(i, sum)| (time::day_text(first_day + i as u64), float(sum.value())))
        .collect();
    ("day (UTC)".to_owned(), points)
}

/// The cost per hour or day, as bars.
pub(super) fn cost_over_time(summary: &Summary) -> String {
    let (unit, points) = over_time(summary);
    if points.is_empty() {
        return "<p class=\"note\" id=\"cost-over-time\">No call with a time.</p>".to_owned();
    }
    let top = points.iter().map(|(_, c)| *c).fold(0.0, f64::max);
    let top = if top > 0.0 { top * 1.1 } else { 1.0 };
    // At least two slots: a coordinate of one value has no extent to draw in.
    let n = (points.len() as u32).max(2);
    svg("cost-over-time", "Cost over time", (WIDTH, 300), |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(44)
            .y_label_area_size(80)
            .build_cartesian_2d((0u32..n - 1).into_segmented(), 0f64..top)
            .map_err(failed)?;
        let labels = |v: &SegmentValue<u32>| match v {
            SegmentValue::CenterOf(i) => points
                .get(*i as usize)
                .map_or_else(String::new, |(label, _)| label.clone()),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(8.min(points.len()))
            .y_labels(6)
            .x_label_formatter(&labels)
            .y_label_formatter(&|c| format!("${c:.4}"))
            .x_desc(unit.as_str())
            .y_desc("cost (USD)")
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 13))
            .draw()
            .map_err(failed)?;
        chart
            .draw_series(points.iter().enumerate().map(|(i, (_, c))| {
                let mut bar = Rectangle::new(
                    [
                        (SegmentValue::Exact(i as u32), 0.0),
                        (SegmentValue::Exact(i as u32 + 1), *c),
                    ],
                    INK.filled(),
                );
                bar.set_margin(0, 0, 1, 1);
                bar
            }))
            .map_err(failed)?;
        Ok(())
    })
}

/// Horizontal bars: one row per (label, value, colour), the first at the top.
fn bars(
    id: &str,
    label: &str,
    rows: &[(String, f64, RGBColor)],
    value_label: &str,
    money_axis: bool,
) -> String {
    if rows.is_empty() {
        return format!("<p class=\"note\" id=\"{id}\">None.</p>");
    }
    // At least two rows: a coordinate of one value has no extent to draw in.
    let n = (rows.len() as u32).max(2);
    let top = rows.iter().map(|r| r.1).fold(0.0, f64::max);
    let top = match (money_axis, top > 0.0) {
        (_, false) => 1.0,
        (true, true) => top * 1.1,
        // Counts: whole numbers on the axis.
        (false, true) => (top * 1.1).ceil().max(top + 1.0),
    };
    let height = 60 + 26 * n;
    svg(id, label, (WIDTH, height), |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(230)
            .build_cartesian_2d(0f64..top, (0u32..n - 1).into_segmented())
            .map_err(failed)?;
        let names = |v: &SegmentValue<u32>| match v {
            SegmentValue::CenterOf(i) => rows
                .get((n - 1 - *i) as usize)
                .map_or_else(String::new, |r| clip(&r.0, 30)),
            _ => String::new(),
        };
        let value = |x: &f64| {
            if money_axis {
                dollars(*x, top)
            } else if x.fract() == 0.0 {
                format!("{x:.0}")
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(rows.len())
            .x_labels(6)
            .y_label_formatter(&names)
            .x_label_formatter(&value)
            .x_desc(value_label)
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 13))
            .draw()
            .map_err(failed)?;
        chart
            .draw_series(rows.iter().enumerate().map(|(i, (_, v, colour))| {
                let y = n - 1 - i as u32;
                let mut bar = Rectangle::new(
                    [
                        (0.0, SegmentValue::Exact(y)),
                        (*v, SegmentValue::Exact(y + 1)),
                    ],
                    colour.filled(),
                );
                bar.set_margin(3, 3, 0, 0);
                bar
            }))
            .map_err(failed)?;
        Ok(())
    })
}

/// The `top` keys of a dimension by cost.
pub(super) fn top_bars(summary: &Summary, dimension: Dimension, id: &str, top: usize) -> String {
    let rows: Vec<(String, f64, RGBColor)> = summary
        .by
        .iter()
        .find(|(d, _)| *d == dimension)
        .map(|(_, rows)| {
            rows.iter()
                .take(top)
                .map(|(key, b)| (key.clone(), float(b.cost_or_zero()), INK))
                .collect()
        })
        .unwrap_or_default();
    bars(
        id,
        &format!("Top {} by cost", dimension.title()),
        &rows,
        "cost (USD)",
        true,
    )
}

/// The heatmap's colours, from $0 to the highest hour.
pub(super) fn legend(summary: &Summary) -> String {
    let max = summary.heatmap_max();
    let mut out = String::from("<p class=\"legend\">$0 <i style=\"background:#eef0f3\"></i>");
    for quarter in 1..=4 {
        let part = (max / Decimal::from(4)).checked_mul(Decimal::from(quarter));
        let c = heat(part.unwrap_or(max), max);
        let _ = write!(
            out,
            "<i style=\"background:rgb({},{},{})\"></i>",
            c.0, c.1, c.2
        );
    }
    let _ = write!(out, " {} (the highest hour)</p>", esc(&money(max)));
    out
}

/// Calls per violation code.
pub(super) fn trips(summary: &Summary) -> String {
    let trips: Vec<(String, f64, RGBColor)> = summary
        .trips
        .iter()
        .map(|(code, b)| (code.clone(), b.calls as f64, SECOND))
        .collect();
    bars(
        "violations",
        "Calls per violation code",
        &trips,
        "calls",
        false,
    )
}

/// The p50 and p95 latency of the `top` models with the most calls.
pub(super) fn latency(summary: &Summary, top: usize) -> String {
    let mut latency = Vec::new();
    for row in summary.latency.iter().take(top) {
        latency.push((format!("{} p50", row.model), row.p50_ms, INK));
        latency.push((format!("{} p95", row.model), row.p95_ms, SECOND));
    }
    bars(
        "latency",
        "Latency per model, p50 and p95",
        &latency,
        "milliseconds",
        false,
    )
}
