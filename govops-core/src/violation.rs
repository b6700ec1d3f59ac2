//! Violation codes and policy decisions (contract section 4).

use crate::spelling::spelled;

/// What the policy decided about a governed call: `govops.policy.decision`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Decision {
    /// Nothing tripped.
    #[default]
    Allow,
    /// Something tripped that does not stop the call.
    Flag,
    /// The call is not executed.
    Deny,
}

spelled!(Decision { Allow => "allow", Flag => "flag", Deny => "deny" });

/// One violation: a value of `govops.safety.violations`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Violation {
    /// `agent_loop`: too many tool calls in one agent run, or the same call repeated.
    AgentLoop,
    /// `context_overflow`: input above 90% of the model's max input tokens.
    ContextOverflow,
    /// `token_waste`: input:output ratio above 5:1.
    TokenWaste,
    /// `budget_exceeded`: a request, session or cost-center budget would be passed.
    BudgetExceeded,
    /// `model_not_allowed`: the policy does not allow the model here.
    ModelNotAllowed,
    /// `tool_not_allowed`: the policy does not allow the tool here.
    ToolNotAllowed,
    /// `provider_not_allowed`: the policy does not allow the provider here.
    ProviderNotAllowed,
    /// `pii_detected`: the content scanner found personal data.
    PiiDetected,
    /// `secret_detected`: the content scanner found a credential.
    SecretDetected,
    /// `missing_context`: no session or user id on a governed call in `prod`.
    MissingContext,
    /// `model_drift`: the model's drift score passed its threshold.
    ModelDrift,
    /// `unpriced_model`: the model is not in the price table; its cost is absent.
    UnpricedModel,
    /// `policy_rule_failed`: the policy's own Rego rules could not decide the call (they went
    /// past a time or depth limit, or failed); the call is decided as
    /// `[guards.policy_rule_failed]` says (flag by default).
    PolicyRuleFailed,
    /// `state_unavailable`: the shared guard state (`GOVOPS_STATE_URL`) did not answer within
    /// `GOVOPS_STATE_TIMEOUT_MS`, so the call was governed with this process's own state; flag by
    /// default, `[state] on_unavailable = "deny"` denies it instead.
    StateUnavailable,
}

spelled!(Violation {
    AgentLoop => "agent_loop",
    ContextOverflow => "context_overflow",
    TokenWaste => "token_waste",
    BudgetExceeded => "budget_exceeded",
    ModelNotAllowed => "model_not_allowed",
    ToolNotAllowed => "tool_not_allowed",
    ProviderNotAllowed => "provider_not_allowed",
    PiiDetected => "pii_detected",
    SecretDetected => "secret_detected",
    MissingContext => "missing_context",
    ModelDrift => "model_drift",
    UnpricedModel => "unpriced_model",
    PolicyRuleFailed => "policy_rule_failed",
    StateUnavailable => "state_unavailable",
});

impl Violation {
    /// The stable code (the same as [`Violation::as_str`]).
    #[must_use]
    pub const fn code(self) -> &'static str {
        self.as_str()
    }

    /// The code's default action.
    #[must_use]
    pub const fn default_decision(self) -> Decision {
        match self {
            Violation::AgentLoop
            | Violation::BudgetExceeded
            | Violation::ModelNotAllowed
            | Violation::ToolNotAllowed
            | Violation::ProviderNotAllowed => Decision::Deny,
            _ => Decision::Flag,
        }
    }

    /// The violation a code names, if any.
    #[must_use]
    pub fn from_code(code: &str) -> Option<Self> {
        // Not `parse`: its error, built and dropped here, would allocate on every unknown code.
        Self::ALL.into_iter().find(|v| v.code() == code)
    }
}

/// A denied call returns the violation as its error, through `From<Violation>` for the function's
/// error type; as a `std::error::Error` it also converts into `Box<dyn Error>` and the like.
impl std::error::Error for Violation {}

/// The violations of one call, in the order they were raised, each once, and the decision they
/// come to. Small and allocation-free: a call rarely trips more than a few guards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Violations {
    bits: u16,
    order: [u8; Violation::ALL.len()],
    len: u8,
}

impl Violations {
    /// No violation.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            bits: 0,
            order: [0; Violation::ALL.len()],
            len: 0,
        }
    }

    /// Raises `violation`; raising it again changes nothing.
    pub fn raise(&mut self, violation: Violation) {
        let index = violation as u8;
        let bit = 1u16 << index;
        if self.bits & bit == 0 {
            self.bits |= bit;
            self.order[usize::from(self.len)] = index;
            self.len += 1;
        }
    }

    /// Whether `violation` was raised.
    #[must_use]
    pub fn contains(&self, violation: Violation) -> bool {
        self.bits & (1u16 << violation as u8) != 0
    }

    /// Whether none was raised.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many were raised.
    #[must_use]
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// The violations in the order they were raised.
    pub fn iter(&self) -> impl Iterator<Item = Violation> + '_ {
        self.order[..usize::from(self.len)]
            .iter()
            .map(|&i| Violation::ALL[usize::from(i)])
    }

    /// The decision: the strictest default action among them, `allow` when none.
    #[must_use]
    pub fn decision(&self) -> Decision {
        self.iter()
            .map(Violation::default_decision)
            .max()
            .unwrap_or(Decision::Allow)
    }
}

// One bit per code.
const _: () = assert!(Violation::ALL.len() <= u16::BITS as usize);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_distinct() {
        for v in Violation::ALL {
            assert_eq!(Violation::from_code(v.code()), Some(v));
            assert_eq!(Violation::ALL[v as usize], v, "ALL is in declaration order");
        }
        assert_eq!(Violation::from_code("nope"), None);
        for d in Decision::ALL {
            assert_eq!(d.to_string().parse::<Decision>(), Ok(d));
        }
        assert!("block".parse::<Decision>().is_err());
    }

    #[test]
    fn violations_keep_order_once_each_and_decide_the_strictest() {
        let mut v = Violations::new();
        assert_eq!(v.decision(), Decision::Allow);
        v.raise(Violation::UnpricedModel);
        v.raise(Violation::MissingContext);
        v.raise(Violation::UnpricedModel);
        assert_eq!(
            v.iter().map(Violation::code).collect::<Vec<_>>(),
            ["unpriced_model", "missing_context"]
        );
        assert_eq!(v.decision(), Decision::Flag);
        v.raise(Violation::AgentLoop);
        assert_eq!(v.decision(), Decision::Deny);
        assert_eq!(v.len(), 3);
    }
}
