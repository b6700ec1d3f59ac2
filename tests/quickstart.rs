//! `examples/quickstart.rs` as a user runs it: a real child process, its exit code, its stderr and
//! the telemetry it writes.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod support;

use std::process::Command;
use std::time::Duration;

use support::*;

const REQUIRED: [&str; 5] = [
    "GOVOPS_APP_NAME",
    "GOVOPS_ENVIRONMENT",
    "GOVOPS_OWNER",
    "GOVOPS_COST_CENTER",
    "GOVOPS_DATA_CLASSIFICATION",
];

#[test]
fn with_an_empty_environment_it_exits_78_naming_all_five_required_variables() {
    let dir = tempfile::tempdir().unwrap();
    let finished = run_child(
        Command::new(example("quickstart")),
        dir.path(),
        &[],
        Duration::from_secs(30),
    );
    assert_eq!(finished.status.code(), Some(78), "{}", finished.stderr);
    for variable in REQUIRED {
        assert!(
            finished.stderr.contains(&format!("{variable}: is not set")),
            "{variable}: {}",
            finished.stderr
        );
    }
    assert!(finished.stderr.contains("5 gaps"), "{}", finished.stderr);
    assert!(
        !dir.path().join("govops-telemetry.jsonl").exists(),
        "nothing may start on a gap"
    );
}

#[test]
fn with_the_metadata_set_it_exits_0_and_its_telemetry_carries_the_resource_attributes() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "[environments.prod]\nmodels = [\"gpt-4o\"]\n").unwrap();
    let mut vars = complete_env("support-bot");
    vars.push(("GOVOPS_APP_VERSION", "1.4.2".to_owned()));
    vars.push(("GOVOPS_POLICY", policy.display().to_string()));
    let finished = run_child(
        Command::new(example("quickstart")),
        dir.path(),
        &vars,
        Duration::from_secs(30),
    );
    assert_eq!(finished.status.code(), Some(0), "{}", finished.stderr);
    assert!(
        !finished.stderr.contains("govops: warning"),
        "{}",
        finished.stderr
    );

    let lines = read_json_lines(&dir.path().join("govops-telemetry.jsonl"));
    let names = span_names(&lines.traces, "support-bot");
    assert_eq!(names.iter().filter(|n| *n == "handle_ticket").count(), 3);
    assert_eq!(names.iter().filter(|n| *n == "draft_reply").count(), 3);
    assert!(log_count(&lines.logs, "support-bot") >= 5);
    assert!(
        !lines.metrics.is_empty(),
        "the quickstart's counter is exported at shutdown"
    );

    let resources = lines
        .traces
        .iter()
        .flat_map(|t| &t.resource_spans)
        .map(|rs| rs.resource.clone())
        .collect::<Vec<_>>();
    assert!(!resources.is_empty());
    for resource in &resources {
        let get = |k: &str| resource_attr(resource.as_ref(), k);
        assert_eq!(get("service.name").as_deref(), Some("support-bot"));
        assert_eq!(get("service.version").as_deref(), Some("1.4.2"));
        assert_eq!(get("deployment.environment.name").as_deref(), Some("test"));
        assert_eq!(get("govops.owner").as_deref(), Some("team-ai"));
        assert_eq!(get("govops.cost_center").as_deref(), Some("CC-1234"));
        assert_eq!(
            get("govops.data_classification").as_deref(),
            Some("internal")
        );
        let policy_id = get("govops.policy.id").unwrap();
        assert!(policy_id.starts_with("policy.toml@sha256:"), "{policy_id}");
    }
    for logs in &lines.logs {
        for rl in &logs.resource_logs {
            assert_eq!(
                resource_attr(rl.resource.as_ref(), "govops.owner").as_deref(),
                Some("team-ai")
            );
        }
    }
}
