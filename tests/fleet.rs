//! A fleet sharing its guard state on a real `redis-server` (contract section 8): replicas of
//! `examples/fleet.rs` run as real processes never overspend a shared budget and deflect an agent
//! run's 11th tool call whichever of them makes it; a replica killed while it holds reservations
//! gives them back after their time to live; a stopped server costs each call at most its timeout,
//! and the shared state is used again once it answers.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use govops::Decimal;
use govops::prelude::*;
use govops::state::{Charge, GuardState, RedisOptions, RedisState};
use support::example;
use support::redis_server::RedisServer;

/// A replica's environment: the five required variables, the policy, the shared state, and a
/// telemetry file of its own.
fn replica_env(dir: &Path, url: &str, policy: &str, name: &str) -> Vec<(String, String)> {
    let path = dir.join("policy.toml");
    std::fs::write(&path, policy).unwrap();
    vec![
        ("GOVOPS_APP_NAME".into(), "fleet".into()),
        ("GOVOPS_ENVIRONMENT".into(), "test".into()),
        ("GOVOPS_OWNER".into(), "team-ai".into()),
        ("GOVOPS_COST_CENTER".into(), "CC-1234".into()),
        ("GOVOPS_DATA_CLASSIFICATION".into(), "internal".into()),
        ("GOVOPS_POLICY".into(), path.display().to_string()),
        ("GOVOPS_STATE_URL".into(), url.into()),
        ("GOVOPS_STATE_TIMEOUT_MS".into(), "1000".into()),
        (
            "GOVOPS_TELEMETRY_FILE".into(),
            dir.join(format!("{name}.jsonl")).display().to_string(),
        ),
    ]
}

/// Starts a replica with `args`; its stdout and stderr go to files named after it.
fn spawn(dir: &Path, env: &[(String, String)], name: &str, args: &[&str]) -> Child {
    let mut command = Command::new(example("fleet"));
    command
        .args(args)
        .env_clear()
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join(format!("{name}.out"))).unwrap())
        .stderr(std::fs::File::create(dir.join(format!("{name}.err"))).unwrap());
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    command.envs(env.iter().map(|(k, v)| (k, v)));
    command.spawn().unwrap()
}

/// Waits for a replica (a minute at most) and reads its JSON line.
fn finish(dir: &Path, mut child: Child, name: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("replica {name} did not finish within a minute");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = std::fs::read_to_string(dir.join(format!("{name}.err"))).unwrap();
    assert!(status.success(), "replica {name}: {status}: {stderr}");
    let stdout = std::fs::read_to_string(dir.join(format!("{name}.out"))).unwrap();
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{name}: {e}: {stdout:?} {stderr}"))
}

fn decimal(value: &serde_json::Value) -> Decimal {
    value.as_str().unwrap().parse().unwrap()
}

#[test]
fn four_replicas_never_overspend_one_shared_session_budget() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let policy = "[environments.test.budgets]\nsession_usd = \"0.05\"\n";
    let replicas: Vec<_> = (0..4)
        .map(|i| {
            let name = format!("replica-{i}");
            let env = replica_env(dir.path(), &server.url(), policy, &name);
            let args = [
                "--calls",
                "16",
                "--concurrency",
                "16",
                "--session",
                "s-fleet",
            ];
            (name.clone(), spawn(dir.path(), &env, &name, &args))
        })
        .collect();
    let lines: Vec<_> = replicas
        .into_iter()
        .map(|(name, child)| finish(dir.path(), child, &name))
        .collect();
    let spent: Decimal = lines.iter().map(|l| decimal(&l["spent_usd"])).sum();
    let ran: u64 = lines.iter().map(|l| l["ran"].as_u64().unwrap()).sum();
    let denied: u64 = lines.iter().map(|l| l["denied"].as_u64().unwrap()).sum();
    assert!(lines.iter().all(|l| l["state"] == "shared"), "{lines:?}");
    assert!(lines.iter().all(|l| l["calls"] == 16), "{lines:?}");
    assert!(
        spent <= Decimal::new(5, 2),
        "overspent: {spent} ({lines:?})"
    );
    // A call costs $0.0045 (1000 input and 200 output tokens of gpt-4o) and reserves as much:
    // eleven fit in $0.05, a twelfth does not.
    assert_eq!(ran, 11, "{lines:?}");
    assert_eq!(spent, Decimal::new(495, 4), "{lines:?}");
    assert_eq!(ran + denied, 64, "{lines:?}");
}

#[test]
fn an_agent_run_crossing_two_replicas_is_deflected_at_its_eleventh_tool_call() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let env = replica_env(dir.path(), &server.url(), "", "tools");
    let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let run = |name: &str, calls: &str| {
        let child = spawn(
            dir.path(),
            &env,
            name,
            &["--trace", trace, "--tool-calls", calls],
        );
        finish(dir.path(), child, name)
    };
    let planner = run("planner", "6");
    assert_eq!(
        (planner["ran"].as_u64(), planner["denied"].as_u64()),
        (Some(6), Some(0))
    );
    // The other service makes the 7th to 12th: the 11th and 12th are deflected there.
    let tools = run("tools", "6");
    assert_eq!(
        (tools["ran"].as_u64(), tools["denied"].as_u64()),
        (Some(4), Some(2)),
        "{tools}"
    );
    assert_eq!(tools["state"], "shared");
    // And the run stays isolated in the first service too.
    let again = run("planner-again", "1");
    assert_eq!(
        (again["ran"].as_u64(), again["denied"].as_u64()),
        (Some(0), Some(1))
    );
    // Another run is not.
    let fresh = {
        let child = spawn(
            dir.path(),
            &env,
            "fresh",
            &[
                "--trace",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                "--tool-calls",
                "3",
            ],
        );
        finish(dir.path(), child, "fresh")
    };
    assert_eq!(fresh["ran"].as_u64(), Some(3));
}

/// Reserves a session's whole budget on the shared state, as a call would, and gives it back at
/// once: whether the budget is whole.
fn budget_is_whole(state: &RedisState, session: &str, limit: Decimal, day: u64) -> bool {
    let budgets = budgets(limit);
    let charge = Charge {
        session: Some(session),
        ..Charge::default()
    };
    match state.reserve(&budgets, &charge, limit, day, true).wait() {
        Ok(reserved) => match reserved.held {
            Some(held) => {
                let _ = state.settle(held, None).wait();
                true
            }
            None => false,
        },
        Err(_) => false,
    }
}

fn budgets(session_usd: Decimal) -> govops::policy::Budgets {
    let mut budgets = govops::policy::Budgets::default();
    budgets.session_usd = Some(session_usd);
    budgets
}

fn today() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 86_400
}

#[test]
fn a_replica_killed_while_it_holds_reservations_gives_them_back_after_their_time_to_live() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let policy = "[environments.test.budgets]\nsession_usd = \"0.05\"\n\n[state]\nreservation_ttl_seconds = 2\n";
    let env = replica_env(dir.path(), &server.url(), policy, "held");
    let state = RedisState::new(
        &server.url(),
        RedisOptions::default()
            .namespace("govops:{test}")
            .timeout(Duration::from_secs(1)),
    )
    .unwrap();
    let limit = Decimal::new(5, 2);
    assert!(budget_is_whole(&state, "s-killed", limit, today()));
    // Eleven calls whose provider never answers: their worst cases hold the budget.
    let mut child = spawn(
        dir.path(),
        &env,
        "held",
        &[
            "--calls",
            "11",
            "--concurrency",
            "11",
            "--session",
            "s-killed",
            "--latency-ms",
            "600000",
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while budget_is_whole(&state, "s-killed", limit, today()) {
        assert!(Instant::now() < deadline, "the replica never reserved");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL: nothing settles
    child.wait().unwrap();
    assert!(
        !budget_is_whole(&state, "s-killed", limit, today()),
        "still held"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !budget_is_whole(&state, "s-killed", limit, today()) {
        assert!(
            Instant::now() < deadline,
            "the reservations were not given back after their time to live"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

#[governed(tool, name = "step")]
async fn step(n: u32) -> Result<u32, Violation> {
    CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    Ok(n)
}

/// Runs one governed tool call in its own trace and says how long it took and what it carried.
fn timed_call(
    capture: &govops::testing::Capture,
    runtime: &tokio::runtime::Runtime,
    n: u32,
) -> (Duration, Vec<String>) {
    let started = Instant::now();
    let result = runtime.block_on(capture.run_async(step(n)));
    let took = started.elapsed();
    assert_eq!(result, Ok(n));
    let span = capture
        .spans_of(Operation::ExecuteTool, "step")
        .into_iter()
        .last()
        .map(|s| s.violations().into_iter().map(str::to_owned).collect())
        .unwrap_or_default();
    (took, span)
}

#[test]
fn a_stopped_or_killed_server_costs_each_call_at_most_its_timeout_and_is_used_again_when_back() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let timeout = Duration::from_millis(200);
    let state = Arc::new(
        RedisState::new(
            &server.url(),
            RedisOptions::default()
                .namespace("govops:{test}")
                .timeout(timeout),
        )
        .unwrap(),
    );
    let capture = govops::testing::Capture::builder()
        .state(state.clone())
        .build()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let bound = timeout + Duration::from_secs(1);
    let (_, violations) = timed_call(&capture, &runtime, 0);
    assert!(violations.is_empty(), "{violations:?}");

    // A hang: the server stops answering.
    server.pause();
    let mut n = 1;
    let mut unavailable = 0;
    for _ in 0..5 {
        let (took, violations) = timed_call(&capture, &runtime, n);
        n += 1;
        assert!(took < bound, "a call waited {took:?} for a stopped server");
        unavailable += usize::from(violations.iter().any(|v| v == "state_unavailable"));
    }
    assert_eq!(
        unavailable, 5,
        "every call while it hangs carries state_unavailable"
    );
    server.resume();
    wait_shared_again(&capture, &runtime, &mut n, bound);

    // A crash: the server is killed and restarted on the same port, empty.
    server.kill();
    let (took, violations) = timed_call(&capture, &runtime, n);
    n += 1;
    assert!(took < bound, "a call waited {took:?} for a dead server");
    assert!(
        violations.iter().any(|v| v == "state_unavailable"),
        "{violations:?}"
    );
    server.restart();
    wait_shared_again(&capture, &runtime, &mut n, bound);
}

/// Calls until one is admitted by the shared state again, 20 s at most; none waits past `bound`.
fn wait_shared_again(
    capture: &govops::testing::Capture,
    runtime: &tokio::runtime::Runtime,
    n: &mut u32,
    bound: Duration,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (took, violations) = timed_call(capture, runtime, *n);
        *n += 1;
        assert!(took < bound, "a call waited {took:?}");
        if violations.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the shared state was not used again"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
