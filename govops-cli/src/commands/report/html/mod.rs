//! `--html OUT.html`: the report as one self-contained page, charts drawn by `plotters` to inline
//! SVG. No script, no font, no stylesheet or image from anywhere else: the page opens offline and
//! renders the same everywhere.
//!
//! The page is assembled here, section by section, in the order it shows them; [`charts`] draws
//! the SVG and [`markup`] holds the HTML pieces both use.

mod charts;
mod markup;

use std::fmt::Write as _;

use markup::{STYLE, esc, table_of, ts};

use super::summary::{Dimension, Summary, WASTE_RATIO, money};
use super::time;

/// The whole page.
pub(crate) fn page(summary: &Summary, top: usize) -> String {
    let mut out = String::with_capacity(256 * 1024);
    head(&mut out);
    meta(&mut out, summary);
    cards(&mut out, summary);
    cost_problems(&mut out, summary);
    heatmap(&mut out, summary);
    cost_over_time(&mut out, summary);
    top_sessions_and_users(&mut out, summary, top);
    trips(&mut out, summary);
    latency(&mut out, summary, top);
    drift_and_failover(&mut out, summary);
    cost_by_dimension(&mut out, summary, top);
    footer(&mut out, summary);
    out
}

/// The document's head (the inline stylesheet) and the title.
fn head(out: &mut String) {
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    out.push_str("<title>govops report</title><style>");
    out.push_str(STYLE);
    out.push_str("</style></head><body>\n<h1>govops report</h1>");
}

/// The files read, the window and when the calls ended.
fn meta(out: &mut String, summary: &Summary) {
    let files: Vec<String> = summary
        .files
        .iter()
        .map(|f| {
            format!(
                "{} ({}, {} calls)",
                esc(&f.path.display().to_string()),
                f.kind(),
                f.calls
            )
        })
        .collect();
    let _ = write!(out, "<p class=\"meta\">{}</p>", files.join(", "));
    if summary.since.is_some() || summary.until.is_some() {
        let _ = write!(
            out,
            "<p class=\"meta\">Window: from {} (inclusive) until {} (exclusive)</p>",
            summary
                .since
                .map_or_else(|| "the start".to_owned(), time::rfc3339),
            summary
                .until
                .map_or_else(|| "the end".to_owned(), time::rfc3339)
        );
    }
    if summary.first.is_some() {
        let _ = write!(
            out,
            "<p class=\"meta\">Calls ended from {} to {} (UTC)</p>",
            ts(summary.first),
            ts(summary.last)
        );
    }
}

/// The totals as cards: cost, calls, tokens, waste, unpriced calls, costs not accepted.
fn cards(out: &mut String, summary: &Summary) {
    let total = &summary.total;
    let basis = match (summary.audit_calls > 0, summary.telemetry_calls > 0) {
        (_, false) => "the exact sum of the audit records' decimal costs",
        (false, true) => "telemetry costs: as exact as the doubles they were written as",
        (true, true) => "audit costs exact; telemetry costs as exact as their doubles",
    };
    out.push_str("<div class=\"cards\">");
    let cards = [
        (money(total.cost_or_zero()), format!("total cost ({basis})")),
        (
            total.calls.to_string(),
            format!(
                "calls ({} audit, {} telemetry)",
                summary.audit_calls, summary.telemetry_calls
            ),
        ),
        (
            format!("{} / {}", total.input_tokens, total.output_tokens),
            "input / output tokens".to_owned(),
        ),
        (
            format!(
                "{} · {}",
                summary.waste.calls,
                money(summary.waste.cost_or_zero())
            ),
            format!("waste: calls above {WASTE_RATIO}:1 input:output"),
        ),
        (
            total.unpriced_calls.to_string(),
            "unpriced calls (no cost, never $0)".to_owned(),
        ),
        (
            total.rejected_calls.to_string(),
            "calls whose cost is not accepted (left out of every cost)".to_owned(),
        ),
    ];
    for (value, label) in cards {
        let _ = write!(
            out,
            "<div class=\"card\"><b>{}</b><span>{}</span></div>",
            esc(&value),
            esc(&label)
        );
    }
    out.push_str("</div>\n");
}

/// Every call whose cost is not accepted, when there is one.
fn cost_problems(out: &mut String, summary: &Summary) {
    if summary.cost_problems.is_empty() {
        return;
    }
    out.push_str(
        "<section id=\"cost-problems\"><h2>Costs not accepted (left out of every cost)</h2><ul>",
    );
    for issue in &summary.cost_problems {
        let _ = write!(out, "<li>{}</li>", esc(&issue.to_string()));
    }
    out.push_str("</ul></section>\n");
}

fn heatmap(out: &mut String, summary: &Summary) {
    out.push_str("<section id=\"heatmap-section\"><h2>Cost heatmap: weekday by hour (UTC)</h2>");
    out.push_str(&charts::heatmap(summary));
    out.push_str(&charts::legend(summary));
    out.push_str("</section>\n");
}

fn cost_over_time(out: &mut String, summary: &Summary) {
    out.push_str("<section><h2>Cost over time</h2>");
    out.push_str(&charts::cost_over_time(summary));
    out.push_str("</section>\n");
}

/// The top sessions and users by cost: a chart and a table each.
fn top_sessions_and_users(out: &mut String, summary: &Summary, top: usize) {
    for (dimension, id, title) in [
        (Dimension::Session, "top-sessions", "Top sessions"),
        (Dimension::User, "top-users", "Top users"),
    ] {
        let _ = write!(out, "<section><h2>{title}</h2>");
        out.push_str(&charts::top_bars(summary, dimension, id, top));
        if let Some((_, rows)) = summary.by.iter().find(|(d, _)| *d == dimension) {
            table_of(out, dimension.name(), rows, top);
        }
        out.push_str("</section>\n");
    }
}

fn trips(out: &mut String, summary: &Summary) {
    out.push_str("<section><h2>Guard trips by violation code</h2>");
    out.push_str(&charts::trips(summary));
    table_of(out, "code", &summary.trips, usize::MAX);
    out.push_str("</section>\n");
}

/// The latency chart of the top models, and the table of all of them.
fn latency(out: &mut String, summary: &Summary, top: usize) {
    out.push_str("<section><h2>Latency per model (p50 and p95)</h2>");
    out.push_str(&charts::latency(summary, top));
    out.push_str("<table><thead><tr><th>model</th><th>calls</th><th>p50 ms</th><th>p95 ms</th><th>max ms</th></tr></thead><tbody>");
    for row in &summary.latency {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td></tr>",
            esc(&row.model),
            row.calls,
            row.p50_ms,
            row.p95_ms,
            row.max_ms
        );
    }
    out.push_str("</tbody></table></section>\n");
}

fn drift_and_failover(out: &mut String, summary: &Summary) {
    out.push_str("<section id=\"drift\"><h2>Drift and failover events</h2><h3>Drift (<code>model_drift</code> trips)</h3>");
    drift(out, summary);
    out.push_str("<h3>Failover</h3>");
    failover(out, summary);
    out.push_str("</section>\n");
}

fn drift(out: &mut String, summary: &Summary) {
    if summary.drift.is_empty() {
        out.push_str("<p class=\"note\">None.</p>");
        return;
    }
    out.push_str("<table><thead><tr><th>model</th><th>provider</th><th>trips</th><th>highest score</th><th>first</th><th>last</th><th>signals</th></tr></thead><tbody>");
    for row in &summary.drift {
        let signals: Vec<String> = row
            .signals
            .iter()
            .map(|(s, n)| format!("{s} ×{n}"))
            .collect();
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&row.model),
            esc(&row.provider),
            row.events,
            row.max_score
                .map_or_else(|| "-".to_owned(), |s| format!("{s:.2}")),
            ts(row.first),
            ts(row.last),
            esc(&signals.join(", "))
        );
    }
    out.push_str("</tbody></table>");
}

fn failover(out: &mut String, summary: &Summary) {
    if summary.failover.is_empty() {
        out.push_str("<p class=\"note\">None.</p>");
        return;
    }
    out.push_str("<table><thead><tr><th>kind</th><th>from</th><th>to</th><th>reason</th><th>events</th><th>first</th><th>last</th></tr></thead><tbody>");
    for row in &summary.failover {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&row.kind),
            esc(&row.from),
            esc(&row.to),
            esc(&row.reason),
            row.events,
            ts(row.first),
            ts(row.last)
        );
    }
    out.push_str("</tbody></table>");
}

/// The tables of the dimensions the charts above do not show.
fn cost_by_dimension(out: &mut String, summary: &Summary, top: usize) {
    out.push_str("<section><h2>Cost by model, provider and cost center</h2>");
    for dimension in [Dimension::Model, Dimension::Provider, Dimension::CostCenter] {
        if let Some((_, rows)) = summary.by.iter().find(|(d, _)| *d == dimension) {
            table_of(out, dimension.name(), rows, top);
        }
    }
    out.push_str("</section>\n");
}

/// What made the page, and how exact its costs are.
fn footer(out: &mut String, summary: &Summary) {
    let _ = write!(
        out,
        "<p class=\"note\">Made by govops {} from {} calls. Audit costs are exact decimals, summed exactly; telemetry costs are doubles read from their JSON text, so their sums are as exact as the doubles. Times are UTC.</p>",
        env!("CARGO_PKG_VERSION"),
        summary.total.calls
    );
    out.push_str("\n</body></html>\n");
}
