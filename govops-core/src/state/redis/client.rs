//! The shared state's client. A thread of its own runs a small tokio runtime that owns the
//! connection, so that callers of any kind (async on any runtime, or sync) only wait for an
//! answer: an async caller never blocks its worker thread on the network, a sync one blocks its
//! own thread no longer than the timeout. Every command, connecting included, is bounded by the
//! timeout, and a circuit breaker stops asking a server that keeps failing.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, RedisError};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

use super::super::pending::Reply;
use super::super::{Pending, StateError};

/// What is told of failures nobody waits for.
pub(super) type OnError = Arc<dyn Fn(&StateError) + Send + Sync>;

/// What runs on the client's thread when a request fails.
pub(super) type OnFailure = Box<dyn FnOnce(&Arc<Inner>, &StateError) + Send>;

/// The server-side code: a Redis Functions library with its release in its name.
pub(super) const LIBRARY: &str = include_str!("functions.lua");

/// A sync caller's backstop past the timeout, should the client's thread itself be stuck.
const BACKSTOP: Duration = Duration::from_secs(1);

/// Consecutive failures that open the breaker, and how long it stays open.
const BREAKER_FAILURES: u32 = 3;
const BREAKER_COOL_DOWN: Duration = Duration::from_secs(1);

/// Pauses before each retry of work sent in the background: 5 more tries over about 10 s.
const RETRY_DELAYS: [Duration; 5] = [
    Duration::from_millis(250),
    Duration::from_millis(750),
    Duration::from_millis(1500),
    Duration::from_secs(3),
    Duration::from_secs(4),
];

/// How long dropping the client waits for its thread.
const STOP_BOUND: Duration = Duration::from_secs(1);

/// The client: its thread and what its tasks share.
pub(super) struct Client {
    inner: Arc<Inner>,
    stop: Option<oneshot::Sender<()>>,
    exited: Mutex<mpsc::Receiver<()>>,
    thread: Option<JoinHandle<()>>,
}

/// What the client's tasks share.
pub(super) struct Inner {
    redis: redis::Client,
    handle: Handle,
    conn: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    /// The connection is to be dropped: it failed, or the breaker opened.
    stale: AtomicBool,
    timeout: Duration,
    breaker: Breaker,
    background: Background,
    on_error: Option<OnError>,
}

impl Client {
    /// Starts the client's thread; no I/O: the server is connected to on the first command.
    pub(super) fn start(
        redis: redis::Client,
        timeout: Duration,
        on_error: Option<OnError>,
    ) -> Result<Client, StateError> {
        let (handle_tx, handle_rx) = mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let (exit_tx, exited) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("govops-state".to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                let runtime = match runtime {
                    Ok(runtime) => runtime,
                    Err(e) => return drop(handle_tx.send(Err(e.to_string()))),
                };
                let _ = handle_tx.send(Ok(runtime.handle().clone()));
                let _ = runtime.block_on(stopped);
                runtime.shutdown_timeout(STOP_BOUND / 2);
                let _ = exit_tx.send(());
            })
            .map_err(|e| {
                StateError::Unreachable(format!("cannot start the state's thread: {e}"))
            })?;
        let handle = handle_rx
            .recv()
            .map_err(|e| e.to_string())
            .and_then(|h| h)
            .map_err(|e| {
                StateError::Unreachable(format!("cannot start the state's runtime: {e}"))
            })?;
        let inner = Inner {
            redis,
            handle,
            conn: tokio::sync::Mutex::new(None),
            stale: AtomicBool::new(false),
            timeout,
            breaker: Breaker::default(),
            background: Background::default(),
            on_error,
        };
        Ok(Client {
            inner: Arc::new(inner),
            stop: Some(stop),
            exited: Mutex::new(exited),
            thread: Some(thread),
        })
    }

    /// What the client's tasks share.
    pub(super) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }

    /// Runs `work` on the client's thread within the timeout; the answer comes through the
    /// returned [`Pending`]. While the breaker is open, it answers [`StateError::BreakerOpen`]
    /// at once. `on_failure` runs on the client's thread when the work fails.
    pub(super) fn request<T, F, Fut>(&self, work: F, on_failure: Option<OnFailure>) -> Pending<T>
    where
        F: FnOnce(Arc<Inner>) -> Fut,
        Fut: Future<Output = Result<T, StateError>> + Send + 'static,
        T: Send + 'static,
    {
        if let Err(open) = self.inner.breaker.admit() {
            return Pending::ready(Err(open));
        }
        let (reply, pending) = Pending::channel(self.inner.timeout + BACKSTOP);
        let inner = self.inner.clone();
        let work = work(inner.clone());
        self.inner.handle.spawn(async move {
            let answer = inner.run(work).await;
            if let (Err(e), Some(on_failure)) = (&answer, on_failure) {
                on_failure(&inner, e);
            }
            reply.send(answer);
        });
        pending
    }

    /// Runs `work` now and, while it fails, again in the background a few times (it must be
    /// idempotent); the first outcome comes through the returned [`Pending`], a final failure
    /// goes to `on_error`. [`Client::flush`] waits for it.
    pub(super) fn request_retried<T, F, Fut>(&self, work: F) -> Pending<T>
    where
        F: Fn(Arc<Inner>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StateError>> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, pending) = Pending::channel(self.inner.timeout + BACKSTOP);
        self.inner.spawn_retried(work, Some(reply));
        pending
    }

    /// Waits, `within` at most, until the work sent in the background so far is done; whether
    /// it is.
    pub(super) fn flush(&self, within: Duration) -> bool {
        self.inner.background.wait(within)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Bounded: a thread stuck past the bound is left to end on its own.
        let exited = self.exited.lock().unwrap_or_else(PoisonError::into_inner);
        if exited.recv_timeout(STOP_BOUND).is_ok()
            && let Some(thread) = self.thread.take()
        {
            let _ = thread.join();
        }
    }
}

impl Inner {
    /// Tells `on_error` of a failure nobody waits for.
    pub(super) fn report(&self, error: &StateError) {
        if let Some(on_error) = &self.on_error {
            on_error(error);
        }
    }

    /// Runs `work` within the timeout and tells the breaker how it went.
    async fn run<T>(
        &self,
        work: impl Future<Output = Result<T, StateError>>,
    ) -> Result<T, StateError> {
        let answer = tokio::time::timeout(self.timeout, work)
            .await
            .unwrap_or(Err(StateError::Timeout(self.timeout)));
        let failed = matches!(
            answer,
            Err(StateError::Timeout(_) | StateError::Unreachable(_))
        );
        if self.breaker.record(!failed) {
            // A server that keeps failing may hold a dead connection: the probe makes a new one.
            self.stale.store(true, Ordering::Relaxed);
        }
        answer
    }

    /// [`Client::request_retried`], from anywhere (the client's thread included); without a
    /// reply, fire and forget.
    pub(super) fn spawn_retried<T, F, Fut>(self: &Arc<Self>, work: F, reply: Option<Reply<T>>)
    where
        F: Fn(Arc<Inner>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StateError>> + Send + 'static,
        T: Send + 'static,
    {
        let queued = self.background.begin(self.clone());
        let inner = self.clone();
        self.handle.spawn(async move {
            let _queued = queued;
            let mut reply = reply;
            let mut last = None;
            for pause in std::iter::once(Duration::ZERO).chain(RETRY_DELAYS) {
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
                let answer = match inner.breaker.admit() {
                    Ok(()) => inner.run(work(inner.clone())).await,
                    Err(open) => Err(open),
                };
                let failure = answer.as_ref().err().cloned();
                if let Some(reply) = reply.take() {
                    reply.send(answer);
                }
                match failure {
                    None => return,
                    Some(e) => last = Some(e),
                }
            }
            if let Some(e) = last {
                inner.report(&e);
            }
        });
    }

    /// Runs `work` once in the background, within the timeout; a failure goes to `on_error`.
    pub(super) fn fire<F, Fut>(self: &Arc<Self>, work: F)
    where
        F: FnOnce(Arc<Inner>) -> Fut,
        Fut: Future<Output = Result<(), StateError>> + Send + 'static,
    {
        let answer = self.breaker.admit();
        let inner = self.clone();
        let work = work(inner.clone());
        self.handle.spawn(async move {
            let answer = match answer {
                Ok(()) => inner.run(work).await,
                Err(open) => Err(open),
            };
            if let Err(e) = answer {
                inner.report(&e);
            }
        });
    }

    /// The connection, made when there is none (within the caller's timeout).
    pub(super) async fn connection(&self) -> Result<MultiplexedConnection, StateError> {
        let mut slot = self.conn.lock().await;
        if self.stale.swap(false, Ordering::Relaxed) {
            slot.take();
        }
        if let Some(conn) = &*slot {
            return Ok(conn.clone());
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(None);
        let conn = self
            .redis
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| self.failed(&e))?;
        *slot = Some(conn.clone());
        Ok(conn)
    }

    /// Calls a function of the library, loading the library when the server does not have it
    /// (it restarted, or this release's library is new to it).
    pub(super) async fn fcall(
        &self,
        function: &str,
        keys: &[String],
        args: &[String],
    ) -> Result<Vec<i64>, StateError> {
        let mut conn = self.connection().await?;
        let mut cmd = redis::cmd("FCALL");
        cmd.arg(function).arg(keys.len()).arg(keys).arg(args);
        match cmd.query_async(&mut conn).await {
            Err(e) if e.to_string().contains("Function not found") => {
                let load = redis::cmd("FUNCTION")
                    .arg("LOAD")
                    .arg(LIBRARY)
                    .query_async::<String>(&mut conn)
                    .await;
                match load {
                    Err(e) if !e.to_string().contains("already exists") => {
                        return Err(self.failed(&e));
                    }
                    _ => {}
                }
                cmd.query_async(&mut conn)
                    .await
                    .map_err(|e| self.failed(&e))
            }
            answer => answer.map_err(|e| self.failed(&e)),
        }
    }

    /// Deletes keys.
    pub(super) async fn del(&self, keys: &[String]) -> Result<(), StateError> {
        let mut conn = self.connection().await?;
        redis::cmd("DEL")
            .arg(keys)
            .query_async::<i64>(&mut conn)
            .await
            .map(drop)
            .map_err(|e| self.failed(&e))
    }

    /// The state's error for a client's; a connection that failed is dropped (the next command
    /// makes a new one).
    pub(super) fn failed(&self, error: &RedisError) -> StateError {
        let unreachable = error.is_io_error()
            || error.is_connection_dropped()
            || error.is_connection_refusal()
            || error.is_unrecoverable_error();
        if error.is_timeout() {
            StateError::Timeout(self.timeout)
        } else if unreachable {
            self.stale.store(true, Ordering::Relaxed);
            StateError::Unreachable(error.to_string())
        } else {
            StateError::Server(error.to_string())
        }
    }
}

/// The circuit breaker: open for a moment after consecutive failures, then one probe at a time
/// until one succeeds.
#[derive(Debug, Default)]
struct Breaker(Mutex<BreakerState>);

#[derive(Debug, Default)]
struct BreakerState {
    failures: u32,
    open_until: Option<Instant>,
    probing: bool,
}

impl Breaker {
    /// Whether a command may go: closed, or cooled down and no probe under way.
    fn admit(&self) -> Result<(), StateError> {
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match state.open_until {
            None => Ok(()),
            Some(until) if Instant::now() < until || state.probing => Err(StateError::BreakerOpen),
            Some(_) => {
                state.probing = true;
                Ok(())
            }
        }
    }

    /// Records a command's outcome (a server's error answer is a success here: it answered);
    /// whether the breaker opened now.
    fn record(&self, ok: bool) -> bool {
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if ok {
            *state = BreakerState::default();
            return false;
        }
        state.failures = state.failures.saturating_add(1);
        let opens = state.probing || state.failures >= BREAKER_FAILURES;
        if opens {
            state.open_until = Some(Instant::now() + BREAKER_COOL_DOWN);
            state.probing = false;
        }
        opens
    }
}

/// Work sent in the background and not done yet, for [`Client::flush`].
#[derive(Debug, Default)]
struct Background {
    queued: Mutex<usize>,
    done: Condvar,
}

/// One piece of background work, counted until it is dropped.
struct Queued(Arc<Inner>);

impl Background {
    fn begin(&self, inner: Arc<Inner>) -> Queued {
        *self.queued.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        Queued(inner)
    }

    fn wait(&self, within: Duration) -> bool {
        let queued = self.queued.lock().unwrap_or_else(PoisonError::into_inner);
        let (queued, _) = self
            .done
            .wait_timeout_while(queued, within, |n| *n > 0)
            .unwrap_or_else(PoisonError::into_inner);
        *queued == 0
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        let background = &self.0.background;
        let mut queued = background
            .queued
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *queued = queued.saturating_sub(1);
        background.done.notify_all();
    }
}
