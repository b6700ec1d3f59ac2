//! The failover router under fault injection, with simulated providers on tokio's paused clock:
//! error bursts, latency spikes, hangs, a flapping primary, slow recovery, everything down.
//! Nothing here reads the wall clock: time is tokio's, paused and advanced by the runtime.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use govops_core::failover::{
    ErrorKind, FailoverConfig, FailoverEvent, FailureKind, Provider, ProviderError, ProviderInfo,
    Reason, Request, Router, SwitchKind,
};
use tokio::time::{Instant, sleep};

/// What a simulated provider does on its next call.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Act {
    /// Answers after this many ms.
    Ok(u64),
    /// Fails at once, retryably (a 503).
    Fail,
    /// Never answers.
    Hang,
    /// Rejects the request (a 400).
    BadRequest,
}

#[derive(Clone)]
struct Sim {
    act: Arc<Mutex<Act>>,
    calls: Arc<AtomicU32>,
}

impl Sim {
    fn new(act: Act) -> Self {
        Self {
            act: Arc::new(Mutex::new(act)),
            calls: Arc::new(AtomicU32::new(0)),
        }
    }

    fn set(&self, act: Act) {
        *self.act.lock().unwrap() = act;
    }

    fn act(&self) -> Act {
        *self.act.lock().unwrap()
    }

    fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }

    async fn run(&self, name: &'static str) -> Result<&'static str, ProviderError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match self.act() {
            Act::Ok(ms) => {
                sleep(Duration::from_millis(ms)).await;
                Ok(name)
            }
            Act::Fail => Err(ProviderError::unavailable("503 service unavailable")),
            Act::Hang => {
                sleep(Duration::from_secs(3600)).await;
                Ok(name)
            }
            Act::BadRequest => Err(ProviderError::bad_request("400 malformed")),
        }
    }

    fn provider(&self, name: &'static str) -> Provider<u32, &'static str> {
        let sim = self.clone();
        let probe = self.clone();
        Provider::new(name, "gpt-4o", 128_000, move |_: u32| {
            let sim = sim.clone();
            async move { sim.run(name).await }
        })
        .config_version("v1")
        .probe(move || {
            let sim = probe.clone();
            async move { sim.run("probe").await.map(|_| ()) }
        })
    }
}

fn config() -> FailoverConfig {
    FailoverConfig {
        sla: Duration::from_millis(100),
        cool_down: Duration::from_secs(1),
        attempt_timeout: Duration::from_millis(500),
        deadline: Duration::from_secs(5),
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(100),
        trial_interval: Duration::from_millis(200),
        failback_after: Duration::from_secs(2),
        stable_after: Duration::from_secs(30),
        ..FailoverConfig::default()
    }
}

type Events = Arc<Mutex<Vec<FailoverEvent>>>;

fn router(
    primary: &Sim,
    secondary: &Sim,
    config: FailoverConfig,
) -> (Router<u32, &'static str>, Events) {
    let events: Events = Arc::default();
    let sink = Arc::clone(&events);
    let router = Router::new(primary.provider("primary"), config)
        .secondary(secondary.provider("secondary"))
        .on_event(move |e| sink.lock().unwrap().push(e.clone()));
    (router, events)
}

const REQUEST: Request<'static> = Request::new(1_000);

/// Sends one call every 50 ms; `script` sets the primary's behaviour before call `i`. Panics if a
/// call is lost.
async fn drive(
    router: &Router<u32, &'static str>,
    calls: u32,
    mut script: impl FnMut(u32),
) -> Vec<&'static str> {
    let mut served = Vec::new();
    for i in 0..calls {
        script(i);
        match router.call(&REQUEST, i).await {
            Ok(s) => served.push(s.value),
            Err(e) => panic!("call {i} lost: {e}"),
        }
        sleep(Duration::from_millis(50)).await;
    }
    served
}

fn kinds(events: &Events) -> Vec<(SwitchKind, Reason)> {
    events
        .lock()
        .unwrap()
        .iter()
        .map(|e| (e.kind, e.reason))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn an_error_burst_fails_over_without_losing_a_call_and_fails_back_once() {
    let (primary, secondary) = (Sim::new(Act::Ok(10)), Sim::new(Act::Ok(20)));
    let (router, events) = router(&primary, &secondary, config());
    let served = drive(&router, 150, |i| match i {
        20 => primary.set(Act::Fail),
        60 => primary.set(Act::Ok(10)),
        _ => {}
    })
    .await;
    assert_eq!(served.len(), 150);
    assert_eq!(served[..20], ["primary"; 20]);
    assert_eq!(served[25..60], ["secondary"; 35]);
    assert_eq!(served.last(), Some(&"primary"));
    let stats = router.stats();
    assert_eq!((stats.failovers, stats.failbacks), (1, 1));
    assert_eq!(&*stats.active, "primary");
    let events = events.lock().unwrap();
    assert_eq!(events[0].kind, SwitchKind::Failover);
    assert_eq!((&*events[0].from, &*events[0].to), ("primary", "secondary"));
    assert!(matches!(
        events[0].reason,
        Reason::BreakerOpen | Reason::ErrorRate
    ));
    assert_eq!(events[1].kind, SwitchKind::Failback);
    assert_eq!(events[1].reason, Reason::Recovered);
}

#[tokio::test(start_paused = true)]
async fn a_latency_spike_over_the_sla_fails_over_and_back() {
    let (primary, secondary) = (Sim::new(Act::Ok(10)), Sim::new(Act::Ok(20)));
    let (router, events) = router(&primary, &secondary, config());
    drive(&router, 150, |i| match i {
        20 => primary.set(Act::Ok(300)),
        60 => primary.set(Act::Ok(10)),
        _ => {}
    })
    .await;
    assert_eq!(
        kinds(&events),
        [
            (SwitchKind::Failover, Reason::SlaBreach),
            (SwitchKind::Failback, Reason::Recovered)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_hang_times_out_once_and_the_next_calls_do_not_wait_for_it() {
    let (primary, secondary) = (Sim::new(Act::Hang), Sim::new(Act::Ok(20)));
    let (router, events) = router(&primary, &secondary, config());
    let first = router.call(&REQUEST, 0).await.unwrap();
    assert_eq!(first.value, "secondary");
    assert_eq!(first.failed.len(), 1);
    assert_eq!(first.failed[0].error.kind(), ErrorKind::Timeout);
    assert_eq!(&*first.failed[0].provider, "primary");
    assert_eq!(kinds(&events), [(SwitchKind::Failover, Reason::Timeout)]);
    // Until a trial is due, calls go straight to the secondary.
    for i in 1..5 {
        let served = router.call(&REQUEST, i).await.unwrap();
        assert!(served.failed.is_empty());
        assert_eq!(served.value, "secondary");
    }
    assert_eq!(primary.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_flapping_primary_does_not_make_the_routing_flap() {
    let (primary, secondary) = (Sim::new(Act::Ok(10)), Sim::new(Act::Ok(20)));
    let (router, _) = router(&primary, &secondary, config());
    let start = Instant::now();
    // Two seconds down, two up, for two minutes: 30 outages.
    let served = drive(&router, 2_400, |_| {
        let phase = start.elapsed().as_millis() / 2_000;
        primary.set(if phase.is_multiple_of(2) {
            Act::Fail
        } else {
            Act::Ok(10)
        });
    })
    .await;
    assert_eq!(served.len(), 2_400);
    let stats = router.stats();
    // Failback waits out the dwell, doubled for every flap: 2, 4, 8, 16, 32, 64 s, which add up
    // to more than the two minutes: at most 6 failbacks, against 30 without hysteresis.
    assert!(stats.failovers >= 1);
    assert!(stats.failbacks <= 6, "{stats:?}");
    assert!(stats.failovers <= stats.failbacks + 1, "{stats:?}");
}

#[tokio::test(start_paused = true)]
async fn a_slow_recovery_fails_back_only_once_the_primary_is_within_the_sla() {
    let (primary, secondary) = (Sim::new(Act::Ok(10)), Sim::new(Act::Ok(20)));
    let events: Arc<Mutex<Vec<(SwitchKind, Act)>>> = Arc::default();
    let (sink, watched) = (Arc::clone(&events), primary.clone());
    let router = Router::new(primary.provider("primary"), config())
        .secondary(secondary.provider("secondary"))
        .on_event(move |e| sink.lock().unwrap().push((e.kind, watched.act())));
    drive(&router, 300, |i| match i {
        10 => primary.set(Act::Fail),
        40 => primary.set(Act::Ok(400)),
        80 => primary.set(Act::Ok(200)),
        120 => primary.set(Act::Ok(120)),
        160 => primary.set(Act::Ok(30)),
        _ => {}
    })
    .await;
    assert_eq!(
        *events.lock().unwrap(),
        [
            (SwitchKind::Failover, Act::Fail),
            (SwitchKind::Failback, Act::Ok(30))
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn probes_bring_the_primary_back_without_trial_calls() {
    let (primary, secondary) = (Sim::new(Act::Fail), Sim::new(Act::Ok(20)));
    let config = FailoverConfig {
        trial_calls: false,
        ..config()
    };
    let (router, _) = router(&primary, &secondary, config);
    for i in 0..5 {
        assert_eq!(router.call(&REQUEST, i).await.unwrap().value, "secondary");
    }
    router.probe().await; // the primary still fails
    assert_eq!(
        router.stats().failovers,
        1,
        "five failures in a row open the breaker"
    );
    primary.set(Act::Ok(10));
    let before = primary.calls();
    for i in 5..100 {
        if router.stats().failbacks == 1 {
            break;
        }
        assert_eq!(router.call(&REQUEST, i).await.unwrap().value, "secondary");
        router.probe().await;
        sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(router.stats().failbacks, 1);
    assert_eq!(router.call(&REQUEST, 0).await.unwrap().value, "primary");
    assert!(primary.calls() > before);
}

#[tokio::test(start_paused = true)]
async fn when_everything_is_down_one_error_names_every_attempt() {
    let (primary, secondary) = (Sim::new(Act::Fail), Sim::new(Act::Fail));
    let (router, _) = router(&primary, &secondary, config());
    let error = router.call(&REQUEST, 0).await.unwrap_err();
    assert_eq!(error.kind, FailureKind::Exhausted);
    let names: Vec<&str> = error.attempts.iter().map(|a| &*a.provider).collect();
    assert_eq!(names, ["primary", "secondary", "primary", "secondary"]);
    let text = error.to_string();
    assert!(
        text.starts_with("every attempt failed: primary (unavailable: 503"),
        "{text}"
    );
    assert!(text.contains("secondary (unavailable: 503"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn hangs_everywhere_end_at_the_deadline_with_every_attempt_named() {
    let (primary, secondary) = (Sim::new(Act::Hang), Sim::new(Act::Hang));
    let config = FailoverConfig {
        deadline: Duration::from_millis(800),
        ..config()
    };
    let (router, _) = router(&primary, &secondary, config);
    let error = router.call(&REQUEST, 0).await.unwrap_err();
    assert_eq!(error.kind, FailureKind::DeadlineExceeded);
    let names: Vec<&str> = error.attempts.iter().map(|a| &*a.provider).collect();
    assert_eq!(names, ["primary", "secondary"]);
    assert!(
        error
            .attempts
            .iter()
            .all(|a| a.error.kind() == ErrorKind::Timeout)
    );
}

#[tokio::test(start_paused = true)]
async fn an_error_that_must_not_be_retried_is_not() {
    let (primary, secondary) = (Sim::new(Act::BadRequest), Sim::new(Act::Ok(10)));
    let (router, events) = router(&primary, &secondary, config());
    for i in 0..10 {
        let error = router.call(&REQUEST, i).await.unwrap_err();
        assert_eq!(error.kind, FailureKind::NotRetryable);
        assert_eq!(error.attempts.len(), 1);
        assert_eq!(error.attempts[0].error.kind(), ErrorKind::BadRequest);
    }
    assert_eq!(secondary.calls(), 0);
    assert!(
        kinds(&events).is_empty(),
        "the caller's fault is not the provider's"
    );
}

#[tokio::test(start_paused = true)]
async fn context_size_and_policy_decide_who_may_serve() {
    let (primary, secondary) = (Sim::new(Act::Ok(10)), Sim::new(Act::Ok(10)));
    let small = Provider::new("small", "gpt-4o-mini", 8_000, {
        let s = secondary.clone();
        move |_: u32| {
            let s = s.clone();
            async move { s.run("small").await }
        }
    });
    let router = Router::new(primary.provider("primary"), config()).secondary(small);
    let no_primary = |p: &ProviderInfo| &*p.name != "primary";
    let served = router
        .call(&Request::new(1_000).allow(&no_primary), 0)
        .await
        .unwrap();
    assert_eq!((served.value, served.failed.len()), ("small", 0));
    assert_eq!(primary.calls(), 0);

    let error = router
        .call(&Request::new(50_000).allow(&no_primary), 0)
        .await
        .unwrap_err();
    assert_eq!(error.kind, FailureKind::NoEligibleProvider);
    assert!(error.attempts.is_empty());
    assert_eq!(
        error.to_string(),
        "no provider fits the request's context size and the policy"
    );
}

#[tokio::test(start_paused = true)]
async fn readiness_scores_are_as_documented() {
    let (primary, secondary) = (Sim::new(Act::Ok(10)), Sim::new(Act::Ok(10)));
    let (router, _) = router(&primary, &secondary, config());
    let score = |r: &Router<u32, &'static str>, req: &Request<'_>| r.readiness(req)[0].score;
    assert_eq!(score(&router, &REQUEST), 100);
    router.set_config_version("secondary", Some("v2"));
    assert_eq!(score(&router, &REQUEST), 80, "config mismatch: C = 0");
    router.set_config_version("secondary", None);
    assert_eq!(score(&router, &REQUEST), 90, "config unknown: C = 0.5");
    router.set_config_version("secondary", Some("v1"));
    assert_eq!(score(&router, &Request::new(200_000)), 0, "does not fit");
    let deny = |p: &ProviderInfo| &*p.name != "secondary";
    assert_eq!(score(&router, &Request::new(10).allow(&deny)), 0, "policy");

    // Secondary: 1 failure in 5 calls (A = 0.8); both p95s 10 ms (L = 1): 40 + 30 + 20.
    let only_secondary = |p: &ProviderInfo| &*p.name == "secondary";
    let req = Request::new(10).allow(&only_secondary);
    let one_attempt = FailoverConfig {
        max_attempts: 1,
        ..config()
    };
    let (router, _) = self::router(&primary, &secondary, one_attempt);
    for i in 0..4 {
        router.call(&req, i).await.unwrap();
    }
    secondary.set(Act::Fail);
    router.call(&req, 4).await.unwrap_err();
    secondary.set(Act::Ok(10));
    router.call(&REQUEST, 5).await.unwrap(); // the primary's p95: 10 ms too
    let r = &router.readiness(&REQUEST)[0];
    assert!((r.factors.error_rate - 0.2).abs() < 1e-12);
    assert_eq!(r.factors.p95, r.factors.primary_p95);
    assert_eq!(r.score, 90);
}
