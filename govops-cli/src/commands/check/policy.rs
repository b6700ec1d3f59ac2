//! `govops check policy`: validates a policy and runs calls through it, as `opa test` runs a
//! policy's tests, so that a pipeline blocks a policy that does not say what its authors meant.
//!
//! A case is one JSON object per line:
//!
//! ```json
//! {"name": "prod refuses claude", "environment": "prod", "kind": "chat",
//!  "model": "claude-sonnet-4-20250514", "provider": "anthropic",
//!  "usage": {"input": 1000, "output": 200}, "expect": "deny", "violations": ["model_not_allowed"]}
//! ```
//!
//! `kind` is `chat`, `text_completion`, `embeddings`, `retrieval`, `tool`, `agent` or `workflow`;
//! `tool` names the tool of a `tool` call and `agent` the agent of an `agent` one; `usage`,
//! `session`, `user` (a `prod` case without them raises `missing_context`, as at run time),
//! `service`, `cost_center` (what the policy's Rego rules see of the caller) and `violations` are
//! optional (`violations`, when given, must match exactly, in any order).
//! A Rego rule that fails or returns what it may not (a code that is not the contract's, a
//! decision other than allow, flag or deny) fails the case; one that fails (an error, a limit of
//! time or depth) also decides it as at run time, with `policy_rule_failed`.

use govops_protocol::{Class, KINDS};
use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use govops_core::rego::{CallInput, UsageInput};
use govops_core::{Decision, Environment, Policy, PriceTable, Usage, Violation};
use serde::{Deserialize, Serialize};

use crate::shared::out::{self, Format, err, esc, esc_lines};

const BAD_INPUT: u8 = 2;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: Option<String>,
    environment: Environment,
    kind: String,
    model: Option<String>,
    provider: Option<String>,
    tool: Option<String>,
    agent: Option<String>,
    session: Option<String>,
    user: Option<String>,
    service: Option<String>,
    cost_center: Option<String>,
    usage: Option<CaseUsage>,
    expect: String,
    violations: Option<Vec<String>>,
}

/// A case's token counts; the ones left out are 0.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct CaseUsage {
    input: u64,
    output: u64,
    cache_read: u64,
    cache_creation: u64,
    cache_creation_1h: u64,
    reasoning: u64,
}

impl From<&CaseUsage> for Usage {
    fn from(u: &CaseUsage) -> Self {
        Usage {
            input: u.input,
            output: u.output,
            cache_read: u.cache_read,
            cache_creation: u.cache_creation,
            cache_creation_1h: u.cache_creation_1h,
            reasoning: u.reasoning,
        }
    }
}

/// One case's outcome, as the JSON report lists it.
#[derive(Serialize)]
struct Outcome {
    line: usize,
    name: String,
    expected: String,
    decision: &'static str,
    violations: Vec<&'static str>,
    passed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    why: Option<String>,
}

#[derive(Serialize)]
struct Report<'a> {
    policy: &'a str,
    problems: Vec<String>,
    cases: Vec<Outcome>,
}

/// What the policy makes of one call: its decision and violations, and what went wrong with its
/// rules. The steps are those of a call at run time: the guards, then the Rego rules.
fn evaluate(
    policy: &Policy,
    prices: &PriceTable,
    case: &Case,
) -> (Decision, Vec<Violation>, Vec<String>) {
    let mut violations = guard_violations(policy, prices, case);
    let mut decision = policy.decide(violations.iter().copied());
    let mut problems = Vec::new();
    if let Some(rego) = &policy.rego {
        let input = rego_input(prices, case, &violations);
        match rego.evaluate_call(&input) {
            Ok(verdict) => {
                for v in verdict.violations {
                    if policy.guards.action(v).decision().is_some() && !violations.contains(&v) {
                        violations.push(v);
                    }
                }
                decision = decision
                    .max(policy.decide(violations.iter().copied()))
                    .max(verdict.decision.unwrap_or(Decision::Allow));
                problems.extend(
                    verdict
                        .problems
                        .into_iter()
                        .map(|p| format!("{}: {p}", rego.name())),
                );
            }
            Err(error) => {
                // As at run time: a call the rules cannot decide carries `policy_rule_failed`.
                if enabled(policy, Violation::PolicyRuleFailed) {
                    violations.push(Violation::PolicyRuleFailed);
                    decision = decision.max(policy.decide(violations.iter().copied()));
                }
                problems.push(format!("{}: {error}", rego.name()));
            }
        }
    }
    (decision, violations, problems)
}

/// Whether the policy's guard of `violation` acts (flags or denies).
fn enabled(policy: &Policy, violation: Violation) -> bool {
    policy.guards.action(violation).decision().is_some()
}

/// What the guards raise on the call: the allow-lists, the model call's price and usage, and a
/// `prod` call that does not say who called.
fn guard_violations(policy: &Policy, prices: &PriceTable, case: &Case) -> Vec<Violation> {
    let model_call = govops_protocol::kind(&case.kind).is_some_and(|k| k.class == Class::Model);
    let mut violations = Vec::new();
    let tool = (case.kind == "tool")
        .then_some(case.tool.as_deref())
        .flatten();
    if let Some(trip) = policy.check_allowed(
        case.environment,
        prices,
        case.model.as_deref().filter(|_| model_call),
        case.provider.as_deref().filter(|_| model_call),
        tool,
    ) {
        violations.push(trip.violation);
    }
    if model_call {
        violations.extend(model_violations(policy, prices, case));
    }
    // As at run time: in prod every governed call must say who called.
    if case.environment == Environment::Prod
        && (case.session.is_none() || case.user.is_none())
        && enabled(policy, Violation::MissingContext)
    {
        violations.push(Violation::MissingContext);
    }
    violations
}

/// What the guards raise on a model call: an unpriced model, and its usage against the limits.
fn model_violations(policy: &Policy, prices: &PriceTable, case: &Case) -> Vec<Violation> {
    let mut violations = Vec::new();
    let found = case
        .model
        .as_deref()
        .and_then(|m| prices.lookup(m, case.provider.as_deref()));
    if found.is_none() && enabled(policy, Violation::UnpricedModel) {
        violations.push(Violation::UnpricedModel);
    }
    if let Some(usage) = case.usage.as_ref().map(Usage::from) {
        let generates = matches!(case.kind.as_str(), "chat" | "text_completion");
        let max_input = found.and_then(|p| p.max_input_tokens());
        violations.extend(
            policy
                .check_usage(generates, &usage, max_input)
                .into_iter()
                .map(|t| t.violation),
        );
    }
    violations
}

/// What the policy's Rego rules see of the call: the case, its exact cost when priced, and the
/// codes the guards raised.
fn rego_input<'a>(prices: &PriceTable, case: &'a Case, violations: &[Violation]) -> CallInput<'a> {
    let usage = case.usage.as_ref().map(Usage::from);
    let cost = match (&case.model, &usage) {
        (Some(model), Some(usage)) => prices
            .price(
                model,
                case.provider.as_deref(),
                usage,
                govops_core::ServiceTier::Standard,
            )
            .ok()
            .and_then(|p| p.total_usd())
            .and_then(|c| rust_decimal::prelude::ToPrimitive::to_f64(&c)),
        _ => None,
    };
    let mut input = CallInput::new(operation_name(&case.kind), case.environment.as_str());
    input.model = case.model.as_deref();
    input.provider = case.provider.as_deref();
    input.tool = case.tool.as_deref().filter(|_| case.kind == "tool");
    input.agent = case.agent.as_deref().filter(|_| case.kind == "agent");
    input.service = case.service.as_deref();
    input.cost_center = case.cost_center.as_deref();
    input.session = case.session.as_deref();
    input.user = case.user.as_deref();
    input.usage = usage.as_ref().map(UsageInput::from);
    input.cost_usd = cost;
    input.violations = violations.iter().map(|v| v.code()).collect();
    input
}

/// The `gen_ai.operation.name` of a case's kind.
fn operation_name(kind: &str) -> &str {
    match kind {
        "tool" => "execute_tool",
        "agent" => "invoke_agent",
        "workflow" => "invoke_workflow",
        other => other,
    }
}

fn run_case(policy: &Policy, prices: &PriceTable, line: usize, text: &str) -> Outcome {
    let failed = |name: String, why: String| Outcome {
        line,
        name,
        expected: String::new(),
        decision: "",
        violations: Vec::new(),
        passed: false,
        why: Some(why),
    };
    if let Err(error) = govops_core::json::unique_keys(text) {
        return failed(format!("line {line}"), format!("not a valid case: {error}"));
    }
    let case: Case = match serde_json::from_str(text) {
        Ok(case) => case,
        Err(error) => {
            return failed(
                format!("line {line}"),
                format!(
                    "not a valid case: {}",
                    govops_core::quote::bounded(&error.to_string())
                ),
            );
        }
    };
    let name = case.name.clone().unwrap_or_else(|| format!("line {line}"));
    if govops_protocol::kind(&case.kind).is_none() {
        return failed(
            name,
            format!(
                "kind {:?} is not one of {}",
                case.kind,
                KINDS.map(|k| k.attribute).join(", ")
            ),
        );
    }
    let Ok(expected) = case.expect.parse::<Decision>() else {
        let other = &case.expect;
        return failed(name, format!("expect {other:?} is not allow, flag or deny"));
    };
    let mut expected_codes = BTreeSet::new();
    for code in case.violations.iter().flatten() {
        match Violation::from_code(code) {
            Some(v) => {
                expected_codes.insert(v.code());
            }
            None => {
                return failed(
                    name,
                    format!("{code:?} is not a violation code of the contract"),
                );
            }
        }
    }
    let (decision, violations, problems) = evaluate(policy, prices, &case);
    let codes: Vec<&'static str> = violations.iter().map(|v| v.code()).collect();
    let got: BTreeSet<&str> = codes.iter().copied().collect();
    let mut why = problems;
    if decision != expected {
        why.push(format!("decision {decision}, expected {expected}"));
    }
    if case.violations.is_some() && got != expected_codes {
        why.push(format!("violations {codes:?}, expected {expected_codes:?}"));
    }
    Outcome {
        line,
        name,
        expected: case.expect,
        decision: decision.as_str(),
        violations: codes,
        passed: why.is_empty(),
        why: (!why.is_empty()).then(|| why.join("; ")),
    }
}

/// `govops check policy --policy FILE [--cases FILE.jsonl]`: exit 0 when the policy is valid and
/// every case decides as expected, 1 otherwise, 2 when an input cannot be read.
pub(crate) fn check(
    policy_path: &Path,
    cases: Option<&Path>,
    prices: &PriceTable,
    format: Format,
) -> ExitCode {
    let text =
        match govops_core::input::read_text_bounded(policy_path, govops_core::input::POLICY_MAX) {
            Ok(text) => text,
            Err(error) => {
                err!(
                    "govops: cannot read --policy {}; a TOML policy file is accepted",
                    esc(&error.to_string())
                );
                return ExitCode::from(BAD_INPUT);
            }
        };
    let shown = policy_path.display().to_string();
    let (policy, problems) = match Policy::parse_in(&text, prices, policy_path.parent()) {
        Ok(policy) => (Some(policy), Vec::new()),
        Err(problems) => (
            None,
            problems
                .iter()
                .map(|p| match p.line {
                    Some(line) => format!("{shown}:{line}: {}", p.problem),
                    None => format!("{shown}: {}", p.problem),
                })
                .collect(),
        ),
    };
    let mut outcomes = Vec::new();
    if let (Some(policy), Some(cases)) = (&policy, cases) {
        let cases_text =
            match govops_core::input::read_text_bounded(cases, govops_core::input::DATA_MAX) {
                Ok(text) => text,
                Err(error) => {
                    err!(
                        "govops: cannot read --cases {}; JSON lines of calls are accepted",
                        esc(&error.to_string())
                    );
                    return ExitCode::from(BAD_INPUT);
                }
            };
        for (index, line) in cases_text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            outcomes.push(run_case(policy, prices, index + 1, line));
        }
    }
    let passed = problems.is_empty() && outcomes.iter().all(|o| o.passed);
    let mut stdout = out::stdout();
    let written = match format {
        Format::Json => out::json(
            &mut stdout,
            &Report {
                policy: &shown,
                problems,
                cases: outcomes,
            },
            true,
        ),
        Format::Text => write_text(&mut stdout, &shown, &problems, &outcomes),
    };
    let code = if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    };
    out::finish(&mut stdout, written, code)
}

fn write_text(
    out: &mut impl Write,
    shown: &str,
    problems: &[String],
    outcomes: &[Outcome],
) -> io::Result<()> {
    let shown = esc(shown);
    if problems.is_empty() {
        writeln!(out, "govops: {shown} is a valid policy")?;
    } else {
        writeln!(out, "govops: {shown} is not a valid policy:")?;
        for problem in problems {
            writeln!(out, "  - {}", esc_lines(problem))?;
        }
    }
    for o in outcomes {
        match &o.why {
            None => writeln!(out, "  ok    {} ({})", esc(&o.name), o.decision)?,
            Some(why) => writeln!(
                out,
                "  FAIL  {} (line {}): {}",
                esc(&o.name),
                o.line,
                esc(why)
            )?,
        }
    }
    if !outcomes.is_empty() {
        let failed = outcomes.iter().filter(|o| !o.passed).count();
        writeln!(
            out,
            "govops: {} case(s), {} passed, {failed} failed",
            outcomes.len(),
            outcomes.len() - failed
        )?;
    }
    Ok(())
}
