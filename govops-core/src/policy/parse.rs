//! Parsing: the raw policy's values checked one by one (ranges, models against the price table,
//! exact budgets, Rego, drift, the shared state), every problem kept with its line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use toml::Spanned;

use super::guards::RawGuards;
use super::raw::{RawDrift, RawEnvironments, RawRego, line_of, raw_policy};
use super::{Budgets, EnvironmentRules, Guards, Policy, PolicyProblem, confine};
use crate::config::Environment;
use crate::drift::DriftConfig;
use crate::prices::PriceTable;
use crate::rego::Rego;

/// Collects the problems of a policy's values, each at its line.
pub(super) struct Checker<'a> {
    text: &'a str,
    problems: Vec<PolicyProblem>,
}

impl Checker<'_> {
    pub(super) fn problem(&mut self, offset: usize, problem: String) {
        self.problems.push(PolicyProblem {
            line: Some(line_of(self.text, offset)),
            problem,
        });
    }

    /// The `[drift]` settings over the defaults, each value checked.
    fn drift(&mut self, raw: RawDrift, dir: Option<&Path>) -> (DriftConfig, Option<PathBuf>) {
        let mut config = DriftConfig::default();
        let w = &mut config.weights;
        let slots = [
            &mut w.latency,
            &mut w.output_tokens,
            &mut w.error_rate,
            &mut w.output_tokens_per_second,
            &mut w.cost_per_success,
        ];
        for (slot, value) in slots.into_iter().zip(raw.weights.values()) {
            if let Some(value) = value {
                *slot = value;
            }
        }
        let mut at = None;
        if let Some(threshold) = raw.threshold {
            at = Some(threshold.span().start);
            config.threshold = *threshold.get_ref();
        }
        if let Some(hysteresis) = raw.hysteresis {
            at = at.or(Some(hysteresis.span().start));
            config.hysteresis = *hysteresis.get_ref();
        }
        if let Some(warm_up) = raw.warm_up {
            at = at.or(Some(warm_up.span().start));
            match u64::try_from(*warm_up.get_ref()) {
                Ok(n) => config.warm_up = n,
                Err(_) => self.problem(
                    warm_up.span().start,
                    format!(
                        "drift.warm_up is {}; accepted: a whole number of calls, at least 15",
                        warm_up.get_ref()
                    ),
                ),
            }
        }
        if let Err(error) = config.validate() {
            let problem = format!("[drift]: {error}");
            match at {
                Some(at) => self.problem(at, problem),
                None => self.problems.push(PolicyProblem {
                    line: None,
                    problem,
                }),
            }
            config = DriftConfig::default();
        }
        // Written at shutdown as well as read: confined like every file a policy names.
        let baseline = raw.baseline.and_then(|file| {
            match confine::confine(dir, "drift.baseline", file.get_ref(), None) {
                Ok(path) => Some(path),
                Err(problem) => {
                    self.problem(file.span().start, problem);
                    None
                }
            }
        });
        (config, baseline)
    }

    pub(super) fn ranged(
        &mut self,
        value: Option<Spanned<i64>>,
        what: &str,
        min: i64,
        max: i64,
    ) -> Option<i64> {
        let value = value?;
        let n = *value.get_ref();
        if (min..=max).contains(&n) {
            Some(n)
        } else {
            self.problem(
                value.span().start,
                format!("{what} is {n}; accepted: a whole number from {min} to {max}"),
            );
            None
        }
    }

    fn usd(&mut self, value: Option<Spanned<toml::Value>>, what: &str) -> Option<Decimal> {
        let value = value?;
        let at = value.span().start;
        let parsed = match value.get_ref() {
            toml::Value::String(text) => text.trim().parse::<Decimal>().ok(),
            toml::Value::Integer(n) => Some(Decimal::from(*n)),
            toml::Value::Float(_) => {
                self.problem(
                    at,
                    format!(
                        "{what} is a floating-point number; write it as text (e.g. \"0.50\") so that it stays exact"
                    ),
                );
                return None;
            }
            _ => None,
        };
        match parsed {
            Some(usd) if usd > Decimal::ZERO => Some(usd),
            _ => {
                self.problem(
                    at,
                    format!("{what} is not a positive amount of USD; accepted: text such as \"0.50\" or a whole number"),
                );
                None
            }
        }
    }
}

impl Policy {
    /// Parses a policy, checking every model it names against `prices`.
    ///
    /// # Errors
    ///
    /// Every problem found, each with its line where known.
    pub fn parse(text: &str, prices: &PriceTable) -> Result<Policy, Vec<PolicyProblem>> {
        Self::parse_in(text, prices, None)
    }

    /// Like [`Policy::parse`], for a policy file in `dir`: a `[rego] file` is read from there.
    ///
    /// # Errors
    ///
    /// Every problem found, each with its line where known; a Rego rule that does not compile is
    /// one, with the compiler's file, line and reason.
    pub fn parse_in(
        text: &str,
        prices: &PriceTable,
        dir: Option<&Path>,
    ) -> Result<Policy, Vec<PolicyProblem>> {
        let (raw, problems) = raw_policy(text)?;
        let mut check = Checker { text, problems };
        let mut guards = check.guards(&raw.guards);
        let state = check.state(raw.state, &raw.guards, &mut guards.state_unavailable);
        let environments = check.environments(raw.environments, prices);
        let rego = raw.rego.and_then(|rego| check.rego(rego, dir));
        let (drift, drift_baseline) = check.drift(raw.drift, dir);
        if !check.problems.is_empty() {
            check.problems.sort_by_key(|p| p.line);
            return Err(check.problems);
        }
        Ok(Policy {
            guards,
            capture_content: raw.capture.content,
            rego,
            drift,
            drift_baseline,
            state,
            environments,
        })
    }
}

impl Checker<'_> {
    /// The guards' actions as the policy sets them, and their thresholds, each checked.
    fn guards(&mut self, raw: &RawGuards) -> Guards {
        let mut guards = Guards::default();
        guards.set_actions(raw);
        let context = raw.context_overflow.as_ref();
        let percent = context.and_then(|t| t.percent.clone());
        if let Some(percent) = self.ranged(percent, "guards.context_overflow.percent", 1, 100) {
            guards.context_percent = u8::try_from(percent).unwrap_or(90);
        }
        if let Some(ratio) = raw.token_waste.as_ref().and_then(|t| t.ratio.as_ref()) {
            let r = *ratio.get_ref();
            if r.is_finite() && r > 0.0 {
                guards.waste_ratio = r;
            } else {
                self.problem(
                    ratio.span().start,
                    format!("guards.token_waste.ratio is {r}; accepted: a number above 0 (e.g. 5)"),
                );
            }
        }
        let agent = raw.agent_loop.as_ref();
        let calls = agent.and_then(|t| t.max_tool_calls.clone());
        if let Some(n) = self.ranged(calls, "guards.agent_loop.max_tool_calls", 1, 10_000) {
            guards.max_tool_calls = u32::try_from(n).unwrap_or(10);
        }
        let repeats = agent.and_then(|t| t.max_repeats.clone());
        if let Some(n) = self.ranged(repeats, "guards.agent_loop.max_repeats", 2, 1_000) {
            guards.max_repeats = u32::try_from(n).unwrap_or(3);
        }
        guards
    }

    /// Each environment's allow-lists and budgets; a model the price table does not know is a
    /// problem, with the nearest names it does.
    fn environments(
        &mut self,
        raw: RawEnvironments,
        prices: &PriceTable,
    ) -> BTreeMap<Environment, EnvironmentRules> {
        let mut environments = BTreeMap::new();
        for (environment, rules) in [
            (Environment::Dev, raw.dev),
            (Environment::Test, raw.test),
            (Environment::Staging, raw.staging),
            (Environment::Prod, raw.prod),
        ] {
            let Some(rules) = rules else { continue };
            let models = rules.models.map(|models| {
                models
                    .into_iter()
                    .filter_map(|model| self.known_model(environment, model, prices))
                    .collect()
            });
            let b = rules.budgets;
            let budgets = Budgets {
                request_usd: self.usd(b.request_usd, "budgets.request_usd"),
                session_usd: self.usd(b.session_usd, "budgets.session_usd"),
                user_usd: self.usd(b.user_usd, "budgets.user_usd"),
                cost_center_usd_per_day: self
                    .usd(b.cost_center_usd_per_day, "budgets.cost_center_usd_per_day"),
            };
            environments.insert(
                environment,
                EnvironmentRules {
                    models,
                    providers: rules.providers,
                    tools: rules.tools,
                    budgets,
                },
            );
        }
        environments
    }

    fn known_model(
        &mut self,
        environment: Environment,
        model: Spanned<String>,
        prices: &PriceTable,
    ) -> Option<String> {
        let at = model.span().start;
        let name = model.into_inner();
        if prices.lookup(&name, None).is_some() {
            return Some(name);
        }
        let near = prices.nearest(&name, 3);
        self.problem(
            at,
            format!(
                "environments.{environment}.models names {}, which the price table does not know{}",
                crate::quote::bounded(&format!("{name:?}")),
                if near.is_empty() {
                    String::new()
                } else {
                    format!("; did you mean {}?", near.join(", "))
                }
            ),
        );
        None
    }

    /// `[rego]`: the rules from a file in the policy's directory or inline, compiled.
    fn rego(&mut self, rego: Spanned<RawRego>, dir: Option<&Path>) -> Option<Rego> {
        let at = rego.span().start;
        let rego = rego.into_inner();
        let (name, source) = match (rego.file, rego.rules) {
            (Some(file), None) => {
                let read = confine::confine(dir, "rego.file", &file, Some("rego")).and_then(|path| {
                    crate::input::read_text_bounded(&path, crate::input::REGO_MAX)
                        .map_err(|e| format!("rego.file {file:?} {}; accepted: a .rego file of UTF-8 text in the policy's directory", e.reason()))
                });
                match read {
                    Ok(source) => (file, source),
                    Err(problem) => {
                        self.problem(at, problem);
                        return None;
                    }
                }
            }
            (None, Some(rules)) => ("policy [rego] rules".to_owned(), rules),
            _ => {
                self.problem(
                    at,
                    "[rego] takes either file = \"..\" or rules = \"\"\"..\"\"\"".to_owned(),
                );
                return None;
            }
        };
        match Rego::compile(&name, &source) {
            Ok(rego) => Some(rego),
            Err(error) => {
                self.problem(at, format!("the Rego rules are refused: {error}"));
                None
            }
        }
    }
}
