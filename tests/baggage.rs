//! Who called crosses a process boundary with the trace: service A, in a `govops::context` scope,
//! calls service B over real HTTP with `govops::context::headers()` (`traceparent` and W3C
//! `baggage`); B continues the trace from `govops::context::extract`, and its governed tool call
//! carries A's session and user ids and has A's agent span as its remote parent. Each service has
//! its own `Capture`, as two processes have their own pipelines. Without the headers, B's call
//! starts a fresh trace with an `unknown` caller.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::get;
use govops::testing::{Capture, CapturedSpan, assert_contract};
use govops::{Operation, governed};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::Dispatch;
use tracing::instrument::WithSubscriber;

/// Service B's tool, called inside the context of the incoming request.
#[governed(tool, name = "lookup_order")]
fn lookup_order(order: &str) -> String {
    format!("order {order}: shipped")
}

/// Service A's agent: asks service B over HTTP, propagating the current context.
#[governed(agent, name = "support")]
async fn agent(addr: SocketAddr) -> String {
    let (status, body) = http_get(addr, "/orders/o-1", &govops::context::headers()).await;
    assert_eq!(status, 200, "{body}");
    format!("B says: {body}")
}

/// An unrelated call, so that service A's counting ids differ from service B's.
#[governed(tool, name = "warm_up")]
fn warm_up() {}

/// Service B: its own pipeline, and the headers of every request it received.
#[derive(Clone)]
struct ServiceB {
    dispatch: Dispatch,
    received: Arc<Mutex<Vec<HashMap<String, String>>>>,
}

async fn lookup(service: ServiceB, order: String, headers: HeaderMap) -> String {
    let carrier: HashMap<String, String> = headers
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    service.received.lock().unwrap().push(carrier.clone());
    // Yield once, so that the governed call runs in a later poll, wherever tokio puts it.
    tokio::task::yield_now().await;
    govops::context::attached(&carrier, || lookup_order(&order))
}

/// Starts service B on a free loopback port; `capture` is its pipeline.
async fn service_b(capture: &Capture) -> (SocketAddr, Arc<Mutex<Vec<HashMap<String, String>>>>) {
    let service = ServiceB {
        dispatch: capture.dispatch(),
        received: Arc::default(),
    };
    let received = service.received.clone();
    let app = axum::Router::new()
        .route(
            "/orders/{order}",
            get(
                |State(service): State<ServiceB>, Path(order): Path<String>, headers: HeaderMap| {
                    let dispatch = service.dispatch.clone();
                    lookup(service, order, headers).with_subscriber(dispatch)
                },
            ),
        )
        .with_state(service);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, received)
}

/// A minimal HTTP/1.1 client: one GET with `headers`, the connection closed after the response.
/// Returns the status code and the body.
async fn http_get(
    addr: SocketAddr,
    path: &str,
    headers: &HashMap<String, String>,
) -> (u16, String) {
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("Connection: close\r\n\r\n");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8(response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

fn one(capture: &Capture, operation: Operation, subject: &str) -> CapturedSpan {
    let spans = capture.spans_of(operation, subject);
    assert_eq!(spans.len(), 1, "{operation:?} {subject}: {spans:#?}");
    spans.into_iter().next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_and_user_cross_to_another_service_with_the_trace() {
    let capture_a = Capture::new();
    let capture_b = Capture::new();
    let (addr, received) = service_b(&capture_b).await;

    // Both captures count ids from 1: without these, A's ids would equal B's own by chance.
    capture_a.run(|| {
        warm_up();
        warm_up();
    });
    let answer = capture_a
        .run_async(govops::context::in_scope(
            "session-77",
            "user-88",
            agent(addr),
        ))
        .await;
    assert_eq!(answer, "B says: order o-1: shipped");

    // What A sent.
    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    let baggage = received[0].get("baggage").unwrap();
    assert!(baggage.contains("session.id=session-77"), "{baggage}");
    assert!(baggage.contains("user.id=user-88"), "{baggage}");

    // A's agent span.
    let agent = one(&capture_a, Operation::InvokeAgent, "support");
    assert_contract(&agent);
    assert_eq!(agent.name, "invoke_agent support");
    assert_eq!(agent.string("session.id"), Some("session-77"));
    assert_eq!(agent.string("user.id"), Some("user-88"));
    assert_eq!(agent.parent_span_id, None);
    assert_eq!(agent.trace_id, format!("{:032x}", 3), "after two warm-ups");
    assert_eq!(
        received[0].get("traceparent").map(String::as_str),
        Some(format!("00-{}-{}-01", agent.trace_id, agent.span_id).as_str()),
        "the agent span is the context A injected"
    );

    // B's tool span continues A's trace, with A's caller.
    let tool = one(&capture_b, Operation::ExecuteTool, "lookup_order");
    assert_contract(&tool);
    assert_eq!(tool.name, "execute_tool lookup_order");
    assert_eq!(tool.string("session.id"), Some("session-77"));
    assert_eq!(tool.string("user.id"), Some("user-88"));
    assert_eq!(tool.trace_id, agent.trace_id);
    assert_eq!(tool.parent_span_id.as_ref(), Some(&agent.span_id));
    assert_ne!(tool.span_id, agent.span_id);

    // Two pipelines: each service exported only its own spans.
    assert!(
        capture_a
            .spans_of(Operation::ExecuteTool, "lookup_order")
            .is_empty()
    );
    assert!(
        capture_b
            .spans_of(Operation::InvokeAgent, "support")
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_headers_starts_a_fresh_trace_with_an_unknown_caller() {
    let capture_b = Capture::new();
    let (addr, received) = service_b(&capture_b).await;

    let (status, body) = http_get(addr, "/orders/o-2", &HashMap::new()).await;
    assert_eq!((status, body.as_str()), (200, "order o-2: shipped"));
    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].get("traceparent"), None);
    assert_eq!(received[0].get("baggage"), None);

    let tool = one(&capture_b, Operation::ExecuteTool, "lookup_order");
    assert_contract(&tool);
    assert_eq!(tool.string("session.id"), Some("unknown"));
    assert_eq!(tool.string("user.id"), Some("unknown"));
    assert_eq!(tool.parent_span_id, None, "a root span");
    assert_eq!(tool.trace_id, format!("{:032x}", 1), "B's own first trace");
}
