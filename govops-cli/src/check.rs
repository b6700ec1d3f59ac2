//! `govops check env`.

use std::path::Path;
use std::process::ExitCode;

use govops_core::{Config, EnvSource, Gap};
use serde::Serialize;

use crate::Format;

/// The JSON report: `{"gaps": [{"variable", "problem", "accepted"}]}`.
#[derive(Serialize)]
struct Report<'a> {
    gaps: &'a [Gap],
}

pub(crate) fn env(env_file: Option<&Path>, format: Format) -> ExitCode {
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
    match format {
        Format::Json => match serde_json::to_string_pretty(&Report { gaps: &gaps }) {
            Ok(json) => println!("{json}"),
            Err(error) => {
                eprintln!("govops: cannot encode the report as JSON: {error}");
                return ExitCode::from(2);
            }
        },
        Format::Text => match (&config, gaps.is_empty()) {
            (Ok(config), true) => println!(
                "govops: the start-up metadata is complete: {} in {}, owned by {}, cost center {}, {} data",
                config.app_name,
                config.environment,
                config.owner,
                config.cost_center,
                config.data_classification
            ),
            _ => println!("{}", govops_core::Gaps::new(gaps.clone())),
        },
    }
    if gaps.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn unreadable(path: &Path, why: &str) -> ExitCode {
    eprintln!(
        "govops: cannot read --env-file {}: {why}; a dotenv file of KEY=VALUE lines is accepted",
        path.display()
    );
    ExitCode::from(2)
}
