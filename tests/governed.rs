//! `#[governed]` on every kind of function: the span it opens, its name and fields, as a
//! subscriber sees them.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use govops::governed;
use tracing::field::{Field, Visit};
use tracing::instrument::WithSubscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

/// A span or event as recorded: its static name and its fields.
#[derive(Debug, Clone, Default)]
struct Seen {
    name: String,
    fields: BTreeMap<String, String>,
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

#[derive(Clone, Default)]
struct Capture {
    spans: Arc<Mutex<Vec<Seen>>>,
    events: Arc<Mutex<Vec<Seen>>>,
}

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::Id,
        _: Context<'_, S>,
    ) {
        let mut seen = Seen {
            name: attrs.metadata().name().to_owned(),
            ..Seen::default()
        };
        attrs.record(&mut Fields(&mut seen.fields));
        self.spans.lock().unwrap().push(seen);
    }
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut seen = Seen {
            name: event.metadata().level().to_string(),
            ..Seen::default()
        };
        event.record(&mut Fields(&mut seen.fields));
        self.events.lock().unwrap().push(seen);
    }
}

fn capture() -> (Capture, tracing::Dispatch) {
    let capture = Capture::default();
    (
        capture.clone(),
        tracing::Dispatch::new(tracing_subscriber::registry().with(capture)),
    )
}

fn field<'a>(seen: &'a Seen, key: &str) -> &'a str {
    seen.fields.get(key).map_or("<absent>", String::as_str)
}

#[derive(Debug)]
struct Request {
    model: String,
    prompt: String,
}

#[governed(chat, model = "gpt-4o", provider = "openai", skip(secret))]
fn chat(prompt: &str, secret: &str) -> usize {
    prompt.len() + secret.len()
}

#[governed(chat, model = req.model, provider = "anthropic", skip_all)]
async fn chat_async(req: &Request) -> String {
    tokio::task::yield_now().await;
    req.prompt.to_uppercase()
}

struct Agent {
    name: &'static str,
}

impl Agent {
    #[governed(agent, name = self.name, fields(agent.steps = 3_i64))]
    fn run(&self, goal: &str) -> String {
        search(goal).join(",")
    }
}

#[governed(tool, name = "search", err)]
fn fallible_search(query: &str) -> Result<Vec<String>, String> {
    if query.is_empty() {
        Err("empty query".to_owned())
    } else {
        Ok(vec![query.to_owned()])
    }
}

#[governed(tool, name = "search")]
fn search(query: &str) -> Vec<String> {
    vec![query.to_owned()]
}

#[governed(embeddings, model = "text-embedding-3-small")]
fn embed(text: &str) -> impl Future<Output = Vec<f32>> + use<> {
    let n = text.len();
    async move { vec![0.0; n] }
}

trait Retriever {
    async fn retrieve(&self, query: &str) -> Vec<String>;
}

struct Index;

impl Retriever for Index {
    #[governed(retrieval)]
    async fn retrieve(&self, query: &str) -> Vec<String> {
        vec![query.to_owned()]
    }
}

#[test]
fn a_model_call_span_is_named_and_carries_the_contract_fields() {
    let (seen, dispatch) = capture();
    let n = tracing::dispatcher::with_default(&dispatch, || chat("hello", "hunter2"));
    assert_eq!(n, 12);
    let spans = seen.spans.lock().unwrap();
    let span = &spans[0];
    assert_eq!(span.name, "chat gpt-4o");
    assert_eq!(field(span, "otel.name"), "chat gpt-4o");
    assert_eq!(field(span, "gen_ai.operation.name"), "chat");
    assert_eq!(field(span, "gen_ai.request.model"), "gpt-4o");
    assert_eq!(field(span, "gen_ai.provider.name"), "openai");
    assert_eq!(field(span, "govops.contract.version"), "1");
    assert_eq!(field(span, "prompt"), "\"hello\"");
    assert_eq!(
        field(span, "secret"),
        "<absent>",
        "skipped arguments are not recorded"
    );
}

#[tokio::test]
async fn an_async_model_call_takes_its_model_from_the_arguments() {
    let (seen, dispatch) = capture();
    let req = Request {
        model: "claude-sonnet-4".to_owned(),
        prompt: "hi".to_owned(),
    };
    let out = chat_async(&req).with_subscriber(dispatch).await;
    assert_eq!(out, "HI");
    let spans = seen.spans.lock().unwrap();
    assert_eq!(
        spans[0].name, "chat",
        "the static name is the operation when the model is not a literal"
    );
    assert_eq!(field(&spans[0], "otel.name"), "chat claude-sonnet-4");
    assert_eq!(field(&spans[0], "gen_ai.request.model"), "claude-sonnet-4");
    assert_eq!(field(&spans[0], "req"), "<absent>", "skip_all");
}

#[test]
fn agents_and_tools_nest_with_their_names() {
    let (seen, dispatch) = capture();
    let agent = Agent { name: "planner" };
    tracing::dispatcher::with_default(&dispatch, || agent.run("find docs"));
    let spans = seen.spans.lock().unwrap();
    assert_eq!(field(&spans[0], "otel.name"), "invoke_agent planner");
    assert_eq!(field(&spans[0], "gen_ai.operation.name"), "invoke_agent");
    assert_eq!(field(&spans[0], "gen_ai.agent.name"), "planner");
    assert_eq!(field(&spans[0], "agent.steps"), "3");
    assert_eq!(spans[1].name, "execute_tool search");
    assert_eq!(field(&spans[1], "gen_ai.tool.name"), "search");
    assert_eq!(field(&spans[1], "gen_ai.operation.name"), "execute_tool");
}

#[test]
fn err_records_the_error_and_returns_it_unchanged() {
    let (seen, dispatch) = capture();
    let result = tracing::dispatcher::with_default(&dispatch, || fallible_search(""));
    assert_eq!(result, Err("empty query".to_owned()));
    let events = seen.events.lock().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].name, "ERROR");
    assert_eq!(field(&events[0], "error"), "empty query");
    drop(events);
    let ok = tracing::dispatcher::with_default(&dispatch, || fallible_search("q"));
    assert_eq!(ok, Ok(vec!["q".to_owned()]));
    assert_eq!(seen.events.lock().unwrap().len(), 1, "no event on success");
}

#[tokio::test]
async fn impl_future_and_async_trait_methods_are_governed() {
    let (seen, dispatch) = capture();
    // A function returning `impl Future` opens its span when called, so call it under the subscriber.
    let future = tracing::dispatcher::with_default(&dispatch, || embed("abc"));
    let vector = future.with_subscriber(dispatch.clone()).await;
    assert_eq!(vector.len(), 3);
    let hits = Index.retrieve("q").with_subscriber(dispatch).await;
    assert_eq!(hits, ["q"]);
    let spans = seen.spans.lock().unwrap();
    assert_eq!(
        field(&spans[0], "otel.name"),
        "embeddings text-embedding-3-small"
    );
    assert_eq!(field(&spans[1], "otel.name"), "retrieval");
    assert_eq!(field(&spans[1], "gen_ai.operation.name"), "retrieval");
}

#[test]
fn misuse_is_a_compile_error_on_the_offending_token() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/fail/*.rs");
    cases.pass("tests/ui/pass/*.rs");
}

#[derive(Debug)]
struct Owned {
    model: String,
    text: String,
}

impl Owned {
    fn model(&self) -> String {
        self.model.clone()
    }
}

fn build(q: &str) -> String {
    format!("Q: {q}")
}

/// Expressions that borrow from temporaries, for the model and the prompt.
#[governed(chat, model = req.model().as_str(), prompt = build(&req.text).as_str())]
fn temporaries(req: &Owned) -> usize {
    req.text.len()
}

/// The same, with the request moved into the async body.
#[governed(chat, model = req.model().as_str(), prompt = build(&req.text).as_str())]
async fn temporaries_async(req: Owned) -> usize {
    tokio::task::yield_now().await;
    req.text.len()
}

#[tokio::test]
async fn model_and_prompt_expressions_may_borrow_from_temporaries() {
    let (seen, dispatch) = capture();
    let req = || Owned {
        model: "gpt-4o".to_owned(),
        text: "hello".to_owned(),
    };
    let sync = tracing::dispatcher::with_default(&dispatch, || temporaries(&req()));
    let not_sync = temporaries_async(req()).with_subscriber(dispatch).await;
    assert_eq!((sync, not_sync), (5, 5));
    let spans = seen.spans.lock().unwrap();
    for span in spans.iter() {
        assert_eq!(field(span, "otel.name"), "chat gpt-4o");
        assert_eq!(field(span, "gen_ai.request.model"), "gpt-4o");
        assert_eq!(field(span, "govops.prompt"), "Q: hello");
    }
    assert_eq!(spans.len(), 2);
}
