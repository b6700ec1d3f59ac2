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
