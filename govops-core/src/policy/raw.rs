//! The policy as written: serde's view of the TOML, every table `deny_unknown_fields`, and the
//! search that finds every problem of its shape at once, each at its line.

use std::borrow::Cow;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::PolicyProblem;
use super::guards::{self, RawGuards};
use super::state::RawState;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    #[serde(default)]
    pub(super) guards: RawGuards,
    pub(super) rego: Option<Spanned<RawRego>>,
    #[serde(default)]
    pub(super) capture: RawCapture,
    #[serde(default)]
    pub(super) drift: RawDrift,
    #[serde(default)]
    pub(super) state: RawState,
    #[serde(default)]
    pub(super) environments: RawEnvironments,
}

/// Merges `value` into what `slot` holds, or sets it when the slot is empty.
pub(super) fn merge_into<T>(slot: &mut Option<T>, value: Option<T>, merge: fn(&mut T, T)) {
    match (slot.as_mut(), value) {
        (Some(held), Some(more)) => merge(held, more),
        (None, value) => *slot = value,
        (Some(_), None) => {}
    }
}

/// Sets `slot` to `value` when there is one.
pub(super) fn keep<T>(slot: &mut Option<T>, value: Option<T>) {
    if value.is_some() {
        *slot = value;
    }
}

impl RawPolicy {
    /// Takes what `part` (a policy deserialized from part of the file) sets.
    fn merge(&mut self, part: RawPolicy) {
        self.guards.merge(part.guards);
        keep(&mut self.rego, part.rego);
        keep(&mut self.capture.content, part.capture.content);
        self.drift.merge(part.drift);
        self.state.merge(part.state);
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
pub(super) struct RawRego {
    /// A `.rego` file, relative to the policy file.
    pub(super) file: Option<String>,
    /// The rules inline.
    pub(super) rules: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCapture {
    pub(super) content: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDrift {
    pub(super) threshold: Option<Spanned<f64>>,
    pub(super) hysteresis: Option<Spanned<f64>>,
    pub(super) warm_up: Option<Spanned<i64>>,
    pub(super) baseline: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) weights: RawWeights,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWeights {
    pub(super) latency: Option<f64>,
    pub(super) output_tokens: Option<f64>,
    pub(super) error_rate: Option<f64>,
    pub(super) output_tokens_per_second: Option<f64>,
    pub(super) cost_per_success: Option<f64>,
}

impl RawWeights {
    /// The weights in `drift::Signal::ALL` order.
    pub(super) fn values(&self) -> [Option<f64>; 5] {
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
    pub(super) fn merge(&mut self, part: RawDrift) {
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
pub(super) struct RawEnvironments {
    pub(super) dev: Option<RawEnvironment>,
    pub(super) test: Option<RawEnvironment>,
    pub(super) staging: Option<RawEnvironment>,
    pub(super) prod: Option<RawEnvironment>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEnvironment {
    pub(super) models: Option<Vec<Spanned<String>>>,
    pub(super) providers: Option<Vec<String>>,
    pub(super) tools: Option<Vec<String>>,
    #[serde(default)]
    pub(super) budgets: RawBudgets,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBudgets {
    pub(super) request_usd: Option<Spanned<toml::Value>>,
    pub(super) session_usd: Option<Spanned<toml::Value>>,
    pub(super) user_usd: Option<Spanned<toml::Value>>,
    pub(super) cost_center_usd_per_day: Option<Spanned<toml::Value>>,
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
pub(super) fn raw_policy(
    text: &str,
) -> Result<(RawPolicy, Vec<PolicyProblem>), Vec<PolicyProblem>> {
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
                    let mut problem = toml_problem(self.text, &error);
                    let unknown = error.message().starts_with("unknown field");
                    if let Some(takes) = self.guard_takes().filter(|_| unknown) {
                        problem.problem = format!("{takes}; {}", problem.problem);
                    }
                    self.problems.push(problem);
                }
            }
        }
    }

    /// Inside `[guards.NAME]` of a known guard: what its table takes, to say before serde's
    /// "unknown field" (a key that belongs to another guard is the usual mistake).
    fn guard_takes(&self) -> Option<String> {
        let [(section, _), (guard, _)] = self.path.as_slice() else {
            return None;
        };
        if section.get_ref() != "guards" {
            return None;
        }
        let keys = guards::keys(guard.get_ref())?;
        Some(format!(
            "guards.{} takes only: {}",
            guard.get_ref(),
            keys.join(", ")
        ))
    }
}

/// A table of one entry.
fn alone<'i>(key: &Spanned<Cow<'i, str>>, value: &Spanned<DeValue<'i>>) -> DeTable<'i> {
    let mut table = DeTable::new();
    table.insert(key.clone(), value.clone());
    table
}

/// The 1-based line of a byte offset.
pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(0, |head| head.bytes().filter(|&b| b == b'\n').count())
        + 1
}
