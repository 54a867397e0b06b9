//! The model of an `#[rpc]` trait: parsed and checked once, rendered by the
//! `render_*` modules.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{
    FnArg, GenericArgument, Ident, ItemTrait, Pat, PathArguments, ReturnType, TraitItem, TraitItemFn, Type, Visibility,
};

use crate::attrs::{self, MethodOptions, ParamsForm, TraitOptions, combine};
use crate::check::{self, WireName};
pub use crate::idents::unraw;
use crate::type_name::type_name;

/// One `#[rpc]` trait.
pub struct RpcTrait {
    /// The trait's name.
    pub ident: Ident,
    /// The trait's visibility (given to the generated client too).
    pub vis: Visibility,
    /// The generated client's name: `{Trait}Client` or `client = "..."`.
    pub client: Ident,
    /// The path of the runtime crate (`::duplexrpc_core` unless renamed).
    pub krate: TokenStream,
    /// `namespace = "..."`, if given.
    pub namespace: Option<String>,
    /// The methods, in declaration order.
    pub methods: Vec<RpcMethod>,
    /// The trait's doc comment.
    pub docs: String,
}

/// What a method is on the wire: the one place where a stream is told from
/// a plain request.
#[derive(Clone, PartialEq, Eq)]
pub enum Kind {
    /// A call with one reply: `Result<T, E>`.
    Request,
    /// A call whose reply opens a stream: `Result<RpcStream<T>, E>`.
    Subscription {
        /// `T`, the type of each item.
        item: Box<Type>,
    },
    /// A `#[notification]`: no id, no reply.
    Notification,
}

/// One method of the trait.
pub struct RpcMethod {
    /// The Rust name.
    pub ident: Ident,
    /// The name on the wire (namespace and rename applied).
    pub wire_name: String,
    /// Request, subscription or notification.
    pub kind: Kind,
    /// The arguments after `&self`.
    pub args: Vec<Arg>,
    /// How the client stub sends the arguments.
    pub params: ParamsForm,
    /// `T` of the `Result<T, E>` a request returns; `()` for a notification.
    pub ok_type: Type,
    /// `E` of the `Result<T, E>` a request returns; `None` for a notification.
    pub err_type: Option<Type>,
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
    /// A trailing `Option<T>`: callers may leave it out, by position or by
    /// name (the server reads it as `None`).
    pub optional: bool,
}

impl RpcTrait {
    /// Parses and checks the trait, removing our attributes from `item`.
    /// Every mistake found is reported, each at its own span.
    pub fn parse(attr: TokenStream, item: &mut ItemTrait) -> syn::Result<Self> {
        let mut errors = None;
        let (options, option_errors) = TraitOptions::parse(attr);
        if let Some(e) = option_errors {
            combine(&mut errors, e);
        }
        check_trait_shape(item, &mut errors);
        let namespace = options.namespace.as_ref().map(|l| l.value());
        let client = check::client_ident(&item.ident, options.client.as_ref(), &mut errors);
        let params = options.params.unwrap_or_default();
        let mut methods = Vec::new();
        // Every method's wire name, also of methods with other mistakes, so
        // that a clash is reported in the same build.
        let mut names = Vec::new();
        for trait_item in &mut item.items {
            match trait_item {
                TraitItem::Fn(f) => match RpcMethod::parse(f, namespace.as_deref(), params, &mut names) {
                    Ok(m) => methods.push(m),
                    Err(e) => combine(&mut errors, e),
                },
                other => combine(&mut errors, non_method_error(other)),
            }
        }
        check::method_names(&names, &client, &mut errors);
        if let Some(e) = errors {
            return Err(e);
        }
        let krate = match options.krate {
            Some(path) => quote!(#path),
            None => runtime_path(),
        };
        Ok(RpcTrait {
            ident: item.ident.clone(),
            vis: item.vis.clone(),
            client,
            krate,
            namespace,
            methods,
            docs: docs_of(&item.attrs),
        })
    }

    /// The generated client stub's name.
    pub fn client_ident(&self) -> Ident {
        self.client.clone()
    }

    /// The runtime's serde re-export, as `#[serde(crate = "...")]` takes it.
    pub fn serde_path(&self) -> String {
        format!("{}::__private::serde", self.krate).replace(' ', "")
    }
}

fn check_trait_shape(item: &ItemTrait, errors: &mut Option<syn::Error>) {
    if !item.generics.params.is_empty() {
        let msg = "#[rpc] traits cannot be generic: the generated client and dispatch table are concrete types";
        combine(errors, syn::Error::new_spanned(&item.generics, msg));
    }
    if let Some(where_clause) = &item.generics.where_clause {
        let msg = "#[rpc] traits cannot have a `where` clause";
        combine(errors, syn::Error::new_spanned(where_clause, msg));
    }
    if let Some(unsafety) = &item.unsafety {
        combine(
            errors,
            syn::Error::new_spanned(unsafety, "#[rpc] traits cannot be `unsafe`"),
        );
    }
    if let Some(auto) = &item.auto_token {
        combine(
            errors,
            syn::Error::new_spanned(auto, "#[rpc] traits cannot be `auto` traits"),
        );
    }
}

fn non_method_error(item: &TraitItem) -> syn::Error {
    let msg = match item {
        TraitItem::Type(_) => "an #[rpc] trait holds only `async fn` methods, not associated types",
        TraitItem::Const(_) => "an #[rpc] trait holds only `async fn` methods, not associated constants",
        TraitItem::Macro(_) => {
            "an #[rpc] trait holds only `async fn` methods: #[rpc] reads the trait before this macro expands, \
             so write the methods out"
        }
        _ => "an #[rpc] trait holds only `async fn` methods",
    };
    syn::Error::new_spanned(item, msg)
}

impl RpcMethod {
    fn parse(
        f: &mut TraitItemFn,
        namespace: Option<&str>,
        trait_params: ParamsForm,
        names: &mut Vec<WireName>,
    ) -> syn::Result<Self> {
        let mut errors = None;
        let (options, attr_errors) = MethodOptions::take(&mut f.attrs);
        if let Some(e) = attr_errors {
            combine(&mut errors, e);
        }
        let sig = &f.sig;
        let notification = options.notification.is_some();
        let mut fail = |e: syn::Error| combine(&mut errors, e);
        if sig.asyncness.is_none() && sig.constness.is_none() {
            fail(syn::Error::new_spanned(
                sig.fn_token,
                "#[rpc] methods must be `async fn`",
            ));
        }
        if !sig.generics.params.is_empty() {
            fail(syn::Error::new_spanned(
                &sig.generics,
                "#[rpc] methods cannot be generic: each argument and result has one concrete type on the wire",
            ));
        }
        if let Some(where_clause) = &sig.generics.where_clause {
            fail(syn::Error::new_spanned(
                where_clause,
                "#[rpc] methods cannot have a `where` clause",
            ));
        }
        if let Some(default) = &f.default {
            fail(syn::Error::new_spanned(
                default,
                "#[rpc] methods cannot have a default body: the trait declares the API, an `impl` of it serves it",
            ));
        }
        if let Some(c) = &sig.constness {
            fail(syn::Error::new_spanned(c, "#[rpc] methods cannot be `const`"));
        }
        if let Some(u) = &sig.unsafety {
            fail(syn::Error::new_spanned(u, "#[rpc] methods cannot be `unsafe`"));
        }
        if let Some(abi) = &sig.abi {
            fail(syn::Error::new_spanned(abi, "#[rpc] methods cannot be `extern`"));
        }
        if let Some(v) = &sig.variadic {
            fail(syn::Error::new_spanned(v, "#[rpc] methods cannot be variadic"));
        }
        check_receiver(sig, &mut fail);
        let mut args: Vec<Arg> = sig
            .inputs
            .iter()
            .skip(1)
            .filter_map(|arg| parse_arg(arg, &mut fail))
            .collect();
        mark_trailing_options(&mut args);
        let (ok_type, output) = parse_output(sig, notification, options.conflicting, &mut fail);
        let kind = match crate::streaming::stream_item(&ok_type) {
            _ if notification => Kind::Notification,
            Some(item) => Kind::Subscription {
                item: Box::new(item.clone()),
            },
            None => Kind::Request,
        };
        let rust_name = unraw(&sig.ident);
        let attr = if notification {
            attrs::NOTIFICATION
        } else {
            attrs::METHOD
        };
        let (base, name_span) = match &options.name {
            Some(lit) => (lit.value(), lit.span()),
            None => (rust_name, sig.ident.span()),
        };
        let wire_name = match namespace {
            Some(ns) => format!("{ns}{}{base}", attrs::NAMESPACE_SEPARATOR),
            None => base,
        };
        // A reserved namespace is reported once, on the trait.
        if namespace.is_none() && wire_name.starts_with(attrs::RESERVED_PREFIX) {
            fail(syn::Error::new(
                name_span,
                format!(
                    "JSON-RPC 2.0 reserves method names starting with `{}`: choose another name",
                    attrs::RESERVED_PREFIX
                ),
            ));
        }
        names.push(WireName {
            name: wire_name.clone(),
            span: name_span,
            ident: sig.ident.clone(),
            attr,
        });
        if let Some(e) = errors {
            sanitize(f);
            return Err(e);
        }
        Ok(RpcMethod {
            ident: sig.ident.clone(),
            wire_name,
            kind,
            args,
            params: options.params.unwrap_or(trait_params),
            ok_type,
            err_type: if notification {
                None
            } else {
                result_types(&output).map(|(_, e)| e)
            },
            output,
            docs: docs_of(&f.attrs),
            attrs: f.attrs.clone(),
        })
    }

    /// The error type: `E` of `Result<T, E>`, `RpcError` for a notification.
    pub fn error_type(&self, krate: &TokenStream) -> TokenStream {
        match &self.err_type {
            Some(ty) => quote!(#ty),
            None => quote!(#krate::RpcError),
        }
    }

    /// The method's `#[cfg]` attributes, for generated items that must
    /// disappear with it.
    pub fn cfg_attrs(&self) -> impl Iterator<Item = &syn::Attribute> {
        self.attrs.iter().filter(|a| a.path().is_ident("cfg"))
    }
}

/// Removes from a rejected method what rustc would report a second time when
/// the trait is emitted next to our errors: `const`, and argument patterns.
fn sanitize(f: &mut TraitItemFn) {
    f.sig.constness = None;
    for arg in &mut f.sig.inputs {
        if let FnArg::Typed(t) = arg
            && !matches!(&*t.pat, Pat::Ident(_))
        {
            *t.pat = syn::parse_quote!(_);
        }
    }
}

fn check_receiver(sig: &syn::Signature, fail: &mut impl FnMut(syn::Error)) {
    match sig.inputs.first() {
        Some(FnArg::Receiver(r)) if r.colon_token.is_some() => fail(syn::Error::new_spanned(
            r,
            format!(
                "#[rpc] methods take `&self`, not `self: {}`: the dispatch table already holds the implementation in an `Arc`",
                type_name(&r.ty)
            ),
        )),
        Some(FnArg::Receiver(r)) if r.reference.is_none() => fail(syn::Error::new_spanned(
            r,
            "#[rpc] methods take `&self`, not `self`: one implementation serves every call, so it is borrowed, never consumed",
        )),
        Some(FnArg::Receiver(r)) if r.mutability.is_some() => fail(syn::Error::new_spanned(
            r,
            "#[rpc] methods take `&self`, not `&mut self`: calls run concurrently, so keep mutable state behind a `Mutex` or an atomic",
        )),
        Some(FnArg::Receiver(_)) => {}
        Some(FnArg::Typed(t)) => fail(syn::Error::new_spanned(
            t,
            "#[rpc] methods take `&self` as their first argument: add `&self` before this one",
        )),
        None => fail(syn::Error::new(
            sig.paren_token.span.join(),
            "#[rpc] methods take `&self` as their first argument: write `(&self)`",
        )),
    }
}

fn parse_arg(arg: &FnArg, fail: &mut impl FnMut(syn::Error)) -> Option<Arg> {
    let FnArg::Typed(typed) = arg else {
        fail(syn::Error::new_spanned(arg, "`self` may only be the first argument"));
        return None;
    };
    let ident = match &*typed.pat {
        Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => p.ident.clone(),
        other => {
            fail(syn::Error::new_spanned(
                other,
                "#[rpc] arguments must be plain names (`name: Type`): the name is the key when params are sent by name",
            ));
            return None;
        }
    };
    if let Err(e) = check_owned(&typed.ty, Role::Argument) {
        fail(e);
        return None;
    }
    Some(Arg {
        ident,
        ty: (*typed.ty).clone(),
        optional: false,
    })
}

/// Marks the `Option<T>` arguments after the last required one: the ones a
/// caller may leave out by position.
fn mark_trailing_options(args: &mut [Arg]) {
    for arg in args.iter_mut().rev() {
        if !is_option(&arg.ty) {
            break;
        }
        arg.optional = true;
    }
}

/// `Option<T>` as written (any path ending in `Option` with one type
/// argument). The server does not rely on this: it reads an absent param as
/// serde reads a missing field, so this only feeds the metadata.
pub fn is_option(ty: &Type) -> bool {
    let Type::Path(p) = ty else { return false };
    let Some(last) = p.path.segments.last() else {
        return false;
    };
    matches!(&last.arguments, PathArguments::AngleBracketed(a) if last.ident == "Option" && a.args.len() == 1)
}

/// What a checked type is, for messages.
#[derive(Clone, Copy)]
enum Role {
    Argument,
    Result,
}

impl Role {
    fn plural(self) -> &'static str {
        match self {
            Role::Argument => "#[rpc] arguments",
            Role::Result => "#[rpc] results",
        }
    }

    /// Why the type must be owned.
    fn reason(self) -> &'static str {
        match self {
            Role::Argument => "the server decodes them from JSON into owned values",
            Role::Result => "the client decodes them from JSON into owned values",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Role::Argument => "take",
            Role::Result => "return",
        }
    }
}

/// Arguments and results travel over the wire, so they must be owned,
/// nameable types. Reports the innermost offending type.
fn check_owned(ty: &Type, role: Role) -> syn::Result<()> {
    let what = role.plural();
    let err = |tokens: &dyn quote::ToTokens, msg: String| Err(syn::Error::new_spanned(tokens, msg));
    match ty {
        Type::Reference(r) => {
            let elem = type_name(&r.elem);
            let owned = match &*r.elem {
                Type::Path(p) if p.qself.is_none() && p.path.is_ident("str") => "String".to_owned(),
                Type::Slice(s) => format!("Vec<{}>", type_name(&s.elem)),
                _ => elem.clone(),
            };
            let lifetime = r.lifetime.as_ref().map(|l| format!("{l} ")).unwrap_or_default();
            let mutability = if r.mutability.is_some() { "mut " } else { "" };
            err(
                r,
                format!(
                    "{what} cannot be references ({}): {} `{owned}` instead of `&{lifetime}{mutability}{elem}`",
                    role.reason(),
                    role.verb(),
                ),
            )
        }
        Type::ImplTrait(t) => err(
            t,
            format!(
                "{what} cannot be `impl Trait`: name a concrete type ({})",
                role.reason()
            ),
        ),
        Type::TraitObject(t) => err(
            t,
            format!(
                "{what} cannot be trait objects: name a concrete type ({})",
                role.reason()
            ),
        ),
        Type::Infer(t) => err(t, format!("{what} need a concrete type, not `_`")),
        Type::Ptr(t) => err(t, format!("{what} cannot be raw pointers")),
        Type::BareFn(t) => err(t, format!("{what} cannot be functions")),
        Type::Paren(p) => check_owned(&p.elem, role),
        Type::Group(g) => check_owned(&g.elem, role),
        Type::Array(a) => check_owned(&a.elem, role),
        Type::Slice(s) => check_owned(&s.elem, role),
        Type::Tuple(t) => t.elems.iter().try_for_each(|t| check_owned(t, role)),
        Type::Path(p) => {
            if let Some(q) = &p.qself {
                check_owned(&q.ty, role)?;
            }
            p.path.segments.iter().try_for_each(|seg| match &seg.arguments {
                PathArguments::AngleBracketed(args) => args.args.iter().try_for_each(|a| match a {
                    GenericArgument::Type(t) => check_owned(t, role),
                    GenericArgument::Lifetime(l) if l.ident != "static" => err(
                        l,
                        format!(
                            "{what} cannot borrow ({}): use an owned type, or `'static`",
                            role.reason()
                        ),
                    ),
                    _ => Ok(()),
                }),
                _ => Ok(()),
            })
        }
        _ => Ok(()),
    }
}

/// Returns (`T`, the whole output type).
fn parse_output(
    sig: &syn::Signature,
    notification: bool,
    conflicting: bool,
    fail: &mut impl FnMut(syn::Error),
) -> (Type, Type) {
    let unit: Type = syn::parse_quote!(());
    let ty = match &sig.output {
        ReturnType::Default => None,
        ReturnType::Type(_, ty) => Some((**ty).clone()),
    };
    if conflicting {
        // Request or notification is unknown: the attribute error says so.
        let output = ty.unwrap_or_else(|| unit.clone());
        return (result_ok_type(&output).unwrap_or_else(|| unit.clone()), output);
    }
    match (notification, ty) {
        (true, None) => (unit.clone(), unit),
        (true, Some(Type::Tuple(t))) if t.elems.is_empty() => (unit.clone(), unit),
        (true, Some(_)) => {
            fail(syn::Error::new_spanned(
                &sig.output,
                "a #[notification] gets no reply, so it cannot return a value: remove the return type",
            ));
            (unit.clone(), unit)
        }
        (false, Some(ty)) => match result_ok_type(&ty) {
            Some(ok) => {
                if let Err(e) = check_owned(&ok, Role::Result) {
                    fail(e);
                }
                (ok, ty)
            }
            None => {
                fail(syn::Error::new_spanned(&ty, not_a_result(&ty)));
                (unit, ty)
            }
        },
        (false, None) => {
            fail(syn::Error::new_spanned(
                &sig.ident,
                format!(
                    "`{}` returns nothing: a request returns `Result<T, RpcError>` (`Result<(), RpcError>` for no value), \
                     or mark it #[{}] if the caller wants no reply",
                    unraw(&sig.ident),
                    attrs::NOTIFICATION
                ),
            ));
            (unit.clone(), unit)
        }
    }
}

/// The message for a request whose return type is not `Result<T, E>`.
fn not_a_result(ty: &Type) -> String {
    let last = match ty {
        Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    };
    match last {
        Some(name) if name == "Result" => {
            "write both arguments: `Result<T, RpcError>` (the macro reads `T` from it, so it cannot see through \
             an alias such as `Result<T>`)"
                .to_owned()
        }
        Some(name) if name.contains("Result") => {
            "#[rpc] methods return `Result<T, RpcError>`, written out: the macro reads `T` from it, so it cannot \
             see through a type alias"
                .to_owned()
        }
        _ => format!(
            "#[rpc] methods return `Result<T, RpcError>`, since a call can fail on the wire: write `Result<{}, RpcError>`",
            type_name(ty)
        ),
    }
}

/// `T` of `Result<T, E>` (any path ending in `Result` with two arguments).
fn result_ok_type(ty: &Type) -> Option<Type> {
    result_types(ty).map(|(ok, _)| ok)
}

/// `(T, E)` of `Result<T, E>`.
fn result_types(ty: &Type) -> Option<(Type, Type)> {
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
    let err = types.next()?;
    Some((ok, err))
}

/// The text of `///` comments (`#[doc = "..."]`), one line each.
pub fn docs_of(attrs: &[syn::Attribute]) -> String {
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

/// The path of the runtime crate when `#[rpc(crate = ...)]` is not given:
/// the facade `duplexrpc` when the user's Cargo.toml names it (under any
/// rename), else `duplexrpc-core` (likewise), else `::duplexrpc_core`.
pub fn runtime_path() -> TokenStream {
    use proc_macro_crate::{FoundCrate, crate_name};
    for package in ["duplexrpc", "duplexrpc-core"] {
        match crate_name(package) {
            Ok(FoundCrate::Name(name)) => {
                let ident = proc_macro2::Ident::new(&name, proc_macro2::Span::call_site());
                return quote!(::#ident);
            }
            // The package's own tests and doc tests are other crates that
            // name it by its library name.
            Ok(FoundCrate::Itself) => {
                let ident = proc_macro2::Ident::new(&package.replace('-', "_"), proc_macro2::Span::call_site());
                return quote!(::#ident);
            }
            Err(_) => {}
        }
    }
    quote!(::duplexrpc_core)
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
                    async fn ticks(&self, every: u64, limit: Option<u32>) -> Result<RpcStream<u64>, RpcError>;
                }
            },
        )
        .unwrap();
        let names: Vec<_> = api.methods.iter().map(|m| m.wire_name.as_str()).collect();
        assert_eq!(names, ["calc.add", "calc.sub", "calc.reset", "calc.type", "calc.ticks"]);
        assert!(api.methods[2].kind == Kind::Notification);
        assert!(api.methods[0].kind == Kind::Request);
        let tick: Type = syn::parse_quote!(u64);
        assert!(api.methods[4].kind == Kind::Subscription { item: Box::new(tick) });
        let optional: Vec<_> = api.methods[4].args.iter().map(|a| a.optional).collect();
        assert_eq!(optional, [false, true]);
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
