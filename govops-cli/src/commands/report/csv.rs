//! `--format csv`: the report for spreadsheets, one row per (dimension, key). The columns are
//! documented in docs/cli.md (`govops report`) and are stable, as the JSON keys are.

use std::borrow::Cow;
use std::io::{self, Write};

use super::summary::{Bucket, Summary, WASTE_RATIO};
use super::time::WEEKDAYS;
use crate::shared::out;

/// A CSV text cell: control characters escaped (as in the terminal), a cell a spreadsheet would
/// run as a formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) prefixed with
/// a single quote (OWASP's CSV injection advice), and quoted when it must be (RFC 4180; also at a
/// `;`, the separator of some locales, so no cell can start after one).
///
/// Only text from the input (keys, file names) passes here. The number columns are written from
/// counts and from costs that are never negative (a negative cost is rejected when read), so they
/// hold only digits and a point: left as numbers, never prefixed, so that a spreadsheet sums them.
fn field(text: &str) -> Cow<'_, str> {
    let text = out::esc(text);
    let formula = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let text: Cow<'_, str> = if formula {
        format!("'{text}").into()
    } else {
        text
    };
    if text.contains([',', '"', '\n', '\r', ';']) || formula {
        format!("\"{}\"", text.replace('"', "\"\"")).into()
    } else {
        text
    }
}

/// The CSV columns.
const CSV_HEADER: &str = "dimension,key,calls,cost_usd,priced_calls,unpriced_calls,input_tokens,output_tokens,rejected_cost_calls";

/// One row per (dimension, key): `total`, each `by_*` dimension, `waste`, `violation` (per
/// code), `heatmap` (per `weekday HH` cell, all 168) and `cost_problem` (per call whose cost is
/// not accepted: the key is `FILE:LINE: why`). An empty `cost_usd` is a key whose calls are all
/// unpriced or have a cost that is not accepted; `rejected_cost_calls` counts the latter.
pub(crate) fn write(out: &mut impl Write, summary: &Summary) -> io::Result<()> {
    writeln!(out, "{CSV_HEADER}")?;
    let mut row = |dimension: &str, key: &str, b: &Bucket| {
        writeln!(
            out,
            "{dimension},{},{},{},{},{},{},{},{}",
            field(key),
            b.calls,
            b.cost_usd().map(|d| d.to_string()).unwrap_or_default(),
            b.priced_calls,
            b.unpriced_calls,
            b.input_tokens,
            b.output_tokens,
            b.rejected_calls
        )
    };
    row("total", "all", &summary.total)?;
    for (dimension, rows) in &summary.by {
        for (key, bucket) in rows {
            row(dimension.name(), key, bucket)?;
        }
    }
    row(
        "waste",
        &format!("input_output_above_{WASTE_RATIO}"),
        &summary.waste,
    )?;
    for (code, bucket) in &summary.trips {
        row("violation", code, bucket)?;
    }
    for (weekday, hours) in WEEKDAYS.iter().zip(&summary.heatmap) {
        for (hour, bucket) in hours.iter().enumerate() {
            row("heatmap", &format!("{weekday} {hour:02}"), bucket)?;
        }
    }
    let rejected = Bucket {
        calls: 1,
        rejected_calls: 1,
        ..Bucket::default()
    };
    for issue in &summary.cost_problems {
        row(
            "cost_problem",
            &format!(
                "{}: {} is {}",
                issue.at,
                issue.problem.value(),
                issue.problem.kind()
            ),
            &rejected,
        )?;
    }
    Ok(())
}
