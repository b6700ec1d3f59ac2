//! An answer of the guard state: ready at once (this process's memory) or on its way from a
//! server, awaited by async callers and waited for by sync ones, within a bound either way.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::error::StateError;

/// An answer of a [`GuardState`](super::GuardState): `.await` it in async code (it needs no
/// particular runtime, and never blocks the thread), or [`wait`](Pending::wait) for it in sync
/// code.
#[must_use = "an answer does nothing unless awaited or waited for"]
#[derive(Debug)]
pub struct Pending<T> {
    inner: Inner<T>,
}

#[derive(Debug)]
enum Inner<T> {
    Ready(Option<Result<T, StateError>>),
    Waiting {
        rx: oneshot::Receiver<Result<T, StateError>>,
        /// The longest a sync caller waits: the server side answers within its timeout, this is
        /// the backstop should its thread be stuck.
        limit: Duration,
    },
}

/// Where an implementation sends the answer of a [`Pending`] made with [`Pending::channel`].
#[derive(Debug)]
pub struct Reply<T>(oneshot::Sender<Result<T, StateError>>);

impl<T> Reply<T> {
    /// Sends the answer; a caller that stopped waiting no longer hears it.
    pub fn send(self, answer: Result<T, StateError>) {
        let _ = self.0.send(answer);
    }

    /// Whether the caller stopped waiting (dropped its [`Pending`]).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}

impl<T> Pending<T> {
    /// An answer known now.
    pub fn ready(answer: Result<T, StateError>) -> Self {
        Pending {
            inner: Inner::Ready(Some(answer)),
        }
    }

    /// An answer to come through the returned [`Reply`]; a sync caller waits `limit` at most.
    pub fn channel(limit: Duration) -> (Reply<T>, Self) {
        let (tx, rx) = oneshot::channel();
        (
            Reply(tx),
            Pending {
                inner: Inner::Waiting { rx, limit },
            },
        )
    }

    /// Whether the answer is known without waiting.
    #[must_use]
    pub fn is_ready(&self) -> bool {
        matches!(self.inner, Inner::Ready(_))
    }

    /// Blocks this thread until the answer comes, for sync callers.
    ///
    /// # Errors
    ///
    /// Why the state did not answer.
    pub fn wait(mut self) -> Result<T, StateError> {
        let limit = match &mut self.inner {
            Inner::Ready(answer) => return answer.take().unwrap_or(Err(gone())),
            Inner::Waiting { limit, .. } => *limit,
        };
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let deadline = Instant::now() + limit;
        loop {
            if let Poll::Ready(answer) = Pin::new(&mut self).poll(&mut cx) {
                return answer;
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(StateError::Timeout(limit));
            }
            std::thread::park_timeout(deadline - now);
        }
    }
}

// Nothing in a `Pending` is ever pinned: the answer is moved out, the receiver is `Unpin`.
impl<T> Unpin for Pending<T> {}

fn gone() -> StateError {
    StateError::Unreachable("the state's client stopped".to_owned())
}

impl<T> Future for Pending<T> {
    type Output = Result<T, StateError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.inner {
            Inner::Ready(answer) => Poll::Ready(answer.take().unwrap_or(Err(gone()))),
            Inner::Waiting { rx, .. } => Pin::new(rx)
                .poll(cx)
                .map(|r| r.unwrap_or_else(|_| Err(gone()))),
        }
    }
}

/// Wakes a thread parked in [`Pending::wait`].
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sync_caller_waits_for_an_answer_from_another_thread_and_no_longer_than_its_limit() {
        let (reply, pending) = Pending::<u8>::channel(Duration::from_secs(5));
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            reply.send(Ok(7));
        });
        assert_eq!(pending.wait(), Ok(7));
        sender.join().unwrap();
        let (_reply, pending) = Pending::<u8>::channel(Duration::from_millis(30));
        assert_eq!(
            pending.wait(),
            Err(StateError::Timeout(Duration::from_millis(30)))
        );
        let (reply, pending) = Pending::<u8>::channel(Duration::from_secs(5));
        drop(reply);
        assert!(matches!(pending.wait(), Err(StateError::Unreachable(_))));
    }

    #[tokio::test]
    async fn an_async_caller_awaits_the_answer() {
        let (reply, pending) = Pending::<u8>::channel(Duration::from_secs(5));
        tokio::spawn(async move { reply.send(Ok(3)) });
        assert_eq!(pending.await, Ok(3));
        assert_eq!(Pending::ready(Ok(1_u8)).await, Ok(1));
    }
}
