//! `into_methods`: the dispatch table for any implementation of the trait.
//!
//! Each method reads its params into a generated struct of one slot per
//! argument (`ParamSlots`), with the runtime's `decode_params`: both forms
//! JSON-RPC allows (an array by position, an object by name), in one pass,
//! so that a wrong call gets a -32602 naming the param; an absent
//! `Option<T>` param reads as `None`.

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
    let (slots, decode) = render_decode(krate, m);
    // Spanned at the return type: a wrong error type is reported there.
    let call = quote_spanned!(m.output.span()=> <Self as #trait_ident>::#method(&*#this, #(#names),*).await);
    let cfgs = m.cfg_attrs();
    // The method's error type as the error object it is sent as; spanned at
    // the return type, where a type without `RpcErrorType` is reported.
    let sent = quote_spanned!(m.output.span()=> #krate::__private::into_rpc_result(#call));
    let body = match m.kind {
        Kind::Subscription { .. } => quote!(#krate::__private::encode_stream(#sent)),
        Kind::Request => quote!(#krate::__private::encode_outcome(#sent)),
        Kind::Notification => quote! {{
            #call;
            #krate::__private::encode_outcome(::core::result::Result::<(), #krate::RpcError>::Ok(()))
        }},
    };
    quote! {
        #(#cfgs)*
        {
            #slots
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

/// `(slots, bindings)`: the struct holding one slot per argument and its
/// `ParamSlots` impl, and the statements that read the params into it and
/// bind each argument, in declaration order. The keys of params by name are
/// the argument names.
fn render_decode(krate: &TokenStream, m: &RpcMethod) -> (TokenStream, TokenStream) {
    if m.args.is_empty() {
        // Still refuses params that are not an (empty) array or an object.
        return (quote!(), quote!(#krate::__private::decode_params(params, ())?;));
    }
    let serde = quote!(#krate::__private::serde);
    let keys: Vec<_> = m.args.iter().map(|a| unraw(&a.ident)).collect();
    let idents: Vec<_> = m.args.iter().map(|a| &a.ident).collect();
    let types: Vec<_> = m.args.iter().map(|a| &a.ty).collect();
    let indices: Vec<_> = (0..m.args.len()).collect();
    let fields: Vec<_> = indices.iter().map(|i| syn::Index::from(*i)).collect();
    let nones = m.args.iter().map(|_| quote!(::core::option::Option::None));
    // Spanned at the type: a type without `Deserialize` is reported there.
    let fills = m.args.iter().zip(&fields).map(|(a, field)| {
        quote_spanned!(a.ty.span()=> self.#field = ::core::option::Option::Some(#serde::Deserialize::deserialize(value)?))
    });
    let takes = m.args.iter().zip(&keys).map(|(a, key)| {
        let ident = &a.ident;
        quote_spanned!(a.ty.span()=> #krate::__private::param(#ident, #key)?)
    });
    let slots = quote! {
        struct __Params(#(::core::option::Option<#types>),*);
        impl #krate::__private::ParamSlots for __Params {
            const NAMES: &'static [&'static str] = &[#(#keys),*];

            fn is_filled(&self, index: usize) -> bool {
                match index {
                    #(#indices => ::core::option::Option::is_some(&self.#fields),)*
                    _ => true,
                }
            }

            fn fill<'de, D: #serde::Deserializer<'de>>(
                &mut self,
                index: usize,
                value: D,
            ) -> ::core::result::Result<(), D::Error> {
                match index {
                    #(#indices => #fills,)*
                    _ => {}
                }
                ::core::result::Result::Ok(())
            }
        }
    };
    let bindings = quote! {
        let __Params(#(#idents),*) = #krate::__private::decode_params(params, __Params(#(#nones),*))?;
        #(let #idents: #types = #takes;)*
    };
    (slots, bindings)
}
