//! `govops audit verify FILE...`: checks the hash chain of an audit log (`GOVOPS_AUDIT_LOG` and
//! its rotated files) and names the first modified, inserted, deleted or reordered record by file
//! and line.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use govops_core::audit::{self, GENESIS, Report, Start};

use crate::shared::out::{self, Format, err, esc};

const TAMPERED: u8 = 1;
const BAD_INPUT: u8 = 2;

/// The tools of `govops audit`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum AuditCommand {
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
        files: Vec<PathBuf>,
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

/// Runs the audit tool asked for.
pub(crate) fn run(command: AuditCommand) -> ExitCode {
    match command {
        AuditCommand::Verify {
            files,
            format,
            partial,
        } => verify(&files, format, partial),
    }
}

/// Runs the verification and prints the report; the exit code is 0 when the chain is intact (an
/// incomplete last line and an unclean stop, a writer that crashed and was followed by another,
/// are warnings: not tampering, and a chain cannot be repaired, so a failure would stay forever),
/// 1 when a record was tampered with, 2 when a file cannot be read or is not an audit log. `partial`: the chain begins at the first file's `open` record.
fn verify(files: &[PathBuf], format: Format, partial: bool) -> ExitCode {
    let start = if partial {
        Start::FirstRecord
    } else {
        Start::Genesis
    };
    let report = match audit::verify_from(files, start) {
        Ok(report) => report,
        Err(error) => {
            err!("govops audit verify: {}", esc(&error.to_string()));
            return ExitCode::from(BAD_INPUT);
        }
    };
    let mut stdout = out::stdout();
    let written = match format {
        Format::Json => out::json(&mut stdout, &report, true),
        Format::Text => write_text(&mut stdout, &report),
    };
    let code = if report.is_intact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(TAMPERED)
    };
    out::finish(&mut stdout, written, code)
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn write_text(out: &mut impl Write, report: &Report) -> io::Result<()> {
    for truncated in &report.truncated {
        writeln!(out, "warning: {}", esc(&truncated.to_string()))?;
    }
    for stop in &report.unclean_stops {
        writeln!(out, "warning: {}", esc(&stop.to_string()))?;
    }
    let files = plural(report.files.len() as u64, "file", "files");
    if let Some(problem) = &report.problem {
        writeln!(out, "{}", esc(&problem.to_string()))?;
        return writeln!(
            out,
            "FAILED: the chain is broken at {}:{} ({}); {} before it are intact ({files} given)",
            esc(&problem.file.display().to_string()),
            problem.line,
            esc(&problem.kind.to_string()),
            plural(report.records, "record", "records"),
        );
    }
    let stops = match report.unclean_stops.len() as u64 {
        0 => String::new(),
        n => format!(
            ", with {} (see the warnings)",
            plural(n, "unclean stop", "unclean stops")
        ),
    };
    writeln!(
        out,
        "ok: {}, chain intact across {files}{stops}",
        plural(report.records, "record", "records")
    )?;
    if let (Some(seq), Some(prev)) = (report.first_seq, &report.first_prev)
        && prev != GENESIS
    {
        writeln!(
            out,
            "first record: seq {seq}, chained to hash {}: the {} before it were not checked (compare that hash with one kept from an earlier verification)",
            esc(prev),
            plural(seq, "record", "records")
        )?;
    }
    for file in report.files.iter().filter(|f| f.records == 0) {
        writeln!(
            out,
            "note: {} holds no complete record",
            esc(&file.path.display().to_string())
        )?;
    }
    if let (Some(seq), Some(hash)) = (report.last_seq, &report.last_hash) {
        writeln!(
            out,
            "last record: seq {seq}, hash {}{}",
            esc(hash),
            if report.closed { " (close)" } else { "" }
        )?;
    }
    if !report.closed && report.records > 0 {
        writeln!(
            out,
            "note: the log does not end with a close record: its writer is still running or stopped without shutting down (or records were removed from its end: compare the last hash with one kept elsewhere)"
        )?;
    }
    Ok(())
}
