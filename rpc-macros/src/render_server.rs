//! `into_methods`: the dispatch table for any implementation of the trait.
//!
//! Each method's params are parsed into a generated struct whose derived
//! `Deserialize` accepts both forms JSON-RPC allows: an array (by position)
//! and an object (by name).

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::TraitItem;
use syn::spanned::Spanned;

use crate::model::{Kind, RpcMethod, RpcTrait};

pub fn render(api: &RpcTrait) -> TraitItem {
    let krate = &api.krate;
    let registrations = api.methods.iter().map(|m| render_registration(api, m));
    let doc = format!(
        "Turns this implementation into the dispatch table of `{}`, to register on a peer.",
        api.ident
    );
    let this = this();
    syn::parse_quote! {
        #[doc = #doc]
        fn into_methods(self) -> #krate::Methods
        where
            Self: ::core::marker::Sized,
        {
            let #this = #krate::__private::Arc::new(self);
            let _ = &#this;
            let mut methods = #krate::Methods::new();
            #(#registrations)*
            methods
        }
    }
}

/// The generated code's handle on the implementation. Its mixed-site span
/// keeps it apart from the user's argument names (an argument may be called
/// `this`).
fn this() -> syn::Ident {
    syn::Ident::new("this", proc_macro2::Span::mixed_site())
}

fn render_registration(api: &RpcTrait, m: &RpcMethod) -> TokenStream {
    let krate = &api.krate;
    let this = this();
    let serde_path = format!("{}::__private::serde", krate).replace(' ', "");
    let trait_ident = &api.ident;
    let method = &m.ident;
    let wire = &m.wire_name;
    let names: Vec<_> = m.args.iter().map(|a| &a.ident).collect();
    let types = m.args.iter().map(|a| &a.ty);
    // Spanned at the return type: a wrong error type is reported there.
    let call = quote_spanned!(m.output.span()=> <Self as #trait_ident>::#method(&*#this, #(#names),*).await);
    let cfgs = m.cfg_attrs();
    let body = match m.kind {
        Kind::Request if crate::streaming::stream_item(&m.ok_type).is_some() => {
            quote!(#krate::__private::encode_stream(#call))
        }
        Kind::Request => quote!(#krate::__private::encode_outcome(#call)),
        Kind::Notification => quote! {{
            #call;
            #krate::__private::encode_outcome(::core::result::Result::<(), #krate::RpcError>::Ok(()))
        }},
    };
    quote! {
        #(#cfgs)*
        {
            #[derive(#krate::__private::serde::Deserialize)]
            #[serde(crate = #serde_path)]
            #[allow(non_camel_case_types)]
            struct __Params { #(#names: #types),* }
            let #this = ::core::clone::Clone::clone(&#this);
            // Names are checked unique at compile time, so this cannot fail.
            let _ = methods.insert(#wire, move |params: #krate::Params<'_>| {
                let __Params { #(#names),* } = params.parse::<__Params>()?;
                let #this = ::core::clone::Clone::clone(&#this);
                let fut: #krate::__private::HandlerFuture = #krate::__private::Box::pin(async move { #body });
                ::core::result::Result::Ok(fut)
            });
        }
    }
}
