//! One governed call's shared state: who and what it is (fixed when its span opens) and what it
//! records while it runs. The contract layer settles it; [`Call`](super::Call) handles and
//! routers record into it.

use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use govops_core::{ServiceTier, Usage, Violation, Violations};
use opentelemetry::StringValue;

use super::admission::{Admission, Admitted};
use super::operation::Operation;
use crate::scan::Scan;

/// Who and what a call is, fixed when its span opens.
#[derive(Debug)]
pub(crate) struct Identity {
    pub(crate) operation: Operation,
    pub(crate) model: Option<StringValue>,
    pub(crate) provider: Option<StringValue>,
    pub(crate) subject: Option<StringValue>,
    pub(crate) session: StringValue,
    pub(crate) user: StringValue,
    pub(crate) session_known: bool,
    pub(crate) user_known: bool,
}

impl Identity {
    /// The call's model in `table`, as the cost engine finds it (exact key, `provider/model`,
    /// prefix removed).
    pub(crate) fn prices<'t>(
        &self,
        table: &'t govops_core::PriceTable,
    ) -> Option<&'t govops_core::ModelPrices> {
        let model = self.model.as_ref()?;
        table.lookup(
            model.as_str(),
            self.provider.as_ref().map(StringValue::as_str),
        )
    }
}

/// What a call records while it runs.
#[derive(Debug, Default)]
pub(crate) struct CallState {
    pub(crate) usage: Option<Usage>,
    pub(crate) response_model: Option<String>,
    pub(crate) finish_reasons: Vec<String>,
    pub(crate) service_tier: ServiceTier,
    pub(crate) violations: Violations,
    pub(crate) error: Option<String>,
    /// What the content scan found in what the call inspected or logged, and where.
    pub(crate) content: Vec<(Violation, &'static str)>,
    /// The response text, redacted, kept for export when content is captured.
    pub(crate) output: Option<String>,
    /// The provider (and its model) that served the call, when a router or the application
    /// said so: it replaces the declared provider on the span, in the price look-up, the
    /// metrics and drift.
    pub(crate) served: Option<Served>,
    /// Moves of the traffic and retries elsewhere seen during the call, for `govops.failover`.
    pub(crate) moves: Vec<Move>,
    /// The routers' latest readiness scores reported during the call.
    pub(crate) readiness: Vec<govops_core::failover::Readiness>,
    /// SHA-256 of the recorded output, for the audit log.
    pub(crate) response_sha256: Option<String>,
    /// The checks that ask the shared guard state, until the macro's code runs them.
    pub(crate) admission: Option<Admission>,
    /// What those checks came to.
    pub(crate) admitted: Admitted,
}

/// What a call's audit record takes from its span's fields, fixed when it opens.
#[derive(Debug, Default)]
pub(crate) struct AuditCall {
    pub(crate) prompt_sha256: Option<String>,
    /// The prompt itself, redacted, only when content is captured.
    pub(crate) prompt: Option<String>,
    pub(crate) temperature: Option<f64>,
    pub(crate) top_p: Option<f64>,
    pub(crate) seed: Option<i64>,
    pub(crate) max_tokens: Option<u64>,
}

/// Who served a call.
#[derive(Debug, Clone)]
pub(crate) struct Served {
    pub(crate) provider: StringValue,
    /// The provider's model, when the router knows it.
    pub(crate) model: Option<StringValue>,
}

/// One `govops.failover` event.
#[derive(Debug, Clone)]
pub(crate) struct Move {
    pub(crate) kind: &'static str,
    pub(crate) from: StringValue,
    pub(crate) to: StringValue,
    pub(crate) reason: &'static str,
}

/// One governed call's shared state: the layer settles it, [`Call`](super::Call) handles record into it.
#[derive(Debug)]
pub(crate) struct CallCell {
    pub(crate) identity: Identity,
    /// The governed span's id, in the subscriber that governs it.
    pub(crate) id: tracing::Id,
    /// The OpenTelemetry context inside the call: the caller's, with the call's span.
    pub(crate) cx: opentelemetry::Context,
    /// Why the call must not run, when a check at open or at admission denied it.
    denied: OnceLock<Violation>,
    /// The content scan the policy asks for.
    pub(crate) scan: Scan,
    /// Whether message content is exported (the policy, else the standard variable).
    pub(crate) capture: bool,
    /// The audit record's fields from the span, when an audit log is kept.
    pub(crate) audit: Option<Box<AuditCall>>,
    state: Mutex<CallState>,
}

impl CallCell {
    /// A call that opens `denied` when a check at its open denied it, with the checks that ask
    /// the shared state still to run.
    pub(crate) fn new(
        identity: Identity,
        id: tracing::Id,
        cx: opentelemetry::Context,
        (denied, admission): (Option<Violation>, Option<Admission>),
        (scan, capture, audit): (Scan, bool, Option<Box<AuditCall>>),
    ) -> Self {
        let once = OnceLock::new();
        if let Some(denied) = denied {
            let _ = once.set(denied);
        }
        Self {
            identity,
            id,
            cx,
            denied: once,
            scan,
            capture,
            audit,
            state: Mutex::new(CallState {
                admission,
                ..CallState::default()
            }),
        }
    }

    /// Why the call must not run, when a check denied it.
    #[inline]
    pub(crate) fn denied(&self) -> Option<Violation> {
        self.denied.get().copied()
    }

    /// The checks that ask the shared state, to run once.
    pub(crate) fn take_admission(&self) -> Option<Admission> {
        self.lock().admission.take()
    }

    /// Keeps what admission came to; a check that denied it keeps the call from running.
    pub(crate) fn admitted(&self, admitted: Admitted) {
        if let Some(denied) = admitted.denied() {
            let _ = self.denied.set(denied);
        }
        self.lock().admitted = admitted;
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, CallState> {
        // A panic while recording leaves plain data behind: still worth settling.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The state, for settlement; the cell is left empty.
    pub(crate) fn take(&self) -> CallState {
        std::mem::take(&mut *self.lock())
    }

    /// Raises what the content scan found in `source` (once a kind a call).
    pub(crate) fn inspected(&self, found: govops_core::content::Findings, source: &'static str) {
        if !found.any() {
            return;
        }
        let mut state = self.lock();
        for (violation, _) in self.scan.raised(found) {
            if !state.content.iter().any(|(v, _)| *v == violation) {
                state.content.push((violation, source));
            }
        }
    }

    /// Records what a router reports inside the call.
    pub(crate) fn with_state(&self, f: impl FnOnce(&mut CallState)) {
        f(&mut self.lock());
    }

    pub(crate) fn fail(&self, error: String) {
        let mut state = self.lock();
        if state.error.is_none() {
            state.error = Some(error);
        }
    }
}
