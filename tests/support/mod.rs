//! Real components for the integration tests: OTLP receivers over gRPC (tonic) and HTTP (axum),
//! a collector that never answers, and child processes with their own environment.
#![allow(dead_code, clippy::unwrap_used)]

pub mod redis_server;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

/// Everything a receiver was sent.
#[derive(Clone, Default)]
pub struct Received {
    inner: Arc<Mutex<Inner>>,
}

/// How a receiver answers each export.
#[derive(Clone, Copy, Debug, Default)]
pub enum Answer {
    /// Accepted in full.
    #[default]
    Accept,
    /// Refused whole: gRPC `UNAVAILABLE`, HTTP 503 (the request is still recorded).
    Unavailable,
    /// Accepted, with an OTLP `partial_success` refusing this many items of each request.
    Refuse(i64),
}

#[derive(Default)]
struct Inner {
    answer: Answer,
    traces: Vec<ExportTraceServiceRequest>,
    logs: Vec<ExportLogsServiceRequest>,
    metrics: Vec<ExportMetricsServiceRequest>,
    authorization: Vec<String>,
}

impl Received {
    fn answer(&self) -> Answer {
        self.inner.lock().unwrap().answer
    }
    fn authorized(&self, value: Option<&str>) {
        if let Some(value) = value {
            self.inner
                .lock()
                .unwrap()
                .authorization
                .push(value.to_owned());
        }
    }
    pub fn traces(&self) -> Vec<ExportTraceServiceRequest> {
        self.inner.lock().unwrap().traces.clone()
    }
    pub fn logs(&self) -> Vec<ExportLogsServiceRequest> {
        self.inner.lock().unwrap().logs.clone()
    }
    pub fn metrics(&self) -> Vec<ExportMetricsServiceRequest> {
        self.inner.lock().unwrap().metrics.clone()
    }
    pub fn authorization(&self) -> Vec<String> {
        self.inner.lock().unwrap().authorization.clone()
    }
}

#[tonic::async_trait]
impl TraceService for Received {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.authorized(
            request
                .metadata()
                .get("authorization")
                .and_then(|v| v.to_str().ok()),
        );
        self.inner.lock().unwrap().traces.push(request.into_inner());
        match self.answer() {
            Answer::Accept => Ok(tonic::Response::new(ExportTraceServiceResponse {
                partial_success: None,
            })),
            Answer::Unavailable => Err(tonic::Status::unavailable("collector overloaded")),
            Answer::Refuse(n) => Ok(tonic::Response::new(ExportTraceServiceResponse {
                partial_success: Some(ExportTracePartialSuccess {
                    rejected_spans: n,
                    error_message: "span too old".to_owned(),
                }),
            })),
        }
    }
}

#[tonic::async_trait]
impl LogsService for Received {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        self.inner.lock().unwrap().logs.push(request.into_inner());
        match self.answer() {
            Answer::Accept => Ok(tonic::Response::new(ExportLogsServiceResponse {
                partial_success: None,
            })),
            Answer::Unavailable => Err(tonic::Status::unavailable("collector overloaded")),
            Answer::Refuse(n) => Ok(tonic::Response::new(ExportLogsServiceResponse {
                partial_success: Some(ExportLogsPartialSuccess {
                    rejected_log_records: n,
                    error_message: "record too old".to_owned(),
                }),
            })),
        }
    }
}

#[tonic::async_trait]
impl MetricsService for Received {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.inner
            .lock()
            .unwrap()
            .metrics
            .push(request.into_inner());
        match self.answer() {
            Answer::Unavailable => Err(tonic::Status::unavailable("collector overloaded")),
            _ => Ok(tonic::Response::new(ExportMetricsServiceResponse {
                partial_success: None,
            })),
        }
    }
}

/// Starts an OTLP/gRPC receiver on a free loopback port of the current runtime.
pub async fn grpc_receiver() -> (SocketAddr, Received) {
    grpc_receiver_answering(Answer::Accept).await
}

/// Starts an OTLP/gRPC receiver that answers every export with `answer`.
pub async fn grpc_receiver_answering(answer: Answer) -> (SocketAddr, Received) {
    let received = Received::default();
    received.inner.lock().unwrap().answer = answer;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tonic::transport::Server::builder()
        .add_service(TraceServiceServer::new(received.clone()))
        .add_service(LogsServiceServer::new(received.clone()))
        .add_service(MetricsServiceServer::new(received.clone()))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
    tokio::spawn(server);
    (addr, received)
}

async fn http_export<T: Message + Default>(
    received: &Received,
    headers: &HeaderMap,
    body: &Bytes,
    push: impl FnOnce(&mut Inner, T),
    refusal: impl FnOnce(i64) -> Vec<u8>,
) -> (StatusCode, [(&'static str, &'static str); 1], Vec<u8>) {
    received.authorized(headers.get("authorization").and_then(|v| v.to_str().ok()));
    let message = T::decode(body.as_ref()).unwrap();
    push(&mut received.inner.lock().unwrap(), message);
    let (status, body) = match received.answer() {
        Answer::Accept => (StatusCode::OK, Vec::new()),
        Answer::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, Vec::new()),
        Answer::Refuse(n) => (StatusCode::OK, refusal(n)),
    };
    (status, [("content-type", "application/x-protobuf")], body)
}

/// Starts an OTLP/HTTP (protobuf) receiver on a free loopback port of the current runtime.
pub async fn http_receiver() -> (SocketAddr, Received) {
    http_receiver_answering(Answer::Accept).await
}

/// Starts an OTLP/HTTP (protobuf) receiver that answers every export with `answer`.
pub async fn http_receiver_answering(answer: Answer) -> (SocketAddr, Received) {
    let received = Received::default();
    received.inner.lock().unwrap().answer = answer;
    let app = axum::Router::new()
        .route(
            "/v1/traces",
            post(
                |State(r): State<Received>, h: HeaderMap, b: Bytes| async move {
                    http_export::<ExportTraceServiceRequest>(
                        &r,
                        &h,
                        &b,
                        |i, m| i.traces.push(m),
                        |n| {
                            ExportTraceServiceResponse {
                                partial_success: Some(ExportTracePartialSuccess {
                                    rejected_spans: n,
                                    error_message: "span too old".to_owned(),
                                }),
                            }
                            .encode_to_vec()
                        },
                    )
                    .await
                },
            ),
        )
        .route(
            "/v1/logs",
            post(
                |State(r): State<Received>, h: HeaderMap, b: Bytes| async move {
                    http_export::<ExportLogsServiceRequest>(
                        &r,
                        &h,
                        &b,
                        |i, m| i.logs.push(m),
                        |n| {
                            ExportLogsServiceResponse {
                                partial_success: Some(ExportLogsPartialSuccess {
                                    rejected_log_records: n,
                                    error_message: "record too old".to_owned(),
                                }),
                            }
                            .encode_to_vec()
                        },
                    )
                    .await
                },
            ),
        )
        .route(
            "/v1/metrics",
            post(
                |State(r): State<Received>, h: HeaderMap, b: Bytes| async move {
                    http_export::<ExportMetricsServiceRequest>(
                        &r,
                        &h,
                        &b,
                        |i, m| i.metrics.push(m),
                        |_| Vec::new(),
                    )
                    .await
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, received)
}

/// A collector that accepts connections and never answers. Its thread ends after `lifetime`.
pub fn black_hole(lifetime: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let start = Instant::now();
        let mut held = Vec::new();
        while start.elapsed() < lifetime {
            match listener.accept() {
                Ok((stream, _)) => held.push(stream),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    addr
}

/// What a finished child process left behind.
pub struct Finished {
    pub status: ExitStatus,
    pub stderr: String,
    pub stdout: String,
    pub elapsed: Duration,
}

/// Runs `command` with an empty environment plus `vars`, in `dir`, killing it after `limit`.
pub fn run_child(
    mut command: Command,
    dir: &Path,
    vars: &[(&str, String)],
    limit: Duration,
) -> Finished {
    let out = dir.join(format!("child-{}.out", std::process::id()));
    let err = dir.join(format!("child-{}.err", std::process::id()));
    command
        .env_clear()
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap());
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    for (k, v) in vars {
        command.env(k, v);
    }
    let start = Instant::now();
    let mut child = command.spawn().unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!(
                "the child did not finish within {limit:?}: {}",
                std::fs::read_to_string(&err).unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Finished {
        status,
        elapsed: start.elapsed(),
        stdout: std::fs::read_to_string(&out).unwrap(),
        stderr: std::fs::read_to_string(&err).unwrap(),
    }
}

/// This test binary, run as a child for the ignored test `name`.
pub fn this_test(name: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.args([
        "--exact",
        name,
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    command
}

/// A built example: `cargo test` builds examples next to the test binaries' `deps` directory.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// The five required variables with valid values.
pub fn complete_env(app_name: &str) -> Vec<(&'static str, String)> {
    vec![
        ("GOVOPS_APP_NAME", app_name.to_owned()),
        ("GOVOPS_ENVIRONMENT", "test".to_owned()),
        ("GOVOPS_OWNER", "team-ai".to_owned()),
        ("GOVOPS_COST_CENTER", "CC-1234".to_owned()),
        ("GOVOPS_DATA_CLASSIFICATION", "internal".to_owned()),
    ]
}

/// A string attribute of a resource.
pub fn resource_attr(resource: Option<&Resource>, key: &str) -> Option<String> {
    string_attr(&resource?.attributes, key)
}

/// A string attribute from a list.
pub fn string_attr(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.clone()),
            _ => None,
        }
    })
}

/// Names of the spans of `service` in the requests.
pub fn span_names(requests: &[ExportTraceServiceRequest], service: &str) -> Vec<String> {
    requests
        .iter()
        .flat_map(|r| &r.resource_spans)
        .filter(|rs| {
            resource_attr(rs.resource.as_ref(), "service.name").as_deref() == Some(service)
        })
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(|s| s.name.clone())
        .collect()
}

/// Bodies of the log records of `service` in the requests.
pub fn log_count(requests: &[ExportLogsServiceRequest], service: &str) -> usize {
    requests
        .iter()
        .flat_map(|r| &r.resource_logs)
        .filter(|rl| {
            resource_attr(rl.resource.as_ref(), "service.name").as_deref() == Some(service)
        })
        .flat_map(|rl| &rl.scope_logs)
        .map(|sl| sl.log_records.len())
        .sum()
}

/// The JSON-lines file parsed back with opentelemetry-proto's serde types.
pub struct JsonLines {
    pub traces: Vec<ExportTraceServiceRequest>,
    pub logs: Vec<ExportLogsServiceRequest>,
    pub metrics: Vec<ExportMetricsServiceRequest>,
}

pub fn read_json_lines(path: &Path) -> JsonLines {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = JsonLines {
        traces: vec![],
        logs: vec![],
        metrics: vec![],
    };
    for (n, line) in text.lines().enumerate() {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
        if value.get("resourceSpans").is_some() {
            lines.traces.push(serde_json::from_str(line).unwrap());
        } else if value.get("resourceLogs").is_some() {
            lines.logs.push(serde_json::from_str(line).unwrap());
        } else if value.get("resourceMetrics").is_some() {
            lines.metrics.push(serde_json::from_str(line).unwrap());
        } else {
            panic!("line {} is not an OTLP export request: {line}", n + 1);
        }
    }
    lines
}

/// A capture governed by the policy `text` (written to a file it names in `GOVOPS_POLICY`); keep
/// the directory while the capture is used.
pub fn with_policy(text: &str) -> (govops::testing::Capture, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, text).unwrap();
    let capture = govops::testing::Capture::builder()
        .env("GOVOPS_POLICY", path.to_str().unwrap())
        .build()
        .unwrap();
    (capture, dir)
}
