//! Files a policy names stay inside the policy's directory.
//!
//! A policy is often written by another team than the one that runs the service, and reaches
//! the process through a pipeline: a path in it must not reach the rest of the machine (a Rego
//! file of `/proc/self/environ`, a drift baseline written over `~/.bashrc` at shutdown). So a
//! named file is a relative path, without `..`, that stays inside the directory after every
//! symlink is followed.

use std::path::{Component, Path, PathBuf};

/// `name`, a file the policy names in `key`, resolved inside `dir` (the policy's directory; the
/// working directory for a policy given as text). `extension`, when given, is the one the file
/// must have.
///
/// # Errors
///
/// What is wrong with the path and what is accepted, quoting the path as written (never the
/// content of the file).
pub(super) fn confine(
    dir: Option<&Path>,
    key: &str,
    name: &str,
    extension: Option<&str>,
) -> Result<PathBuf, String> {
    let accepted = match extension {
        Some(ext) => format!("a .{ext} file in the policy's directory or below it"),
        None => "a file in the policy's directory or below it".to_owned(),
    };
    let refuse = |why: &str| format!("{key} {name:?} {why}; accepted: {accepted}");
    let path = Path::new(name);
    if name.is_empty() {
        return Err(refuse("is empty"));
    }
    for component in path.components() {
        match component {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => return Err(refuse("leaves the policy's directory (`..`)")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(refuse("is an absolute path"));
            }
        }
    }
    if let Some(ext) = extension
        && path.extension().and_then(|e| e.to_str()) != Some(ext)
    {
        return Err(refuse(&format!("is not a .{ext} file")));
    }
    let base = dir.map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let joined = base.join(path);
    // A symlink inside the directory may still point out of it: compare where the path really
    // leads (its deepest part that exists, for a file still to be written) with the directory.
    let Ok(root) = base.canonicalize() else {
        // No directory, nothing inside it to follow: the path stays lexically inside.
        return Ok(joined);
    };
    let mut existing = joined.as_path();
    loop {
        if let Ok(real) = existing.canonicalize() {
            if real.starts_with(&root) {
                return Ok(joined);
            }
            return Err(refuse(
                "leads out of the policy's directory through a symlink",
            ));
        }
        match existing.parent() {
            Some(parent) if parent.starts_with(&base) => existing = parent,
            _ => return Ok(joined),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_relative_paths_that_stay_inside_are_accepted() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let d = Some(dir.path());
        std::fs::write(dir.path().join("rules.rego"), "package govops\n")?;
        assert!(confine(d, "rego.file", "rules.rego", Some("rego")).is_ok());
        assert!(confine(d, "rego.file", "./sub/new.rego", Some("rego")).is_ok());
        for (name, why) in [
            ("/proc/self/environ", "absolute"),
            ("../secret.rego", "`..`"),
            ("sub/../../secret.rego", "`..`"),
            ("rules.txt", "not a .rego file"),
            ("", "empty"),
        ] {
            let err = confine(d, "rego.file", name, Some("rego")).unwrap_err();
            assert!(err.contains(why), "{name}: {err}");
            assert!(err.contains("accepted: a .rego file"), "{err}");
        }
        #[cfg(unix)]
        {
            let outside = tempfile::tempdir()?;
            std::fs::write(outside.path().join("secret.rego"), "package govops\n")?;
            std::os::unix::fs::symlink(outside.path(), dir.path().join("link"))?;
            let err = confine(d, "rego.file", "link/secret.rego", Some("rego")).unwrap_err();
            assert!(err.contains("symlink"), "{err}");
            // A file still to be written, under a directory that leads out.
            let err = confine(d, "drift.baseline", "link/new.json", None).unwrap_err();
            assert!(err.contains("symlink"), "{err}");
        }
        Ok(())
    }
}
