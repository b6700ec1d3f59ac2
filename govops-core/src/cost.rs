//! The exact cost of one call (contract section 7), with the breakdown that traces each figure to
//! the table's prices.

use std::fmt;

use rust_decimal::Decimal;

use crate::money::POW10;
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

    /// Prices one call of a model already found with [`PriceTable::lookup`] in this table.
    ///
    /// # Errors
    ///
    /// Usage that contradicts itself, or a cost too large to hold exactly.
    pub fn price_found<'t>(
        &'t self,
        prices: &'t ModelPrices,
        usage: &Usage,
        tier: ServiceTier,
    ) -> Result<Pricing<'t>, UsageError> {
        usage.check()?;
        price_with(self.sha256(), prices, usage, tier)
    }
}

/// The rate of each component, each falling back as section 7 says.
#[inline]
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

/// The largest scale a `Decimal` holds.
const MAX_SCALE: u32 = 28;

/// The products and their sum are computed on `Decimal`'s own integer representation (a mantissa
/// and a power-of-ten scale) in `i128`: a rate's mantissa times a token count is exact, every
/// product is brought to the largest scale among them, and the sum is exact. Nothing is rounded;
/// a figure that would not fit a `Decimal` is [`UsageError::TooLarge`].
fn price_with<'t>(
    table_sha256: &'t str,
    prices: &'t ModelPrices,
    usage: &Usage,
    tier: ServiceTier,
) -> Result<Pricing<'t>, UsageError> {
    if prices.base_rate(Rate::Input).is_none() {
        return Ok(Pricing::Unpriced(Unpriced::NoInputRate));
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
    let mut mantissas = [0_i128; 6];
    let mut scale = 0;
    for (i, (component, count)) in Component::ALL.into_iter().zip(tokens).enumerate() {
        let line = &mut lines[i];
        line.component = component;
        line.tokens = count;
        let Some((rate_usd, key)) = rate(prices, component, usage.input, tier) else {
            // A model with no output rate is priced only when output is 0, reasoning included.
            // Input-side components always fall back to the input rate, which exists here; so
            // past this check only empty components lack a rate.
            if component == Component::Output && usage.output > 0 {
                return Ok(Pricing::Unpriced(Unpriced::NoOutputRate));
            }
            continue;
        };
        let product = match u64::try_from(rate_usd.mantissa()) {
            // The usual case: a 64-bit mantissa times a 64-bit count cannot overflow 128 bits.
            Ok(m) => i128::try_from(u128::from(m) * u128::from(count))
                .map_err(|_| UsageError::TooLarge)?,
            Err(_) => rate_usd
                .mantissa()
                .checked_mul(i128::from(count))
                .ok_or(UsageError::TooLarge)?,
        };
        line.rate_usd = rate_usd;
        line.rate = Some(key);
        line.cost_usd = fit(product, rate_usd.scale()).ok_or(UsageError::TooLarge)?;
        mantissas[i] = product;
        scale = scale.max(rate_usd.scale());
    }
    let mut total = 0_i128;
    for (line, mantissa) in lines.iter().zip(mantissas) {
        let shift = scale.saturating_sub(line.rate_usd.scale()).min(MAX_SCALE) as usize;
        let aligned = if shift == 0 {
            mantissa
        } else {
            mantissa
                .checked_mul(POW10[shift])
                .ok_or(UsageError::TooLarge)?
        };
        total = total.checked_add(aligned).ok_or(UsageError::TooLarge)?;
    }
    let total_usd = fit(total, scale).ok_or(UsageError::TooLarge)?;
    Ok(Pricing::Priced(Cost {
        model: prices,
        table_sha256,
        service_tier: tier,
        lines,
        total_usd,
    }))
}

/// The exact `Decimal` of `mantissa` × 10^-`scale`: as it is, or with trailing zeros dropped when
/// only they keep it from 96 bits (10¹¹ tokens at a 19-digit rate is exact in 19 digits).
fn fit(mantissa: i128, scale: u32) -> Option<Decimal> {
    if let Ok(exact) = Decimal::try_from_i128_with_scale(mantissa, scale) {
        return Some(exact);
    }
    let (mut m, mut s) = (mantissa, scale);
    while s > 0 && m % 10 == 0 {
        m /= 10;
        s -= 1;
    }
    Decimal::try_from_i128_with_scale(m, s).ok()
}

impl ModelPrices {
    /// The cost of `usage` rounded to what a `Decimal` holds (28 significant digits), and
    /// [`Decimal::MAX`] past it; a component with no rate adds nothing, and usage that contradicts
    /// itself is priced as it stands. Not a figure to report: it is what budgets charge for a call
    /// whose exact cost cannot be had ([`UsageError`]), so that such a call is never free.
    #[must_use]
    pub fn cost_bound(&self, usage: &Usage, tier: ServiceTier) -> Decimal {
        let tokens = [
            usage.uncached_input(),
            usage.cache_read,
            usage.cache_creation,
            usage.cache_creation_1h,
            usage.visible_output(),
            usage.reasoning,
        ];
        Component::ALL
            .into_iter()
            .zip(tokens)
            .filter_map(|(component, count)| {
                let (rate_usd, _) = rate(self, component, usage.input, tier)?;
                Some(
                    rate_usd
                        .checked_mul(Decimal::from(count))
                        .unwrap_or(Decimal::MAX),
                )
            })
            .fold(Decimal::ZERO, Decimal::saturating_add)
    }
}

#[cfg(test)]
mod tests;
