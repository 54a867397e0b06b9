//! The model of an `#[rpc]` trait: parsed and checked once, rendered by the
//! `render_*` modules.

use std::collections::HashMap;

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::spanned::Spanned;
use syn::{
    FnArg, GenericArgument, Ident, ItemTrait, Pat, PathArguments, ReturnType, TraitItem, TraitItemFn, Type, Visibility,
};

use crate::attrs::{self, MethodOptions, TraitOptions, combine};

/// One `#[rpc]` trait.
pub struct RpcTrait {
    /// The trait's name.
    pub ident: Ident,
    /// The trait's visibility (given to the generated client too).
    pub vis: Visibility,
    /// The path of the runtime crate (`::rpc_core` unless renamed).
    pub krate: TokenStream,
    /// `namespace = "..."`, if given.
    pub namespace: Option<String>,
    /// The methods, in declaration order.
    pub methods: Vec<RpcMethod>,
    /// The trait's doc comment.
    pub docs: String,
}

/// Whether a method wants a reply.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A call with a reply.
    Request,
    /// A notification.
    Notification,
}

/// One method of the trait.
pub struct RpcMethod {
    /// The Rust name.
    pub ident: Ident,
    /// The name on the wire (namespace and rename applied).
    pub wire_name: String,
    /// Request or notification.
    pub kind: Kind,
    /// The arguments after `&self`.
    pub args: Vec<Arg>,
    /// `T` of the `Result<T, E>` a request returns; `()` for a notification.
    pub ok_type: Type,
    /// The return type as the user wrote it (`()` when omitted).
    pub output: Type,
    /// The user's other attributes (docs, cfgs, lints), kept on every
    /// generated item for this method.
    pub attrs: Vec<syn::Attribute>,
    /// The doc comment.
    pub docs: String,
}

/// One argument.
pub struct Arg {
    /// Its name (also its key when params are sent by name).
    pub ident: Ident,
    /// Its type.
    pub ty: Type,
}

impl RpcTrait {
    /// Parses and checks the trait, removing our attributes from `item`.
    /// Every mistake found is reported, each at its own span.
    pub fn parse(attr: TokenStream, item: &mut ItemTrait) -> syn::Result<Self> {
        let mut errors = None;
        let options = TraitOptions::parse(attr).unwrap_or_else(|e| {
            combine(&mut errors, e);
            TraitOptions::default()
        });
        check_trait_shape(item, &mut errors);
        let namespace = options.namespace.as_ref().map(|l| l.value());
        let mut methods = Vec::new();
        for trait_item in &mut item.items {
            match trait_item {
                TraitItem::Fn(f) => match RpcMethod::parse(f, namespace.as_deref()) {
                    Ok(m) => methods.push(m),
                    Err(e) => combine(&mut errors, e),
                },
                other => combine(
                    &mut errors,
                    syn::Error::new(other.span(), "an #[rpc] trait may contain only `async fn` methods"),
                ),
            }
        }
        check_unique_names(&methods, &mut errors);
        if let Some(e) = errors {
            return Err(e);
        }
        let krate = match options.krate {
            Some(path) => quote!(#path),
            None => quote!(::rpc_core),
        };
        Ok(RpcTrait {
            ident: item.ident.clone(),
            vis: item.vis.clone(),
            krate,
            namespace,
            methods,
            docs: docs_of(&item.attrs),
        })
    }

    /// The generated client stub's name: `{Trait}Client`.
    pub fn client_ident(&self) -> Ident {
        Ident::new(&format!("{}Client", self.ident), self.ident.span())
    }
}

fn check_trait_shape(item: &ItemTrait, errors: &mut Option<syn::Error>) {
    if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
        combine(
            errors,
            syn::Error::new(item.generics.span(), "#[rpc] traits cannot be generic"),
        );
    }
    if let Some(unsafety) = &item.unsafety {
        combine(
            errors,
            syn::Error::new(unsafety.span(), "#[rpc] traits cannot be `unsafe`"),
        );
    }
}

fn check_unique_names(methods: &[RpcMethod], errors: &mut Option<syn::Error>) {
    let mut seen = HashMap::new();
    for m in methods {
        if let Some(first) = seen.insert(m.wire_name.as_str(), &m.ident) {
            let msg = format!("wire name {:?} is already used by `{first}`", m.wire_name);
            combine(errors, syn::Error::new(m.ident.span(), msg));
        }
    }
}

impl RpcMethod {
    fn parse(f: &mut TraitItemFn, namespace: Option<&str>) -> syn::Result<Self> {
        let mut errors = None;
        let options = MethodOptions::take(&mut f.attrs).unwrap_or_else(|e| {
            combine(&mut errors, e);
            MethodOptions {
                notification: None,
                name: None,
            }
        });
        let sig = &f.sig;
        let kind = if options.notification.is_some() {
            Kind::Notification
        } else {
            Kind::Request
        };
        let mut fail = |span: Span, msg: &str| combine(&mut errors, syn::Error::new(span, msg));
        if sig.asyncness.is_none() {
            fail(sig.fn_token.span(), "#[rpc] methods must be `async fn`");
        }
        if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
            fail(sig.generics.span(), "#[rpc] methods cannot be generic");
        }
        if let Some(default) = &f.default {
            fail(default.span(), "#[rpc] methods cannot have a default body");
        }
        if let Some(c) = &sig.constness {
            fail(c.span(), "#[rpc] methods cannot be `const`");
        }
        if let Some(u) = &sig.unsafety {
            fail(u.span(), "#[rpc] methods cannot be `unsafe`");
        }
        if let Some(v) = &sig.variadic {
            fail(v.span(), "#[rpc] methods cannot be variadic");
        }
        check_receiver(sig, &mut fail);
        let args = sig
            .inputs
            .iter()
            .skip(1)
            .filter_map(|arg| parse_arg(arg, &mut fail))
            .collect();
        let (ok_type, output) = parse_output(&sig.output, kind, &mut fail);
        if let Some(e) = errors {
            return Err(e);
        }
        let base = options.name.map(|n| n.value()).unwrap_or_else(|| unraw(&sig.ident));
        let wire_name = match namespace {
            Some(ns) => format!("{ns}{}{base}", attrs::NAMESPACE_SEPARATOR),
            None => base,
        };
        Ok(RpcMethod {
            ident: sig.ident.clone(),
            wire_name,
            kind,
            args,
            ok_type,
            output,
            docs: docs_of(&f.attrs),
            attrs: f.attrs.clone(),
        })
    }
}

fn check_receiver(sig: &syn::Signature, fail: &mut impl FnMut(Span, &str)) {
    const MSG: &str = "#[rpc] methods take `&self` as their first argument";
    match sig.inputs.first() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none() && r.colon_token.is_none() => {}
        Some(FnArg::Receiver(r)) => fail(r.span(), MSG),
        Some(FnArg::Typed(t)) => fail(t.span(), MSG),
        None => fail(sig.paren_token.span.join(), MSG),
    }
}

fn parse_arg(arg: &FnArg, fail: &mut impl FnMut(Span, &str)) -> Option<Arg> {
    let FnArg::Typed(typed) = arg else {
        fail(arg.span(), "`self` may only be the first argument");
        return None;
    };
    let ident = match &*typed.pat {
        Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => p.ident.clone(),
        other => {
            fail(other.span(), "#[rpc] arguments must be plain names (`name: Type`)");
            return None;
        }
    };
    if let Err((span, msg)) = check_owned(&typed.ty) {
        fail(span, msg);
        return None;
    }
    Some(Arg {
        ident,
        ty: (*typed.ty).clone(),
    })
}

/// Arguments travel over the wire, so they must be owned, nameable types.
fn check_owned(ty: &Type) -> Result<(), (Span, &'static str)> {
    match ty {
        Type::Reference(r) => Err((
            r.and_token.span(),
            "#[rpc] arguments cannot be references: take an owned type (e.g. `String` for `&str`)",
        )),
        Type::ImplTrait(t) => Err((
            t.impl_token.span(),
            "#[rpc] arguments cannot be `impl Trait`: name a concrete type",
        )),
        Type::TraitObject(t) => Err((t.span(), "#[rpc] arguments cannot be trait objects")),
        Type::Infer(t) => Err((t.span(), "#[rpc] arguments need a concrete type")),
        Type::Ptr(t) => Err((t.span(), "#[rpc] arguments cannot be raw pointers")),
        Type::BareFn(t) => Err((t.span(), "#[rpc] arguments cannot be functions")),
        Type::Paren(p) => check_owned(&p.elem),
        Type::Group(g) => check_owned(&g.elem),
        Type::Array(a) => check_owned(&a.elem),
        Type::Slice(s) => check_owned(&s.elem),
        Type::Tuple(t) => t.elems.iter().try_for_each(check_owned),
        Type::Path(p) => p.path.segments.iter().try_for_each(|seg| match &seg.arguments {
            PathArguments::AngleBracketed(args) => args.args.iter().try_for_each(|a| match a {
                GenericArgument::Type(t) => check_owned(t),
                GenericArgument::Lifetime(l) => Err((l.span(), "#[rpc] argument types cannot borrow (no lifetimes)")),
                _ => Ok(()),
            }),
            _ => Ok(()),
        }),
        _ => Ok(()),
    }
}

/// Returns (`T`, the whole output type).
fn parse_output(output: &ReturnType, kind: Kind, fail: &mut impl FnMut(Span, &str)) -> (Type, Type) {
    let unit: Type = syn::parse_quote!(());
    let ty = match output {
        ReturnType::Default => None,
        ReturnType::Type(_, ty) => Some((**ty).clone()),
    };
    match (kind, ty) {
        (Kind::Notification, None) => (unit.clone(), unit),
        (Kind::Notification, Some(Type::Tuple(t))) if t.elems.is_empty() => (unit.clone(), unit),
        (Kind::Notification, Some(ty)) => {
            fail(
                ty.span(),
                "a #[notification] gets no reply, so it cannot return a value: remove the return type",
            );
            (unit.clone(), unit)
        }
        (Kind::Request, Some(ty)) => match result_ok_type(&ty) {
            Some(ok) => (ok, ty),
            None => {
                fail(
                    ty.span(),
                    "#[rpc] methods return `Result<T, RpcError>` (calls can fail on the wire)",
                );
                (unit, ty)
            }
        },
        (Kind::Request, None) => {
            fail(
                output.span(),
                "#[rpc] methods return `Result<T, RpcError>`; mark methods that return nothing with #[notification]",
            );
            (unit.clone(), unit)
        }
    }
}

/// `T` of `Result<T, E>` (any path ending in `Result` with two arguments).
fn result_ok_type(ty: &Type) -> Option<Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    let mut types = args.args.iter().filter_map(|a| match a {
        GenericArgument::Type(t) => Some(t.clone()),
        _ => None,
    });
    let ok = types.next()?;
    types.next()?;
    Some(ok)
}

fn unraw(ident: &Ident) -> String {
    let s = ident.to_string();
    s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
}

/// The text of `///` comments (`#[doc = "..."]`), one line each.
fn docs_of(attrs: &[syn::Attribute]) -> String {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s), ..
                }) => Some(
                    s.value()
                        .strip_prefix(' ')
                        .map(str::to_owned)
                        .unwrap_or_else(|| s.value()),
                ),
                _ => None,
            },
            _ => None,
        })
        .collect();
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(attr: TokenStream, item: TokenStream) -> syn::Result<RpcTrait> {
        RpcTrait::parse(attr, &mut syn::parse2(item).unwrap())
    }

    #[test]
    fn names_and_kinds() {
        let api = parse(
            quote!(namespace = "calc"),
            quote! {
                /// Docs.
                trait Calc {
                    async fn add(&self, a: i64, b: i64) -> Result<i64, RpcError>;
                    #[method(name = "sub")]
                    async fn subtract(&self, a: i64) -> Result<i64, RpcError>;
                    #[notification]
                    async fn reset(&self);
                    async fn r#type(&self) -> Result<(), RpcError>;
                }
            },
        )
        .unwrap();
        let names: Vec<_> = api.methods.iter().map(|m| m.wire_name.as_str()).collect();
        assert_eq!(names, ["calc.add", "calc.sub", "calc.reset", "calc.type"]);
        assert!(api.methods[2].kind == Kind::Notification);
        assert_eq!(api.docs, "Docs.");
        assert_eq!(api.methods[0].args.len(), 2);
    }

    #[test]
    fn collects_every_error() {
        let err = parse(
            quote!(),
            quote! {
                trait T {
                    fn a(&self) -> Result<(), E>;
                    async fn b(self) -> Result<(), E>;
                }
            },
        )
        .err()
        .unwrap();
        assert_eq!(err.into_iter().count(), 2);
    }

    #[test]
    fn ok_type_of_result() {
        let t: Type = syn::parse_quote!(std::result::Result<Vec<u8>, RpcError>);
        assert!(result_ok_type(&t).is_some());
        let t: Type = syn::parse_quote!(Option<u8>);
        assert!(result_ok_type(&t).is_none());
    }
}
