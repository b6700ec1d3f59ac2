//! `govops check env`: the start-up metadata, checked as `govops::init()` checks it.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use govops_core::{Config, EnvSource, Gap};
use serde::Serialize;

use crate::shared::out::{self, Format, err, esc, esc_lines};

/// The JSON report: `{"gaps": [{"variable", "problem", "accepted"}]}`.
#[derive(Serialize)]
struct Report<'a> {
    gaps: &'a [Gap],
}

pub(crate) fn check(env_file: Option<&Path>, format: Format) -> ExitCode {
    let (source, mut gaps) = match env_file {
        None => (EnvSource::from_process(), Vec::new()),
        Some(path) => {
            match govops_core::input::read_bounded(path, govops_core::input::ENV_FILE_MAX) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(text) => EnvSource::from_dotenv(&text, &path.display().to_string()),
                    Err(_) => return unreadable(path, "it is not valid UTF-8"),
                },
                Err(error) => return unreadable(path, &error.reason()),
            }
        }
    };
    let config = Config::from_env(&source);
    if let Err(config_gaps) = &config {
        gaps.extend(config_gaps.iter().cloned());
    }
    let mut stdout = out::stdout();
    let written = match format {
        Format::Json => out::json(&mut stdout, &Report { gaps: &gaps }, true),
        Format::Text => match (&config, gaps.is_empty()) {
            (Ok(config), true) => writeln!(
                stdout,
                "govops: the start-up metadata is complete: {} in {}, owned by {}, cost center {}, {} data",
                esc(&config.app_name),
                esc(&config.environment.to_string()),
                esc(&config.owner),
                esc(&config.cost_center),
                esc(&config.data_classification.to_string())
            ),
            _ => writeln!(
                stdout,
                "{}",
                esc_lines(&govops_core::Gaps::new(gaps.clone()).to_string())
            ),
        },
    };
    let code = if gaps.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    };
    out::finish(&mut stdout, written, code)
}

fn unreadable(path: &Path, why: &str) -> ExitCode {
    err!(
        "govops: cannot read --env-file {}: {}; a dotenv file of KEY=VALUE lines is accepted",
        esc(&path.display().to_string()),
        esc(why)
    );
    ExitCode::from(2)
}
