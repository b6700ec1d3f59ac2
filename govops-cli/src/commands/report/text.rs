//! The report for people: totals, the top keys of each dimension, waste, guard trips, drift and
//! failover, latency, and the cost heatmap drawn as a 7 × 24 grid of shade characters.

use std::io::{self, Write};

use rust_decimal::Decimal;

use super::summary::{Bucket, Dimension, Summary, WASTE_RATIO, cost, money};
use super::time::{self, WEEKDAYS};
use crate::shared::amount::CostProblem;
use crate::shared::out::esc;

/// The heatmap's shades, from no cost to the highest cell; each drawn twice for a square cell.
pub(crate) const SHADES: [char; 5] = [' ', '░', '▒', '▓', '█'];

/// The widest key column.
const KEY_WIDTH: usize = 36;

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn ts(t: Option<u64>) -> String {
    t.map_or_else(|| "-".to_owned(), time::rfc3339)
}

/// A key, escaped for a terminal, cut to `width` characters.
fn clip(key: &str, width: usize) -> String {
    let key = esc(key);
    if key.chars().count() <= width {
        key.into_owned()
    } else {
        let mut clipped: String = key.chars().take(width.saturating_sub(1)).collect();
        clipped.push('…');
        clipped
    }
}

/// The shade of a heatmap cell: 0 for no cost, else 1 to 4 by quarter of the highest cell.
pub(crate) fn shade(cell: Decimal, max: Decimal) -> usize {
    if cell <= Decimal::ZERO || max <= Decimal::ZERO {
        return 0;
    }
    // Checked: a cell near `Decimal::MAX` must not overflow (it would panic).
    let Some(quarters) = cell
        .checked_mul(Decimal::from(4))
        .and_then(|c| c.checked_div(max))
        .or_else(|| {
            cell.checked_div(max)
                .and_then(|c| c.checked_mul(Decimal::from(4)))
        })
        .map(|q| q.ceil())
    else {
        return 4;
    };
    usize::try_from(quarters.mantissa() / 10i128.pow(quarters.scale()))
        .unwrap_or(4)
        .clamp(1, 4)
}

fn table(
    out: &mut impl Write,
    title: &str,
    rows: &[(String, Bucket)],
    shown: std::ops::Range<usize>,
) -> io::Result<()> {
    let visible = &rows[shown.clone()];
    let width = visible
        .iter()
        .map(|(k, _)| esc(k).chars().count())
        .max()
        .unwrap_or(0)
        .clamp(title.len(), KEY_WIDTH);
    writeln!(
        out,
        "  {:<width$}  {:>8}  {:>16}  {:>12}  {:>12}",
        title, "calls", "cost", "input tok", "output tok"
    )?;
    for (key, b) in visible {
        let mut unpriced = if b.unpriced_calls > 0 && b.priced_calls > 0 {
            format!("  (+{} unpriced)", b.unpriced_calls)
        } else {
            String::new()
        };
        if b.rejected_calls > 0 {
            unpriced.push_str(&format!(
                "  ({} left out: cost not accepted)",
                plural(b.rejected_calls, "call", "calls")
            ));
        }
        writeln!(
            out,
            "  {:<width$}  {:>8}  {:>16}  {:>12}  {:>12}{unpriced}",
            clip(key, width),
            b.calls,
            cost(b),
            b.input_tokens,
            b.output_tokens
        )?;
    }
    let hidden = rows[..shown.start].iter().chain(&rows[shown.end..]);
    let (mut keys, mut calls, mut sum) = (0u64, 0u64, govops_core::money::ExactSum::default());
    for (_, b) in hidden {
        keys += 1;
        calls += b.calls;
        sum.add_sum(&b.cost);
    }
    if keys > 0 {
        writeln!(
            out,
            "  ... {keys} more: {}, {}",
            plural(calls, "call", "calls"),
            money(sum.value())
        )?;
    }
    Ok(())
}

/// Writes the text report, section by section; `top` keys per dimension (days: the last
/// `top.max(31)`).
pub(crate) fn write(out: &mut impl Write, summary: &Summary, top: usize) -> io::Result<()> {
    header(out, summary)?;
    writeln!(out)?;
    totals(out, summary)?;
    cost_problems(out, summary)?;
    waste(out, summary)?;
    for (dimension, rows) in &summary.by {
        by_dimension(out, *dimension, rows, top)?;
    }
    writeln!(out)?;
    trips(out, summary)?;
    writeln!(out)?;
    drift(out, summary)?;
    writeln!(out)?;
    failover(out, summary)?;
    writeln!(out)?;
    latency(out, summary, top)?;
    writeln!(out)?;
    heatmap(out, summary)
}

/// What was read: the files and calls, the window, when the calls ended, what was not counted.
fn header(out: &mut impl Write, summary: &Summary) -> io::Result<()> {
    let kinds = |kind: &str| summary.files.iter().filter(|f| f.kind() == kind).count() as u64;
    writeln!(
        out,
        "govops report: {} ({} audit, {} telemetry), {} ({} from audit logs, {} from telemetry)",
        plural(summary.files.len() as u64, "file", "files"),
        kinds("audit") + kinds("mixed"),
        kinds("telemetry") + kinds("mixed"),
        plural(summary.total.calls, "call", "calls"),
        summary.audit_calls,
        summary.telemetry_calls,
    )?;
    match (summary.since, summary.until) {
        (None, None) => {}
        (since, until) => writeln!(
            out,
            "window: from {} (inclusive) until {} (exclusive)",
            since.map_or_else(|| "the start".to_owned(), time::rfc3339),
            until.map_or_else(|| "the end".to_owned(), time::rfc3339)
        )?,
    }
    if summary.first.is_some() {
        writeln!(
            out,
            "calls ended from {} to {}",
            ts(summary.first),
            ts(summary.last)
        )?;
    }
    let s = &summary.skipped;
    let skipped: Vec<String> = [
        (
            s.open_close,
            "audit open/close record",
            "audit open/close records",
        ),
        (
            s.ungoverned_spans,
            "span not governed",
            "spans not governed",
        ),
        (
            s.duplicates,
            "duplicate (the audit record kept)",
            "duplicates (the audit records kept)",
        ),
        (
            s.outside_window,
            "call outside the window",
            "calls outside the window",
        ),
        (s.undated, "call without a time", "calls without a time"),
    ]
    .into_iter()
    .filter(|(n, _, _)| *n > 0)
    .map(|(n, one, many)| plural(n, one, many))
    .collect();
    if !skipped.is_empty() {
        writeln!(out, "not counted: {}", skipped.join(", "))?;
    }
    Ok(())
}

/// The total cost (and how exact it is), the tokens and the unpriced calls.
fn totals(out: &mut impl Write, summary: &Summary) -> io::Result<()> {
    let total = &summary.total;
    let basis = match (summary.audit_calls > 0, summary.telemetry_calls > 0) {
        (_, false) => "the exact sum of the audit records' decimal costs",
        (false, true) => "telemetry costs: as exact as the doubles they were written as",
        (true, true) => {
            "audit costs exact; telemetry costs as exact as the doubles they were written as"
        }
    };
    writeln!(
        out,
        "total cost    {}  ({basis}{})",
        money(total.cost_or_zero()),
        if summary.exact() {
            ""
        } else {
            "; ROUNDED: past 38 digits"
        }
    )?;
    writeln!(
        out,
        "tokens        {} input, {} output",
        total.input_tokens, total.output_tokens
    )?;
    if total.unpriced_calls > 0 {
        writeln!(
            out,
            "unpriced      {} (no cost, never counted as $0)",
            plural(total.unpriced_calls, "call", "calls")
        )?;
    }
    Ok(())
}

/// The calls whose cost is not accepted: how many, and the first ten by file and line.
fn cost_problems(out: &mut impl Write, summary: &Summary) -> io::Result<()> {
    let rejected = summary.total.rejected_calls;
    if rejected == 0 {
        return Ok(());
    }
    writeln!(
        out,
        "cost left out {} whose cost is not accepted, in no cost total (negative, not finite, not a number, above $1000000000000 or missing):",
        plural(rejected, "call", "calls")
    )?;
    for issue in summary.cost_problems.iter().take(10) {
        writeln!(
            out,
            "                {}: {} is {}",
            esc(&issue.at),
            match issue.problem {
                CostProblem::Missing => "the cost".into(),
                _ => esc(issue.problem.value()),
            },
            issue.problem.kind().replace('_', " ")
        )?;
    }
    if summary.cost_problems.len() > 10 {
        writeln!(
            out,
            "                and {} more (all of them are in --format json and csv)",
            summary.cost_problems.len() - 10
        )?;
    }
    Ok(())
}

/// The calls above the waste ratio, and their share of the cost.
fn waste(out: &mut impl Write, summary: &Summary) -> io::Result<()> {
    let whole = summary.total.cost_or_zero();
    let part = summary.waste.cost_or_zero();
    let share = match part
        .checked_mul(Decimal::from(100))
        .and_then(|p| p.checked_div(whole))
    {
        Some(percent) if whole > Decimal::ZERO => {
            format!(" ({}% of the cost)", percent.round_dp(1))
        }
        _ => String::new(),
    };
    writeln!(
        out,
        "waste         {}, {}{share} with input:output above {WASTE_RATIO}:1",
        plural(summary.waste.calls, "call", "calls"),
        money(part),
    )
}

/// The cost by one dimension: the top keys (days: the last ones), and what the rest sum to.
fn by_dimension(
    out: &mut impl Write,
    dimension: Dimension,
    rows: &[(String, Bucket)],
    top: usize,
) -> io::Result<()> {
    writeln!(out)?;
    writeln!(out, "cost by {}", dimension.title())?;
    if rows.is_empty() {
        return writeln!(out, "  (no calls)");
    }
    let shown = if dimension == Dimension::Day {
        rows.len().saturating_sub(top.max(31))..rows.len()
    } else {
        0..rows.len().min(top)
    };
    table(out, dimension.name(), rows, shown)
}

/// The guard trips by violation code.
fn trips(out: &mut impl Write, summary: &Summary) -> io::Result<()> {
    writeln!(out, "guard trips by code")?;
    if summary.trips.is_empty() {
        writeln!(out, "  (none)")?;
    }
    for (code, b) in &summary.trips {
        writeln!(
            out,
            "  {:<20}  {:>12}  {:>16}",
            esc(code),
            plural(b.calls, "call", "calls"),
            cost(b)
        )?;
    }
    Ok(())
}

/// The `model_drift` trips by model and provider, with the signals that moved.
fn drift(out: &mut impl Write, summary: &Summary) -> io::Result<()> {
    writeln!(out, "drift (model_drift trips)")?;
    if summary.drift.is_empty() {
        writeln!(out, "  (none)")?;
    }
    for row in &summary.drift {
        let score = row
            .max_score
            .map_or_else(String::new, |s| format!(", highest score {s:.2}"));
        writeln!(
            out,
            "  {} ({}): {}{score}, {} to {}",
            esc(&row.model),
            esc(&row.provider),
            plural(row.events, "trip", "trips"),
            ts(row.first),
            ts(row.last)
        )?;
        if !row.signals.is_empty() {
            let signals: Vec<String> = row
                .signals
                .iter()
                .map(|(s, n)| format!("{} ×{n}", esc(s)))
                .collect();
            writeln!(out, "    signals: {}", signals.join(", "))?;
        }
    }
    Ok(())
}

/// The failover events by kind, route and reason.
fn failover(out: &mut impl Write, summary: &Summary) -> io::Result<()> {
    writeln!(out, "failover events")?;
    if summary.failover.is_empty() {
        writeln!(out, "  (none)")?;
    }
    for row in &summary.failover {
        writeln!(
            out,
            "  {:<8} {} -> {} ({}): {}, {} to {}",
            esc(&row.kind),
            esc(&row.from),
            esc(&row.to),
            esc(&row.reason),
            plural(row.events, "event", "events"),
            ts(row.first),
            ts(row.last)
        )?;
    }
    Ok(())
}

/// The latency percentiles of the `top` models with the most calls.
fn latency(out: &mut impl Write, summary: &Summary, top: usize) -> io::Result<()> {
    writeln!(out, "latency by model (ms)")?;
    if summary.latency.is_empty() {
        return writeln!(out, "  (none)");
    }
    let width = summary
        .latency
        .iter()
        .map(|r| esc(&r.model).chars().count())
        .max()
        .unwrap_or(0)
        .clamp(5, KEY_WIDTH);
    writeln!(
        out,
        "  {:<width$}  {:>8}  {:>10}  {:>10}  {:>10}",
        "model", "calls", "p50", "p95", "max"
    )?;
    for row in summary.latency.iter().take(top) {
        writeln!(
            out,
            "  {:<width$}  {:>8}  {:>10.1}  {:>10.1}  {:>10.1}",
            clip(&row.model, width),
            row.calls,
            row.p50_ms,
            row.p95_ms,
            row.max_ms
        )?;
    }
    Ok(())
}

/// The heatmap: one row per weekday (Monday first), one double-width cell per UTC hour.
fn heatmap(out: &mut impl Write, summary: &Summary) -> io::Result<()> {
    writeln!(out, "cost heatmap: weekday by hour of day (UTC)")?;
    let mut header = String::from("       ");
    for hour in (0..24).step_by(3) {
        header.push_str(&format!("{hour:02}    "));
    }
    writeln!(out, "{}", header.trim_end())?;
    let max = summary.heatmap_max();
    for (weekday, hours) in WEEKDAYS.iter().zip(&summary.heatmap) {
        let mut line = format!("  {weekday}  ");
        for cell in hours {
            let c = SHADES[shade(cell.cost_or_zero(), max)];
            line.push(c);
            line.push(c);
        }
        writeln!(out, "{line}|")?;
    }
    writeln!(
        out,
        "  legend: '{}' $0, '{}' up to 25% of the highest hour, '{}' up to 50%, '{}' up to 75%, '{}' up to {} (the highest hour)",
        SHADES[0],
        SHADES[1],
        SHADES[2],
        SHADES[3],
        SHADES[4],
        money(max)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shades_are_quarters_of_the_highest_cell() {
        let d = |n: i64| Decimal::new(n, 2);
        assert_eq!(shade(d(0), d(100)), 0);
        assert_eq!(shade(d(1), d(100)), 1);
        assert_eq!(shade(d(25), d(100)), 1);
        assert_eq!(shade(d(26), d(100)), 2);
        assert_eq!(shade(d(75), d(100)), 3);
        assert_eq!(shade(d(76), d(100)), 4);
        assert_eq!(shade(d(100), d(100)), 4);
        assert_eq!(shade(d(5), d(0)), 0);
    }
}
