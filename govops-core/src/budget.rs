//! USD budgets per request, session, user and cost center, per UTC day, with reservations: a call
//! reserves its worst case before it runs and settles to its real cost after, so concurrent calls
//! cannot overspend together.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use rust_decimal::Decimal;

use crate::policy::Budgets;

/// What a budget is kept for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// One request (one trace).
    Request,
    /// One session.
    Session,
    /// One user.
    User,
    /// The workload's cost center.
    CostCenter,
}

impl Scope {
    const fn index(self) -> usize {
        self as usize
    }

    /// The scope's name in figures and messages.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Request => "request",
            Scope::Session => "session",
            Scope::User => "user",
            Scope::CostCenter => "cost_center",
        }
    }

    fn limit(self, budgets: &Budgets) -> Option<Decimal> {
        match self {
            Scope::Request => budgets.request_usd,
            Scope::Session => budgets.session_usd,
            Scope::User => budgets.user_usd,
            Scope::CostCenter => budgets.cost_center_usd_per_day,
        }
    }
}

/// Who a call is charged to: a key per scope, `None` where the call has none (no session set).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Charge<'a> {
    /// The request (trace) key.
    pub request: Option<&'a str>,
    /// The session id.
    pub session: Option<&'a str>,
    /// The user id.
    pub user: Option<&'a str>,
    /// The cost center.
    pub cost_center: Option<&'a str>,
}

impl<'a> Charge<'a> {
    fn keys(&self) -> [(Scope, Option<&'a str>); 4] {
        [
            (Scope::Request, self.request),
            (Scope::Session, self.session),
            (Scope::User, self.user),
            (Scope::CostCenter, self.cost_center),
        ]
    }
}

/// A budget a call would pass.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Exceeded {
    /// Which budget.
    pub scope: Scope,
    /// Its limit, USD.
    pub limit_usd: Decimal,
    /// Spent so far today, USD.
    pub spent_usd: Decimal,
    /// Reserved by calls in flight, USD.
    pub reserved_usd: Decimal,
    /// What this call would add (its worst case), USD.
    pub call_usd: Decimal,
}

/// A call's reservation, settled with [`Ledger::settle`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a reservation holds budget until it is settled"]
pub struct Reservation {
    /// The accounts charged, by scope: handles, so that settling finds them without hashing or
    /// comparing keys again, and a reservation holds no allocation.
    accounts: [Option<Handle>; 4],
    day: u64,
    amount: Decimal,
}

/// Where an account is kept: its slot, and the id it had when the handle was taken (a slot freed
/// and used again for another account has another id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Handle {
    slot: u32,
    id: u64,
}

#[derive(Debug, Default, Clone, Copy)]
struct Account {
    spent: Decimal,
    reserved: Decimal,
}

/// Past this many open request accounts, they are forgotten: a bound, for requests whose end
/// govops cannot see.
const MAX_REQUESTS: usize = 100_000;

/// An account in its slot; `id` 0 is a free slot.
#[derive(Debug, Default)]
struct Slot {
    id: u64,
    account: Account,
}

/// The accounts of one scope: a key's slot, found by `&str` without allocating; the slots; the
/// slots free for reuse (only request accounts are removed before the day ends).
#[derive(Debug, Default)]
struct Table {
    by_key: HashMap<Box<str>, u32, foldhash::fast::RandomState>,
    slots: Vec<Slot>,
    free: Vec<u32>,
}

impl Table {
    fn clear(&mut self) {
        self.by_key.clear();
        self.slots.clear();
        self.free.clear();
    }

    /// The account a handle was taken for, unless it has been removed since.
    fn get_mut(&mut self, handle: Handle) -> Option<&mut Account> {
        let slot = self.slots.get_mut(usize::try_from(handle.slot).ok()?)?;
        (slot.id == handle.id).then_some(&mut slot.account)
    }

    fn find(&self, key: &str) -> Option<(Handle, Account)> {
        let &slot = self.by_key.get(key)?;
        let found = self.slots.get(usize::try_from(slot).ok()?)?;
        Some((Handle { slot, id: found.id }, found.account))
    }

    /// A new account for `key`, with its handle; `None` past `u32::MAX` accounts in one scope.
    fn insert(&mut self, key: &str, account: Account, id: u64) -> Option<Handle> {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                let slot = u32::try_from(self.slots.len()).ok()?;
                self.slots.push(Slot::default());
                slot
            }
        };
        let entry = self.slots.get_mut(usize::try_from(slot).ok()?)?;
        *entry = Slot { id, account };
        self.by_key.insert(Box::from(key), slot);
        Some(Handle { slot, id })
    }

    fn remove(&mut self, key: &str) {
        if let Some(slot) = self.by_key.remove(key) {
            if let Some(entry) = usize::try_from(slot)
                .ok()
                .and_then(|i| self.slots.get_mut(i))
            {
                *entry = Slot::default();
            }
            self.free.push(slot);
        }
    }
}

/// The accounts of one UTC day.
#[derive(Debug, Default)]
struct Accounts {
    day: u64,
    /// One table per scope.
    tables: [Table; 4],
    /// The last account id given (ids are never reused).
    last_id: u64,
}

/// The budgets' running accounts for the current UTC day.
#[derive(Debug, Default)]
pub struct Ledger {
    accounts: Mutex<Accounts>,
}

impl Ledger {
    /// Reserves `worst_case_usd` on every budget the call is charged to, or says which budget it
    /// would pass. A call with no worst case known reserves nothing but is still refused once a
    /// budget is spent. `day` is the UTC day number (days since the Unix epoch).
    ///
    /// # Errors
    ///
    /// The first budget the call would pass; nothing is reserved then.
    pub fn reserve(
        &self,
        budgets: &Budgets,
        charge: &Charge<'_>,
        worst_case_usd: Decimal,
        day: u64,
    ) -> Result<Reservation, Exceeded> {
        self.reserve_with(budgets, charge, worst_case_usd, day, true)
    }

    /// Reserves `worst_case_usd` on every budget the call is charged to whatever the limits: for a
    /// call that runs although it passes a budget (the policy flags rather than denies), so that
    /// what it spends is still counted.
    pub fn reserve_anyway(
        &self,
        budgets: &Budgets,
        charge: &Charge<'_>,
        worst_case_usd: Decimal,
        day: u64,
    ) -> Reservation {
        // Not enforcing, it never refuses; an empty reservation would settle to nothing.
        self.reserve_with(budgets, charge, worst_case_usd, day, false)
            .unwrap_or(Reservation {
                accounts: [None; 4],
                day,
                amount: Decimal::ZERO,
            })
    }

    /// The one reservation path: with `enforce`, a budget the call would pass refuses it and
    /// nothing is reserved; without, every budget is charged.
    fn reserve_with(
        &self,
        budgets: &Budgets,
        charge: &Charge<'_>,
        worst_case_usd: Decimal,
        day: u64,
        enforce: bool,
    ) -> Result<Reservation, Exceeded> {
        let mut guard = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        let state = &mut *guard;
        if state.day != day {
            // A new UTC day: yesterday's accounts are closed.
            for table in &mut state.tables {
                table.clear();
            }
            state.day = day;
        }
        // Each account charged, looked up once: its handle when it exists already.
        let mut charged: [Option<(&str, Option<Handle>)>; 4] = [None; 4];
        for (slot, (scope, key)) in charge.keys().into_iter().enumerate() {
            let (Some(limit), Some(key)) = (scope.limit(budgets), key) else {
                continue;
            };
            let (handle, account) = match state.tables[scope.index()].find(key) {
                Some((handle, account)) => (Some(handle), account),
                None => (None, Account::default()),
            };
            let committed = account.spent + account.reserved;
            let passes = if worst_case_usd.is_zero() {
                committed >= limit
            } else {
                committed + worst_case_usd > limit
            };
            if passes && enforce {
                return Err(Exceeded {
                    scope,
                    limit_usd: limit,
                    spent_usd: account.spent,
                    reserved_usd: account.reserved,
                    call_usd: worst_case_usd,
                });
            }
            charged[slot] = Some((key, handle));
        }
        // Requests whose root never ends here (a remote or plain parent) must not pile up.
        let requests = &mut state.tables[Scope::Request.index()];
        if requests.by_key.len() >= MAX_REQUESTS {
            requests.clear();
            if let Some((_, handle)) = &mut charged[Scope::Request.index()] {
                *handle = None;
            }
        }
        let mut accounts = [None; 4];
        for ((table, charged), held) in state.tables.iter_mut().zip(charged).zip(&mut accounts) {
            let Some((key, handle)) = charged else {
                continue;
            };
            *held = match handle.and_then(|h| table.get_mut(h).map(|a| (h, a))) {
                Some((handle, account)) => {
                    account.reserved += worst_case_usd;
                    Some(handle)
                }
                None => {
                    state.last_id += 1;
                    let account = Account {
                        spent: Decimal::ZERO,
                        reserved: worst_case_usd,
                    };
                    table.insert(key, account, state.last_id)
                }
            };
        }
        Ok(Reservation {
            accounts,
            day,
            amount: worst_case_usd,
        })
    }

    /// Turns a reservation into the call's real cost (`None` when it could not be priced: the
    /// reservation is released and nothing is spent).
    pub fn settle(&self, reservation: Reservation, cost_usd: Option<Decimal>) {
        let mut guard = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        let state = &mut *guard;
        if state.day != reservation.day {
            // The day closed while the call ran: its cost belongs to a day no longer kept.
            return;
        }
        for (table, handle) in state.tables.iter_mut().zip(reservation.accounts) {
            // Within a day only a request's account goes (its request ended): it keeps none.
            let Some(account) = handle.and_then(|h| table.get_mut(h)) else {
                continue;
            };
            account.reserved = (account.reserved - reservation.amount).max(Decimal::ZERO);
            account.spent += cost_usd.unwrap_or_default();
        }
    }

    /// Spent today on one budget, USD.
    #[must_use]
    pub fn spent(&self, scope: Scope, key: &str) -> Decimal {
        let guard = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        guard.tables[scope.index()]
            .find(key)
            .map_or(Decimal::ZERO, |(_, a)| a.spent)
    }

    /// Forgets one request's account: the request ended.
    pub fn end_request(&self, request: &str) {
        let mut guard = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        guard.tables[Scope::Request.index()].remove(request);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn usd(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn session_budget(limit: &str) -> Budgets {
        Budgets {
            session_usd: Some(usd(limit)),
            ..Budgets::default()
        }
    }

    fn charge(session: &str) -> Charge<'_> {
        Charge {
            session: Some(session),
            ..Charge::default()
        }
    }

    #[test]
    fn a_call_that_would_pass_the_budget_is_refused_at_and_around_the_limit() {
        let ledger = Ledger::default();
        let budgets = session_budget("0.01");
        let r = ledger
            .reserve(&budgets, &charge("s"), usd("0.006"), 1)
            .unwrap();
        ledger.settle(r, Some(usd("0.004")));
        // 0.004 spent: 0.006 more reaches the limit exactly, which does not pass it.
        let r = ledger
            .reserve(&budgets, &charge("s"), usd("0.006"), 1)
            .unwrap();
        ledger.settle(r, Some(usd("0.006")));
        assert_eq!(ledger.spent(Scope::Session, "s"), usd("0.010"));
        let refused = ledger
            .reserve(&budgets, &charge("s"), usd("0.000001"), 1)
            .unwrap_err();
        assert_eq!(refused.scope, Scope::Session);
        assert_eq!(refused.spent_usd, usd("0.010"));
        // Without a worst case, a spent budget still refuses.
        assert!(
            ledger
                .reserve(&budgets, &charge("s"), Decimal::ZERO, 1)
                .is_err()
        );
        // Another session, and the next day, start afresh.
        assert!(
            ledger
                .reserve(&budgets, &charge("t"), usd("0.01"), 1)
                .is_ok()
        );
        assert!(
            ledger
                .reserve(&budgets, &charge("s"), usd("0.01"), 2)
                .is_ok()
        );
    }

    #[test]
    fn an_ended_request_keeps_no_account() {
        let ledger = Ledger::default();
        let budgets = Budgets {
            request_usd: Some(usd("1")),
            ..Budgets::default()
        };
        let charge = Charge {
            request: Some("trace-1"),
            ..Charge::default()
        };
        let r = ledger.reserve(&budgets, &charge, usd("0.1"), 1).unwrap();
        ledger.settle(r, Some(usd("0.05")));
        assert_eq!(ledger.spent(Scope::Request, "trace-1"), usd("0.05"));
        let r = ledger.reserve(&budgets, &charge, usd("0.1"), 1).unwrap();
        ledger.end_request("trace-1");
        ledger.settle(r, Some(usd("0.05")));
        assert_eq!(ledger.spent(Scope::Request, "trace-1"), Decimal::ZERO);
    }

    #[test]
    fn a_reservation_of_an_ended_request_never_touches_the_account_that_took_its_place() {
        let ledger = Ledger::default();
        let budgets = Budgets {
            request_usd: Some(usd("1")),
            ..Budgets::default()
        };
        let request = |key| Charge {
            request: Some(key),
            ..Charge::default()
        };
        let first = ledger
            .reserve(&budgets, &request("trace-1"), usd("0.1"), 1)
            .unwrap();
        ledger.end_request("trace-1");
        // trace-2 takes the slot trace-1 had.
        let second = ledger
            .reserve(&budgets, &request("trace-2"), usd("0.2"), 1)
            .unwrap();
        ledger.settle(first, Some(usd("0.05")));
        assert_eq!(ledger.spent(Scope::Request, "trace-2"), Decimal::ZERO);
        assert_eq!(ledger.spent(Scope::Request, "trace-1"), Decimal::ZERO);
        ledger.settle(second, Some(usd("0.15")));
        assert_eq!(ledger.spent(Scope::Request, "trace-2"), usd("0.15"));
        // Its reservation was released: 0.85 more still fits, 0.86 does not.
        assert!(
            ledger
                .reserve(&budgets, &request("trace-2"), usd("0.85"), 1)
                .is_ok()
        );
        assert!(
            ledger
                .reserve(&budgets, &request("trace-2"), usd("0.01"), 1)
                .is_err()
        );
    }

    #[test]
    fn a_reservation_across_midnight_settles_to_nothing() {
        let ledger = Ledger::default();
        let budgets = session_budget("1");
        let r = ledger
            .reserve(&budgets, &charge("s"), usd("0.5"), 1)
            .unwrap();
        let next = ledger
            .reserve(&budgets, &charge("s"), usd("0.5"), 2)
            .unwrap();
        ledger.settle(r, Some(usd("0.4")));
        assert_eq!(ledger.spent(Scope::Session, "s"), Decimal::ZERO);
        ledger.settle(next, Some(usd("0.3")));
        assert_eq!(ledger.spent(Scope::Session, "s"), usd("0.3"));
    }

    #[test]
    fn concurrent_calls_cannot_overspend_together() {
        let ledger = Arc::new(Ledger::default());
        let budgets = Arc::new(session_budget("0.10"));
        let threads: Vec<_> = (0..64)
            .map(|_| {
                let (ledger, budgets) = (ledger.clone(), budgets.clone());
                std::thread::spawn(move || {
                    // Worst case 0.01, real cost 0.008.
                    match ledger.reserve(&budgets, &charge("s"), usd("0.01"), 1) {
                        Ok(r) => {
                            ledger.settle(r, Some(usd("0.008")));
                            true
                        }
                        Err(_) => false,
                    }
                })
            })
            .collect();
        let ran = threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|ran| *ran)
            .count();
        let spent = ledger.spent(Scope::Session, "s");
        assert!(spent <= usd("0.10"), "{spent}");
        assert!(
            ran >= 10,
            "at least the calls whose worst case fits ran: {ran}"
        );
        assert_eq!(spent, usd("0.008") * Decimal::from(ran));
    }
}
