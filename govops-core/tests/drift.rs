//! Drift detection on synthetic series with a seeded RNG: known change points are found within
//! the documented delay, stationary noise (with outliers) raises no alarm over long runs.

use std::time::Duration;

use govops_core::drift::{
    Direction, DriftConfig, DriftDetector, DriftError, DriftRegistry, Observation, Signal,
    Transition,
};
use rust_decimal::Decimal;

/// The delay the module documents for a +50% step on 20% noise: two recent half-lives.
const DELAY: u64 = 32;
/// The delay the module documents for an error rate from 1% to 30%: two of the error rate's
/// recent half-lives.
const ERROR_DELAY: u64 = 64;

/// A standard normal value (Box–Muller).
fn gauss(rng: &mut fastrand::Rng) -> f64 {
    let u1 = rng.f64().max(f64::MIN_POSITIVE);
    let u2 = rng.f64();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A synthetic model: latency and output length around their levels with 20% noise, occasional
/// heavy-tailed outliers, errors at `error_rate`.
struct Model {
    rng: fastrand::Rng,
    latency_s: f64,
    tokens: f64,
    error_rate: f64,
    outliers: bool,
}

impl Model {
    fn new(seed: u64) -> Model {
        Model {
            rng: fastrand::Rng::with_seed(seed),
            latency_s: 0.8,
            tokens: 300.0,
            error_rate: 0.01,
            outliers: true,
        }
    }

    fn next(&mut self) -> Observation {
        let mut latency = self.latency_s * (1.0 + 0.2 * gauss(&mut self.rng));
        let mut tokens = self.tokens * (1.0 + 0.2 * gauss(&mut self.rng));
        if self.outliers && self.rng.u32(0..200) == 0 {
            // heavy tail: a Pareto-like multiplier, up to 100×
            latency *= 1.0 / self.rng.f64().max(0.01);
        }
        if self.outliers && self.rng.u32(0..500) == 0 {
            tokens *= 1.0 / self.rng.f64().max(0.05);
        }
        let latency = latency.max(0.01);
        let tokens = tokens.max(1.0);
        Observation {
            latency: Duration::from_secs_f64(latency),
            output_tokens: Some(tokens as u64),
            success: self.rng.f64() >= self.error_rate,
            cost_usd: Some(Decimal::new((tokens * 10.0) as i64, 6)),
        }
    }
}

fn detector() -> DriftDetector {
    DriftDetector::new(&DriftConfig::default()).expect("default config is valid")
}

/// Feeds `before` stationary observations, applies `shift`, then returns after how many
/// observations the detector started drifting (None if not within 1000).
fn delay_after(
    seed: u64,
    before: u64,
    config: &DriftConfig,
    shift: impl Fn(&mut Model),
) -> (Option<u64>, Vec<Signal>) {
    let mut model = Model::new(seed);
    model.outliers = false;
    let mut d = DriftDetector::new(config).expect("valid config");
    for _ in 0..before {
        let u = d.update(&model.next());
        assert!(!u.drifting, "alarm before the change point (seed {seed})");
    }
    shift(&mut model);
    for n in 1..=1000 {
        let u = d.update(&model.next());
        if u.transition == Some(Transition::Started) {
            return (Some(n), u.moved().map(|s| s.signal).collect());
        }
    }
    (None, Vec::new())
}

#[test]
fn latency_shift_detected_within_the_documented_delay() {
    for seed in 1..=5 {
        let (delay, moved) =
            delay_after(seed, 5_000, &DriftConfig::default(), |m| m.latency_s *= 1.5);
        let delay = delay.expect("latency shift detected");
        assert!(delay <= DELAY, "seed {seed}: detected after {delay}");
        assert!(moved.contains(&Signal::Latency), "{moved:?}");
    }
}

#[test]
fn output_length_shift_detected_within_the_documented_delay() {
    for seed in 1..=5 {
        let (delay, moved) = delay_after(seed, 5_000, &DriftConfig::default(), |m| m.tokens *= 1.5);
        let delay = delay.expect("output length shift detected");
        assert!(delay <= DELAY, "seed {seed}: detected after {delay}");
        assert!(moved.contains(&Signal::OutputTokens), "{moved:?}");
    }
}

#[test]
fn error_rate_spike_detected() {
    for seed in 1..=5 {
        let (delay, moved) =
            delay_after(seed, 5_000, &DriftConfig::default(), |m| m.error_rate = 0.3);
        let delay = delay.expect("error spike detected");
        assert!(delay <= ERROR_DELAY, "seed {seed}: detected after {delay}");
        assert!(moved.contains(&Signal::ErrorRate), "{moved:?}");
    }
}

#[test]
fn reports_direction_baseline_and_recent() {
    let mut model = Model::new(3);
    model.outliers = false;
    let mut d = detector();
    for _ in 0..3_000 {
        d.update(&model.next());
    }
    model.latency_s *= 2.0;
    let mut last = None;
    for _ in 0..40 {
        last = Some(d.update(&model.next()));
    }
    let u = last.expect("updates");
    assert!(u.drifting);
    let latency = u.signals[0];
    assert_eq!(latency.signal, Signal::Latency);
    assert_eq!(latency.direction, Direction::Up);
    assert!((latency.baseline - 0.8).abs() < 0.1, "{latency:?}");
    assert!(latency.recent > 1.3, "{latency:?}");
    let tps = u.signals[3];
    assert_eq!(tps.direction, Direction::Down);
    assert!(tps.moved());
}

#[test]
fn weights_change_what_moves_the_score() {
    // Latency and tokens per second weighted 0: a latency shift is no drift.
    let mut config = DriftConfig::default();
    config.weights.latency = 0.0;
    config.weights.output_tokens_per_second = 0.0;
    let (delay, _) = delay_after(1, 5_000, &config, |m| m.latency_s *= 1.5);
    assert_eq!(delay, None);

    // Output tokens weighted 0, tokens per second alone (0.4) is below the threshold.
    let mut config = DriftConfig::default();
    config.weights.output_tokens = 0.0;
    config.weights.cost_per_success = 0.0;
    let (delay, _) = delay_after(1, 5_000, &config, |m| m.tokens *= 1.5);
    assert_eq!(delay, None);
    // ... unless it weighs enough.
    config.weights.output_tokens_per_second = 0.6;
    let (delay, moved) = delay_after(1, 5_000, &config, |m| m.tokens *= 1.5);
    assert!(delay.is_some_and(|d| d <= DELAY), "{delay:?}");
    assert!(moved.contains(&Signal::OutputTokensPerSecond));
}

#[test]
fn no_alarm_on_stationary_noise_over_long_runs() {
    for (seed, error_rate) in [(11, 0.0), (22, 0.02), (33, 0.05)] {
        let mut model = Model::new(seed);
        model.error_rate = error_rate;
        let mut d = detector();
        let mut max = 0.0_f64;
        for i in 0..1_000_000_u64 {
            let u = d.update(&model.next());
            max = max.max(u.score);
            assert!(!u.drifting, "seed {seed}: false alarm at {i}: {u:?}");
        }
        // 0.37 at most over these seeds, with outliers up to 100× the latency.
        assert!(max < 0.45, "seed {seed}: max score {max}");
    }
}

#[test]
fn warm_up_raises_no_alarm_even_with_wild_early_values() {
    for seed in 1..=5 {
        let mut model = Model::new(seed);
        let mut rng = fastrand::Rng::with_seed(seed + 100);
        let mut d = detector();
        for i in 0..20_000_u64 {
            let mut obs = model.next();
            if i < 150 && rng.u32(0..3) == 0 {
                // cold start: wild latencies, empty or huge outputs, failures
                obs.latency = Duration::from_secs_f64(rng.f64() * 60.0);
                obs.output_tokens = Some(rng.u64(0..10_000));
                obs.success = rng.bool();
            }
            let u = d.update(&obs);
            if i < 199 {
                assert!(u.warming_up && u.score == 0.0);
            }
            assert!(!u.drifting, "seed {seed}: alarm at {i}: {u:?}");
        }
    }
}

#[test]
fn hysteresis_keeps_a_drift_until_the_score_falls_well_below() {
    let mut model = Model::new(5);
    model.outliers = false;
    let mut d = detector();
    for _ in 0..3_000 {
        d.update(&model.next());
    }
    model.latency_s *= 1.5;
    let mut transitions = Vec::new();
    for _ in 0..200 {
        if let Some(t) = d.update(&model.next()).transition {
            transitions.push(t);
        }
    }
    assert_eq!(transitions, [Transition::Started]);
    model.latency_s /= 1.5;
    for _ in 0..200 {
        if let Some(t) = d.update(&model.next()).transition {
            transitions.push(t);
        }
    }
    assert_eq!(transitions, [Transition::Started, Transition::Ended]);
}

#[test]
fn save_restore_gives_the_same_scores() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("drift.json");
    let config = DriftConfig::default();
    let a = DriftRegistry::new(&config).expect("registry");
    let mut model = Model::new(9);
    for _ in 0..500 {
        let obs = model.next();
        a.observe("gpt-4o", "openai", &obs);
        a.observe("claude", "anthropic", &obs);
    }
    a.observe("new-model", "openai", &model.next()); // still warming up
    a.save(&file).expect("save");

    let b = DriftRegistry::new(&config).expect("registry");
    assert_eq!(b.restore(&file).expect("restore"), 3);
    assert_eq!(
        b.current("new-model", "openai").map(|u| u.observations),
        Some(1)
    );
    model.latency_s *= 1.5;
    for _ in 0..100 {
        let obs = model.next();
        assert_eq!(
            a.observe("gpt-4o", "openai", &obs),
            b.observe("gpt-4o", "openai", &obs)
        );
    }
    assert!(b.current("gpt-4o", "openai").is_some_and(|u| u.drifting));
    // No leftover temporary file.
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
}

#[test]
fn bad_files_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = DriftRegistry::new(&DriftConfig::default()).expect("registry");
    let missing = dir.path().join("missing.json");
    assert!(matches!(r.restore(&missing), Err(DriftError::Io { .. })));

    let cases = [
        ("garbage", "not json"),
        (
            "wrong format",
            r#"{"format": "other", "version": 1, "models": []}"#,
        ),
        (
            "wrong version",
            r#"{"format": "govops-drift-baseline", "version": 2, "models": []}"#,
        ),
        (
            "no models",
            r#"{"format": "govops-drift-baseline", "version": 1}"#,
        ),
        (
            "a key twice",
            r#"{"format": "govops-drift-baseline", "version": 1, "models": [], "models": []}"#,
        ),
    ];
    for (name, text) in cases {
        let file = dir.path().join(format!("{name}.json"));
        std::fs::write(&file, text).expect("write");
        let err = r.restore(&file).expect_err(name);
        let message = err.to_string();
        assert!(
            matches!(err, DriftError::Format { .. }),
            "{name}: {message}"
        );
        assert!(message.contains(&*file.to_string_lossy()), "{message}");
        assert!(message.contains("\"version\": 1"), "{message}");
        if name == "a key twice" {
            assert!(message.contains("duplicate key \"models\""), "{message}");
        }
        if name == "wrong version" {
            assert!(message.contains("version 2 is not supported"), "{message}");
        }
    }
    // A state out of range (a negative deviation) after a good one: nothing is restored.
    let good = DriftRegistry::new(&DriftConfig::default()).expect("registry");
    let obs = Model::new(1).next();
    good.observe("a", "p", &obs);
    good.observe("b", "p", &obs);
    let file = dir.path().join("out-of-range.json");
    good.save(&file).expect("save");
    let text = std::fs::read_to_string(&file).expect("read");
    let at = text.rfind("\"dev\": 0.0").expect("a dev field");
    let text = format!(
        "{}\"dev\": -1.0{}",
        &text[..at],
        &text[at + "\"dev\": 0.0".len()..]
    );
    std::fs::write(&file, text).expect("write");
    let err = r.restore(&file).expect_err("out of range");
    assert!(err.to_string().contains("out of range"), "{err}");
    assert!(r.is_empty());
}

#[test]
fn configuration_is_validated() {
    type Change = fn(&mut DriftConfig);
    let cases: [(&str, Change); 6] = [
        ("weights", |c| c.weights.latency = -1.0),
        ("weights", |c| {
            c.weights.latency = 0.0;
            c.weights.output_tokens = 0.0;
            c.weights.error_rate = 0.0;
            c.weights.output_tokens_per_second = 0.0;
            c.weights.cost_per_success = 0.0;
        }),
        ("threshold", |c| c.threshold = 1.0),
        ("baseline_half_life", |c| c.baseline_half_life = 0.0),
        ("recent_half_life", |c| c.recent_half_life = -2.0),
        ("hysteresis", |c| c.hysteresis = 0.6),
    ];
    for (field, change) in cases {
        let mut config = DriftConfig::default();
        change(&mut config);
        match config.validate() {
            Err(DriftError::Config { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
        assert!(DriftRegistry::new(&config).is_err());
    }
    assert!(DriftConfig::default().validate().is_ok());
}

#[test]
fn registry_is_bounded() {
    let config = DriftConfig {
        max_models: 2,
        ..DriftConfig::default()
    };
    let r = DriftRegistry::new(&config).expect("registry");
    let obs = Model::new(1).next();
    assert!(r.observe("a", "p", &obs).is_some());
    assert!(r.observe("b", "p", &obs).is_some());
    assert!(r.observe("c", "p", &obs).is_none());
    assert!(r.observe("a", "p", &obs).is_some());
    assert_eq!((r.len(), r.untracked()), (2, 1));
}

#[test]
fn unpriced_calls_are_skipped_not_zero() {
    let mut model = Model::new(4);
    model.outliers = false;
    let mut d = detector();
    for i in 0..2_000 {
        let mut obs = model.next();
        if i % 2 == 0 {
            obs.cost_usd = None;
        }
        let u = d.update(&obs);
        assert!(!u.drifting);
    }
    let cost = d.current().signals[4];
    assert!((cost.baseline - 0.003).abs() < 0.0005, "{cost:?}");
}

#[test]
fn concurrent_calls_are_all_counted() {
    let r = DriftRegistry::new(&DriftConfig::default()).expect("registry");
    std::thread::scope(|scope| {
        for t in 0..4_u64 {
            let r = &r;
            scope.spawn(move || {
                let mut model = Model::new(t);
                let name = if t % 2 == 0 { "a" } else { "b" };
                for _ in 0..10_000 {
                    r.observe(name, "p", &model.next());
                }
            });
        }
    });
    for name in ["a", "b"] {
        let u = r.current(name, "p").expect("followed");
        assert_eq!(u.observations, 20_000);
        assert!(!u.drifting, "{u:?}");
    }
}
