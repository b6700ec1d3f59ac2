//! What a call holds on its budgets between its reservation and its settlement.

use rust_decimal::Decimal;

use crate::budget::{Exceeded, Reservation, Scope};

/// A call's hold on its budgets, from [`GuardState::reserve`](super::GuardState::reserve) to
/// [`GuardState::settle`](super::GuardState::settle).
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a hold keeps budget until it is settled"]
#[non_exhaustive]
pub enum Held {
    /// Held in this process's memory.
    Local(Reservation),
    /// Held on the shared state's server.
    Shared(SharedHold),
}

/// What [`GuardState::reserve`](super::GuardState::reserve) answers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reserved {
    /// The hold, unless the call was refused.
    pub held: Option<Held>,
    /// The first budget (in [`Scope`] order) the call's worst case passes.
    pub exceeded: Option<Exceeded>,
}

impl Reserved {
    /// A reservation's answer.
    pub fn new(held: Option<Held>, exceeded: Option<Exceeded>) -> Self {
        Reserved { held, exceeded }
    }
}

/// A hold on the shared state's server: its id (what makes its settlement idempotent) and what
/// each budget it is charged to looked like when it was reserved.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SharedHold {
    /// Unique to the call: its settlement is applied once, however often it is sent.
    pub id: String,
    /// The UTC day number the hold is charged to.
    pub day: u64,
    /// What was reserved on every budget, USD.
    pub amount_usd: Decimal,
    /// The budgets held, in [`Scope`] order.
    pub scopes: Vec<SharedScope>,
}

/// One budget of a [`SharedHold`], as it was when the call reserved.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SharedScope {
    /// Which budget.
    pub scope: Scope,
    /// Its key (the session id, the user id, ...).
    pub key: String,
    /// Its limit, USD.
    pub limit_usd: Decimal,
    /// Spent on it before the call, USD.
    pub spent_usd: Decimal,
    /// Reserved on it by other calls in flight, USD.
    pub reserved_usd: Decimal,
}

impl SharedHold {
    /// A hold.
    pub fn new(id: String, day: u64, amount_usd: Decimal, scopes: Vec<SharedScope>) -> Self {
        SharedHold {
            id,
            day,
            amount_usd,
            scopes,
        }
    }

    /// The first budget the call's real cost passed, as far as its reservation saw: only a call
    /// that cost more than it reserved can pass one (the settlement charges it in full, and the
    /// next reservation is refused on the server whatever this says).
    #[must_use]
    pub fn passed(&self, cost_usd: Decimal) -> Option<Exceeded> {
        if cost_usd <= self.amount_usd {
            return None;
        }
        self.scopes.iter().find_map(|s| {
            let spent = s.spent_usd.saturating_add(cost_usd);
            (spent.saturating_add(s.reserved_usd) > s.limit_usd).then_some(Exceeded {
                scope: s.scope,
                limit_usd: s.limit_usd,
                spent_usd: spent,
                reserved_usd: s.reserved_usd,
                call_usd: cost_usd,
            })
        })
    }
}

impl SharedScope {
    /// One budget as the reservation saw it.
    pub fn new(
        scope: Scope,
        key: String,
        limit_usd: Decimal,
        spent_usd: Decimal,
        reserved_usd: Decimal,
    ) -> Self {
        SharedScope {
            scope,
            key,
            limit_usd,
            spent_usd,
            reserved_usd,
        }
    }
}
