//! The drift baseline survives a restart: `init` restores it from its file and shutdown saves it
//! (one `init` per process, so this binary holds one test).
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use govops::{
    Call, InitError, Usage, config::EnvSource, drift::DriftConfig, drift::DriftRegistry, governed,
};

#[governed(chat, model = "gpt-4o", provider = "openai")]
fn chat(output: u64) {
    Call::current().record_usage(Usage {
        input: 100,
        output,
        ..Usage::default()
    });
}

fn builder(dir: &std::path::Path) -> govops::Builder {
    govops::configure()
        .env(EnvSource::empty())
        .app_name("drift-test")
        .environment("dev")
        .owner("team-ai")
        .cost_center("CC-1")
        .data_classification("internal")
        .telemetry_file(dir.join("telemetry.jsonl").to_str().unwrap())
        .stderr_logs(false)
}

#[test]
fn init_restores_the_baseline_and_shutdown_saves_it() {
    let dir = tempfile::tempdir().unwrap();

    // A damaged baseline stops start-up with the file named, rather than silently forgetting.
    let damaged = dir.path().join("damaged.json");
    std::fs::write(&damaged, "{ not json").unwrap();
    let error = builder(dir.path())
        .drift_baseline(&damaged)
        .try_init()
        .unwrap_err();
    assert!(matches!(error, InitError::DriftBaseline { .. }), "{error}");
    assert_eq!(error.exit_code(), 78);
    assert!(error.to_string().contains("damaged.json"), "{error}");

    // A baseline from an earlier run: 40 calls of gpt-4o at openai.
    let baseline = dir.path().join("drift.json");
    let earlier = DriftRegistry::new(&DriftConfig::default()).unwrap();
    for _ in 0..40 {
        earlier.observe(
            "gpt-4o",
            "openai",
            &govops::drift::Observation {
                latency: std::time::Duration::from_millis(800),
                output_tokens: Some(200),
                success: true,
                cost_usd: None,
            },
        );
    }
    earlier.save(&baseline).unwrap();

    let govops = builder(dir.path())
        .drift_baseline(&baseline)
        .try_init()
        .unwrap();
    let restored = govops.drift().unwrap();
    assert_eq!(
        restored.current("gpt-4o", "openai").unwrap().observations,
        40
    );
    for _ in 0..25 {
        chat(200);
    }
    assert_eq!(
        restored.current("gpt-4o", "openai").unwrap().observations,
        65
    );
    govops.shutdown().unwrap();

    let after = DriftRegistry::new(&DriftConfig::default()).unwrap();
    assert_eq!(after.restore(&baseline).unwrap(), 1);
    assert_eq!(
        after.current("gpt-4o", "openai").unwrap().observations,
        65,
        "the next start goes on from 65 calls"
    );
}
