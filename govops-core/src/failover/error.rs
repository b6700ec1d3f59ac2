//! What a provider's call can fail with, and what the router returns when no attempt served.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The class of a provider's error: it decides whether the router tries again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No answer in time (the router's own per-attempt timeout, or the provider's). Retryable.
    Timeout,
    /// The provider is down or overloaded (HTTP 5xx, connection refused). Retryable.
    Unavailable,
    /// The provider throttles the caller (HTTP 429). Retryable.
    RateLimited,
    /// The request itself is wrong (HTTP 4xx other than 408 and 429): no provider would serve it.
    BadRequest,
    /// A policy refused the call: retrying elsewhere would route around the policy.
    PolicyDenied,
    /// Anything else (authentication, a bug): not retried.
    Other,
}

impl ErrorKind {
    /// Whether another attempt (on this or another provider) may succeed.
    #[must_use]
    pub const fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::Timeout | ErrorKind::Unavailable | ErrorKind::RateLimited
        )
    }

    /// The kind as written in attempts and telemetry: `timeout`, `unavailable`, `rate_limited`,
    /// `bad_request`, `policy_denied`, `other`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::PolicyDenied => "policy_denied",
            ErrorKind::Other => "other",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error a provider's call returns: its class and a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct ProviderError {
    kind: ErrorKind,
    message: String,
}

impl ProviderError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// No answer in time.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Timeout, message)
    }

    /// The provider is down or overloaded.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }

    /// The provider throttles the caller.
    pub fn rate_limited(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::RateLimited, message)
    }

    /// The request is wrong; not retried.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }

    /// A policy refused the call; not retried.
    pub fn policy_denied(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::PolicyDenied, message)
    }

    /// Classifies an HTTP status: 408 timeout, 429 rate limited, 5xx unavailable, other 4xx bad
    /// request, anything else `Other`.
    pub fn from_status(status: u16, message: impl Into<String>) -> Self {
        let kind = match status {
            408 => ErrorKind::Timeout,
            429 => ErrorKind::RateLimited,
            500..=599 => ErrorKind::Unavailable,
            400..=499 => ErrorKind::BadRequest,
            _ => ErrorKind::Other,
        };
        Self::new(kind, message)
    }

    /// The error's class.
    #[must_use]
    pub const fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The provider's message.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether another attempt may succeed.
    #[must_use]
    pub const fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }
}

/// One failed attempt: which provider, what it failed with, how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The provider's name.
    pub provider: Arc<str>,
    /// What it failed with.
    pub error: ProviderError,
    /// From the start of the attempt to its failure.
    pub elapsed: Duration,
}

/// Why the router gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// The last attempt failed with an error that must not be retried.
    NotRetryable,
    /// Every attempt the router was allowed failed.
    Exhausted,
    /// The overall deadline passed.
    DeadlineExceeded,
    /// No provider fits the request's context size and the policy; nothing was attempted.
    NoEligibleProvider,
}

/// The one error a routed call returns when no provider served it: it names every attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverError {
    /// Why the router gave up.
    pub kind: FailureKind,
    /// Every attempt, in order.
    pub attempts: Vec<Attempt>,
}

impl fmt::Display for FailoverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            FailureKind::NotRetryable => "failed with an error that is not retried",
            FailureKind::Exhausted => "every attempt failed",
            FailureKind::DeadlineExceeded => "the deadline passed",
            FailureKind::NoEligibleProvider => {
                "no provider fits the request's context size and the policy"
            }
        })?;
        for (i, a) in self.attempts.iter().enumerate() {
            let sep = if i == 0 { ": " } else { "; " };
            write!(
                f,
                "{sep}{} ({}) after {:.1} ms",
                a.provider,
                a.error,
                a.elapsed.as_secs_f64() * 1e3
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for FailoverError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified_and_only_transient_ones_retried() {
        let kind = |status| ProviderError::from_status(status, "").kind();
        assert_eq!(kind(408), ErrorKind::Timeout);
        assert_eq!(kind(429), ErrorKind::RateLimited);
        assert_eq!(kind(503), ErrorKind::Unavailable);
        assert_eq!(kind(400), ErrorKind::BadRequest);
        assert_eq!(kind(302), ErrorKind::Other);
        let retried: Vec<u16> = [400, 401, 403, 408, 429, 500, 502, 503]
            .into_iter()
            .filter(|&s| ProviderError::from_status(s, "").is_retryable())
            .collect();
        assert_eq!(retried, [408, 429, 500, 502, 503]);
        assert!(!ProviderError::policy_denied("model_not_allowed").is_retryable());
    }
}
