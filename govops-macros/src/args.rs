//! Parsing `#[governed(...)]`'s arguments, with errors on the offending token.

use govops_protocol::{Class, KINDS, Kind};
use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, Token};

/// The kinds of call the macro accepts, for error messages: `chat, text_completion, ..`.
fn kind_list() -> String {
    KINDS
        .iter()
        .map(|k| k.attribute)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The words of the kinds of these classes, in the classes' order, for error messages:
/// `chat, text_completion and embeddings`.
fn kinds_of(classes: &[Class], conjunction: &str) -> String {
    let words: Vec<&str> = classes
        .iter()
        .flat_map(|class| KINDS.iter().filter(move |k| k.class == *class))
        .map(|k| k.attribute)
        .collect();
    match words.split_last() {
        Some((only, [])) => (*only).to_owned(),
        Some((last, others)) => format!("{} {conjunction} {last}", others.join(", ")),
        None => String::new(),
    }
}

/// The kinds that name their subject with `name = ..` and need it.
const NEED_NAME: [Class; 3] = [Class::Tool, Class::Agent, Class::Workflow];

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
    /// `err`, where it was written: a misuse's error points there.
    pub(crate) err: Option<Span>,
    /// The most output tokens the call may produce (`gen_ai.request.max_tokens`).
    pub(crate) max_tokens: Option<Expr>,
    /// The prompt text, for the input estimate budgets reserve before the call.
    pub(crate) prompt: Option<Expr>,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let (kind, kind_span) = parse_kind(input)?;
        let mut args = Args {
            kind,
            kind_span,
            model: None,
            provider: None,
            name: None,
            skip: Vec::new(),
            skip_all: false,
            fields: Vec::new(),
            err: None,
            max_tokens: None,
            prompt: None,
        };
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            args.parse_argument(input)?;
        }
        args.check()?;
        Ok(args)
    }
}

/// The kind of call, which comes first: `chat`, `tool`, ...
fn parse_kind(input: ParseStream<'_>) -> syn::Result<(Kind, Span)> {
    if input.is_empty() {
        return Err(syn::Error::new(
            Span::call_site(),
            format!(
                "#[governed] needs the kind of call first: one of {} (e.g. #[governed(chat, model = \"gpt-4o\")])",
                kind_list()
            ),
        ));
    }
    let ident: Ident = input.parse().map_err(|e| {
        syn::Error::new(
            e.span(),
            format!("expected the kind of call first: one of {}", kind_list()),
        )
    })?;
    let word = ident.to_string();
    match govops_protocol::kind(&word) {
        Some(kind) => Ok((kind, ident.span())),
        None => Err(syn::Error::new(
            ident.span(),
            format!("unknown kind `{word}`; expected one of {}", kind_list()),
        )),
    }
}

impl Args {
    /// Whether the call is a model call (`chat`, `text_completion`, `embeddings`).
    pub(crate) fn is_model(&self) -> bool {
        self.kind.class == Class::Model
    }

    /// One argument after the kind: `key = value`, `skip(..)`, `fields(..)` or a flag.
    fn parse_argument(&mut self, input: ParseStream<'_>) -> syn::Result<()> {
        let key: Ident = input.call(Ident::parse_any_ident)?;
        match key.to_string().as_str() {
            "model" | "provider" | "name" | "max_tokens" | "prompt" => {
                self.parse_value(&key, input)?;
            }
            "skip" => {
                let content;
                syn::parenthesized!(content in input);
                let names = Punctuated::<Ident, Token![,]>::parse_terminated_with(
                    &content,
                    Ident::parse_any_ident,
                )?;
                self.skip.extend(names);
            }
            "skip_all" => self.skip_all = true,
            "fields" => {
                let content;
                syn::parenthesized!(content in input);
                self.fields
                    .extend(Punctuated::<Field, Token![,]>::parse_terminated(&content)?);
            }
            "err" => self.err = Some(key.span()),
            other => {
                return Err(syn::Error::new(
                    key.span(),
                    format!(
                        "unknown argument `{other}`; expected model = .., provider = .., name = .., max_tokens = .., prompt = .., skip(..), skip_all, fields(..) or err"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// `key = <expression>` of the arguments that take one, each at most once.
    fn parse_value(&mut self, key: &Ident, input: ParseStream<'_>) -> syn::Result<()> {
        let key_name = key.to_string();
        input.parse::<Token![=]>().map_err(|e| {
            syn::Error::new(e.span(), format!("expected `{key_name} = <expression>`"))
        })?;
        let value: Expr = input.parse()?;
        let slot = match key_name.as_str() {
            "model" => &mut self.model,
            "provider" => &mut self.provider,
            "max_tokens" => &mut self.max_tokens,
            "prompt" => &mut self.prompt,
            _ => &mut self.name,
        };
        if slot.is_some() {
            return Err(syn::Error::new(
                key.span(),
                format!("`{key_name}` is given twice"),
            ));
        }
        *slot = Some(value);
        Ok(())
    }

    /// Which arguments each kind takes and needs.
    fn check(&self) -> syn::Result<()> {
        if self.is_model() {
            self.check_model_call()
        } else {
            self.check_named_call()
        }
    }

    /// A model call takes `model` (which it needs), `provider`, `prompt` and `max_tokens`.
    fn check_model_call(&self) -> syn::Result<()> {
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
        Ok(())
    }

    /// A tool, agent or workflow takes `name` (which it needs); a retrieval may.
    fn check_named_call(&self) -> syn::Result<()> {
        if let Some(model) = &self.model {
            let takes_name = [&NEED_NAME[..], &[Class::Retrieval]].concat();
            return Err(syn::Error::new_spanned(
                model,
                format!(
                    "`model` applies to {}; a {} takes `name`",
                    kinds_of(&[Class::Model], "and"),
                    kinds_of(&takes_name, "or")
                ),
            ));
        }
        if let Some(provider) = &self.provider {
            return Err(syn::Error::new_spanned(
                provider,
                format!("`provider` applies to {}", kinds_of(&[Class::Model], "and")),
            ));
        }
        if let Some(e) = self.max_tokens.as_ref().or(self.prompt.as_ref()) {
            return Err(syn::Error::new_spanned(
                e,
                format!(
                    "`max_tokens` and `prompt` apply to {}",
                    kinds_of(&[Class::Model], "and")
                ),
            ));
        }
        if self.name.is_none() && NEED_NAME.contains(&self.kind.class) {
            return Err(syn::Error::new(
                self.kind_span,
                format!("a {} needs `name = \"...\"`", kinds_of(&NEED_NAME, "or")),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_list_the_protocol_kinds() {
        assert_eq!(
            kind_list(),
            "chat, text_completion, embeddings, retrieval, tool, agent, workflow"
        );
        assert_eq!(
            kinds_of(&[Class::Model], "and"),
            "chat, text_completion and embeddings"
        );
        assert_eq!(kinds_of(&NEED_NAME, "or"), "tool, agent or workflow");
        assert_eq!(kinds_of(&[Class::Retrieval], "or"), "retrieval");
    }

    #[test]
    fn the_kind_comes_from_the_protocol() {
        let args: Args = syn::parse_quote!(tool, name = "search", err, skip_all);
        assert_eq!(args.kind.operation, "execute_tool");
        assert!(!args.is_model() && args.err.is_some() && args.skip_all);
        let unknown = syn::parse_str::<Args>("completion, model = \"m\"");
        assert!(unknown.is_err_and(|e| e.to_string().starts_with("unknown kind `completion`")));
    }
}
