//! The bounds `#[governed]` puts on what it records, as traits the macro calls on the user's own
//! tokens: when one is not met, the compiler's error points at that token and says what is
//! accepted, instead of at a bound deep inside `tracing`.

use std::fmt::{Debug, Display};

/// A function argument `#[governed]` records on the span: any `Debug` value.
#[diagnostic::on_unimplemented(
    message = "`#[governed]` records each argument with `Debug`, and `{Self}` does not implement it",
    label = "`{Self}` is not `Debug`",
    note = "derive or implement `Debug` for `{Self}`, or leave this argument out of the span with `skip(<argument>)` (or every argument with `skip_all`)"
)]
pub trait RecordedArgument {
    /// The argument as the span records it.
    fn recorded(&self) -> &dyn Debug;
}

impl<T: Debug> RecordedArgument for T {
    #[inline(always)]
    fn recorded(&self) -> &dyn Debug {
        self
    }
}

/// The error of a function with `#[governed(.., err)]`: any `Display` value.
#[diagnostic::on_unimplemented(
    message = "`err` records the function's error with `Display`, and `{Self}` does not implement it",
    label = "needs the error type to be `Display`",
    note = "implement `Display` for `{Self}`, or remove `err` (the call is then not failed by its error)"
)]
pub trait RecordedError {
    /// The error as the event records it.
    fn recorded(&self) -> &dyn Display;
}

impl<T: Display> RecordedError for T {
    #[inline(always)]
    fn recorded(&self) -> &dyn Display {
        self
    }
}

/// What `prompt = ..` takes: text (`&str`, `String`, anything `AsRef<str>`).
#[diagnostic::on_unimplemented(
    message = "`prompt = ..` takes the prompt's text (`&str`, `String`, anything `AsRef<str>`), not `{Self}`",
    label = "not text",
    note = "pass the text the model is sent, e.g. `prompt = request.text.as_str()`"
)]
pub trait PromptText {
    /// The prompt's text.
    fn text(&self) -> &str;
}

// Not recommended, as `TokenCount`'s impl: the error says what `prompt` takes rather than list
// every `AsRef` the type has.
#[diagnostic::do_not_recommend]
impl<T: AsRef<str> + ?Sized> PromptText for T {
    #[inline(always)]
    fn text(&self) -> &str {
        self.as_ref()
    }
}

/// What `max_tokens = ..` takes: an integer (any `TryInto<i64>`).
#[diagnostic::on_unimplemented(
    message = "`max_tokens = ..` takes an integer, not `{Self}`",
    label = "not an integer",
    note = "pass the most output tokens the call may produce, e.g. `max_tokens = 512` or `max_tokens = request.max_tokens`"
)]
pub trait TokenCount {
    /// The count as the `i64` telemetry carries, saturated.
    fn token_count(self) -> i64;
}

// Not recommended: the compiler then reports the unmet `TokenCount` with the message above,
// rather than the deepest bound it finds through this impl (`i64: From<&str>`).
#[diagnostic::do_not_recommend]
impl<N: TryInto<i64>> TokenCount for N {
    #[inline(always)]
    fn token_count(self) -> i64 {
        self.try_into().unwrap_or(i64::MAX)
    }
}
