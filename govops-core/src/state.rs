//! The guards' state that outlives a call (contract section 8): budgets' spend and reservations,
//! agent loops per trace, behind one interface, [`GuardState`], kept in this process's memory
//! ([`MemoryState`], the default) or, with the `redis` feature, on a Redis-protocol server shared
//! by a fleet (`RedisState`).
//!
//! Every answer is a [`Pending`]: an async caller awaits it without blocking its runtime's worker
//! thread, a sync caller waits for it; neither waits longer than the state's timeout.
//!
//! ```
//! use govops_core::budget::Charge;
//! use govops_core::state::{GuardState, MemoryState};
//! use govops_core::{Budgets, Guards};
//!
//! let state = MemoryState::default();
//! let mut budgets = Budgets::default();
//! budgets.session_usd = Some("0.01".parse().unwrap());
//! let charge = Charge { session: Some("s-1"), ..Charge::default() };
//! let reserved = state.reserve(&budgets, &charge, "0.004".parse().unwrap(), 20_000, true).wait().unwrap();
//! let held = reserved.held.expect("within the budget");
//! assert_eq!(state.settle(held, Some("0.003".parse().unwrap())).wait().unwrap(), None);
//! assert!(state.tool_call(7, 1, &Guards::default()).wait().unwrap().is_none());
//! ```

mod error;
mod hold;
mod memory;
mod pending;
#[cfg(feature = "redis")]
mod redis;

use std::fmt;

use rust_decimal::Decimal;

pub use crate::budget::{Charge, Exceeded, Reservation, Scope};
pub use error::StateError;
pub use hold::{Held, Reserved, SharedHold, SharedScope};
pub use memory::MemoryState;
pub use pending::{Pending, Reply};
#[cfg(feature = "redis")]
pub use redis::{RedisOptions, RedisState};

use crate::policy::{Budgets, Guards, Trip};

/// Where the guards keep what outlives a call: one interface, kept in this process's memory or
/// shared by a fleet.
pub trait GuardState: Send + Sync + fmt::Debug {
    /// Reserves a call's worst case on every budget it is charged to, all or nothing. With
    /// `enforce`, a budget the call would pass refuses it (`held` is `None`, `exceeded` says
    /// which); without, the call is held anyway (the policy flags rather than denies) and
    /// `exceeded` still names the budget it passes. `day` is the UTC day number.
    fn reserve(
        &self,
        budgets: &Budgets,
        charge: &Charge<'_>,
        worst_case_usd: Decimal,
        day: u64,
        enforce: bool,
    ) -> Pending<Reserved>;

    /// Charges a held call's real cost (`None`: it could not be priced, nothing is spent) and
    /// releases the rest of its reservation; the budget its real cost passed, if any. Settling
    /// the same hold twice charges once.
    fn settle(&self, held: Held, cost_usd: Option<Decimal>) -> Pending<Option<Exceeded>>;

    /// Counts one tool call (`call`: its name and arguments hashed) of `trace`; the
    /// `agent_loop` trip when it passes a limit or the trace is isolated already.
    fn tool_call(&self, trace: u128, call: u64, guards: &Guards) -> Pending<Option<Trip>>;

    /// Forgets `trace`'s tool calls: its root ended.
    fn end_trace(&self, trace: u128);

    /// Forgets a request's (trace's) budget account: its root ended.
    fn end_request(&self, request: &str);

    /// Whether the state is shared with other processes.
    fn is_shared(&self) -> bool;

    /// Waits, `within` at most, until what was sent without waiting (settlements, ended traces)
    /// is applied: a process calls it before it exits.
    fn flush(&self, within: std::time::Duration) {
        let _ = within;
    }
}
