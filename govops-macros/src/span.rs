//! The span a governed call opens: its static name and its fields, named as `govops_protocol`
//! says and in the order the contract layer reads them.

use govops_protocol::{Class, field};
use proc_macro2::{Delimiter, Group, Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, Ident, Lit, Type};

use crate::args::Args;
use crate::autoref;
use crate::expand::{private, private_at};

/// A protocol field name as the tokens `tracing::span!` takes (`gen_ai.request.model`), on the
/// user's token where the field comes from one.
pub(crate) fn name(field: &str, span: Span) -> TokenStream {
    let segments = field.split('.').map(|segment| Ident::new(segment, span));
    quote_spanned!(span=> #(#segments).*)
}

/// A string literal's value, for a span name known at compile time.
fn literal(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) => Some(s.value()),
        _ => None,
    }
}

/// A field value: a string literal as it is (recorded as a `str`), any other expression through
/// its `Display`.
fn value(expr: &Expr) -> TokenStream {
    if literal(expr).is_some() {
        quote!(#expr)
    } else {
        quote_spanned!(expr.span()=> %(#expr))
    }
}

/// `&(expr)`, spanned from the expression's first token to its last: a bound checked on it is
/// an error under the whole expression, not its first token alone.
fn borrowed(expr: &Expr) -> TokenStream {
    let tokens = expr.to_token_stream();
    let first = expr.span();
    let last = tokens
        .clone()
        .into_iter()
        .last()
        .map_or(first, |t| t.span());
    let mut group = Group::new(Delimiter::Parenthesis, tokens);
    group.set_span(last);
    quote_spanned!(first=> & #group)
}

/// What names the call: the model of a model call, the name of anything else.
struct Subject<'a> {
    expr: &'a Expr,
    /// Its value when it is a string literal, which makes it part of the static name.
    literal: Option<String>,
}

impl Subject<'_> {
    /// The local a subject that is not a literal is bound to, evaluated once before the span:
    /// its name, its attribute and the prompt's estimate all read the one value.
    fn bound(&self) -> Option<Expr> {
        let span = self.expr.span();
        self.literal
            .is_none()
            .then(|| syn::parse_quote_spanned!(span=> __govops_subject))
    }

    /// The subject's value as its field records it.
    fn value(&self) -> TokenStream {
        match self.bound() {
            Some(bound) => value(&bound),
            None => value(self.expr),
        }
    }
}

/// The `let __govops_span = ..;` statement that opens the call's span. `names` are the
/// function's arguments; `yielded` the type its call yields, when it could be a `Result`.
pub(crate) fn open(args: &Args, names: &[Ident], yielded: Option<&Type>) -> TokenStream {
    let private = private();
    let operation = args.kind.operation;
    let subject = match args.kind.class {
        Class::Model => args.model.as_ref(),
        _ => args.name.as_ref(),
    }
    .map(|expr| Subject {
        expr,
        literal: literal(expr),
    });
    // The tracing name is static: the full span name when the subject is a literal, else the
    // operation; `otel.name` always carries the full one.
    let static_name = match subject.as_ref().and_then(|s| s.literal.as_ref()) {
        Some(s) => format!("{operation} {s}"),
        None => operation.to_owned(),
    };
    let otel_name = {
        let field = name(field::OTEL_NAME, Span::call_site());
        match subject.as_ref().and_then(Subject::bound) {
            Some(bound) => quote!(#field = %#private::SpanName(#operation, #bound),),
            None => quote!(#field = #static_name,),
        }
    };
    // Bound by a `match` around the span's creation, so that temporaries in the expressions
    // (`req.model().as_str()`) live as long as the span's fields need them, and no longer: the
    // arguments are free again for the body (an `async move` block takes them).
    let (bound, patterns): (Vec<TokenStream>, Vec<TokenStream>) =
        bindings(args, subject.as_ref()).into_iter().unzip();
    let version = name(field::CONTRACT_VERSION, Span::call_site());
    let operation_name = name(field::OPERATION_NAME, Span::call_site());
    let subject_fields = subject_fields(args, subject.as_ref());
    let handling_fields = handling_fields(args, names, yielded);
    let budget_fields = budget_fields(args, subject.as_ref());
    let user_fields = args.fields.iter().map(|f| {
        let (name, value) = (&f.name, &f.value);
        quote_spanned!(value.span()=> #name = #value,)
    });
    let argument_fields = argument_fields(args, names);
    quote! {
        let __govops_span = match (#(#bound,)*) { (#(#patterns,)*) => #private::tracing::span!(
            target: ::core::module_path!(),
            #private::tracing::Level::INFO,
            #static_name,
            // First, always: how the layer knows a governed span without a lookup.
            #version = #private::CONTRACT_VERSION,
            #otel_name
            #operation_name = #operation,
            #subject_fields
            #handling_fields
            #budget_fields
            #(#user_fields)*
            #argument_fields
        ) };
    }
}

/// What is evaluated once before the span opens, and the locals it is bound to: a subject that
/// is not a literal, and the prompt's text.
fn bindings(args: &Args, subject: Option<&Subject<'_>>) -> Vec<(TokenStream, TokenStream)> {
    let subject = subject.and_then(|s| {
        let bound = s.bound()?;
        let expr = s.expr;
        Some((
            quote_spanned!(expr.span()=> &(#expr)),
            quote_spanned!(expr.span()=> #bound),
        ))
    });
    // The prompt is evaluated once: the layer inspects its text (and exports it only when the
    // policy captures content) and budgets reserve its estimate. Its text is taken on the
    // user's expression, so that one that is not text is an error there.
    let prompt = args.prompt.as_ref().map(|p| {
        let (checked, prompt) = (private_at(p.span()), borrowed(p));
        (
            quote_spanned!(p.span()=> #checked::PromptText::text(#prompt)),
            quote_spanned!(p.span()=> __govops_prompt),
        )
    });
    subject.into_iter().chain(prompt).collect()
}

/// The model and provider of a model call; the name of a tool, agent, workflow or retrieval.
fn subject_fields(args: &Args, subject: Option<&Subject<'_>>) -> TokenStream {
    let subject_value = |e: &Expr| match subject {
        Some(s) if std::ptr::eq(s.expr, e) => s.value(),
        _ => value(e),
    };
    let model = args.model.as_ref().map(|m| {
        let (field, v) = (name(field::REQUEST_MODEL, m.span()), subject_value(m));
        quote_spanned!(m.span()=> #field = #v,)
    });
    let provider = args.provider.as_ref().map(|p| {
        let (field, v) = (name(field::PROVIDER_NAME, p.span()), value(p));
        quote_spanned!(p.span()=> #field = #v,)
    });
    let named = args.name.as_ref().map(|n| {
        let field = match args.kind.class {
            Class::Tool => field::TOOL_NAME,
            Class::Agent => field::AGENT_NAME,
            _ => field::NAME,
        };
        let (field, v) = (name(field, n.span()), subject_value(n));
        quote_spanned!(n.span()=> #field = #v,)
    });
    quote!(#model #provider #named)
}

/// What budgets reserve before a model call: the most output, the prompt's estimated tokens
/// (counted with the model's tokenizer when the `tiktoken` feature is on), and the prompt.
fn budget_fields(args: &Args, subject: Option<&Subject<'_>>) -> TokenStream {
    let private = private();
    let max_tokens = args.max_tokens.as_ref().map(|m| {
        let (field, checked) = (
            name(field::REQUEST_MAX_TOKENS, m.span()),
            private_at(m.span()),
        );
        quote_spanned!(m.span()=> #field = #checked::TokenCount::token_count(#m),)
    });
    let prompt = args.prompt.as_ref().map(|p| {
        let model = match (subject.and_then(Subject::bound), args.model.as_ref()) {
            (Some(bound), _) if args.is_model() => quote!(Some(#bound)),
            (_, Some(m)) => quote!(Some(&(#m))),
            _ => quote!(None::<&str>),
        };
        let prompt = name(field::PROMPT, p.span());
        let estimated = name(field::PROMPT_ESTIMATED_TOKENS, p.span());
        quote_spanned! {p.span()=>
            #prompt = __govops_prompt,
            #estimated = #private::estimate_tokens(
                __govops_prompt,
                ::core::option::Option::#model,
            ),
        }
    });
    quote!(#max_tokens #prompt)
}

/// What the layer's checks need to know of the call: whether it can be denied (its result
/// type, `yielded`, is a `Result` whose error converts from a `Violation`), and whether some
/// arguments are left out of the span.
fn handling_fields(args: &Args, names: &[Ident], yielded: Option<&Type>) -> TokenStream {
    let deniable = yielded.map(|ty| {
        let field = name(field::DENIABLE, Span::call_site());
        let deniable = autoref::deniable(ty);
        quote!(#field = #deniable,)
    });
    // Arguments left out of the span cannot tell two calls apart: the loop guard must not take
    // them for repeats.
    let partial = (args.skip_all && !names.is_empty()) || !args.skip.iter().all(|s| s == "self");
    let partial = partial.then(|| {
        let field = name(field::ARGUMENTS_PARTIAL, Span::call_site());
        quote!(#field = true,)
    });
    quote!(#deniable #partial)
}

/// The function's arguments, after their marker.
fn argument_fields(args: &Args, names: &[Ident]) -> TokenStream {
    let private = private();
    // Each argument through a bound on its own token: one without `Debug` is an error there.
    let recorded: Vec<TokenStream> = names
        .iter()
        .filter(|n| !args.skip_all && !args.skip.contains(n))
        .map(|n| {
            let checked = private_at(n.span());
            quote_spanned! {n.span()=>
                #n = #private::tracing::field::debug(#checked::RecordedArgument::recorded(&#n)),
            }
        })
        .collect();
    // What follows it are the arguments, which may hold message content: the layer exports them
    // as the policy's capture says.
    let marker = (!recorded.is_empty()).then(|| {
        let field = name(field::ARGUMENTS, Span::call_site());
        quote!(#field = true,)
    });
    quote!(#marker #(#recorded)*)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_names_become_the_dotted_idents_tracing_takes() {
        let tokens = name(field::PROMPT_ESTIMATED_TOKENS, Span::call_site());
        assert_eq!(tokens.to_string(), "govops . prompt . estimated_tokens");
        assert_eq!(name(field::ERROR, Span::call_site()).to_string(), "error");
    }
}
