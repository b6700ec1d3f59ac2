//! `govops report FILE...`: cost by model, provider, session, user, cost center and day; waste;
//! guard trips by code; drift and failover events; latency per model; the hourly cost heatmap.
//! Over audit logs (exact decimal costs) and JSON-lines telemetry (costs as exact as the doubles
//! they were written as), in any mix: each line is told apart by its keys.
//!
//! The files are read into calls ([`input`]), the calls summed into the report's figures once
//! ([`summary`]), and the figures written in the format asked: [`text`], [`json`], [`csv`] or the
//! [`html`] page.

mod csv;
mod html;
mod input;
mod json;
mod summary;
mod text;
mod time;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;

use crate::shared::out::{self, err, esc};
use input::Input;
use summary::Summary;

const BAD_INPUT: u8 = 2;

/// How the report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ReportFormat {
    /// For people: tables and the heatmap drawn in the terminal.
    Text,
    /// For pipelines: one JSON object with stable snake_case keys.
    Json,
    /// For spreadsheets: one row per (dimension, key).
    Csv,
}

/// What `govops report` is asked: the files, the window, the formats.
#[derive(Debug, clap::Args)]
pub(crate) struct ReportArgs {
    /// Audit logs (GOVOPS_AUDIT_LOG and its rotated files) and JSON-lines telemetry files
    /// (GOVOPS_TELEMETRY_FILE), in any mix.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// text (for people, the default), json or csv.
    #[arg(long, value_enum)]
    format: Option<ReportFormat>,
    /// Only calls that ended at or after this instant (inclusive): YYYY-MM-DD (midnight UTC) or
    /// RFC 3339 (2026-03-02T09:00:00Z, 2026-03-02T10:00:00+01:00).
    #[arg(long, value_name = "WHEN", value_parser = time::parse_bound)]
    since: Option<u64>,
    /// Only calls that ended before this instant (exclusive): YYYY-MM-DD (midnight UTC) or
    /// RFC 3339. `--since 2026-03-02 --until 2026-03-03` is that one day.
    #[arg(long, value_name = "WHEN", value_parser = time::parse_bound)]
    until: Option<u64>,
    /// Also write the report as one self-contained HTML page (inline SVG charts: the heatmap,
    /// cost over time, top sessions and users, guard trips, latency per model; drift and failover
    /// tables). Without --format, stdout then gets one line naming the page.
    #[arg(long, value_name = "OUT.html")]
    html: Option<PathBuf>,
    /// How many keys per dimension the text report and the page list (all are in json and csv).
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,
}

/// Reads the files, prints the report and writes the page: exit 0, or 2 when a file cannot be
/// read, a line is neither an audit record nor an OTLP-JSON export request, the window is empty
/// or the page cannot be written.
pub(crate) fn run(args: &ReportArgs) -> ExitCode {
    if let (Some(since), Some(until)) = (args.since, args.until)
        && since >= until
    {
        err!(
            "govops report: --since ({}) is not before --until ({}): no instant is in the window; --since is inclusive, --until exclusive",
            time::rfc3339(since),
            time::rfc3339(until)
        );
        return ExitCode::from(BAD_INPUT);
    }
    let input = match Input::read(&args.files) {
        Ok(input) => input,
        Err(error) => {
            err!("govops report: {}", esc(&error.to_string()));
            return ExitCode::from(BAD_INPUT);
        }
    };
    let summary = Summary::new(input, args.since, args.until);
    warn(&summary);
    if let Some(path) = &args.html {
        let page = html::page(&summary, args.top);
        if let Err(error) = std::fs::write(path, page) {
            err!(
                "govops report: cannot write the page {}: {error}",
                esc(&path.display().to_string())
            );
            return ExitCode::from(BAD_INPUT);
        }
    }
    let mut out = out::stdout();
    let written = match (args.format, &args.html) {
        (None, Some(path)) => writeln!(
            out,
            "wrote {}: {} call{}, ${}",
            esc(&path.display().to_string()),
            summary.total.calls,
            if summary.total.calls == 1 { "" } else { "s" },
            summary.total.cost_or_zero().normalize()
        ),
        (None | Some(ReportFormat::Text), _) => text::write(&mut out, &summary, args.top),
        (Some(ReportFormat::Json), _) => json::write(&mut out, &summary),
        (Some(ReportFormat::Csv), _) => csv::write(&mut out, &summary),
    };
    out::finish(&mut out, written, ExitCode::SUCCESS)
}

/// The warnings, on stderr whatever the format: files given twice, incomplete last lines, and
/// (the first ten) costs left out of the totals, where a pipeline's log shows them.
fn warn(summary: &Summary) {
    for warning in &summary.warnings {
        err!("govops report: warning: {}", esc(warning));
    }
    for issue in summary.cost_problems.iter().take(10) {
        err!(
            "govops report: warning: {}: left out of every cost total",
            esc(&issue.to_string())
        );
    }
    if summary.cost_problems.len() > 10 {
        err!(
            "govops report: warning: and {} more calls whose cost is not accepted (all in --format json and csv)",
            summary.cost_problems.len() - 10
        );
    }
}
