//! OTLP export settings, resolved from the standard `OTEL_EXPORTER_OTLP_*` variables as the
//! OpenTelemetry specification defines them.

use std::fmt;
use std::time::Duration;

use super::loading::Check;
use super::rules::{Rule, invalid, keyword, pairs, shown};
use super::variables::Entry;
use super::{DEFAULT_OTLP_TIMEOUT, OtlpProtocol};

pub(crate) const ENDPOINT_ACCEPTED: &str =
    "an http:// or https:// URL with a host (e.g. http://localhost:4318)";
pub(crate) const HEADERS_ACCEPTED: &str =
    "comma-separated key=value pairs, keys as HTTP header names, values percent-encoded";
pub(crate) const TIMEOUT_ACCEPTED: &str = "a whole number of milliseconds (e.g. 10000)";

/// A value that must never be printed: `Debug` and `Display` show `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the one place that must send it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where and how to export over OTLP, resolved from the standard `OTEL_EXPORTER_OTLP_*` variables.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OtlpConfig {
    /// The transport.
    pub protocol: OtlpProtocol,
    /// The full URL traces are sent to.
    pub traces_endpoint: String,
    /// The full URL metrics are sent to.
    pub metrics_endpoint: String,
    /// The full URL logs are sent to.
    pub logs_endpoint: String,
    /// Headers (gRPC metadata) sent with every export; their values are secrets.
    pub headers: Vec<(String, Secret)>,
    /// How long one export may take.
    pub timeout: Duration,
}

pub(super) fn protocol_rule(value: &str) -> Rule<OtlpProtocol> {
    if value == "http/json" {
        return invalid(
            "\"http/json\" is not supported by govops; use http/protobuf or grpc".to_owned(),
        );
    }
    keyword(value)
}

/// An endpoint URL. The value is never repeated, since it may carry credentials.
pub(super) fn endpoint_rule(value: &str) -> Rule<String> {
    match url::Url::parse(value) {
        Ok(url) if !matches!(url.scheme(), "http" | "https") => invalid(format!(
            "has the scheme \"{}\"; only http and https are accepted",
            url.scheme()
        )),
        Ok(url) if url.host().is_none() => invalid("has no host".to_owned()),
        // Export over TLS is not built in yet: refusing here beats telemetry silently failing later.
        Ok(url) if url.scheme() == "https" => invalid(
            "is an https:// URL, and this version of govops cannot export over TLS yet; \
             point it at a local collector (http://) that forwards over TLS"
                .to_owned(),
        ),
        // The normalised form: what the transports parse (http::Uri) is stricter than the URL
        // standard, so hand them the URL as `url` spells it (no stray spaces, punycode hosts).
        Ok(url) => {
            let mut normal = url.to_string();
            if url.path() == "/" && !value.trim().ends_with('/') {
                normal.pop();
            }
            Ok(normal)
        }
        Err(error) => invalid(format!("is not a URL ({error})")),
    }
}

/// `endpoint` fit for messages: user, password, query and fragment removed, since they may carry
/// credentials.
#[must_use]
pub fn redact_endpoint(endpoint: &str) -> String {
    match url::Url::parse(endpoint) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.set_query(None);
            url.set_fragment(None);
            let mut shown = url.to_string();
            if url.path() == "/" && !endpoint.ends_with('/') {
                shown.pop();
            }
            shown
        }
        Err(_) => "[an endpoint that is not a URL]".to_owned(),
    }
}

/// Headers are secrets: messages name the entry's position and key, never a value.
pub(super) fn headers_rule(value: &str) -> Rule<Vec<(String, Secret)>> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    // What HTTP header values and gRPC ASCII metadata both accept.
    let sendable = |c: char| c == '\t' || (' '..='~').contains(&c);
    pairs(value, false)?
        .into_iter()
        .map(|(number, key, value)| {
            if !key.chars().all(token) {
                invalid(format!(
                    "the key of entry {number} is not a valid header name (value not shown: headers are secret)"
                ))
            } else if !value.chars().all(sendable) {
                invalid(format!(
                    "the value of entry {number} has characters outside printable ASCII, which cannot be sent \
                     (value not shown: headers are secret)"
                ))
            } else {
                Ok((key.to_ascii_lowercase(), Secret::new(value)))
            }
        })
        .collect()
}

pub(super) fn timeout_rule(value: &str) -> Rule<Duration> {
    match value.trim().parse::<u64>() {
        Ok(0) => invalid("is 0: every export would fail at once".to_owned()),
        Ok(ms) => Ok(Duration::from_millis(ms)),
        Err(_) => invalid(format!(
            "{} is not a whole number of milliseconds",
            shown(value)
        )),
    }
}

/// The signals, each with the path it takes on a shared HTTP endpoint.
const SIGNAL_PATHS: [&str; 3] = ["v1/traces", "v1/metrics", "v1/logs"];

impl Check<'_> {
    /// OTLP export, when an endpoint variable is set: the shared endpoint, else the default one,
    /// gets each signal's path over HTTP; a signal's own endpoint is used as given.
    pub(super) fn otlp(
        &mut self,
        endpoint: Entry,
        signal_endpoints: [Entry; 3],
        protocol: Entry,
        headers: Entry,
        timeout: Entry,
    ) -> Option<OtlpConfig> {
        let protocol = self
            .value(protocol, protocol_rule)
            .unwrap_or(OtlpProtocol::HttpProtobuf);
        let headers = self.value(headers, headers_rule);
        let timeout = self.value(timeout, timeout_rule);
        let endpoint = self.value(endpoint, endpoint_rule);
        let mut any_set = endpoint.is_some();
        let mut resolved = Vec::with_capacity(3);
        for (entry, path) in signal_endpoints.into_iter().zip(SIGNAL_PATHS) {
            let entry = self.present(entry);
            any_set |= entry.value.is_some();
            let value = self.parsed(&entry, endpoint_rule);
            // gRPC routes by service name, not path.
            resolved.push(value.unwrap_or_else(|| {
                let base = endpoint.clone().unwrap_or_else(|| match protocol {
                    OtlpProtocol::Grpc => "http://localhost:4317".to_owned(),
                    OtlpProtocol::HttpProtobuf => "http://localhost:4318".to_owned(),
                });
                match protocol {
                    OtlpProtocol::Grpc => base,
                    OtlpProtocol::HttpProtobuf => format!("{}/{path}", base.trim_end_matches('/')),
                }
            }));
        }
        if !any_set {
            return None;
        }
        let mut resolved = resolved.into_iter();
        Some(OtlpConfig {
            protocol,
            traces_endpoint: resolved.next().unwrap_or_default(),
            metrics_endpoint: resolved.next().unwrap_or_default(),
            logs_endpoint: resolved.next().unwrap_or_default(),
            headers: headers.unwrap_or_default(),
            timeout: timeout.unwrap_or(DEFAULT_OTLP_TIMEOUT),
        })
    }
}
