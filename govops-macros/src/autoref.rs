//! The questions only the compiler can answer about the user's types, asked by autoref
//! specialization: whether the call's error type converts from a `govops::Violation` (the call
//! can then be denied), and whether its result is `Reported` (a model call's usage). Each is
//! written here once; every body shape asks through these.

use proc_macro2::TokenStream;
use quote::quote;
use syn::Type;

use crate::expand::private;

/// `true` when the call's result type `ty` is a `Result` whose error converts from a
/// `Violation`, else `false`.
pub(crate) fn deniable(ty: &Type) -> TokenStream {
    let private = private();
    quote! {
        {
            #[allow(unused_imports)]
            use #private::{ViaFromViolation as _, ViaNoDeny as _};
            (&#private::Deny::<#ty>::new()).__govops_deniable()
        }
    }
}

/// The value a denied call returns in place of running (`Some(Err(violation.into()))`), or
/// `None` when the call cannot be denied and runs, flagged.
pub(crate) fn refusal(ty: &Type, denied: &TokenStream) -> TokenStream {
    let private = private();
    quote! {
        {
            #[allow(unused_imports)]
            use #private::{ViaFromViolation as _, ViaNoDeny as _};
            (&#private::Deny::<#ty>::new()).__govops_deny(#denied)
        }
    }
}

/// Reports the usage in `__govops_result` on the call when its type is `Reported`; nothing
/// otherwise.
pub(crate) fn report() -> TokenStream {
    let private = private();
    quote! {
        {
            #[allow(unused_imports)]
            use #private::{ViaNothing as _, ViaReported as _};
            (&#private::Probe(&__govops_result)).__govops_report();
        }
    }
}
