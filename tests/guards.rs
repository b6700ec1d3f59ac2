//! The guards that judge a call from its reported usage (contract section 4): each at, just below
//! and just above its threshold, and what the policy file makes of them.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod support;

use support::with_policy;

use govops::testing::{Capture, CapturedSpan, assert_contract};
use govops::{Call, Operation, Usage, governed};

#[governed(chat, model = "gpt-4o", provider = "openai")]
fn chat(input: u64, output: u64) {
    Call::current().record_usage(Usage {
        input,
        output,
        ..Usage::default()
    });
}

#[governed(embeddings, model = "gemini-embedding-001", provider = "gcp.vertex_ai")]
fn embed(input: u64) {
    Call::current().record_usage(Usage {
        input,
        ..Usage::default()
    });
}

#[governed(text_completion, model = "not-in-the-table")]
fn unpriced() {
    Call::current().record_usage(Usage {
        input: 10,
        output: 10,
        ..Usage::default()
    });
}

/// The chat spans of one capture, in the order they ended.
fn chats(capture: &Capture) -> Vec<CapturedSpan> {
    capture.spans_of(Operation::Chat, "gpt-4o")
}

#[test]
fn context_overflow_trips_just_above_90_percent_of_the_window() {
    // gpt-4o takes 128 000 input tokens: 90% is 115 200. Output keeps the waste guard quiet.
    let capture = Capture::new();
    capture.run(|| {
        chat(115_199, 100_000);
        chat(115_200, 100_000);
        chat(115_201, 100_000);
    });
    let spans = chats(&capture);
    let codes: Vec<Vec<&str>> = spans.iter().map(CapturedSpan::violations).collect();
    assert_eq!(codes, [vec![], vec![], vec!["context_overflow"]]);
    let tripped = &spans[2];
    assert_contract(tripped);
    assert_eq!(tripped.string("govops.policy.decision"), Some("flag"));
    let (_, figures) = tripped
        .events
        .iter()
        .find(|(name, _)| name == "govops.guard.tripped")
        .unwrap();
    assert_eq!(figures["govops.violation"].to_string(), "context_overflow");
    assert_eq!(figures["gen_ai.usage.input_tokens"].to_string(), "115201");
    assert_eq!(figures["govops.max_input_tokens"].to_string(), "128000");
    assert_eq!(figures["govops.threshold_percent"].to_string(), "90");
    let trips = capture.metric("govops.guard.trips");
    assert_eq!(trips.len(), 1);
    assert_eq!(trips[0].attributes["code"], "context_overflow");
}

#[test]
fn token_waste_trips_just_above_five_to_one() {
    let capture = Capture::new();
    capture.run(|| {
        chat(499, 100);
        chat(500, 100);
        chat(501, 100);
        chat(10, 0);
        embed(1_000);
    });
    let spans = chats(&capture);
    let codes: Vec<Vec<&str>> = spans.iter().map(CapturedSpan::violations).collect();
    assert_eq!(
        codes,
        [vec![], vec![], vec!["token_waste"], vec!["token_waste"]]
    );
    let embedding = capture
        .span(Operation::Embeddings, "gemini-embedding-001")
        .unwrap();
    assert_eq!(
        embedding.violations(),
        Vec::<&str>::new(),
        "an embedding has no output by nature"
    );
}

#[test]
fn the_policy_sets_each_guards_threshold_and_action() {
    let (capture, _dir) = with_policy(
        r#"
[guards.context_overflow]
action = "deny"
percent = 50

[guards.token_waste]
action = "off"

[guards.unpriced_model]
action = "off"
"#,
    );
    capture.run(|| {
        chat(64_000, 10);
        chat(64_001, 10);
        unpriced();
    });
    let spans = chats(&capture);
    assert_eq!(spans[0].violations(), Vec::<&str>::new());
    assert_eq!(spans[1].violations(), ["context_overflow"]);
    assert_eq!(spans[1].string("govops.policy.decision"), Some("deny"));
    let unpriced = capture
        .span(Operation::TextCompletion, "not-in-the-table")
        .unwrap();
    assert_eq!(unpriced.violations(), Vec::<&str>::new());
    assert_eq!(
        unpriced.attr("govops.cost.total_usd"),
        None,
        "still never 0"
    );
    assert_eq!(unpriced.string("govops.policy.decision"), Some("allow"));
}

#[test]
fn a_ratio_from_the_policy_moves_the_waste_threshold() {
    let (capture, _dir) = with_policy("[guards.token_waste]\nratio = 2.5\n");
    capture.run(|| {
        chat(250, 100);
        chat(251, 100);
    });
    let spans = chats(&capture);
    let codes: Vec<Vec<&str>> = spans.iter().map(CapturedSpan::violations).collect();
    assert_eq!(codes, [vec![], vec!["token_waste"]]);
}

use std::sync::atomic::{AtomicU32, Ordering};

use govops::Violation;

/// The tools' own error type: a denied call comes back as one of these.
#[derive(Debug, PartialEq)]
enum ToolError {
    Denied(Violation),
}

impl From<Violation> for ToolError {
    fn from(violation: Violation) -> Self {
        ToolError::Denied(violation)
    }
}

static LOOKUPS: AtomicU32 = AtomicU32::new(0);

#[governed(tool, name = "lookup")]
fn lookup(page: u32) -> Result<u32, ToolError> {
    LOOKUPS.fetch_add(1, Ordering::SeqCst);
    Ok(page)
}

static FETCHES_STARTED: AtomicU32 = AtomicU32::new(0);

/// A tool returning `impl Future` whose body does work before its future: that work must not
/// run for a denied call either.
#[governed(tool, name = "fetch")]
fn fetch(url: &str) -> impl std::future::Future<Output = Result<usize, ToolError>> + use<> {
    FETCHES_STARTED.fetch_add(1, Ordering::SeqCst);
    let len = url.len();
    async move { Ok(len) }
}

static PINGS: AtomicU32 = AtomicU32::new(0);

/// A tool that cannot return an error: flagged, never blocked.
#[governed(tool, name = "ping")]
fn ping(n: u32) -> u32 {
    PINGS.fetch_add(1, Ordering::SeqCst);
    n
}

/// An agent run: `calls` tool calls with distinct arguments, or the same one when `same`.
#[governed(agent, name = "runner")]
fn run_agent(calls: u32, same: bool) -> Vec<Result<u32, ToolError>> {
    (1..=calls)
        .map(|i| lookup(if same { 7 } else { i }))
        .collect()
}

fn tool_spans(capture: &Capture, tool: &str) -> Vec<CapturedSpan> {
    capture.spans_of(Operation::ExecuteTool, tool)
}

#[test]
fn the_eleventh_tool_call_of_a_run_is_not_executed_and_the_run_stays_isolated() {
    let capture = Capture::new();
    LOOKUPS.store(0, Ordering::SeqCst);
    let results = capture.run(|| run_agent(13, false));
    assert_eq!(LOOKUPS.load(Ordering::SeqCst), 10, "ten executed, no more");
    assert!(results[..10].iter().all(Result::is_ok));
    for denied in &results[10..] {
        assert_eq!(denied, &Err(ToolError::Denied(Violation::AgentLoop)));
    }
    let spans = tool_spans(&capture, "lookup");
    assert_eq!(spans.len(), 13, "denied calls are exported too");
    for (i, span) in spans.iter().enumerate() {
        assert_contract(span);
        if i < 10 {
            assert_eq!(span.violations(), Vec::<&str>::new(), "call {}", i + 1);
        } else {
            assert_eq!(span.violations(), ["agent_loop"], "call {}", i + 1);
            assert_eq!(span.string("govops.policy.decision"), Some("deny"));
        }
    }
    let (_, figures) = spans[10]
        .events
        .iter()
        .find(|(name, _)| name == "govops.guard.tripped")
        .unwrap();
    assert_eq!(figures["govops.tool_calls"].to_string(), "11");
    assert_eq!(figures["govops.max_tool_calls"].to_string(), "10");

    // Another run, another trace: it proceeds.
    LOOKUPS.store(0, Ordering::SeqCst);
    let results = capture.run(|| run_agent(3, false));
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(LOOKUPS.load(Ordering::SeqCst), 3);
}

#[test]
fn the_same_call_three_times_in_a_row_trips_the_loop_guard() {
    let capture = Capture::new();
    let results = capture.run(|| run_agent(3, true));
    assert!(results[0].is_ok() && results[1].is_ok());
    assert_eq!(results[2], Err(ToolError::Denied(Violation::AgentLoop)));
}

#[test]
fn a_call_that_cannot_return_the_error_runs_and_is_flagged() {
    #[governed(agent, name = "pinger")]
    fn pinger() {
        for i in 0..12 {
            ping(i);
        }
    }
    let capture = Capture::new();
    PINGS.store(0, Ordering::SeqCst);
    capture.run(pinger);
    assert_eq!(PINGS.load(Ordering::SeqCst), 12, "never silently blocked");
    let spans = tool_spans(&capture, "ping");
    assert_eq!(spans[11].violations(), ["agent_loop"]);
    assert_eq!(spans[11].string("govops.policy.decision"), Some("flag"));
}

#[governed(tool, name = "shell")]
fn shell() -> Result<(), ToolError> {
    Ok(())
}

#[governed(chat, model = model, provider = provider)]
fn ask(model: &str, provider: &str) -> Result<(), ToolError> {
    Ok(())
}

#[test]
fn the_policy_allow_lists_deny_other_models_providers_and_tools_in_their_environment() {
    let policy = r#"
[environments.prod]
models = ["gpt-4o"]
providers = ["openai"]
tools = ["lookup"]
"#;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, policy).unwrap();
    let prod = Capture::builder()
        .env("GOVOPS_ENVIRONMENT", "prod")
        .env("GOVOPS_POLICY", path.to_str().unwrap())
        .build()
        .unwrap();
    let outcomes = prod.run(|| {
        govops::context::scope("s", "u", || {
            [
                shell(),
                ask("gpt-4o", "openai"),
                ask("openai/gpt-4o", "openai"),
                ask("claude-sonnet-4-20250514", "anthropic"),
                ask("gpt-4o", "azure"),
            ]
        })
    });
    assert_eq!(
        outcomes,
        [
            Err(ToolError::Denied(Violation::ToolNotAllowed)),
            Ok(()),
            Ok(()),
            Err(ToolError::Denied(Violation::ModelNotAllowed)),
            Err(ToolError::Denied(Violation::ProviderNotAllowed)),
        ]
    );
    let shell_span = prod.span(Operation::ExecuteTool, "shell").unwrap();
    assert_eq!(shell_span.violations(), ["tool_not_allowed"]);
    assert_eq!(shell_span.string("govops.policy.decision"), Some("deny"));

    // The same policy says nothing of dev: everything is allowed there.
    let dev = Capture::builder()
        .env("GOVOPS_ENVIRONMENT", "dev")
        .env("GOVOPS_POLICY", path.to_str().unwrap())
        .build()
        .unwrap();
    assert_eq!(dev.run(shell), Ok(()));
}

static NOTES: AtomicU32 = AtomicU32::new(0);

/// Its error type does not convert from a `Violation`: it cannot be denied, so it runs, flagged.
#[governed(tool, name = "note")]
fn note(i: u32) -> Result<u32, String> {
    NOTES.fetch_add(1, Ordering::SeqCst);
    Ok(i)
}

#[test]
fn a_result_whose_error_cannot_hold_the_violation_is_flagged_not_blocked() {
    #[governed(agent, name = "noter")]
    fn noter() -> usize {
        (0..12).filter(|i| note(*i).is_ok()).count()
    }
    let capture = Capture::new();
    NOTES.store(0, Ordering::SeqCst);
    assert_eq!(capture.run(noter), 12);
    assert_eq!(NOTES.load(Ordering::SeqCst), 12);
    let spans = tool_spans(&capture, "note");
    assert_eq!(spans[10].violations(), ["agent_loop"]);
    assert_eq!(spans[10].string("govops.policy.decision"), Some("flag"));
}

static ASKED: AtomicU32 = AtomicU32::new(0);

/// A chat call that declares its prompt and its most output, so that its worst case can be
/// reserved before it runs; it spends 100 input and 150 output tokens ($0.00175 on gpt-4o).
#[governed(chat, model = "gpt-4o", provider = "openai", prompt = prompt, max_tokens = 200_u32)]
fn budgeted(prompt: &str) -> Result<(), ToolError> {
    ASKED.fetch_add(1, Ordering::SeqCst);
    Call::current().record_usage(Usage {
        input: 100,
        output: 150,
        ..Usage::default()
    });
    Ok(())
}

fn session_budget(limit: &str) -> (Capture, tempfile::TempDir) {
    let policy = format!("[environments.test.budgets]\nsession_usd = \"{limit}\"\n");
    with_policy(&policy)
}

#[test]
fn a_session_budget_stops_the_sessions_calls_before_they_pass_it() {
    let (capture, _dir) = session_budget("0.01");
    ASKED.store(0, Ordering::SeqCst);
    let outcomes: Vec<Result<(), ToolError>> = capture.run(|| {
        govops::context::scope("s-budget", "u", || {
            (0..8).map(|_| budgeted("hello")).collect()
        })
    });
    // Worst case $0.002005 (2 prompt tokens at four bytes a token, 200 output; with `tiktoken`
    // "hello" is 1 token, $0.0020025); each call spends $0.00175: after five calls ($0.00875) the
    // sixth's worst case would pass $0.01.
    assert_eq!(ASKED.load(Ordering::SeqCst), 5);
    assert!(outcomes[..5].iter().all(Result::is_ok));
    for refused in &outcomes[5..] {
        assert_eq!(refused, &Err(ToolError::Denied(Violation::BudgetExceeded)));
    }
    let spans = chats(&capture);
    let spent: f64 = spans
        .iter()
        .filter_map(|s| s.double("govops.cost.total_usd"))
        .sum();
    assert!(spent <= 0.01, "{spent}");
    let (_, figures) = spans[5]
        .events
        .iter()
        .find(|(name, _)| name == "govops.guard.tripped")
        .unwrap();
    assert_eq!(figures["govops.budget.scope"].to_string(), "session");
    assert_eq!(figures["govops.budget.limit_usd"].to_string(), "0.01");
    assert_eq!(figures["govops.budget.spent_usd"].to_string(), "0.00875");
    assert_eq!(spans[5].string("govops.policy.decision"), Some("deny"));
    // Another session has its own budget.
    let other = capture.run(|| govops::context::scope("s-other", "u", || budgeted("hello")));
    assert_eq!(other, Ok(()));
}

#[test]
fn sixty_four_concurrent_calls_never_overspend_a_budget() {
    let (capture, _dir) = session_budget("0.05");
    ASKED.store(0, Ordering::SeqCst);
    let capture = std::sync::Arc::new(capture);
    let threads: Vec<_> = (0..64)
        .map(|_| {
            let capture = capture.clone();
            std::thread::spawn(move || {
                capture.run(|| govops::context::scope("s-race", "u", || budgeted("hello")))
            })
        })
        .collect();
    let ran = threads
        .into_iter()
        .map(|t| t.join().unwrap())
        .filter(Result::is_ok)
        .count();
    assert_eq!(ran, ASKED.load(Ordering::SeqCst) as usize);
    let spent: f64 = chats(&capture)
        .iter()
        .filter_map(|s| s.double("govops.cost.total_usd"))
        .sum();
    assert!(spent <= 0.05 + 1e-12, "{spent} over the $0.05 budget");
    assert!(ran >= 24, "the calls whose worst case fits ran: {ran}");
}

#[test]
fn rego_rules_raise_violations_and_decide() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rules.rego"),
        r#"package govops
import rego.v1

violations contains "model_not_allowed" if {
    input.operation == "chat"
    input.usage.output > 1000
}

decision := "deny" if input.cost_usd > 0.01
"#,
    )
    .unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "[rego]\nfile = \"rules.rego\"\n").unwrap();
    let capture = Capture::builder()
        .env("GOVOPS_POLICY", policy.to_str().unwrap())
        .build()
        .unwrap();
    capture.run(|| {
        chat(100, 100); // $0.00125: allowed
        chat(1_000, 2_000); // $0.0225 and a long answer: the rule raises and denies
    });
    let spans = chats(&capture);
    assert_eq!(spans[0].violations(), Vec::<&str>::new());
    assert_eq!(spans[0].string("govops.policy.decision"), Some("allow"));
    assert_eq!(spans[1].violations(), ["model_not_allowed"]);
    assert_eq!(spans[1].string("govops.policy.decision"), Some("deny"));
    let (_, figures) = spans[1]
        .events
        .iter()
        .find(|(name, _)| name == "govops.guard.tripped")
        .unwrap();
    assert_eq!(figures["govops.rule"].to_string(), "rules.rego");

    // What a rule may not return is ignored, and said on the span.
    std::fs::write(
        dir.path().join("rules.rego"),
        "package govops\nimport rego.v1\n\nviolations contains \"too_pricey\" if input.usage.output > 1\n",
    )
    .unwrap();
    let capture = Capture::builder()
        .env("GOVOPS_POLICY", policy.to_str().unwrap())
        .build()
        .unwrap();
    capture.run(|| chat(100, 100));
    let span = &chats(&capture)[0];
    assert_eq!(span.violations(), Vec::<&str>::new());
    let (_, error) = span
        .events
        .iter()
        .find(|(name, _)| name == "govops.rego.error")
        .unwrap();
    assert!(
        error["govops.reason"]
            .to_string()
            .contains("\"too_pricey\", not a code of the contract"),
        "{error:?}"
    );

    // A rule that does not compile is a start-up gap naming the file.
    std::fs::write(
        dir.path().join("rules.rego"),
        "package govops\n\nviolations contains x if {\n  x := \n}\n",
    )
    .unwrap();
    let gaps = Capture::builder()
        .env("GOVOPS_POLICY", policy.to_str().unwrap())
        .build()
        .unwrap_err();
    let text = gaps.to_string();
    assert!(
        text.contains("Rego rules are refused") && text.contains("rules.rego"),
        "{text}"
    );
}

#[test]
fn rules_that_fail_on_a_call_flag_it_with_policy_rule_failed_as_the_policy_says() {
    let dir = tempfile::tempdir().unwrap();
    // Recursion only a long answer reaches: the rules load, then fail on that call.
    std::fs::write(
        dir.path().join("rules.rego"),
        "package govops\nimport rego.v1\n\nf(x) := y if { y := f(x) }\n\ndecision := \"deny\" if { input.usage.output > 1000; f(1) == 2 }\n",
    )
    .unwrap();
    let policy = dir.path().join("policy.toml");
    for (guard, decision) in [
        ("", "flag"),
        ("[guards.policy_rule_failed]\naction = \"deny\"\n", "deny"),
    ] {
        std::fs::write(&policy, format!("{guard}[rego]\nfile = \"rules.rego\"\n")).unwrap();
        let capture = Capture::builder()
            .env("GOVOPS_POLICY", policy.to_str().unwrap())
            .build()
            .unwrap();
        capture.run(|| {
            chat(100, 100);
            chat(1_000, 2_000);
        });
        let spans = chats(&capture);
        assert_eq!(spans[0].violations(), Vec::<&str>::new());
        assert_eq!(spans[1].violations(), ["policy_rule_failed"]);
        assert_eq!(spans[1].string("govops.policy.decision"), Some(decision));
        let (_, error) = spans[1]
            .events
            .iter()
            .find(|(name, _)| name == "govops.rego.error")
            .unwrap();
        assert!(
            error["govops.reason"]
                .to_string()
                .contains("deeper than the limit"),
            "{error:?}"
        );
    }
}

#[test]
fn a_rego_file_the_policy_names_outside_its_directory_is_a_gap_that_prints_nothing_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "[rego]\nfile = \"/proc/self/environ\"\n").unwrap();
    let gaps = Capture::builder()
        .env("GOVOPS_POLICY", policy.to_str().unwrap())
        .build()
        .unwrap_err();
    let text = gaps.to_string();
    assert!(
        text.contains("rego.file \"/proc/self/environ\" is an absolute path"),
        "{text}"
    );
    let path = std::env::var("PATH").unwrap_or_default();
    assert!(path.len() < 5 || !text.contains(&path), "{text}");
    assert!(!text.contains("PATH="), "{text}");
}

static BIG_ASKS: AtomicU32 = AtomicU32::new(0);

#[governed(chat, model = "gpt-4o", provider = "openai", prompt = prompt)]
fn big_ask(prompt: &str) -> Result<(), ToolError> {
    BIG_ASKS.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[test]
fn a_declared_prompt_too_big_for_the_window_is_caught_before_the_call() {
    // gpt-4o's window is 128 000 tokens: 90% is 115 200.
    let (capture, _dir) = with_policy("[guards.context_overflow]\naction = \"deny\"\n");
    BIG_ASKS.store(0, Ordering::SeqCst);
    let small = prompt_of(115_200);
    let large = prompt_of(115_201);
    let outcomes = capture.run(|| [big_ask(&small), big_ask(&large)]);
    assert_eq!(
        outcomes,
        [Ok(()), Err(ToolError::Denied(Violation::ContextOverflow))]
    );
    assert_eq!(
        BIG_ASKS.load(Ordering::SeqCst),
        1,
        "the oversized call never ran"
    );
    let spans = chats(&capture);
    assert_eq!(spans[1].violations(), ["context_overflow"]);
    assert_eq!(spans[1].string("govops.policy.decision"), Some("deny"));
}

type ToolResult<T> = Result<T, ToolError>;

static ALIASED: AtomicU32 = AtomicU32::new(0);

#[governed(tool, name = "aliased_shell")]
fn aliased_shell() -> ToolResult<u32> {
    ALIASED.fetch_add(1, Ordering::SeqCst);
    Ok(1)
}

#[test]
fn a_result_behind_a_type_alias_is_denied_too() {
    let (capture, _dir) = with_policy("[environments.test]\ntools = [\"lookup\"]\n");
    ALIASED.store(0, Ordering::SeqCst);
    let outcome = capture.run(aliased_shell);
    assert_eq!(outcome, Err(ToolError::Denied(Violation::ToolNotAllowed)));
    assert_eq!(ALIASED.load(Ordering::SeqCst), 0);
}

#[test]
fn a_flagged_call_is_still_charged_to_its_budgets() {
    // The window guard flags the first call (it runs); its cost must count against the session.
    // Its worst case ($0.2901) fits a $0.30 budget; it spends $0.3001, so nothing else may run.
    let policy = "[environments.test.budgets]\nsession_usd = \"0.30\"\n";
    let (capture, _dir) = with_policy(policy);
    ASKED.store(0, Ordering::SeqCst);
    let outcomes: Vec<Result<(), ToolError>> = capture.run(|| {
        govops::context::scope("s-flag", "u", || {
            let first = big_budgeted();
            let rest: Vec<_> = (0..3).map(|_| budgeted("hello")).collect();
            std::iter::once(first).chain(rest).collect()
        })
    });
    assert_eq!(outcomes[0], Ok(()));
    for later in &outcomes[1..] {
        assert_eq!(later, &Err(ToolError::Denied(Violation::BudgetExceeded)));
    }
}

/// Declares a prompt past 90% of gpt-4o's window (flagged, runs) and spends $0.30.
#[governed(chat, model = "gpt-4o", provider = "openai", prompt = big_prompt(), max_tokens = 10_u32)]
fn big_budgeted() -> Result<(), ToolError> {
    Call::current().record_usage(Usage {
        input: 120_000,
        output: 10,
        ..Usage::default()
    });
    Ok(())
}

fn big_prompt() -> String {
    prompt_of(116_000)
}

/// A prompt that gpt-4o's estimate puts at exactly `n` tokens, whichever estimator is built in:
/// four bytes a token by default, a word a token in `o200k_base` with the `tiktoken` feature.
fn prompt_of(n: usize) -> String {
    let prompt = if govops::cost::tokens::TOKENIZER_BUILT_IN {
        format!("hello{}", " hello".repeat(n - 1))
    } else {
        "a".repeat(4 * n)
    };
    assert_eq!(
        govops::cost::tokens::estimate_tokens(&prompt, Some("gpt-4o")),
        n as u64
    );
    prompt
}

#[cfg(feature = "tiktoken")]
#[governed(chat, model = "gpt-4o", provider = "openai", prompt = prompt)]
fn counted_ask(prompt: &str) -> Result<(), ToolError> {
    Ok(())
}

#[cfg(feature = "tiktoken")]
#[test]
fn with_tiktoken_the_window_guard_weighs_the_tokenizers_count() {
    // 100 000 words: 100 000 tokens in gpt-4o's o200k_base (78% of its 128 000-token window, the
    // call runs), where four bytes a token would make them 150 000 (117%: denied).
    let (capture, _dir) = with_policy("[guards.context_overflow]\naction = \"deny\"\n");
    let prompt = format!("hello{}", " hello".repeat(99_999));
    assert_eq!(govops::cost::tokens::bytes_estimate(&prompt), 150_000);
    let outcome = capture.run(|| counted_ask(&prompt));
    assert_eq!(outcome, Ok(()));
    let span = &chats(&capture)[0];
    assert_eq!(span.int("govops.prompt.estimated_tokens"), Some(100_000));
    assert_eq!(span.violations(), Vec::<&str>::new());
}

#[governed(chat, model = model, provider = "openai", prompt = prompt)]
fn ask_model(model: &str, prompt: &str) {}

static MODEL_NAMED: AtomicU32 = AtomicU32::new(0);

fn model_name() -> &'static str {
    MODEL_NAMED.fetch_add(1, Ordering::SeqCst);
    "gpt-4"
}

#[governed(chat, model = model_name(), provider = "openai", prompt = prompt)]
fn ask_named(prompt: &str) {}

#[governed(chat, model = model_name(), provider = "openai")]
fn ask_named_unprompted(prompt: &str) {}

#[test]
fn a_model_expression_is_evaluated_once_and_the_estimate_uses_it() {
    let prompt = "Привет, мир! Как дела? Сегодня хорошая погода.";
    let capture = Capture::new();
    let named = |call: fn(&str)| {
        let before = MODEL_NAMED.load(Ordering::SeqCst);
        capture.run(|| call(prompt));
        MODEL_NAMED.load(Ordering::SeqCst) - before
    };
    // Once for the span name, its attribute and the estimate together.
    assert_eq!(named(ask_named), 1);
    assert_eq!(named(ask_named_unprompted), 1);
    capture.run(|| ask_model("gpt-4", prompt));
    let spans = capture.spans_of(Operation::Chat, "gpt-4");
    let estimated: Vec<_> = spans
        .iter()
        .map(|s| s.int("govops.prompt.estimated_tokens"))
        .collect();
    let gpt_4 = Some(govops::cost::tokens::estimate_tokens(prompt, Some("gpt-4")) as i64);
    assert_eq!(
        estimated,
        [gpt_4, None, gpt_4],
        "named by a call or by an argument: gpt-4's estimate; unprompted: none"
    );
}

#[cfg(feature = "tiktoken")]
#[test]
fn with_tiktoken_a_model_named_by_an_argument_picks_the_encoding() {
    use govops::cost::tokens::Estimator;
    // Text that the two encodings count differently: gpt-4 counts in cl100k_base, gpt-4o in
    // o200k_base.
    let prompt = "Привет, мир! Как дела? Сегодня хорошая погода.";
    let (cl100k, o200k) = (
        Estimator::Cl100kBase.count(prompt),
        Estimator::O200kBase.count(prompt),
    );
    assert_ne!(cl100k, o200k);
    let capture = Capture::new();
    capture.run(|| {
        ask_model("gpt-4", prompt);
        ask_model("gpt-4o", prompt);
    });
    let estimated = |model| {
        let span = capture.span(Operation::Chat, model).unwrap();
        span.int("govops.prompt.estimated_tokens")
    };
    assert_eq!(estimated("gpt-4"), Some(cl100k as i64));
    assert_eq!(estimated("gpt-4o"), Some(o200k as i64));
}

#[governed(tool, name = "search", skip_all)]
fn search_skipped(query: &str) -> Result<usize, ToolError> {
    Ok(query.len())
}

#[test]
fn calls_whose_arguments_are_skipped_are_never_taken_for_repeats() {
    #[governed(agent, name = "searcher")]
    fn searcher() -> Vec<Result<usize, ToolError>> {
        ["cats", "dogs", "birds", "fish"]
            .iter()
            .map(|q| search_skipped(q))
            .collect()
    }
    let capture = Capture::new();
    let outcomes = capture.run(searcher);
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
}

#[test]
fn a_denied_call_returning_impl_future_runs_none_of_its_body() {
    let (capture, _dir) = with_policy("[environments.test]\ntools = [\"lookup\"]\n");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let before = FETCHES_STARTED.load(Ordering::SeqCst);
    let future = capture.run(|| fetch("https://example.com"));
    let result = runtime.block_on(capture.run_async(future));
    assert_eq!(result, Err(ToolError::Denied(Violation::ToolNotAllowed)));
    assert_eq!(FETCHES_STARTED.load(Ordering::SeqCst), before);
    let span = capture.span(Operation::ExecuteTool, "fetch").unwrap();
    assert_eq!(span.violations(), ["tool_not_allowed"]);
    assert_eq!(span.string("govops.policy.decision"), Some("deny"));

    // Allowed, it runs as written.
    let capture = Capture::new();
    let future = capture.run(|| fetch("https://example.com"));
    assert_eq!(runtime.block_on(capture.run_async(future)), Ok(19));
    assert_eq!(FETCHES_STARTED.load(Ordering::SeqCst), before + 1);
}

static SEARCHES: AtomicU32 = AtomicU32::new(0);

#[governed(tool, name = "search")]
fn search(q: u64) -> Result<u64, ToolError> {
    SEARCHES.fetch_add(1, Ordering::SeqCst);
    Ok(q)
}

#[test]
fn a_flagged_tool_still_counts_toward_the_loop_limit() {
    let (capture, _dir) = with_policy(
        "[guards.allow_lists]\naction = \"flag\"\n\
         [guards.agent_loop]\naction = \"deny\"\nmax_tool_calls = 3\nmax_repeats = 100\n\
         [environments.test]\ntools = [\"lookup\"]\n",
    );
    let before = SEARCHES.load(Ordering::SeqCst);
    let ran: Vec<bool> = capture.run(|| {
        tracing::info_span!("run").in_scope(|| (0..6).map(|i| search(i).is_ok()).collect())
    });
    assert_eq!(ran, [true, true, true, false, false, false]);
    assert_eq!(SEARCHES.load(Ordering::SeqCst) - before, 3);
    let spans = capture.spans_of(Operation::ExecuteTool, "search");
    assert_eq!(spans[0].violations(), ["tool_not_allowed"]);
    assert_eq!(spans[0].string("govops.policy.decision"), Some("flag"));
    let mut last = spans[3].violations();
    last.sort_unstable();
    assert_eq!(last, ["agent_loop", "tool_not_allowed"]);
    assert_eq!(spans[3].string("govops.policy.decision"), Some("deny"));
}

#[test]
fn missing_context_denied_in_prod_keeps_the_call_from_running() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, "[guards.missing_context]\naction = \"deny\"\n").unwrap();
    let prod = Capture::builder()
        .env("GOVOPS_ENVIRONMENT", "prod")
        .env("GOVOPS_POLICY", path.to_str().unwrap())
        .build()
        .unwrap();
    let before = SEARCHES.load(Ordering::SeqCst);
    let anonymous = prod.run(|| search(1));
    assert_eq!(anonymous, Err(ToolError::Denied(Violation::MissingContext)));
    assert_eq!(SEARCHES.load(Ordering::SeqCst), before);
    let known = prod.run(|| govops::context::scope("s-1", "u-1", || search(2)));
    assert_eq!(known, Ok(2));
    let spans = prod.spans_of(Operation::ExecuteTool, "search");
    assert_eq!(spans[0].violations(), ["missing_context"]);
    assert_eq!(spans[0].string("govops.policy.decision"), Some("deny"));
    assert_eq!(spans[1].violations(), Vec::<&str>::new());
}
