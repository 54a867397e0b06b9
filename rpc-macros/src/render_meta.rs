//! `impl RpcApi for {Trait}Client`: the trait's description as data, for
//! code generators (TypeScript, API documents).
//!
//! Each parameter and result type also gets a `TsType`: a function that runs
//! the runtime's autoref probe on the type. The probe finds the type's
//! TypeScript form when the type implements `ts_rs::TS` and falls back to
//! "unknown" otherwise, so the generated code compiles whether or not the
//! runtime has its `typescript` feature, and never adds a bound to user types
//! (the macro cannot see the runtime's features).

use proc_macro2::TokenStream;
use quote::quote;
use syn::Type;

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
    let (kind, item) = match &m.kind {
        Kind::Request => (quote!(#krate::MethodKind::Request), None),
        Kind::Subscription { item } => (quote!(#krate::MethodKind::Subscription), Some(&**item)),
        Kind::Notification => (quote!(#krate::MethodKind::Notification), None),
    };
    let params = m.args.iter().map(|a| {
        let pname = a.ident.to_string().trim_start_matches("r#").to_owned();
        param_meta(krate, &pname, &a.ty, a.optional)
    });
    // A stream is described by its item type.
    let result_type = item.unwrap_or(&m.ok_type);
    let result = type_name(result_type);
    let result_ts = render_ts_type(krate, result_type);
    let result_schema = render_schema_type(krate, result_type);
    let err = m.error_type(krate);
    let error_type = m.err_type.as_ref().map_or_else(|| "RpcError".to_owned(), type_name);
    let docs = &m.docs;
    // A method compiled out is not described either.
    let cfgs = m.cfg_attrs();
    quote! {
        #(#cfgs)*
        #krate::MethodMeta {
            name: #name,
            wire_name: #wire,
            kind: #kind,
            params: &[#(#params),*],
            result_type: #result,
            result_ts_type: #result_ts,
            result_schema: #result_schema,
            error_type: #error_type,
            errors: <#err as #krate::RpcErrorType>::ERRORS,
            docs: #docs,
        }
    }
}

/// A `ParamMeta` literal (also used for the fields of a custom error's variants).
pub fn param_meta(krate: &TokenStream, name: &str, ty: &Type, optional: bool) -> TokenStream {
    let rust_type = type_name(ty);
    let ts = render_ts_type(krate, ty);
    let schema = render_schema_type(krate, ty);
    quote!(#krate::ParamMeta { name: #name, rust_type: #rust_type, ts_type: #ts, schema: #schema, optional: #optional })
}

/// `TsType::new(|| probe)`: a non-capturing closure, so a `fn` pointer the
/// `const META` can hold; the probe runs when an exporter asks.
fn render_ts_type(krate: &TokenStream, ty: &Type) -> TokenStream {
    quote! {
        #krate::meta::TsType::new(|| {
            #[allow(unused_imports)]
            use #krate::meta::probe::{NoTs as _, ViaTs as _};
            (&&#krate::meta::probe::Probe::<#ty>::new()).ts_render()
        })
    }
}

/// `SchemaType::new(|| probe)`: the same pattern for the JSON Schema
/// (`schemars::JsonSchema`, feature `openrpc` of the runtime).
fn render_schema_type(krate: &TokenStream, ty: &Type) -> TokenStream {
    quote! {
        #krate::meta::SchemaType::new(|| {
            #[allow(unused_imports)]
            use #krate::meta::probe::{NoSchema as _, ViaSchema as _};
            (&&#krate::meta::probe::Probe::<#ty>::new()).schema_render()
        })
    }
}
