//! `into_methods`: the dispatch table for any implementation of the trait.
//!
//! Each method reads its params with the runtime's `ParamsDecoder`: both
//! forms JSON-RPC allows (an array by position, an object by name), one param
//! at a time, so that a wrong call gets a -32602 naming the param, and an
//! absent `Option<T>` param reads as `None`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::TraitItem;
use syn::spanned::Spanned;

use crate::model::{Kind, RpcMethod, RpcTrait, unraw};

pub fn render(api: &RpcTrait) -> TraitItem {
    let krate = &api.krate;
    let registrations = api.methods.iter().map(|m| render_registration(api, m));
    let doc = format!(
        "Turns this implementation into the dispatch table of `{}`, to register on a peer.",
        api.ident
    );
    let this = mixed_site("this");
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

/// A local of the generated code. Its mixed-site span keeps it apart from
/// the user's argument names (an argument may be called `this`).
fn mixed_site(name: &str) -> syn::Ident {
    syn::Ident::new(name, proc_macro2::Span::mixed_site())
}

fn render_registration(api: &RpcTrait, m: &RpcMethod) -> TokenStream {
    let krate = &api.krate;
    let this = mixed_site("this");
    let trait_ident = &api.ident;
    let method = &m.ident;
    let wire = &m.wire_name;
    let names: Vec<_> = m.args.iter().map(|a| &a.ident).collect();
    let decode = render_decode(krate, m);
    // Spanned at the return type: a wrong error type is reported there.
    let call = quote_spanned!(m.output.span()=> <Self as #trait_ident>::#method(&*#this, #(#names),*).await);
    let cfgs = m.cfg_attrs();
    let body = match m.kind {
        Kind::Subscription { .. } => quote!(#krate::__private::encode_stream(#call)),
        Kind::Request => quote!(#krate::__private::encode_outcome(#call)),
        Kind::Notification => quote! {{
            #call;
            #krate::__private::encode_outcome(::core::result::Result::<(), #krate::RpcError>::Ok(()))
        }},
    };
    quote! {
        #(#cfgs)*
        {
            let #this = ::core::clone::Clone::clone(&#this);
            // Names are checked unique at compile time, so this cannot fail.
            let _ = methods.insert(#wire, move |params: #krate::Params<'_>| {
                #decode
                let #this = ::core::clone::Clone::clone(&#this);
                let fut: #krate::__private::HandlerFuture = #krate::__private::Box::pin(async move { #body });
                ::core::result::Result::Ok(fut)
            });
        }
    }
}

/// Binds each argument to its param, in declaration order (the first wrong
/// one is reported). The keys of params by name are the argument names.
fn render_decode(krate: &TokenStream, m: &RpcMethod) -> TokenStream {
    let decoder = mixed_site("decoder");
    let keys = m.args.iter().map(|a| unraw(&a.ident));
    let bindings = m.args.iter().enumerate().map(|(index, a)| {
        let (ident, ty) = (&a.ident, &a.ty);
        // Spanned at the type: a type without `Deserialize` is reported there.
        let take = quote_spanned!(ty.span()=> #decoder.take::<#ty>(#index)?);
        quote!(let #ident: #ty = #take;)
    });
    let new = quote!(#krate::__private::ParamsDecoder::new(params, &[#(#keys),*])?);
    if m.args.is_empty() {
        // Still refuses params that are not a (empty) list or an object.
        return quote!(#new;);
    }
    quote! {
        let #decoder = #new;
        #(#bindings)*
    }
}
