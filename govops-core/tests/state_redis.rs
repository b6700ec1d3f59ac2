//! The guard state shared on a real `redis-server` (contract section 8): budgets that several
//! clients cannot overspend together, settlements that charge once, reservations given back
//! after their time to live, agent loops counted across clients, two releases' functions side by
//! side, and a server that hangs or dies costing each call at most its timeout.

#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

#[path = "support/redis_server.rs"]
mod redis_server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use govops_core::budget::Charge;
use govops_core::policy::{Action, Budgets, Guards};
use govops_core::state::{GuardState, Held, MemoryState, RedisOptions, RedisState, StateError};
use govops_core::violation::Violation;
use redis_server::RedisServer;
use rust_decimal::Decimal;

/// What a sync caller may wait past the timeout on this loaded machine.
const MARGIN: Duration = Duration::from_secs(1);

fn usd(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn session_budget(limit: &str) -> Budgets {
    let mut budgets = Budgets::default();
    budgets.session_usd = Some(usd(limit));
    budgets
}

fn session(key: &str) -> Charge<'_> {
    Charge {
        session: Some(key),
        ..Charge::default()
    }
}

/// Today's UTC day number: a day's keys expire an hour after it ends.
fn today() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 86_400
}

/// A namespace of its own per test: tests share no keys.
fn options(test: &str) -> RedisOptions {
    RedisOptions::default()
        .namespace(format!("govops:{{{test}}}"))
        .timeout(Duration::from_secs(2))
}

fn state(server: &RedisServer, options: RedisOptions) -> RedisState {
    RedisState::new(&server.url(), options).unwrap()
}

fn raw(server: &RedisServer) -> redis::Connection {
    redis::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap()
}

/// Spent on a session's budget today, read from the server.
fn spent(server: &RedisServer, namespace: &str, day: u64, key: &str) -> Decimal {
    let (n, a): (Option<u64>, Option<u64>) = redis::cmd("HMGET")
        .arg(format!("{namespace}:v1:b:session:{day}:{key}"))
        .arg("sn")
        .arg("sa")
        .query(&mut raw(server))
        .unwrap();
    let atto = i128::from(n.unwrap_or(0)) * 1_000_000_000 + i128::from(a.unwrap_or(0));
    Decimal::from_i128_with_scale(atto, 18).normalize()
}

/// The budget cases of the ledger's own tests, as a state answers them.
fn budget_story(state: &dyn GuardState, day: u64) -> Vec<String> {
    let mut seen = Vec::new();
    let budgets = session_budget("0.01");
    let reserve = |key, worst: &str, day| {
        state
            .reserve(&budgets, &session(key), usd(worst), day, true)
            .wait()
            .unwrap()
    };
    for (worst, cost) in [("0.006", "0.004"), ("0.006", "0.006")] {
        let held = reserve("s", worst, day).held.expect("within the budget");
        seen.push(format!("{:?}", state.settle(held, Some(usd(cost))).wait()));
    }
    let refused = reserve("s", "0.000001", day);
    assert!(refused.held.is_none());
    let e = refused.exceeded.expect("past the budget");
    seen.push(format!(
        "{:?} {} {}",
        e.scope,
        e.spent_usd.normalize(),
        e.limit_usd
    ));
    seen.push(format!("zero: {:?}", reserve("s", "0", day).held.is_some()));
    seen.push(format!("t: {:?}", reserve("t", "0.01", day).held.is_some()));
    seen.push(format!(
        "next day: {:?}",
        reserve("s", "0.01", day + 1).held.is_some()
    ));
    let budgets = session_budget("0.05");
    let small = state.reserve(&budgets, &session("o"), usd("0.001"), day, true);
    let small = small.wait().unwrap().held.unwrap();
    let other = state.reserve(&budgets, &session("o"), usd("0.02"), day, true);
    let other = other.wait().unwrap().held.unwrap();
    let passed = state
        .settle(small, Some(usd("0.04")))
        .wait()
        .unwrap()
        .unwrap();
    seen.push(format!(
        "passed {:?} {} {} {} {}",
        passed.scope,
        passed.limit_usd,
        passed.spent_usd.normalize(),
        passed.reserved_usd.normalize(),
        passed.call_usd
    ));
    seen.push(format!(
        "{:?}",
        state.settle(other, Some(usd("0.015"))).wait()
    ));
    for worst in ["0.001", "0"] {
        let r = state.reserve(&budgets, &session("o"), usd(worst), day, true);
        seen.push(format!("after: {:?}", r.wait().unwrap().held.is_some()));
    }
    // Not enforced: held anyway, and the budget it passes named.
    let r = state
        .reserve(&budgets, &session("o"), usd("1"), day, false)
        .wait()
        .unwrap();
    seen.push(format!(
        "anyway: {} {:?}",
        r.held.is_some(),
        r.exceeded.map(|e| e.scope)
    ));
    seen
}

#[test]
fn budgets_on_the_server_answer_as_the_ledger_in_memory_does() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let shared = state(&server, options("story"));
    let day = today();
    let expected = budget_story(&MemoryState::default(), day);
    assert_eq!(budget_story(&shared, day), expected);
    assert_eq!(expected[2], "Session 0.01 0.01");
    assert!(shared.is_shared());
    assert_eq!(spent(&server, "govops:{story}", day, "o"), usd("0.055"));
    // The day's keys expire an hour after the day: today's within 25 hours.
    let today = today();
    let r = shared.reserve(&session_budget("1"), &session("d"), usd("0.1"), today, true);
    let _held = r.wait().unwrap().held.unwrap();
    let mut conn = raw(&server);
    for kind in ["b", "h"] {
        let key = format!("govops:{{story}}:v1:{kind}:session:{today}:d");
        let ttl: i64 = redis::cmd("PTTL").arg(&key).query(&mut conn).unwrap();
        assert!(ttl > 0 && ttl <= 25 * 3_600_000, "{key}: {ttl} ms");
    }
}

#[test]
fn fleet_clients_on_threads_never_overspend_a_shared_budget() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let clients = [
        state(&server, options("fleet")),
        state(&server, options("fleet")),
    ];
    let clients = Arc::new(clients);
    let budgets = Arc::new(session_budget("0.5"));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (clients, budgets) = (clients.clone(), budgets.clone());
            std::thread::spawn(move || {
                let state = &clients[t % 2];
                let mut ran = 0;
                for _ in 0..20 {
                    let r = state.reserve(&budgets, &session("f"), usd("0.01"), today(), true);
                    if let Some(held) = r.wait().unwrap().held {
                        state.settle(held, Some(usd("0.008"))).wait().unwrap();
                        ran += 1;
                    }
                }
                ran
            })
        })
        .collect();
    let ran: i64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let spent = spent(&server, "govops:{fleet}", today(), "f");
    assert!(spent <= usd("0.5"), "{spent}");
    assert_eq!(spent, usd("0.008") * Decimal::from(ran));
    // As many ran as fit: with nothing in flight, one more call does not.
    let r = clients[0].reserve(&budgets, &session("f"), usd("0.01"), today(), true);
    assert!(r.wait().unwrap().held.is_none(), "{ran} ran, {spent} spent");
}

#[test]
fn a_settlement_sent_twice_charges_once_and_an_unsettled_hold_is_given_back() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let ttl = Duration::from_secs(1);
    let state = state(&server, options("once").reservation_ttl(ttl));
    let budgets = session_budget("0.01");
    let held = state.reserve(&budgets, &session("s"), usd("0.005"), today(), true);
    let held = held.wait().unwrap().held.unwrap();
    assert!(matches!(held, Held::Shared(_)));
    for _ in 0..2 {
        state
            .settle(held.clone(), Some(usd("0.003")))
            .wait()
            .unwrap();
    }
    assert_eq!(spent(&server, "govops:{once}", today(), "s"), usd("0.003"));
    // A hold never settled (its process died) keeps the budget until its time to live.
    let lost = state.reserve(&budgets, &session("s"), usd("0.007"), today(), true);
    assert!(lost.wait().unwrap().held.is_some());
    let refused = state.reserve(&budgets, &session("s"), usd("0.001"), today(), true);
    assert!(refused.wait().unwrap().held.is_none());
    std::thread::sleep(ttl + Duration::from_millis(300));
    let again = state.reserve(&budgets, &session("s"), usd("0.007"), today(), true);
    assert!(
        again.wait().unwrap().held.is_some(),
        "the lost hold was released"
    );
    assert!(state.flush(Duration::from_secs(5)));
}

#[test]
fn two_releases_functions_run_side_by_side_on_the_same_keys() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let state = state(&server, options("v"));
    let held = state.reserve(
        &session_budget("0.01"),
        &session("s"),
        usd("0.006"),
        today(),
        true,
    );
    assert!(held.wait().unwrap().held.is_some());
    let v2 = include_str!("../src/state/redis/functions.lua").replace("govops_v1", "govops_v2");
    let mut conn = raw(&server);
    let _: String = redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg(v2)
        .query(&mut conn)
        .unwrap();
    let reserve_v2 = |worst_nano: u64| -> Vec<i64> {
        redis::cmd("FCALL")
            .arg("govops_v2_reserve")
            .arg(3)
            .arg("govops:{v}:v1:s:v2-hold")
            .arg(format!("govops:{{v}}:v1:b:session:{}:s", today()))
            .arg(format!("govops:{{v}}:v1:h:session:{}:s", today()))
            .arg(&["v2-hold".to_owned(), worst_nano.to_string(), "0".to_owned()][..])
            .arg(&["1", "600000", "999999999999999", "10000000", "0"][..])
            .query(&mut raw(&server))
            .unwrap()
    };
    // v2 sees v1's hold of 0.006 (6,000,000 nano-USD): 0.006 more is refused, 0.004 held.
    assert_eq!(reserve_v2(6_000_000), vec![0, 1, 0, 0, 6_000_000, 0]);
    assert_eq!(reserve_v2(4_000_000)[0], 1);
    let full = state.reserve(
        &session_budget("0.01"),
        &session("s"),
        usd("0.000001"),
        today(),
        true,
    );
    assert!(full.wait().unwrap().held.is_none(), "v1 sees v2's hold");
}

fn loop_guards() -> Guards {
    let mut guards = Guards::default();
    guards.agent_loop = Action::Deny;
    guards
}

#[test]
fn a_trace_is_deflected_at_its_11th_tool_call_whichever_client_makes_it() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let clients = [
        state(&server, options("loops")),
        state(&server, options("loops")),
    ];
    let (guards, trace) = (loop_guards(), 0xfeed_u128);
    let memory = MemoryState::default();
    for call in 0..10_u64 {
        let trip = clients[(call % 2) as usize].tool_call(trace, call, &guards);
        assert_eq!(trip.wait().unwrap(), None, "call {}", call + 1);
        assert!(
            memory
                .tool_call(trace, call, &guards)
                .wait()
                .unwrap()
                .is_none()
        );
    }
    let trip = clients[0].tool_call(trace, 10, &guards).wait().unwrap();
    let expected = memory.tool_call(trace, 10, &guards).wait().unwrap();
    assert_eq!(trip, expected, "decided as in memory");
    assert_eq!(trip.unwrap().violation, Violation::AgentLoop);
    let isolated = clients[1].tool_call(trace, 11, &guards).wait().unwrap();
    assert_eq!(
        isolated,
        memory.tool_call(trace, 11, &guards).wait().unwrap()
    );
    assert!(isolated.is_some(), "the trace stays isolated");
    // The same call repeated trips too; an ended trace starts over.
    for n in 1..=3 {
        let trip = clients[n % 2].tool_call(7, 42, &guards).wait().unwrap();
        assert_eq!(trip.is_some(), n == 3, "repeat {n}");
    }
    clients[0].end_trace(trace);
    let deadline = Instant::now() + Duration::from_secs(5);
    while clients[1]
        .tool_call(trace, 0, &guards)
        .wait()
        .unwrap()
        .is_some()
    {
        assert!(Instant::now() < deadline, "the ended trace is forgotten");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the state answers again (its breaker closed), a few seconds at most.
fn answers_again(state: &RedisState) {
    let deadline = Instant::now() + Duration::from_secs(8);
    while let Err(e) = state.ping().wait() {
        assert!(
            Instant::now() < deadline,
            "the state never answered again: {e}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_hung_server_costs_a_call_its_timeout_then_nothing_and_is_used_again_when_continued() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let timeout = Duration::from_millis(200);
    let state = state(&server, options("hang").timeout(timeout));
    answers_again(&state);
    let budgets = session_budget("1");
    server.pause();
    // Timeouts (the reservations' releases, sent in the background, time out too) until the
    // breaker opens.
    let mut timeouts = 0;
    loop {
        let start = Instant::now();
        let answer = state
            .reserve(&budgets, &session("h"), usd("0.1"), today(), true)
            .wait();
        assert!(start.elapsed() < timeout + MARGIN, "{:?}", start.elapsed());
        match answer {
            Err(StateError::Timeout(t)) if t == timeout => timeouts += 1,
            Err(StateError::BreakerOpen) if timeouts > 0 => break,
            other => panic!("{other:?} after {timeouts} timeouts"),
        }
        assert!(timeouts <= 3, "the breaker opens after 3 failures");
    }
    let start = Instant::now();
    let answer = state
        .reserve(&budgets, &session("h"), usd("0.1"), today(), true)
        .wait();
    assert_eq!(answer, Err(StateError::BreakerOpen));
    assert!(start.elapsed() < MARGIN, "at once: {:?}", start.elapsed());
    server.resume();
    answers_again(&state);
    let held = state
        .reserve(&budgets, &session("h"), usd("0.1"), today(), true)
        .wait();
    assert!(held.unwrap().held.is_some());
    // The reservations that timed out were released: only the last one holds budget.
    assert!(state.flush(Duration::from_secs(10)));
    let r = state
        .reserve(&budgets, &session("h"), usd("0.9"), today(), true)
        .wait();
    assert!(r.unwrap().held.is_some(), "timed-out holds were given back");
}

#[test]
fn a_killed_server_is_unreachable_and_used_again_once_restarted() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let timeout = Duration::from_millis(500);
    let state = state(&server, options("kill").timeout(timeout));
    answers_again(&state);
    server.kill();
    let start = Instant::now();
    let answer = state.tool_call(1, 1, &loop_guards()).wait();
    assert!(
        matches!(
            answer,
            Err(StateError::Unreachable(_) | StateError::BreakerOpen)
        ),
        "{answer:?}"
    );
    assert!(start.elapsed() < timeout + MARGIN);
    // Restarted empty: the functions are loaded again on the first call.
    server.restart();
    answers_again(&state);
    let trip = state.tool_call(1, 1, &loop_guards()).wait();
    assert_eq!(trip, Ok(None));
}

#[tokio::test]
async fn an_async_caller_awaits_the_shared_state() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let state = state(&server, options("async"));
    let budgets = session_budget("0.01");
    let held = state
        .reserve(&budgets, &session("a"), usd("0.004"), today(), true)
        .await;
    let held = held.unwrap().held.unwrap();
    assert_eq!(state.settle(held, Some(usd("0.002"))).await, Ok(None));
    assert!(state.ping().await.is_ok());
}

#[test]
fn a_server_behind_tls_and_a_password_is_reached_and_the_password_shown_nowhere() {
    let Some(probe) = RedisServer::start() else {
        return;
    };
    drop(probe);
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipped: the openssl CLI cannot make a certificate");
        return;
    }
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let tls_args = [
        "--tls-port",
        "--tls-cert-file",
        cert.as_str(),
        "--tls-key-file",
        key.as_str(),
        "--tls-ca-cert-file",
        cert.as_str(),
        "--tls-auth-clients",
        "no",
        "--requirepass",
        "s3cret",
    ];
    let Some(server) = RedisServer::start_with(&tls_args) else {
        return;
    };
    let url = format!("rediss://:s3cret@127.0.0.1:{}/#insecure", server.port());
    let state = RedisState::new(&url, options("tls")).unwrap();
    answers_again(&state);
    let r = state.reserve(
        &session_budget("1"),
        &session("t"),
        usd("0.1"),
        today(),
        true,
    );
    assert!(r.wait().unwrap().held.is_some());
    assert!(!format!("{state:?}").contains("s3cret"), "{state:?}");
    let wrong = format!("rediss://:pw-k9x7@127.0.0.1:{}/#insecure", server.port());
    let wrong = RedisState::new(&wrong, options("tls")).unwrap();
    let refused = wrong.ping().wait().unwrap_err();
    assert!(!refused.to_string().contains("pw-k9x7"), "{refused}");
}

#[test]
fn a_malformed_url_is_refused_without_io() {
    let error = RedisState::new("http://:pw@host", RedisOptions::default()).unwrap_err();
    assert!(matches!(error, StateError::Unreachable(_)));
    assert!(!error.to_string().contains("pw"));
    let _later = RedisState::new("redis://127.0.0.1:1", RedisOptions::default()).unwrap();
}

#[test]
fn a_settlement_sent_while_the_server_hangs_lands_once_when_it_answers_again() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let errors = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = errors.clone();
    let options = options("late")
        .timeout(Duration::from_millis(200))
        .on_error(move |e| seen.lock().unwrap().push(e.clone()));
    let state = state(&server, options);
    let budgets = session_budget("1");
    let held = state.reserve(&budgets, &session("l"), usd("0.1"), today(), true);
    let held = held.wait().unwrap().held.unwrap();
    server.pause();
    let answer = state.settle(held, Some(usd("0.07"))).wait();
    assert_eq!(answer, Err(StateError::Timeout(Duration::from_millis(200))));
    assert!(
        !state.flush(Duration::from_millis(100)),
        "retried in the background"
    );
    server.resume();
    assert!(state.flush(Duration::from_secs(15)), "the retries end");
    // Sent several times (the first try ran late, the retries after it): charged once.
    assert_eq!(spent(&server, "govops:{late}", today(), "l"), usd("0.07"));
    assert!(errors.lock().unwrap().is_empty(), "{errors:?}");
}

#[test]
fn an_ended_request_keeps_no_budget_on_the_server() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let state = state(&server, options("req"));
    let mut budgets = Budgets::default();
    budgets.request_usd = Some(usd("1"));
    let charge = Charge {
        request: Some("trace-1"),
        ..Charge::default()
    };
    let held = state.reserve(&budgets, &charge, usd("0.1"), today(), true);
    let held = held.wait().unwrap().held.unwrap();
    state.settle(held, Some(usd("0.05"))).wait().unwrap();
    let key = format!("govops:{{req}}:v1:b:request:{}:trace-1", today());
    let exists = |key: &str| -> bool {
        redis::cmd("EXISTS")
            .arg(key)
            .query(&mut raw(&server))
            .unwrap()
    };
    assert!(exists(&key));
    state.end_request("trace-1");
    let deadline = Instant::now() + Duration::from_secs(5);
    while exists(&key) {
        assert!(Instant::now() < deadline, "the request's budget is deleted");
        std::thread::sleep(Duration::from_millis(20));
    }
}
