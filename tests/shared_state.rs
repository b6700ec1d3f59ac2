//! Governed calls with a shared guard state (contract section 8), through the `GuardState`
//! interface: the state is asked after the span opens, from the caller's own task (an async call
//! awaits it without blocking its worker thread); while it does not answer, the call is governed
//! with this process's own state and carries `state_unavailable`. The state here is this process's
//! memory answering from another thread, so that what is asked and answered can be watched; the
//! Redis state is tested against a real server elsewhere.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use govops::Decimal;
use govops::prelude::*;
use govops::state::{
    Charge, Exceeded, GuardState, Held, MemoryState, Pending, Reserved, Scope, StateError,
};
use govops::testing::{Capture, CapturedSpan};

/// A shared state of the test's own: this process's memory, answering from another thread; not
/// at all (a timeout) while `down`; only once `gate` opens, when one is set.
#[derive(Debug, Default)]
struct Remote {
    memory: MemoryState,
    down: AtomicBool,
    asked: AtomicU32,
    gate: Mutex<Option<Arc<AtomicBool>>>,
}

impl Remote {
    fn answer<T: Send + 'static>(&self, answer: impl FnOnce() -> T) -> Pending<T> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Pending::ready(Err(StateError::Timeout(Duration::from_millis(50))));
        }
        let answer = answer();
        let gate = self.gate.lock().unwrap().clone();
        let (reply, pending) = Pending::channel(Duration::from_secs(10));
        std::thread::spawn(move || {
            if let Some(gate) = gate {
                for _ in 0..500 {
                    if gate.load(Ordering::SeqCst) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                if !gate.load(Ordering::SeqCst) {
                    reply.send(Err(StateError::Timeout(Duration::from_secs(5))));
                    return;
                }
            }
            reply.send(Ok(answer));
        });
        pending
    }
}

impl GuardState for Remote {
    fn reserve(
        &self,
        budgets: &govops::policy::Budgets,
        charge: &Charge<'_>,
        worst_case_usd: Decimal,
        day: u64,
        enforce: bool,
    ) -> Pending<Reserved> {
        let reserved = self
            .memory
            .reserve_now(budgets, charge, worst_case_usd, day, enforce);
        self.answer(move || reserved)
    }

    fn settle(&self, held: Held, cost_usd: Option<Decimal>) -> Pending<Option<Exceeded>> {
        let passed = self.memory.settle_now(held, cost_usd);
        self.answer(move || passed)
    }

    fn tool_call(
        &self,
        trace: u128,
        call: u64,
        guards: &govops::policy::Guards,
    ) -> Pending<Option<govops::policy::Trip>> {
        let trip = self.memory.loops.tool_call(trace, call, guards);
        self.answer(move || trip)
    }

    fn end_trace(&self, trace: u128) {
        self.memory.loops.release(trace);
    }

    fn end_request(&self, request: &str) {
        self.memory.ledger.end_request(request);
    }

    fn is_shared(&self) -> bool {
        true
    }
}

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

static SEARCHES: AtomicU32 = AtomicU32::new(0);

#[governed(tool, name = "search")]
async fn search(page: u32) -> Result<u32, ToolError> {
    SEARCHES.fetch_add(1, Ordering::SeqCst);
    tokio::task::yield_now().await;
    Ok(page)
}

static ASKED: AtomicU32 = AtomicU32::new(0);

/// $0.002005 worst case on gpt-4o; spends $0.00175.
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

fn capture(remote: &Arc<Remote>, policy: &str) -> (Capture, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, policy).unwrap();
    let capture = Capture::builder()
        .env("GOVOPS_POLICY", path.to_str().unwrap())
        .state(remote.clone())
        .build()
        .unwrap();
    (capture, dir)
}

fn decisions(spans: &[CapturedSpan]) -> Vec<&str> {
    spans
        .iter()
        .map(|s| s.string("govops.policy.decision").unwrap_or("none"))
        .collect()
}

#[test]
fn the_shared_state_counts_a_traces_tool_calls_and_the_eleventh_is_denied() {
    let remote = Arc::new(Remote::default());
    let (capture, _dir) = capture(&remote, "");
    LOOKUPS.store(0, Ordering::SeqCst);
    let results: Vec<_> = capture.run(|| {
        let root = tracing::info_span!("agent run");
        let _entered = root.enter();
        (1..=12).map(lookup).collect()
    });
    assert_eq!(LOOKUPS.load(Ordering::SeqCst), 10, "ten executed, no more");
    assert_eq!(results[10], Err(ToolError::Denied(Violation::AgentLoop)));
    assert_eq!(
        remote.asked.load(Ordering::SeqCst),
        12,
        "every call asked it"
    );
    let spans = capture.spans_of(Operation::ExecuteTool, "lookup");
    assert_eq!(spans.len(), 12);
    assert!(spans[..10].iter().all(|s| s.violations().is_empty()));
    assert_eq!(spans[10].violations(), ["agent_loop"]);
    assert_eq!(decisions(&spans[10..]), ["deny", "deny"]);
}

#[test]
fn an_async_call_awaits_the_shared_state_without_blocking_its_worker_thread() {
    let remote = Arc::new(Remote::default());
    let gate = Arc::new(AtomicBool::new(false));
    *remote.gate.lock().unwrap() = Some(gate.clone());
    let (capture, _dir) = capture(&remote, "");
    SEARCHES.store(0, Ordering::SeqCst);
    // One worker thread: the state answers only once the other task ran on it, so the call
    // could not be admitted had it blocked the thread while it waited.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = runtime.block_on(capture.run_async(async {
        let opener = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            gate.store(true, Ordering::SeqCst);
        });
        let result = search(3).await;
        opener.await.unwrap();
        result
    }));
    assert_eq!(result, Ok(3));
    let span = capture.span(Operation::ExecuteTool, "search").unwrap();
    assert_eq!(
        span.violations(),
        Vec::<&str>::new(),
        "admitted by the state"
    );
    assert_eq!(remote.asked.load(Ordering::SeqCst), 1);
}

#[test]
fn a_session_budget_is_reserved_and_settled_on_the_shared_state() {
    let remote = Arc::new(Remote::default());
    let (capture, _dir) = capture(
        &remote,
        "[environments.test.budgets]\nsession_usd = \"0.01\"\n",
    );
    ASKED.store(0, Ordering::SeqCst);
    let outcomes: Vec<Result<(), ToolError>> = capture.run(|| {
        govops::context::scope("s-shared", "u", || {
            (0..8).map(|_| budgeted("hello")).collect()
        })
    });
    assert_eq!(ASKED.load(Ordering::SeqCst), 5);
    assert!(outcomes[..5].iter().all(Result::is_ok));
    assert_eq!(
        outcomes[5],
        Err(ToolError::Denied(Violation::BudgetExceeded))
    );
    // Settled where it was held: the shared state's ledger has the five calls' spend.
    assert_eq!(
        remote.memory.ledger.spent(Scope::Session, "s-shared"),
        "0.00875".parse::<Decimal>().unwrap()
    );
    let spans = capture.spans_of(Operation::Chat, "gpt-4o");
    assert_eq!(spans[5].violations(), ["budget_exceeded"]);
    let (_, figures) = spans[5]
        .events
        .iter()
        .find(|(name, _)| name == "govops.guard.tripped")
        .unwrap();
    assert_eq!(figures["govops.budget.spent_usd"].to_string(), "0.00875");
}

#[test]
fn while_the_shared_state_does_not_answer_calls_are_governed_locally_and_flagged() {
    let remote = Arc::new(Remote::default());
    remote.down.store(true, Ordering::SeqCst);
    let (capture, _dir) = capture(&remote, "");
    LOOKUPS.store(0, Ordering::SeqCst);
    let results: Vec<_> = capture.run(|| {
        let root = tracing::info_span!("agent run");
        let _entered = root.enter();
        (1..=11).map(lookup).collect()
    });
    // This process's own state still counts: the 11th is denied.
    assert_eq!(LOOKUPS.load(Ordering::SeqCst), 10);
    assert_eq!(results[10], Err(ToolError::Denied(Violation::AgentLoop)));
    let spans = capture.spans_of(Operation::ExecuteTool, "lookup");
    assert!(
        spans[..10]
            .iter()
            .all(|s| s.violations() == ["state_unavailable"])
    );
    assert_eq!(decisions(&spans[..1]), ["flag"]);
    assert_eq!(spans[10].violations(), ["state_unavailable", "agent_loop"]);
    let (_, figures) = spans[0]
        .events
        .iter()
        .find(|(name, _)| name == "govops.guard.tripped")
        .unwrap();
    assert_eq!(figures["govops.state.reason"].to_string(), "timeout");
    // Counted by reason.
    let errors = capture.metric("govops.state.errors");
    let total: f64 = errors.iter().map(|p| p.value).sum();
    assert_eq!(total, 11.0, "{errors:?}");
    assert!(
        errors
            .iter()
            .all(|p| p.attributes.get("reason").map(String::as_str) == Some("timeout"))
    );

    // The server answers again: the shared state is used again.
    remote.down.store(false, Ordering::SeqCst);
    let result = capture.run(|| lookup(1));
    assert_eq!(result, Ok(1));
    let last = capture.spans_of(Operation::ExecuteTool, "lookup");
    assert_eq!(last[11].violations(), Vec::<&str>::new());
}

#[test]
fn the_policy_may_deny_calls_while_the_shared_state_does_not_answer() {
    let remote = Arc::new(Remote::default());
    remote.down.store(true, Ordering::SeqCst);
    let (capture, _dir) = capture(&remote, "[guards.state_unavailable]\naction = \"deny\"\n");
    LOOKUPS.store(0, Ordering::SeqCst);
    let result = capture.run(|| lookup(1));
    assert_eq!(result, Err(ToolError::Denied(Violation::StateUnavailable)));
    assert_eq!(LOOKUPS.load(Ordering::SeqCst), 0, "not executed");
}
