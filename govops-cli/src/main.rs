//! `govops`: the command for CI pipelines and people.
//!
//! `govops check env` runs the same start-up validation as `govops::init()`, so that a pipeline can
//! block a deploy whose metadata is incomplete before it ever starts.

// A command's output is its product: printing to stdout is the point here.
#![allow(clippy::print_stdout)]

mod check;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Governance for GenAI and agent workloads: checks for CI pipelines and people.
#[derive(Debug, Parser)]
#[command(name = "govops", version, about)]
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
    let cli = Cli::parse();
    match cli.command {
        Command::Check {
            what: CheckCommand::Env { env_file, format },
        } => check::env(env_file.as_deref(), format),
    }
}
