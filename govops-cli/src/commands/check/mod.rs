//! `govops check`: the checks a pipeline runs before a workload may start, one module each.

mod env;
mod policy;
mod telemetry;

use std::process::ExitCode;

use clap::Subcommand;

use crate::shared::out::Format;
use crate::shared::prices;

/// The checks of `govops check`.
#[derive(Debug, Subcommand)]
pub(crate) enum CheckCommand {
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

/// Runs the check asked for.
pub(crate) fn run(command: CheckCommand) -> ExitCode {
    match command {
        CheckCommand::Env { env_file, format } => env::check(env_file.as_deref(), format),
        CheckCommand::Telemetry { file, format } => telemetry::check(&file, format),
        CheckCommand::Policy {
            policy,
            cases,
            price_table,
            format,
        } => match prices::table(price_table.as_deref()) {
            Ok(table) => policy::check(&policy, cases.as_deref(), &table, format),
            Err(code) => code,
        },
    }
}
