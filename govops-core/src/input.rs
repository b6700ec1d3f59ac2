//! Files a user or an attacker can name, read with a bound.
//!
//! Every file govops reads whole (a policy, a Rego module, a price table, an env file, a drift
//! baseline) goes through [`read_bounded`]: only a regular file is read, a FIFO or a device is
//! refused at once instead of blocking or streaming without end, and a file above its limit is
//! refused before it is held in memory. Readers that stream (audit logs, telemetry files) open
//! their files with [`open_regular`], which applies the same refusal.
//!
//! ```
//! use govops_core::input::{self, InputProblem};
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("policy.toml");
//! std::fs::write(&path, "version = 1\n")?;
//! assert_eq!(input::read_bounded(&path, input::POLICY_MAX)?, b"version = 1\n");
//! let err = input::read_bounded(dir.path(), input::POLICY_MAX).unwrap_err();
//! assert!(matches!(err.problem(), InputProblem::Directory));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// The largest policy file read: 1 MiB.
pub const POLICY_MAX: u64 = 1 << 20;
/// The largest Rego module read: 1 MiB.
pub const REGO_MAX: u64 = 1 << 20;
/// The largest price table read: 64 MiB (the embedded one is about 0.2 MiB).
pub const PRICE_TABLE_MAX: u64 = 64 << 20;
/// The largest env file read: 1 MiB.
pub const ENV_FILE_MAX: u64 = 1 << 20;
/// The largest drift baseline read: 64 MiB.
pub const BASELINE_MAX: u64 = 64 << 20;
/// The largest test-case or telemetry file read whole by the CLI: 256 MiB.
pub const DATA_MAX: u64 = 256 << 20;

/// Why a file could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InputProblem {
    /// Nothing is at the path.
    NotFound,
    /// The process may not read it.
    PermissionDenied,
    /// The path names a directory.
    Directory,
    /// The path names a FIFO, a socket or a device: only a regular file is accepted.
    NotRegular(&'static str),
    /// The file is larger than the limit, in bytes.
    TooLarge(u64),
    /// Another I/O error (its kind).
    Other(io::ErrorKind),
}

/// A file that could not be read: its path and why. The message never quotes the file's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    path: PathBuf,
    problem: InputProblem,
}

impl InputError {
    /// The path as given.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Why it could not be read.
    #[must_use]
    pub fn problem(&self) -> InputProblem {
        self.problem
    }

    /// The reason alone, without the path: "is a FIFO; only a regular file is accepted".
    #[must_use]
    pub fn reason(&self) -> String {
        match self.problem {
            InputProblem::NotFound => "does not exist".to_owned(),
            InputProblem::PermissionDenied => "cannot be read: permission denied".to_owned(),
            InputProblem::Directory => "is a directory, not a file".to_owned(),
            InputProblem::NotRegular(kind) => {
                format!("is {kind}; only a regular file is accepted")
            }
            InputProblem::TooLarge(limit) => {
                format!("is larger than {}; the limit is {limit} bytes", size(limit))
            }
            InputProblem::Other(kind) => format!("cannot be read: {}", io::Error::from(kind)),
        }
    }

    fn new(path: &Path, problem: InputProblem) -> Self {
        Self {
            path: path.to_owned(),
            problem,
        }
    }

    fn io(path: &Path, error: &io::Error) -> Self {
        let problem = match error.kind() {
            io::ErrorKind::NotFound => InputProblem::NotFound,
            io::ErrorKind::PermissionDenied => InputProblem::PermissionDenied,
            io::ErrorKind::IsADirectory => InputProblem::Directory,
            kind => InputProblem::Other(kind),
        };
        Self::new(path, problem)
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.path.display(), self.reason())
    }
}

impl std::error::Error for InputError {}

fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{} KiB", bytes >> 10)
    }
}

/// What a file that is not regular is, in words.
fn kind_of(file_type: fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO";
        }
        if file_type.is_socket() {
            return "a socket";
        }
        if file_type.is_char_device() || file_type.is_block_device() {
            return "a device";
        }
    }
    let _ = file_type;
    "not a regular file"
}

/// Opens `path` for reading if it is a regular file. A FIFO is opened without blocking (a FIFO
/// with no writer would otherwise block the open forever) and then refused, like a device, a
/// socket or a directory.
///
/// # Errors
/// [`InputError`] naming the path and why.
pub fn open_regular(path: &Path) -> Result<File, InputError> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| InputError::io(path, &e))?;
    let meta = file.metadata().map_err(|e| InputError::io(path, &e))?;
    let file_type = meta.file_type();
    if file_type.is_dir() {
        return Err(InputError::new(path, InputProblem::Directory));
    }
    if !file_type.is_file() {
        return Err(InputError::new(
            path,
            InputProblem::NotRegular(kind_of(file_type)),
        ));
    }
    Ok(file)
}

/// Reads a whole regular file of at most `limit` bytes.
///
/// The limit holds even for a file that grows while it is read, or one whose size the file system
/// does not report (files under `/proc` report 0).
///
/// # Errors
/// [`InputError`] naming the path: missing, unreadable, not a regular file, or above the limit.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, InputError> {
    let file = open_regular(path)?;
    let reported = file.metadata().map(|m| m.len()).unwrap_or(0);
    if reported > limit {
        return Err(InputError::new(path, InputProblem::TooLarge(limit)));
    }
    let mut content = Vec::with_capacity(usize::try_from(reported).unwrap_or(0));
    file.take(limit.saturating_add(1))
        .read_to_end(&mut content)
        .map_err(|e| InputError::io(path, &e))?;
    if content.len() as u64 > limit {
        return Err(InputError::new(path, InputProblem::TooLarge(limit)));
    }
    Ok(content)
}

/// Reads a whole regular UTF-8 file of at most `limit` bytes.
///
/// # Errors
/// As [`read_bounded`]; text that is not UTF-8 is [`InputProblem::Other`] with
/// [`io::ErrorKind::InvalidData`] ("not UTF-8 text").
pub fn read_text_bounded(path: &Path, limit: u64) -> Result<String, InputError> {
    let bytes = read_bounded(path, limit)?;
    String::from_utf8(bytes)
        .map_err(|_| InputError::new(path, InputProblem::Other(io::ErrorKind::InvalidData)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_file_within_its_limit_is_read_and_one_above_is_refused() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("f");
        fs::write(&path, b"12345")?;
        assert_eq!(read_bounded(&path, 5).ok(), Some(b"12345".to_vec()));
        let err = read_bounded(&path, 4).err();
        assert_eq!(err.map(|e| e.problem()), Some(InputProblem::TooLarge(4)));
        Ok(())
    }

    #[test]
    fn dev_zero_is_refused_at_once_as_a_device() {
        let err = read_bounded(Path::new("/dev/zero"), POLICY_MAX).err();
        assert_eq!(
            err.as_ref().map(InputError::problem),
            Some(InputProblem::NotRegular("a device"))
        );
        assert!(err.is_some_and(|e| e.to_string().contains("/dev/zero is a device")));
    }

    #[test]
    fn a_fifo_without_a_writer_is_refused_without_blocking() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let fifo = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo").arg(&fifo).status()?;
        assert!(status.success());
        let err = read_bounded(&fifo, POLICY_MAX).err();
        assert_eq!(
            err.map(|e| e.problem()),
            Some(InputProblem::NotRegular("a FIFO"))
        );
        Ok(())
    }

    #[test]
    fn proc_files_that_report_no_size_are_still_bounded() {
        // /proc/self/environ reports 0 bytes but holds the environment.
        match read_bounded(Path::new("/proc/self/maps"), 16) {
            Err(e) => assert_eq!(e.problem(), InputProblem::TooLarge(16)),
            Ok(bytes) => assert!(bytes.len() <= 16),
        }
    }

    #[test]
    fn missing_and_directory_are_named() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let missing = dir.path().join("nope");
        let err = read_bounded(&missing, 1).err();
        assert!(err.is_some_and(|e| e.to_string().ends_with("nope does not exist")));
        let err = read_text_bounded(dir.path(), 1).err();
        assert_eq!(err.map(|e| e.problem()), Some(InputProblem::Directory));
        Ok(())
    }
}
