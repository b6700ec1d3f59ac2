//! `examples/failover.rs`, run as a real process: no request lost, traffic fails over and back,
//! and the last line is the summary.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod support;

use std::process::Command;
use std::time::Duration;

use support::{example, run_child};

#[test]
fn the_failover_example_loses_no_request_and_fails_over_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let finished = run_child(
        Command::new(example("failover")),
        dir.path(),
        &[],
        Duration::from_secs(60),
    );
    assert_eq!(finished.status.code(), Some(0), "{}", finished.stderr);
    let last = finished.stdout.lines().last().unwrap();
    let summary: serde_json::Value = serde_json::from_str(last).unwrap();
    assert_eq!(summary["requests"], 100, "{last}");
    assert_eq!(summary["succeeded"], 100, "{last}");
    assert_eq!(summary["lost"], 0, "{last}");
    assert!(summary["failovers"].as_u64().unwrap() >= 1, "{last}");
    assert!(summary["failbacks"].as_u64().unwrap() >= 1, "{last}");
    assert!(
        finished.stdout.contains("readiness azure-openai"),
        "{}",
        finished.stdout
    );
}
