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

    // What the telemetry says: who served each call, the switches, the gauges.
    let telemetry = std::fs::read_to_string(dir.path().join("govops-telemetry.jsonl")).unwrap();
    let mut served = std::collections::BTreeMap::<String, u32>::new();
    let mut events = Vec::new();
    let mut metrics = Vec::new();
    for line in telemetry.lines() {
        let doc: serde_json::Value = serde_json::from_str(line).unwrap();
        for span in doc["resourceSpans"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r["scopeSpans"].as_array().unwrap())
            .flat_map(|s| s["spans"].as_array().unwrap())
        {
            if attribute(&span["attributes"], "gen_ai.operation.name") == "chat" {
                *served
                    .entry(attribute(&span["attributes"], "gen_ai.provider.name"))
                    .or_default() += 1;
            }
            for event in span["events"].as_array().into_iter().flatten() {
                if event["name"] == "govops.failover" {
                    events.push(
                        ["kind", "from", "to", "reason"]
                            .map(|k| {
                                attribute(&event["attributes"], &format!("govops.failover.{k}"))
                            })
                            .join(" "),
                    );
                }
            }
        }
        for metric in doc["resourceMetrics"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r["scopeMetrics"].as_array().unwrap())
            .flat_map(|s| s["metrics"].as_array().unwrap())
        {
            metrics.push(metric["name"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(served.values().sum::<u32>(), 100, "{served:?}");
    assert!(served["azure-openai"] >= 1, "{served:?}");
    assert!(served["openai"] >= 1, "{served:?}");
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("failover openai azure-openai")),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("failback azure-openai openai recovered")),
        "{events:?}"
    );
    for name in ["govops.failover.switches", "govops.failover.readiness"] {
        assert!(metrics.iter().any(|m| m == name), "{name}: {metrics:?}");
    }
}

/// An OTLP JSON attribute's value as text; empty when absent.
fn attribute(attributes: &serde_json::Value, key: &str) -> String {
    attributes
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["key"] == key)
        .and_then(|a| a["value"].as_object())
        .and_then(|v| v.values().next())
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
        .unwrap_or_default()
}
