//! `impl RpcApi for {Trait}Client`: the trait's description as data, for
//! code generators (TypeScript, API documents).

use proc_macro2::TokenStream;
use quote::quote;

use crate::model::{Kind, RpcMethod, RpcTrait};
use crate::type_name::type_name;

pub fn render(api: &RpcTrait) -> TokenStream {
    let krate = &api.krate;
    let client = api.client_ident();
    let name = api.ident.to_string();
    let namespace = match &api.namespace {
        Some(ns) => quote!(::core::option::Option::Some(#ns)),
        None => quote!(::core::option::Option::None),
    };
    let docs = &api.docs;
    let methods = api.methods.iter().map(|m| render_method(krate, m));
    quote! {
        impl #krate::RpcApi for #client {
            const META: #krate::ApiMeta = #krate::ApiMeta {
                name: #name,
                namespace: #namespace,
                methods: &[#(#methods),*],
                docs: #docs,
            };
        }
    }
}

fn render_method(krate: &TokenStream, m: &RpcMethod) -> TokenStream {
    let name = m.ident.to_string().trim_start_matches("r#").to_owned();
    let wire = &m.wire_name;
    let kind = match m.kind {
        Kind::Request => quote!(#krate::MethodKind::Request),
        Kind::Notification => quote!(#krate::MethodKind::Notification),
    };
    let params = m.args.iter().map(|a| {
        let pname = a.ident.to_string().trim_start_matches("r#").to_owned();
        let ty = type_name(&a.ty);
        quote!(#krate::ParamMeta { name: #pname, rust_type: #ty })
    });
    let result = type_name(&m.ok_type);
    let docs = &m.docs;
    quote! {
        #krate::MethodMeta {
            name: #name,
            wire_name: #wire,
            kind: #kind,
            params: &[#(#params),*],
            result_type: #result,
            docs: #docs,
        }
    }
}
