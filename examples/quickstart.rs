//! A small governed program: start-up validation, a few spans and log events, a clean exit.
//!
//! ```sh
//! GOVOPS_APP_NAME=support-bot GOVOPS_ENVIRONMENT=dev GOVOPS_OWNER=team-ai \
//! GOVOPS_COST_CENTER=CC-1234 GOVOPS_DATA_CLASSIFICATION=internal \
//!   cargo run --example quickstart
//! ```
//!
//! With a variable missing it prints every gap and exits with 78. With them all set it writes
//! telemetry to `govops-telemetry.jsonl`, or over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

use std::time::Duration;

use tracing::{info, info_span, warn};

fn main() {
    let govops = govops::init();
    info!(destination = govops.destination(), "govops started");

    for ticket in [1041_i64, 1042, 1043] {
        let span = info_span!("handle_ticket", ticket, outcome = tracing::field::Empty);
        let _entered = span.enter();
        let draft = draft_reply(ticket);
        if draft.len() > 40 {
            warn!(
                ticket,
                length = draft.len() as i64,
                "reply is long; a human should review it"
            );
            span.record("outcome", "needs_review");
        } else {
            span.record("outcome", "sent");
        }
        info!(ticket, "ticket handled");
    }

    let meter = opentelemetry::global::meter("quickstart");
    meter.u64_counter("quickstart.tickets").build().add(3, &[]);
    info!("done");
    // `govops` drops here: every span, log and metric is flushed before the process exits.
}

fn draft_reply(ticket: i64) -> String {
    let _span = info_span!("draft_reply", ticket).entered();
    std::thread::sleep(Duration::from_millis(5));
    if ticket % 2 == 0 {
        format!("Ticket {ticket}: thanks, fixed in the next release.")
    } else {
        format!("Ticket {ticket}: done.")
    }
}
