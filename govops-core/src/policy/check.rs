//! What a policy says about a call: the allow-lists, the guards that judge usage, and the decision
//! its violations come to.

use super::{Action, Policy};
use crate::config::Environment;
use crate::prices::PriceTable;
use crate::violation::{Decision, Violation};

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
