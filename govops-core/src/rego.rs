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
//!
//! The rules are untrusted code: the module must be `package govops` and define `violations` or
//! `decision` (a misspelt name would never be applied); each evaluation stops at
//! [`TIME_LIMIT`], a recursion stops well before the thread's stack is used up, and
//! `numbers.range` returns at most [`RANGE_MAX`] numbers (see the `limits` module). A rule set is
//! evaluated once on an empty input and on a sample call when it is loaded, so that rules that
//! cannot run are refused at start-up and by `govops check policy`; a call on which they fail
//! later is decided by `[guards.policy_rule_failed]` (flag by default). Messages give the file,
//! line and column of a problem, never the source text.

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

mod limits;

pub use limits::{RANGE_MAX, STRING_MAX, TIME_LIMIT, WIDTH_MAX};

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

/// The longest message of the Rego evaluator passed on.
const MESSAGE_MAX: usize = 600;

/// A regorus message without the source lines it quotes: `file:line:col: what`. The rules are
/// code another team wrote, and their text has no place in a terminal or a span; the location
/// says where to look.
fn without_source(message: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut at: Option<&str> = None;
    for line in message.lines() {
        let line = line.trim();
        if let Some(location) = line.strip_prefix("-->") {
            at = Some(location.trim());
        } else if !line.is_empty() && !is_quoted_source(line) {
            let what = line.strip_prefix("error: ").unwrap_or(line);
            parts.push(match at.take() {
                Some(location) => format!("{location}: {what}"),
                None => what.to_owned(),
            });
        }
    }
    let mut joined = parts.join("; ");
    if joined.len() > MESSAGE_MAX {
        let mut end = MESSAGE_MAX;
        while !joined.is_char_boundary(end) {
            end -= 1;
        }
        joined.truncate(end);
        joined.push_str("...");
    }
    joined
}

/// A line of a regorus message that quotes the source: `12 | text` or `   |   ^`.
fn is_quoted_source(line: &str) -> bool {
    line.split_once('|')
        .is_some_and(|(gutter, _)| gutter.trim().chars().all(|c| c.is_ascii_digit()))
}

thread_local! {
    static ENGINES: RefCell<HashMap<u64, regorus::Engine>> = RefCell::new(HashMap::new());
}

fn engine_for(name: &str, source: &str) -> Result<regorus::Engine, String> {
    let mut engine = regorus::Engine::new();
    engine.set_execution_timer_config(limits::timer());
    limits::cap_builtins(&mut engine)?;
    engine
        .add_policy(name.to_owned(), source.to_owned())
        .map_err(|e| without_source(&e.to_string()))?;
    Ok(engine)
}

/// A governed chat call in `prod`, for the evaluation every rule set gets when it is loaded.
const SAMPLE_CALL: &str = r#"{"operation": "chat", "model": "gpt-4o", "provider": "openai",
  "tool": null, "agent": null, "environment": "prod", "service": "checkout",
  "cost_center": "cc-1", "session": "s-1", "user": "u-1",
  "usage": {"input": 1200, "output": 300, "cache_read": 0, "cache_creation": 0, "reasoning": 0},
  "cost_usd": 0.006, "violations": []}"#;

impl Rego {
    /// Compiles `source` (named `name` in messages) and evaluates it once on an empty input and
    /// on a sample call, within the limits, so that rules that cannot run are refused here rather
    /// than on every call.
    ///
    /// # Errors
    ///
    /// The compiler's file, line, column and reason (never the source text); a module that is
    /// not `package govops` or defines neither `violations` nor `decision`; a rule that fails on
    /// those inputs or goes past a limit (time, depth, the size of a range).
    pub fn compile(name: &str, source: &str) -> Result<Rego, String> {
        let rego = Rego {
            id: COMPILED.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            name: name.into(),
            source: source.into(),
        };
        limits::bounded(|| rego.check()).unwrap_or_else(|failure| Err(failure.message()))?;
        Ok(rego)
    }

    /// What [`Rego::compile`] checks, on this thread.
    fn check(&self) -> Result<(), String> {
        let name = &*self.name;
        let mut engine = engine_for(name, &self.source)?;
        let package_line = self
            .source
            .lines()
            .position(|l| l.trim_start().starts_with("package"))
            .map_or(1, |i| i + 1);
        for package in engine
            .get_packages()
            .map_err(|e| without_source(&e.to_string()))?
        {
            if package != "data.govops" {
                return Err(format!(
                    "{name}:{package_line}: the module is `package {}`; accepted: `package govops` (rules in another package are never applied)",
                    package.trim_start_matches("data.")
                ));
            }
        }
        let defines = |rule: &str| {
            engine
                .has_declared_rule_rooted_at(name, rule)
                .unwrap_or(false)
        };
        if !defines("violations") && !defines("decision") {
            return Err(format!(
                "{name}:{package_line}: the module defines neither `violations` nor `decision`, so it would never be applied (a misspelt rule name?); accepted: a module that defines one of them or both"
            ));
        }
        for (what, input) in [("an empty input", "{}"), ("a sample call", SAMPLE_CALL)] {
            Self::run(&mut engine, input)
                .map_err(|error| format!("evaluated on {what}, {error}"))?;
        }
        Ok(())
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
    /// Why the rules could not decide the call: a rule failed or went past a limit.
    pub fn evaluate_call(&self, input: &CallInput<'_>) -> Result<RegoVerdict, String> {
        let json = serde_json::to_string(input).map_err(|e| e.to_string())?;
        self.evaluate(&json)
    }

    /// Evaluates the rules over `input` (a JSON document), within the limits of time and depth.
    ///
    /// # Errors
    ///
    /// Why the rules could not decide: a rule failed at run time, ran past [`TIME_LIMIT`],
    /// recursed past the depth limit, or built a range above [`RANGE_MAX`].
    pub fn evaluate(&self, input: &str) -> Result<RegoVerdict, String> {
        let key = self.id;
        let result = limits::bounded(|| {
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
                Self::run(engine, input)
            })
        });
        match result {
            Ok(verdict) => verdict,
            Err(failure) => {
                // The engine stopped part way: this thread compiles a fresh one next time.
                ENGINES.with(|engines| {
                    if let Ok(mut engines) = engines.try_borrow_mut() {
                        engines.remove(&key);
                    }
                });
                Err(failure.message())
            }
        }
    }

    /// Both rules over `input`, on `engine`, on the current (bounded) thread.
    fn run(engine: &mut regorus::Engine, input: &str) -> Result<RegoVerdict, String> {
        engine.set_input(regorus::Value::from_json_str(input).map_err(|e| e.to_string())?);
        let mut verdict = RegoVerdict::default();
        let failed = |rule: &str, error: &anyhow::Error| match limits::limit_of(error) {
            Some(failure) => failure.message(),
            None => format!("`{rule}` failed: {}", without_source(&error.to_string())),
        };
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
                "`violations` is {}; a set of the contract's codes is accepted",
                shown(&other)
            )),
            Err(e) if limits::limit_of(&e).is_none() && is_missing(&e.to_string()) => {}
            Err(e) => return Err(failed("violations", &e)),
        }
        match engine.eval_rule("data.govops.decision".to_owned()) {
            Ok(regorus::Value::String(decision)) => match decision.parse::<Decision>() {
                Ok(decision) => verdict.decision = Some(decision),
                Err(_) => verdict.problems.push(format!(
                    "`decision` is {}; \"allow\", \"flag\" or \"deny\" is accepted",
                    shown(&regorus::Value::from(decision.as_ref()))
                )),
            },
            Ok(regorus::Value::Undefined) => {}
            Ok(other) => verdict.problems.push(format!(
                "`decision` is {}; \"allow\", \"flag\" or \"deny\" is accepted",
                shown(&other)
            )),
            Err(e) if limits::limit_of(&e).is_none() && is_missing(&e.to_string()) => {}
            Err(e) => return Err(failed("decision", &e)),
        }
        // An error the rules swallowed (`not f(x)`) still left them past the depth limit.
        if limits::too_deep() {
            return Err(limits::Failure::Depth.message());
        }
        Ok(verdict)
    }
}

/// A value a rule returned, as a message shows it: at most 80 characters.
fn shown(value: &regorus::Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= 80 {
        return text;
    }
    let head: String = text.chars().take(80).collect();
    format!("{head}...")
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
                    "`violations` holds {}, not a code of the contract; accepted: {}",
                    shown(item),
                    codes()
                )),
            },
            other => self.problems.push(format!(
                "`violations` holds {}, not a string; accepted: {}",
                shown(other),
                codes()
            )),
        }
    }
}

#[cfg(test)]
mod tests;
