//! The telemetry contract's schema (sections 2 and 3): which attributes a governed span carries
//! and with which type, checked the same way by `govops::testing` and `govops check telemetry`.

use std::fmt;

use crate::contract::{CONTRACT_VERSION, attr};

/// An attribute's value as the schema sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr<'a> {
    /// A string.
    Str(&'a str),
    /// An integer.
    Int(i64),
    /// A double.
    Double(f64),
    /// An array of strings.
    StrArray(Vec<&'a str>),
    /// Anything else, described.
    Other(String),
}

/// What a span lacks against the contract: each missing or mistyped field, named.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Problem {
    /// The attribute key.
    pub key: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.problem)
    }
}

/// The type a contract field must have.
#[derive(Clone, Copy)]
enum Kind {
    String,
    Int,
    Double,
    Strings,
    OneOf(&'static [&'static str]),
}

impl Kind {
    fn describe(self) -> String {
        match self {
            Kind::String => "a string".to_owned(),
            Kind::Int => "an int".to_owned(),
            Kind::Double => "a double".to_owned(),
            Kind::Strings => "a string array".to_owned(),
            Kind::OneOf(values) => format!("one of {}", values.join(", ")),
        }
    }

    fn accepts(self, value: &Attr<'_>) -> bool {
        match (self, value) {
            (Kind::String, Attr::Str(_))
            | (Kind::Int, Attr::Int(_))
            | (Kind::Double, Attr::Double(_))
            | (Kind::Strings, Attr::StrArray(_)) => true,
            (Kind::OneOf(values), Attr::Str(s)) => values.contains(s),
            _ => false,
        }
    }
}

const OPERATIONS: &[&str] = &[
    "chat",
    "text_completion",
    "embeddings",
    "retrieval",
    "execute_tool",
    "invoke_agent",
    "invoke_workflow",
];

/// Section 2: every governed span.
const EVERY_SPAN: [(&str, Kind); 9] = [
    ("service.name", Kind::String),
    ("deployment.environment.name", Kind::String),
    (attr::SESSION_ID, Kind::String),
    (attr::USER_ID, Kind::String),
    (attr::OPERATION_NAME, Kind::OneOf(OPERATIONS)),
    (
        attr::POLICY_DECISION,
        Kind::OneOf(&["allow", "flag", "deny"]),
    ),
    (attr::SAFETY_VIOLATIONS, Kind::Strings),
    (attr::LATENCY_MS, Kind::Double),
    (attr::CONTRACT_VERSION, Kind::OneOf(&[CONTRACT_VERSION])),
];

/// Section 3: model calls. The cost is absent exactly when the span carries `unpriced_model`.
const MODEL_SPAN: [(&str, Kind); 4] = [
    (attr::REQUEST_MODEL, Kind::String),
    (attr::PROVIDER_NAME, Kind::String),
    (attr::INPUT_TOKENS, Kind::Int),
    (attr::OUTPUT_TOKENS, Kind::Int),
];

/// Fields that are typed when present.
const WHEN_PRESENT: [(&str, Kind); 8] = [
    (attr::RESPONSE_MODEL, Kind::String),
    (attr::CACHE_READ_TOKENS, Kind::Int),
    (attr::CACHE_CREATION_TOKENS, Kind::Int),
    (attr::REASONING_TOKENS, Kind::Int),
    (attr::CONTEXT_UTILIZATION, Kind::Double),
    (attr::COST_TOTAL_USD, Kind::Double),
    (attr::TOOL_NAME, Kind::String),
    (attr::AGENT_NAME, Kind::String),
];

/// Every way a governed span, whose attributes `get` reads, falls short of contract sections 2
/// and 3; empty when it honours them.
pub fn problems<'a>(get: impl Fn(&str) -> Option<Attr<'a>>) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut check = |key: &'static str, kind: Kind, required: bool| match get(key) {
        None if required => problems.push(Problem {
            key,
            problem: format!("missing; expected {}", kind.describe()),
        }),
        Some(value) if !kind.accepts(&value) => problems.push(Problem {
            key,
            problem: format!("is {value:?}; expected {}", kind.describe()),
        }),
        _ => {}
    };
    for (key, kind) in EVERY_SPAN {
        check(key, kind, true);
    }
    let operation = match get(attr::OPERATION_NAME) {
        Some(Attr::Str(op)) => Some(op.to_owned()),
        _ => None,
    };
    if matches!(
        operation.as_deref(),
        Some("chat" | "text_completion" | "embeddings")
    ) {
        for (key, kind) in MODEL_SPAN {
            check(key, kind, true);
        }
        let unpriced = matches!(
            get(attr::SAFETY_VIOLATIONS),
            Some(Attr::StrArray(codes)) if codes.contains(&"unpriced_model")
        );
        check(attr::COST_TOTAL_USD, Kind::Double, !unpriced);
    }
    match operation.as_deref() {
        Some("execute_tool") => check(attr::TOOL_NAME, Kind::String, true),
        Some("invoke_agent") => check(attr::AGENT_NAME, Kind::String, true),
        _ => {}
    }
    for (key, kind) in WHEN_PRESENT {
        check(key, kind, false);
    }
    problems
}
