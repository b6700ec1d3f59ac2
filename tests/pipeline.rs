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
        let mut builder = govops::configure().stderr_logs(false);
        if let Ok(secs) = std::env::var("GOVOPS_TEST_SHUTDOWN_SECS") {
            builder = builder.shutdown_timeout(Duration::from_secs(secs.parse().unwrap()));
        }
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
        // Nothing had reached the collector: every span is still queued when the bound passes.
        let (ended, lost, reasons) = loss_in(lines[0], "spans");
        assert_eq!((ended, lost), (SPANS as u64, SPANS as u64), "{}", lines[0]);
        assert_eq!(reasons.values().sum::<u64>(), lost, "{}", lines[0]);
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

/// The account a shutdown warning gives of one signal (`spans`, `log records`): how many ended,
/// how many were lost, and how many for each reason.
fn loss_in(line: &str, what: &str) -> (u64, u64, std::collections::BTreeMap<String, u64>) {
    let start = line
        .find(&format!("; {what}: "))
        .unwrap_or_else(|| panic!("no account of {what} in: {line}"))
        + what.len()
        + 4;
    let rest = &line[start..];
    let (lost, rest) = rest.split_once(" of ").unwrap();
    let (ended, rest) = rest.split_once(" lost (").unwrap();
    let reasons = rest[..rest.find(')').unwrap()]
        .split(", ")
        .filter_map(|r| {
            let (n, reason) = r.split_once(' ')?;
            Some((reason.to_owned(), n.parse().ok()?))
        })
        .collect();
    (ended.parse().unwrap(), lost.parse().unwrap(), reasons)
}

/// Distinct spans and log records of `app` a receiver got (a retried export sends them again).
fn distinct_items(received: &Received, app: &str) -> (u64, u64) {
    use prost::Message;
    let ours = |r: Option<&opentelemetry_proto::tonic::resource::v1::Resource>| {
        resource_attr(r, "service.name").as_deref() == Some(app)
    };
    let spans: std::collections::BTreeSet<Vec<u8>> = received
        .traces()
        .iter()
        .flat_map(|t| &t.resource_spans)
        .filter(|rs| ours(rs.resource.as_ref()))
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(|span| span.span_id.clone())
        .collect();
    let logs: std::collections::BTreeSet<Vec<u8>> = received
        .logs()
        .iter()
        .flat_map(|l| &l.resource_logs)
        .filter(|rl| ours(rl.resource.as_ref()))
        .flat_map(|rl| &rl.scope_logs)
        .flat_map(|sl| &sl.log_records)
        .map(|record| record.encode_to_vec())
        .collect();
    (spans.len() as u64, logs.len() as u64)
}

async fn receiver(protocol: &str, answer: Answer) -> (std::net::SocketAddr, Received) {
    if protocol == "grpc" {
        grpc_receiver_answering(answer).await
    } else {
        http_receiver_answering(answer).await
    }
}

/// Runs the child against `addr` under a long shutdown bound (no loss to a timeout), with
/// `extra` variables, and returns its one warning line.
async fn warning_from_child(
    protocol: &'static str,
    addr: std::net::SocketAddr,
    app: &'static str,
    extra: Vec<(&'static str, String)>,
) -> String {
    let dir = tempfile::tempdir().unwrap();
    let finished = tokio::task::spawn_blocking(move || {
        let mut vars = vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}")),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
            ("GOVOPS_TEST_SHUTDOWN_SECS", "40".to_owned()),
        ];
        vars.extend(extra);
        run(dir.path(), "none", vars, app)
    })
    .await
    .unwrap();
    assert!(finished.status.success(), "{protocol}: {}", finished.stderr);
    let lines = stderr_lines(&finished);
    assert_eq!(lines.len(), 1, "{protocol}: {}", finished.stderr);
    assert!(lines[0].starts_with("govops: warning:"), "{}", lines[0]);
    lines[0].to_owned()
}

/// While the collector fails every export, the spans and log records a full queue dropped are
/// reported beside those the failed exports lost, each with its exact count, and every item that
/// ended is one or the other (the collector accepted none).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_collector_hides_no_drop_from_a_full_queue() {
    for protocol in ["grpc", "http/protobuf"] {
        let (addr, received) = receiver(protocol, Answer::Unavailable).await;
        let app = "failing";
        let small_queues = vec![
            ("OTEL_BSP_MAX_QUEUE_SIZE", "16".to_owned()),
            ("OTEL_BLRP_MAX_QUEUE_SIZE", "16".to_owned()),
        ];
        let line = warning_from_child(protocol, addr, app, small_queues).await;
        assert!(line.contains("failed"), "{line}");
        let (failed_spans, failed_logs) = distinct_items(&received, app);
        for (what, failed) in [("spans", failed_spans), ("log records", failed_logs)] {
            let (ended, lost, reasons) = loss_in(&line, what);
            assert_eq!(ended, SPANS as u64, "{protocol} {what}: {line}");
            assert_eq!(
                lost, ended,
                "nothing was accepted: {protocol} {what}: {line}"
            );
            assert!(
                failed > 0 && failed < ended,
                "a queue of 16 cannot hold {ended} {what} while every export fails: {failed}"
            );
            assert_eq!(
                reasons.get("in failed exports"),
                Some(&failed),
                "{protocol} {what}: {line}"
            );
            assert_eq!(
                reasons.get("dropped on a full export queue"),
                Some(&(ended - failed)),
                "{protocol} {what}: {line}"
            );
            assert_eq!(reasons.len(), 2, "{protocol} {what}: {line}");
        }
    }
}

/// A collector that accepts each export but refuses part of it (OTLP `partial_success`): the
/// refused spans and log records are counted, and the shutdown says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_collector_refuses_in_a_partial_success_is_counted() {
    for protocol in ["grpc", "http/protobuf"] {
        let (addr, received) = receiver(protocol, Answer::Refuse(3)).await;
        let app = "refusing";
        let line = warning_from_child(protocol, addr, app, vec![]).await;
        assert!(line.contains("partial_success"), "{line}");
        let requests = |n: usize| 3 * n as u64;
        let trace_requests = requests(received.traces().len());
        let log_requests = requests(received.logs().len());
        for (what, refused) in [("spans", trace_requests), ("log records", log_requests)] {
            let (ended, lost, reasons) = loss_in(&line, what);
            assert_eq!(ended, SPANS as u64, "{protocol} {what}: {line}");
            assert!(refused > 0, "{protocol} {what}");
            assert_eq!(lost, refused, "{protocol} {what}: {line}");
            assert_eq!(
                reasons.get("refused by the collector"),
                Some(&refused),
                "{protocol} {what}: {line}"
            );
        }
    }
}

/// A collector that is down (connection refused) or too slow (answers nothing within the export
/// timeout), with queues too small for the load: the shutdown accounts for every span and log
/// record, the full queue's drops beside the failed exports', and nothing is left unexplained.
#[test]
fn a_collector_down_or_too_slow_loses_nothing_unaccounted() {
    let dir = tempfile::tempdir().unwrap();
    let refused = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let hanging = black_hole(Duration::from_secs(60));
    for (collector, addr) in [("down", refused), ("too slow", hanging)] {
        for protocol in ["grpc", "http/protobuf"] {
            let finished = run(
                dir.path(),
                "none",
                vec![
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}")),
                    ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
                    ("OTEL_EXPORTER_OTLP_TIMEOUT", "200".to_owned()),
                    ("OTEL_BSP_MAX_QUEUE_SIZE", "16".to_owned()),
                    ("OTEL_BLRP_MAX_QUEUE_SIZE", "16".to_owned()),
                    ("GOVOPS_TEST_SHUTDOWN_SECS", "40".to_owned()),
                ],
                "unreachable",
            );
            let case = format!("{collector} {protocol}");
            assert!(finished.status.success(), "{case}: {}", finished.stderr);
            let lines = stderr_lines(&finished);
            assert_eq!(lines.len(), 1, "{case}: {}", finished.stderr);
            for what in ["spans", "log records"] {
                let (ended, lost, reasons) = loss_in(lines[0], what);
                assert_eq!(
                    (ended, lost),
                    (SPANS as u64, SPANS as u64),
                    "{case}: {}",
                    lines[0]
                );
                assert_eq!(reasons.values().sum::<u64>(), lost, "{case}: {}", lines[0]);
                assert!(
                    reasons.get("dropped on a full export queue") > Some(&0)
                        && reasons.get("in failed exports") > Some(&0),
                    "{case} {what}: both reasons, each with its count: {}",
                    lines[0]
                );
            }
        }
    }
}
