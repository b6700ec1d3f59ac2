//! The `#[governed]` attribute of govops. Use it through the `govops` crate, which re-exports it
//! as `govops::governed`; its documentation is the reference of every argument.
//!
//! `args.rs` parses the attribute; `expand.rs` writes the function by its body shape (sync,
//! `async`, `impl Future`); `span.rs` writes the span's fields, named by `govops_protocol`;
//! `autoref.rs` asks the compiler what only it knows about the user's types.

mod args;
mod autoref;
mod expand;
mod signature;
mod span;

use proc_macro::TokenStream;

/// Governs a model call, tool call, agent, workflow or retrieval.
///
/// Every call of the function opens a span that carries govops's telemetry contract: who called
/// (from `govops::context`), what the call is, the usage it reports, its exact cost, its latency,
/// the policy's decision and the violations found. govops's contract layer checks the call when
/// the span opens (the policy's allow lists, budgets, agent loops, the prompt) and settles it when
/// the span closes. The span is named as the OpenTelemetry GenAI conventions say:
/// `chat gpt-4o`, `execute_tool search`, `invoke_agent planner`.
///
/// ```
/// use govops::testing::Capture;
/// use govops::{Operation, governed};
///
/// #[governed(tool, name = "search")]
/// fn search(query: &str, limit: u32) -> Vec<String> {
///     vec![format!("{query}: {limit} hits")]
/// }
///
/// let capture = Capture::new(); // govops's pipeline in memory, for tests
/// capture.run(|| search("rust", 5));
/// let span = capture.span(Operation::ExecuteTool, "search").expect("one tool span");
/// assert_eq!(span.name, "execute_tool search");
/// assert_eq!(span.string("gen_ai.tool.name"), Some("search"));
/// assert_eq!(span.string("limit"), Some("5")); // a number cannot hold content: recorded
/// assert_eq!(span.attr("query"), None); // text may: recorded only when content is captured
/// ```
///
/// # Arguments
///
/// `#[governed(kind, key = value, .., flag, ..)]`: the kind of call first, then any of these in
/// any order.
///
/// | argument | taken by | on the span |
/// | --- | --- | --- |
/// | the kind | every call, first | `gen_ai.operation.name`, the span's name |
/// | `model = ..` | model calls, required | `gen_ai.request.model` |
/// | `provider = ..` | model calls | `gen_ai.provider.name` |
/// | `name = ..` | tools, agents, workflows (required); retrievals | `gen_ai.tool.name`, `gen_ai.agent.name` or `govops.name` |
/// | `prompt = ..` | model calls | not itself: scanned, estimated; `gen_ai.input.messages` when content is captured |
/// | `max_tokens = ..` | model calls | `gen_ai.request.max_tokens` |
/// | `skip(..)`, `skip_all` | every call | leaves arguments out |
/// | `fields(..)` | every call | attributes of your own |
/// | `err` | functions returning `Result` | an `Err` fails the call |
///
/// Values (`model`, `provider`, `name`, `prompt`, `max_tokens`) are expressions over the
/// function's arguments, evaluated once, before the body runs. A string literal is recorded as
/// it is; any other expression through its `Display`.
///
/// ## The kind
///
/// One of `chat`, `text_completion`, `embeddings` (model calls), `retrieval`, `tool`, `agent`,
/// `workflow`. It becomes `gen_ai.operation.name` (`tool` is `execute_tool`, `agent`
/// `invoke_agent`, `workflow` `invoke_workflow`, the others their own word) and the first word of
/// the span's name. A model call is a client span and the only kind with usage and cost: its
/// result reports the usage when its type implements `govops::Reported` (or the body calls
/// `govops::Call::current().record_usage(..)`).
///
/// ```
/// # use govops::testing::Capture;
/// use govops::{Operation, Reported, Usage, governed};
///
/// struct Vector { values: Vec<f32>, input_tokens: u64 }
///
/// impl Reported for Vector {
///     fn usage(&self) -> Option<Usage> {
///         Some(Usage { input: self.input_tokens, ..Usage::default() })
///     }
/// }
///
/// #[governed(embeddings, model = "gemini-embedding-001")]
/// fn embed(text: &str) -> Vector {
///     Vector { values: vec![0.0; 3], input_tokens: 1_000 }
/// }
///
/// let capture = Capture::new();
/// capture.run(|| embed("hello"));
/// let span = capture.span(Operation::Embeddings, "gemini-embedding-001").unwrap();
/// assert_eq!(span.string("gen_ai.operation.name"), Some("embeddings"));
/// assert_eq!(span.int("gen_ai.usage.input_tokens"), Some(1_000));
/// assert_eq!(span.double("govops.cost.total_usd"), Some(0.00015)); // 1000 × $0.15/M
/// ```
///
/// ## `model = ..`
///
/// The model a model call asks for: `gen_ai.request.model`, and the second word of the span's
/// name. govops prices the call by it, checks it against the policy's allowed models
/// (`model_not_allowed`), compares the prompt with its context window (`context_overflow`) and
/// keeps its drift baseline. Required on `chat`, `text_completion` and `embeddings`; refused on
/// the other kinds.
///
/// ```
/// # use govops::testing::Capture;
/// use govops::{Operation, governed};
///
/// #[governed(chat, model = model)]
/// fn ask(model: &str, question: &str) -> String {
///     format!("{model} answers {question}")
/// }
///
/// let capture = Capture::new();
/// capture.run(|| ask("gpt-4o-mini", "hello"));
/// let span = capture.span(Operation::Chat, "gpt-4o-mini").unwrap();
/// assert_eq!(span.name, "chat gpt-4o-mini");
/// assert_eq!(span.string("gen_ai.request.model"), Some("gpt-4o-mini"));
/// ```
///
/// ## `provider = ..`
///
/// Who serves a model call: `gen_ai.provider.name` (`openai`, `anthropic`, `aws.bedrock`).
/// govops checks it against the policy's allowed providers (`provider_not_allowed`) and finds
/// the model's price as `provider/model` when the model's own name is not in the table. A
/// failover that moves the call to another provider records that one instead.
///
/// ```
/// # use govops::testing::Capture;
/// use govops::{Operation, governed};
///
/// #[governed(chat, model = "gpt-4o", provider = "openai")]
/// fn ask(question: &str) -> String {
///     question.to_uppercase()
/// }
///
/// let capture = Capture::new();
/// capture.run(|| ask("hello"));
/// let span = capture.span(Operation::Chat, "gpt-4o").unwrap();
/// assert_eq!(span.string("gen_ai.provider.name"), Some("openai"));
/// ```
///
/// ## `name = ..`
///
/// What a tool, agent, workflow or retrieval is called, and the second word of the span's name:
/// `gen_ai.tool.name` on a tool (checked against the policy's allowed tools, `tool_not_allowed`,
/// and counted by the agent-loop guard), `gen_ai.agent.name` on an agent, `govops.name` on a
/// workflow or retrieval. Required on tools, agents and workflows; a retrieval may go without
/// (its span is then named `retrieval`); refused on model calls, which take `model`.
///
/// ```
/// # use govops::testing::Capture;
/// use govops::{Operation, governed};
///
/// #[governed(tool, name = "lookup")]
/// fn lookup(order: u64) -> &'static str {
///     "shipped"
/// }
///
/// #[governed(agent, name = "support")]
/// fn support(order: u64) -> String {
///     format!("order {order}: {}", lookup(order))
/// }
///
/// let capture = Capture::new();
/// capture.run(|| support(42));
/// let agent = capture.span(Operation::InvokeAgent, "support").unwrap();
/// let tool = capture.span(Operation::ExecuteTool, "lookup").unwrap();
/// assert_eq!(agent.name, "invoke_agent support");
/// assert_eq!(agent.string("gen_ai.agent.name"), Some("support"));
/// assert_eq!(tool.parent_span_id, Some(agent.span_id)); // the tool ran inside the agent
/// ```
///
/// ## `prompt = ..`
///
/// The text a model call sends: anything `AsRef<str>` (`&str`, `String`, `Cow<str>`). It is not
/// an attribute of its own. When the span opens, govops scans it for personal data and
/// credentials (`pii_detected`, `secret_detected`) and estimates its tokens (with the model's
/// tokenizer under the `tiktoken` feature, else a token per four bytes): the context-window
/// guard compares the estimate with the model's window, and budgets reserve it before the call
/// runs. The text leaves the process, redacted, as `gen_ai.input.messages` only when content is
/// captured (the policy's `[capture] content`, or
/// `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`); the audit log keeps its SHA-256.
///
/// ```
/// # use govops::testing::Capture;
/// use govops::{Operation, governed};
///
/// #[governed(chat, model = "gpt-4o", prompt = question)]
/// fn ask(question: &str) -> usize {
///     question.len()
/// }
///
/// let capture = Capture::new();
/// capture.run(|| ask("What is my order's status?"));
/// let span = capture.span(Operation::Chat, "gpt-4o").unwrap();
/// assert_eq!(span.attr("gen_ai.input.messages"), None); // content is not captured by default
///
/// let capture = Capture::builder()
///     .env("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
///     .build()?;
/// capture.run(|| ask("What is my order's status?"));
/// let span = capture.span(Operation::Chat, "gpt-4o").unwrap();
/// assert!(span.string("gen_ai.input.messages").unwrap().contains("my order's status"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// ## `max_tokens = ..`
///
/// The most output a model call may produce, any integer: `gen_ai.request.max_tokens`. With the
/// prompt's estimate it is the call's worst case, which budgets reserve before the call runs
/// (and which denies it when a budget would be passed); the real usage settles the reservation.
///
/// ```
/// # use govops::testing::Capture;
/// use govops::{Operation, governed};
///
/// #[governed(chat, model = "gpt-4o", prompt = question, max_tokens = limit)]
/// fn ask(question: &str, limit: u32) -> String {
///     question.chars().take(limit as usize).collect()
/// }
///
/// let capture = Capture::new();
/// capture.run(|| ask("hello", 256));
/// let span = capture.span(Operation::Chat, "gpt-4o").unwrap();
/// assert_eq!(span.int("gen_ai.request.max_tokens"), Some(256));
/// ```
///
/// ## The function's arguments, `skip(..)` and `skip_all`
///
/// Every argument but `self` is recorded with its `Debug`, so each must implement `Debug`.
/// Since they may hold message content, what leaves the process follows the capture setting:
/// without capture, a model call exports no argument and other calls only the values that
/// cannot hold content (numbers, booleans, unit values); with capture, a tool call's arguments
/// go to `gen_ai.tool.call.arguments` as JSON and other calls' as attributes named after them.
/// A tool call's arguments also tell the agent-loop guard when the same call repeats.
///
/// `skip(a, b)` leaves those arguments out (one that is not `Debug`, a client, a secret);
/// `skip_all` leaves every one out. The call is then marked `govops.arguments_partial`: the loop
/// guard no longer takes two calls with the same recorded arguments for repeats.
///
/// ```
/// # use govops::testing::Capture;
/// use govops::{Operation, governed};
///
/// struct Client; // not `Debug`: it must be skipped
///
/// #[governed(tool, name = "fetch", skip(client))]
/// fn fetch(client: &Client, page: u32) -> String {
///     format!("page {page}")
/// }
///
/// let capture = Capture::new();
/// capture.run(|| fetch(&Client, 2));
/// let span = capture.span(Operation::ExecuteTool, "fetch").unwrap();
/// assert_eq!(span.string("page"), Some("2"));
/// assert_eq!(span.attr("client"), None);
/// ```
///
/// ## `fields(..)`
///
/// `fields(key = value, ..)`: attributes of your own, as `#[tracing::instrument]` takes them. A
/// key may be dotted (`app.tenant`); a value is any expression over the arguments whose type
/// `tracing` records (a string, an integer, a float, a boolean). They are exported on the span
/// whatever the capture setting, after the same redaction as every attribute, and they are part
/// of a tool call's identity for the loop guard.
///
/// ```
/// # use govops::testing::Capture;
/// use govops::{Operation, governed};
///
/// #[governed(workflow, name = "nightly", fields(app.tenant = "acme", app.batch = batch))]
/// fn nightly(batch: i64) -> i64 {
///     batch + 1
/// }
///
/// let capture = Capture::new();
/// capture.run(|| nightly(7));
/// let span = capture.span(Operation::InvokeWorkflow, "nightly").unwrap();
/// assert_eq!(span.string("govops.name"), Some("nightly"));
/// assert_eq!(span.string("app.tenant"), Some("acme"));
/// assert_eq!(span.int("app.batch"), Some(7));
/// ```
///
/// ## `err`
///
/// On a function that returns a `Result` whose error is `Display`: an `Err` fails the call. It
/// emits an `ERROR` event whose `error` field is the error's `Display`; the span's status is
/// then an error with that text (redacted), it carries `error.type`, and the audit record says
/// the call did not succeed. Without `err`, a call that returns an `Err` still succeeded as far
/// as govops is concerned. The result is returned unchanged either way.
///
/// ```
/// # use govops::testing::Capture;
/// use govops::{Operation, governed};
///
/// #[governed(tool, name = "parse", err)]
/// fn parse(text: &str) -> Result<u32, std::num::ParseIntError> {
///     text.parse()
/// }
///
/// let capture = Capture::new();
/// assert!(capture.run(|| parse("forty")).is_err());
/// let span = capture.span(Operation::ExecuteTool, "parse").unwrap();
/// assert_eq!(span.error.as_deref(), Some("invalid digit found in string"));
/// assert_eq!(span.string("error.type"), Some("_OTHER"));
/// ```
///
/// # Denied calls
///
/// A check at the span's open may deny the call (a tool or model the policy does not allow, a
/// budget the call's worst case would pass, an agent loop). When the function returns
/// `Result<T, E>` and `E: From<govops::Violation>`, a denied call returns
/// `Err(E::from(violation))` and its body does not run; any other function runs and its span
/// carries the violation.
///
/// ```
/// # use govops::testing::Capture;
/// use govops::{Violation, governed};
///
/// #[governed(tool, name = "search")]
/// fn search(query: &str) -> Result<String, Violation> {
///     Ok(format!("hits for {query}"))
/// }
///
/// #[governed(agent, name = "researcher")]
/// fn research() -> Vec<Result<String, Violation>> {
///     (0..3).map(|_| search("the same query")).collect()
/// }
///
/// let capture = Capture::new();
/// let results = capture.run(research);
/// // One agent run calls the same tool with the same arguments three times in a row: a loop.
/// assert!(results[1].is_ok());
/// assert_eq!(results[2], Err(Violation::AgentLoop));
/// ```
///
/// # Function shapes
///
/// `fn`, `async fn` and `fn .. -> impl Future` are governed alike (a function returning
/// `impl Future` is checked when it is called, and its future instrumented); so are methods,
/// generic functions and functions that borrow from their arguments. A `return` in the body
/// passes through the same settlement as the body's last expression.
///
/// # Errors at compile time
///
/// Misuse is an error on the offending token that says what is accepted: an unknown kind or
/// argument, a missing `model` or `name`, an argument that does not apply to the kind,
/// `skip(..)` of a name that is not an argument, an argument that is not `Debug`, `err` on an
/// error that is not `Display`, a `prompt` that is not text, a `max_tokens` that is not an
/// integer.
#[proc_macro_attribute]
pub fn governed(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = syn::parse_macro_input!(args as args::Args);
    let item = syn::parse_macro_input!(item as syn::ItemFn);
    expand::governed(&args, item)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
