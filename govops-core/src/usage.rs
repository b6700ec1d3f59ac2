//! The token counts of one call, with the OpenTelemetry GenAI semantic conventions' meaning.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The token counts of one model call (contract section 7).
///
/// `input` includes the cache reads and both kinds of cache writes; `output` includes `reasoning`.
/// `cache_creation` counts 5-minute cache writes and `cache_creation_1h` 1-hour writes: the two are
/// disjoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Usage {
    /// All input tokens, cached or not.
    pub input: u64,
    /// All output tokens, reasoning included.
    pub output: u64,
    /// Input tokens read from the cache.
    pub cache_read: u64,
    /// Input tokens written to the 5-minute cache.
    pub cache_creation: u64,
    /// Input tokens written to the 1-hour cache.
    pub cache_creation_1h: u64,
    /// Output tokens spent on reasoning.
    pub reasoning: u64,
}

/// Usage that contradicts itself, and so is rejected rather than priced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// The cached parts add up to more than the input.
    #[error(
        "cache_read ({cache_read}) + cache_creation ({cache_creation}) + cache_creation_1h ({cache_creation_1h}) is more than input ({input}); input must include every cached token"
    )]
    CacheExceedsInput {
        /// All input tokens.
        input: u64,
        /// Cache reads.
        cache_read: u64,
        /// 5-minute cache writes.
        cache_creation: u64,
        /// 1-hour cache writes.
        cache_creation_1h: u64,
    },
    /// The cost is too large to hold exactly (beyond about 7.9 × 10^28 of the rate's smallest unit).
    #[error("the cost of this usage is too large to compute exactly")]
    TooLarge,
    /// More reasoning than output.
    #[error(
        "reasoning ({reasoning}) is more than output ({output}); output must include the reasoning tokens"
    )]
    ReasoningExceedsOutput {
        /// All output tokens.
        output: u64,
        /// Reasoning tokens.
        reasoning: u64,
    },
}

impl Usage {
    /// Input and output only, no cache and no reasoning.
    #[must_use]
    pub const fn new(input: u64, output: u64) -> Self {
        Self {
            input,
            output,
            cache_read: 0,
            cache_creation: 0,
            cache_creation_1h: 0,
            reasoning: 0,
        }
    }

    /// Checks that the usage does not contradict itself.
    ///
    /// # Errors
    ///
    /// When the cached parts exceed the input, or reasoning exceeds the output.
    pub fn check(&self) -> Result<(), UsageError> {
        let cached = u128::from(self.cache_read)
            + u128::from(self.cache_creation)
            + u128::from(self.cache_creation_1h);
        if cached > u128::from(self.input) {
            return Err(UsageError::CacheExceedsInput {
                input: self.input,
                cache_read: self.cache_read,
                cache_creation: self.cache_creation,
                cache_creation_1h: self.cache_creation_1h,
            });
        }
        if self.reasoning > self.output {
            return Err(UsageError::ReasoningExceedsOutput {
                output: self.output,
                reasoning: self.reasoning,
            });
        }
        Ok(())
    }

    /// Input tokens neither read from nor written to a cache. Meaningful after [`Usage::check`].
    #[must_use]
    pub const fn uncached_input(&self) -> u64 {
        self.input
            .saturating_sub(self.cache_read)
            .saturating_sub(self.cache_creation)
            .saturating_sub(self.cache_creation_1h)
    }

    /// Output tokens that are not reasoning. Meaningful after [`Usage::check`].
    #[must_use]
    pub const fn visible_output(&self) -> u64 {
        self.output.saturating_sub(self.reasoning)
    }

    /// `gen_ai.usage.cache_creation.input_tokens`: both kinds of cache writes.
    #[must_use]
    pub const fn cache_creation_total(&self) -> u64 {
        self.cache_creation.saturating_add(self.cache_creation_1h)
    }
}

/// The service tier a call was declared with; it selects the `_batches`, `_flex` or `_priority`
/// rates where the table has them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceTier {
    /// The base rates.
    #[default]
    Standard,
    /// Batch APIs (`_batches` rates).
    Batch,
    /// Flex processing (`_flex` rates).
    Flex,
    /// Priority processing (`_priority` rates).
    Priority,
}

impl ServiceTier {
    /// Every tier.
    pub const ALL: [ServiceTier; 4] = [Self::Standard, Self::Batch, Self::Flex, Self::Priority];

    /// The tier as spelled on the command line and in JSON.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Batch => "batch",
            Self::Flex => "flex",
            Self::Priority => "priority",
        }
    }

    /// The suffix of this tier's rates in the price table; none for standard.
    #[must_use]
    pub const fn suffix(self) -> Option<&'static str> {
        match self {
            Self::Standard => None,
            Self::Batch => Some("_batches"),
            Self::Flex => Some("_flex"),
            Self::Priority => Some("_priority"),
        }
    }
}

impl fmt::Display for ServiceTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ServiceTier {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                format!("{s:?} is not a service tier; accepted: standard, batch, flex, priority")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contradictory_usage_is_rejected() {
        let ok = Usage {
            input: 100,
            cache_read: 50,
            cache_creation: 30,
            cache_creation_1h: 20,
            output: 10,
            reasoning: 10,
        };
        assert_eq!(ok.check(), Ok(()));
        assert_eq!(ok.uncached_input(), 0);
        assert_eq!(ok.visible_output(), 0);
        let over = Usage {
            cache_creation_1h: 21,
            ..ok
        };
        assert!(matches!(
            over.check(),
            Err(UsageError::CacheExceedsInput { .. })
        ));
        let reasoning = Usage {
            reasoning: 11,
            ..ok
        };
        assert!(matches!(
            reasoning.check(),
            Err(UsageError::ReasoningExceedsOutput { .. })
        ));
        let huge = Usage {
            input: u64::MAX,
            cache_read: u64::MAX,
            cache_creation: 1,
            ..Usage::default()
        };
        assert!(huge.check().is_err(), "no overflow in the sum");
    }

    #[test]
    fn service_tiers_parse_and_name_their_suffixes() {
        for tier in ServiceTier::ALL {
            assert_eq!(tier.as_str().parse::<ServiceTier>(), Ok(tier));
        }
        assert_eq!(ServiceTier::Batch.suffix(), Some("_batches"));
        assert!(
            "turbo"
                .parse::<ServiceTier>()
                .unwrap_err()
                .contains("accepted")
        );
    }
}
