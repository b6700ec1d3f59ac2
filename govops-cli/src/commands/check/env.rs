//! `govops check env`: the start-up metadata, checked as `govops::init()` checks it, and whether
//! the shared guard state's server answers (a warning when it does not: the workload would start
//! anyway, with its own state).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use govops_core::config::{DEFAULT_STATE_TIMEOUT, StateUrl};
use govops_core::contract::vars;
use govops_core::{Config, EnvSource, Gap};
use serde::Serialize;

use crate::shared::out::{self, Format, err, esc, esc_lines};

/// The JSON report: `{"gaps": [{"variable", "problem", "accepted"}]}`, with `state` and
/// `warnings` when `GOVOPS_STATE_URL` is set.
#[derive(Serialize)]
struct Report<'a> {
    gaps: &'a [Gap],
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<StateReport>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

/// The shared guard state's server, probed: `{"url": MASKED, "answered": BOOL}`.
#[derive(Serialize)]
struct StateReport {
    url: String,
    answered: bool,
}

/// The state URL to probe and its timeout: the configuration's, else (when other gaps stopped
/// it) the URL alone, if it is well-formed, so that one run still says whether it answers.
fn state_url(
    config: &Result<Config, govops_core::Gaps>,
    source: &EnvSource,
) -> Option<(StateUrl, std::time::Duration)> {
    match config {
        Ok(config) => config
            .state_url
            .clone()
            .map(|url| (url, config.state_timeout)),
        Err(_) => source
            .get(vars::STATE_URL)
            .and_then(|value| value.parse().ok())
            .map(|url| (url, DEFAULT_STATE_TIMEOUT)),
    }
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
    let probed = state_url(&config, &source).map(|(url, timeout)| {
        let warning = govops_core::config::state_warning(&url, timeout);
        (url, warning)
    });
    let warnings: Vec<String> = probed.iter().filter_map(|(_, w)| w.clone()).collect();
    let state = probed.as_ref().map(|(url, warning)| StateReport {
        url: url.masked(),
        answered: warning.is_none(),
    });
    // On stderr whatever the format, as `init` prints it; the JSON report holds it as well.
    for warning in &warnings {
        err!("govops: warning: {}", esc(warning));
    }
    let mut stdout = out::stdout();
    let written = match format {
        Format::Json => out::json(
            &mut stdout,
            &Report {
                gaps: &gaps,
                state,
                warnings,
            },
            true,
        ),
        Format::Text => text(&mut stdout, &config, &gaps, probed.as_ref()),
    };
    // A server that does not answer is a warning, not a gap: the workload would start anyway.
    let code = if gaps.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    };
    out::finish(&mut stdout, written, code)
}

/// The text report: the metadata or its gaps, then whether the shared state's server answered.
fn text(
    stdout: &mut impl Write,
    config: &Result<Config, govops_core::Gaps>,
    gaps: &[Gap],
    probed: Option<&(StateUrl, Option<String>)>,
) -> std::io::Result<()> {
    match (config, gaps.is_empty()) {
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
            esc_lines(&govops_core::Gaps::new(gaps.to_vec()).to_string())
        ),
    }?;
    match probed {
        Some((url, None)) => writeln!(
            stdout,
            "govops: the shared guard state's server answers at {}",
            esc(&url.masked())
        ),
        _ => Ok(()),
    }
}

fn unreadable(path: &Path, why: &str) -> ExitCode {
    err!(
        "govops: cannot read --env-file {}: {}; a dotenv file of KEY=VALUE lines is accepted",
        esc(&path.display().to_string()),
        esc(why)
    );
    ExitCode::from(2)
}
