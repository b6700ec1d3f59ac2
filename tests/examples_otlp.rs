//! `examples/chat.rs` and `examples/agent.rs`, run as real processes against an in-test OTLP/gRPC
//! receiver: every governed span arrives with every contract field, typed as the contract says.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use support::{complete_env, example, grpc_receiver, run_child};

/// The OTLP type of each value: what a backend shows.
fn typed(span: &Span) -> BTreeMap<String, &'static str> {
    span.attributes
        .iter()
        .map(|kv| {
            let kind = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Value::StringValue(_)) => "string",
                Some(Value::IntValue(_)) => "int",
                Some(Value::DoubleValue(_)) => "double",
                Some(Value::BoolValue(_)) => "bool",
                Some(Value::ArrayValue(a)) => {
                    if a.values
                        .iter()
                        .all(|v| matches!(v.value, Some(Value::StringValue(_))))
                    {
                        "string[]"
                    } else {
                        "array"
                    }
                }
                _ => "other",
            };
            (kv.key.clone(), kind)
        })
        .collect()
}

const SECTION_2: [(&str, &str); 9] = [
    ("service.name", "string"),
    ("deployment.environment.name", "string"),
    ("session.id", "string"),
    ("user.id", "string"),
    ("gen_ai.operation.name", "string"),
    ("govops.policy.decision", "string"),
    ("govops.safety.violations", "string[]"),
    ("govops.latency_ms", "double"),
    ("govops.contract.version", "string"),
];

const SECTION_3: [(&str, &str); 7] = [
    ("gen_ai.request.model", "string"),
    ("gen_ai.provider.name", "string"),
    ("gen_ai.usage.input_tokens", "int"),
    ("gen_ai.usage.output_tokens", "int"),
    ("gen_ai.usage.cache_read.input_tokens", "int"),
    ("govops.cost.total_usd", "double"),
    ("govops.context.utilization", "double"),
];

/// What the receiver got from one example run.
struct Delivered {
    spans: Vec<Span>,
    logs: Vec<opentelemetry_proto::tonic::logs::v1::LogRecord>,
}

fn run_example(name: &str, app: &str) -> Delivered {
    run_example_with(name, app, &[])
}

fn run_example_with(name: &str, app: &str, args: &[&str]) -> Delivered {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (addr, received) = runtime.block_on(grpc_receiver());
    let dir = tempfile::tempdir().unwrap();
    let mut vars = complete_env(app);
    vars.extend([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}")),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()),
    ]);
    let mut command = Command::new(example(name));
    command.args(args);
    let finished = run_child(command, dir.path(), &vars, Duration::from_secs(60));
    assert_eq!(finished.status.code(), Some(0), "{}", finished.stderr);
    assert!(
        !dir.path().join("govops-telemetry.jsonl").exists(),
        "with an endpoint, nothing goes to the file"
    );
    Delivered {
        spans: received
            .traces()
            .into_iter()
            .flat_map(|r| r.resource_spans)
            .flat_map(|rs| rs.scope_spans)
            .flat_map(|ss| ss.spans)
            .collect(),
        logs: received
            .logs()
            .into_iter()
            .flat_map(|r| r.resource_logs)
            .flat_map(|rl| rl.scope_logs)
            .flat_map(|sl| sl.log_records)
            .collect(),
    }
}

fn assert_typed(span: &Span, fields: &[(&str, &str)]) {
    let types = typed(span);
    for (key, kind) in fields {
        assert_eq!(
            types.get(*key).copied(),
            Some(*kind),
            "{}: {key} should be {kind}; has {types:?}",
            span.name
        );
    }
}

#[test]
fn the_chat_example_delivers_every_contract_field_typed_over_otlp() {
    let spans = run_example("chat", "support-bot").spans;
    let chats: Vec<&Span> = spans.iter().filter(|s| s.name == "chat gpt-4o").collect();
    assert_eq!(
        chats.len(),
        3,
        "{:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    for span in chats {
        assert_typed(span, &SECTION_2);
        assert_typed(span, &SECTION_3);
        assert_typed(span, &[("gen_ai.response.model", "string")]);
        let session = span
            .attributes
            .iter()
            .find(|kv| kv.key == "session.id")
            .unwrap();
        assert_eq!(
            session.value.as_ref().unwrap().value,
            Some(Value::StringValue("session-chat-1".to_owned()))
        );
    }
}

#[test]
fn the_agent_example_delivers_one_trace_with_every_contract_field_typed_over_otlp() {
    let delivered = run_example("agent", "support-agent");
    let spans = delivered.spans;
    let by_name = |name: &str| -> Vec<&Span> { spans.iter().filter(|s| s.name == name).collect() };
    let agent = by_name("invoke_agent support");
    let chats = by_name("chat claude-sonnet-4-20250514");
    let search = by_name("execute_tool search_orders");
    let refund = by_name("execute_tool refund");
    assert_eq!(
        (agent.len(), chats.len(), search.len(), refund.len()),
        (1, 2, 1, 1)
    );
    let agent = agent[0];
    assert_typed(agent, &SECTION_2);
    assert_typed(agent, &[("gen_ai.agent.name", "string")]);
    for span in chats.iter().chain(&search).chain(&refund) {
        assert_typed(span, &SECTION_2);
        assert_eq!(span.trace_id, agent.trace_id);
        assert_eq!(span.parent_span_id, agent.span_id);
    }
    for span in &chats {
        assert_typed(span, &SECTION_3);
    }
    for span in search.iter().chain(&refund) {
        assert_typed(span, &[("gen_ai.tool.name", "string")]);
    }

    // Section 6: the log inside the agent carries the call's context over OTLP logs.
    let planned = delivered
        .logs
        .iter()
        .find(|r| {
            r.body.as_ref().and_then(|b| b.value.as_ref())
                == Some(&Value::StringValue("planned".to_owned()))
        })
        .unwrap();
    assert_eq!(planned.trace_id, agent.trace_id);
    assert_eq!(planned.span_id, agent.span_id);
    for (key, value) in [
        ("service.name", "support-agent"),
        ("deployment.environment.name", "test"),
        ("session.id", "session-agent-7"),
        ("user.id", "customer-314"),
        ("gen_ai.agent.name", "support"),
    ] {
        assert_eq!(
            support::string_attr(&planned.attributes, key).as_deref(),
            Some(value),
            "{key}"
        );
    }
}

#[test]
fn the_runaway_agent_exports_ten_executed_tool_calls_and_an_eleventh_denied() {
    let delivered = run_example_with("agent", "support-agent", &["--runaway"]);
    let string = |span: &Span, key: &str| support::string_attr(&span.attributes, key);
    let mut calls: Vec<&Span> = delivered
        .spans
        .iter()
        .filter(|s| s.name == "execute_tool fetch_page")
        .collect();
    calls.sort_by_key(|s| s.start_time_unix_nano);
    assert_eq!(calls.len(), 11, "ten executed and the denied eleventh");
    for (i, call) in calls.iter().enumerate() {
        let decision = string(call, "govops.policy.decision");
        if i < 10 {
            assert_eq!(decision.as_deref(), Some("allow"), "call {}", i + 1);
        } else {
            assert_eq!(decision.as_deref(), Some("deny"));
            let violations = call
                .attributes
                .iter()
                .find(|kv| kv.key == "govops.safety.violations")
                .and_then(|kv| kv.value.as_ref())
                .and_then(|v| v.value.as_ref());
            let Some(Value::ArrayValue(codes)) = violations else {
                panic!("no violations array: {violations:?}");
            };
            assert_eq!(
                codes
                    .values
                    .iter()
                    .map(|v| v.value.clone())
                    .collect::<Vec<_>>(),
                [Some(Value::StringValue("agent_loop".to_owned()))]
            );
            assert!(call.events.iter().any(|e| e.name == "govops.guard.tripped"));
        }
    }
    let stopped = delivered.logs.iter().any(|r| {
        r.body.as_ref().and_then(|b| b.value.as_ref())
            == Some(&Value::StringValue(
                "the policy stopped the loop".to_owned(),
            ))
    });
    assert!(
        stopped,
        "the agent got the violation back as its tool's error"
    );
}
