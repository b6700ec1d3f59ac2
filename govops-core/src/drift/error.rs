//! What can go wrong in the drift module: a configuration value, or a baseline file.

use std::path::PathBuf;

use super::saved::{FILE_FORMAT, FILE_VERSION};

/// Errors of the drift module: configuration, saving and restoring.
#[derive(Debug, thiserror::Error)]
pub enum DriftError {
    /// A configuration value is out of range.
    #[error("drift configuration: {field} = {value} is not accepted: {accepted}")]
    Config {
        /// The field.
        field: &'static str,
        /// The value given.
        value: String,
        /// What is accepted.
        accepted: &'static str,
    },
    /// The file could not be read or written.
    #[error("drift baseline file {}: {source}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a drift baseline this build can read.
    #[error(
        "drift baseline file {}: {problem}; accepted: a JSON object with \"format\": \"{FILE_FORMAT}\", \"version\": {FILE_VERSION} and \"models\", as `DriftRegistry::save` writes it",
        file.display()
    )]
    Format {
        /// The file.
        file: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
}
