//! The exact cost of one call (contract section 7), with the breakdown that traces each figure to
//! the table's prices.

use std::fmt;

use rust_decimal::Decimal;

use crate::prices::{ModelPrices, PriceTable, Rate, RateKey};
use crate::usage::{ServiceTier, Usage, UsageError};

/// A bucket of a call's tokens, priced at its own rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Component {
    /// Input neither read from nor written to a cache.
    Input,
    /// Input read from the cache.
    CacheRead,
    /// Input written to the 5-minute cache.
    CacheCreation,
    /// Input written to the 1-hour cache.
    CacheCreation1h,
    /// Output that is not reasoning.
    Output,
    /// Reasoning output.
    Reasoning,
}

impl Component {
    /// Every component, in breakdown order.
    pub const ALL: [Component; 6] = [
        Component::Input,
        Component::CacheRead,
        Component::CacheCreation,
        Component::CacheCreation1h,
        Component::Output,
        Component::Reasoning,
    ];

    /// The component's name in JSON and reports.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Component::Input => "input",
            Component::CacheRead => "cache_read",
            Component::CacheCreation => "cache_creation",
            Component::CacheCreation1h => "cache_creation_1h",
            Component::Output => "output",
            Component::Reasoning => "reasoning",
        }
    }
}

/// One line of a breakdown: tokens × rate = cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line {
    /// Which tokens.
    pub component: Component,
    /// How many.
    pub tokens: u64,
    /// USD per token; zero when there are no tokens and the table has no rate.
    pub rate_usd: Decimal,
    /// The table key the rate came from; `None` only when there were no tokens to price.
    pub rate: Option<RateKey>,
    /// `tokens × rate_usd`, exact.
    pub cost_usd: Decimal,
}

/// The exact cost of one priced call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cost<'t> {
    /// The model as the table has it.
    pub model: &'t ModelPrices,
    /// The SHA-256 of the table the prices came from.
    pub table_sha256: &'t str,
    /// The service tier the call was declared with.
    pub service_tier: ServiceTier,
    /// One line per component, in [`Component::ALL`] order.
    pub lines: [Line; 6],
    /// The sum of the lines, exact.
    pub total_usd: Decimal,
}

/// Why a call has no cost. It is never priced at 0: the call carries `unpriced_model`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Unpriced {
    /// The table has no such model.
    UnknownModel,
    /// The model has no `input_cost_per_token`.
    NoInputRate,
    /// The call has output but the model has no output rate.
    NoOutputRate,
}

impl fmt::Display for Unpriced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unpriced::UnknownModel => "the model is not in the price table",
            Unpriced::NoInputRate => "the model has no input_cost_per_token in the price table",
            Unpriced::NoOutputRate => {
                "the call has output tokens but the model has no output rate in the price table"
            }
        })
    }
}

/// What pricing a call came to.
// Boxing the priced variant would put a heap allocation on the pricing hot path.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pricing<'t> {
    /// The exact cost.
    Priced(Cost<'t>),
    /// No cost: never zero.
    Unpriced(Unpriced),
}

impl Pricing<'_> {
    /// The total, when priced.
    #[must_use]
    pub fn total_usd(&self) -> Option<Decimal> {
        match self {
            Pricing::Priced(cost) => Some(cost.total_usd),
            Pricing::Unpriced(_) => None,
        }
    }
}

impl PriceTable {
    /// Prices one call: `model` looked up as [`PriceTable::lookup`] says, `usage` checked first.
    ///
    /// # Errors
    ///
    /// Usage that contradicts itself, or a cost too large to hold exactly.
    pub fn price(
        &self,
        model: &str,
        provider: Option<&str>,
        usage: &Usage,
        tier: ServiceTier,
    ) -> Result<Pricing<'_>, UsageError> {
        usage.check()?;
        let Some(prices) = self.lookup(model, provider) else {
            return Ok(Pricing::Unpriced(Unpriced::UnknownModel));
        };
        price_with(self.sha256(), prices, usage, tier)
    }
}

/// The rate of each component, each falling back as section 7 says.
fn rate(
    prices: &ModelPrices,
    component: Component,
    input: u64,
    tier: ServiceTier,
) -> Option<(Decimal, RateKey)> {
    let own = |r: Rate| prices.rate_for(r, input, tier);
    match component {
        Component::Input => own(Rate::Input),
        Component::CacheRead => own(Rate::CacheRead)
            .or_else(|| own(Rate::CacheHit))
            .or_else(|| own(Rate::Input)),
        Component::CacheCreation => own(Rate::CacheCreation).or_else(|| own(Rate::Input)),
        Component::CacheCreation1h => own(Rate::CacheCreation1h)
            .or_else(|| own(Rate::CacheCreation))
            .or_else(|| own(Rate::Input)),
        Component::Output => own(Rate::Output),
        Component::Reasoning => own(Rate::Reasoning).or_else(|| own(Rate::Output)),
    }
}

/// `rate × tokens`, refusing a result `Decimal` would have to round.
fn exact_mul(rate: Decimal, tokens: u64) -> Result<Decimal, UsageError> {
    let product = rate
        .checked_mul(Decimal::from(tokens))
        .ok_or(UsageError::TooLarge)?;
    // An integer factor keeps the rate's scale unless the product had to be rounded to fit.
    if product.scale() == rate.scale() || tokens == 0 {
        Ok(product)
    } else {
        Err(UsageError::TooLarge)
    }
}

/// `a + b`, refusing a sum `Decimal` would have to round.
pub(crate) fn exact_add(a: Decimal, b: Decimal) -> Result<Decimal, UsageError> {
    let sum = a.checked_add(b).ok_or(UsageError::TooLarge)?;
    if sum.scale() >= a.scale().max(b.scale()) {
        Ok(sum)
    } else {
        Err(UsageError::TooLarge)
    }
}

fn price_with<'t>(
    table_sha256: &'t str,
    prices: &'t ModelPrices,
    usage: &Usage,
    tier: ServiceTier,
) -> Result<Pricing<'t>, UsageError> {
    if prices.base_rate(Rate::Input).is_none() {
        return Ok(Pricing::Unpriced(Unpriced::NoInputRate));
    }
    if usage.output > 0 && rate(prices, Component::Output, usage.input, tier).is_none() {
        return Ok(Pricing::Unpriced(Unpriced::NoOutputRate));
    }
    let tokens = [
        usage.uncached_input(),
        usage.cache_read,
        usage.cache_creation,
        usage.cache_creation_1h,
        usage.visible_output(),
        usage.reasoning,
    ];
    let mut lines = [Line {
        component: Component::Input,
        tokens: 0,
        rate_usd: Decimal::ZERO,
        rate: None,
        cost_usd: Decimal::ZERO,
    }; 6];
    let mut total = Decimal::ZERO;
    for ((line, component), count) in lines.iter_mut().zip(Component::ALL).zip(tokens) {
        line.component = component;
        line.tokens = count;
        match rate(prices, component, usage.input, tier) {
            Some((rate_usd, key)) => {
                let cost = exact_mul(rate_usd, count)?;
                total = exact_add(total, cost)?;
                *line = Line {
                    component,
                    tokens: count,
                    rate_usd,
                    rate: Some(key),
                    cost_usd: cost,
                };
            }
            None if count == 0 => {}
            None if matches!(component, Component::Output | Component::Reasoning) => {
                return Ok(Pricing::Unpriced(Unpriced::NoOutputRate));
            }
            // Input-side components always fall back to the input rate, which exists here.
            None => return Ok(Pricing::Unpriced(Unpriced::NoInputRate)),
        }
    }
    Ok(Pricing::Priced(Cost {
        model: prices,
        table_sha256,
        service_tier: tier,
        lines,
        total_usd: total,
    }))
}

#[cfg(test)]
mod tests;
