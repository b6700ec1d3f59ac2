//! The log's files on disk: opened locked, replaced atomically on rotation.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;

use super::error::AuditError;

/// Renames `from` to `to`, refusing to replace a file already there.
pub(super) fn rename_new(from: &Path, to: &Path) -> Result<(), AuditError> {
    let err = |source| AuditError::Rotate {
        path: from.to_owned(),
        to: to.to_owned(),
        source,
    };
    if to.exists() {
        return Err(err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "a file of that name exists",
        )));
    }
    fs::rename(from, to).map_err(err)
}

/// Opens the log's active file for appending, locked: an exclusive advisory lock on the file
/// itself (not on a lock file beside it, which anyone could delete while the writer runs), held
/// until the file is closed. Where the file system cannot lock, the file is returned unlocked.
///
/// A writer rotating the log puts a fresh locked file at `path` (see [`replace_active`]): the file
/// opened here may be the one it just moved away, which is free once it moved on. So the lock is
/// only taken as the log's when the locked file is still the one at `path`.
pub(super) fn lock_open(path: &Path) -> Result<File, AuditError> {
    for _ in 0..16 {
        let file = open_append(path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(in_use(path)),
            Err(fs::TryLockError::Error(e)) if e.kind() == io::ErrorKind::Unsupported => {
                return Ok(file);
            }
            Err(fs::TryLockError::Error(source)) => {
                return Err(AuditError::Open {
                    path: path.to_owned(),
                    source,
                });
            }
        }
        if is_at(&file, path) {
            return Ok(file);
        }
    }
    // Rotated away under it every time: another writer is busy with the log.
    Err(in_use(path))
}

fn in_use(path: &Path) -> AuditError {
    AuditError::InUse {
        path: path.to_owned(),
        lock: path.to_owned(),
    }
}

/// Whether `file` is the file at `path` now (not one renamed away from it).
pub(super) fn is_at(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), fs::metadata(path)) {
            (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        path.exists()
    }
}

/// Moves the active file at `path` to `to` and returns a fresh, locked, empty file now at `path`.
///
/// `path` never lacks a locked file, so a writer that starts meanwhile is refused: the fresh file is
/// made and locked under a hidden name beside it (`.NAME.next`), the old file gets its new name as a
/// hard link (so it is at both names, still locked), and the fresh file is renamed over `path`, which
/// is atomic. Where the file system has no hard links, the old file is renamed instead, leaving
/// `path` missing for a moment. `to` is never replaced: a file of that name is an error.
pub(super) fn replace_active(path: &Path, to: &Path) -> Result<File, AuditError> {
    let err = |source| AuditError::Rotate {
        path: path.to_owned(),
        to: to.to_owned(),
        source,
    };
    let mut next = path.file_name().unwrap_or_default().to_owned();
    next.push(".next");
    let mut hidden = std::ffi::OsString::from(".");
    hidden.push(next);
    let next = path.with_file_name(hidden);
    // Left by a writer that stopped between making it and renaming it: it holds nothing.
    let _ = fs::remove_file(&next);
    let file = OpenOptions::new()
        .append(true)
        .create_new(true)
        .open(&next)
        .map_err(err)?;
    // No other writer knows its name: the lock cannot be held elsewhere.
    let _ = file.try_lock();
    let linked = match fs::hard_link(path, to) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let _ = fs::remove_file(&next);
            return Err(err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "a file of that name exists",
            )));
        }
        Err(_) => match rename_new(path, to) {
            Ok(()) => false,
            Err(e) => {
                let _ = fs::remove_file(&next);
                return Err(e);
            }
        },
    };
    if let Err(source) = fs::rename(&next, path) {
        if linked {
            let _ = fs::remove_file(to);
        } else {
            let _ = fs::rename(to, path);
        }
        let _ = fs::remove_file(&next);
        return Err(err(source));
    }
    Ok(file)
}

fn open_append(path: &Path) -> Result<File, AuditError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| AuditError::Open {
            path: path.to_owned(),
            source,
        })
}

/// Makes a rename durable (best effort: not every platform can open a directory).
pub(super) fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(dir) = File::open(dir)
    {
        let _ = dir.sync_all();
    }
}
