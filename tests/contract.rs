//! The contract layer as a user's unit test sees it through `govops::testing`: every kind of
//! governed span, sync and async, carries contract sections 2 and 3 with their types; who called
//! follows spawned tasks and crosses a process boundary; a cancelled stream is still settled.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::pin::Pin;
use std::task::{Context, Poll};

use govops::testing::{Capture, CapturedSpan, assert_contract, contract_problems};
use govops::{Call, Operation, Reported, Usage, Violation, governed};
use tracing::Instrument;

#[derive(Debug)]
struct Reply {
    text: String,
    usage: Usage,
    model: &'static str,
}

impl Reported for Reply {
    fn usage(&self) -> Option<Usage> {
        Some(self.usage)
    }
    fn response_model(&self) -> Option<&str> {
        Some(self.model)
    }
    fn finish_reason(&self) -> Option<&str> {
        Some("stop")
    }
}

fn usage(input: u64, output: u64) -> Usage {
    Usage {
        input,
        output,
        ..Usage::default()
    }
}

#[governed(chat, model = "gpt-4o", provider = "openai")]
fn chat(prompt: &str) -> Reply {
    Reply {
        text: format!("re: {prompt}"),
        usage: usage(1_000, 200),
        model: "gpt-4o-2024-08-06",
    }
}

#[governed(chat, model = model, provider = "openai", err)]
async fn chat_async(model: &str, fail: bool) -> Result<Reply, String> {
    tokio::task::yield_now().await;
    if fail {
        return Err("provider said 503".to_owned());
    }
    Ok(Reply {
        text: "ok".to_owned(),
        usage: usage(10, 5),
        model: "gpt-4o-mini-2024-07-18",
    })
}

#[governed(embeddings, model = "gemini-embedding-001", provider = "gcp.vertex_ai")]
fn embed(_text: &str) -> Vec<f32> {
    Call::current().record_usage(usage(8, 0));
    vec![0.0; 4]
}

#[governed(text_completion, model = "some-private-model", provider = "acme")]
fn unpriced() -> Reply {
    Reply {
        text: String::new(),
        usage: usage(100, 50),
        model: "some-private-model",
    }
}

#[governed(tool, name = "search")]
fn search(query: &str) -> Vec<String> {
    vec![query.to_owned()]
}

#[governed(retrieval, name = "kb")]
fn retrieve() -> usize {
    3
}

#[governed(agent, name = "planner")]
async fn plan(goal: &str) -> String {
    let reply = chat(goal);
    let found = search(&reply.text);
    tracing::info!(found = found.len(), "planned");
    found.join(",")
}

#[governed(workflow, name = "triage")]
async fn triage() -> String {
    plan("fix the bug").await
}

fn one(capture: &Capture, operation: Operation, subject: &str) -> CapturedSpan {
    let spans = capture.spans_of(operation, subject);
    assert_eq!(spans.len(), 1, "{operation:?} {subject}: {spans:#?}");
    spans.into_iter().next().unwrap()
}

#[test]
fn a_sync_chat_call_carries_sections_2_and_3_with_their_types() {
    let capture = Capture::new();
    let reply = capture.run(|| govops::context::scope("s-1", "u-1", || chat("hello")));
    assert_eq!(reply.text, "re: hello");
    let span = one(&capture, Operation::Chat, "gpt-4o");
    assert_contract(&span);
    assert_eq!(span.name, "chat gpt-4o");
    assert_eq!(span.string("service.name"), Some("test-app"));
    assert_eq!(span.string("deployment.environment.name"), Some("test"));
    assert_eq!(span.string("session.id"), Some("s-1"));
    assert_eq!(span.string("user.id"), Some("u-1"));
    assert_eq!(span.string("gen_ai.provider.name"), Some("openai"));
    assert_eq!(
        span.string("gen_ai.response.model"),
        Some("gpt-4o-2024-08-06")
    );
    assert_eq!(
        span.strings("gen_ai.response.finish_reasons"),
        Some(vec!["stop"])
    );
    assert_eq!(span.int("gen_ai.usage.input_tokens"), Some(1_000));
    assert_eq!(span.int("gen_ai.usage.output_tokens"), Some(200));
    // 1000 × $2.5/M + 200 × $10/M, from the embedded table.
    assert_eq!(span.double("govops.cost.total_usd"), Some(0.0045));
    // gpt-4o takes 128k input tokens.
    assert_eq!(
        span.double("govops.context.utilization"),
        Some(1_000.0 / 128_000.0)
    );
    assert_eq!(span.string("govops.policy.decision"), Some("allow"));
    assert_eq!(span.violations(), Vec::<&str>::new());
    assert_eq!(span.string("govops.contract.version"), Some("1"));
    // The stepping clock: the call took whole milliseconds.
    let latency = span.double("govops.latency_ms").unwrap();
    assert!(latency >= 1.0 && latency.fract() == 0.0, "{latency}");
}

#[tokio::test]
async fn an_async_call_reports_its_result_and_its_failure() {
    let capture = Capture::new();
    let ok = capture
        .run_async(govops::context::in_scope(
            "s-2",
            "u-2",
            chat_async("gpt-4o-mini", false),
        ))
        .await;
    assert_eq!(ok.unwrap().text, "ok");
    let failed = capture
        .run_async(chat_async("gpt-4o-mini", true))
        .await
        .unwrap_err();
    assert_eq!(failed, "provider said 503");

    let spans = capture.spans_of(Operation::Chat, "gpt-4o-mini");
    assert_eq!(spans.len(), 2);
    for span in &spans {
        assert_eq!(span.name, "chat gpt-4o-mini");
    }
    let (ok, failed) = (&spans[0], &spans[1]);
    assert_contract(ok);
    assert_eq!(ok.string("user.id"), Some("u-2"));
    assert_eq!(ok.int("gen_ai.usage.output_tokens"), Some(5));
    assert!(ok.error.is_none());
    // The failed call reported no usage: the contract says which fields it lacks.
    assert_eq!(failed.error.as_deref(), Some("provider said 503"));
    assert_eq!(failed.string("error.type"), Some("_OTHER"));
    let missing: Vec<&str> = contract_problems(failed).iter().map(|p| p.key).collect();
    assert_eq!(
        missing,
        [
            "gen_ai.usage.input_tokens",
            "gen_ai.usage.output_tokens",
            "govops.cost.total_usd"
        ]
    );
    assert_eq!(failed.string("session.id"), Some("unknown"));
}

#[test]
fn embeddings_record_usage_through_the_call_handle() {
    let capture = Capture::new();
    capture.run(|| embed("some text"));
    let span = one(&capture, Operation::Embeddings, "gemini-embedding-001");
    assert_contract(&span);
    assert_eq!(span.violations(), Vec::<&str>::new());
    assert_eq!(span.name, "embeddings gemini-embedding-001");
    assert_eq!(span.int("gen_ai.usage.input_tokens"), Some(8));
    // 8 × $0.15/M: an embedding model has no output to price.
    assert_eq!(span.double("govops.cost.total_usd"), Some(0.0000012));
    assert_eq!(
        span.double("govops.context.utilization"),
        Some(8.0 / 2048.0)
    );
}

#[test]
fn an_unpriced_model_has_no_cost_and_is_flagged() {
    let capture = Capture::new();
    capture.run(unpriced);
    let span = one(&capture, Operation::TextCompletion, "some-private-model");
    assert_contract(&span);
    assert_eq!(span.attr("govops.cost.total_usd"), None, "never 0");
    assert_eq!(span.violations(), ["unpriced_model"]);
    assert_eq!(span.string("govops.policy.decision"), Some("flag"));
    let (name, figures) = span
        .events
        .iter()
        .find(|(name, _)| name == "govops.guard.tripped")
        .unwrap();
    assert_eq!(name, "govops.guard.tripped");
    assert_eq!(
        figures.get("govops.violation").map(ToString::to_string),
        Some("unpriced_model".to_owned())
    );
    let trips = capture.metric("govops.guard.trips");
    assert_eq!(trips.len(), 1, "{trips:?}");
    assert_eq!(trips[0].attributes["code"], "unpriced_model");
    assert_eq!(trips[0].value, 1.0);
}

#[test]
fn in_prod_a_call_without_session_or_user_is_flagged_missing_context() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "# allow everything\n").unwrap();
    let capture = Capture::builder()
        .env("GOVOPS_ENVIRONMENT", "prod")
        .env("GOVOPS_POLICY", policy.to_str().unwrap())
        .build()
        .unwrap();
    capture.run(|| {
        search("anonymous");
        govops::context::scope("s", "u", || search("known"));
    });
    let spans = capture.spans_of(Operation::ExecuteTool, "search");
    assert_eq!(spans.len(), 2);
    assert_eq!(spans[0].string("session.id"), Some("unknown"));
    assert_eq!(spans[0].violations(), ["missing_context"]);
    assert_eq!(spans[0].string("govops.policy.decision"), Some("flag"));
    assert_eq!(spans[1].violations(), Vec::<&str>::new());
    // Outside prod, "unknown" is no violation.
    let test_env = Capture::new();
    test_env.run(|| search("anonymous"));
    assert_eq!(
        one(&test_env, Operation::ExecuteTool, "search").violations(),
        Vec::<&str>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nested_workflow_agent_chat_and_tool_form_one_trace() {
    let capture = Capture::new();
    let out = capture
        .run_async(govops::context::in_scope("s-3", "u-3", triage()))
        .await;
    assert_eq!(out, "re: fix the bug");
    capture.run(retrieve);

    let workflow = one(&capture, Operation::InvokeWorkflow, "triage");
    let agent = one(&capture, Operation::InvokeAgent, "planner");
    let model = one(&capture, Operation::Chat, "gpt-4o");
    let tool = one(&capture, Operation::ExecuteTool, "search");
    let retrieval = capture.spans_named("retrieval kb");
    assert_eq!(retrieval.len(), 1);
    for span in [&workflow, &agent, &model, &tool, &retrieval[0]] {
        assert_contract(span);
    }
    assert_eq!(agent.name, "invoke_agent planner");
    assert_eq!(agent.string("gen_ai.agent.name"), Some("planner"));
    assert_eq!(tool.name, "execute_tool search");
    assert_eq!(tool.string("gen_ai.tool.name"), Some("search"));
    assert_eq!(workflow.parent_span_id, None);
    assert_eq!(agent.parent_span_id.as_ref(), Some(&workflow.span_id));
    assert_eq!(model.parent_span_id.as_ref(), Some(&agent.span_id));
    assert_eq!(tool.parent_span_id.as_ref(), Some(&agent.span_id));
    for span in [&agent, &model, &tool] {
        assert_eq!(span.trace_id, workflow.trace_id);
        assert_eq!(span.string("session.id"), Some("s-3"));
        assert_eq!(span.string("user.id"), Some("u-3"));
    }
    assert_ne!(retrieval[0].trace_id, workflow.trace_id);

    // The log inside the agent carries the call's context (section 6).
    let logs = capture.logs();
    let planned = logs.iter().find(|l| l.body == "planned").unwrap();
    assert_eq!(planned.trace_id.as_ref(), Some(&agent.trace_id));
    assert_eq!(planned.span_id.as_ref(), Some(&agent.span_id));
    for (key, value) in [
        ("service.name", "test-app"),
        ("deployment.environment.name", "test"),
        ("session.id", "s-3"),
        ("user.id", "u-3"),
        ("gen_ai.agent.name", "planner"),
    ] {
        assert_eq!(planned.attributes.get(key).map(String::as_str), Some(value));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_and_user_follow_an_instrumented_spawned_task() {
    let capture = Capture::new();
    let dispatch = capture.dispatch();
    capture
        .run_async(govops::context::in_scope("s-4", "u-4", async move {
            let parent = tracing::info_span!("handle_request");
            let task = tokio::spawn(
                async { chat("from a task").text }
                    .instrument(parent)
                    .with_subscriber(dispatch),
            );
            task.await.unwrap()
        }))
        .await;
    let span = one(&capture, Operation::Chat, "gpt-4o");
    assert_eq!(span.string("session.id"), Some("s-4"));
    assert_eq!(span.string("user.id"), Some("u-4"));
    // Its parent is the plain span, exported by tracing-opentelemetry untouched.
    let parent = capture.spans_named("handle_request");
    assert_eq!(parent.len(), 1);
    assert_eq!(span.parent_span_id.as_ref(), Some(&parent[0].span_id));
    assert_eq!(parent[0].attr("govops.contract.version"), None);
    assert_eq!(parent[0].attr("session.id"), None);
}

use tracing::instrument::WithSubscriber;

#[test]
fn spans_that_are_not_governed_pass_through_untouched() {
    let capture = Capture::new();
    capture.run(|| {
        tracing::info_span!("plain", answer = 42_i64, who = "me").in_scope(|| {
            tracing::info!("inside");
        });
    });
    let plain = capture.spans_named("plain");
    assert_eq!(plain.len(), 1);
    assert_eq!(plain[0].int("answer"), Some(42));
    assert_eq!(plain[0].string("who"), Some("me"));
    for key in ["govops.contract.version", "session.id", "govops.latency_ms"] {
        assert_eq!(plain[0].attr(key), None, "{key}");
    }
    let log = capture
        .logs()
        .into_iter()
        .find(|l| l.body == "inside")
        .unwrap();
    assert_eq!(log.attributes.get("session.id"), None);
    assert!(!contract_problems(&plain[0]).is_empty());
}

/// A stream of chunks, each with the tokens it adds.
struct Chunks {
    left: u64,
}

impl futures_core::Stream for Chunks {
    type Item = Usage;
    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Usage>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        self.left -= 1;
        Poll::Ready(Some(Usage {
            input: 0,
            output: 10,
            ..Usage::default()
        }))
    }
}

#[governed(chat, model = "gpt-4o", provider = "openai")]
fn stream_chat(chunks: u64) -> impl futures_core::Stream<Item = Usage> + Unpin {
    let call = Call::current();
    call.add_usage(Usage {
        input: 500,
        ..Usage::default()
    });
    call.meter(Chunks { left: chunks }, |call, chunk| {
        call.add_usage(*chunk)
    })
}

fn next<S: futures_core::Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    let waker = std::task::Waker::noop();
    match Pin::new(stream).poll_next(&mut Context::from_waker(waker)) {
        Poll::Ready(item) => item,
        Poll::Pending => None,
    }
}

#[test]
fn a_stream_is_settled_when_it_ends_or_is_dropped_half_way() {
    let capture = Capture::new();
    capture.run(|| {
        let mut whole = stream_chat(4);
        while next(&mut whole).is_some() {}
        assert_eq!(
            capture.spans_of(Operation::Chat, "gpt-4o").len(),
            1,
            "settled at its end, before the stream is dropped"
        );
        drop(whole);

        let mut cancelled = stream_chat(10);
        for _ in 0..3 {
            next(&mut cancelled).unwrap();
        }
        drop(cancelled);
    });
    let spans = capture.spans_of(Operation::Chat, "gpt-4o");
    assert_eq!(spans.len(), 2);
    let (whole, cancelled) = (&spans[0], &spans[1]);
    assert_contract(whole);
    assert_eq!(whole.int("gen_ai.usage.output_tokens"), Some(40));
    assert_contract(cancelled);
    assert_eq!(cancelled.int("gen_ai.usage.input_tokens"), Some(500));
    assert_eq!(cancelled.int("gen_ai.usage.output_tokens"), Some(30));
    // 500 × $2.5/M + 30 × $10/M
    assert_eq!(cancelled.double("govops.cost.total_usd"), Some(0.00155));
}

#[test]
fn raised_violations_decide_the_policy() {
    #[governed(tool, name = "shell")]
    fn shell() {
        Call::current().raise(Violation::ToolNotAllowed);
    }
    let capture = Capture::new();
    capture.run(shell);
    let span = one(&capture, Operation::ExecuteTool, "shell");
    assert_eq!(span.violations(), ["tool_not_allowed"]);
    assert_eq!(span.string("govops.policy.decision"), Some("deny"));
}

#[test]
fn the_section_5_metrics_carry_only_low_cardinality_attributes() {
    let capture = Capture::new();
    capture.run(|| {
        govops::context::scope("s-5", "u-5", || {
            chat("a");
            chat("b");
        })
    });
    let tokens = capture.metric("gen_ai.client.token.usage");
    let input = tokens
        .iter()
        .find(|p| p.attributes["gen_ai.token.type"] == "input")
        .unwrap();
    assert_eq!((input.count, input.value), (2, 2_000.0));
    let cost = capture.metric("govops.cost.usd");
    assert_eq!(cost.len(), 1);
    assert!((cost[0].value - 0.009).abs() < 1e-12, "{}", cost[0].value);
    let duration = capture.metric("gen_ai.client.operation.duration");
    assert_eq!(duration[0].count, 2);
    for point in tokens.iter().chain(&cost).chain(&duration) {
        for key in point.attributes.keys() {
            assert!(
                [
                    "service.name",
                    "deployment.environment.name",
                    "govops.cost_center",
                    "gen_ai.provider.name",
                    "gen_ai.request.model",
                    "gen_ai.operation.name",
                    "govops.policy.decision",
                    "gen_ai.token.type",
                ]
                .contains(&key.as_str()),
                "{} carries {key}",
                point.metric
            );
        }
        assert_eq!(point.attributes["govops.cost_center"], "cc-test");
    }
}

#[test]
fn ids_and_timestamps_are_deterministic() {
    let run = || {
        let capture = Capture::new();
        capture.run(|| chat("x"));
        let span = one(&capture, Operation::Chat, "gpt-4o");
        (
            span.trace_id,
            span.span_id,
            span.start_unix_nanos,
            span.end_unix_nanos,
        )
    };
    let first = run();
    assert_eq!(first, run());
    assert_eq!(first.0, format!("{:032x}", 1));
    assert_eq!(first.1, format!("{:016x}", 1));
}

/// Keeps what it is sent.
#[derive(Debug, Clone, Default)]
struct Keep(std::sync::Arc<std::sync::Mutex<Vec<opentelemetry_sdk::trace::SpanData>>>);

impl opentelemetry_sdk::trace::SpanExporter for Keep {
    fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> impl Future<Output = opentelemetry_sdk::error::OTelSdkResult> + Send {
        self.0.lock().unwrap().extend(batch);
        std::future::ready(Ok(()))
    }
}

/// `govops::pipeline::layer` over a provider the application built (spans started when they open) and
/// `govops::pipeline::layer` with `.ids(..)` over one built with `SpanIds` (spans built when they end) give the
/// same spans, parented the same way.
#[test]
fn both_ways_of_building_governed_spans_give_the_same_trace() {
    use tracing_subscriber::layer::SubscriberExt;

    let config = govops::config::Config::from_env(&govops::config::EnvSource::from_pairs([
        ("GOVOPS_APP_NAME", "own-pipeline"),
        ("GOVOPS_ENVIRONMENT", "dev"),
        ("GOVOPS_OWNER", "team"),
        ("GOVOPS_COST_CENTER", "cc-1"),
        ("GOVOPS_DATA_CLASSIFICATION", "internal"),
    ]))
    .unwrap();
    let run = |with_ids: bool| {
        let kept = Keep::default();
        let ids = govops::pipeline::SpanIds::random();
        let mut builder = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_simple_exporter(kept.clone());
        if with_ids {
            builder = builder.with_id_generator(ids.clone());
        }
        let provider = builder.build();
        let dispatch = if with_ids {
            tracing::Dispatch::new(
                tracing_subscriber::registry().with(
                    govops::pipeline::layer(&config, &provider)
                        .ids(&ids)
                        .build(),
                ),
            )
        } else {
            tracing::Dispatch::new(
                tracing_subscriber::registry()
                    .with(govops::pipeline::layer(&config, &provider).build()),
            )
        };
        tracing::dispatcher::with_default(&dispatch, || {
            govops::context::scope("s", "u", || {
                tracing::info_span!("outer").in_scope(|| {
                    #[governed(agent, name = "a")]
                    fn agent() -> String {
                        tracing::info_span!("inner").in_scope(|| chat("x").text)
                    }
                    agent()
                })
            })
        });
        let _ = provider.force_flush();
        let spans = kept.0.lock().unwrap().clone();
        let find = |name: &str| {
            spans
                .iter()
                .find(|s| s.name == name)
                .unwrap_or_else(|| {
                    panic!(
                        "{name} in {:?}",
                        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
                    )
                })
                .clone()
        };
        let (outer, agent, inner, chat) = (
            find("outer"),
            find("invoke_agent a"),
            find("inner"),
            find("chat gpt-4o"),
        );
        assert_eq!(agent.parent_span_id, outer.span_context.span_id());
        assert_eq!(inner.parent_span_id, agent.span_context.span_id());
        assert_eq!(chat.parent_span_id, inner.span_context.span_id());
        for span in [&agent, &inner, &chat] {
            assert_eq!(span.span_context.trace_id(), outer.span_context.trace_id());
        }
        let attrs =
            |s: &opentelemetry_sdk::trace::SpanData| -> std::collections::BTreeMap<String, String> {
                s.attributes
                    .iter()
                    .filter(|kv| kv.key.as_str() != "govops.latency_ms")
                    .map(|kv| (kv.key.to_string(), kv.value.to_string()))
                    .collect()
            };
        (attrs(&agent), attrs(&chat))
    };
    let started = run(false);
    let built = run(true);
    assert_eq!(started, built);
    assert_eq!(
        built.1.get("govops.cost.total_usd").map(String::as_str),
        Some("0.0045")
    );
    assert_eq!(built.1.get("session.id").map(String::as_str), Some("s"));
}

#[governed(chat, model = "gpt-4o", provider = "openai")]
fn stream_chat_nested(chunks: u64) -> impl futures_core::Stream<Item = Usage> + Unpin {
    // The handle is taken inside a plain span nested in the call, as an HTTP client's would be.
    tracing::info_span!("http.request").in_scope(|| {
        Call::current().meter(Chunks { left: chunks }, |_, chunk| {
            // Recording through `Call::current()` while the stream is polled reaches the call.
            Call::current().add_usage(*chunk)
        })
    })
}

#[test]
fn a_stream_metered_inside_a_nested_span_still_records_into_its_call() {
    let capture = Capture::new();
    capture.run(|| {
        let mut stream = stream_chat_nested(3);
        while next(&mut stream).is_some() {}
    });
    let span = one(&capture, Operation::Chat, "gpt-4o");
    assert_eq!(span.int("gen_ai.usage.output_tokens"), Some(30));
}

#[tracing::instrument]
fn flaky_helper() -> u32 {
    tracing::error!("attempt 1 failed; retrying");
    200
}

#[governed(tool, name = "fetch")]
fn fetch() -> u32 {
    flaky_helper()
}

#[governed(tool, name = "broken")]
fn broken() {
    tracing::error!(error = "disk full", "could not write");
}

#[test]
fn only_an_error_the_call_itself_reports_fails_it() {
    let capture = Capture::new();
    capture.run(|| {
        assert_eq!(fetch(), 200);
        broken();
    });
    let fetched = one(&capture, Operation::ExecuteTool, "fetch");
    assert_eq!(
        fetched.error, None,
        "a helper's recovered error is not the call's"
    );
    assert_eq!(fetched.attr("error.type"), None);
    let failed = one(&capture, Operation::ExecuteTool, "broken");
    assert_eq!(failed.error.as_deref(), Some("disk full"));
}
