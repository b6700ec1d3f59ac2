//! `govops check env` as a pipeline step runs it: a real process, real dotenv files.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::path::Path;
use std::process::{Command, Output};

fn govops(args: &[&str], env: &[(&str, &str)], dir: &Path) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_govops"));
    command.args(args).env_clear().current_dir(dir);
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

fn gaps(output: &Output) -> Vec<(String, String, String)> {
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let object = report.as_object().unwrap();
    assert_eq!(object.keys().collect::<Vec<_>>(), ["gaps"]);
    report["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let mut keys: Vec<_> = g.as_object().unwrap().keys().cloned().collect();
            keys.sort();
            assert_eq!(keys, ["accepted", "problem", "variable"]);
            (
                g["variable"].as_str().unwrap().to_owned(),
                g["problem"].as_str().unwrap().to_owned(),
                g["accepted"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

const COMPLETE: &str = "GOVOPS_APP_NAME=support-bot\nGOVOPS_ENVIRONMENT=dev\nGOVOPS_OWNER=team-ai\n\
GOVOPS_COST_CENTER=CC-1234\nGOVOPS_DATA_CLASSIFICATION=restricted\n";

#[test]
fn a_complete_file_exits_0_with_no_gaps() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ok.env"), COMPLETE).unwrap();
    let output = govops(
        &["check", "env", "--env-file", "ok.env", "--format", "json"],
        &[],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(0));
    assert!(gaps(&output).is_empty());
    let text = govops(&["check", "env", "--env-file", "ok.env"], &[], dir.path());
    assert_eq!(text.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&text.stdout).contains("complete"));
}

#[test]
fn a_file_with_gaps_lists_exactly_those_gaps_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let file = "# deploy settings\nGOVOPS_APP_NAME=Support Bot\nexport GOVOPS_ENVIRONMENT=production\n\
GOVOPS_OWNER='   '\nnot a variable line\nGOVOPS_DATA_CLASSIFICATION=internal\n\
OTEL_EXPORTER_OTLP_HEADERS=api-key=hunter2,hunter2-alone\nGOVOPS_POLICY=missing-policy.yaml\n";
    std::fs::write(dir.path().join("gaps.env"), file).unwrap();
    let output = govops(
        &["check", "env", "--env-file", "gaps.env", "--format", "json"],
        &[],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(1));
    let found = gaps(&output);
    let variables: Vec<_> = found.iter().map(|(v, _, _)| v.as_str()).collect();
    assert_eq!(
        variables,
        [
            "gaps.env:5",
            "GOVOPS_APP_NAME",
            "GOVOPS_ENVIRONMENT",
            "GOVOPS_OWNER",
            "GOVOPS_COST_CENTER",
            "GOVOPS_POLICY",
            "OTEL_EXPORTER_OTLP_HEADERS"
        ]
    );
    assert!(found[0].1.contains("line 5"));
    assert!(found[3].1.contains("white space"));
    assert!(found[4].1.contains("is not set"));
    assert!(found.iter().all(|(_, _, accepted)| !accepted.is_empty()));
    assert!(!String::from_utf8_lossy(&output.stdout).contains("hunter2"));
}

#[test]
fn the_text_report_names_each_gap() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("e.env"), "GOVOPS_ENVIRONMENT=qa\n").unwrap();
    let output = govops(&["check", "env", "--env-file", "e.env"], &[], dir.path());
    assert_eq!(output.status.code(), Some(1));
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(report.contains("5 gaps"), "{report}");
    assert!(
        report.contains("GOVOPS_ENVIRONMENT: \"qa\" is not one of dev, test, staging, prod"),
        "{report}"
    );
}

#[test]
fn without_env_file_it_checks_the_current_environment() {
    let dir = tempfile::tempdir().unwrap();
    let empty = govops(&["check", "env", "--format", "json"], &[], dir.path());
    assert_eq!(empty.status.code(), Some(1));
    assert_eq!(gaps(&empty).len(), 5);
    let set = [
        ("GOVOPS_APP_NAME", "support-bot"),
        ("GOVOPS_ENVIRONMENT", "dev"),
        ("GOVOPS_OWNER", "team-ai"),
        ("GOVOPS_COST_CENTER", "CC-1"),
        ("GOVOPS_DATA_CLASSIFICATION", "public"),
    ];
    let complete = govops(&["check", "env", "--format", "json"], &set, dir.path());
    assert_eq!(
        complete.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&complete.stdout)
    );
}

#[test]
fn an_unreadable_env_file_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let output = govops(&["check", "env", "--env-file", "nope.env"], &[], dir.path());
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("nope.env"));
    let bad_format = govops(&["check", "env", "--format", "yaml"], &[], dir.path());
    assert_eq!(bad_format.status.code(), Some(2));
}

/// The shared state's password in the tests below: it must never be printed.
const PASSWORD: &str = "Sup3r-s3cret-pw";

/// A port on loopback that nothing listens on (bound, then let go).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A real `redis-server` on a free loopback port, stopped when dropped.
struct Redis {
    child: std::process::Child,
    port: u16,
}

impl Redis {
    fn start() -> Redis {
        let port = free_port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "no", "--requirepass", PASSWORD])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server (Debian's redis-server package) must be installed");
        let redis = Redis { child, port };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        redis
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `check env` over COMPLETE plus `extra`, in `format`.
fn check_with(extra: &str, format: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.env"), format!("{COMPLETE}{extra}")).unwrap();
    govops(
        &["check", "env", "--env-file", "s.env", "--format", format],
        &[],
        dir.path(),
    )
}

fn assert_no_password(output: &Output) {
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!all.contains(PASSWORD), "{all}");
}

#[test]
fn a_malformed_state_url_is_a_gap_that_never_shows_its_password() {
    let value = format!("GOVOPS_STATE_URL=redis://:{PASSWORD}@cache.internal:6379/zero\n");
    let output = check_with(&value, "json");
    assert_eq!(output.status.code(), Some(1));
    let found = gaps(&output);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "GOVOPS_STATE_URL");
    assert!(found[0].1.contains("database number"), "{found:?}");
    assert!(found[0].2.contains("rediss://"), "{found:?}");
    assert_no_password(&output);

    let text = check_with(&value, "text");
    assert_eq!(text.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&text.stdout).contains("GOVOPS_STATE_URL"));
    assert_no_password(&text);

    let timeout = check_with("GOVOPS_STATE_TIMEOUT_MS=0\n", "json");
    assert_eq!(timeout.status.code(), Some(1));
    assert_eq!(gaps(&timeout)[0].0, "GOVOPS_STATE_TIMEOUT_MS");
}

#[test]
fn an_unreachable_state_server_is_a_warning_naming_the_masked_url_and_exits_0() {
    let port = free_port();
    let value = format!("GOVOPS_STATE_URL=redis://:{PASSWORD}@127.0.0.1:{port}/1\n");
    let masked = format!("redis://:***@127.0.0.1:{port}/1");

    let output = check_with(&value, "json");
    assert_eq!(output.status.code(), Some(0), "a warning, not a gap");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["gaps"], serde_json::json!([]));
    assert_eq!(
        report["state"],
        serde_json::json!({"url": masked, "answered": false})
    );
    let warning = report["warnings"][0].as_str().unwrap();
    assert!(
        warning.starts_with(&format!("GOVOPS_STATE_URL {masked} cannot be reached")),
        "{warning}"
    );
    assert!(warning.contains("starts anyway"), "{warning}");
    assert_no_password(&output);

    let text = check_with(&value, "text");
    assert_eq!(text.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&text.stderr);
    assert!(
        stderr.starts_with("govops: warning: GOVOPS_STATE_URL"),
        "{stderr}"
    );
    assert!(stderr.contains(&masked), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(String::from_utf8_lossy(&text.stdout).contains("complete"));
    assert_no_password(&text);
}

#[test]
fn a_reachable_state_server_is_reported_as_answering() {
    let redis = Redis::start();
    let value = format!(
        "GOVOPS_STATE_URL=redis://:{PASSWORD}@127.0.0.1:{}\nGOVOPS_STATE_TIMEOUT_MS=200\n",
        redis.port
    );
    let masked = format!("redis://:***@127.0.0.1:{}/0", redis.port);

    let output = check_with(&value, "json");
    assert_eq!(output.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        report["state"],
        serde_json::json!({"url": masked, "answered": true})
    );
    assert!(report.get("warnings").is_none(), "{report}");
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let text = check_with(&value, "text");
    assert_eq!(text.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(stdout.contains(&format!("answers at {masked}")), "{stdout}");
    assert!(text.stderr.is_empty());
    assert_no_password(&text);
}
