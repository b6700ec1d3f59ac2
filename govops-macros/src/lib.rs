//! The `#[governed]` attribute of govops.
//!
//! ```ignore
//! #[governed(chat, model = "gpt-4o", provider = "openai")]
//! async fn answer(prompt: &str) -> Result<String, Error> { ... }
//!
//! #[governed(tool, name = "search")]
//! fn search(query: &str) -> Vec<Hit> { ... }
//! ```
//!
//! Every call opens a span that carries the contract's fields (`gen_ai.operation.name`, the model
//! or tool or agent name, `govops.contract.version`) and is named as the semantic conventions say
//! (`chat gpt-4o`, `execute_tool search`, `invoke_agent planner`). Arguments are recorded with
//! `Debug` unless skipped, and `fields(..)`, `skip(..)`, `skip_all` and `err` work as they do on
//! `#[tracing::instrument]`. Use it through the `govops` crate, which re-exports it.

mod args;
mod autoref;
mod expand;
mod signature;
mod span;

use proc_macro::TokenStream;

/// Governs a model call, tool call, agent or workflow: see the crate documentation.
#[proc_macro_attribute]
pub fn governed(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = syn::parse_macro_input!(args as args::Args);
    let item = syn::parse_macro_input!(item as syn::ItemFn);
    expand::governed(&args, item)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
