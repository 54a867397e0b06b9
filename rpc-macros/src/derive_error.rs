//! `#[derive(RpcErrorType)]`: an error enum whose variants are JSON-RPC
//! error objects (`#[rpc_error(code = .., message = "..")]`, the fields as
//! `data`), with one `#[rpc_error(other)]` variant holding an `RpcError`.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Ident, LitStr, Variant};

use crate::attrs::combine;
use crate::model::{docs_of, runtime_path, unraw};
use crate::render_meta::param_meta;

/// The attribute on each variant.
const RPC_ERROR: &str = "rpc_error";

/// A local of the generated code, apart from the user's field names.
fn local(name: &str) -> Ident {
    Ident::new(name, proc_macro2::Span::mixed_site())
}

/// What one variant is on the wire.
enum Role {
    /// An error object with this code and message.
    Code { code: i32, message: String },
    /// Holds every other failure (`RpcError`).
    Other,
}

struct ErrorVariant<'a> {
    variant: &'a Variant,
    role: Role,
}

pub fn derive(input: &DeriveInput) -> syn::Result<TokenStream> {
    let Data::Enum(data) = &input.data else {
        return Err(syn::Error::new(
            input.ident.span(),
            "#[derive(RpcErrorType)] is for enums: one variant per error code, and one \
             `#[rpc_error(other)] Rpc(RpcError)` variant",
        ));
    };
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &input.generics,
            "#[derive(RpcErrorType)] takes no generic parameters: the codes and data types are fixed",
        ));
    }
    let mut errors = None;
    let mut variants = Vec::new();
    for variant in &data.variants {
        match parse_variant(variant) {
            Ok(role) => variants.push(ErrorVariant { variant, role }),
            Err(e) => combine(&mut errors, e),
        }
    }
    check_codes(&variants, &mut errors);
    let other = check_other(input, &variants, &mut errors);
    if let Some(e) = errors {
        return Err(e);
    }
    let other = other.expect("checked above");
    let krate = runtime_crate(input)?;
    let ident = &input.ident;
    let into = variants.iter().map(|v| render_into(&krate, v));
    let from = variants.iter().filter_map(|v| render_from(&krate, v));
    let metas = variants.iter().filter_map(|v| render_meta(&krate, v));
    let (object, error) = (local("object"), local("error"));
    Ok(quote! {
        impl #krate::RpcErrorType for #ident {
            const ERRORS: &'static [#krate::meta::ErrorMeta] = &[#(#metas),*];

            fn into_error_object(self) -> #krate::ErrorObject {
                match self {
                    #(#into)*
                }
            }

            fn from_rpc_error(#error: #krate::RpcError) -> Self {
                if let #krate::RpcError::Call(#object) = &#error {
                    let _ = #object;
                    #(#from)*
                }
                Self::#other(#error)
            }
        }
    })
}

/// `#[rpc_error(crate = "::my_rpc")]` on the enum, as `#[rpc(crate = ..)]`:
/// the runtime's path when it is renamed; else found as `#[rpc]` finds it.
fn runtime_crate(input: &DeriveInput) -> syn::Result<TokenStream> {
    let mut krate = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident(RPC_ERROR)) {
        attr.parse_nested_meta(|meta| {
            if !meta.path.is_ident("crate") {
                return Err(meta.error("on the enum, #[rpc_error(..)] takes only `crate = \"::path\"`"));
            }
            let lit: LitStr = meta.value()?.parse()?;
            let path: syn::Path = lit.parse()?;
            krate = Some(quote!(#path));
            Ok(())
        })?;
    }
    Ok(krate.unwrap_or_else(runtime_path))
}

fn parse_variant(variant: &Variant) -> syn::Result<Role> {
    let usage = "each variant is `#[rpc_error(code = 1001, message = \"...\")]`, or `#[rpc_error(other)]` \
                 for the one that holds every other failure";
    let attrs: Vec<_> = variant.attrs.iter().filter(|a| a.path().is_ident(RPC_ERROR)).collect();
    let attr = match attrs.as_slice() {
        [attr] => *attr,
        [] => {
            return Err(syn::Error::new(
                variant.ident.span(),
                format!("no #[rpc_error(..)]: {usage}"),
            ));
        }
        [_, second, ..] => return Err(syn::Error::new_spanned(second, "one #[rpc_error(..)] per variant")),
    };
    let (mut code, mut message, mut other) = (None, None, false);
    attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("code") {
            code = Some(parse_code(&meta.value()?.parse()?)?);
        } else if meta.path.is_ident("message") {
            message = Some(meta.value()?.parse::<LitStr>()?.value());
        } else if meta.path.is_ident("other") {
            other = true;
        } else {
            return Err(meta.error(format!("unknown key: {usage}")));
        }
        Ok(())
    })?;
    match (code, message, other) {
        (None, None, true) => {
            if !matches!(&variant.fields, Fields::Unnamed(f) if f.unnamed.len() == 1) {
                return Err(syn::Error::new(
                    variant.ident.span(),
                    "the #[rpc_error(other)] variant holds one `RpcError`: write it `Rpc(RpcError)`",
                ));
            }
            Ok(Role::Other)
        }
        (Some(code), Some(message), false) => {
            if let Fields::Unnamed(f) = &variant.fields
                && f.unnamed.len() > 1
            {
                return Err(syn::Error::new_spanned(
                    f,
                    "an error variant's data is one value or named fields: name the fields, or wrap them in one type",
                ));
            }
            Ok(Role::Code { code, message })
        }
        (_, _, true) => Err(syn::Error::new_spanned(
            attr,
            "`other` takes no code or message: the errors it holds keep theirs",
        )),
        _ => Err(syn::Error::new_spanned(
            attr,
            format!("give both `code` and `message`: {usage}"),
        )),
    }
}

/// An `i32` literal, maybe negative, outside the range JSON-RPC 2.0 reserves.
fn parse_code(expr: &syn::Expr) -> syn::Result<i32> {
    let (negative, lit) = match expr {
        syn::Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            expr,
            ..
        }) => (true, &**expr),
        other => (false, other),
    };
    let syn::Expr::Lit(syn::ExprLit {
        lit: syn::Lit::Int(int),
        ..
    }) = lit
    else {
        return Err(syn::Error::new_spanned(
            expr,
            "`code` is an integer literal, e.g. `code = 1001`",
        ));
    };
    let value: i64 = int.base10_parse()?;
    let value = if negative { -value } else { value };
    let code =
        i32::try_from(value).map_err(|_| syn::Error::new_spanned(expr, "a JSON-RPC error code fits in an i32"))?;
    if (-32768..=-32000).contains(&code) {
        return Err(syn::Error::new_spanned(
            expr,
            "JSON-RPC 2.0 reserves the codes -32768 to -32000 for the protocol and the server: pick another",
        ));
    }
    Ok(code)
}

fn check_codes(variants: &[ErrorVariant<'_>], errors: &mut Option<syn::Error>) {
    let mut seen = Vec::new();
    for v in variants {
        if let Role::Code { code, .. } = v.role {
            if let Some(first) = seen.iter().find(|(c, _)| *c == code).map(|(_, name)| name) {
                combine(
                    errors,
                    syn::Error::new(v.variant.ident.span(), format!("code {code} is already `{first}`'s")),
                );
            }
            seen.push((code, v.variant.ident.to_string()));
        }
    }
}

/// The one `other` variant's name.
fn check_other<'a>(
    input: &DeriveInput,
    variants: &[ErrorVariant<'a>],
    errors: &mut Option<syn::Error>,
) -> Option<&'a Ident> {
    let others: Vec<_> = variants.iter().filter(|v| matches!(v.role, Role::Other)).collect();
    match others.as_slice() {
        [one] => Some(&one.variant.ident),
        [] => {
            // Reported only when the variants are otherwise right.
            if errors.is_none() {
                combine(
                    errors,
                    syn::Error::new(
                        input.ident.span(),
                        "add a variant `#[rpc_error(other)] Rpc(RpcError)`: the client stub returns this type, \
                         so it holds a call's transport failures (Disconnected, Timeout) and the error objects \
                         whose code matches no variant",
                    ),
                );
            }
            None
        }
        [_, second, ..] => {
            combine(
                errors,
                syn::Error::new(
                    second.variant.ident.span(),
                    "only one variant can be #[rpc_error(other)]",
                ),
            );
            None
        }
    }
}

/// The field bindings of a variant: named fields by name, the one unnamed as `__0`.
fn bindings(variant: &Variant) -> Vec<Ident> {
    match &variant.fields {
        Fields::Named(f) => f.named.iter().map(|f| f.ident.clone().expect("named")).collect(),
        Fields::Unnamed(f) => (0..f.unnamed.len()).map(|i| format_ident!("__{}", i)).collect(),
        Fields::Unit => Vec::new(),
    }
}

/// The pattern `Self::V { a, b }`, `Self::V(__0)` or `Self::V`.
fn pattern(variant: &Variant, names: &[Ident]) -> TokenStream {
    let ident = &variant.ident;
    match &variant.fields {
        Fields::Named(_) => quote!(Self::#ident { #(#names),* }),
        Fields::Unnamed(_) => quote!(Self::#ident(#(#names),*)),
        Fields::Unit => quote!(Self::#ident),
    }
}

fn render_into(krate: &TokenStream, v: &ErrorVariant<'_>) -> TokenStream {
    let names = bindings(v.variant);
    let pat = pattern(v.variant, &names);
    let (code, message) = match &v.role {
        Role::Other => {
            return quote!(#pat => <#krate::RpcError as #krate::RpcErrorType>::into_error_object(#(#names)*),);
        }
        Role::Code { code, message } => (Literal::i32_unsuffixed(*code), message),
    };
    let object = quote!(#krate::ErrorObject::new(#code, #message));
    let data = quote!(#krate::__private::to_data);
    let (members, value, e) = (local("members"), local("value"), local("e"));
    match &v.variant.fields {
        Fields::Unit => quote!(#pat => #object,),
        Fields::Unnamed(_) => quote! {
            #pat => match #data(&#(#names)*) {
                ::core::result::Result::Ok(#value) => #object.with_data(#value),
                ::core::result::Result::Err(#e) => #e,
            },
        },
        Fields::Named(_) => {
            let keys = names.iter().map(unraw);
            quote! {
                #pat => {
                    let mut #members = #krate::__private::serde_json::Map::new();
                    #(
                        match #data(&#names) {
                            ::core::result::Result::Ok(#value) => {
                                #members.insert(::core::convert::From::from(#keys), #value);
                            }
                            ::core::result::Result::Err(#e) => return #e,
                        }
                    )*
                    #object.with_data(#krate::__private::serde_json::Value::Object(#members))
                }
            }
        }
    }
}

/// `if object.code == C { ... return Self::V .. }`: the variant, when its
/// data reads; else the error goes to the `other` variant as it is.
fn render_from(krate: &TokenStream, v: &ErrorVariant<'_>) -> Option<TokenStream> {
    let Role::Code { code, .. } = &v.role else {
        return None;
    };
    let code = Literal::i32_unsuffixed(*code);
    let names = bindings(v.variant);
    let pat = pattern(v.variant, &names);
    let object = local("object");
    let read = match &v.variant.fields {
        Fields::Unit => quote!(return #pat;),
        Fields::Unnamed(_) => quote! {
            if let ::core::option::Option::Some(#(#names)*) = #krate::__private::data_value(#object) {
                return #pat;
            }
        },
        Fields::Named(_) => {
            let keys = names.iter().map(unraw);
            quote! {
                if let (#(::core::option::Option::Some(#names),)*) = (#(#krate::__private::data_member(#object, #keys),)*) {
                    return #pat;
                }
            }
        }
    };
    Some(quote! {
        if #object.code == #code {
            #read
        }
    })
}

fn render_meta(krate: &TokenStream, v: &ErrorVariant<'_>) -> Option<TokenStream> {
    let Role::Code { code, message } = &v.role else {
        return None;
    };
    let code = Literal::i32_unsuffixed(*code);
    let name = unraw(&v.variant.ident);
    let docs = docs_of(&v.variant.attrs);
    let data = match &v.variant.fields {
        Fields::Unit => quote!(#krate::meta::ErrorData::None),
        Fields::Unnamed(f) => {
            let field = param_meta(krate, "0", &f.unnamed[0].ty, false);
            quote!(#krate::meta::ErrorData::Value(#field))
        }
        Fields::Named(f) => {
            let fields = f
                .named
                .iter()
                .map(|f| param_meta(krate, &unraw(f.ident.as_ref().expect("named")), &f.ty, false));
            quote!(#krate::meta::ErrorData::Object(&[#(#fields),*]))
        }
    };
    let span = v.variant.span();
    Some(quote::quote_spanned! {span=>
        #krate::meta::ErrorMeta { code: #code, name: #name, message: #message, docs: #docs, data: #data }
    })
}
