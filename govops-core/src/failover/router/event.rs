//! What the router tells about the traffic: a move (failover or failback) and why.

use std::sync::Arc;

/// A failover or a failback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SwitchKind {
    /// Traffic left a degraded provider.
    Failover,
    /// Traffic returned to the recovered primary.
    Failback,
}

impl SwitchKind {
    /// `failover` or `failback`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            SwitchKind::Failover => "failover",
            SwitchKind::Failback => "failback",
        }
    }
}

/// Why traffic moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The window's p95 latency is above the SLA.
    SlaBreach,
    /// The window's error rate is above `degraded_error_rate`.
    ErrorRate,
    /// The breaker is open (or half-open).
    BreakerOpen,
    /// The provider stopped answering in time.
    Timeout,
    /// The primary recovered (a failback).
    Recovered,
}

impl Reason {
    /// `sla_breach`, `error_rate`, `breaker_open`, `timeout` or `recovered`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::SlaBreach => "sla_breach",
            Reason::ErrorRate => "error_rate",
            Reason::BreakerOpen => "breaker_open",
            Reason::Timeout => "timeout",
            Reason::Recovered => "recovered",
        }
    }
}

/// One move of the traffic: what the tracing layer turns into a `govops.failover` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverEvent {
    /// Failover or failback.
    pub kind: SwitchKind,
    /// The provider traffic left.
    pub from: Arc<str>,
    /// The provider traffic went to.
    pub to: Arc<str>,
    /// Why.
    pub reason: Reason,
}
