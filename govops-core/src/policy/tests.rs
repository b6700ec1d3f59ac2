use super::*;
use crate::prices::PriceTable;
use crate::violation::Violation;

fn parse(text: &str) -> Result<Policy, Vec<PolicyProblem>> {
    Policy::parse(text, &PriceTable::embedded())
}

#[test]
fn an_empty_policy_takes_the_contract_defaults() {
    let policy = parse("").unwrap();
    assert_eq!(policy.guards, Guards::default());
    assert_eq!(policy.guards.context_overflow, Action::Flag);
    assert_eq!(policy.guards.agent_loop, Action::Deny);
    assert_eq!(policy.guards.context_percent, 90);
    assert_eq!(policy.guards.waste_ratio, 5.0);
    assert_eq!(policy.guards.max_tool_calls, 10);
    assert_eq!(
        policy.capture_content, None,
        "silent: the environment decides"
    );
    assert_eq!(policy.rules(Environment::Prod).models, None);
}

#[test]
fn a_full_policy_is_read_exactly() {
    let policy = parse(
        r#"
[guards.context_overflow]
action = "deny"
percent = 80

[guards.token_waste]
action = "off"
ratio = 2.5

[guards.agent_loop]
max_tool_calls = 4
max_repeats = 2

[capture]
content = true

[environments.prod]
models = ["gpt-4o", "claude-sonnet-4-20250514"]
providers = ["openai"]
tools = ["search"]

[environments.prod.budgets]
request_usd = "0.50"
session_usd = 5
cost_center_usd_per_day = "1000.10"
"#,
    )
    .unwrap();
    let g = &policy.guards;
    assert_eq!((g.context_overflow, g.context_percent), (Action::Deny, 80));
    assert_eq!((g.token_waste, g.waste_ratio), (Action::Off, 2.5));
    assert_eq!((g.max_tool_calls, g.max_repeats), (4, 2));
    assert_eq!(policy.capture_content, Some(true));
    let prod = policy.rules(Environment::Prod);
    assert_eq!(prod.tools.as_deref(), Some(&["search".to_owned()][..]));
    assert_eq!(prod.budgets.request_usd, Some(Decimal::new(50, 2)));
    assert_eq!(prod.budgets.session_usd, Some(Decimal::from(5)));
    assert_eq!(
        prod.budgets.cost_center_usd_per_day,
        Some(Decimal::new(100_010, 2))
    );
    assert_eq!(prod.budgets.user_usd, None);
    assert_eq!(
        policy.rules(Environment::Dev).models,
        None,
        "dev is unrestricted"
    );
}

/// The `line N` each problem starts with.
fn lines_of(problems: &[String]) -> Vec<&str> {
    problems
        .iter()
        .map(|p| p.split(':').next().unwrap_or(""))
        .collect()
}

fn problems(text: &str) -> Vec<String> {
    parse(text)
        .expect_err("expected problems")
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn errors_name_the_line_and_what_is_accepted() {
    let p = problems("[guards.context_overflow]\naction = \"block\"\n");
    assert_eq!(p.len(), 1);
    assert!(p[0].starts_with("line 2:"), "{p:?}");
    assert!(p[0].contains("off") && p[0].contains("deny"), "{p:?}");

    let p = problems("[guards.loop_detector]\naction = \"deny\"\n");
    assert!(
        p[0].contains("loop_detector") && p[0].contains("agent_loop"),
        "{p:?}"
    );

    let p = problems("[environments.production]\n");
    assert!(
        p[0].contains("production") && p[0].contains("prod"),
        "{p:?}"
    );

    let p = problems("this is = = not toml");
    assert!(p[0].starts_with("line 1:"), "{p:?}");
}

#[test]
fn every_shape_problem_is_reported_at_once_with_the_value_checks() {
    let p = problems(
        r#"
[guards.context_overflow]
action = "block"

[guards.loop_detector]
action = "deny"

[guards.token_waste]
ratio = -1

[capture]
content = "yes"

[environments.production]

[environments.prod]
models = ["gpt-4o", "gpt-17"]
"#,
    );
    let lines = lines_of(&p);
    assert_eq!(
        lines,
        [
            "line 3", "line 5", "line 9", "line 12", "line 14", "line 17"
        ],
        "{p:#?}"
    );
    assert!(p[0].contains("block"), "{p:?}");
    assert!(p[1].contains("loop_detector"), "{p:?}");
    assert!(p[3].contains("bool") || p[3].contains("boolean"), "{p:?}");
    assert!(p[4].contains("production"), "{p:?}");
    assert!(p[5].contains("gpt-17"), "{p:?}");

    // Down to the values: two in one environment, two in one guard, each once; an unknown
    // section once, however many entries it holds.
    let p = problems(
        r#"
[environments.prod]
tools = 5
providers = 7

[guards.pii]
action = "block"
actoin = "deny"

[gaurds]
pii = 1
secrets = 2
"#,
    );
    let lines = lines_of(&p);
    assert_eq!(
        lines,
        ["line 3", "line 4", "line 7", "line 8", "line 10"],
        "{p:#?}"
    );
    // What deserialized alone still takes part in the checks of values.
    let p = problems("[guards.context_overflow]\naction = \"flag\"\npercent = 0\nbogus = 1\n");
    assert_eq!(p.len(), 2, "{p:#?}");
    assert!(p[0].starts_with("line 3:"), "{p:?}");
    assert!(
        p[1].starts_with("line 4:") && p[1].contains("bogus"),
        "{p:?}"
    );

    // Every syntax error the parser recovers from, not only the first.
    let p = problems("a = = 1\nb = \"unterminated\nc = 3\n");
    assert!(p.len() >= 2, "{p:?}");
}

#[test]
fn out_of_range_values_and_unknown_models_are_all_reported() {
    let p = problems(
        r#"[guards.context_overflow]
percent = 150

[guards.token_waste]
ratio = -1.0

[environments.prod]
models = ["gpt-4o", "gpt-4-turbo-nonexistent"]

[environments.prod.budgets]
request_usd = 0.5
session_usd = "-3"
"#,
    );
    assert_eq!(p.len(), 5, "{p:#?}");
    assert!(
        p[0].starts_with("line 2:") && p[0].contains("1 to 100"),
        "{p:?}"
    );
    assert!(
        p[1].starts_with("line 5:") && p[1].contains("above 0"),
        "{p:?}"
    );
    assert!(
        p[2].starts_with("line 8:") && p[2].contains("gpt-4-turbo-nonexistent"),
        "{p:?}"
    );
    assert!(
        p[3].starts_with("line 11:") && p[3].contains("stays exact"),
        "{p:?}"
    );
    assert!(
        p[4].starts_with("line 12:") && p[4].contains("positive"),
        "{p:?}"
    );
}

#[test]
fn a_threshold_on_the_wrong_guard_is_a_problem() {
    let p = problems("[guards.token_waste]\npercent = 50\n");
    assert!(
        p[0].contains("guards.token_waste takes only: action, ratio"),
        "{p:?}"
    );
}

#[test]
fn actions_map_to_decisions() {
    assert_eq!(Action::Off.decision(), None);
    assert_eq!(Action::Flag.decision(), Some(Decision::Flag));
    assert_eq!(Action::Deny.decision(), Some(Decision::Deny));
    let guards = Guards::default();
    for v in Violation::ALL {
        assert_eq!(
            guards.action(v).decision(),
            Some(v.default_decision()),
            "{v}"
        );
    }
}

#[test]
fn the_drift_section_sets_the_detector_and_its_baseline_file() {
    let policy = Policy::parse_in(
        r#"
[guards.model_drift]
action = "deny"

[drift]
threshold = 0.6
hysteresis = 0.2
warm_up = 50
baseline = "state/drift.json"
weights = { latency = 1.0, cost_per_success = 0 }
"#,
        &PriceTable::embedded(),
        Some(std::path::Path::new("/etc/govops")),
    )
    .unwrap();
    assert_eq!(policy.guards.model_drift, Action::Deny);
    assert_eq!(policy.guards.action(Violation::ModelDrift), Action::Deny);
    assert_eq!(policy.drift.threshold, 0.6);
    assert_eq!(policy.drift.hysteresis, 0.2);
    assert_eq!(policy.drift.warm_up, 50);
    assert_eq!(policy.drift.weights.latency, 1.0);
    assert_eq!(policy.drift.weights.cost_per_success, 0.0);
    assert_eq!(policy.drift.weights.output_tokens, 0.6, "a default kept");
    assert_eq!(
        policy.drift_baseline.as_deref(),
        Some(std::path::Path::new("/etc/govops/state/drift.json")),
        "relative to the policy file"
    );
    let defaults = parse("").unwrap();
    assert_eq!(defaults.drift, DriftConfig::default());
    assert_eq!(defaults.drift_baseline, None);
    assert_eq!(defaults.guards.model_drift, Action::Flag);
}

#[test]
fn drift_settings_out_of_range_are_reported_with_their_line() {
    let problems = parse("[drift]\nthreshold = 1.5\n").unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].line, Some(2));
    assert!(problems[0].problem.contains("threshold"), "{problems:?}");
    let problems = parse("[drift]\nwarm_up = -3\n").unwrap_err();
    assert!(problems[0].problem.contains("at least 15"), "{problems:?}");
    let problems = parse("[drift]\nthreshhold = 0.5\n").unwrap_err();
    assert!(problems[0].problem.contains("threshhold"), "{problems:?}");
}

#[test]
fn a_problem_shows_at_most_a_bounded_token_of_the_file() {
    // A value in the wrong place: the parser quotes it, and a secret or a megabyte may sit there.
    let long = format!("sk-live-{}", "A".repeat(5000));
    for text in [
        format!("[capture]\ncontent = \"{long}\"\n"),
        format!("[environments.prod]\nmodels = [\"{long}\"]\n"),
        format!("[guards.{long}]\naction = \"flag\"\n"),
    ] {
        let problems = parse(&text).unwrap_err();
        let shown = problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n");
        assert!(!problems.is_empty());
        assert!(shown.len() < 700, "{} bytes: {shown}", shown.len());
        assert!(!shown.contains(&"A".repeat(100)), "{shown}");
    }
    // A drift baseline or a rego file of the wrong kind is named, never read into a message.
    let problems = parse("[drift]\nbaseline = \"/etc/shadow\"\n").unwrap_err();
    assert_eq!(problems[0].line, Some(2), "{problems:?}");
    assert!(
        problems[0].problem.contains("is an absolute path"),
        "{problems:?}"
    );
}

#[test]
fn a_misspelt_key_in_a_guard_table_is_refused_at_its_line_naming_the_key() {
    let p = problems("[guards.agent_loop]\naction = \"deny\"\nmax_tool_call = 5\n");
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].starts_with("line 3:"), "{p:?}");
    assert!(p[0].contains("max_tool_call"), "{p:?}");
    assert!(
        p[0].contains("guards.agent_loop takes only: action, max_tool_calls, max_repeats"),
        "{p:?}"
    );
    // A threshold of another guard, in a guard without thresholds: the same, at its line.
    let p = problems("[guards.pii]\naction = \"flag\"\n\npercent = 50\n");
    assert!(
        p[0].starts_with("line 4:") && p[0].contains("percent"),
        "{p:?}"
    );
    assert!(p[0].contains("guards.pii takes only: action"), "{p:?}");
}

#[test]
fn the_state_section_defaults_to_flag_the_environment_namespace_ten_minutes_and_thirty_seconds() {
    let state = parse("").unwrap().state;
    assert_eq!(state, StateRules::default());
    assert_eq!(state.on_unavailable, Action::Flag);
    assert_eq!(state.namespace_for(Environment::Prod), "govops:{prod}");
    assert_eq!(state.reservation_ttl, std::time::Duration::from_secs(600));
    assert_eq!(state.drift_sync, std::time::Duration::from_secs(30));
}

#[test]
fn the_state_section_is_read_and_on_unavailable_is_the_guards_action() {
    let policy = parse(
        "[state]\non_unavailable = \"deny\"\nnamespace = \"billing\"\n\
         reservation_ttl_seconds = 5\ndrift_sync_seconds = 3600\n",
    )
    .unwrap();
    let state = &policy.state;
    assert_eq!(state.on_unavailable, Action::Deny);
    assert_eq!(
        policy.guards.action(Violation::StateUnavailable),
        Action::Deny
    );
    // A namespace without a hash tag is wrapped in one, so its keys share a cluster slot.
    assert_eq!(state.namespace.as_deref(), Some("{billing}"));
    assert_eq!(state.namespace_for(Environment::Dev), "{billing}");
    assert_eq!(state.reservation_ttl, std::time::Duration::from_secs(5));
    assert_eq!(state.drift_sync, std::time::Duration::from_secs(3600));

    let tagged = parse("[state]\nnamespace = \"app:{eu}:x\"\n").unwrap();
    assert_eq!(tagged.state.namespace.as_deref(), Some("app:{eu}:x"));

    // The guard's own table sets the same action; saying it in both places is fine when they agree.
    let guard = parse("[guards.state_unavailable]\naction = \"deny\"\n").unwrap();
    assert_eq!(guard.state.on_unavailable, Action::Deny);
    let both =
        "[guards.state_unavailable]\naction = \"deny\"\n[state]\non_unavailable = \"deny\"\n";
    assert_eq!(parse(both).unwrap().state.on_unavailable, Action::Deny);
}

#[test]
fn state_problems_are_reported_at_their_lines() {
    let p = problems("[state]\nttl = 5\n");
    assert_eq!(lines_of(&p), ["line 2"], "{p:?}");
    assert!(
        p[0].contains("ttl") && p[0].contains("reservation_ttl_seconds"),
        "{p:?}"
    );

    let p = problems(
        "[state]\non_unavailable = \"off\"\nnamespace = \"has space\"\n\
         reservation_ttl_seconds = 0\ndrift_sync_seconds = 3601\n",
    );
    assert_eq!(
        lines_of(&p),
        ["line 2", "line 3", "line 4", "line 5"],
        "{p:?}"
    );
    assert!(p[0].contains("flag or deny"), "{p:?}");
    assert!(
        p[1].contains("state.namespace") && p[1].contains("' '"),
        "{p:?}"
    );
    assert!(p[2].contains("from 1 to 86400"), "{p:?}");
    assert!(p[3].contains("from 1 to 3600"), "{p:?}");

    let p = problems("[state]\non_unavailable = \"block\"\n");
    assert_eq!(lines_of(&p), ["line 2"], "{p:?}");
    assert!(p[0].contains("flag"), "{p:?}");

    let long = "n".repeat(65);
    let p = problems(&format!("[state]\nnamespace = \"{long}\"\n"));
    assert!(
        p[0].contains("65 characters") && p[0].contains("1 to 64"),
        "{p:?}"
    );
    let p = problems("[state]\nnamespace = \"\"\n");
    assert!(p[0].starts_with("line 2:"), "{p:?}");

    // Two places, two actions: refused rather than one silently winning.
    let p = problems(
        "[guards.state_unavailable]\naction = \"flag\"\n\n[state]\non_unavailable = \"deny\"\n",
    );
    assert_eq!(lines_of(&p), ["line 5"], "{p:?}");
    assert!(p[0].contains("set it in one place"), "{p:?}");
}
