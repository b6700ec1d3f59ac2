//! What `#[governed]` expands to, by the function's body shape: sync, `async`, or returning
//! `impl Future`. Every shape opens the same span ([`span::open`]); they differ in how the span
//! is entered, when a denial is asked for, and where the result is finished.

use govops_protocol::{Class, field};
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::{Block, Ident, ItemFn, ReturnType, Signature, Type};

use crate::args::Args;
use crate::autoref;
use crate::signature::{self, Shape};
use crate::span;

/// The path every expansion starts from: downstream crates depend on `govops` alone.
pub(crate) fn private() -> TokenStream {
    quote!(::govops::__private)
}

/// [`private`] on a user's token, for a bound checked there: the whole call that checks it is
/// then that token, and so is every label of its error.
pub(crate) fn private_at(span: Span) -> TokenStream {
    quote_spanned!(span=> ::govops::__private)
}

pub(crate) fn governed(args: &Args, item: ItemFn) -> syn::Result<TokenStream> {
    let names = signature::argument_names(&item);
    check_skips(args, &names)?;
    // A call whose result is a `Result` with an error type that is `From<govops::Violation>` can
    // be denied before its body runs; any other call is flagged, never blocked. Whether the error
    // type converts is known only to the compiler: autoref specialization asks it.
    let yielded = signature::yielded_result(&item.sig).cloned();
    let call = Call {
        span: span::open(args, &names, yielded.as_ref()),
        yielded,
        finish: Finish::new(args, &item.sig),
        // Only model and tool calls ask the shared guard state (budgets, agent loops).
        admits: matches!(args.kind.class, Class::Model | Class::Tool),
    };
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = item;
    let body = match Shape::of(&sig) {
        Shape::Sync => call.sync(&sig, &block),
        Shape::Async => call.asynchronous(&block),
        Shape::ImplFuture => call.impl_future(&block),
    };
    Ok(quote! {
        #(#attrs)*
        #vis #sig {
            #body
        }
    })
}

/// `skip(name)` must name an argument of the function.
fn check_skips(args: &Args, names: &[Ident]) -> syn::Result<()> {
    for skipped in &args.skip {
        if skipped != "self" && !names.iter().any(|n| n == skipped) {
            return Err(syn::Error::new(
                skipped.span(),
                format!("`skip({skipped})`: the function has no argument named `{skipped}`"),
            ));
        }
    }
    Ok(())
}

/// What every body shape is built from.
struct Call {
    /// The statement that opens the span, `__govops_span`.
    span: TokenStream,
    /// The type the call yields, when it could be a `Result` (the call may then be denied).
    yielded: Option<Type>,
    finish: Finish,
    /// Whether the call is admitted by the shared guard state before its body runs.
    admits: bool,
}

impl Call {
    /// `fn f() -> T`: the span is entered for the body, which runs unless a check denied it.
    fn sync(&self, sig: &Signature, block: &Block) -> TokenStream {
        let (span, deny) = (&self.span, self.deny());
        let run = if self.finish.any() {
            let private = private();
            // A closure, so that a `return` in the body still passes through `finish`; called
            // once (so it may hand out what it captured) and typed as the function is, so that
            // every `return` converts as it would in the function itself.
            let returns = match &sig.output {
                ReturnType::Type(arrow, ty) if !signature::mentions_impl_trait(ty) => {
                    quote!(#arrow #ty)
                }
                _ => quote!(),
            };
            self.finish
                .wrap(quote!(#private::call_once(move || #returns #block)))
        } else {
            quote!(#block)
        };
        let admit = self.admits.then(|| {
            let private = private();
            quote!(#private::admit_blocking();)
        });
        quote! {
            #span
            let __govops_entered = __govops_span.enter();
            #admit
            #deny
            #run
        }
    }

    /// `async fn f() -> T`: the span instruments the future, which asks for a denial first.
    fn asynchronous(&self, block: &Block) -> TokenStream {
        let private = private();
        let (span, deny) = (&self.span, self.deny());
        let inner = self.finish.wrap(quote!(async move #block.await));
        let admit = self.admits.then(|| quote!(#private::admit().await;));
        quote! {
            #span
            #private::tracing::Instrument::instrument(async move { #admit #deny #inner }, __govops_span).await
        }
    }

    /// `fn f() -> impl Future<Output = T>`: the body runs when the function is called (it may
    /// borrow the arguments for a future that outlives them), so a denial is asked for then, and
    /// a denied call's body never runs: the future it returns yields the refusal.
    fn impl_future(&self, block: &Block) -> TokenStream {
        let private = private();
        let span = &self.span;
        let admit = self.admits.then(|| quote!(#private::admit().await;));
        let Some(ty) = &self.yielded else {
            let future = if self.finish.any() || admit.is_some() {
                let inner = self.finish.wrap(quote!(__govops_future.await));
                quote!(async move { #admit #inner })
            } else {
                quote!(__govops_future)
            };
            return quote! {
                #span
                let __govops_future = #block;
                #private::tracing::Instrument::instrument(#future, __govops_span)
            };
        };
        let refusal = autoref::refusal(ty, &quote!(#private::denied()?));
        let inner = self.finish.wrap(quote!(__govops_future.await));
        // Admitted before the body's future is first polled: a denial then drops it unpolled.
        let admitted = admit.map(|admit| {
            quote! {
                #admit
                if let ::core::option::Option::Some(__govops_refused) = (|| #refusal)() {
                    return __govops_refused;
                }
            }
        });
        quote! {
            #span
            let __govops_refused = __govops_span.in_scope(|| #refusal);
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
                        #private::Gate::Run(__govops_future) => {
                            #admitted
                            #inner
                        }
                    }
                },
                __govops_span,
            )
        }
    }

    /// Returns the refusal when a check at the span's open denied the call and its result type
    /// can carry a `Violation`.
    fn deny(&self) -> Option<TokenStream> {
        let private = private();
        let ty = self.yielded.as_ref()?;
        let refusal = autoref::refusal(ty, &quote!(__govops_denied));
        Some(quote! {
            if let ::core::option::Option::Some(__govops_denied) = #private::denied() {
                if let ::core::option::Option::Some(__govops_refused) = #refusal {
                    return __govops_refused;
                }
            }
        })
    }
}

/// What happens to the call's result before it is returned: a model call's result reports its
/// usage when its type is `Reported`; `err` records an `Err` as the call's error.
struct Finish {
    report: bool,
    /// Where `err` was written, when it was.
    err: Option<Span>,
}

impl Finish {
    fn new(args: &Args, sig: &Signature) -> Self {
        Self {
            // A function that never returns has no result to report.
            report: args.is_model() && !signature::never_returns(sig),
            err: args.err,
        }
    }

    /// Whether the result is looked at at all.
    fn any(&self) -> bool {
        self.report || self.err.is_some()
    }

    /// `result` evaluated, looked at, and returned.
    fn wrap(&self, result: TokenStream) -> TokenStream {
        if !self.any() {
            return result;
        }
        let private = private();
        let report = self.report.then(autoref::report);
        // The error's `Display` is asked for on `err`'s token: an error type without one is an
        // error there that says so.
        let log_err = self.err.map(|at| {
            let error = span::name(field::ERROR, Span::call_site());
            let checked = private_at(at);
            let recorded = quote_spanned!(at=> #checked::RecordedError::recorded(__govops_error));
            quote! {
                if let ::core::result::Result::Err(__govops_error) = &__govops_result {
                    #private::tracing::error!(target: ::core::module_path!(), #error = %#recorded);
                }
            }
        });
        quote! {
            {
                let __govops_result = #result;
                #report
                #log_err
                __govops_result
            }
        }
    }
}
