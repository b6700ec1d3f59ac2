//! Custom rules in Rego, evaluated in-process with `regorus` over a document describing the call.
//!
//! A rule set is a Rego module in `package govops` that may define `violations` (a set of the
//! contract's violation codes) and `decision` (`"allow"`, `"flag"` or `"deny"`):
//!
//! ```rego
//! package govops
//! import rego.v1
//!
//! violations contains "model_not_allowed" if {
//!     input.environment == "prod"
//!     startswith(input.model, "gpt-3.5")
//! }
//!
//! decision := "deny" if input.cost_usd > 0.50
//! ```
//!
//! The input document: `operation`, `model`, `provider`, `tool`, `agent`, `environment`,
//! `service`, `cost_center`, `session`, `user` (strings or null), `usage` (`input`, `output`,
//! `cache_read`, `cache_creation`, `reasoning`) and `cost_usd` (a number, or null when unpriced),
//! and `violations` (the codes raised so far).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use crate::violation::{Decision, Violation};

/// A compiled rule set: its source is kept, and each thread compiles its own engine from it once
/// (the engine is not shared between threads).
#[derive(Debug, Clone)]
pub struct Rego {
    /// Tells this rule set's engines from another's in the per-thread cache, for the life of the
    /// process (an address could be reused by a later rule set).
    id: u64,
    name: Arc<str>,
    source: Arc<str>,
}

static COMPILED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl PartialEq for Rego {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.source == other.source
    }
}

impl Eq for Rego {}

/// What the rules said of one call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegoVerdict {
    /// The decision the rules set, when they set one.
    pub decision: Option<Decision>,
    /// The violations the rules raised.
    pub violations: Vec<Violation>,
    /// What the rules returned that is not what they may return (a code that is not the
    /// contract's, a decision other than allow, flag or deny, a value of the wrong type): ignored,
    /// each said here with what would be accepted.
    pub problems: Vec<String>,
}

/// The document a rule sees of one call: the same for the runtime and `govops check policy`.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[non_exhaustive]
pub struct CallInput<'a> {
    /// `gen_ai.operation.name`: `chat`, `execute_tool`, `invoke_agent`, ...
    pub operation: &'a str,
    /// The requested model.
    pub model: Option<&'a str>,
    /// The provider.
    pub provider: Option<&'a str>,
    /// The tool, for a tool call.
    pub tool: Option<&'a str>,
    /// The agent, for an agent.
    pub agent: Option<&'a str>,
    /// `dev`, `test`, `staging` or `prod`.
    pub environment: &'a str,
    /// The application (`service.name`).
    pub service: Option<&'a str>,
    /// The cost center.
    pub cost_center: Option<&'a str>,
    /// The session id, when known.
    pub session: Option<&'a str>,
    /// The user id, when known.
    pub user: Option<&'a str>,
    /// The reported usage.
    pub usage: Option<UsageInput>,
    /// The exact cost as a number, when priced.
    pub cost_usd: Option<f64>,
    /// The codes raised so far.
    pub violations: Vec<&'static str>,
}

impl<'a> CallInput<'a> {
    /// A call of `operation` in `environment`; the rest is set field by field.
    #[must_use]
    pub fn new(operation: &'a str, environment: &'a str) -> Self {
        CallInput {
            operation,
            environment,
            ..CallInput::default()
        }
    }
}

/// A call's token counts as rules see them.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct UsageInput {
    /// Input tokens.
    pub input: u64,
    /// Output tokens.
    pub output: u64,
    /// Input tokens read from the cache.
    pub cache_read: u64,
    /// Input tokens written to the cache (both lifetimes).
    pub cache_creation: u64,
    /// Reasoning tokens.
    pub reasoning: u64,
}

impl From<&crate::usage::Usage> for UsageInput {
    fn from(u: &crate::usage::Usage) -> Self {
        UsageInput {
            input: u.input,
            output: u.output,
            cache_read: u.cache_read,
            cache_creation: u.cache_creation.saturating_add(u.cache_creation_1h),
            reasoning: u.reasoning,
        }
    }
}

/// Whether an evaluation error says the rule is not defined (each rule is optional).
fn is_missing(message: &str) -> bool {
    ["not found", "undefined", "not a valid rule path"]
        .iter()
        .any(|m| message.contains(m))
}

/// The contract's codes, for messages.
fn codes() -> String {
    Violation::ALL
        .iter()
        .map(|v| v.code())
        .collect::<Vec<_>>()
        .join(", ")
}

thread_local! {
    static ENGINES: RefCell<HashMap<u64, regorus::Engine>> = RefCell::new(HashMap::new());
}

fn engine_for(name: &str, source: &str) -> Result<regorus::Engine, String> {
    let mut engine = regorus::Engine::new();
    engine
        .add_policy(name.to_owned(), source.to_owned())
        .map_err(|e| e.to_string())?;
    Ok(engine)
}

impl Rego {
    /// Compiles `source` (named `name` in messages).
    ///
    /// # Errors
    ///
    /// The compiler's message, with the file, line and column of the problem.
    pub fn compile(name: &str, source: &str) -> Result<Rego, String> {
        let mut engine = engine_for(name, source)?;
        // Both rules are optional; evaluating them on an empty input checks they are well formed.
        engine.set_input(regorus::Value::new_object());
        for rule in ["data.govops.violations", "data.govops.decision"] {
            if let Err(e) = engine.eval_rule(rule.to_owned()) {
                let message = e.to_string();
                // Each rule is optional: a module that defines only one of them is fine.
                if !is_missing(&message) {
                    return Err(message);
                }
            }
        }
        Ok(Rego {
            id: COMPILED.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            name: name.into(),
            source: source.into(),
        })
    }

    /// The rule set's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Evaluates the rules over the document describing one call.
    ///
    /// # Errors
    ///
    /// What went wrong evaluating them.
    pub fn evaluate_call(&self, input: &CallInput<'_>) -> Result<RegoVerdict, String> {
        let json = serde_json::to_string(input).map_err(|e| e.to_string())?;
        self.evaluate(&json)
    }

    /// Evaluates the rules over `input` (a JSON document).
    ///
    /// # Errors
    ///
    /// What went wrong evaluating them (a runtime error in a rule).
    pub fn evaluate(&self, input: &str) -> Result<RegoVerdict, String> {
        let key = self.id;
        ENGINES.with(|engines| {
            let mut engines = engines.try_borrow_mut().map_err(|e| e.to_string())?;
            // A process loads one policy; tests and reloads load more: keep the cache small.
            if engines.len() >= 8 && !engines.contains_key(&key) {
                engines.clear();
            }
            let engine = match engines.entry(key) {
                std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
                std::collections::hash_map::Entry::Vacant(entry) => {
                    entry.insert(engine_for(&self.name, &self.source)?)
                }
            };
            engine.set_input(regorus::Value::from_json_str(input).map_err(|e| e.to_string())?);
            let mut verdict = RegoVerdict::default();
            match engine.eval_rule("data.govops.violations".to_owned()) {
                Ok(regorus::Value::Set(set)) => {
                    for item in set.iter() {
                        verdict.code(item);
                    }
                }
                Ok(regorus::Value::Array(array)) => {
                    for item in array.iter() {
                        verdict.code(item);
                    }
                }
                Ok(regorus::Value::Undefined) => {}
                Ok(other) => verdict.problems.push(format!(
                    "`violations` is {other}; a set of the contract's codes is accepted"
                )),
                Err(e) if is_missing(&e.to_string()) => {}
                Err(e) => verdict.problems.push(format!("`violations` failed: {e}")),
            }
            match engine.eval_rule("data.govops.decision".to_owned()) {
                Ok(regorus::Value::String(decision)) => match decision.as_ref() {
                    "allow" => verdict.decision = Some(Decision::Allow),
                    "flag" => verdict.decision = Some(Decision::Flag),
                    "deny" => verdict.decision = Some(Decision::Deny),
                    other => verdict.problems.push(format!(
                        "`decision` is {other:?}; \"allow\", \"flag\" or \"deny\" is accepted"
                    )),
                },
                Ok(regorus::Value::Undefined) => {}
                Ok(other) => verdict.problems.push(format!(
                    "`decision` is {other}; \"allow\", \"flag\" or \"deny\" is accepted"
                )),
                Err(e) if is_missing(&e.to_string()) => {}
                Err(e) => verdict.problems.push(format!("`decision` failed: {e}")),
            }
            Ok(verdict)
        })
    }
}

impl RegoVerdict {
    fn code(&mut self, item: &regorus::Value) {
        match item {
            regorus::Value::String(code) => match Violation::from_code(code) {
                Some(v) => {
                    if !self.violations.contains(&v) {
                        self.violations.push(v);
                    }
                }
                None => self.problems.push(format!(
                    "`violations` holds {code:?}, not a code of the contract; accepted: {}",
                    codes()
                )),
            },
            other => self.problems.push(format!(
                "`violations` holds {other}, not a string; accepted: {}",
                codes()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
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
}
