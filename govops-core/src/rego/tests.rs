use super::*;

const RULES: &str = r#"package govops
import rego.v1

violations contains "model_not_allowed" if {
    input.environment == "prod"
    startswith(input.model, "gpt-3.5")
}

decision := "deny" if input.cost_usd > 0.5
"#;

#[test]
fn rules_allow_and_deny() {
    let rego = Rego::compile("rules.rego", RULES).unwrap();
    let verdict = rego
        .evaluate(r#"{"environment": "prod", "model": "gpt-3.5-turbo", "cost_usd": 0.01}"#)
        .unwrap();
    assert_eq!(verdict.violations, [Violation::ModelNotAllowed]);
    assert_eq!(verdict.decision, None);
    let verdict = rego
        .evaluate(r#"{"environment": "dev", "model": "gpt-4o", "cost_usd": 0.75}"#)
        .unwrap();
    assert_eq!(verdict.violations, []);
    assert_eq!(verdict.decision, Some(Decision::Deny));
    let verdict = rego
        .evaluate(r#"{"environment": "dev", "model": "gpt-4o", "cost_usd": null}"#)
        .unwrap();
    assert_eq!(verdict, RegoVerdict::default());
}

#[test]
fn either_rule_alone_is_enough() {
    let only_decision = "package govops\nimport rego.v1\n\ndecision := \"flag\" if input.x\n";
    let rego = Rego::compile("d.rego", only_decision).unwrap();
    assert_eq!(
        rego.evaluate(r#"{"x": true}"#).unwrap().decision,
        Some(Decision::Flag)
    );
    let only_violations =
        "package govops\nimport rego.v1\n\nviolations contains \"token_waste\" if input.x\n";
    let rego = Rego::compile("v.rego", only_violations).unwrap();
    assert_eq!(
        rego.evaluate(r#"{"x": true}"#).unwrap().violations,
        [Violation::TokenWaste]
    );
}

#[test]
fn what_a_rule_may_not_return_is_reported_and_ignored() {
    let rules = r#"package govops
import rego.v1

violations contains "model_not_allowed" if input.x
violations contains "too_expensive" if input.x
violations contains 3 if input.x
decision := "block" if input.x
"#;
    let rego = Rego::compile("odd.rego", rules).unwrap();
    let verdict = rego.evaluate(r#"{"x": true}"#).unwrap();
    assert_eq!(verdict.violations, [Violation::ModelNotAllowed]);
    assert_eq!(verdict.decision, None);
    assert_eq!(verdict.problems.len(), 3, "{:?}", verdict.problems);
    let all = verdict.problems.join("\n");
    assert!(all.contains("\"too_expensive\", not a code"), "{all}");
    assert!(all.contains("agent_loop"), "{all}");
    assert!(all.contains("holds 3, not a string"), "{all}");
    assert!(all.contains("`decision` is \"block\""), "{all}");
    // Nothing returned, nothing to report.
    assert_eq!(
        rego.evaluate(r#"{"x": false}"#).unwrap(),
        RegoVerdict::default()
    );
}

#[test]
fn the_call_document_is_what_rules_see() {
    let rules = r#"package govops
import rego.v1

violations contains "budget_exceeded" if {
    input.session == "s-1"
    input.usage.cache_creation == 30
    input.cost_usd > 0.01
    "token_waste" in input.violations
}
"#;
    let rego = Rego::compile("doc.rego", rules).unwrap();
    let usage = crate::usage::Usage {
        input: 100,
        output: 10,
        cache_creation: 10,
        cache_creation_1h: 20,
        ..Default::default()
    };
    let mut input = CallInput::new("chat", "prod");
    input.session = Some("s-1");
    input.usage = Some(UsageInput::from(&usage));
    input.cost_usd = Some(0.02);
    input.violations = vec!["token_waste"];
    let verdict = rego.evaluate_call(&input).unwrap();
    assert_eq!(verdict.violations, [Violation::BudgetExceeded]);
    input.session = None;
    assert!(rego.evaluate_call(&input).unwrap().violations.is_empty());
}

#[test]
fn a_rule_that_does_not_compile_says_where() {
    let error = Rego::compile(
        "bad.rego",
        "package govops\n\nviolations contains x if {\n  x := \n}\n",
    )
    .unwrap_err();
    assert!(error.contains("bad.rego"), "{error}");
    assert!(error.contains(':'), "{error}");
}

/// Rules that look fine at load but go wrong on the call that reaches them.
const LATE: &str = r#"package govops
import rego.v1

f(x) := y if { y := f(x) }

violations contains "token_waste" if { input.model == "loop"; f(1) == 2 }
decision := "deny" if { input.model == "range"; count(numbers.range(1, input.usage.input)) > 0 }
"#;

#[test]
fn a_recursive_function_is_a_clear_problem_and_the_process_lives() {
    for rules in [
        "package govops\nimport rego.v1\n\nf(x) := y if { y := f(x) }\n\ndecision := \"deny\" if f(1) == 2\n",
        // Mutual, through a comprehension, reached only with a model.
        "package govops\nimport rego.v1\n\na(x) := y if { y := b(x) }\nb(x) := y if { y := [z | z := a(x)] }\n\ndecision := \"deny\" if { count(a(input.model)) > 0 }\n",
        // Swallowed by `not` at every level.
        "package govops\nimport rego.v1\n\ng(x) := y if { y := 1 + (1 + (1 + g(x))) }\n\nviolations contains \"token_waste\" if { not g(1) == 3 }\n",
    ] {
        let error = Rego::compile("deep.rego", rules).unwrap_err();
        assert!(error.contains("deeper than the limit"), "{error}");
    }
}

#[test]
fn a_huge_range_is_refused_within_the_limit() {
    let rules = "package govops\nimport rego.v1\n\ndecision := \"deny\" if count(numbers.range(1, 1e9)) > 2\n";
    let error = Rego::compile("range.rego", rules).unwrap_err();
    assert!(
        error.contains("numbers.range of 1000000000 numbers"),
        "{error}"
    );
    assert!(error.contains("range.rego:4:"), "{error}");
    let step = "package govops\nimport rego.v1\n\ndecision := \"deny\" if count(numbers.range_step(0, 1e12, 2)) > 2\n";
    let error = Rego::compile("step.rego", step).unwrap_err();
    assert!(error.contains("limit of 100000"), "{error}");
}

#[test]
fn ranges_within_the_limit_are_what_opa_returns() {
    let rules = r#"package govops
import rego.v1

violations contains "token_waste" if {
    numbers.range(1, 3) == [1, 2, 3]
    numbers.range(3, 1) == [3, 2, 1]
    numbers.range_step(0, 10, 5) == [0, 5, 10]
    numbers.range_step(10, 1, 4) == [10, 6, 2]
    count(numbers.range(1, 100000)) == 100000
}
"#;
    let rego = Rego::compile("ok.rego", rules).unwrap();
    assert_eq!(
        rego.evaluate("{}").unwrap().violations,
        [Violation::TokenWaste]
    );
}

#[test]
fn an_expensive_comprehension_stops_at_the_time_limit() {
    let rules = "package govops\nimport rego.v1\n\ndecision := \"deny\" if count([x | some a in numbers.range(1, 3000); some b in numbers.range(1, 3000); x := a * b]) > 2\n";
    let error = Rego::compile("slow.rego", rules).unwrap_err();
    assert!(error.contains("longer than the limit of 100 ms"), "{error}");
}

#[test]
fn another_package_or_no_entry_point_is_a_problem_with_its_line() {
    let error = Rego::compile(
        "other.rego",
        "# rules\npackage other\nimport rego.v1\n\ndecision := \"deny\"\n",
    )
    .unwrap_err();
    assert!(
        error.starts_with("other.rego:2: the module is `package other`"),
        "{error}"
    );
    let error = Rego::compile(
        "typo.rego",
        "package govops\nimport rego.v1\n\ndecisoin := \"deny\"\nviolation contains \"token_waste\"\n",
    )
    .unwrap_err();
    assert!(
        error.contains("typo.rego:1: the module defines neither `violations` nor `decision`"),
        "{error}"
    );
}

#[test]
fn rules_that_fail_on_a_call_are_an_error_for_that_call_not_a_crash() {
    let rego = Rego::compile("late.rego", LATE).unwrap();
    let error = rego.evaluate(r#"{"model": "loop"}"#).unwrap_err();
    assert!(error.contains("deeper than the limit"), "{error}");
    let error = rego
        .evaluate(r#"{"model": "range", "usage": {"input": 1000000000}}"#)
        .unwrap_err();
    assert!(error.contains("more than the limit"), "{error}");
    // The thread's engine is usable again after a failure.
    assert_eq!(
        rego.evaluate(r#"{"model": "gpt-4o"}"#).unwrap(),
        RegoVerdict::default()
    );
    // On a thread with a small stack, the rules run on one of their own.
    let small = std::thread::Builder::new().stack_size(256 << 10);
    let rego2 = rego.clone();
    let error = small
        .spawn(move || rego2.evaluate(r#"{"model": "loop"}"#))
        .unwrap()
        .join()
        .unwrap()
        .unwrap_err();
    assert!(error.contains("deeper than the limit"), "{error}");
}

#[test]
fn a_compile_error_names_the_place_never_the_source_text() {
    let error = Rego::compile(
        "leak.rego",
        "package govops\n\nviolations contains x if {\n  x := \"sk-live-SECRET\" +\n}\n",
    )
    .unwrap_err();
    assert!(error.contains("leak.rego:"), "{error}");
    assert!(!error.contains("SECRET"), "{error}");
    assert!(!error.contains('|'), "{error}");
}

#[test]
fn builtins_that_multiply_their_input_are_capped_and_work_below_the_cap() {
    // `a` is 500 characters; `big`, every gap of `a` filled with `a`, 250 500: built natively in
    // one call, without work for the timer to count.
    let big = format!("a := \"{}\"; big := replace(a, \"\", a)", "b".repeat(500));
    for (call, name) in [
        // 11 times `big`.
        (
            format!("{big}; count(replace(big, \"\", \"0123456789\")) > 0"),
            "replace",
        ),
        // 10 copies of `big`.
        (
            format!("{big}; count(concat(\"\", [big | some _ in numbers.range(1, 10)])) > 0"),
            "concat",
        ),
        (
            "count(sprintf(\"%999999999d\", [1])) > 0".to_owned(),
            "sprintf",
        ),
        (
            "count(sprintf(\"%99999999999999d\", [1])) > 0".to_owned(),
            "sprintf",
        ),
        (
            format!("{big}; count(strings.replace_n({{\"\": big}}, \"abcdefghij\")) > 0"),
            "strings.replace_n",
        ),
    ] {
        let rules =
            format!("package govops\nimport rego.v1\n\ndecision := \"deny\" if {{ {call} }}\n");
        let error = Rego::compile("big.rego", &rules).unwrap_err();
        assert!(
            error.contains(&format!("{name} would build more than the limit")),
            "{call}: {error}"
        );
    }
    let rules = r#"package govops
import rego.v1

violations contains "token_waste" if {
    concat(", ", ["a", "b"]) == "a, b"
    concat("-", {"x"}) == "x"
    replace("gpt-4o", "-", "_") == "gpt_4o"
    strings.replace_n({"a": "b", "c": "d"}, "acac") == "bdbd"
    sprintf("%s costs %05d", ["x", 42]) == "x costs 00042"
}
"#;
    let rego = Rego::compile("ok.rego", rules).unwrap();
    assert_eq!(
        rego.evaluate("{}").unwrap().violations,
        [Violation::TokenWaste]
    );
}
