//! The kinds of governed call, as `gen_ai.operation.name` names them: the same list, in the same
//! order, as the macro's (`govops_protocol::KINDS`).

use govops_protocol::KINDS;

/// The kind of a governed call: its `gen_ai.operation.name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// `chat`.
    Chat,
    /// `text_completion`.
    TextCompletion,
    /// `embeddings`.
    Embeddings,
    /// `retrieval`.
    Retrieval,
    /// `execute_tool`.
    ExecuteTool,
    /// `invoke_agent`.
    InvokeAgent,
    /// `invoke_workflow`.
    InvokeWorkflow,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 7] = [
        Operation::Chat,
        Operation::TextCompletion,
        Operation::Embeddings,
        Operation::Retrieval,
        Operation::ExecuteTool,
        Operation::InvokeAgent,
        Operation::InvokeWorkflow,
    ];

    /// The `gen_ai.operation.name` value.
    #[must_use]
    pub const fn name(self) -> &'static str {
        // `ALL` lists the operations in `KINDS`'s order (a test holds them together).
        KINDS[self as usize].operation
    }

    /// The operation a `gen_ai.operation.name` value names.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        let at = KINDS.iter().position(|k| k.operation == name)?;
        Self::ALL.get(at).copied()
    }

    /// Whether it is a model call (contract section 3): chat, text completion or embeddings.
    #[must_use]
    pub const fn is_model(self) -> bool {
        matches!(
            self,
            Operation::Chat | Operation::TextCompletion | Operation::Embeddings
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_the_macros_kinds_in_their_order() {
        assert_eq!(Operation::ALL.len(), KINDS.len());
        for (operation, kind) in Operation::ALL.into_iter().zip(KINDS) {
            assert_eq!(operation.name(), kind.operation);
            assert_eq!(Operation::from_name(kind.operation), Some(operation));
            assert_eq!(
                operation.is_model(),
                kind.class == govops_protocol::Class::Model
            );
        }
        assert_eq!(Operation::from_name("chatbot"), None);
    }
}
