//! The telemetry pipeline end to end: each case runs this binary's ignored `child` test as a real
//! child process (init installs process-wide state), with its own environment, and checks what
//! arrived at a real receiver or file.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod support;

use std::time::Duration;

use support::*;
use tracing::Instrument;

const SPANS: usize = 300;
const RUNTIMES: [&str; 3] = ["none", "current_thread", "multi_thread"];

/// Runs in the child: init from the process environment, emit SPANS spans each with one log
/// event under the runtime the parent asked for, then drop the handle (inside that runtime).
#[test]
#[ignore = "run as a child process by the other tests in this file"]
fn child() {
    let runtime = std::env::var("GOVOPS_TEST_RUNTIME").unwrap();
    let spans: usize = std::env::var("GOVOPS_TEST_SPANS").unwrap().parse().unwrap();
    // stderr carries only what govops itself says, so the parent can count its lines.
    let init = || {
        let builder = govops::configure().stderr_logs(false);
        match std::env::var("GOVOPS_TEST_CODE_HEADERS") {
            Ok(headers) => builder.otlp_headers(headers).init(),
            Err(_) => builder.init(),
        }
    };
    match runtime.as_str() {
        "none" => {
            let govops = init();
            for i in 0..spans {
                tracing::info_span!("work", i).in_scope(|| tracing::info!(i, "working"));
            }
            drop(govops);
        }
        "current_thread" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                let govops = init();
                for i in 0..spans {
                    tokio::spawn(work(i)).await.unwrap();
                }
                drop(govops);
            }),
        "multi_thread" => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                let govops = init();
                let tasks: Vec<_> = (0..spans).map(|i| tokio::spawn(work(i))).collect();
                for task in tasks {
                    task.await.unwrap();
                }
                drop(govops);
            }),
        "twice" => {
            let first = govops::configure().stderr_logs(false).try_init().unwrap();
            let second = govops::try_init().unwrap_err();
            assert!(
                matches!(second, govops::InitError::AlreadyInitialized),
                "{second}"
            );
            assert_eq!(second.exit_code(), 70);
            eprintln!("second init: {second}");
            drop(first);
            let third = govops::try_init().unwrap_err();
            assert!(
                matches!(third, govops::InitError::AlreadyInitialized),
                "{third}"
            );
        }
        other => panic!("unknown runtime {other}"),
    }
}

async fn work(i: usize) {
    async move {
        tokio::task::yield_now().await;
        tracing::info!(i, "working");
    }
    .instrument(tracing::info_span!("work", i))
    .await;
}

fn run(
    dir: &std::path::Path,
    runtime: &str,
    extra: Vec<(&'static str, String)>,
    app: &str,
) -> Finished {
    let mut vars = complete_env(app);
    vars.extend(extra);
    vars.push(("GOVOPS_TEST_RUNTIME", runtime.to_owned()));
    vars.push(("GOVOPS_TEST_SPANS", SPANS.to_string()));
    run_child(this_test("child"), dir, &vars, Duration::from_secs(60))
}

fn assert_clean(finished: &Finished) {
    assert!(
        finished.status.success(),
        "exit {:?}\n{}\n{}",
        finished.status,
        finished.stdout,
        finished.stderr
    );
    assert!(
        !finished.stderr.contains("govops: warning"),
        "{}",
        finished.stderr
    );
}

#[test]
fn the_file_sink_receives_every_span_and_log_under_each_runtime() {
    let dir = tempfile::tempdir().unwrap();
    for runtime in RUNTIMES {
        let file = dir.path().join(format!("{runtime}.jsonl"));
        let app = format!("file-{}", runtime.replace('_', "-"));
        let finished = run(
            dir.path(),
            runtime,
            vec![("GOVOPS_TELEMETRY_FILE", file.display().to_string())],
            &app,
        );
        assert_clean(&finished);
        let lines = read_json_lines(&file);
        let names = span_names(&lines.traces, &app);
        assert_eq!(
            names.iter().filter(|n| *n == "work").count(),
            SPANS,
            "{runtime}"
        );
        assert_eq!(log_count(&lines.logs, &app), SPANS, "{runtime}");
        let resource = lines.traces[0].resource_spans[0].resource.as_ref();
        assert_eq!(
            resource_attr(resource, "deployment.environment.name").as_deref(),
            Some("test")
        );
        assert_eq!(
            resource_attr(resource, "govops.cost_center").as_deref(),
            Some("CC-1234")
        );
    }
}

#[test]
fn the_default_file_is_govops_telemetry_jsonl_in_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let finished = run(dir.path(), "none", vec![], "default-file");
    assert_clean(&finished);
    let lines = read_json_lines(&dir.path().join("govops-telemetry.jsonl"));
    assert_eq!(span_names(&lines.traces, "default-file").len(), SPANS);
}

fn otlp_case(
    protocol: &str,
    addr: std::net::SocketAddr,
    received: &Received,
    dir: &std::path::Path,
) {
    for runtime in RUNTIMES {
        let app = format!(
            "{}-{}",
            protocol.replace('/', "-"),
            runtime.replace('_', "-")
        );
        let finished = run(
            dir,
            runtime,
            vec![
                ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}")),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
                (
                    "OTEL_EXPORTER_OTLP_HEADERS",
                    "authorization=Bearer%20s3cr3t".to_owned(),
                ),
                ("OTEL_RESOURCE_ATTRIBUTES", "team.region=eu-west".to_owned()),
            ],
            &app,
        );
        assert_clean(&finished);
        assert!(!finished.stderr.contains("s3cr3t"));
        let traces = received.traces();
        let names = span_names(&traces, &app);
        assert_eq!(
            names.iter().filter(|n| *n == "work").count(),
            SPANS,
            "{protocol} {runtime}"
        );
        assert_eq!(
            log_count(&received.logs(), &app),
            SPANS,
            "{protocol} {runtime}"
        );
        let resource = traces
            .iter()
            .flat_map(|t| &t.resource_spans)
            .find(|rs| {
                resource_attr(rs.resource.as_ref(), "service.name").as_deref() == Some(app.as_str())
            })
            .and_then(|rs| rs.resource.as_ref());
        assert_eq!(
            resource_attr(resource, "team.region").as_deref(),
            Some("eu-west")
        );
        assert_eq!(
            resource_attr(resource, "govops.owner").as_deref(),
            Some("team-ai")
        );
    }
    assert!(
        received
            .authorization()
            .iter()
            .all(|a| a == "Bearer s3cr3t")
    );
    assert!(!received.authorization().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_otlp_grpc_receiver_gets_every_span_and_log_under_each_runtime() {
    let (addr, received) = grpc_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let r = received.clone();
    tokio::task::spawn_blocking(move || otlp_case("grpc", addr, &r, &path))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_otlp_http_receiver_gets_every_span_and_log_under_each_runtime() {
    let (addr, received) = http_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let r = received.clone();
    tokio::task::spawn_blocking(move || otlp_case("http/protobuf", addr, &r, &path))
        .await
        .unwrap();
}

/// The lines govops wrote to stderr (the child's console logs are off).
fn stderr_lines(finished: &Finished) -> Vec<&str> {
    finished
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect()
}

#[test]
fn a_collector_that_never_answers_costs_a_bounded_shutdown_and_one_warning() {
    let dir = tempfile::tempdir().unwrap();
    for protocol in ["grpc", "http/protobuf"] {
        let addr = black_hole(Duration::from_secs(40));
        let finished = run(
            dir.path(),
            "multi_thread",
            vec![
                ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}")),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
            ],
            "stalled",
        );
        // The bound is 5 s; a hang would be killed at 60 s by run_child. Allow for a slow machine.
        assert!(
            finished.elapsed < Duration::from_secs(20),
            "{protocol}: took {:?}",
            finished.elapsed
        );
        assert!(finished.status.success(), "{protocol}: {}", finished.stderr);
        let lines = stderr_lines(&finished);
        assert_eq!(
            lines.len(),
            1,
            "{protocol}: exactly one line, the warning: {}",
            finished.stderr
        );
        assert!(lines[0].starts_with("govops: warning:"), "{}", lines[0]);
        assert!(lines[0].contains("not flushed within 5s"), "{}", lines[0]);
        assert!(lines[0].contains(&addr.to_string()), "{}", lines[0]);
    }
}

#[test]
fn a_collector_that_refuses_connections_costs_one_warning_naming_the_failures() {
    let dir = tempfile::tempdir().unwrap();
    // Bind then drop: a loopback port with nobody listening refuses at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for protocol in ["grpc", "http/protobuf"] {
        let finished = run(
            dir.path(),
            "none",
            vec![
                (
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                    format!("http://user:pw@127.0.0.1:{port}"),
                ),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
            ],
            "refused",
        );
        assert!(finished.status.success(), "{protocol}: {}", finished.stderr);
        let lines = stderr_lines(&finished);
        assert_eq!(lines.len(), 1, "{protocol}: {}", finished.stderr);
        assert!(lines[0].starts_with("govops: warning:"), "{}", lines[0]);
        assert!(lines[0].contains("failed"), "{}", lines[0]);
        assert!(
            !lines[0].contains("pw@"),
            "credentials in the endpoint are never printed: {}",
            lines[0]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_set_in_code_win_over_the_process_environment() {
    for protocol in ["grpc", "http/protobuf"] {
        let (addr, received) = if protocol == "grpc" {
            grpc_receiver().await
        } else {
            http_receiver().await
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let finished = tokio::task::spawn_blocking(move || {
            let mut vars = complete_env("headers");
            vars.extend([
                ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}")),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
                (
                    "OTEL_EXPORTER_OTLP_HEADERS",
                    "authorization=from-env".to_owned(),
                ),
                (
                    "GOVOPS_TEST_CODE_HEADERS",
                    "authorization=Bearer%20from-code".to_owned(),
                ),
                ("GOVOPS_TEST_RUNTIME", "none".to_owned()),
                ("GOVOPS_TEST_SPANS", "5".to_owned()),
            ]);
            run_child(this_test("child"), &path, &vars, Duration::from_secs(60))
        })
        .await
        .unwrap();
        assert_clean(&finished);
        assert_eq!(span_names(&received.traces(), "headers").len(), 5);
        let seen = received.authorization();
        assert!(!seen.is_empty(), "{protocol}");
        assert!(
            seen.iter().all(|a| a == "Bearer from-code"),
            "{protocol}: {seen:?}"
        );
    }
}

#[test]
fn a_second_init_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let finished = run(dir.path(), "twice", vec![], "twice");
    assert!(finished.status.success(), "{}", finished.stderr);
    assert!(
        finished
            .stderr
            .contains("second init: govops is already initialised"),
        "{}",
        finished.stderr
    );
}

#[test]
fn gaps_exit_78_with_every_gap_and_never_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let vars = vec![
        ("GOVOPS_ENVIRONMENT", "production".to_owned()),
        ("GOVOPS_OWNER", "  ".to_owned()),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://localhost:4318".to_owned(),
        ),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "x-api-key=topsecret-123,broken-topsecret-123".to_owned(),
        ),
        ("GOVOPS_TEST_RUNTIME", "none".to_owned()),
        ("GOVOPS_TEST_SPANS", "1".to_owned()),
    ];
    let finished = run_child(
        this_test("child"),
        dir.path(),
        &vars,
        Duration::from_secs(60),
    );
    assert_eq!(finished.status.code(), Some(78), "{}", finished.stderr);
    for variable in [
        "GOVOPS_APP_NAME",
        "GOVOPS_ENVIRONMENT",
        "GOVOPS_OWNER",
        "GOVOPS_COST_CENTER",
        "GOVOPS_DATA_CLASSIFICATION",
        "OTEL_EXPORTER_OTLP_HEADERS",
    ] {
        assert!(
            finished.stderr.contains(variable),
            "{variable}: {}",
            finished.stderr
        );
    }
    assert!(
        !finished.stderr.contains("topsecret"),
        "{}",
        finished.stderr
    );
    assert!(!finished.stdout.contains("topsecret"));
}
