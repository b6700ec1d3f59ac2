//! `govops`: the command for CI pipelines and people.
//!
//! `govops check env` runs the same start-up validation as `govops::init()`, so that a pipeline can
//! block a deploy whose metadata is incomplete before it ever starts. `govops audit verify` checks
//! the hash chain of an audit log. `govops report` sums cost, waste, guard trips, drift and
//! failover over audit logs and telemetry files.

// Every write to stdout or stderr goes through `out`, which survives a closed pipe.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod out;

mod amount;
mod audit;
mod check;
mod cost;
mod policy;
mod report;
mod telemetry;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

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
        what: CheckCommand,
    },
    /// Prices one call exactly from the price table; exit 3 when the model is unpriced (never $0),
    /// 2 on contradictory usage. With --jsonl, prices one JSON request per stdin line.
    Cost(CostArgs),
    /// Audit log tools.
    Audit {
        #[command(subcommand)]
        what: AuditCommand,
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
    Report(ReportArgs),
    /// Lists the models the price table prices.
    Models {
        /// A price table instead of GOVOPS_PRICE_TABLE or the embedded one.
        #[arg(long, value_name = "FILE")]
        price_table: Option<std::path::PathBuf>,
        /// The list's format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Debug, clap::Args)]
struct CostArgs {
    /// The model, as the price table keys it (or provider/model).
    #[arg(long, required_unless_present = "jsonl", conflicts_with = "jsonl")]
    model: Option<String>,
    /// All input tokens, cached ones included.
    #[arg(long, value_name = "N", required_unless_present = "jsonl")]
    input_tokens: Option<u64>,
    /// All output tokens, reasoning included.
    #[arg(long, value_name = "N", required_unless_present = "jsonl")]
    output_tokens: Option<u64>,
    /// Input tokens read from the cache.
    #[arg(long, value_name = "N", default_value_t = 0)]
    cache_read_tokens: u64,
    /// Input tokens written to the 5-minute cache.
    #[arg(long, value_name = "N", default_value_t = 0)]
    cache_creation_tokens: u64,
    /// Input tokens written to the 1-hour cache.
    #[arg(
        long = "cache-creation-1h-tokens",
        value_name = "N",
        default_value_t = 0
    )]
    cache_creation_1h_tokens: u64,
    /// Output tokens spent on reasoning.
    #[arg(long, value_name = "N", default_value_t = 0)]
    reasoning_tokens: u64,
    /// standard, batch, flex or priority.
    #[arg(long, value_name = "T", default_value = "standard")]
    service_tier: govops_core::ServiceTier,
    /// The provider, for `provider/model` keys.
    #[arg(long, value_name = "P")]
    provider: Option<String>,
    /// A price table instead of GOVOPS_PRICE_TABLE or the embedded one.
    #[arg(long, value_name = "FILE")]
    price_table: Option<std::path::PathBuf>,
    /// The result's format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Read one JSON request per line from stdin; write one JSON result per line.
    #[arg(long)]
    jsonl: bool,
}

#[derive(Debug, clap::Args)]
struct ReportArgs {
    /// Audit logs (GOVOPS_AUDIT_LOG and its rotated files) and JSON-lines telemetry files
    /// (GOVOPS_TELEMETRY_FILE), in any mix.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<std::path::PathBuf>,
    /// text (for people, the default), json or csv.
    #[arg(long, value_enum)]
    format: Option<report::ReportFormat>,
    /// Only calls that ended at or after this instant (inclusive): YYYY-MM-DD (midnight UTC) or
    /// RFC 3339 (2026-03-02T09:00:00Z, 2026-03-02T10:00:00+01:00).
    #[arg(long, value_name = "WHEN", value_parser = report::time::parse_bound)]
    since: Option<u64>,
    /// Only calls that ended before this instant (exclusive): YYYY-MM-DD (midnight UTC) or
    /// RFC 3339. `--since 2026-03-02 --until 2026-03-03` is that one day.
    #[arg(long, value_name = "WHEN", value_parser = report::time::parse_bound)]
    until: Option<u64>,
    /// Also write the report as one self-contained HTML page (inline SVG charts: the heatmap,
    /// cost over time, top sessions and users, guard trips, latency per model; drift and failover
    /// tables). Without --format, stdout then gets one line naming the page.
    #[arg(long, value_name = "OUT.html")]
    html: Option<std::path::PathBuf>,
    /// How many keys per dimension the text report and the page list (all are in json and csv).
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Verifies the hash chain of an audit log (GOVOPS_AUDIT_LOG and its rotated files, in any
    /// order: `govops audit verify audit.jsonl*`). Exit 0 when the chain is intact, 1 naming the
    /// first modified, inserted, deleted or reordered record by file and line, 2 when a file cannot
    /// be read or is not an audit log. An incomplete last line of a file (a crash during a write)
    /// is a warning naming the file and line, and alone exits 0.
    #[command(
        after_help = "Removing records from the very end of a log cannot be told from a \
        shorter log by a chain alone: the report gives the last record's hash, to keep elsewhere \
        and compare; it also says whether the log ends with a clean `close` record."
    )]
    Verify {
        /// The log's files: the active file and its rotated `FILE.SEQ` files.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<std::path::PathBuf>,
        /// The report's format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Checks the recent files of a log whose older files were archived or removed: the chain
        /// begins at the first file's `open` record instead of seq 0. The report gives the hash
        /// that record chains to, to compare with a last hash kept from an earlier verification.
        #[arg(long)]
        partial: bool,
    },
}

#[derive(Debug, Subcommand)]
enum CheckCommand {
    /// Validates the start-up metadata as `govops::init()` does: exit 0 when complete, 1 with the
    /// report of every gap, 2 when the input cannot be read.
    Env {
        /// A dotenv file to check instead of the current environment.
        #[arg(long, value_name = "FILE")]
        env_file: Option<std::path::PathBuf>,
        /// The report's format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Validates a JSON-lines telemetry file against the contract: exit 0 when every governed
    /// span is complete and typed and no attribute holds a credential, 1 with each failing span
    /// named, 2 when the file cannot be read.
    Telemetry {
        /// The telemetry file (the govops JSON-lines sink).
        file: std::path::PathBuf,
        /// The report's format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Validates a policy and runs recorded or hand-written calls through it: exit 0 when the
    /// policy is valid and every case decides as expected, 1 otherwise, 2 when an input cannot
    /// be read.
    Policy {
        /// The TOML policy file.
        #[arg(long, value_name = "FILE")]
        policy: std::path::PathBuf,
        /// Calls to decide, one JSON object per line, each with the decision it expects.
        #[arg(long, value_name = "FILE.jsonl")]
        cases: Option<std::path::PathBuf>,
        /// A price table instead of GOVOPS_PRICE_TABLE or the embedded one.
        #[arg(long, value_name = "FILE")]
        price_table: Option<std::path::PathBuf>,
        /// The report's format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

/// How a report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// For people.
    Text,
    /// For pipelines.
    Json,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage(&error),
    };
    match cli.command {
        Command::Check {
            what: CheckCommand::Env { env_file, format },
        } => check::env(env_file.as_deref(), format),
        Command::Check {
            what: CheckCommand::Telemetry { file, format },
        } => telemetry::check(&file, format),
        Command::Check {
            what:
                CheckCommand::Policy {
                    policy,
                    cases,
                    price_table,
                    format,
                },
        } => match cost::table(price_table.as_deref()) {
            Ok(table) => policy::check(&policy, cases.as_deref(), &table, format),
            Err(code) => code,
        },
        Command::Audit {
            what:
                AuditCommand::Verify {
                    files,
                    format,
                    partial,
                },
        } => audit::verify(&files, format, partial),
        Command::Cost(args) => cost_command(args),
        Command::Report(args) => report::run(&report::Request {
            files: args.files,
            format: args.format,
            since: args.since,
            until: args.until,
            html: args.html,
            top: args.top,
        }),
        Command::Models {
            price_table,
            format,
        } => match cost::table(price_table.as_deref()) {
            Ok(table) => cost::models(&table, format),
            Err(code) => code,
        },
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

fn cost_command(args: CostArgs) -> ExitCode {
    let table = match cost::table(args.price_table.as_deref()) {
        Ok(table) => table,
        Err(code) => return code,
    };
    if args.jsonl {
        return cost::jsonl(&table);
    }
    let call = cost::Call {
        model: args.model.as_deref().unwrap_or_default(),
        provider: args.provider.as_deref(),
        usage: govops_core::Usage {
            input: args.input_tokens.unwrap_or_default(),
            output: args.output_tokens.unwrap_or_default(),
            cache_read: args.cache_read_tokens,
            cache_creation: args.cache_creation_tokens,
            cache_creation_1h: args.cache_creation_1h_tokens,
            reasoning: args.reasoning_tokens,
        },
        tier: args.service_tier,
    };
    cost::one(&table, &call, args.format)
}
