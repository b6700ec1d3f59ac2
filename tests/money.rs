//! Money is never lost or invented (issue 14, item 4): a call that spends more than it reserved is
//! charged in full and flagged when it takes a budget past its limit, and the next call is denied;
//! a cost too large to represent leaves the call unpriced and flagged, never free.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod support;

use std::sync::atomic::{AtomicU32, Ordering};

use govops::testing::{Capture, CapturedSpan};
use govops::{Call, Operation, Usage, Violation, governed};

#[derive(Debug, PartialEq)]
enum CallError {
    Denied(Violation),
}

impl From<Violation> for CallError {
    fn from(violation: Violation) -> Self {
        CallError::Denied(violation)
    }
}

static RAN: AtomicU32 = AtomicU32::new(0);

/// Declares at most 10 output tokens, so that its worst case is small ($0.0001025 with a one-token
/// prompt, $0.000105 with two), then reports 100 input and 1000 output tokens: $0.01025 on gpt-4o.
#[governed(chat, model = "gpt-4o", provider = "openai", prompt = prompt, max_tokens = 10_u32)]
fn overrunning(prompt: &str) -> Result<(), CallError> {
    RAN.fetch_add(1, Ordering::SeqCst);
    Call::current().record_usage(Usage {
        input: 100,
        output: 1000,
        ..Usage::default()
    });
    Ok(())
}

fn session_budget(limit: &str) -> (Capture, tempfile::TempDir) {
    support::with_policy(&format!(
        "[environments.test.budgets]\nsession_usd = \"{limit}\"\n"
    ))
}

fn flagged_over_budget(span: &CapturedSpan) -> bool {
    span.violations().contains(&"budget_exceeded")
}

/// How many [`overrunning_task`]s ran their body.
static TASKS_RAN: AtomicU32 = AtomicU32::new(0);

/// Held until the test opens the gate: the calls that were allowed are then all in flight at once.
static GATE: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(0);

/// [`overrunning`], as a task that waits at the gate before it reports its usage.
#[governed(chat, model = "gpt-4o", provider = "openai", prompt = prompt, max_tokens = 10_u32)]
async fn overrunning_task(prompt: String) -> Result<(), CallError> {
    TASKS_RAN.fetch_add(1, Ordering::SeqCst);
    GATE.acquire().await.unwrap().forget();
    Call::current().record_usage(Usage {
        input: 100,
        output: 1000,
        ..Usage::default()
    });
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn calls_that_spend_more_than_they_reserved_are_charged_in_full_and_flagged() {
    let (capture, _dir) = session_budget("0.05");
    TASKS_RAN.store(0, Ordering::SeqCst);
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let call = overrunning_task("hello".to_owned());
            tokio::spawn(capture.run_async(govops::context::in_scope("s-overrun", "u", call)))
        })
        .collect();
    // Every task is decided when it was denied (finished) or runs (waits at the gate).
    while TASKS_RAN.load(Ordering::SeqCst) as usize
        + tasks.iter().filter(|t| t.is_finished()).count()
        < 64
    {
        tokio::task::yield_now().await;
    }
    GATE.add_permits(64);
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let ran = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(ran, TASKS_RAN.load(Ordering::SeqCst) as usize);
    for denied in outcomes.iter().filter(|o| o.is_err()) {
        assert_eq!(denied, &Err(CallError::Denied(Violation::BudgetExceeded)));
    }
    let spans = capture.spans_of(Operation::Chat, "gpt-4o");
    let ran_spans: Vec<_> = spans
        .iter()
        .filter(|s| s.string("govops.policy.decision") != Some("deny"))
        .collect();
    assert_eq!(ran_spans.len(), ran);
    // Charged in full: every call that ran carries its real cost, never its reservation.
    let cost = |s: &CapturedSpan| s.double("govops.cost.total_usd").unwrap();
    for span in &ran_spans {
        assert!((cost(span) - 0.01025).abs() < 1e-12, "{}", cost(span));
    }
    let spent: f64 = ran_spans.iter().map(|s| cost(s)).sum();
    eprintln!("{ran} of 64 calls ran and spent ${spent:.5} on a $0.05 budget");
    // Every worst case fits $0.05 beside the others' (64 × $0.000105 = $0.00672): all ran.
    assert_eq!(ran, 64);
    assert!(spent > 0.05, "{spent}");
    // Every dollar past the limit is on a flagged call: the calls carrying no violation together
    // cost no more than the budget.
    let unflagged: f64 = ran_spans
        .iter()
        .filter(|s| !flagged_over_budget(s))
        .map(|s| cost(s))
        .sum();
    assert!(
        unflagged <= 0.05 + 1e-12,
        "unflagged calls spent {unflagged}"
    );
    let flagged = ran_spans.iter().filter(|s| flagged_over_budget(s)).count();
    // All reserved first ($0.0067), four settle within $0.05 ($0.0473 committed), and each later
    // one takes the budget further past it.
    assert_eq!(flagged, 60);
    for span in ran_spans.iter().filter(|s| flagged_over_budget(s)) {
        assert_eq!(span.string("govops.policy.decision"), Some("flag"));
    }
    // The bound on overspend: each call was allowed only while the budget held its worst case
    // besides every earlier reservation, so at most limit / worst-case calls ran, and what is
    // spent past the limit is at most what those calls spent beyond their worst cases.
    let worst = 0.000_102_5;
    assert!(ran as f64 <= 0.05 / worst, "{ran} calls ran");
    let beyond_reservations = ran as f64 * (0.01025 - worst);
    assert!(
        spent - 0.05 <= beyond_reservations + 1e-12,
        "{spent} spent past $0.05 by more than the calls' {beyond_reservations} overrun"
    );
    // The next call on the budget is denied.
    let next = capture
        .run_async(govops::context::in_scope(
            "s-overrun",
            "u",
            overrunning_task("hello".to_owned()),
        ))
        .await;
    assert_eq!(next, Err(CallError::Denied(Violation::BudgetExceeded)));
}

#[test]
fn one_call_that_overruns_a_session_budget_is_flagged_and_the_next_is_denied() {
    let (capture, _dir) = session_budget("0.01");
    let outcomes: Vec<_> = capture.run(|| {
        govops::context::scope("s-one", "u", || {
            (0..2).map(|_| overrunning("hello")).collect::<Vec<_>>()
        })
    });
    assert_eq!(outcomes[0], Ok(()));
    assert_eq!(
        outcomes[1],
        Err(CallError::Denied(Violation::BudgetExceeded))
    );
    let spans = capture.spans_of(Operation::Chat, "gpt-4o");
    assert_eq!(spans[0].violations(), ["budget_exceeded"]);
    assert_eq!(spans[0].string("govops.policy.decision"), Some("flag"));
    let (_, figures) = spans[0]
        .events
        .iter()
        .find(|(name, _)| name == "govops.guard.tripped")
        .unwrap();
    assert_eq!(figures["govops.budget.scope"].to_string(), "session");
    assert_eq!(figures["govops.budget.limit_usd"].to_string(), "0.01");
    assert_eq!(figures["govops.budget.spent_usd"].to_string(), "0.01025");
    assert_eq!(figures["govops.budget.call_usd"].to_string(), "0.01025");
}

/// A price table whose rate has 19 significant digits: 123 456 789 012 tokens at it cost about
/// $15 billion, a figure whose exact value (30 digits) a `Decimal` cannot hold.
const PRECISE_TABLE: &str = r#"{"precise-model": {"litellm_provider": "acme", "mode": "chat",
    "input_cost_per_token": 0.1234567890123456789, "output_cost_per_token": 0.2}}"#;

#[governed(chat, model = "precise-model", provider = "acme", prompt = prompt, max_tokens = 1_u32)]
fn precise(prompt: &str, input: u64) -> Result<(), CallError> {
    Call::current().record_usage(Usage {
        input,
        output: 1,
        ..Usage::default()
    });
    Ok(())
}

#[test]
fn a_cost_too_large_to_represent_is_unpriced_and_flagged_and_spends_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let (policy, table) = (
        dir.path().join("policy.toml"),
        dir.path().join("prices.json"),
    );
    std::fs::write(
        &policy,
        "[environments.test.budgets]\nsession_usd = \"1000\"\n",
    )
    .unwrap();
    std::fs::write(&table, PRECISE_TABLE).unwrap();
    let capture = Capture::builder()
        .env("GOVOPS_POLICY", policy.to_str().unwrap())
        .env("GOVOPS_PRICE_TABLE", table.to_str().unwrap())
        .build()
        .unwrap();
    let outcomes: Vec<_> = capture.run(|| {
        govops::context::scope("s-giant", "u", || {
            vec![precise("hi", 123_456_789_012), precise("hi", 10)]
        })
    });
    assert_eq!(outcomes[0], Ok(()));
    let spans = capture.spans_of(Operation::Chat, "precise-model");
    let giant = &spans[0];
    // No cost at all: never 0, never a rounded figure presented as exact.
    assert_eq!(giant.attr("govops.cost.total_usd"), None);
    let violations = giant.violations();
    assert!(violations.contains(&"unpriced_model"), "{violations:?}");
    // About $15 billion is charged to the budget it passed: the call is not free.
    assert!(violations.contains(&"budget_exceeded"), "{violations:?}");
    assert_eq!(giant.string("govops.policy.decision"), Some("flag"));
    assert_eq!(
        outcomes[1],
        Err(CallError::Denied(Violation::BudgetExceeded))
    );
}

#[test]
fn a_cost_past_what_a_decimal_holds_is_unpriced_and_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let (policy, table) = (
        dir.path().join("policy.toml"),
        dir.path().join("prices.json"),
    );
    // Above the call's worst case (one prompt token at 10^20 USD).
    let budget = "[environments.test.budgets]\nsession_usd = \"1000000000000000000000\"\n";
    std::fs::write(&policy, budget).unwrap();
    // 10^20 USD a token times u64::MAX tokens: about 1.8 × 10^39, far past Decimal::MAX.
    std::fs::write(
        &table,
        r#"{"precise-model": {"input_cost_per_token": 100000000000000000000, "output_cost_per_token": 0}}"#,
    )
    .unwrap();
    let capture = Capture::builder()
        .env("GOVOPS_POLICY", policy.to_str().unwrap())
        .env("GOVOPS_PRICE_TABLE", table.to_str().unwrap())
        .build()
        .unwrap();
    let outcomes: Vec<_> = capture.run(|| {
        govops::context::scope("s-huge", "u", || {
            vec![precise("hi", u64::MAX), precise("hi", 10)]
        })
    });
    assert_eq!(outcomes[0], Ok(()));
    let spans = capture.spans_of(Operation::Chat, "precise-model");
    assert_eq!(spans[0].attr("govops.cost.total_usd"), None);
    assert!(spans[0].violations().contains(&"unpriced_model"));
    assert!(spans[0].violations().contains(&"budget_exceeded"));
    assert_eq!(
        outcomes[1],
        Err(CallError::Denied(Violation::BudgetExceeded))
    );
}

#[governed(chat, model = "gpt-4o", provider = "openai")]
fn giant_chat(input: u64) {
    Call::current().record_usage(Usage {
        input,
        output: 1,
        ..Usage::default()
    });
}

#[test]
fn giant_token_counts_are_priced_and_never_overflow_the_token_metric() {
    let capture = Capture::new();
    // Two calls of 2^63 input tokens: their sum passes what the u64 histogram holds.
    capture.run(|| {
        giant_chat(1 << 63);
        giant_chat(1 << 63);
    });
    let spans = capture.spans_of(Operation::Chat, "gpt-4o");
    assert_eq!(spans.len(), 2);
    for span in &spans {
        // 2^63 × $0.0000025 + $0.00001, exactly; the double is its nearest.
        let cost = span.double("govops.cost.total_usd").unwrap();
        assert!((cost - 23_058_430_092_136.94).abs() < 1.0, "{cost}");
    }
    assert!(!capture.metric("gen_ai.client.token.usage").is_empty());
}
