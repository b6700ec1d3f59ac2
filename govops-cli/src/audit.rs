//! `govops audit verify FILE...`: checks the hash chain of an audit log (`GOVOPS_AUDIT_LOG` and
//! its rotated files) and names the first modified, inserted, deleted or reordered record by file
//! and line.

use std::path::PathBuf;
use std::process::ExitCode;

use govops_core::audit::{self, GENESIS, Report, Start};

use crate::Format;

const TAMPERED: u8 = 1;
const BAD_INPUT: u8 = 2;

/// Runs the verification and prints the report; the exit code is 0 when the chain is intact (an
/// incomplete last line and an unclean stop, a writer that crashed and was followed by another,
/// are warnings: not tampering, and a chain cannot be repaired, so a failure would stay forever),
/// 1 when a record was tampered with, 2 when a file cannot be read or is not an audit log. `partial`: the chain begins at the first file's `open` record.
pub(crate) fn verify(files: &[PathBuf], format: Format, partial: bool) -> ExitCode {
    let start = if partial {
        Start::FirstRecord
    } else {
        Start::Genesis
    };
    let report = match audit::verify_from(files, start) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("govops audit verify: {error}");
            return ExitCode::from(BAD_INPUT);
        }
    };
    match format {
        Format::Json => match serde_json::to_string_pretty(&report) {
            Ok(json) => println!("{json}"),
            Err(error) => {
                eprintln!("govops audit verify: cannot encode the report as JSON: {error}");
                return ExitCode::from(BAD_INPUT);
            }
        },
        Format::Text => print_text(&report),
    }
    if report.is_intact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(TAMPERED)
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn print_text(report: &Report) {
    for truncated in &report.truncated {
        println!("warning: {truncated}");
    }
    for stop in &report.unclean_stops {
        println!("warning: {stop}");
    }
    let files = plural(report.files.len() as u64, "file", "files");
    if let Some(problem) = &report.problem {
        println!("{problem}");
        println!(
            "FAILED: the chain is broken at {}:{} ({}); {} before it are intact ({files} given)",
            problem.file.display(),
            problem.line,
            problem.kind,
            plural(report.records, "record", "records"),
        );
        return;
    }
    let stops = match report.unclean_stops.len() as u64 {
        0 => String::new(),
        n => format!(
            ", with {} (see the warnings)",
            plural(n, "unclean stop", "unclean stops")
        ),
    };
    println!(
        "ok: {}, chain intact across {files}{stops}",
        plural(report.records, "record", "records")
    );
    if let (Some(seq), Some(prev)) = (report.first_seq, &report.first_prev)
        && prev != GENESIS
    {
        println!(
            "first record: seq {seq}, chained to hash {prev}: the {} before it were not checked (compare that hash with one kept from an earlier verification)",
            plural(seq, "record", "records")
        );
    }
    for file in report.files.iter().filter(|f| f.records == 0) {
        println!("note: {} holds no complete record", file.path.display());
    }
    if let (Some(seq), Some(hash)) = (report.last_seq, &report.last_hash) {
        println!(
            "last record: seq {seq}, hash {hash}{}",
            if report.closed { " (close)" } else { "" }
        );
    }
    if !report.closed && report.records > 0 {
        println!(
            "note: the log does not end with a close record: its writer is still running or stopped without shutting down (or records were removed from its end: compare the last hash with one kept elsewhere)"
        );
    }
}
