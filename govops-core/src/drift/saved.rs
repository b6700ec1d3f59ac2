//! Saving and restoring a registry's detectors: a versioned JSON file, written atomically.

use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::detector::{DriftDetector, State};
use super::error::DriftError;
use super::registry::{DriftRegistry, write_key};

/// The format name written in a saved baseline file.
pub const FILE_FORMAT: &str = "govops-drift-baseline";
/// The version of the saved baseline file this build writes and reads.
pub const FILE_VERSION: u32 = 1;

/// One model's entry in a saved baseline file.
#[derive(Debug, Serialize, Deserialize)]
struct SavedModel {
    model: String,
    provider: String,
    state: State,
}

/// A saved baseline file.
#[derive(Debug, Serialize, Deserialize)]
struct SavedFile {
    format: String,
    version: u32,
    models: Vec<SavedModel>,
}

/// Only the header, read first so a wrong version is reported as such.
#[derive(Debug, Deserialize)]
struct Header {
    format: Option<String>,
    version: Option<serde_json::Value>,
}

impl DriftRegistry {
    /// Writes every detector's state to `path` atomically (a temporary file beside it, then a
    /// rename).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), DriftError> {
        let path = path.as_ref();
        let mut models: Vec<SavedModel> = self
            .detectors
            .iter()
            .map(|entry| {
                let (model, provider) = entry.key().split_once('\0').unwrap_or((entry.key(), ""));
                SavedModel {
                    model: model.to_owned(),
                    provider: provider.to_owned(),
                    state: entry.value().state,
                }
            })
            .collect();
        models.sort_by(|a, b| (&a.model, &a.provider).cmp(&(&b.model, &b.provider)));
        let file = SavedFile {
            format: FILE_FORMAT.to_owned(),
            version: FILE_VERSION,
            models,
        };
        let json = serde_json::to_vec_pretty(&file).map_err(|e| DriftError::Format {
            file: path.to_owned(),
            problem: format!("cannot be encoded: {e}"),
        })?;
        let io = |source| DriftError::Io {
            file: path.to_owned(),
            source,
        };
        let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
        // Unique per process and per save, so two saves at once never share a temporary file.
        static SAVES: AtomicU64 = AtomicU64::new(0);
        tmp_name.push(format!(
            ".tmp-{}-{}",
            std::process::id(),
            SAVES.fetch_add(1, Ordering::Relaxed)
        ));
        let tmp = path.with_file_name(tmp_name);
        let written = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&json)?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written.map_err(io)
    }

    /// Reads a file [`DriftRegistry::save`] wrote and replaces the state of every pair it holds
    /// (warm-up and drifting flag included), up to [`DriftConfig::max_models`](super::DriftConfig::max_models) pairs; returns how
    /// many pairs were restored.
    pub fn restore(&self, path: impl AsRef<Path>) -> Result<usize, DriftError> {
        let file = read_saved(path.as_ref())?;
        let mut restored = 0;
        for saved in file.models {
            let mut key = String::new();
            write_key(&mut key, &saved.model, &saved.provider);
            if !self.detectors.contains_key(key.as_str()) && self.detectors.len() >= self.max_models
            {
                continue;
            }
            self.detectors.insert(
                key,
                DriftDetector {
                    params: self.params,
                    state: saved.state,
                },
            );
            restored += 1;
        }
        Ok(restored)
    }
}

/// The saved file at `path`, its format, version and every state checked: a bad file is refused
/// whole, before anything is restored.
fn read_saved(path: &Path) -> Result<SavedFile, DriftError> {
    let text = crate::input::read_text_bounded(path, crate::input::BASELINE_MAX).map_err(|e| {
        DriftError::Io {
            file: path.to_owned(),
            source: std::io::Error::other(e.reason()),
        }
    })?;
    let format_error = |problem: String| DriftError::Format {
        file: path.to_owned(),
        problem,
    };
    crate::json::unique_keys(&text).map_err(|e| format_error(e.to_string()))?;
    let header: Header = serde_json::from_str(&text).map_err(|e| {
        format_error(format!(
            "not a JSON object: {}",
            crate::quote::bounded(&e.to_string())
        ))
    })?;
    header.check().map_err(format_error)?;
    let file: SavedFile = serde_json::from_str(&text).map_err(|e| {
        format_error(format!(
            "does not parse: {}",
            crate::quote::bounded(&e.to_string())
        ))
    })?;
    // Every state is checked before any is restored: a bad file changes nothing.
    if let Some(bad) = file.models.iter().find(|m| !m.state.is_valid()) {
        return Err(format_error(format!(
            "the state of {} at {} is out of range",
            bad.model, bad.provider
        )));
    }
    Ok(file)
}

impl Header {
    /// What is wrong with the format or the version, if anything.
    fn check(&self) -> Result<(), String> {
        if self.format.as_deref() != Some(FILE_FORMAT) {
            return Err(format!(
                "format is {}",
                crate::quote::bounded(self.format.as_deref().unwrap_or("missing"))
            ));
        }
        match &self.version {
            Some(v) if v.as_u64() == Some(u64::from(FILE_VERSION)) => Ok(()),
            Some(v) => Err(format!(
                "version {} is not supported",
                crate::quote::bounded(&v.to_string())
            )),
            None => Err("version is missing".to_owned()),
        }
    }
}
