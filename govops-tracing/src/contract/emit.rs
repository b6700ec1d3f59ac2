//! A settled call's span ends: its attributes, events and status go to OpenTelemetry, on the
//! span built whole now (its ids drawn when it opened) or on the one started when it opened.
//!
//! The attributes settlement adds go in a list that grows as needed, so that nothing is dropped
//! however much a call recorded: the pending span's own list (its room reserved when it opened),
//! else a per-thread list whose capacity is kept from call to call.

use std::cell::Cell;
use std::time::SystemTime;

use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, Status, TraceContextExt, Tracer as _};

use super::shared::Shared;
use super::span::Pending;
use crate::call::CallCell;
use crate::ids::with_preset;

/// The most capacity a per-thread list keeps between calls: what settlement adds, with room.
const KEPT: usize = 32;

thread_local! {
    static SCRATCH: Cell<Vec<KeyValue>> = const { Cell::new(Vec::new()) };
}

/// The list settlement adds a call's attributes to: the pending span's own, else a per-thread
/// list to pass on to the started span.
pub(super) fn attributes(pending: Option<&mut Pending>) -> Vec<KeyValue> {
    match pending {
        Some(pending) => std::mem::take(&mut pending.attributes),
        None => SCRATCH.try_with(Cell::take).unwrap_or_default(),
    }
}

/// What ends a span: its attributes (all of them, for a pending span; settlement's, for a
/// started one), its events and its status.
pub(super) struct Ending {
    pub(super) attributes: Vec<KeyValue>,
    pub(super) events: Vec<(&'static str, Vec<KeyValue>)>,
    pub(super) status: Option<Status>,
    pub(super) started: SystemTime,
    pub(super) ended: SystemTime,
}

/// Ends the span of `cell`: builds it whole from `pending`, or ends the one started at open.
pub(super) fn end(shared: &Shared, cell: &CallCell, pending: Option<Pending>, ending: Ending) {
    let Ending {
        mut attributes,
        events,
        status,
        started,
        ended,
    } = ending;
    match pending {
        Some(pending) => {
            let builder = shared
                .tracer
                .span_builder(pending.name)
                .with_kind(pending.kind)
                .with_start_time(started)
                .with_attributes(attributes);
            let mut span = with_preset(pending.trace_id, pending.span_id, || {
                shared
                    .tracer
                    .build_with_context(builder, &pending.parent_cx)
            });
            for (name, figures) in events {
                span.add_event_with_timestamp(name, ended, figures);
            }
            if let Some(status) = status {
                span.set_status(status);
            }
            span.end_with_timestamp(ended);
        }
        None => {
            let otel = cell.cx.span();
            for (name, figures) in events {
                otel.add_event_with_timestamp(name, ended, figures);
            }
            otel.set_attributes(attributes.drain(..));
            if let Some(status) = status {
                otel.set_status(status);
            }
            otel.end_with_timestamp(ended);
            if attributes.capacity() <= KEPT {
                let _ = SCRATCH.try_with(|kept| kept.set(attributes));
            }
        }
    }
}
