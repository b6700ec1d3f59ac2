//! One replica of a fleet's workload: start several, pointed at one Redis, and they share their
//! budgets and agent loops (contract section 8).
//!
//! ```sh
//! export GOVOPS_APP_NAME=fleet GOVOPS_ENVIRONMENT=dev GOVOPS_OWNER=team-ai \
//!   GOVOPS_COST_CENTER=CC-1234 GOVOPS_DATA_CLASSIFICATION=internal \
//!   GOVOPS_POLICY=examples/policy/fleet.toml GOVOPS_STATE_URL=redis://127.0.0.1:6379
//! for i in 1 2 3 4; do cargo run -q --example fleet -- --calls 16 --concurrency 4 --session s-1 & done; wait
//! ```
//!
//! Each replica runs `--calls` governed `gpt-4o` chat calls on `--concurrency` tokio tasks, for
//! `--session` and `--user`, against a fake provider that reports `--input-tokens` (1000) and
//! `--output-tokens` (200), with `max_tokens` equal to the output; or, with `--trace TRACEPARENT
//! --tool-calls N`, N governed tool calls inside that W3C trace. It reads the policy and the
//! state from the environment like any workload, writes its telemetry where `init()` sends it,
//! and ends with one JSON line on stdout:
//! `{"calls": N, "ran": R, "denied": D, "spent_usd": "<exact decimal>", "state": "shared" | "local"}`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use govops::cost::{Pricing, ServiceTier};
use govops::{Decimal, Reported, Usage, Violation, governed};
use opentelemetry::context::FutureExt as _;

/// One replica of a fleet's workload.
#[derive(Debug, Parser)]
#[command(name = "fleet")]
struct Args {
    /// Governed chat calls to run.
    #[arg(long, default_value_t = 16)]
    calls: u32,
    /// Tokio tasks that run them.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1024))]
    concurrency: u32,
    /// The session the calls are charged to.
    #[arg(long, default_value = "fleet-session")]
    session: String,
    /// The user the calls are charged to.
    #[arg(long, default_value = "fleet-user")]
    user: String,
    /// Input tokens the fake provider reports per call (the prompt is that long).
    #[arg(long, default_value_t = 1000)]
    input_tokens: u64,
    /// Output tokens the fake provider reports per call (and the calls' `max_tokens`).
    #[arg(long, default_value_t = 200)]
    output_tokens: u64,
    /// How long the fake provider takes to answer, ms.
    #[arg(long, default_value_t = 2)]
    latency_ms: u64,
    /// A W3C `traceparent`: run `--tool-calls` tool calls inside that trace instead.
    #[arg(long, requires = "tool_calls")]
    trace: Option<String>,
    /// Tool calls to run inside `--trace`.
    #[arg(long, requires = "trace")]
    tool_calls: Option<u32>,
}

/// What the workload's error is: a denial, as `#[governed]` returns it.
#[derive(Debug)]
enum FleetError {
    Denied(Violation),
}

impl From<Violation> for FleetError {
    fn from(violation: Violation) -> Self {
        FleetError::Denied(violation)
    }
}

/// The fake provider's answer.
struct Completion {
    usage: Usage,
}

impl Reported for Completion {
    fn usage(&self) -> Option<Usage> {
        Some(self.usage)
    }
}

/// A governed chat call to the fake provider.
#[governed(
    chat,
    model = "gpt-4o",
    provider = "openai",
    prompt = prompt,
    max_tokens = max_tokens,
    skip(prompt, usage, latency)
)]
async fn complete(
    prompt: &str,
    max_tokens: u64,
    usage: Usage,
    latency: Duration,
) -> Result<Completion, FleetError> {
    tokio::time::sleep(latency).await;
    Ok(Completion { usage })
}

/// A governed tool call.
#[governed(tool, name = "lookup")]
async fn lookup(replica: u32, page: u32) -> Result<u32, FleetError> {
    tokio::time::sleep(Duration::from_millis(1)).await;
    Ok(page)
}

/// A prompt the token estimate puts at `tokens` or just above: its worst case is then never
/// below what the provider reports for it.
fn prompt_of(tokens: u64) -> String {
    let estimate = |n: u64| {
        govops::cost::tokens::estimate_tokens(&" hello".repeat(n as usize), Some("gpt-4o"))
    };
    let (mut low, mut high) = (0_u64, tokens.saturating_mul(4).max(1));
    while low < high {
        let mid = low + (high - low) / 2;
        if estimate(mid) >= tokens {
            high = mid;
        } else {
            low = mid + 1;
        }
    }
    " hello".repeat(low as usize)
}

/// What the replica did.
#[derive(Debug, Default)]
struct Outcome {
    ran: u32,
    denied: u32,
    spent_usd: Decimal,
    /// Denials by violation code.
    why: std::collections::BTreeMap<&'static str, u32>,
}

impl Outcome {
    fn denied(&mut self, FleetError::Denied(violation): FleetError) {
        self.denied += 1;
        *self.why.entry(violation.code()).or_default() += 1;
    }

    fn add(&mut self, other: Outcome) {
        self.ran += other.ran;
        self.denied += other.denied;
        self.spent_usd += other.spent_usd;
        for (code, n) in other.why {
            *self.why.entry(code).or_default() += n;
        }
    }
}

async fn chats(args: &Args, cost: Decimal) -> Outcome {
    let prompt = Arc::new(prompt_of(args.input_tokens));
    let usage = Usage {
        input: args.input_tokens,
        output: args.output_tokens,
        ..Usage::default()
    };
    let next = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let tasks: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (prompt, next, calls) = (prompt.clone(), next.clone(), args.calls);
            let max_tokens = args.output_tokens;
            let latency = Duration::from_millis(args.latency_ms);
            let task = async move {
                let mut outcome = Outcome::default();
                while next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < calls {
                    match complete(&prompt, max_tokens, usage, latency).await {
                        Ok(_) => {
                            outcome.ran += 1;
                            outcome.spent_usd += cost;
                        }
                        Err(denied) => outcome.denied(denied),
                    }
                }
                outcome
            };
            tokio::spawn(govops::context::in_scope(
                args.session.clone(),
                args.user.clone(),
                task,
            ))
        })
        .collect();
    let mut total = Outcome::default();
    for task in tasks {
        if let Ok(outcome) = task.await {
            total.add(outcome);
        }
    }
    total
}

async fn tools(traceparent: &str, calls: u32) -> Outcome {
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let cx = govops::context::extract(&carrier);
    let replica = std::process::id();
    let run = async move {
        let mut outcome = Outcome::default();
        for page in 0..calls {
            match lookup(replica, page).await {
                Ok(_) => outcome.ran += 1,
                Err(denied) => outcome.denied(denied),
            }
        }
        outcome
    };
    run.with_context(cx).await
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let govops = govops::init();
    let usage = Usage {
        input: args.input_tokens,
        output: args.output_tokens,
        ..Usage::default()
    };
    let cost =
        match govops
            .config()
            .prices
            .price("gpt-4o", Some("openai"), &usage, ServiceTier::Standard)
        {
            Ok(Pricing::Priced(cost)) => cost.total_usd,
            _ => Decimal::ZERO,
        };
    let (calls, outcome) = match (&args.trace, args.tool_calls) {
        (Some(trace), Some(n)) => (n, tools(trace, n).await),
        _ => (args.calls, chats(&args, cost).await),
    };
    let state = if govops.shared_state() {
        "shared"
    } else {
        "local"
    };
    let line = serde_json::json!({
        "calls": calls,
        "ran": outcome.ran,
        "denied": outcome.denied,
        "spent_usd": outcome.spent_usd.normalize().to_string(),
        "state": state,
    });
    for (code, n) in &outcome.why {
        eprintln!("fleet: {n} call(s) denied: {code}");
    }
    let _ = govops.shutdown();
    #[allow(clippy::print_stdout)]
    {
        println!("{line}");
    }
}
