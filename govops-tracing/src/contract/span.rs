//! A governed span's state while it is open, kept in the span's extensions: made when it opens,
//! taken back when it closes and settled.

use std::borrow::Cow;
use std::sync::Arc;

use govops_core::budget::Reservation;
use opentelemetry::trace::{SpanId, SpanKind, TraceId};
use opentelemetry::{Context, KeyValue};

use super::checks::Tripped;
use crate::call::CallCell;
use crate::clock::Stamp;

/// A governed span's state, in the span's extensions.
pub(super) struct Governed {
    /// The call; its context is what children see: the caller's, with this span.
    pub(super) cell: Arc<CallCell>,
    pub(super) started: Stamp,
    /// The span to build when it ends, when the ids were drawn at its start.
    pub(super) pending: Option<Pending>,
    /// The trace this call is the root of: its per-trace state goes when the call ends.
    pub(super) root_trace: Option<TraceId>,
    /// What tripped when the call opened: it decides as it decided then.
    pub(super) tripped: Vec<Tripped>,
    /// The budget reserved for the call's worst case, settled when it ends.
    pub(super) reservation: Option<Reservation>,
}

/// What building a governed span at its end needs.
pub(super) struct Pending {
    pub(super) parent_cx: Context,
    pub(super) name: Cow<'static, str>,
    pub(super) kind: SpanKind,
    /// The attributes known so far; settlement adds its own to the same list.
    pub(super) attributes: Vec<KeyValue>,
    pub(super) trace_id: TraceId,
    pub(super) span_id: SpanId,
}
