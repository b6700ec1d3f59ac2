//! Why the shared state did not answer.

use std::time::Duration;

/// Why the shared state did not answer: the call is then governed with this process's own state
/// and carries `state_unavailable`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// No answer within the state's timeout (`GOVOPS_STATE_TIMEOUT_MS`).
    #[error("the shared state did not answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// The server cannot be reached (refused, reset, name not resolved, TLS failed).
    #[error("the shared state's server cannot be reached: {0}")]
    Unreachable(String),
    /// Recent commands failed: the client stops asking for a moment (its circuit breaker).
    #[error("the shared state's circuit breaker is open after repeated failures")]
    BreakerOpen,
    /// The server answered with an error, or with something this build does not understand.
    #[error("the shared state's server answered with an error: {0}")]
    Server(String),
}

impl StateError {
    /// The `reason` label of `govops.state.errors`: `timeout`, `unreachable`, `breaker_open` or
    /// `server_error`.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            StateError::Timeout(_) => "timeout",
            StateError::Unreachable(_) => "unreachable",
            StateError::BreakerOpen => "breaker_open",
            StateError::Server(_) => "server_error",
        }
    }
}
