//! USD budgets per request, session, user and cost center, per UTC day, with reservations: a call
//! reserves its worst case before it runs and settles to its real cost after, so concurrent calls
//! cannot overspend together.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

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
    /// The accounts charged, at most one per scope: no allocation per call.
    keys: [Option<(Scope, Arc<str>)>; 4],
    day: u64,
    amount: Decimal,
}

#[derive(Debug, Default, Clone, Copy)]
struct Account {
    spent: Decimal,
    reserved: Decimal,
}

/// Past this many open request accounts, they are forgotten: a bound, for requests whose end
/// govops cannot see.
const MAX_REQUESTS: usize = 100_000;

/// The accounts of one scope, by key: looked up by `&str`, and a reservation holds the key it
/// found, so that a known key costs no allocation.
type ByKey = HashMap<Arc<str>, Account, foldhash::fast::RandomState>;

/// The accounts of one UTC day, one map per scope.
type Accounts = [ByKey; 4];

/// The budgets' running accounts for the current UTC day.
#[derive(Debug, Default)]
pub struct Ledger {
    accounts: Mutex<(u64, Accounts)>,
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
                keys: Default::default(),
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
        let (today, accounts) = &mut *guard;
        if *today != day {
            // A new UTC day: yesterday's accounts are closed.
            for by_key in accounts.iter_mut() {
                by_key.clear();
            }
            *today = day;
        }
        let mut keys: [Option<(Scope, Arc<str>)>; 4] = Default::default();
        for (slot, (scope, key)) in charge.keys().into_iter().enumerate() {
            let (Some(limit), Some(key)) = (scope.limit(budgets), key) else {
                continue;
            };
            let (shared_key, account) = match accounts[scope.index()].get_key_value(key) {
                Some((k, a)) => (k.clone(), *a),
                None => (Arc::from(key), Account::default()),
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
            keys[slot] = Some((scope, shared_key));
        }
        // Requests whose root never ends here (a remote or plain parent) must not pile up.
        if accounts[Scope::Request.index()].len() >= MAX_REQUESTS {
            accounts[Scope::Request.index()].clear();
        }
        for (scope, key) in keys.iter().flatten() {
            let by_key = &mut accounts[scope.index()];
            match by_key.get_mut(&**key) {
                Some(account) => account.reserved += worst_case_usd,
                None => {
                    by_key.insert(
                        key.clone(),
                        Account {
                            spent: Decimal::ZERO,
                            reserved: worst_case_usd,
                        },
                    );
                }
            }
        }
        Ok(Reservation {
            keys,
            day,
            amount: worst_case_usd,
        })
    }

    /// Turns a reservation into the call's real cost (`None` when it could not be priced: the
    /// reservation is released and nothing is spent).
    pub fn settle(&self, reservation: Reservation, cost_usd: Option<Decimal>) {
        let mut guard = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        let (today, accounts) = &mut *guard;
        if *today != reservation.day {
            // The day closed while the call ran: its cost belongs to a day no longer kept.
            return;
        }
        for (scope, key) in reservation.keys.into_iter().flatten() {
            let by_key = &mut accounts[scope.index()];
            let account = match by_key.get_mut(&*key) {
                Some(account) => account,
                // A request that has ended keeps no account.
                None if scope == Scope::Request => continue,
                None => by_key.entry(key).or_default(),
            };
            account.reserved = (account.reserved - reservation.amount).max(Decimal::ZERO);
            account.spent += cost_usd.unwrap_or_default();
        }
    }

    /// Spent today on one budget, USD.
    #[must_use]
    pub fn spent(&self, scope: Scope, key: &str) -> Decimal {
        let guard = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        guard.1[scope.index()]
            .get(key)
            .map_or(Decimal::ZERO, |a| a.spent)
    }

    /// Forgets one request's account: the request ended.
    pub fn end_request(&self, request: &str) {
        let mut guard = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        guard.1[Scope::Request.index()].remove(request);
    }
}

#[cfg(test)]
mod tests {
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
