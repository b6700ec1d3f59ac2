//! The guard state on a Redis-protocol server (Redis 7+, Valkey), shared by every process that
//! points at it (contract section 8).
//!
//! Every check-and-change is one call of a server-side function (a Redis Functions library,
//! `govops_v1`, loaded when the server lacks it): nothing is read, changed and written back
//! from here. Keys carry the namespace, whose `{…}` part is the Redis Cluster hash tag, so that
//! the keys a function touches share a slot. Every key has a time to live.

mod budget;
mod client;
mod limbs;
mod loops;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rust_decimal::Decimal;

use super::{GuardState, Held, Pending, Reserved, StateError};
use crate::budget::{Charge, Exceeded};
use crate::policy::{Budgets, Guards, Trip};
use client::Client;

/// How a [`RedisState`] talks to its server and keeps its keys.
#[derive(Clone)]
#[non_exhaustive]
pub struct RedisOptions {
    /// The longest any command may take, connecting included (`GOVOPS_STATE_TIMEOUT_MS`;
    /// default 50 ms): past it, the call is governed with the process's own state.
    pub timeout: Duration,
    /// What every key starts with: `govops:{ENVIRONMENT}` by default in a workload. The part in
    /// braces is the Redis Cluster hash tag: all keys of one namespace share a slot.
    pub namespace: String,
    /// How long a reservation that is not settled is held (default 10 minutes): the process
    /// holding it died.
    pub reservation_ttl: Duration,
    /// How long an agent run's tool calls are remembered after its last one (default 1 hour).
    pub trace_ttl: Duration,
    /// Told of failures nobody waits for: settlements that failed every retry, forgotten traces
    /// and requests that could not be deleted.
    #[allow(clippy::type_complexity)]
    pub on_error: Option<Arc<dyn Fn(&StateError) + Send + Sync>>,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            timeout: Duration::from_millis(50),
            namespace: "govops:{default}".to_owned(),
            reservation_ttl: Duration::from_secs(600),
            trace_ttl: Duration::from_secs(3600),
            on_error: None,
        }
    }
}

impl RedisOptions {
    /// With another command timeout.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// With another namespace.
    #[must_use]
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// With another reservation time to live.
    #[must_use]
    pub fn reservation_ttl(mut self, ttl: Duration) -> Self {
        self.reservation_ttl = ttl;
        self
    }

    /// With another time to live of agent runs' tool calls.
    #[must_use]
    pub fn trace_ttl(mut self, ttl: Duration) -> Self {
        self.trace_ttl = ttl;
        self
    }

    /// Told of failures nobody waits for.
    #[must_use]
    pub fn on_error(mut self, on_error: impl Fn(&StateError) + Send + Sync + 'static) -> Self {
        self.on_error = Some(Arc::new(on_error));
        self
    }
}

impl fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisOptions")
            .field("timeout", &self.timeout)
            .field("namespace", &self.namespace)
            .field("reservation_ttl", &self.reservation_ttl)
            .field("trace_ttl", &self.trace_ttl)
            .field("on_error", &self.on_error.as_ref().map(|_| ".."))
            .finish()
    }
}

/// The guard state on a Redis-protocol server, shared by a fleet.
///
/// It owns a thread with a small tokio runtime that owns the connection: an async caller awaits
/// an answer without blocking its runtime's worker thread, a sync caller blocks its own thread,
/// at most for the timeout. After 3 consecutive failures (timeouts, server unreachable), the
/// client's circuit breaker opens for 1 s: calls then fail at once with
/// [`StateError::BreakerOpen`]; then one probe goes through, and its success closes it.
///
/// ```no_run
/// use std::time::Duration;
/// use govops_core::state::{GuardState, RedisOptions, RedisState};
///
/// let options = RedisOptions::default()
///     .namespace("govops:{prod}")
///     .timeout(Duration::from_millis(50))
///     .on_error(|e| eprintln!("govops: shared state: {e}"));
/// // No I/O yet: the server may come up later.
/// let state = RedisState::new("rediss://:secret@redis.internal:6380", options)?;
/// assert!(state.is_shared());
/// let round_trip = state.ping().wait();
/// // ... governed calls ...
/// // At shutdown: settlements still retried in the background get 2 s to land.
/// state.flush(Duration::from_secs(2));
/// # Ok::<(), govops_core::state::StateError>(())
/// ```
pub struct RedisState {
    client: Client,
    options: RedisOptions,
    /// The server, without its password: what `Debug` shows.
    target: String,
}

impl RedisState {
    /// A client of the server at `url` (`redis://`, `rediss://` for TLS, with `#insecure` to
    /// skip the certificate's verification, `unix://`; a password in the URL is sent to the
    /// server and shown nowhere). Only the URL's form is checked: the server may come up later.
    ///
    /// # Errors
    ///
    /// [`StateError::Unreachable`] when the URL is malformed or the client's thread cannot start.
    pub fn new(url: &str, options: RedisOptions) -> Result<RedisState, StateError> {
        // The error's kind only: its detail may quote the URL, password included.
        let redis = redis::Client::open(url).map_err(|e| {
            StateError::Unreachable(format!("the state's URL is malformed ({:?})", e.kind()))
        })?;
        let target = url::Url::parse(url).map_or_else(
            |_| "redis".to_owned(),
            |u| match (u.host_str(), u.port()) {
                (Some(host), Some(port)) => format!("{}://{host}:{port}", u.scheme()),
                (Some(host), None) => format!("{}://{host}", u.scheme()),
                _ => format!("{}://{}", u.scheme(), u.path()),
            },
        );
        let client = Client::start(redis, options.timeout, options.on_error.clone())?;
        Ok(RedisState {
            client,
            options,
            target,
        })
    }

    /// The options it was made with.
    #[must_use]
    pub fn options(&self) -> &RedisOptions {
        &self.options
    }

    /// The round trip of a `PING` (connecting first when there is no connection).
    pub fn ping(&self) -> Pending<Duration> {
        self.client.request(
            |inner| async move {
                let mut conn = inner.connection().await?;
                let start = std::time::Instant::now();
                redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .map_err(|e| inner.failed(&e))?;
                Ok(start.elapsed())
            },
            None,
        )
    }

    /// Waits, `within` at most, until the settlements sent so far (retried in the background
    /// while they fail) are done: a process calls it as it shuts down. Whether they are.
    pub fn flush(&self, within: Duration) -> bool {
        self.client.flush(within)
    }
}

impl fmt::Debug for RedisState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisState")
            .field("server", &self.target)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl GuardState for RedisState {
    fn reserve(
        &self,
        budgets: &Budgets,
        charge: &Charge<'_>,
        worst_case_usd: Decimal,
        day: u64,
        enforce: bool,
    ) -> Pending<Reserved> {
        budget::reserve(
            &self.client,
            &self.options,
            (budgets, charge),
            worst_case_usd,
            day,
            enforce,
        )
    }

    /// A hold made in this process's memory (while the server was away) is not this state's to
    /// settle: nothing is charged here.
    fn settle(&self, held: Held, cost_usd: Option<Decimal>) -> Pending<Option<Exceeded>> {
        match held {
            Held::Shared(hold) => budget::settle(&self.client, &self.options, hold, cost_usd),
            Held::Local(_) => Pending::ready(Ok(None)),
        }
    }

    fn tool_call(&self, trace: u128, call: u64, guards: &Guards) -> Pending<Option<Trip>> {
        loops::tool_call(&self.client, &self.options, trace, call, guards)
    }

    fn end_trace(&self, trace: u128) {
        loops::end_trace(&self.client, &self.options, trace);
    }

    fn end_request(&self, request: &str) {
        budget::end_request(&self.client, &self.options, request);
    }

    fn is_shared(&self) -> bool {
        true
    }

    fn flush(&self, within: Duration) {
        let _ = RedisState::flush(self, within);
    }
}
