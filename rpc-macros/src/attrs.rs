//! The attribute keys the macro accepts, and their parsing.

use proc_macro2::Span;
use syn::{Attribute, LitStr, Path};

/// `#[rpc(namespace = "...")]`: prefix for every wire name.
pub const NAMESPACE: &str = "namespace";
/// `#[rpc(crate = "...")]`: path of the runtime crate if renamed.
pub const CRATE: &str = "crate";
/// `#[method(name = "...")]` / `#[notification(name = "...")]`: wire name.
pub const NAME: &str = "name";
/// Method attribute marking a request (only needed to rename it).
pub const METHOD: &str = "method";
/// Method attribute marking a notification.
pub const NOTIFICATION: &str = "notification";
/// Separator between namespace and method name on the wire.
pub const NAMESPACE_SEPARATOR: &str = ".";
/// JSON-RPC 2.0 reserves method names that start with `rpc.` for the
/// protocol's own extensions.
pub const RESERVED_PREFIX: &str = "rpc.";

/// Options given on the trait.
#[derive(Default)]
pub struct TraitOptions {
    /// `namespace = "..."`.
    pub namespace: Option<LitStr>,
    /// `crate = "..."`.
    pub krate: Option<Path>,
}

impl TraitOptions {
    /// Returns what could be read even when some of it is wrong, with the
    /// error, so that the methods are still checked with the right namespace.
    pub fn parse(attr: proc_macro2::TokenStream) -> (Self, Option<syn::Error>) {
        let mut options = TraitOptions::default();
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident(NAMESPACE) {
                if options.namespace.is_some() {
                    return Err(meta.error(format!("`{NAMESPACE}` is given twice")));
                }
                let lit = string_value(&meta, &format!("{NAMESPACE} = \"calc\""))?;
                check_namespace(&lit)?;
                options.namespace = Some(lit);
                Ok(())
            } else if meta.path.is_ident(CRATE) {
                if options.krate.is_some() {
                    return Err(meta.error(format!("`{CRATE}` is given twice")));
                }
                let example = format!("{CRATE} = \"::duplexrpc_core\"");
                let lit = string_value(&meta, &example)?;
                let path = lit.parse().map_err(|_| {
                    syn::Error::new(
                        lit.span(),
                        format!("`{CRATE}` takes the path of the runtime crate, e.g. `{example}`"),
                    )
                })?;
                options.krate = Some(path);
                Ok(())
            } else {
                Err(meta.error(format!("unknown #[rpc] option; expected `{NAMESPACE}` or `{CRATE}`")))
            }
        });
        let error = syn::parse::Parser::parse2(parser, attr).err();
        (options, error)
    }
}

/// The string after `key =`, with an example in the error if it is not one.
fn string_value(meta: &syn::meta::ParseNestedMeta<'_>, example: &str) -> syn::Result<LitStr> {
    let value = meta.value()?;
    value.parse::<LitStr>().map_err(|e| {
        let key = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
        syn::Error::new(e.span(), format!("`{key}` takes a string, e.g. `{example}`"))
    })
}

fn check_namespace(lit: &LitStr) -> syn::Result<()> {
    let ns = lit.value();
    let problem = if ns.is_empty() {
        "the namespace cannot be empty (leave `namespace` out for none)".to_owned()
    } else if ns.starts_with(NAMESPACE_SEPARATOR) || ns.ends_with(NAMESPACE_SEPARATOR) {
        format!(
            "the namespace is joined to each method name with `{NAMESPACE_SEPARATOR}`: write {:?}",
            ns.trim_matches('.')
        )
    } else if format!("{ns}{NAMESPACE_SEPARATOR}").starts_with(RESERVED_PREFIX) {
        format!("JSON-RPC 2.0 reserves method names starting with `{RESERVED_PREFIX}`: choose another namespace")
    } else {
        return Ok(());
    };
    Err(syn::Error::new(lit.span(), problem))
}

/// What a method's attributes say.
#[derive(Default)]
pub struct MethodOptions {
    /// Set by `#[notification]`.
    pub notification: Option<Span>,
    /// The wire name override.
    pub name: Option<LitStr>,
    /// Both `#[method]` and `#[notification]` (or one twice) were given, so
    /// whether the method is a request is unknown.
    pub conflicting: bool,
}

impl MethodOptions {
    /// Reads and removes our attributes from `attrs`; other attributes stay.
    /// Returns what could be read even when some of it is wrong, with the
    /// errors, so that one mistake does not cause others downstream.
    pub fn take(attrs: &mut Vec<Attribute>) -> (Self, Option<syn::Error>) {
        let mut options = MethodOptions::default();
        let mut seen: Option<&'static str> = None;
        let mut error: Option<syn::Error> = None;
        attrs.retain(|attr| {
            let kind = if attr.path().is_ident(METHOD) {
                METHOD
            } else if attr.path().is_ident(NOTIFICATION) {
                NOTIFICATION
            } else {
                return true;
            };
            if let Err(e) = options.read(attr, kind, &mut seen) {
                combine(&mut error, e);
            }
            false
        });
        (options, error)
    }

    fn read(&mut self, attr: &Attribute, kind: &'static str, seen: &mut Option<&'static str>) -> syn::Result<()> {
        if let Some(previous) = seen.replace(kind) {
            self.conflicting = true;
            let msg = if previous == kind {
                format!("#[{kind}] is given twice")
            } else {
                format!("a method is either a #[{METHOD}] or a #[{NOTIFICATION}]; #[{previous}] is already given")
            };
            return Err(syn::Error::new_spanned(attr, msg));
        }
        if kind == NOTIFICATION {
            self.notification = Some(syn::spanned::Spanned::span(attr));
        }
        if let syn::Meta::NameValue(nv) = &attr.meta {
            return Err(syn::Error::new_spanned(
                nv,
                format!("write #[{kind}({NAME} = \"...\")] to set the wire name"),
            ));
        }
        if matches!(attr.meta, syn::Meta::Path(_)) {
            return Ok(());
        }
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident(NAME) {
                if self.name.is_some() {
                    return Err(meta.error(format!("`{NAME}` is given twice")));
                }
                let lit = string_value(&meta, &format!("{NAME} = \"wire_name\""))?;
                if lit.value().is_empty() {
                    return Err(syn::Error::new(lit.span(), "the wire name cannot be empty"));
                }
                self.name = Some(lit);
                Ok(())
            } else {
                Err(meta.error(format!("unknown #[{kind}] option; expected `{NAME}`")))
            }
        })
    }
}

/// Adds `e` to the collected errors.
pub fn combine(errors: &mut Option<syn::Error>, e: syn::Error) {
    match errors {
        Some(all) => all.combine(e),
        None => *errors = Some(e),
    }
}
