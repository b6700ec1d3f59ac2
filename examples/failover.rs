//! Multi-provider failover: a primary that fails part-way through a run of requests and later
//! recovers, a secondary that takes the traffic meanwhile, and no request lost.
//!
//! ```sh
//! cargo run --example failover
//! ```
//!
//! The providers are simulated in-process (a few ms of latency each). Requests 30 to 69 of 100 find
//! the primary answering 503; traffic fails over to the secondary, the primary gets a trial call
//! now and then, and traffic fails back once it has answered three times in a row within the SLA.
//! The secondary's readiness score (`govops.failover.readiness`) is printed whenever it changes;
//! the last line is the run's summary as one JSON object.
//!
//! Each request is a `#[governed]` chat call, so its telemetry shows what happened: the span of a
//! call served by the secondary names it in `gen_ai.provider.name` and carries a
//! `govops.failover` event (from, to, reason); the metrics hold `govops.failover.switches` and
//! the `govops.failover.readiness` gauge. It goes to `govops-telemetry.jsonl` in the working
//! directory, or over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
#![allow(clippy::print_stdout)] // printing the run is what the example is for

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use govops::failover::{FailoverConfig, FailoverError, Provider, ProviderError, Request, Router};
use govops::{Call, Usage, governed};

const REQUESTS: u32 = 100;
const OUTAGE: std::ops::Range<u32> = 30..70;

/// One request: the router picks the provider; govops records who served it.
#[governed(chat, model = "gpt-4o", provider = "openai")]
async fn ask(router: &Router<String, String>, prompt: String) -> Result<String, FailoverError> {
    let request = Request::new(2_000);
    let served = router.call(&request, prompt).await?;
    Call::current().record_usage(Usage {
        input: 2_000,
        output: 150,
        ..Usage::default()
    });
    Ok(served.value)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // The metadata is set here so that the example runs as it is; GOVOPS_* variables would
    // do the same in a real deployment (`govops::init()`).
    let govops = govops::configure()
        .app_name("failover-example")
        .environment("dev")
        .owner("team-ai")
        .cost_center("CC-1234")
        .data_classification("internal")
        .stderr_logs(false)
        .init();
    // The request being served: the simulated primary fails while it is in the outage.
    let current = Arc::new(AtomicU32::new(0));
    let now = Arc::clone(&current);
    let primary = Provider::new("openai", "gpt-4o", 128_000, move |prompt: String| {
        let failing = OUTAGE.contains(&now.load(Ordering::Relaxed));
        async move {
            tokio::time::sleep(Duration::from_millis(3)).await;
            if failing {
                Err(ProviderError::from_status(503, "service unavailable"))
            } else {
                Ok(format!("openai: {prompt}"))
            }
        }
    })
    .config_version("prompts-v7");
    let secondary = Provider::new(
        "azure-openai",
        "gpt-4o",
        128_000,
        |prompt: String| async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(format!("azure: {prompt}"))
        },
    )
    // Still on the previous configuration until request 10: config sync lowers its readiness.
    .config_version("prompts-v6");

    let config = FailoverConfig {
        sla: Duration::from_millis(50),
        cool_down: Duration::from_millis(100),
        attempt_timeout: Duration::from_millis(200),
        deadline: Duration::from_secs(2),
        trial_interval: Duration::from_millis(30),
        failback_after: Duration::from_millis(150),
        ..FailoverConfig::default()
    };
    let at = Arc::clone(&current);
    let router = Router::new(primary, config)
        .secondary(secondary)
        .on_event(move |e| {
            println!(
                "request {:>3}: {} {} -> {} ({})",
                at.load(Ordering::Relaxed),
                e.kind.as_str(),
                e.from,
                e.to,
                e.reason.as_str()
            );
        });

    let request = Request::new(2_000);
    let (mut succeeded, mut lost) = (0u32, 0u32);
    let mut last_score = None;
    for i in 0..REQUESTS {
        current.store(i, Ordering::Relaxed);
        if i == 10 {
            router.set_config_version("azure-openai", Some("prompts-v7"));
        }
        match govops::context::in_scope(
            format!("session-{}", i / 10),
            "user-1",
            ask(&router, format!("question {i}")),
        )
        .await
        {
            Ok(_) => succeeded += 1,
            Err(error) => {
                lost += 1;
                eprintln!("request {i} lost: {error}");
            }
        }
        for r in router.readiness(&request) {
            if last_score != Some(r.score) {
                let health = router.health();
                let breaker = health.first().map_or("?", |h| h.breaker.as_str());
                println!(
                    "request {i:>3}: readiness {} = {:>3} (error rate {:.2}, config {:?}; primary breaker {breaker}, serving {})",
                    r.provider,
                    r.score,
                    r.factors.error_rate,
                    r.factors.config,
                    router.stats().active
                );
                last_score = Some(r.score);
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats = router.stats();
    if let Err(error) = govops.shutdown() {
        eprintln!("{error}");
    }
    println!(
        "{{\"requests\": {REQUESTS}, \"succeeded\": {succeeded}, \"lost\": {lost}, \"failovers\": {}, \"failbacks\": {}}}",
        stats.failovers, stats.failbacks
    );
}
