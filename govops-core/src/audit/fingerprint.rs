//! The fingerprint of a run's configuration: what a call was governed under.

use serde::{Deserialize, Serialize};

use super::chain::sha256_hex;
use crate::config::Config;
use crate::contract::CONTRACT_VERSION;

/// The configuration a run's calls were governed under: its metadata, the price table and policy
/// it priced and decided with, and the crate version, so that a call can be reproduced and its
/// figures checked against the same table and policy.
///
/// Written in full in every `open` record; every record carries its [`ConfigFingerprint::sha256`]
/// as `config`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigFingerprint {
    /// `service.name` (`GOVOPS_APP_NAME`).
    pub app: String,
    /// `service.version` (`GOVOPS_APP_VERSION`), when set.
    pub app_version: Option<String>,
    /// `deployment.environment.name` (`GOVOPS_ENVIRONMENT`).
    pub environment: String,
    /// `govops.owner` (`GOVOPS_OWNER`).
    pub owner: String,
    /// `govops.cost_center` (`GOVOPS_COST_CENTER`).
    pub cost_center: String,
    /// `govops.data_classification` (`GOVOPS_DATA_CLASSIFICATION`).
    pub data_classification: String,
    /// SHA-256 of the price table's text (the embedded table's or `GOVOPS_PRICE_TABLE`'s).
    pub price_table_sha256: String,
    /// `govops.policy.id` (`NAME@sha256:HEX`), when a policy file is set.
    pub policy_id: Option<String>,
    /// SHA-256 of the policy file's content, when a policy file is set.
    pub policy_sha256: Option<String>,
    /// The telemetry contract version (`govops.contract.version`).
    pub contract_version: String,
    /// The govops version that wrote the record.
    pub crate_version: String,
}

impl ConfigFingerprint {
    /// The fingerprint of a validated configuration, with this crate's version.
    #[must_use]
    pub fn from_config(config: &Config) -> Self {
        Self {
            app: config.app_name.clone(),
            app_version: config.app_version.clone(),
            environment: config.environment.as_str().to_owned(),
            owner: config.owner.clone(),
            cost_center: config.cost_center.clone(),
            data_classification: config.data_classification.as_str().to_owned(),
            price_table_sha256: config.prices.sha256().to_owned(),
            policy_id: config.policy.as_ref().map(|p| p.id()),
            policy_sha256: config.policy.as_ref().map(|p| p.sha256.clone()),
            contract_version: CONTRACT_VERSION.to_owned(),
            crate_version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    /// SHA-256, lowercase hex, of the fingerprint's compact JSON: the keys in the order above,
    /// every key present (`null` when absent), as the `open` record writes it. Stable for a given
    /// fingerprint and schema version.
    #[must_use]
    pub fn sha256(&self) -> String {
        // Strings and options of strings only: encoding cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        sha256_hex(&json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_is_stable_and_covers_every_field() {
        let fp = ConfigFingerprint {
            app: "support-bot".into(),
            environment: "prod".into(),
            owner: "team-ai".into(),
            cost_center: "CC-1".into(),
            data_classification: "internal".into(),
            price_table_sha256: "ab".repeat(32),
            contract_version: "1".into(),
            crate_version: "0.1.0".into(),
            ..ConfigFingerprint::default()
        };
        // Pinned: a change here breaks every log's `config` references.
        assert_eq!(
            serde_json::to_string(&fp).unwrap(),
            r#"{"app":"support-bot","app_version":null,"environment":"prod","owner":"team-ai","cost_center":"CC-1","data_classification":"internal","price_table_sha256":"abababababababababababababababababababababababababababababababab","policy_id":null,"policy_sha256":null,"contract_version":"1","crate_version":"0.1.0"}"#
        );
        assert_eq!(fp.sha256(), fp.clone().sha256());
        assert_eq!(fp.sha256().len(), 64);
        let mut other = fp.clone();
        other.policy_sha256 = Some("00".repeat(32));
        assert_ne!(other.sha256(), fp.sha256());
    }
}
