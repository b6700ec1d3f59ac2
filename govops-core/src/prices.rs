//! The price table (contract section 7): parsed once, from its JSON text, into exact decimals.
//!
//! No price ever passes through `f64`: each number is read from its text (`3e-06` is exactly
//! 0.000003). Fields govops does not price with are ignored, since the upstream table grows; the
//! fields it does use are checked, and every problem is reported at once, naming model and field.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock};

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::json::{Members, repeated_key};
use crate::usage::ServiceTier;

/// The table embedded in the crate (see `data/README.md` for its source and date).
pub const EMBEDDED_JSON: &str = include_str!("../data/model_prices_and_context_window.json");

/// A kind of rate in the table, named by its base key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rate {
    /// `input_cost_per_token`.
    Input,
    /// `cache_read_input_token_cost`.
    CacheRead,
    /// `input_cost_per_token_cache_hit`, the cache-read rate's older name.
    CacheHit,
    /// `cache_creation_input_token_cost`, 5-minute cache writes.
    CacheCreation,
    /// `cache_creation_input_token_cost_above_1hr`, 1-hour cache writes.
    CacheCreation1h,
    /// `output_cost_per_token`.
    Output,
    /// `output_cost_per_reasoning_token`.
    Reasoning,
}

impl Rate {
    /// Every rate, longest key first, so that a key is matched by its longest base.
    const BY_KEY_LENGTH: [Rate; 7] = [
        Rate::CacheCreation1h,
        Rate::Reasoning,
        Rate::CacheCreation,
        Rate::CacheHit,
        Rate::CacheRead,
        Rate::Output,
        Rate::Input,
    ];

    /// The base key in the table.
    #[must_use]
    pub const fn key(self) -> &'static str {
        match self {
            Rate::Input => "input_cost_per_token",
            Rate::CacheRead => "cache_read_input_token_cost",
            Rate::CacheHit => "input_cost_per_token_cache_hit",
            Rate::CacheCreation => "cache_creation_input_token_cost",
            Rate::CacheCreation1h => "cache_creation_input_token_cost_above_1hr",
            Rate::Output => "output_cost_per_token",
            Rate::Reasoning => "output_cost_per_reasoning_token",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// The service-tier variants of one rate: batch, flex, priority.
type ServiceRates = [Option<Decimal>; 3];

fn service_index(tier: ServiceTier) -> Option<usize> {
    match tier {
        ServiceTier::Standard => None,
        ServiceTier::Batch => Some(0),
        ServiceTier::Flex => Some(1),
        ServiceTier::Priority => Some(2),
    }
}

/// A long-context tier of a rate: it applies when input is above `above_k` × 1000 tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Tier {
    above_k: u64,
    rate: Option<Decimal>,
    service: ServiceRates,
}

/// One rate with its tiers and service variants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct RateSet {
    base: Option<Decimal>,
    service: ServiceRates,
    /// Ascending by `above_k`.
    tiers: Vec<Tier>,
}

/// Which key of the table a figure was priced with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateKey {
    /// The base rate.
    pub rate: Rate,
    /// The long-context tier, `N` of `_above_{N}k_tokens`, when one applied.
    pub above_k: Option<u64>,
    /// The service tier, when its own rate applied.
    pub service: Option<ServiceTier>,
}

impl fmt::Display for RateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.rate.key())?;
        if let Some(k) = self.above_k {
            write!(f, "_above_{k}k_tokens")?;
        }
        if let Some(suffix) = self.service.and_then(ServiceTier::suffix) {
            f.write_str(suffix)?;
        }
        Ok(())
    }
}

/// The prices and limits of one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPrices {
    key: String,
    provider: Option<String>,
    mode: Option<String>,
    max_input_tokens: Option<u64>,
    max_output_tokens: Option<u64>,
    rates: [RateSet; 7],
}

impl ModelPrices {
    /// The model's key in the table.
    #[must_use]
    pub fn key(&self) -> &str {
        &self.key
    }

    /// `litellm_provider`, when the table names one.
    #[must_use]
    pub fn provider(&self) -> Option<&str> {
        self.provider.as_deref()
    }

    /// `mode` (`chat`, `embedding`, …), when the table names one.
    #[must_use]
    pub fn mode(&self) -> Option<&str> {
        self.mode.as_deref()
    }

    /// The most input tokens the model accepts (the context guard's denominator).
    #[must_use]
    pub fn max_input_tokens(&self) -> Option<u64> {
        self.max_input_tokens
    }

    /// The most output tokens the model produces.
    #[must_use]
    pub fn max_output_tokens(&self) -> Option<u64> {
        self.max_output_tokens
    }

    /// The base rate of `rate`, USD per token, when the table has it.
    #[must_use]
    pub fn base_rate(&self, rate: Rate) -> Option<Decimal> {
        self.rates[rate.index()].base
    }

    /// The rate that prices `rate`'s tokens for a call with `input` tokens in `tier`: the highest
    /// long-context tier passed, then its service variant, each where the table has it.
    #[must_use]
    #[inline]
    pub fn rate_for(
        &self,
        rate: Rate,
        input: u64,
        tier: ServiceTier,
    ) -> Option<(Decimal, RateKey)> {
        let set = &self.rates[rate.index()];
        let service = service_index(tier);
        let passed = set.tiers.iter().rev().find(|t| {
            t.rate.is_some()
                && t.above_k
                    .checked_mul(1000)
                    .is_some_and(|limit| input > limit)
        });
        let (plain, variants, above_k) = match passed {
            Some(t) => (t.rate, &t.service, Some(t.above_k)),
            None => (set.base, &set.service, None),
        };
        // The service tier's own rate where the table has it, even with no plain rate beside it.
        match service.and_then(|i| variants[i]) {
            Some(r) => Some((
                r,
                RateKey {
                    rate,
                    above_k,
                    service: Some(tier),
                },
            )),
            None => plain.map(|p| {
                (
                    p,
                    RateKey {
                        rate,
                        above_k,
                        service: None,
                    },
                )
            }),
        }
    }
}

/// One thing wrong with a price table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableProblem {
    /// The model's key, when the problem is in an entry.
    pub model: Option<String>,
    /// The field, when the problem is in one.
    pub field: Option<String>,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for TableProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.model, &self.field) {
            (Some(m), Some(field)) => write!(f, "model {m:?}, field {field:?}: {}", self.problem),
            (Some(m), None) => write!(f, "model {m:?}: {}", self.problem),
            _ => f.write_str(&self.problem),
        }
    }
}

/// A parsed price table. Two tables are equal when their texts are.
#[derive(Clone)]
pub struct PriceTable {
    models: Vec<ModelPrices>,
    /// Keys come from the table; a look-up by any name inserts nothing, so a fast hasher is safe.
    index: HashMap<String, usize, foldhash::fast::RandomState>,
    sha256: String,
}

impl fmt::Debug for PriceTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PriceTable")
            .field("models", &self.models.len())
            .field("sha256", &self.sha256)
            .finish()
    }
}

impl PartialEq for PriceTable {
    fn eq(&self, other: &Self) -> bool {
        self.sha256 == other.sha256
    }
}

impl Eq for PriceTable {}

static EMBEDDED: LazyLock<Arc<PriceTable>> = LazyLock::new(|| {
    // The embedded table is checked by a test; were it ever broken, every model would be
    // unpriced (flagged `unpriced_model`), never priced at 0.
    Arc::new(PriceTable::parse(EMBEDDED_JSON).unwrap_or_else(|_| PriceTable::empty(EMBEDDED_JSON)))
});

impl PriceTable {
    /// The embedded table, parsed once per process.
    #[must_use]
    pub fn embedded() -> Arc<PriceTable> {
        EMBEDDED.clone()
    }

    fn empty(text: &str) -> Self {
        Self {
            models: Vec::new(),
            index: HashMap::default(),
            sha256: sha256(text.as_bytes()),
        }
    }

    /// Parses a table from its JSON text.
    ///
    /// # Errors
    ///
    /// Every problem found: text that is not a JSON object of objects; a key given twice in any
    /// object, a model's entry or deeper (JSON parsers disagree on which value wins, so neither
    /// is taken); and in the fields govops prices with, a value that is not a number, a negative
    /// number, or one too precise to hold.
    pub fn parse(text: &str) -> Result<Self, Vec<TableProblem>> {
        let entries = match parse_object(text) {
            Ok(entries) => entries,
            Err(problem) => {
                return Err(vec![TableProblem {
                    model: None,
                    field: None,
                    problem,
                }]);
            }
        };
        let mut problems: Vec<TableProblem> = entries
            .repeated()
            .into_iter()
            .map(|key| TableProblem {
                model: Some(key.to_owned()),
                field: None,
                problem: "has more than one entry in the table; a model is given once".to_owned(),
            })
            .collect();
        let mut models = Vec::new();
        for (key, raw) in entries.unique() {
            // LiteLLM's table documents its format in an entry of this name; it prices nothing.
            if key == "sample_spec" {
                continue;
            }
            match parse_model(&key, raw, &mut problems) {
                Some(model) => models.push(model),
                None => continue,
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let index = models
            .iter()
            .enumerate()
            .map(|(i, m)| (m.key.clone(), i))
            .collect();
        Ok(Self {
            models,
            index,
            sha256: sha256(text.as_bytes()),
        })
    }

    /// The SHA-256 of the table's text, lowercase hex: which prices a figure came from.
    #[must_use]
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// How many models the table prices or describes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.models.len()
    }

    /// Whether the table is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// Every model, in key order.
    pub fn models(&self) -> impl Iterator<Item = &ModelPrices> {
        let mut sorted: Vec<_> = self.models.iter().collect();
        sorted.sort_by(|a, b| a.key.cmp(&b.key));
        sorted.into_iter()
    }

    /// Finds a model: by its exact key, then as `provider/model`, then with a `provider/` prefix
    /// removed; nothing fuzzier.
    #[must_use]
    pub fn lookup(&self, model: &str, provider: Option<&str>) -> Option<&ModelPrices> {
        if let Some(&i) = self.index.get(model) {
            return self.models.get(i);
        }
        if let Some(provider) = provider {
            // Built on the stack: looking a model up allocates nothing.
            let mut buffer = [0_u8; 256];
            let needed = provider.len() + 1 + model.len();
            let found = if needed <= buffer.len() {
                buffer[..provider.len()].copy_from_slice(provider.as_bytes());
                buffer[provider.len()] = b'/';
                buffer[provider.len() + 1..needed].copy_from_slice(model.as_bytes());
                std::str::from_utf8(&buffer[..needed])
                    .ok()
                    .and_then(|joined| self.index.get(joined))
            } else {
                // Keys this long are rare enough to allocate for.
                self.index.get(&format!("{provider}/{model}"))
            };
            if let Some(&i) = found {
                return self.models.get(i);
            }
        }
        let (_, bare) = model.split_once('/')?;
        self.index.get(bare).and_then(|&i| self.models.get(i))
    }

    /// The keys closest to `model` by edit distance, closest first, for "did you mean".
    #[must_use]
    pub fn nearest(&self, model: &str, n: usize) -> Vec<&str> {
        let mut scored: Vec<(f64, &str)> = self
            .models
            .iter()
            .map(|m| {
                (
                    strsim::normalized_damerau_levenshtein(model, &m.key),
                    m.key.as_str(),
                )
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        scored.into_iter().take(n).map(|(_, k)| k).collect()
    }
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn parse_object(text: &str) -> Result<Members<'_>, String> {
    serde_json::from_str(text).map_err(|e| {
        let data = e.is_data();
        let e = crate::quote::bounded(&e.to_string());
        if data {
            format!("the table is not a JSON object of model entries ({e})")
        } else {
            format!("the table is not valid JSON ({e})")
        }
    })
}

/// What a JSON value's text is.
fn kind(raw: &RawValue) -> &'static str {
    match raw.get().as_bytes().first() {
        Some(b'"') => "a string",
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

/// An exact decimal from a JSON number's text.
fn decimal(text: &str) -> Result<Decimal, String> {
    let parsed = if text.contains(['e', 'E']) {
        Decimal::from_scientific(text)
    } else {
        Decimal::from_str_exact(text)
    };
    parsed.map_err(|_| format!("{text} cannot be held exactly (at most 28 decimal places)"))
}

/// A field's key split into rate, long-context tier and service tier.
fn classify(field: &str) -> Option<(Rate, Option<u64>, Option<usize>)> {
    let rate = Rate::BY_KEY_LENGTH
        .into_iter()
        .find(|r| field.starts_with(r.key()))?;
    let mut rest = &field[rate.key().len()..];
    let mut service = None;
    for (i, suffix) in ["_batches", "_flex", "_priority"].into_iter().enumerate() {
        if let Some(stripped) = rest.strip_suffix(suffix) {
            rest = stripped;
            service = Some(i);
            break;
        }
    }
    if rest.is_empty() {
        return Some((rate, None, service));
    }
    let n = rest.strip_prefix("_above_")?.strip_suffix("k_tokens")?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((rate, Some(n.parse().ok()?), service))
}

fn parse_model(key: &str, raw: &RawValue, problems: &mut Vec<TableProblem>) -> Option<ModelPrices> {
    let problem = |field: Option<&str>, problem: String| TableProblem {
        model: Some(key.to_owned()),
        field: field.map(str::to_owned),
        problem,
    };
    let fields = match serde_json::from_str::<Members<'_>>(raw.get()) {
        Ok(fields) => fields,
        Err(_) => {
            problems.push(problem(
                None,
                format!("is {}, not an object of fields", kind(raw)),
            ));
            return None;
        }
    };
    for field in fields.repeated() {
        let given_twice = "is given more than once in the entry; a key is given once".to_owned();
        problems.push(problem(Some(field), given_twice));
    }
    let mut model = ModelPrices {
        key: key.to_owned(),
        provider: None,
        mode: None,
        max_input_tokens: None,
        max_output_tokens: None,
        rates: Default::default(),
    };
    for (field, value) in fields.unique() {
        let field: &str = &field;
        if kind(value) == "null" {
            continue;
        }
        // Deeper objects are in fields govops does not price with; a key twice there is still
        // a table no two readers agree on.
        if let Some(path) = repeated_key(value.get()) {
            let given_twice = "is given more than once in its object; a key is given once";
            let dot = if path.starts_with('[') { "" } else { "." };
            let path = format!("{field}{dot}{path}");
            problems.push(problem(Some(&path), given_twice.to_owned()));
            continue;
        }
        if let Err(why) = model.take(field, value) {
            problems.push(problem(Some(field), why));
        }
    }
    Some(model)
}

impl ModelPrices {
    /// Takes the value of one field of the model's entry (fields govops does not price with are
    /// passed over); `Err` says what is wrong with it.
    fn take(&mut self, field: &str, value: &RawValue) -> Result<(), String> {
        match field {
            "litellm_provider" => self.provider = Some(text_value(value)?),
            "mode" => self.mode = Some(text_value(value)?),
            "max_input_tokens" => self.max_input_tokens = Some(token_count(value)?),
            "max_output_tokens" => self.max_output_tokens = Some(token_count(value)?),
            _ => {
                if let Some((rate, above_k, service)) = classify(field) {
                    let price = price(value)?;
                    self.rates[rate.index()].set(above_k, service, price);
                }
            }
        }
        Ok(())
    }
}

/// A string field's value.
fn text_value(value: &RawValue) -> Result<String, String> {
    serde_json::from_str::<String>(value.get())
        .map_err(|_| format!("is {}; a string is accepted", kind(value)))
}

/// A whole number of tokens.
fn token_count(value: &RawValue) -> Result<u64, String> {
    let text = value.get();
    decimal(text)
        .ok()
        .filter(|d| d.fract().is_zero())
        .and_then(|d| d.to_u64())
        .filter(|_| kind(value) == "a number")
        .ok_or_else(|| {
            format!(
                "is {} ({}); a whole number of tokens is accepted",
                kind(value),
                shorten(text)
            )
        })
}

/// A price: an exact, non-negative number of USD per token, normalized.
fn price(value: &RawValue) -> Result<Decimal, String> {
    let text = value.get();
    if kind(value) != "a number" {
        return Err(format!(
            "is {} ({}); a price is a non-negative number of USD per token",
            kind(value),
            shorten(text)
        ));
    }
    match decimal(text)? {
        p if p.is_sign_negative() && !p.is_zero() => Err(format!(
            "is negative ({text}); a price is a non-negative number"
        )),
        p => Ok(p.normalize()),
    }
}

impl RateSet {
    /// Sets the rate of one key: the base or a service variant, of the rate or of its
    /// long-context tier `above_k` (added in order when new).
    fn set(&mut self, above_k: Option<u64>, service: Option<usize>, price: Decimal) {
        let Some(k) = above_k else {
            match service {
                Some(i) => self.service[i] = Some(price),
                None => self.base = Some(price),
            }
            return;
        };
        let at = match self.tiers.binary_search_by_key(&k, |t| t.above_k) {
            Ok(at) => at,
            Err(at) => {
                self.tiers.insert(
                    at,
                    Tier {
                        above_k: k,
                        rate: None,
                        service: [None; 3],
                    },
                );
                at
            }
        };
        let tier = &mut self.tiers[at];
        match service {
            Some(i) => tier.service[i] = Some(price),
            None => tier.rate = Some(price),
        }
    }
}

fn shorten(text: &str) -> String {
    if text.chars().count() > 24 {
        format!("{}…", text.chars().take(24).collect::<String>())
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests;
