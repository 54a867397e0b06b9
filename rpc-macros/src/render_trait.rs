//! The user's trait, rewritten so every implementation can be served: methods
//! return `impl Future + Send` (implementations still write `async fn`), the
//! trait requires `Send + Sync + 'static`, and `into_methods` is added.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{ItemTrait, TraitItem};

use crate::model::{RpcMethod, RpcTrait};

pub fn render(api: &RpcTrait, mut item: ItemTrait) -> TokenStream {
    item.supertraits.push(syn::parse_quote!(::core::marker::Send));
    item.supertraits.push(syn::parse_quote!(::core::marker::Sync));
    item.supertraits.push(syn::parse_quote!('static));
    item.items = api.methods.iter().map(render_method).collect();
    item.items.push(crate::render_server::render(api));
    quote!(#item)
}

fn render_method(m: &RpcMethod) -> TraitItem {
    let RpcMethod {
        ident,
        args,
        output,
        attrs,
        ..
    } = m;
    let names = args.iter().map(|a| &a.ident);
    let types = args.iter().map(|a| &a.ty);
    syn::parse_quote! {
        #(#attrs)*
        fn #ident(&self, #(#names: #types),*)
            -> impl ::core::future::Future<Output = #output> + ::core::marker::Send;
    }
}
