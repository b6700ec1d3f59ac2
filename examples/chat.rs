//! A governed chat call against an in-process fake provider that reports usage.
//!
//! ```sh
//! GOVOPS_APP_NAME=support-bot GOVOPS_ENVIRONMENT=dev GOVOPS_OWNER=team-ai \
//! GOVOPS_COST_CENTER=CC-1234 GOVOPS_DATA_CLASSIFICATION=internal \
//!   cargo run --example chat
//! ```
//!
//! Three chat calls under one session and user: each span carries the whole contract (who
//! called, tokens, exact cost, latency, context utilization, decision, violations). The telemetry
//! goes over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, else to `govops-telemetry.jsonl`.

use std::time::Duration;

use govops::{Reported, Usage, governed};
use tracing::info;

/// What the fake provider answers, with the usage a real one reports.
struct Completion {
    text: String,
    model: String,
    prompt_tokens: u64,
    cached_tokens: u64,
    completion_tokens: u64,
}

impl Reported for Completion {
    fn usage(&self) -> Option<Usage> {
        Some(Usage {
            input: self.prompt_tokens,
            cache_read: self.cached_tokens,
            output: self.completion_tokens,
            ..Usage::default()
        })
    }

    fn response_model(&self) -> Option<&str> {
        Some(&self.model)
    }

    fn finish_reason(&self) -> Option<&str> {
        Some("stop")
    }
}

/// An in-process stand-in for a provider's chat endpoint.
struct FakeProvider;

impl FakeProvider {
    async fn complete(&self, model: &str, prompt: &str) -> Completion {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let prompt_tokens = 200 + 4 * prompt.len() as u64;
        Completion {
            text: format!("Here is help with: {prompt}"),
            model: format!("{model}-2024-08-06"),
            prompt_tokens,
            cached_tokens: prompt_tokens / 2,
            completion_tokens: 120,
        }
    }
}

/// One governed model call: the attribute is all it takes. `prompt = prompt` passes the prompt
/// for inspection (personal data or a credential in it raises a violation; it is exported only
/// when the policy captures content) and for the budgets' estimate before the call.
#[governed(chat, model = "gpt-4o", provider = "openai", prompt = prompt, skip(provider))]
async fn ask(provider: &FakeProvider, prompt: &str) -> Completion {
    provider.complete("gpt-4o", prompt).await
}

#[tokio::main]
async fn main() {
    let govops = govops::init();
    info!(destination = govops.destination(), "govops started");

    let provider = FakeProvider;
    govops::context::in_scope("session-chat-1", "user-42", async {
        for prompt in [
            "reset my password",
            "why was I charged twice?",
            "close my account",
        ] {
            let reply = ask(&provider, prompt).await;
            info!(reply = %reply.text, "answered");
        }
    })
    .await;
    // `govops` drops here: every span, log and metric is flushed before the process exits.
}
