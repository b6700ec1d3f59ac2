//! Budgets on the server: a call's worst case reserved on every budget at once, all or nothing,
//! and settled to its real cost, each in one function call (no read-modify-write here).

use std::sync::Arc;

use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use super::RedisOptions;
use super::client::{Client, Inner};
use super::limbs::{Limbs, Round};
use crate::budget::{Charge, Exceeded, Scope};
use crate::policy::Budgets;
use crate::state::{Held, Pending, Reserved, SharedHold, SharedScope, StateError};

/// Keys longer than this are kept as their SHA-256: a bound on the server's memory per budget.
const MAX_KEY_BYTES: usize = 128;

/// A settled hold's marker lives this long: a settlement retried or replayed within it charges
/// once.
const SETTLED_TTL_MS: u64 = 2 * 86_400_000;

const DAY_MS: u64 = 86_400_000;

/// The budgets a call is charged to: those with a limit and a key, as [`crate::budget::Ledger`]
/// keeps them.
fn charged(budgets: &Budgets, charge: &Charge<'_>) -> Vec<(Scope, String, Decimal)> {
    [
        (Scope::Request, charge.request, budgets.request_usd),
        (Scope::Session, charge.session, budgets.session_usd),
        (Scope::User, charge.user, budgets.user_usd),
        (
            Scope::CostCenter,
            charge.cost_center,
            budgets.cost_center_usd_per_day,
        ),
    ]
    .into_iter()
    .filter_map(|(scope, key, limit)| Some((scope, key?.to_owned(), limit?)))
    .collect()
}

/// A budget's hash and its holds' sorted set.
pub(super) fn budget_keys(namespace: &str, scope: Scope, day: u64, key: &str) -> [String; 2] {
    let key = if key.len() > MAX_KEY_BYTES {
        let digest = Sha256::digest(key.as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    } else {
        key.to_owned()
    };
    let scope = scope.as_str();
    [
        format!("{namespace}:v1:b:{scope}:{day}:{key}"),
        format!("{namespace}:v1:h:{scope}:{day}:{key}"),
    ]
}

fn settled_key(namespace: &str, id: &str) -> String {
    format!("{namespace}:v1:s:{id}")
}

/// When a day's keys expire: an hour after the day ends (UTC), ms since the epoch.
fn day_end_ms(day: u64) -> String {
    day.saturating_add(1)
        .saturating_mul(DAY_MS)
        .saturating_add(3_600_000)
        .to_string()
}

/// The marker, then each budget's two keys.
fn keys(namespace: &str, id: &str, day: u64, scopes: &[SharedScope]) -> Vec<String> {
    let mut keys = vec![settled_key(namespace, id)];
    for s in scopes {
        keys.extend(budget_keys(namespace, s.scope, day, &s.key));
    }
    keys
}

/// 128 random bits: unique to the call across the fleet.
fn hold_id() -> String {
    format!("{:032x}", fastrand::u128(..))
}

fn ms(duration: std::time::Duration) -> String {
    duration.as_millis().max(1).to_string()
}

/// [`GuardState::reserve`](crate::state::GuardState::reserve) on the server. A reservation
/// whose answer did not come is released in the background (its hold id settled to nothing),
/// so that one the server ran late keeps no budget.
pub(super) fn reserve(
    client: &Client,
    options: &RedisOptions,
    request: (&Budgets, &Charge<'_>),
    worst_case_usd: Decimal,
    day: u64,
    enforce: bool,
) -> Pending<Reserved> {
    let scopes: Vec<SharedScope> = charged(request.0, request.1)
        .into_iter()
        .map(|(scope, key, limit)| {
            SharedScope::new(scope, key, limit, Decimal::ZERO, Decimal::ZERO)
        })
        .collect();
    let id = hold_id();
    if scopes.is_empty() {
        let hold = SharedHold::new(id, day, worst_case_usd, scopes);
        return Pending::ready(Ok(Reserved::new(Some(Held::Shared(hold)), None)));
    }
    let namespace = options.namespace.clone();
    let keys = keys(&namespace, &id, day, &scopes);
    let mut args = vec![id.clone()];
    args.extend(Limbs::new(worst_case_usd, Round::Up).args());
    args.extend([
        if enforce { "1" } else { "0" }.to_owned(),
        ms(options.reservation_ttl),
        day_end_ms(day),
    ]);
    for s in &scopes {
        args.extend(Limbs::new(s.limit_usd, Round::Down).args());
    }
    let hold = SharedHold::new(id, day, worst_case_usd, scopes);
    let release = hold.clone();
    let release = Box::new(move |inner: &Arc<Inner>, error: &StateError| {
        if *error != StateError::BreakerOpen {
            inner.spawn_retried(settle_work(namespace, release, None), None);
        }
    });
    client.request(
        move |inner| async move {
            let reply = inner.fcall("govops_v1_reserve", &keys, &args).await?;
            reserved(hold, &reply)
        },
        Some(release),
    )
}

/// The reservation's answer from the function's reply.
fn reserved(mut hold: SharedHold, reply: &[i64]) -> Result<Reserved, StateError> {
    let malformed = || StateError::Server(format!("unexpected reservation reply {reply:?}"));
    let (&status, &exceeded) = match reply {
        [status, exceeded, ..] => (status, exceeded),
        _ => return Err(malformed()),
    };
    if status == -1 {
        return Err(StateError::Server(
            "the hold was released before it was reserved".to_owned(),
        ));
    }
    let figures = reply.get(2..).unwrap_or_default();
    if figures.len() != 4 * hold.scopes.len() {
        return Err(malformed());
    }
    for (s, f) in hold.scopes.iter_mut().zip(figures.chunks_exact(4)) {
        s.spent_usd = Limbs::from_reply(f[0], f[1]).decimal();
        s.reserved_usd = Limbs::from_reply(f[2], f[3]).decimal();
    }
    let exceeded = usize::try_from(exceeded)
        .ok()
        .and_then(|i| hold.scopes.get(i.checked_sub(1)?))
        .map(|s| Exceeded {
            scope: s.scope,
            limit_usd: s.limit_usd,
            spent_usd: s.spent_usd,
            reserved_usd: s.reserved_usd,
            call_usd: hold.amount_usd,
        });
    let held = (status == 1).then_some(Held::Shared(hold));
    Ok(Reserved::new(held, exceeded))
}

/// [`GuardState::settle`](crate::state::GuardState::settle) on the server, retried in the
/// background while it fails (it is idempotent).
pub(super) fn settle(
    client: &Client,
    options: &RedisOptions,
    hold: SharedHold,
    cost_usd: Option<Decimal>,
) -> Pending<Option<Exceeded>> {
    if hold.scopes.is_empty() {
        return Pending::ready(Ok(None));
    }
    client.request_retried(settle_work(options.namespace.clone(), hold, cost_usd))
}

/// One try of a settlement, made again for each retry.
#[allow(clippy::type_complexity)]
fn settle_work(
    namespace: String,
    hold: SharedHold,
    cost_usd: Option<Decimal>,
) -> impl Fn(
    Arc<Inner>,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Option<Exceeded>, StateError>> + Send>,
> + Send
+ 'static {
    let keys = keys(&namespace, &hold.id, hold.day, &hold.scopes);
    let cost = cost_usd.unwrap_or(Decimal::ZERO);
    let mut args = vec![hold.id.clone()];
    args.extend(Limbs::new(cost, Round::Up).args());
    args.extend(Limbs::new(hold.amount_usd, Round::Up).args());
    args.extend([SETTLED_TTL_MS.to_string(), day_end_ms(hold.day)]);
    for s in &hold.scopes {
        args.extend(Limbs::new(s.limit_usd, Round::Down).args());
        args.push(if s.scope == Scope::Request { "1" } else { "0" }.to_owned());
    }
    let (keys, args, hold) = (Arc::new(keys), Arc::new(args), Arc::new(hold));
    move |inner| {
        let (keys, args, hold) = (keys.clone(), args.clone(), hold.clone());
        Box::pin(async move {
            let reply = inner.fcall("govops_v1_settle", &keys, &args).await?;
            passed(&hold, cost, &reply)
        })
    }
}

/// The budget a settlement's real cost passed, from the function's reply.
fn passed(hold: &SharedHold, cost: Decimal, reply: &[i64]) -> Result<Option<Exceeded>, StateError> {
    match *reply {
        [0 | 1, 0, ..] => Ok(None),
        [1, i, sn, sa, rn, ra] => {
            let s = usize::try_from(i)
                .ok()
                .and_then(|i| hold.scopes.get(i.checked_sub(1)?))
                .ok_or_else(|| {
                    StateError::Server(format!("unexpected settlement reply {reply:?}"))
                })?;
            Ok(Some(Exceeded {
                scope: s.scope,
                limit_usd: s.limit_usd,
                spent_usd: Limbs::from_reply(sn, sa).decimal(),
                reserved_usd: Limbs::from_reply(rn, ra).decimal(),
                call_usd: cost,
            }))
        }
        _ => Err(StateError::Server(format!(
            "unexpected settlement reply {reply:?}"
        ))),
    }
}

/// Forgets a request's budget (today's and yesterday's: a request may cross midnight).
pub(super) fn end_request(client: &Client, options: &RedisOptions, request: &str) {
    let today = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400);
    let mut keys = budget_keys(&options.namespace, Scope::Request, today, request).to_vec();
    if let Some(yesterday) = today.checked_sub(1) {
        keys.extend(budget_keys(
            &options.namespace,
            Scope::Request,
            yesterday,
            request,
        ));
    }
    client
        .inner()
        .fire(move |inner| async move { inner.del(&keys).await });
}
