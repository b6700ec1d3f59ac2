//! What `#[governed]` expands to.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, FnArg, Ident, ItemFn, Lit, Pat, ReturnType, Signature, Type, TypeParamBound};

use crate::args::{Args, Kind};

/// The path every expansion starts from: downstream crates depend on `govops` alone.
fn private() -> TokenStream {
    quote!(::govops::__private)
}

/// The function's argument names that can be recorded: plain identifiers, not `self`.
fn argument_names(item: &ItemFn) -> Vec<Ident> {
    item.sig
        .inputs
        .iter()
        .filter_map(|input| match input {
            FnArg::Typed(typed) => match &*typed.pat {
                Pat::Ident(pat) => Some(pat.ident.clone()),
                _ => None,
            },
            FnArg::Receiver(_) => None,
        })
        .collect()
}

/// Whether the function returns `impl Future<..>` without being `async`.
fn returns_impl_future(sig: &Signature) -> bool {
    let ReturnType::Type(_, ty) = &sig.output else {
        return false;
    };
    let Type::ImplTrait(bounds) = &**ty else {
        return false;
    };
    bounds.bounds.iter().any(|bound| match bound {
        TypeParamBound::Trait(t) => t.path.segments.last().is_some_and(|s| s.ident == "Future"),
        _ => false,
    })
}

/// The type the function's call yields (its return type, or a returned future's `Output`), when
/// it can be named in an expression and could be a `Result`.
fn yielded_result(sig: &Signature) -> Option<&Type> {
    let ReturnType::Type(_, ty) = &sig.output else {
        return None;
    };
    let yielded = if sig.asyncness.is_some() {
        &**ty
    } else {
        match &**ty {
            Type::ImplTrait(bounds) => bounds.bounds.iter().find_map(|bound| {
                let TypeParamBound::Trait(t) = bound else {
                    return None;
                };
                let syn::PathArguments::AngleBracketed(args) = &t.path.segments.last()?.arguments
                else {
                    return None;
                };
                args.args.iter().find_map(|arg| match arg {
                    syn::GenericArgument::AssocType(assoc) if assoc.ident == "Output" => {
                        Some(&assoc.ty)
                    }
                    _ => None,
                })
            })?,
            other => other,
        }
    };
    // Any type that can be named: the compiler decides (autoref specialization) whether it is a
    // `Result` whose error converts from a `Violation`, so aliases (`io::Result<T>`) count too.
    let unit = matches!(yielded, Type::Tuple(t) if t.elems.is_empty());
    (!unit && !matches!(yielded, Type::Never(_)) && !mentions_impl_trait(yielded))
        .then_some(yielded)
}

/// Whether a type has an `impl Trait` anywhere in it, which a closure's return type cannot name.
fn mentions_impl_trait(ty: &Type) -> bool {
    quote!(#ty).to_string().contains("impl ")
}

/// A string literal's value, for a span name known at compile time.
fn literal(expr: Option<&Expr>) -> Option<String> {
    match expr? {
        Expr::Lit(lit) => match &lit.lit {
            Lit::Str(s) => Some(s.value()),
            _ => None,
        },
        _ => None,
    }
}

/// A field value: a string literal as it is (recorded as a `str`), any other expression through
/// its `Display`.
fn value(expr: &Expr) -> TokenStream {
    if literal(Some(expr)).is_some() {
        quote!(#expr)
    } else {
        quote_spanned!(expr.span()=> %(#expr))
    }
}

pub(crate) fn governed(args: &Args, item: ItemFn) -> syn::Result<TokenStream> {
    let private = private();
    let names = argument_names(&item);
    for skipped in &args.skip {
        if skipped != "self" && !names.iter().any(|n| n == skipped) {
            return Err(syn::Error::new(
                skipped.span(),
                format!("`skip({skipped})`: the function has no argument named `{skipped}`"),
            ));
        }
    }

    let operation = args.kind.operation();
    let subject = match args.kind {
        Kind::Model(_) => args.model.as_ref(),
        _ => args.name.as_ref(),
    };
    // The tracing name is static: the full span name when the subject is a literal, else the
    // operation; `otel.name` always carries the full one.
    let static_name = match literal(subject) {
        Some(s) => format!("{operation} {s}"),
        None => operation.to_owned(),
    };
    // A subject that is not a literal is evaluated once, before the span: its name, its
    // attribute and the prompt's estimate all read the one value.
    let bound_subject: Option<Expr> = subject
        .filter(|_| literal(subject).is_none())
        .map(|s| syn::parse_quote_spanned!(s.span()=> __govops_subject));
    // Bound by a `match` around the span's creation, so that temporaries in the expression
    // (`req.model().as_str()`) live as long as the span's fields need them, and no longer: the
    // arguments are free again for the body (an `async move` block takes them).
    let subject_bind = subject.filter(|_| bound_subject.is_some()).map(|s| {
        (
            quote_spanned!(s.span()=> &(#s)),
            quote_spanned!(s.span()=> __govops_subject),
        )
    });
    let otel_name = match (subject, &bound_subject) {
        (Some(_), Some(bound)) => quote!(otel.name = %#private::SpanName(#operation, #bound),),
        (Some(_), None) => quote!(otel.name = #static_name,),
        (None, _) => quote!(otel.name = #operation,),
    };
    // The subject's own attribute reads the bound value.
    let subject_value = |e: &Expr| match &bound_subject {
        Some(bound) if subject.is_some_and(|s| std::ptr::eq(s, e)) => value(bound),
        _ => value(e),
    };
    let model = args.model.as_ref().map(|m| {
        let v = subject_value(m);
        quote_spanned!(m.span()=> gen_ai.request.model = #v,)
    });
    let provider = args.provider.as_ref().map(|p| {
        let v = value(p);
        quote_spanned!(p.span()=> gen_ai.provider.name = #v,)
    });
    let named = args.name.as_ref().map(|n| {
        let v = subject_value(n);
        match args.kind {
            Kind::Tool => quote_spanned!(n.span()=> gen_ai.tool.name = #v,),
            Kind::Agent => quote_spanned!(n.span()=> gen_ai.agent.name = #v,),
            _ => quote_spanned!(n.span()=> govops.name = #v,),
        }
    });
    // What budgets reserve before the call: the prompt's estimated tokens and the most output.
    let max_tokens = args
        .max_tokens
        .as_ref()
        .map(|m| quote_spanned!(m.span()=> gen_ai.request.max_tokens = #private::token_count(#m),));
    // The prompt is evaluated once: the layer inspects its text (and exports it only when the
    // policy captures content) and budgets reserve its estimate, counted with the model's
    // tokenizer when the `tiktoken` feature is on.
    let prompt_bind = args.prompt.as_ref().map(|p| {
        (
            quote_spanned!(p.span()=> &(#p)),
            quote_spanned!(p.span()=> __govops_prompt),
        )
    });
    let prompt = args.prompt.as_ref().map(|p| {
        let model = match (&bound_subject, args.model.as_ref()) {
            (Some(bound), _) if matches!(args.kind, Kind::Model(_)) => quote!(Some(#bound)),
            (_, Some(m)) => quote!(Some(&(#m))),
            _ => quote!(None::<&str>),
        };
        quote_spanned! {p.span()=>
            govops.prompt = #private::prompt_text(__govops_prompt),
            govops.prompt.estimated_tokens = #private::estimate_tokens(
                __govops_prompt,
                ::core::option::Option::#model,
            ),
        }
    });
    let user_fields = args.fields.iter().map(|f| {
        let (name, value) = (&f.name, &f.value);
        quote_spanned!(value.span()=> #name = #value,)
    });
    let recorded: Vec<TokenStream> = names
        .iter()
        .filter(|n| !args.skip_all && !args.skip.contains(n))
        .map(|n| quote_spanned!(n.span()=> #n = #private::tracing::field::debug(&#n),))
        .collect();
    // What follows it are the arguments, which may hold message content: the layer exports them
    // as the policy's capture says.
    let arguments_marker = (!recorded.is_empty()).then(|| quote!(govops.arguments = true,));

    // A call whose result is a `Result` with an error type that is `From<govops::Violation>` can
    // be denied before its body runs; any other call is flagged, never blocked. Whether the error
    // type converts is known only to the compiler: autoref specialization asks it.
    let yielded = yielded_result(&item.sig).cloned();
    let yielded = yielded.as_ref();
    // Arguments left out of the span cannot tell two calls apart: the loop guard must not take
    // them for repeats.
    let partial = (args.skip_all && !names.is_empty()) || !args.skip.iter().all(|s| s == "self");
    let partial_field = partial.then(|| quote!(govops.arguments_partial = true,));
    let deniable_field = yielded.map(|ty| {
        quote! {
            govops.deniable = {
                #[allow(unused_imports)]
                use #private::{ViaFromViolation as _, ViaNoDeny as _};
                (&#private::Deny::<#ty>::new()).__govops_deniable()
            },
        }
    });
    let deny = yielded.map(|ty| {
        quote! {
            if let ::core::option::Option::Some(__govops_denied) = #private::denied() {
                #[allow(unused_imports)]
                use #private::{ViaFromViolation as _, ViaNoDeny as _};
                if let ::core::option::Option::Some(__govops_refused) =
                    (&#private::Deny::<#ty>::new()).__govops_deny(__govops_denied)
                {
                    return __govops_refused;
                }
            }
        }
    });
    let (bound, patterns): (Vec<TokenStream>, Vec<TokenStream>) =
        subject_bind.into_iter().chain(prompt_bind).unzip();
    let span = quote! {
        let __govops_span = match (#(#bound,)*) { (#(#patterns,)*) => #private::tracing::span!(
            target: ::core::module_path!(),
            #private::tracing::Level::INFO,
            #static_name,
            // First, always: how the layer knows a governed span without a lookup.
            govops.contract.version = #private::CONTRACT_VERSION,
            #otel_name
            gen_ai.operation.name = #operation,
            #model
            #provider
            #named
            #deniable_field
            #partial_field
            #max_tokens
            #prompt
            #(#user_fields)*
            #arguments_marker
            #(#recorded)*
        ) };
    };

    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = item;
    // A function that never returns has no result to report.
    let never = matches!(&sig.output, ReturnType::Type(_, ty) if matches!(**ty, Type::Never(_)));
    let reports = matches!(args.kind, Kind::Model(_)) && !never;
    // What happens to the call's result before it is returned: a model call's result reports its
    // usage when its type is `Reported`; `err` logs an `Err`.
    let finish = |result: TokenStream| {
        let report = reports.then(|| {
            quote! {
                {
                    #[allow(unused_imports)]
                    use #private::{ViaNothing as _, ViaReported as _};
                    (&#private::Probe(&__govops_result)).__govops_report();
                }
            }
        });
        let log_err = args.err.then(|| {
            quote! {
                if let ::core::result::Result::Err(error) = &__govops_result {
                    #private::tracing::error!(target: ::core::module_path!(), error = %error);
                }
            }
        });
        if report.is_none() && log_err.is_none() {
            return result;
        }
        quote! {
            {
                let __govops_result = #result;
                #report
                #log_err
                __govops_result
            }
        }
    };
    let post = reports || args.err;

    let body = if sig.asyncness.is_some() {
        let inner = finish(quote!(async move #block.await));
        quote! {
            #span
            #private::tracing::Instrument::instrument(async move { #deny #inner }, __govops_span).await
        }
    } else if returns_impl_future(&sig) {
        // The body runs when the function is called (it may borrow the arguments for a future
        // that outlives them), so a denial is asked for then, and a denied call's body never
        // runs: the future it returns yields the refusal.
        match yielded {
            Some(ty) => {
                let inner = finish(quote!(__govops_future.await));
                quote! {
                    #span
                    let __govops_refused = __govops_span.in_scope(|| {
                        let __govops_denied = #private::denied()?;
                        #[allow(unused_imports)]
                        use #private::{ViaFromViolation as _, ViaNoDeny as _};
                        (&#private::Deny::<#ty>::new()).__govops_deny(__govops_denied)
                    });
                    let __govops_call = match __govops_refused {
                        ::core::option::Option::Some(__govops_refused) => {
                            #private::Gate::Refused(__govops_refused)
                        }
                        ::core::option::Option::None => #private::Gate::Run(#block),
                    };
                    #private::tracing::Instrument::instrument(
                        async move {
                            match __govops_call {
                                #private::Gate::Refused(__govops_refused) => __govops_refused,
                                #private::Gate::Run(__govops_future) => #inner,
                            }
                        },
                        __govops_span,
                    )
                }
            }
            None => {
                let future = if post {
                    let inner = finish(quote!(__govops_future.await));
                    quote!(async move { #inner })
                } else {
                    quote!(__govops_future)
                };
                quote! {
                    #span
                    let __govops_future = #block;
                    #private::tracing::Instrument::instrument(#future, __govops_span)
                }
            }
        }
    } else {
        let run = if post {
            // A closure, so that a `return` in the body still passes through `finish`; called
            // once (so it may hand out what it captured) and typed as the function is, so that
            // every `return` converts as it would in the function itself.
            let returns = match &sig.output {
                ReturnType::Type(arrow, ty) if !mentions_impl_trait(ty) => quote!(#arrow #ty),
                _ => quote!(),
            };
            let inner = finish(quote!(#private::call_once(move || #returns #block)));
            quote!(#inner)
        } else {
            quote!(#block)
        };
        quote! {
            #span
            let __govops_entered = __govops_span.enter();
            #deny
            #run
        }
    };
    Ok(quote! {
        #(#attrs)*
        #vis #sig {
            #body
        }
    })
}
