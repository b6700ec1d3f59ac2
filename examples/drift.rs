//! Model drift: a simulated model whose latency and output length shift part-way through a run
//! of calls, fed to the drift detector of `govops::drift`.
//!
//! Run: `cargo run --example drift`. It prints the score as it changes and, last, when the shift
//! happened and when it was detected; the exit code is 0 when it was detected within the
//! documented delay (two recent half-lives: 32 calls), 1 otherwise.

#![allow(clippy::print_stdout)] // an example reports on stdout

use std::process::ExitCode;
use std::time::Duration;

use govops::Decimal;
use govops::drift::{DriftConfig, DriftRegistry, Observation, Transition};

/// The call at which the model changes.
const SHIFT_AT: u64 = 3_000;
/// Calls in the run.
const CALLS: u64 = 4_000;
/// The documented detection delay for this shift (see the module docs of `govops::drift`).
const DELAY: u64 = 32;

/// A standard normal value (Box–Muller).
fn gauss(rng: &mut fastrand::Rng) -> f64 {
    let u1 = rng.f64().max(f64::MIN_POSITIVE);
    let u2 = rng.f64();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn main() -> ExitCode {
    let registry = match DriftRegistry::new(&DriftConfig::default()) {
        Ok(registry) => registry,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let mut rng = fastrand::Rng::with_seed(42);
    let mut detected = None;
    let mut shown = -1.0_f64;

    for call in 1..=CALLS {
        // Before the shift: ~250 output tokens, ~1.3 s. After: answers 40% longer and a slower
        // deployment, the latency 50% up.
        let (tokens_level, slowdown) = if call < SHIFT_AT {
            (250.0, 1.0)
        } else {
            (350.0, 1.5)
        };
        let tokens = (tokens_level * (1.0 + 0.2 * gauss(&mut rng))).max(1.0);
        let latency = slowdown * (0.3 + 0.004 * tokens) * (1.0 + 0.1 * gauss(&mut rng));
        let success = rng.u32(0..100) != 0;
        let obs = Observation {
            latency: Duration::from_secs_f64(latency.max(0.01)),
            output_tokens: success.then_some(tokens as u64),
            success,
            // $10 per million output tokens, exact
            cost_usd: success.then(|| Decimal::new(tokens as i64 * 10, 6)),
        };
        let Some(update) = registry.observe("gpt-4o", "openai", &obs) else {
            continue;
        };
        if (update.score - shown).abs() >= 0.1 || update.transition.is_some() {
            shown = update.score;
            let moved: Vec<String> = update
                .moved()
                .map(|s| {
                    format!(
                        "{} {} {:.4} -> {:.4}",
                        s.signal.name(),
                        s.direction.name(),
                        s.baseline,
                        s.recent
                    )
                })
                .collect();
            let state = match update.transition {
                Some(Transition::Started) => " DRIFT STARTED",
                Some(Transition::Ended) => " drift ended",
                None if update.warming_up => " (warming up)",
                None => "",
            };
            println!(
                "call {call:>5}: score {:.2}{state}{}{}",
                update.score,
                if moved.is_empty() { "" } else { "; moved: " },
                moved.join(", ")
            );
        }
        if update.transition == Some(Transition::Started) && detected.is_none() {
            detected = Some(call);
        }
    }

    match detected {
        Some(call) if call >= SHIFT_AT && call - SHIFT_AT <= DELAY => {
            println!(
                "shift at call {SHIFT_AT}, detected at call {call}: {} calls later (documented: within {DELAY})",
                call - SHIFT_AT
            );
            ExitCode::SUCCESS
        }
        Some(call) => {
            println!(
                "shift at call {SHIFT_AT}, but drift first flagged at call {call} (documented: within {DELAY} calls after the shift)"
            );
            ExitCode::FAILURE
        }
        None => {
            println!("shift at call {SHIFT_AT}, not detected");
            ExitCode::FAILURE
        }
    }
}
