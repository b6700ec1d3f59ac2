//! `[state]`: how the shared guard state (contract section 8) is used: what a call comes to when
//! the server does not answer, the key namespace, and the times to live and sync intervals.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::Action;
use super::guards::RawGuards;
use super::parse::Checker;
use super::raw::keep;
use crate::config::Environment;

/// A budget reservation not settled within this is released: its process died.
pub const DEFAULT_RESERVATION_TTL: Duration = Duration::from_secs(600);

/// How often a process merges its drift observations into the shared baselines by default.
pub const DEFAULT_DRIFT_SYNC: Duration = Duration::from_secs(30);

/// The longest namespace accepted, in characters.
const NAMESPACE_MAX: usize = 64;

/// The `[state]` settings: how the shared guard state is used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StateRules {
    /// What a call comes to when the shared state does not answer in time (`on_unavailable`,
    /// `flag` by default): the action of `state_unavailable`, the same as
    /// `guards.action(Violation::StateUnavailable)`.
    pub on_unavailable: Action,
    /// The key namespace (`namespace`), with its Redis Cluster hash tag (`{..}`, added around the
    /// whole name when it has none); `None` for the default, `govops:{ENVIRONMENT}`.
    pub namespace: Option<String>,
    /// A budget reservation not settled within this is released (`reservation_ttl_seconds`).
    pub reservation_ttl: Duration,
    /// How often a process merges its drift baselines into the shared ones
    /// (`drift_sync_seconds`).
    pub drift_sync: Duration,
}

impl Default for StateRules {
    fn default() -> Self {
        Self {
            on_unavailable: Action::Flag,
            namespace: None,
            reservation_ttl: DEFAULT_RESERVATION_TTL,
            drift_sync: DEFAULT_DRIFT_SYNC,
        }
    }
}

impl StateRules {
    /// The prefix of every shared key in `environment`: the policy's namespace, else
    /// `govops:{ENVIRONMENT}` (`govops:{prod}`), so that two environments on one server never
    /// share a budget.
    #[must_use]
    pub fn namespace_for(&self, environment: Environment) -> String {
        self.namespace
            .clone()
            .unwrap_or_else(|| format!("govops:{{{environment}}}"))
    }
}

/// `[state]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawState {
    pub(super) on_unavailable: Option<Spanned<Action>>,
    pub(super) namespace: Option<Spanned<String>>,
    pub(super) reservation_ttl_seconds: Option<Spanned<i64>>,
    pub(super) drift_sync_seconds: Option<Spanned<i64>>,
}

impl RawState {
    pub(super) fn merge(&mut self, part: RawState) {
        keep(&mut self.on_unavailable, part.on_unavailable);
        keep(&mut self.namespace, part.namespace);
        keep(
            &mut self.reservation_ttl_seconds,
            part.reservation_ttl_seconds,
        );
        keep(&mut self.drift_sync_seconds, part.drift_sync_seconds);
    }
}

/// Whether `key` has a Redis Cluster hash tag: a `{` followed, later, by a `}` with something
/// between (the server hashes only that part, so keys that share it share a slot).
fn has_hash_tag(key: &str) -> bool {
    key.split_once('{')
        .and_then(|(_, rest)| rest.split_once('}'))
        .is_some_and(|(tag, _)| !tag.is_empty())
}

impl Checker<'_> {
    /// `[state]`, each value checked; `on_unavailable` sets the `state_unavailable` guard's
    /// action, which `[guards.state_unavailable] action` may set as well, but not to another one.
    pub(super) fn state(
        &mut self,
        raw: RawState,
        guards: &RawGuards,
        action: &mut Action,
    ) -> StateRules {
        let mut rules = StateRules::default();
        if let Some(on) = raw.on_unavailable {
            let at = on.span().start;
            let on = *on.get_ref();
            let guard = guards.state_unavailable.as_ref().and_then(|t| t.action);
            if on == Action::Off {
                self.problem(
                    at,
                    "state.on_unavailable is \"off\"; accepted: flag or deny (a call governed \
                     without the shared state always says so)"
                        .to_owned(),
                );
            } else if guard.is_some_and(|g| g != on) {
                self.problem(
                    at,
                    format!(
                        "state.on_unavailable is \"{on}\" but [guards.state_unavailable] action is \
                         \"{}\"; set it in one place",
                        guard.unwrap_or(on)
                    ),
                );
            } else {
                *action = on;
            }
        }
        rules.on_unavailable = *action;
        rules.namespace = raw.namespace.and_then(|ns| self.namespace(ns));
        let ttl = self.ranged(
            raw.reservation_ttl_seconds,
            "state.reservation_ttl_seconds",
            1,
            86_400,
        );
        if let Some(seconds) = ttl {
            rules.reservation_ttl = Duration::from_secs(seconds.unsigned_abs());
        }
        let sync = self.ranged(raw.drift_sync_seconds, "state.drift_sync_seconds", 1, 3_600);
        if let Some(seconds) = sync {
            rules.drift_sync = Duration::from_secs(seconds.unsigned_abs());
        }
        rules
    }

    fn namespace(&mut self, namespace: Spanned<String>) -> Option<String> {
        let at = namespace.span().start;
        let name = namespace.into_inner();
        let count = name.chars().count();
        let problem = if count == 0 || count > NAMESPACE_MAX {
            format!("state.namespace is {count} characters long")
        } else if let Some(c) = name.chars().find(|c| c.is_whitespace() || c.is_control()) {
            format!("state.namespace has {c:?}")
        } else if has_hash_tag(&name) {
            return Some(name);
        } else {
            return Some(format!("{{{name}}}"));
        };
        self.problem(
            at,
            format!(
                "{problem}; accepted: 1 to {NAMESPACE_MAX} printable characters without spaces \
                 (e.g. \"billing:{{prod}}\")"
            ),
        );
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_tag_is_a_brace_pair_with_something_inside() {
        assert!(has_hash_tag("govops:{prod}"));
        assert!(has_hash_tag("{a}b"));
        assert!(!has_hash_tag("govops"));
        assert!(!has_hash_tag("a{}b"));
        assert!(!has_hash_tag("a}b{"));
    }

    #[test]
    fn the_default_namespace_is_tagged_by_environment() {
        let rules = StateRules::default();
        assert_eq!(rules.namespace_for(Environment::Prod), "govops:{prod}");
        assert_eq!(rules.namespace_for(Environment::Dev), "govops:{dev}");
    }
}
