//! The guards, each declared once: its name in the policy (`[guards.NAME]`), the violations it
//! decides, and the keys its table takes besides `action`. From that one table come [`Guards`]'
//! actions and their defaults, [`Guards::action`], the raw tables serde reads (each
//! `deny_unknown_fields`, so a misplaced key is refused with its line) and how they merge.
//!
//! A new guard is a row here, a violation code in [`Violation`], and, if it has thresholds, a field
//! of [`Guards`] checked in `parse`.

use serde::Deserialize;
use toml::Spanned;

use super::Action;
use super::raw::keep;
use crate::violation::Violation;

macro_rules! guards {
    (guards {$(
        $(#[$meta:meta])*
        $guard:ident: $Table:ident for [$first:ident $(| $violation:ident)*]
            { $($key:ident: $ty:ty),* $(,)? }
    )+}
    thresholds { $($(#[$tmeta:meta])* $threshold:ident: $tty:ty = $default:expr,)+ }
    ) => {
        /// The guards' settings.
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub struct Guards {
            $($(#[$meta])* pub $guard: Action,)+
            $($(#[$tmeta])* pub $threshold: $tty,)+
        }

        impl Default for Guards {
            fn default() -> Self {
                Self {
                    $($guard: Action::of(Violation::$first.default_decision()),)+
                    $($threshold: $default,)+
                }
            }
        }

        impl Guards {
            /// Every guard's name in the policy (`[guards.NAME]`), in declaration order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($guard)),+];

            /// What the policy does when `violation` is raised.
            #[must_use]
            pub fn action(&self, violation: Violation) -> Action {
                match violation {
                    $(Violation::$first $(| Violation::$violation)* => self.$guard,)+
                }
            }

            /// Sets the action of each guard `raw` names one for.
            pub(super) fn set_actions(&mut self, raw: &RawGuards) {
                $(
                    if let Some(action) = raw.$guard.as_ref().and_then(|t| t.action) {
                        self.$guard = action;
                    }
                )+
            }
        }

        /// `[guards]` as written: one table per guard.
        #[derive(Deserialize, Default)]
        #[serde(deny_unknown_fields)]
        pub(super) struct RawGuards {
            $(pub(super) $guard: Option<$Table>,)+
        }

        impl RawGuards {
            /// Takes what `part` sets.
            pub(super) fn merge(&mut self, part: RawGuards) {
                $(super::raw::merge_into(&mut self.$guard, part.$guard, $Table::merge);)+
            }
        }

        /// The keys `[guards.NAME]` takes, when `NAME` is a guard.
        pub(super) fn keys(guard: &str) -> Option<&'static [&'static str]> {
            match guard {
                $(stringify!($guard) => Some(&["action" $(, stringify!($key))*]),)+
                _ => None,
            }
        }

        $(
            #[doc = concat!("`[guards.", stringify!($guard), "]` as written.")]
            #[derive(Deserialize, Default)]
            #[serde(deny_unknown_fields)]
            pub(super) struct $Table {
                pub(super) action: Option<Action>,
                $(pub(super) $key: Option<Spanned<$ty>>,)*
            }

            impl $Table {
                fn merge(&mut self, part: $Table) {
                    keep(&mut self.action, part.action);
                    $(keep(&mut self.$key, part.$key);)*
                }
            }
        )+
    };
}

guards! {
    guards {
    /// `context_overflow`: input tokens above `context_percent`% of the model's max input tokens.
    context_overflow: ContextOverflowTable for [ContextOverflow] { percent: i64 }
    /// `token_waste`: input:output above `waste_ratio`.
    token_waste: TokenWasteTable for [TokenWaste] { ratio: f64 }
    /// `agent_loop`.
    agent_loop: AgentLoopTable for [AgentLoop] { max_tool_calls: i64, max_repeats: i64 }
    /// `budget_exceeded`.
    budget: BudgetTable for [BudgetExceeded] {}
    /// `pii_detected`.
    pii: PiiTable for [PiiDetected] {}
    /// `secret_detected`.
    secrets: SecretsTable for [SecretDetected] {}
    /// `model_not_allowed`, `provider_not_allowed`, `tool_not_allowed`.
    allow_lists: AllowListsTable for [ModelNotAllowed | ToolNotAllowed | ProviderNotAllowed] {}
    /// `missing_context`.
    missing_context: MissingContextTable for [MissingContext] {}
    /// `unpriced_model`.
    unpriced_model: UnpricedModelTable for [UnpricedModel] {}
    /// `model_drift` (`off` also stops following drift at all).
    model_drift: ModelDriftTable for [ModelDrift] {}
    /// `policy_rule_failed`: what a call comes to when the policy's Rego rules fail on it.
    policy_rule_failed: PolicyRuleFailedTable for [PolicyRuleFailed] {}
    /// `state_unavailable`: the shared guard state did not answer in time; also set by
    /// `[state] on_unavailable`.
    state_unavailable: StateUnavailableTable for [StateUnavailable] {}
    }
    thresholds {
        /// The `context_overflow` threshold, in percent (`percent`).
        context_percent: u8 = 90,
        /// The `token_waste` ratio (`ratio`).
        waste_ratio: f64 = 5.0,
        /// Tool calls allowed in one agent run (`max_tool_calls`).
        max_tool_calls: u32 = 10,
        /// Identical consecutive tool calls that trip the loop guard (`max_repeats`).
        max_repeats: u32 = 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_guard_takes_action_and_its_own_thresholds() {
        assert_eq!(keys("token_waste"), Some(&["action", "ratio"][..]));
        assert_eq!(
            keys("agent_loop"),
            Some(&["action", "max_tool_calls", "max_repeats"][..])
        );
        assert_eq!(keys("budget"), Some(&["action"][..]));
        assert_eq!(keys("loop_detector"), None);
        assert_eq!(Guards::NAMES.len(), 12);
    }
}
