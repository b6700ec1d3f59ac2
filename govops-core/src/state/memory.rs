//! The guard state in this process's memory: the default, and what a process falls back on while
//! the shared state does not answer.

use rust_decimal::Decimal;

use super::{GuardState, Held, Pending, Reserved};
use crate::budget::{Charge, Exceeded, Ledger};
use crate::loops::Loops;
use crate::policy::{Budgets, Guards, Trip};

/// The guard state in this process's memory: budgets' accounts and agent loops, answered at once.
#[derive(Debug, Default)]
pub struct MemoryState {
    /// The budgets' accounts.
    pub ledger: Ledger,
    /// The agent-loop guard's traces.
    pub loops: Loops,
}

impl MemoryState {
    /// [`GuardState::reserve`], answered now.
    pub fn reserve_now(
        &self,
        budgets: &Budgets,
        charge: &Charge<'_>,
        worst_case_usd: Decimal,
        day: u64,
        enforce: bool,
    ) -> Reserved {
        match self.ledger.reserve(budgets, charge, worst_case_usd, day) {
            Ok(reservation) => Reserved::new(Some(Held::Local(reservation)), None),
            Err(exceeded) if enforce => Reserved::new(None, Some(exceeded)),
            Err(exceeded) => {
                let anyway = self
                    .ledger
                    .reserve_anyway(budgets, charge, worst_case_usd, day);
                Reserved::new(Some(Held::Local(anyway)), Some(exceeded))
            }
        }
    }

    /// [`GuardState::settle`], answered now; a shared hold is not this state's to settle.
    pub fn settle_now(&self, held: Held, cost_usd: Option<Decimal>) -> Option<Exceeded> {
        match held {
            Held::Local(reservation) => self.ledger.settle(reservation, cost_usd),
            Held::Shared(_) => None,
        }
    }
}

impl GuardState for MemoryState {
    fn reserve(
        &self,
        budgets: &Budgets,
        charge: &Charge<'_>,
        worst_case_usd: Decimal,
        day: u64,
        enforce: bool,
    ) -> Pending<Reserved> {
        Pending::ready(Ok(self.reserve_now(
            budgets,
            charge,
            worst_case_usd,
            day,
            enforce,
        )))
    }

    fn settle(&self, held: Held, cost_usd: Option<Decimal>) -> Pending<Option<Exceeded>> {
        Pending::ready(Ok(self.settle_now(held, cost_usd)))
    }

    fn tool_call(&self, trace: u128, call: u64, guards: &Guards) -> Pending<Option<Trip>> {
        Pending::ready(Ok(self.loops.tool_call(trace, call, guards)))
    }

    fn end_trace(&self, trace: u128) {
        self.loops.release(trace);
    }

    fn end_request(&self, request: &str) {
        self.ledger.end_request(request);
    }

    fn is_shared(&self) -> bool {
        false
    }
}
