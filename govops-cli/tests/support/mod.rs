//! What the CLI's audit and report tests share: the binary, and logs written by the real writer.
#![allow(dead_code, clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use govops_core::audit::{AuditLog, AuditOptions, AuditRecord, ConfigFingerprint};

/// Runs `govops` with `args` and an empty environment.
pub fn govops(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_govops"))
        .args(args)
        .env_clear()
        .output()
        .unwrap()
}

/// A log of `calls` records made by `call`, written by the real writer at `dir/audit.jsonl` under
/// `fingerprint`, rotated at `rotate` bytes when given; its files in name order (as a shell's
/// `audit.jsonl*` lists them).
pub fn write_log(
    dir: &Path,
    calls: u64,
    rotate: Option<u64>,
    fingerprint: ConfigFingerprint,
    call: impl Fn(u64) -> AuditRecord,
) -> Vec<PathBuf> {
    let log = AuditLog::open(
        dir.join("audit.jsonl"),
        AuditOptions {
            rotate_bytes: rotate,
            fingerprint: Some(fingerprint),
            ..AuditOptions::default()
        },
    )
    .unwrap();
    for i in 0..calls {
        log.append(call(i)).unwrap();
    }
    log.shutdown().unwrap();
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("audit.jsonl")
        })
        .collect();
    files.sort();
    files
}
