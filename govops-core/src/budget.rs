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

/// A budget a call would pass (from [`Ledger::reserve`]), or passed (from [`Ledger::settle`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Exceeded {
    /// Which budget.
    pub scope: Scope,
    /// Its limit, USD.
    pub limit_usd: Decimal,
    /// Spent so far today, USD: before the call when it is refused, with its real cost when it
    /// passed the budget.
    pub spent_usd: Decimal,
    /// Reserved by calls in flight, USD (this call's own reservation not included).
    pub reserved_usd: Decimal,
    /// What this call would add (its worst case) when it is refused; what it cost when it passed
    /// the budget, USD.
    pub call_usd: Decimal,
}

/// A call's reservation, settled with [`Ledger::settle`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a reservation holds budget until it is settled"]
pub struct Reservation {
    /// The accounts charged, by scope: handles, so that settling finds them without hashing or
    /// comparing keys again, and a reservation holds no allocation.
    accounts: [Option<Handle>; 4],
    /// Each account's limit when the call reserved: settling says whether its real cost passed it.
    limits: [Option<Money>; 4],
    day: u64,
    amount: Money,
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
    spent: Money,
    reserved: Money,
}

/// An amount of USD as the ledger keeps it: a whole number of 10⁻¹⁸ dollars when the amount has
/// at most 18 decimals and is below 2⁹⁶ of them (every price and budget seen in practice), so that
/// reserving and settling are integer additions and comparisons; a [`Decimal`] otherwise. Both are
/// exact: the integer form is the decimal's mantissa scaled, and anything it cannot hold is
/// computed in decimal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Money {
    Fixed(i128),
    Exact(Decimal),
}

impl Default for Money {
    fn default() -> Self {
        Money::Fixed(0)
    }
}

/// The decimals of [`Money::Fixed`].
const FIXED_SCALE: u32 = 18;

/// What [`Money::Fixed`] holds: less than this in magnitude, so that it always converts back to a
/// [`Decimal`] (a 96-bit mantissa).
const FIXED_BOUND: i128 = 1 << 96;

/// Powers of ten up to 10¹⁸: the factor from a decimal's scale to [`FIXED_SCALE`].
const POW10: [i128; 19] = {
    let mut table = [1_i128; 19];
    let mut i = 1;
    while i < table.len() {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

impl Money {
    const ZERO: Money = Money::Fixed(0);

    #[inline]
    fn fixed(value: i128) -> Option<Money> {
        (value.abs() < FIXED_BOUND).then_some(Money::Fixed(value))
    }

    #[inline]
    fn new(amount: Decimal) -> Money {
        // A 96-bit mantissa times a factor of up to 60 bits may not fit: checked, then bounded.
        let factor = FIXED_SCALE
            .checked_sub(amount.scale())
            .and_then(|up| POW10.get(usize::try_from(up).ok()?));
        factor
            .and_then(|&factor| amount.mantissa().checked_mul(factor))
            .and_then(Money::fixed)
            .unwrap_or(Money::Exact(amount))
    }

    fn decimal(self) -> Decimal {
        match self {
            // Below the bound, the conversion cannot fail.
            Money::Fixed(value) => Decimal::try_from_i128_with_scale(value, FIXED_SCALE)
                .map_or(Decimal::MAX, |amount| amount.normalize()),
            Money::Exact(amount) => amount,
        }
    }

    #[inline]
    fn is_zero(self) -> bool {
        match self {
            Money::Fixed(value) => value == 0,
            Money::Exact(amount) => amount.is_zero(),
        }
    }

    #[inline]
    fn add(self, other: Money) -> Money {
        match (self, other) {
            (Money::Fixed(a), Money::Fixed(b)) => Money::fixed(a + b),
            _ => None,
        }
        .unwrap_or_else(|| self.add_exact(other))
    }

    /// Adds `other` in place (the integer form is updated where it lies, not moved).
    #[inline]
    fn add_assign(&mut self, other: Money) {
        if let (Money::Fixed(a), Money::Fixed(b)) = (&mut *self, other) {
            let sum = *a + b;
            if sum.abs() < FIXED_BOUND {
                *a = sum;
                return;
            }
        }
        *self = self.add_exact(other);
    }

    /// Takes `other` off in place, down to zero at most.
    #[inline]
    fn release(&mut self, other: Money) {
        if let (Money::Fixed(a), Money::Fixed(b)) = (&mut *self, other) {
            // Between zero and `a`: within the bound.
            *a = (*a - b).max(0);
            return;
        }
        *self = self.sub_exact(other).at_least_zero();
    }

    #[cold]
    fn add_exact(self, other: Money) -> Money {
        Money::Exact(self.decimal().saturating_add(other.decimal()))
    }

    #[cold]
    fn sub_exact(self, other: Money) -> Money {
        Money::Exact(self.decimal().saturating_sub(other.decimal()))
    }

    #[inline]
    fn at_least_zero(self) -> Money {
        match self {
            Money::Fixed(value) => Money::Fixed(value.max(0)),
            Money::Exact(amount) => Money::Exact(amount.max(Decimal::ZERO)),
        }
    }

    #[cold]
    fn cmp_exact(self, other: Money) -> std::cmp::Ordering {
        self.decimal().cmp(&other.decimal())
    }
}

impl PartialOrd for Money {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Money {
    #[inline]
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match (self, other) {
            (Money::Fixed(a), Money::Fixed(b)) => a.cmp(b),
            _ => self.cmp_exact(*other),
        }
    }
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

/// Each account a call is charged to, by scope: its key, and its handle when it exists already.
type Charged<'a> = [Option<(&'a str, Option<Handle>)>; 4];

impl Accounts {
    /// Closes yesterday's accounts when `day` is a new UTC day.
    #[inline]
    fn open_day(&mut self, day: u64) {
        if self.day != day {
            for table in &mut self.tables {
                table.clear();
            }
            self.day = day;
        }
    }

    /// The accounts `charge` is charged to, each looked up once, with their limits; with
    /// `enforce`, the first budget a call of `worst_case_usd` would pass.
    #[inline]
    fn check<'a>(
        &self,
        budgets: &Budgets,
        charge: &Charge<'a>,
        worst_case_usd: Decimal,
        enforce: bool,
    ) -> Result<(Charged<'a>, [Option<Money>; 4]), Exceeded> {
        let worst = Money::new(worst_case_usd);
        let mut charged: Charged<'a> = [None; 4];
        let mut limits = [None; 4];
        for (slot, (scope, key)) in charge.keys().into_iter().enumerate() {
            let (Some(limit_usd), Some(key)) = (scope.limit(budgets), key) else {
                continue;
            };
            let (handle, account) = match self.tables[scope.index()].find(key) {
                Some((handle, account)) => (Some(handle), account),
                None => (None, Account::default()),
            };
            let (committed, limit) = (account.spent.add(account.reserved), Money::new(limit_usd));
            let passes = if worst.is_zero() {
                committed >= limit
            } else {
                committed.add(worst) > limit
            };
            if passes && enforce {
                return Err(Exceeded {
                    scope,
                    limit_usd,
                    spent_usd: account.spent.decimal(),
                    reserved_usd: account.reserved.decimal(),
                    call_usd: worst_case_usd,
                });
            }
            charged[slot] = Some((key, handle));
            limits[slot] = Some(limit);
        }
        Ok((charged, limits))
    }

    /// Requests whose root never ends here (a remote or plain parent) must not pile up: past
    /// [`MAX_REQUESTS`], the request accounts are dropped (and the handle about to be used).
    #[inline]
    fn bound_requests(&mut self, charged: &mut Charged<'_>) {
        let requests = &mut self.tables[Scope::Request.index()];
        if requests.by_key.len() >= MAX_REQUESTS {
            requests.clear();
            if let Some((_, handle)) = &mut charged[Scope::Request.index()] {
                *handle = None;
            }
        }
    }

    /// Reserves `worst` on every account charged, opening those that do not exist yet.
    #[inline]
    fn hold(&mut self, charged: Charged<'_>, worst: Money) -> [Option<Handle>; 4] {
        let mut accounts = [None; 4];
        for ((table, charged), held) in self.tables.iter_mut().zip(charged).zip(&mut accounts) {
            let Some((key, handle)) = charged else {
                continue;
            };
            *held = match handle.and_then(|h| table.get_mut(h).map(|a| (h, a))) {
                Some((handle, account)) => {
                    account.reserved.add_assign(worst);
                    Some(handle)
                }
                None => {
                    self.last_id += 1;
                    let account = Account {
                        spent: Money::ZERO,
                        reserved: worst,
                    };
                    table.insert(key, account, self.last_id)
                }
            };
        }
        accounts
    }
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
                limits: [None; 4],
                day,
                amount: Money::ZERO,
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
        state.open_day(day);
        let worst = Money::new(worst_case_usd);
        let (mut charged, limits) = state.check(budgets, charge, worst_case_usd, enforce)?;
        state.bound_requests(&mut charged);
        Ok(Reservation {
            accounts: state.hold(charged, worst),
            limits,
            day,
            amount: worst,
        })
    }

    /// Turns a reservation into the call's real cost, charged in full whatever was reserved
    /// (`None` when it could not be priced: the reservation is released and nothing is spent).
    ///
    /// Returns the first budget (in [`Scope`] order) that the call's real cost passed: the call
    /// cost more than it reserved, and what is spent and still reserved on the budget is now
    /// above its limit. Reservations keep spent plus reserved within every limit, so only such a
    /// call can pass one; once it has, the next call's reservation is refused. A call within its
    /// reservation is never blamed for another's overrun.
    pub fn settle(&self, reservation: Reservation, cost_usd: Option<Decimal>) -> Option<Exceeded> {
        let mut guard = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        let state = &mut *guard;
        if state.day != reservation.day {
            // The day closed while the call ran: its cost belongs to a day no longer kept.
            return None;
        }
        let cost = cost_usd.map_or(Money::ZERO, Money::new);
        let overran = cost > reservation.amount;
        let mut passed = None;
        let scopes = [
            Scope::Request,
            Scope::Session,
            Scope::User,
            Scope::CostCenter,
        ];
        let accounts = reservation.accounts.into_iter().zip(reservation.limits);
        for ((table, (handle, limit)), scope) in state.tables.iter_mut().zip(accounts).zip(scopes) {
            // Within a day only a request's account goes (its request ended): it keeps none.
            let Some(account) = handle.and_then(|h| table.get_mut(h)) else {
                continue;
            };
            account.reserved.release(reservation.amount);
            account.spent.add_assign(cost);
            if let Some(limit) = limit.filter(|_| overran && passed.is_none())
                && account.spent.add(account.reserved) > limit
            {
                passed = Some(Exceeded {
                    scope,
                    limit_usd: limit.decimal(),
                    spent_usd: account.spent.decimal(),
                    reserved_usd: account.reserved.decimal(),
                    call_usd: cost.decimal(),
                });
            }
        }
        passed
    }

    /// Spent today on one budget, USD.
    #[must_use]
    pub fn spent(&self, scope: Scope, key: &str) -> Decimal {
        let guard = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        guard.tables[scope.index()]
            .find(key)
            .map_or(Decimal::ZERO, |(_, a)| a.spent.decimal())
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
    fn a_call_that_costs_more_than_it_reserved_is_charged_in_full_and_names_the_budget_it_passed() {
        let ledger = Ledger::default();
        let budgets = session_budget("0.05");
        let small = ledger
            .reserve(&budgets, &charge("s"), usd("0.001"), 1)
            .unwrap();
        let other = ledger
            .reserve(&budgets, &charge("s"), usd("0.02"), 1)
            .unwrap();
        // 0.04 spent and 0.02 still promised to the other call: past the limit, by this call.
        let passed = ledger.settle(small, Some(usd("0.04"))).unwrap();
        assert_eq!(passed.scope, Scope::Session);
        assert_eq!(passed.limit_usd, usd("0.05"));
        assert_eq!(passed.spent_usd, usd("0.04"));
        assert_eq!(passed.reserved_usd, usd("0.02"));
        assert_eq!(passed.call_usd, usd("0.04"));
        // Within its reservation, the other call is not blamed; both are charged in full.
        assert_eq!(ledger.settle(other, Some(usd("0.015"))), None);
        assert_eq!(ledger.spent(Scope::Session, "s"), usd("0.055"));
        assert!(
            ledger
                .reserve(&budgets, &charge("s"), usd("0.001"), 1)
                .is_err()
        );
        assert!(
            ledger
                .reserve(&budgets, &charge("s"), Decimal::ZERO, 1)
                .is_err()
        );
        // An overrun that leaves the budget within its limit passes nothing.
        let ledger = Ledger::default();
        let r = ledger
            .reserve(&budgets, &charge("s"), usd("0.001"), 1)
            .unwrap();
        assert_eq!(ledger.settle(r, Some(usd("0.05"))), None);
        // A cost past what the integer form holds is kept, and passes the budget.
        let r = ledger
            .reserve(&budgets, &charge("t"), Decimal::ZERO, 1)
            .unwrap();
        let passed = ledger.settle(r, Some(Decimal::MAX)).unwrap();
        assert_eq!(passed.spent_usd, Decimal::MAX);
        let r = ledger.reserve_anyway(&budgets, &charge("t"), usd("1"), 1);
        ledger.settle(r, Some(Decimal::MAX));
        assert_eq!(ledger.spent(Scope::Session, "t"), Decimal::MAX);
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
    fn amounts_the_integer_form_cannot_hold_are_kept_exact_in_decimal() {
        // 18 decimals or fewer and small: integers; more decimals, or huge: decimals.
        assert!(matches!(
            Money::new(usd("0.000000000000000001")),
            Money::Fixed(1)
        ));
        assert!(matches!(
            Money::new(usd("0.0000000000000000001")),
            Money::Exact(_)
        ));
        assert!(matches!(Money::new(usd("100000000000")), Money::Exact(_)));
        let ledger = Ledger::default();
        let budgets = session_budget("0.00000000000000000003");
        let tiny = usd("0.00000000000000000001");
        let r = ledger.reserve(&budgets, &charge("s"), tiny, 1).unwrap();
        ledger.settle(r, Some(tiny + tiny));
        assert_eq!(
            ledger.spent(Scope::Session, "s"),
            usd("0.00000000000000000002")
        );
        let refused = ledger
            .reserve(&budgets, &charge("s"), tiny + tiny, 1)
            .unwrap_err();
        assert_eq!(refused.spent_usd, usd("0.00000000000000000002"));
        assert!(ledger.reserve(&budgets, &charge("s"), tiny, 1).is_ok());
        // A huge budget, and a call priced with many decimals, on one account.
        let ledger = Ledger::default();
        let budgets = session_budget("1000000000000000");
        let r = ledger
            .reserve(&budgets, &charge("s"), usd("999999999999999.5"), 1)
            .unwrap();
        ledger.settle(r, Some(usd("0.1234567890123456789012")));
        let r = ledger
            .reserve(&budgets, &charge("s"), usd("0.5"), 1)
            .unwrap();
        ledger.settle(r, Some(usd("0.25")));
        assert_eq!(
            ledger.spent(Scope::Session, "s"),
            usd("0.3734567890123456789012")
        );
    }

    #[test]
    fn the_integer_form_computes_as_decimals_do() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..100_000 {
            let mut amount = || {
                let scale = u32::try_from(next() % 24).unwrap();
                let mantissa = i64::try_from(next() % 10_000_000_000_000).unwrap();
                Decimal::new(mantissa, scale)
            };
            let (a, b) = (amount(), amount());
            let (ma, mb) = (Money::new(a), Money::new(b));
            assert_eq!(ma.decimal(), a);
            assert_eq!(ma.add(mb).decimal(), a + b, "{a} + {b}");
            assert_eq!(ma.cmp(&mb), a.cmp(&b), "{a} <> {b}");
            let (mut sum, mut released) = (ma, ma);
            sum.add_assign(mb);
            released.release(mb);
            assert_eq!(sum.decimal(), a + b, "{a} + {b}");
            assert_eq!(released.decimal(), (a - b).max(Decimal::ZERO), "{a} - {b}");
            assert_eq!(ma.is_zero(), a.is_zero());
        }
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
