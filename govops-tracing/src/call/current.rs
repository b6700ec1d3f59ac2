//! The current call: the governed calls entered on each thread, innermost last, each with its
//! OpenTelemetry context attached while it is entered. [`Call::current`](super::Call::current),
//! routers, the log processors and the macro's denial all ask it which call they are in.

use std::cell::RefCell;
use std::sync::Arc;

use opentelemetry::ContextGuard;
use tracing::Id;

use super::cell::CallCell;

/// One entered call.
struct Entered {
    id: Id,
    cell: Arc<CallCell>,
    _attached: ContextGuard,
}

thread_local! {
    static ENTERED: RefCell<Vec<Entered>> = const { RefCell::new(Vec::new()) };
}

/// Makes `cell` (the call of span `id`) the innermost call on this thread until [`exit`].
pub(crate) fn enter(id: &Id, cell: Arc<CallCell>) {
    let attached = cell.cx.clone().attach();
    let entered = Entered {
        id: id.clone(),
        cell,
        _attached: attached,
    };
    let _ = ENTERED.try_with(|stack| stack.borrow_mut().push(entered));
}

/// Leaves the call of span `id` on this thread.
pub(crate) fn exit(id: &Id) {
    let left = ENTERED.try_with(|stack| {
        let mut stack = stack.borrow_mut();
        let at = stack.iter().rposition(|e| e.id == *id)?;
        Some(stack.remove(at))
    });
    // Detach outside the borrow: dropping the guard may run other code.
    drop(left);
}

/// The call entered by hand, by a stream polled outside the call's span: see [`enter_call`].
pub(crate) struct CallEntered {
    id: Id,
}

/// Makes `cell` the current call on this thread until the guard drops, as entering its span
/// would: its context attached, and [`current_call`] answering it.
pub(crate) fn enter_call(cell: &Arc<CallCell>) -> CallEntered {
    enter(&cell.id, Arc::clone(cell));
    CallEntered {
        id: cell.id.clone(),
    }
}

impl Drop for CallEntered {
    fn drop(&mut self) {
        exit(&self.id);
    }
}

/// The innermost governed call entered on this thread.
pub(crate) fn current_call() -> Option<Arc<CallCell>> {
    ENTERED
        .try_with(|entered| entered.borrow().last().map(|e| e.cell.clone()))
        .ok()
        .flatten()
}
