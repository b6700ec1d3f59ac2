//! Parsing `#[governed(...)]`'s arguments, with errors on the offending token.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, Token};

/// The kinds of governed call and their `gen_ai.operation.name`.
const KINDS: [(&str, &str); 7] = [
    ("chat", "chat"),
    ("text_completion", "text_completion"),
    ("embeddings", "embeddings"),
    ("retrieval", "retrieval"),
    ("tool", "execute_tool"),
    ("agent", "invoke_agent"),
    ("workflow", "invoke_workflow"),
];

const KIND_LIST: &str = "chat, text_completion, embeddings, retrieval, tool, agent, workflow";

/// What the call is.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A model call: `chat`, `text_completion`, `embeddings`.
    Model(&'static str),
    /// `retrieval`.
    Retrieval,
    /// `tool`.
    Tool,
    /// `agent`.
    Agent,
    /// `workflow`.
    Workflow,
}

impl Kind {
    /// `gen_ai.operation.name`.
    pub(crate) fn operation(self) -> &'static str {
        match self {
            Kind::Model(op) => op,
            Kind::Retrieval => "retrieval",
            Kind::Tool => "execute_tool",
            Kind::Agent => "invoke_agent",
            Kind::Workflow => "invoke_workflow",
        }
    }
}

/// One `key = value` of `fields(...)`.
pub(crate) struct Field {
    pub(crate) name: Punctuated<Ident, Token![.]>,
    pub(crate) value: Expr,
}

impl Parse for Field {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let name = Punctuated::parse_separated_nonempty_with(input, Ident::parse_any_ident)?;
        input.parse::<Token![=]>()?;
        Ok(Self {
            name,
            value: input.parse()?,
        })
    }
}

/// `Ident::parse_any` without importing the extension trait at every use.
trait AnyIdent {
    fn parse_any_ident(input: ParseStream<'_>) -> syn::Result<Ident>;
}

impl AnyIdent for Ident {
    fn parse_any_ident(input: ParseStream<'_>) -> syn::Result<Ident> {
        use syn::ext::IdentExt;
        Ident::parse_any(input)
    }
}

/// Everything the attribute says.
pub(crate) struct Args {
    pub(crate) kind: Kind,
    pub(crate) kind_span: Span,
    pub(crate) model: Option<Expr>,
    pub(crate) provider: Option<Expr>,
    pub(crate) name: Option<Expr>,
    pub(crate) skip: Vec<Ident>,
    pub(crate) skip_all: bool,
    pub(crate) fields: Vec<Field>,
    pub(crate) err: bool,
    /// The most output tokens the call may produce (`gen_ai.request.max_tokens`).
    pub(crate) max_tokens: Option<Expr>,
    /// The prompt text, for the input estimate budgets reserve before the call.
    pub(crate) prompt: Option<Expr>,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.is_empty() {
            return Err(syn::Error::new(
                Span::call_site(),
                format!(
                    "#[governed] needs the kind of call first: one of {KIND_LIST} (e.g. #[governed(chat, model = \"gpt-4o\")])"
                ),
            ));
        }
        let kind_ident: Ident = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                format!("expected the kind of call first: one of {KIND_LIST}"),
            )
        })?;
        let kind_name = kind_ident.to_string();
        let kind = match KINDS.iter().find(|(k, _)| *k == kind_name) {
            Some(("tool", _)) => Kind::Tool,
            Some(("agent", _)) => Kind::Agent,
            Some(("workflow", _)) => Kind::Workflow,
            Some(("retrieval", _)) => Kind::Retrieval,
            Some((_, op)) => Kind::Model(op),
            None => {
                return Err(syn::Error::new(
                    kind_ident.span(),
                    format!("unknown kind `{kind_name}`; expected one of {KIND_LIST}"),
                ));
            }
        };
        let mut args = Args {
            kind,
            kind_span: kind_ident.span(),
            model: None,
            provider: None,
            name: None,
            skip: Vec::new(),
            skip_all: false,
            fields: Vec::new(),
            err: false,
            max_tokens: None,
            prompt: None,
        };
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let key: Ident = input.call(Ident::parse_any_ident)?;
            let key_name = key.to_string();
            match key_name.as_str() {
                "model" | "provider" | "name" | "max_tokens" | "prompt" => {
                    input.parse::<Token![=]>().map_err(|e| {
                        syn::Error::new(e.span(), format!("expected `{key_name} = <expression>`"))
                    })?;
                    let value: Expr = input.parse()?;
                    let slot = match key_name.as_str() {
                        "model" => &mut args.model,
                        "provider" => &mut args.provider,
                        "max_tokens" => &mut args.max_tokens,
                        "prompt" => &mut args.prompt,
                        _ => &mut args.name,
                    };
                    if slot.is_some() {
                        return Err(syn::Error::new(
                            key.span(),
                            format!("`{key_name}` is given twice"),
                        ));
                    }
                    *slot = Some(value);
                }
                "skip" => {
                    let content;
                    syn::parenthesized!(content in input);
                    let names = Punctuated::<Ident, Token![,]>::parse_terminated_with(
                        &content,
                        Ident::parse_any_ident,
                    )?;
                    args.skip.extend(names);
                }
                "skip_all" => args.skip_all = true,
                "fields" => {
                    let content;
                    syn::parenthesized!(content in input);
                    args.fields
                        .extend(Punctuated::<Field, Token![,]>::parse_terminated(&content)?);
                }
                "err" => args.err = true,
                _ => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!(
                            "unknown argument `{key_name}`; expected model = .., provider = .., name = .., max_tokens = .., prompt = .., skip(..), skip_all, fields(..) or err"
                        ),
                    ));
                }
            }
        }
        args.check()?;
        Ok(args)
    }
}

impl Args {
    /// Which arguments each kind takes and needs.
    fn check(&self) -> syn::Result<()> {
        let is_model = matches!(self.kind, Kind::Model(_));
        if is_model {
            if self.model.is_none() {
                return Err(syn::Error::new(
                    self.kind_span,
                    "a model call needs `model = ...`: a string literal or an expression over the arguments",
                ));
            }
            if let Some(name) = &self.name {
                return Err(syn::Error::new_spanned(
                    name,
                    "`name` names tools, agents and workflows; a model call takes `model`",
                ));
            }
        } else {
            if let Some(model) = &self.model {
                return Err(syn::Error::new_spanned(
                    model,
                    "`model` applies to chat, text_completion and embeddings; a tool, agent, workflow or retrieval takes `name`",
                ));
            }
            if let Some(provider) = &self.provider {
                return Err(syn::Error::new_spanned(
                    provider,
                    "`provider` applies to chat, text_completion and embeddings",
                ));
            }
            if let Some(e) = self.max_tokens.as_ref().or(self.prompt.as_ref()) {
                return Err(syn::Error::new_spanned(
                    e,
                    "`max_tokens` and `prompt` apply to chat, text_completion and embeddings",
                ));
            }
            if self.name.is_none() && self.kind != Kind::Retrieval {
                return Err(syn::Error::new(
                    self.kind_span,
                    "a tool, agent or workflow needs `name = \"...\"`",
                ));
            }
        }
        Ok(())
    }
}
