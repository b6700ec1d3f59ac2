//! `govops`: the command for CI pipelines and people.
//!
//! `govops check env` runs the same start-up validation as `govops::init()`, so that a pipeline can
//! block a deploy whose metadata is incomplete before it ever starts. `govops audit verify` checks
//! the hash chain of an audit log. `govops report` sums cost, waste, guard trips, drift and
//! failover over audit logs and telemetry files.
//!
//! This file only parses the command line and hands it to its subcommand: each subcommand is a
//! module of [`commands`] holding its arguments and what it does; what several of them use (the
//! one writer to the terminal, the accepted costs, the price table) is in [`shared`].

// Every write to stdout or stderr goes through `shared::out`, which survives a closed pipe.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod shared;

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use commands::{audit, check, cost, models, report};
use shared::out;

/// Governance for GenAI and agent workloads: checks for CI pipelines and people.
#[derive(Debug, Parser)]
#[command(
    name = "govops",
    version,
    about,
    after_help = "A subcommand whose reader closes stdout (`| head -0`) stops without a word and \
    exits 141, as a shell reports a command a closed pipe ended. Text from an input that reaches \
    the terminal has its control characters (ESC, C1, bidi overrides) written as \\u{..}."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Checks that a workload may start.
    Check {
        #[command(subcommand)]
        what: check::CheckCommand,
    },
    /// Prices one call exactly from the price table; exit 3 when the model is unpriced (never $0),
    /// 2 on contradictory usage. With --jsonl, prices one JSON request per stdin line.
    Cost(cost::CostArgs),
    /// Audit log tools.
    Audit {
        #[command(subcommand)]
        what: audit::AuditCommand,
    },
    /// Reports cost, waste, guard trips, drift, failover and the hourly cost heatmap over audit
    /// logs and JSON-lines telemetry files. Exit 0, or 2 when a file cannot be read, a line is
    /// neither an audit record nor an OTLP-JSON export request (named by file and line), or a flag
    /// is wrong.
    #[command(
        after_help = "Audit costs are exact decimals and sum exactly; telemetry costs are \
        doubles, read from their JSON text, so their totals are as exact as the doubles. A call \
        found in both an audit log and a telemetry file (same trace and span id) counts once, \
        from the audit log. Audit open/close records and spans that are not governed are skipped. \
        A cost that is negative, not finite, not a number or above $1000000000000 is named (file and \
        line, on stderr and in the report) and left out of every cost total: each total counts \
        those calls (rejected_cost_calls). Lines are read up to 64 MiB each."
    )]
    Report(report::ReportArgs),
    /// Lists the models the price table prices.
    Models(models::ModelsArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage(&error),
    };
    match cli.command {
        Command::Check { what } => check::run(what),
        Command::Cost(args) => cost::run(&args),
        Command::Audit { what } => audit::run(what),
        Command::Report(args) => report::run(&args),
        Command::Models(args) => models::run(&args),
    }
}

/// A command line clap refused, or `--help` and `--version`: through the one writer (a closed
/// stdout ends quietly), plain text, and an argument it quotes escaped like any other input (clap
/// strips ESC sequences but not an 8-bit CSI).
fn usage(error: &clap::Error) -> ExitCode {
    use std::io::Write as _;
    let code = ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2));
    let text = error.render().to_string();
    if error.use_stderr() {
        out::err!("{}", out::esc_lines(text.trim_end()));
        code
    } else {
        let mut stdout = out::stdout();
        let written = write!(stdout, "{text}");
        out::finish(&mut stdout, written, code)
    }
}
