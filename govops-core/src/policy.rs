//! Policy-as-code: the file `GOVOPS_POLICY` names, in TOML.
//!
//! ```toml
//! [guards.context_overflow]
//! action = "flag"          # off, flag or deny
//! percent = 90             # of the model's max input tokens
//!
//! [guards.token_waste]
//! action = "flag"
//! ratio = 5                # input:output above this trips
//!
//! [capture]
//! content = false          # unset: OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT decides (default off)
//!
//! [guards.policy_rule_failed]
//! action = "flag"          # a call the Rego rules fail on (a limit of time or depth, an error)
//!
//! [rego]
//! file = "rules.rego"      # a .rego file in the policy's directory (or below it)
//!
//! [guards.model_drift]
//! action = "flag"          # "off" stops following drift at all
//!
//! [drift]
//! threshold = 0.5          # composite score (0..1) at which a model drifts
//! hysteresis = 0.1         # it stops drifting below threshold - hysteresis
//! warm_up = 200            # calls of a model before it is scored
//! baseline = "drift.json"  # restored at start-up, saved at shutdown (in the policy's directory)
//! weights = { latency = 0.6, output_tokens = 0.6, error_rate = 0.6, output_tokens_per_second = 0.4, cost_per_success = 0.4 }
//!
//! [environments.prod]
//! models = ["gpt-4o", "claude-sonnet-4-20250514"]
//! providers = ["openai", "anthropic"]
//! tools = ["search_orders", "refund"]
//!
//! [environments.prod.budgets]
//! request_usd = "0.50"     # USD as text, so that they stay exact
//! session_usd = "5"
//! ```
//!
//! Every section is optional; what is left out takes the contract's defaults (section 4). A file
//! that does not parse, names an unknown guard, action or model, or holds a value out of range is a
//! start-up gap naming the file, the line and the reason.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use rust_decimal::Decimal;
use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use crate::config::Environment;
use crate::drift::DriftConfig;
use crate::prices::PriceTable;
use crate::rego::Rego;
use crate::violation::{Decision, Violation};

/// What a guard does when it trips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The guard does not run.
    Off,
    /// The call goes on and carries the violation.
    Flag,
    /// The call is not executed (or, after the fact, is recorded as denied).
    Deny,
}

impl Action {
    /// The decision a trip comes to; `None` when the guard is off.
    #[must_use]
    pub fn decision(self) -> Option<Decision> {
        match self {
            Action::Off => None,
            Action::Flag => Some(Decision::Flag),
            Action::Deny => Some(Decision::Deny),
        }
    }

    fn of(decision: Decision) -> Self {
        match decision {
            Decision::Allow => Action::Off,
            Decision::Flag => Action::Flag,
            Decision::Deny => Action::Deny,
        }
    }
}

/// The guards' settings.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Guards {
    /// `context_overflow`: input tokens above `context_percent`% of the model's max input tokens.
    pub context_overflow: Action,
    /// The `context_overflow` threshold, in percent.
    pub context_percent: u8,
    /// `token_waste`: input:output above `waste_ratio`.
    pub token_waste: Action,
    /// The `token_waste` ratio.
    pub waste_ratio: f64,
    /// `agent_loop`.
    pub agent_loop: Action,
    /// Tool calls allowed in one agent run.
    pub max_tool_calls: u32,
    /// Identical consecutive tool calls that trip the loop guard.
    pub max_repeats: u32,
    /// `budget_exceeded`.
    pub budget: Action,
    /// `pii_detected`.
    pub pii: Action,
    /// `secret_detected`.
    pub secrets: Action,
    /// `model_not_allowed`, `provider_not_allowed`, `tool_not_allowed`.
    pub allow_lists: Action,
    /// `missing_context`.
    pub missing_context: Action,
    /// `unpriced_model`.
    pub unpriced_model: Action,
    /// `model_drift` (`off` also stops following drift at all).
    pub model_drift: Action,
    /// `policy_rule_failed`: what a call comes to when the policy's Rego rules fail on it.
    pub policy_rule_failed: Action,
}

impl Default for Guards {
    fn default() -> Self {
        let default = |v: Violation| Action::of(v.default_decision());
        Self {
            context_overflow: default(Violation::ContextOverflow),
            context_percent: 90,
            token_waste: default(Violation::TokenWaste),
            waste_ratio: 5.0,
            agent_loop: default(Violation::AgentLoop),
            max_tool_calls: 10,
            max_repeats: 3,
            budget: default(Violation::BudgetExceeded),
            pii: default(Violation::PiiDetected),
            secrets: default(Violation::SecretDetected),
            allow_lists: default(Violation::ModelNotAllowed),
            missing_context: default(Violation::MissingContext),
            unpriced_model: default(Violation::UnpricedModel),
            model_drift: default(Violation::ModelDrift),
            policy_rule_failed: default(Violation::PolicyRuleFailed),
        }
    }
}

impl Guards {
    /// What the policy does when `violation` is raised.
    #[must_use]
    pub fn action(&self, violation: Violation) -> Action {
        match violation {
            Violation::AgentLoop => self.agent_loop,
            Violation::ContextOverflow => self.context_overflow,
            Violation::TokenWaste => self.token_waste,
            Violation::BudgetExceeded => self.budget,
            Violation::ModelNotAllowed
            | Violation::ToolNotAllowed
            | Violation::ProviderNotAllowed => self.allow_lists,
            Violation::PiiDetected => self.pii,
            Violation::SecretDetected => self.secrets,
            Violation::MissingContext => self.missing_context,
            Violation::UnpricedModel => self.unpriced_model,
            Violation::ModelDrift => self.model_drift,
            Violation::PolicyRuleFailed => self.policy_rule_failed,
        }
    }
}

/// USD budgets, exact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Budgets {
    /// Per request.
    pub request_usd: Option<Decimal>,
    /// Per session.
    pub session_usd: Option<Decimal>,
    /// Per user.
    pub user_usd: Option<Decimal>,
    /// Per cost center and UTC day.
    pub cost_center_usd_per_day: Option<Decimal>,
}

/// What one environment allows: `None` allows everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnvironmentRules {
    /// Models allowed, by price-table key as written in the policy.
    pub models: Option<Vec<String>>,
    /// Providers allowed.
    pub providers: Option<Vec<String>>,
    /// Tools allowed.
    pub tools: Option<Vec<String>>,
    /// Budgets.
    pub budgets: Budgets,
}

/// A parsed policy.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Policy {
    /// Guard actions and thresholds.
    pub guards: Guards,
    /// Whether message content may be exported (`[capture] content`): `None` when the policy
    /// does not say, so that `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` decides
    /// (contract section 9); [`Config::capture_content`](crate::Config::capture_content) is the
    /// setting in force.
    pub capture_content: Option<bool>,
    /// Custom rules in Rego, evaluated on every governed call.
    pub rego: Option<Rego>,
    /// Drift detection settings (`[drift]`).
    pub drift: DriftConfig,
    /// The file drift baselines are restored from at start-up and saved to at shutdown
    /// (`[drift] baseline`, relative to the policy file).
    pub drift_baseline: Option<std::path::PathBuf>,
    environments: BTreeMap<Environment, EnvironmentRules>,
}

// Thresholds are validated finite and positive, so equality is an equivalence.
impl Eq for Policy {}

/// One thing wrong with a policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PolicyProblem {
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong and what would be accepted.
    pub problem: String,
}

impl fmt::Display for PolicyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.problem),
            None => f.write_str(&self.problem),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    guards: RawGuards,
    rego: Option<Spanned<RawRego>>,
    #[serde(default)]
    capture: RawCapture,
    #[serde(default)]
    drift: RawDrift,
    #[serde(default)]
    environments: RawEnvironments,
}

/// Merges `value` into what `slot` holds, or sets it when the slot is empty.
fn merge_into<T>(slot: &mut Option<T>, value: Option<T>, merge: fn(&mut T, T)) {
    match (slot.as_mut(), value) {
        (Some(held), Some(more)) => merge(held, more),
        (None, value) => *slot = value,
        (Some(_), None) => {}
    }
}

/// Sets `slot` to `value` when there is one.
fn keep<T>(slot: &mut Option<T>, value: Option<T>) {
    if value.is_some() {
        *slot = value;
    }
}

impl RawPolicy {
    /// Takes what `part` (a policy deserialized from part of the file) sets.
    fn merge(&mut self, part: RawPolicy) {
        let (g, mine) = (part.guards, &mut self.guards);
        for (slot, value) in [
            (&mut mine.context_overflow, g.context_overflow),
            (&mut mine.token_waste, g.token_waste),
            (&mut mine.agent_loop, g.agent_loop),
            (&mut mine.budget, g.budget),
            (&mut mine.pii, g.pii),
            (&mut mine.secrets, g.secrets),
            (&mut mine.allow_lists, g.allow_lists),
            (&mut mine.missing_context, g.missing_context),
            (&mut mine.unpriced_model, g.unpriced_model),
            (&mut mine.model_drift, g.model_drift),
            (&mut mine.policy_rule_failed, g.policy_rule_failed),
        ] {
            merge_into(slot, value, RawGuard::merge);
        }
        keep(&mut self.rego, part.rego);
        keep(&mut self.capture.content, part.capture.content);
        self.drift.merge(part.drift);
        let (e, mine) = (part.environments, &mut self.environments);
        for (slot, value) in [
            (&mut mine.dev, e.dev),
            (&mut mine.test, e.test),
            (&mut mine.staging, e.staging),
            (&mut mine.prod, e.prod),
        ] {
            merge_into(slot, value, RawEnvironment::merge);
        }
    }
}

impl RawGuard {
    fn merge(&mut self, part: RawGuard) {
        keep(&mut self.action, part.action);
        keep(&mut self.percent, part.percent);
        keep(&mut self.ratio, part.ratio);
        keep(&mut self.max_tool_calls, part.max_tool_calls);
        keep(&mut self.max_repeats, part.max_repeats);
    }
}

impl RawEnvironment {
    fn merge(&mut self, part: RawEnvironment) {
        keep(&mut self.models, part.models);
        keep(&mut self.providers, part.providers);
        keep(&mut self.tools, part.tools);
        let (b, mine) = (part.budgets, &mut self.budgets);
        keep(&mut mine.request_usd, b.request_usd);
        keep(&mut mine.session_usd, b.session_usd);
        keep(&mut mine.user_usd, b.user_usd);
        keep(&mut mine.cost_center_usd_per_day, b.cost_center_usd_per_day);
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawGuards {
    context_overflow: Option<RawGuard>,
    token_waste: Option<RawGuard>,
    agent_loop: Option<RawGuard>,
    budget: Option<RawGuard>,
    pii: Option<RawGuard>,
    secrets: Option<RawGuard>,
    allow_lists: Option<RawGuard>,
    missing_context: Option<RawGuard>,
    unpriced_model: Option<RawGuard>,
    model_drift: Option<RawGuard>,
    policy_rule_failed: Option<RawGuard>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawGuard {
    action: Option<Action>,
    percent: Option<Spanned<i64>>,
    ratio: Option<Spanned<f64>>,
    max_tool_calls: Option<Spanned<i64>>,
    max_repeats: Option<Spanned<i64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRego {
    /// A `.rego` file, relative to the policy file.
    file: Option<String>,
    /// The rules inline.
    rules: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCapture {
    content: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDrift {
    threshold: Option<Spanned<f64>>,
    hysteresis: Option<Spanned<f64>>,
    warm_up: Option<Spanned<i64>>,
    baseline: Option<Spanned<String>>,
    #[serde(default)]
    weights: RawWeights,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawWeights {
    latency: Option<f64>,
    output_tokens: Option<f64>,
    error_rate: Option<f64>,
    output_tokens_per_second: Option<f64>,
    cost_per_success: Option<f64>,
}

impl RawWeights {
    /// The weights in `drift::Signal::ALL` order.
    fn values(&self) -> [Option<f64>; 5] {
        [
            self.latency,
            self.output_tokens,
            self.error_rate,
            self.output_tokens_per_second,
            self.cost_per_success,
        ]
    }

    fn from_values(
        [
            latency,
            output_tokens,
            error_rate,
            output_tokens_per_second,
            cost_per_success,
        ]: [Option<f64>; 5],
    ) -> Self {
        Self {
            latency,
            output_tokens,
            error_rate,
            output_tokens_per_second,
            cost_per_success,
        }
    }
}

impl RawDrift {
    fn merge(&mut self, part: RawDrift) {
        keep(&mut self.threshold, part.threshold);
        keep(&mut self.hysteresis, part.hysteresis);
        keep(&mut self.warm_up, part.warm_up);
        keep(&mut self.baseline, part.baseline);
        let held = self.weights.values();
        let more = part.weights.values();
        self.weights = RawWeights::from_values(std::array::from_fn(|i| more[i].or(held[i])));
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawEnvironments {
    dev: Option<RawEnvironment>,
    test: Option<RawEnvironment>,
    staging: Option<RawEnvironment>,
    prod: Option<RawEnvironment>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawEnvironment {
    models: Option<Vec<Spanned<String>>>,
    providers: Option<Vec<String>>,
    tools: Option<Vec<String>>,
    #[serde(default)]
    budgets: RawBudgets,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawBudgets {
    request_usd: Option<Spanned<toml::Value>>,
    session_usd: Option<Spanned<toml::Value>>,
    user_usd: Option<Spanned<toml::Value>>,
    cost_center_usd_per_day: Option<Spanned<toml::Value>>,
}

/// A problem the TOML parser or deserializer found, at its line.
fn toml_problem(text: &str, error: &toml::de::Error) -> PolicyProblem {
    PolicyProblem {
        line: error.span().map(|span| line_of(text, span.start)),
        problem: crate::quote::bounded(error.message().trim()),
    }
}

/// The policy as written, and every problem its shape has: all syntax errors the parser recovers
/// from, then each section (and each entry of a section's table) deserialized alone, so that one
/// unknown guard or bad action does not hide the next. What deserializes is kept, so that the
/// checks of values still run on it.
///
/// # Errors
///
/// The syntax errors, when the text is not TOML.
fn raw_policy(text: &str) -> Result<(RawPolicy, Vec<PolicyProblem>), Vec<PolicyProblem>> {
    let (doc, syntax) = DeTable::parse_recoverable(text);
    if !syntax.is_empty() {
        return Err(syntax.iter().map(|e| toml_problem(text, e)).collect());
    }
    let whole = Spanned::new(doc.span(), DeValue::Table(doc.get_ref().clone()));
    if let Ok(raw) = RawPolicy::deserialize(ValueDeserializer::from(whole)) {
        return Ok((raw, Vec::new()));
    }
    let mut search = Search {
        text,
        span: doc.span(),
        path: Vec::new(),
        raw: RawPolicy::default(),
        problems: Vec::new(),
    };
    for (key, value) in doc.get_ref() {
        search.entry(key, value);
    }
    let Search {
        raw, mut problems, ..
    } = search;
    // An unknown section fails once for each of its entries, with the same message.
    problems.dedup_by(|a, b| a.line == b.line && a.problem == b.problem);
    Ok((raw, problems))
}

/// Looks for every problem in a policy that does not deserialize whole: each entry is
/// deserialized alone (inside the tables that lead to it); one that fails and is a table is
/// searched entry by entry, down to the values that fail.
struct Search<'t, 'i> {
    text: &'t str,
    span: std::ops::Range<usize>,
    /// The tables that lead to the entry being tried.
    path: Vec<(Spanned<Cow<'i, str>>, std::ops::Range<usize>)>,
    raw: RawPolicy,
    problems: Vec<PolicyProblem>,
}

impl<'i> Search<'_, 'i> {
    fn entry(&mut self, key: &Spanned<Cow<'i, str>>, value: &Spanned<DeValue<'i>>) {
        let mut table = alone(key, value);
        for (outer, span) in self.path.iter().rev() {
            table = alone(outer, &Spanned::new(span.clone(), DeValue::Table(table)));
        }
        let doc = Spanned::new(self.span.clone(), DeValue::Table(table));
        match RawPolicy::deserialize(ValueDeserializer::from(doc)) {
            Ok(part) => self.raw.merge(part),
            Err(error) => {
                let before = self.problems.len();
                if let DeValue::Table(entries) = value.get_ref() {
                    self.path.push((key.clone(), value.span()));
                    for (inner_key, inner) in entries {
                        self.entry(inner_key, inner);
                    }
                    self.path.pop();
                }
                if self.problems.len() == before {
                    self.problems.push(toml_problem(self.text, &error));
                }
            }
        }
    }
}

/// A table of one entry.
fn alone<'i>(key: &Spanned<Cow<'i, str>>, value: &Spanned<DeValue<'i>>) -> DeTable<'i> {
    let mut table = DeTable::new();
    table.insert(key.clone(), value.clone());
    table
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(0, |head| head.bytes().filter(|&b| b == b'\n').count())
        + 1
}

struct Checker<'a> {
    text: &'a str,
    problems: Vec<PolicyProblem>,
}

impl Checker<'_> {
    fn problem(&mut self, offset: usize, problem: String) {
        self.problems.push(PolicyProblem {
            line: Some(line_of(self.text, offset)),
            problem,
        });
    }

    /// The `[drift]` settings over the defaults, each value checked.
    fn drift(
        &mut self,
        raw: RawDrift,
        dir: Option<&std::path::Path>,
    ) -> (DriftConfig, Option<std::path::PathBuf>) {
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

    fn ranged(
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
        dir: Option<&std::path::Path>,
    ) -> Result<Policy, Vec<PolicyProblem>> {
        let (raw, problems) = raw_policy(text)?;
        let mut check = Checker { text, problems };
        let mut guards = Guards::default();
        let g = raw.guards;
        let set = |raw: Option<RawGuard>, slot: &mut Action| -> RawGuard {
            let raw = raw.unwrap_or_default();
            if let Some(action) = raw.action {
                *slot = action;
            }
            raw
        };
        let context = set(g.context_overflow, &mut guards.context_overflow);
        let waste = set(g.token_waste, &mut guards.token_waste);
        let agent = set(g.agent_loop, &mut guards.agent_loop);
        set(g.budget, &mut guards.budget);
        set(g.pii, &mut guards.pii);
        set(g.secrets, &mut guards.secrets);
        set(g.allow_lists, &mut guards.allow_lists);
        set(g.missing_context, &mut guards.missing_context);
        set(g.unpriced_model, &mut guards.unpriced_model);
        set(g.model_drift, &mut guards.model_drift);
        set(g.policy_rule_failed, &mut guards.policy_rule_failed);
        for (name, raw) in [
            ("context_overflow", &context),
            ("token_waste", &waste),
            ("agent_loop", &agent),
        ] {
            let misplaced = match name {
                "context_overflow" => {
                    raw.ratio.is_some() || raw.max_tool_calls.is_some() || raw.max_repeats.is_some()
                }
                "token_waste" => {
                    raw.percent.is_some()
                        || raw.max_tool_calls.is_some()
                        || raw.max_repeats.is_some()
                }
                _ => raw.percent.is_some() || raw.ratio.is_some(),
            };
            if misplaced {
                check.problems.push(PolicyProblem {
                    line: None,
                    problem: format!(
                        "guards.{name} takes only: action{}",
                        match name {
                            "context_overflow" => ", percent",
                            "token_waste" => ", ratio",
                            _ => ", max_tool_calls, max_repeats",
                        }
                    ),
                });
            }
        }

        if let Some(percent) =
            check.ranged(context.percent, "guards.context_overflow.percent", 1, 100)
        {
            guards.context_percent = u8::try_from(percent).unwrap_or(90);
        }
        if let Some(ratio) = waste.ratio {
            let r = *ratio.get_ref();
            if r.is_finite() && r > 0.0 {
                guards.waste_ratio = r;
            } else {
                check.problem(
                    ratio.span().start,
                    format!("guards.token_waste.ratio is {r}; accepted: a number above 0 (e.g. 5)"),
                );
            }
        }
        if let Some(n) = check.ranged(
            agent.max_tool_calls,
            "guards.agent_loop.max_tool_calls",
            1,
            10_000,
        ) {
            guards.max_tool_calls = u32::try_from(n).unwrap_or(10);
        }
        if let Some(n) = check.ranged(agent.max_repeats, "guards.agent_loop.max_repeats", 2, 1_000)
        {
            guards.max_repeats = u32::try_from(n).unwrap_or(3);
        }
        let mut environments = BTreeMap::new();
        let e = raw.environments;
        for (environment, rules) in [
            (Environment::Dev, e.dev),
            (Environment::Test, e.test),
            (Environment::Staging, e.staging),
            (Environment::Prod, e.prod),
        ] {
            let Some(rules) = rules else { continue };
            let models = rules.models.map(|models| {
                models
                    .into_iter()
                    .filter_map(|model| {
                        let at = model.span().start;
                        let name = model.into_inner();
                        if prices.lookup(&name, None).is_some() {
                            Some(name)
                        } else {
                            let near = prices.nearest(&name, 3);
                            check.problem(
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
                    })
                    .collect()
            });
            let b = rules.budgets;
            let budgets = Budgets {
                request_usd: check.usd(b.request_usd, "budgets.request_usd"),
                session_usd: check.usd(b.session_usd, "budgets.session_usd"),
                user_usd: check.usd(b.user_usd, "budgets.user_usd"),
                cost_center_usd_per_day: check
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
        let rego = raw.rego.and_then(|rego| {
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
                            check.problem(at, problem);
                            return None;
                        }
                    }
                }
                (None, Some(rules)) => ("policy [rego] rules".to_owned(), rules),
                _ => {
                    check.problem(at, "[rego] takes either file = \"..\" or rules = \"\"\"..\"\"\"".to_owned());
                    return None;
                }
            };
            match Rego::compile(&name, &source) {
                Ok(rego) => Some(rego),
                Err(error) => {
                    check.problem(at, format!("the Rego rules are refused: {error}"));
                    None
                }
            }
        });
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
            environments,
        })
    }

    /// What `environment` allows; everything when the policy says nothing of it.
    #[must_use]
    pub fn rules(&self, environment: Environment) -> &EnvironmentRules {
        static ALLOW_ALL: EnvironmentRules = EnvironmentRules {
            models: None,
            providers: None,
            tools: None,
            budgets: Budgets {
                request_usd: None,
                session_usd: None,
                user_usd: None,
                cost_center_usd_per_day: None,
            },
        };
        self.environments.get(&environment).unwrap_or(&ALLOW_ALL)
    }
}

mod confine;

#[cfg(test)]
mod tests;

/// A figure a guard reports when it trips.
#[derive(Debug, Clone, PartialEq)]
pub enum Figure {
    /// A count.
    Int(i64),
    /// A ratio or a fraction.
    Double(f64),
    /// A name.
    Text(String),
}

/// A guard that tripped, with the figures that tripped it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Trip {
    /// The violation.
    pub violation: Violation,
    /// The figures, by attribute key.
    pub figures: Vec<(&'static str, Figure)>,
}

fn count(n: u64) -> Figure {
    Figure::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

impl Policy {
    /// The allow-lists of `environment` against a call: the first one it breaks, unless the
    /// policy turns them off.
    #[must_use]
    pub fn check_allowed(
        &self,
        environment: Environment,
        prices: &PriceTable,
        model: Option<&str>,
        provider: Option<&str>,
        tool: Option<&str>,
    ) -> Option<Trip> {
        if self.guards.allow_lists == Action::Off {
            return None;
        }
        let rules = self.rules(environment);
        // Built only for a trip: the common call allocates nothing.
        let env = || {
            (
                "deployment.environment.name",
                Figure::Text(environment.as_str().to_owned()),
            )
        };
        if let (Some(allowed), Some(model)) = (&rules.models, model) {
            // The name as listed first; the price table's entries (an alias, a provider prefix)
            // only when it is not.
            let ok = allowed.iter().any(|a| a == model) || {
                let found = prices.lookup(model, provider).map(std::ptr::from_ref);
                found.is_some()
                    && allowed
                        .iter()
                        .any(|a| prices.lookup(a, None).map(std::ptr::from_ref) == found)
            };
            if !ok {
                return Some(Trip {
                    violation: Violation::ModelNotAllowed,
                    figures: vec![
                        ("gen_ai.request.model", Figure::Text(model.to_owned())),
                        env(),
                    ],
                });
            }
        }
        if let (Some(allowed), Some(provider)) = (&rules.providers, provider)
            && !allowed.iter().any(|a| a == provider)
        {
            return Some(Trip {
                violation: Violation::ProviderNotAllowed,
                figures: vec![
                    ("gen_ai.provider.name", Figure::Text(provider.to_owned())),
                    env(),
                ],
            });
        }
        if let (Some(allowed), Some(tool)) = (&rules.tools, tool)
            && !allowed.iter().any(|a| a == tool)
        {
            return Some(Trip {
                violation: Violation::ToolNotAllowed,
                figures: vec![("gen_ai.tool.name", Figure::Text(tool.to_owned())), env()],
            });
        }
        None
    }

    /// The guards that judge a model call from its usage: `context_overflow` (against the
    /// model's `max_input`) and, for calls that generate, `token_waste`. Guards the policy turns
    /// off do not trip.
    #[must_use]
    pub fn check_usage(
        &self,
        generates: bool,
        usage: &crate::Usage,
        max_input: Option<u64>,
    ) -> Vec<Trip> {
        let guards = &self.guards;
        let mut trips = Vec::new();
        if guards.context_overflow != Action::Off
            && let Some(max) = max_input.filter(|&m| m > 0)
            // Above the threshold, in whole numbers: input × 100 > max × percent.
            && u128::from(usage.input) * 100 > u128::from(max) * u128::from(guards.context_percent)
        {
            #[allow(clippy::cast_precision_loss)] // a ratio, reported as a double
            let utilization = usage.input as f64 / max as f64;
            trips.push(Trip {
                violation: Violation::ContextOverflow,
                figures: vec![
                    ("gen_ai.usage.input_tokens", count(usage.input)),
                    ("govops.max_input_tokens", count(max)),
                    ("govops.context.utilization", Figure::Double(utilization)),
                    (
                        "govops.threshold_percent",
                        Figure::Int(i64::from(guards.context_percent)),
                    ),
                ],
            });
        }
        #[allow(clippy::cast_precision_loss)] // a ratio of counts, compared as doubles
        let wasteful = usage.input as f64 > guards.waste_ratio * usage.output as f64;
        if guards.token_waste != Action::Off && generates && usage.input > 0 && wasteful {
            trips.push(Trip {
                violation: Violation::TokenWaste,
                figures: vec![
                    ("gen_ai.usage.input_tokens", count(usage.input)),
                    ("gen_ai.usage.output_tokens", count(usage.output)),
                    ("govops.threshold_ratio", Figure::Double(guards.waste_ratio)),
                ],
            });
        }
        trips
    }

    /// What a call's violations come to under this policy: deny beats flag beats allow; a
    /// violation whose guard is off counts for nothing.
    #[must_use]
    pub fn decide(&self, violations: impl IntoIterator<Item = Violation>) -> Decision {
        violations
            .into_iter()
            .filter_map(|v| self.guards.action(v).decision())
            .max()
            .unwrap_or(Decision::Allow)
    }
}
