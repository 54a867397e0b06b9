//! The attribute keys the macro accepts, and their parsing.

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

/// Options given on the trait.
#[derive(Default)]
pub struct TraitOptions {
    /// `namespace = "..."`.
    pub namespace: Option<LitStr>,
    /// `crate = "..."`.
    pub krate: Option<Path>,
}

impl TraitOptions {
    pub fn parse(attr: proc_macro2::TokenStream) -> syn::Result<Self> {
        let mut options = TraitOptions::default();
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident(NAMESPACE) {
                options.namespace = Some(meta.value()?.parse()?);
                Ok(())
            } else if meta.path.is_ident(CRATE) {
                let lit: LitStr = meta.value()?.parse()?;
                options.krate = Some(lit.parse()?);
                Ok(())
            } else {
                Err(meta.error(format!("unknown #[rpc] option; expected `{NAMESPACE}` or `{CRATE}`")))
            }
        });
        syn::parse::Parser::parse2(parser, attr)?;
        Ok(options)
    }
}

/// What a method's attributes say.
pub struct MethodOptions {
    /// True for `#[notification]`.
    pub notification: Option<proc_macro2::Span>,
    /// The wire name override.
    pub name: Option<LitStr>,
}

impl MethodOptions {
    /// Reads and removes our attributes from `attrs`; other attributes stay.
    pub fn take(attrs: &mut Vec<Attribute>) -> syn::Result<Self> {
        let mut options = MethodOptions {
            notification: None,
            name: None,
        };
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
        match error {
            Some(e) => Err(e),
            None => Ok(options),
        }
    }

    fn read(&mut self, attr: &Attribute, kind: &'static str, seen: &mut Option<&'static str>) -> syn::Result<()> {
        if let Some(previous) = seen.replace(kind) {
            return Err(syn::Error::new_spanned(
                attr,
                format!("a method takes one of #[{METHOD}] or #[{NOTIFICATION}], once; #[{previous}] is already given"),
            ));
        }
        if kind == NOTIFICATION {
            self.notification = Some(syn::spanned::Spanned::span(attr));
        }
        if matches!(attr.meta, syn::Meta::Path(_)) {
            return Ok(());
        }
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident(NAME) {
                self.name = Some(meta.value()?.parse()?);
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
