//! What the governed function's signature tells the expansion: its body shape, the arguments it
//! can record, and the type its call yields.

use quote::quote;
use syn::{FnArg, Ident, ItemFn, Pat, ReturnType, Signature, Type, TypeParamBound};

/// How the function's body runs, which decides how its span is entered.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `fn f() -> T`: the body runs inside the entered span.
    Sync,
    /// `async fn f() -> T`: the future is instrumented with the span.
    Async,
    /// `fn f() -> impl Future<Output = T>`: the body runs when called and returns the future,
    /// which is instrumented with the span.
    ImplFuture,
}

impl Shape {
    /// The shape of the function with this signature.
    pub(crate) fn of(sig: &Signature) -> Self {
        if sig.asyncness.is_some() {
            Shape::Async
        } else if returns_impl_future(sig) {
            Shape::ImplFuture
        } else {
            Shape::Sync
        }
    }
}

/// The function's argument names that can be recorded: plain identifiers, not `self`.
pub(crate) fn argument_names(item: &ItemFn) -> Vec<Ident> {
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

/// Whether the function never returns (`-> !`): it has no result to report.
pub(crate) fn never_returns(sig: &Signature) -> bool {
    matches!(&sig.output, ReturnType::Type(_, ty) if matches!(**ty, Type::Never(_)))
}

/// The type the function's call yields (its return type, or a returned future's `Output`), when
/// it can be named in an expression and could be a `Result`.
pub(crate) fn yielded_result(sig: &Signature) -> Option<&Type> {
    let ReturnType::Type(_, ty) = &sig.output else {
        return None;
    };
    let yielded = if sig.asyncness.is_some() {
        &**ty
    } else {
        match &**ty {
            Type::ImplTrait(bounds) => future_output(bounds)?,
            other => other,
        }
    };
    // Any type that can be named: the compiler decides (autoref specialization) whether it is a
    // `Result` whose error converts from a `Violation`, so aliases (`io::Result<T>`) count too.
    let unit = matches!(yielded, Type::Tuple(t) if t.elems.is_empty());
    (!unit && !matches!(yielded, Type::Never(_)) && !mentions_impl_trait(yielded))
        .then_some(yielded)
}

/// `T` of `impl Future<Output = T>`.
fn future_output(bounds: &syn::TypeImplTrait) -> Option<&Type> {
    bounds.bounds.iter().find_map(|bound| {
        let TypeParamBound::Trait(t) = bound else {
            return None;
        };
        let syn::PathArguments::AngleBracketed(args) = &t.path.segments.last()?.arguments else {
            return None;
        };
        args.args.iter().find_map(|arg| match arg {
            syn::GenericArgument::AssocType(assoc) if assoc.ident == "Output" => Some(&assoc.ty),
            _ => None,
        })
    })
}

/// Whether a type has an `impl Trait` anywhere in it, which a closure's return type cannot name.
pub(crate) fn mentions_impl_trait(ty: &Type) -> bool {
    quote!(#ty).to_string().contains("impl ")
}
