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
    /// Codes the rules named that are not the contract's: ignored, reported here.
    pub unknown_codes: Vec<String>,
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
                let missing = ["not found", "undefined", "not a valid rule path"]
                    .iter()
                    .any(|m| message.contains(m));
                if !missing {
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
            if let Ok(codes) = engine.eval_rule("data.govops.violations".to_owned()) {
                let items: Vec<regorus::Value> = match &codes {
                    regorus::Value::Set(set) => set.iter().cloned().collect(),
                    regorus::Value::Array(array) => array.iter().cloned().collect(),
                    _ => Vec::new(),
                };
                for item in items {
                    if let regorus::Value::String(code) = item {
                        match Violation::from_code(&code) {
                            Some(v) => verdict.violations.push(v),
                            None => verdict.unknown_codes.push(code.to_string()),
                        }
                    }
                }
            }
            if let Ok(regorus::Value::String(decision)) =
                engine.eval_rule("data.govops.decision".to_owned())
            {
                verdict.decision = match decision.as_ref() {
                    "allow" => Some(Decision::Allow),
                    "flag" => Some(Decision::Flag),
                    "deny" => Some(Decision::Deny),
                    _ => None,
                };
            }
            Ok(verdict)
        })
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
