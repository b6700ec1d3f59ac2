//! An agent that plans with a model and calls tools, all governed, under one session and user.
//!
//! ```sh
//! GOVOPS_APP_NAME=support-agent GOVOPS_ENVIRONMENT=dev GOVOPS_OWNER=team-ai \
//! GOVOPS_COST_CENTER=CC-1234 GOVOPS_DATA_CLASSIFICATION=internal \
//!   cargo run --example agent
//! ```
//!
//! One trace: `invoke_agent support` over `chat claude-sonnet-4-20250514` (the plan),
//! `execute_tool search_orders` and `execute_tool refund`, and a final `chat` that writes the
//! answer. Over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, else to `govops-telemetry.jsonl`.
//!
//! `cargo run --example agent -- --runaway` makes the agent page through results without end: the
//! loop guard lets ten tool calls run and denies the eleventh with `agent_loop`, and the agent
//! stops on the error it gets back.

use std::time::Duration;

use govops::{Reported, Usage, Violation, governed};
use tracing::info;

/// A model's answer, as the fake provider reports it.
struct Message {
    text: String,
    usage: Usage,
}

impl Reported for Message {
    fn usage(&self) -> Option<Usage> {
        Some(self.usage)
    }

    fn finish_reason(&self) -> Option<&str> {
        Some("end_turn")
    }
}

/// The model call, with the model chosen per call.
#[governed(chat, model = model, provider = "anthropic")]
async fn think(model: &str, prompt: &str) -> Message {
    tokio::time::sleep(Duration::from_millis(15)).await;
    Message {
        text: if prompt.starts_with("plan") {
            "search_orders then refund".to_owned()
        } else {
            "Your refund of $18.20 is on its way.".to_owned()
        },
        usage: Usage {
            input: 1_800,
            cache_read: 1_200,
            output: 400,
            ..Usage::default()
        },
    }
}

#[governed(tool, name = "search_orders")]
async fn search_orders(customer: &str) -> Vec<String> {
    tokio::time::sleep(Duration::from_millis(5)).await;
    vec![format!("{customer}/order-981")]
}

#[governed(tool, name = "refund", err)]
fn refund(order: &str) -> Result<String, String> {
    if order.is_empty() {
        return Err("no order to refund".to_owned());
    }
    Ok(format!("refund issued for {order}"))
}

#[governed(agent, name = "support")]
async fn support_agent(customer: &str, request: &str) -> String {
    const MODEL: &str = "claude-sonnet-4-20250514";
    let plan = think(MODEL, &format!("plan: {request}")).await;
    info!(plan = %plan.text, "planned");
    let orders = search_orders(customer).await;
    let receipt = refund(orders.first().map_or("", String::as_str));
    info!(receipt = ?receipt, "tool done");
    let answer = think(MODEL, "answer the customer").await;
    answer.text
}

/// What a tool can fail with; a call the policy denies comes back as `Denied`.
#[derive(Debug)]
enum ToolError {
    Denied(Violation),
}

impl From<Violation> for ToolError {
    fn from(violation: Violation) -> Self {
        ToolError::Denied(violation)
    }
}

#[governed(tool, name = "fetch_page")]
async fn fetch_page(page: u32) -> Result<Vec<String>, ToolError> {
    tokio::time::sleep(Duration::from_millis(2)).await;
    Ok(vec![format!("order-{page}")])
}

/// An agent whose loop never ends on its own: it keeps asking for the next page.
#[governed(agent, name = "runaway")]
async fn runaway_agent() -> u32 {
    let mut fetched = 0;
    for page in 1.. {
        match fetch_page(page).await {
            Ok(_) => fetched += 1,
            Err(ToolError::Denied(violation)) => {
                info!(%violation, page, "the policy stopped the loop");
                break;
            }
        }
    }
    fetched
}

#[tokio::main]
async fn main() {
    let govops = govops::init();
    info!(destination = govops.destination(), "govops started");
    if std::env::args().any(|a| a == "--runaway") {
        let fetched =
            govops::context::in_scope("session-agent-8", "customer-314", runaway_agent()).await;
        info!(fetched, "runaway agent stopped");
        return;
    }
    let answer = govops::context::in_scope(
        "session-agent-7",
        "customer-314",
        support_agent("customer-314", "I was charged twice"),
    )
    .await;
    info!(%answer, "agent finished");
}
