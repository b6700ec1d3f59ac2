//! The field protocol between `#[governed]` and govops's contract layer.
//!
//! The macro writes a governed call's span with these field names, in this order; the layer
//! reads them back. Both crates take every name and every kind of call from here, so the two
//! cannot drift apart. Users do not need this crate: `govops` re-exports what they name.
//!
//! ```
//! use govops_protocol::{Class, kind};
//!
//! let tool = kind("tool").expect("a kind the macro accepts");
//! assert_eq!(tool.operation, "execute_tool");
//! assert_eq!(tool.class, Class::Tool);
//! assert!(kind("chatbot").is_none());
//! ```

#![no_std]

/// What a kind of governed call is, which decides the arguments `#[governed]` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// A model call (`chat`, `text_completion`, `embeddings`): takes `model`, `provider`,
    /// `prompt`, `max_tokens`, and reports usage.
    Model,
    /// A retrieval: takes `name`.
    Retrieval,
    /// A tool call: takes `name`, recorded as `gen_ai.tool.name`.
    Tool,
    /// An agent: takes `name`, recorded as `gen_ai.agent.name`.
    Agent,
    /// A workflow: takes `name`.
    Workflow,
}

/// One kind of governed call: the word the macro accepts and its `gen_ai.operation.name`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kind {
    /// The word written in `#[governed(..)]`.
    pub attribute: &'static str,
    /// `gen_ai.operation.name`, the first word of the span's name.
    pub operation: &'static str,
    /// What the call is.
    pub class: Class,
}

/// Every kind of governed call, in the order documentation lists them.
pub const KINDS: [Kind; 7] = [
    Kind {
        attribute: "chat",
        operation: "chat",
        class: Class::Model,
    },
    Kind {
        attribute: "text_completion",
        operation: "text_completion",
        class: Class::Model,
    },
    Kind {
        attribute: "embeddings",
        operation: "embeddings",
        class: Class::Model,
    },
    Kind {
        attribute: "retrieval",
        operation: "retrieval",
        class: Class::Retrieval,
    },
    Kind {
        attribute: "tool",
        operation: "execute_tool",
        class: Class::Tool,
    },
    Kind {
        attribute: "agent",
        operation: "invoke_agent",
        class: Class::Agent,
    },
    Kind {
        attribute: "workflow",
        operation: "invoke_workflow",
        class: Class::Workflow,
    },
];

/// The kind `#[governed(word, ..)]` names, if any.
#[must_use]
pub fn kind(attribute: &str) -> Option<Kind> {
    KINDS.iter().copied().find(|k| k.attribute == attribute)
}

/// The kind whose `gen_ai.operation.name` is `operation`, if any.
#[must_use]
pub fn by_operation(operation: &str) -> Option<Kind> {
    KINDS.iter().copied().find(|k| k.operation == operation)
}

/// The field names of a governed call's span, as the macro writes them.
pub mod field {
    /// First on every governed span: how the layer knows one without a look-up.
    pub const CONTRACT_VERSION: &str = "govops.contract.version";
    /// The span's full name (`chat gpt-4o`), when the callsite's static name is not it.
    pub const OTEL_NAME: &str = "otel.name";
    /// The kind's `gen_ai.operation.name`.
    pub const OPERATION_NAME: &str = "gen_ai.operation.name";
    /// `model = ..`.
    pub const REQUEST_MODEL: &str = "gen_ai.request.model";
    /// `provider = ..`.
    pub const PROVIDER_NAME: &str = "gen_ai.provider.name";
    /// `name = ..` of a tool.
    pub const TOOL_NAME: &str = "gen_ai.tool.name";
    /// `name = ..` of an agent.
    pub const AGENT_NAME: &str = "gen_ai.agent.name";
    /// `name = ..` of a retrieval or workflow.
    pub const NAME: &str = "govops.name";
    /// The call can return a `govops::Violation` as its error: a check at open may deny it.
    pub const DENIABLE: &str = "govops.deniable";
    /// Some arguments were not recorded (`skip`, `skip_all`): calls cannot be told apart.
    pub const ARGUMENTS_PARTIAL: &str = "govops.arguments_partial";
    /// `max_tokens = ..`: the most output the call may produce.
    pub const REQUEST_MAX_TOKENS: &str = "gen_ai.request.max_tokens";
    /// `prompt = ..`: the prompt's text, scanned, and exported only when content is captured.
    pub const PROMPT: &str = "govops.prompt";
    /// The prompt's estimated tokens, for the window guard and budget reservations.
    pub const PROMPT_ESTIMATED_TOKENS: &str = "govops.prompt.estimated_tokens";
    /// Every field after this one is an argument of the function.
    pub const ARGUMENTS: &str = "govops.arguments";
    /// The field of the `ERROR` event `err` emits when the call returns an `Err`: the error's
    /// `Display`, which fails the call.
    pub const ERROR: &str = "error";
}
