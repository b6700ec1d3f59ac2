//! The rules of the variables that name files: the policy and the price table are read and
//! parsed; the telemetry file and the audit log must be writable, without being created.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::PolicyRef;
use super::rules::{Rule, shown};
use crate::gap::GapKind;
use crate::policy::Policy;
use crate::prices::PriceTable;

pub(crate) const POLICY_ACCEPTED: &str = "the path of a readable TOML policy file (guards, capture, per-environment allow-lists and budgets)";
pub(crate) const PRICE_TABLE_ACCEPTED: &str =
    "the path of a readable JSON price table in the format of model_prices_and_context_window.json";
pub(crate) const WRITABLE_FILE_ACCEPTED: &str =
    "the path of a file that can be appended to, in a directory that exists";
fn read_file(path: &str, limit: u64) -> Rule<Vec<u8>> {
    crate::input::read_bounded(Path::new(path), limit).map_err(|e| {
        (
            GapKind::Unreadable,
            format!("{} {}", shown(path), e.reason()),
        )
    })
}

pub(super) fn policy_rule(path: &str, prices: &PriceTable) -> Rule<(PolicyRef, Arc<Policy>)> {
    const SHOWN: usize = 10;
    let content = read_file(path, crate::input::POLICY_MAX)?;
    let name = Path::new(path)
        .file_name()
        .map_or_else(|| path.to_owned(), |n| n.to_string_lossy().into_owned());
    let digest = Sha256::digest(&content);
    let sha256 = digest.iter().map(|b| format!("{b:02x}")).collect();
    let Ok(text) = String::from_utf8(content) else {
        return Err((
            GapKind::Unparseable,
            format!("{} is not UTF-8 text", shown(path)),
        ));
    };
    let dir = Path::new(path).parent();
    let rules = Policy::parse_in(&text, prices, dir).map_err(|problems| {
        let mut listed: Vec<String> = problems
            .iter()
            .take(SHOWN)
            .map(|p| match p.line {
                Some(line) => format!("{name}:{line}: {}", p.problem),
                None => format!("{name}: {}", p.problem),
            })
            .collect();
        if problems.len() > SHOWN {
            listed.push(format!("and {} more", problems.len() - SHOWN));
        }
        (
            GapKind::Unparseable,
            format!(
                "{} is not a valid policy: {}",
                shown(path),
                listed.join("; ")
            ),
        )
    })?;
    Ok((
        PolicyRef {
            path: PathBuf::from(path),
            name,
            sha256,
        },
        Arc::new(rules),
    ))
}

pub(super) fn price_table_rule(path: &str) -> Rule<(PathBuf, Arc<PriceTable>)> {
    const SHOWN: usize = 10;
    let content = read_file(path, crate::input::PRICE_TABLE_MAX)?;
    let Ok(text) = String::from_utf8(content) else {
        return Err((
            GapKind::Unparseable,
            format!("{} is not UTF-8 text", shown(path)),
        ));
    };
    match PriceTable::parse(&text) {
        Ok(table) => Ok((PathBuf::from(path), Arc::new(table))),
        Err(problems) => {
            let mut listed: Vec<String> = problems
                .iter()
                .take(SHOWN)
                .map(ToString::to_string)
                .collect();
            if problems.len() > SHOWN {
                listed.push(format!("and {} more", problems.len() - SHOWN));
            }
            Err((
                GapKind::Unparseable,
                format!(
                    "{} is not a valid price table: {}",
                    shown(path),
                    listed.join("; ")
                ),
            ))
        }
    }
}

/// The audit log: a regular file (or a new one), never a FIFO, socket or device: the hash-chained
/// log must be kept, and `/dev/null` would keep nothing while start-up said all was well.
pub(super) fn audit_log_rule(path: &str) -> Rule<PathBuf> {
    if let Ok(meta) = fs::metadata(path) {
        let kind = meta.file_type();
        if !kind.is_file() && !kind.is_dir() {
            #[cfg(unix)]
            let what = if std::os::unix::fs::FileTypeExt::is_fifo(&kind) {
                "a FIFO"
            } else if std::os::unix::fs::FileTypeExt::is_socket(&kind) {
                "a socket"
            } else {
                "a device"
            };
            #[cfg(not(unix))]
            let what = "not a regular file";
            return Err((
                GapKind::Unreadable,
                format!("{} is {what}; only a regular file is accepted", shown(path)),
            ));
        }
    }
    writable_rule(path)
}

/// A path the process will append to: an existing file it can open, or a new one in an existing
/// directory. Nothing is created here, so a check has no side effects.
pub(super) fn writable_rule(path: &str) -> Rule<PathBuf> {
    let as_path = Path::new(path);
    if as_path.is_dir() {
        return Err((
            GapKind::Unreadable,
            format!("{} is a directory, not a file", shown(path)),
        ));
    }
    if as_path.exists() {
        let mut options = fs::OpenOptions::new();
        options.append(true);
        // A FIFO with no reader would block start-up until one came: refused at once instead.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
        return options
            .open(as_path)
            .map(|_| as_path.to_path_buf())
            .map_err(|e| {
                (
                    GapKind::Unreadable,
                    format!("{} cannot be opened for appending: {e}", shown(path)),
                )
            });
    }
    let parent = match as_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if parent.is_dir() {
        Ok(as_path.to_path_buf())
    } else {
        Err((
            GapKind::Unreadable,
            format!(
                "{} cannot be created: its directory {} does not exist",
                shown(path),
                shown(&parent.to_string_lossy())
            ),
        ))
    }
}
