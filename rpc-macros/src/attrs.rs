//! The attribute keys the macro accepts, and their parsing.

use proc_macro2::Span;
use syn::{Attribute, Ident, LitStr, Path};

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

/// `#[rpc(params = "...")]` / `#[method(params = "...")]`: how the client
/// stub sends params.
pub const PARAMS: &str = "params";
/// `#[rpc(client = "...")]`: the generated client's name.
pub const CLIENT: &str = "client";
/// `params = "named"`: an object keyed by the argument names.
pub const BY_NAME: &str = "named";
/// `params = "positional"`: an array in declaration order (the default).
pub const BY_POSITION: &str = "positional";

/// How a client stub sends a method's params.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum ParamsForm {
    /// A JSON array in declaration order.
    #[default]
    Position,
    /// A JSON object keyed by the argument names.
    Name,
}

/// Options given on the trait.
#[derive(Default)]
pub struct TraitOptions {
    /// `namespace = "..."`.
    pub namespace: Option<LitStr>,
    /// `crate = "..."`.
    pub krate: Option<Path>,
    /// `params = "..."`.
    pub params: Option<ParamsForm>,
    /// `client = "..."`.
    pub client: Option<Ident>,
}

impl TraitOptions {
    /// Returns what could be read even when some of it is wrong, with the
    /// error, so that the methods are still checked with the right namespace.
    pub fn parse(attr: proc_macro2::TokenStream) -> (Self, Option<syn::Error>) {
        let mut options = TraitOptions::default();
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident(NAMESPACE) {
                let lit = string_value(&meta, &format!("{NAMESPACE} = \"calc\""))?;
                check_namespace(&lit)?;
                set_once(&meta, &mut options.namespace, lit)
            } else if meta.path.is_ident(CRATE) {
                let example = format!("{CRATE} = \"::duplexrpc_core\"");
                let lit = string_value(&meta, &example)?;
                let path = lit.parse().map_err(|_| {
                    syn::Error::new(
                        lit.span(),
                        format!("`{CRATE}` takes the path of the runtime crate, e.g. `{example}`"),
                    )
                })?;
                set_once(&meta, &mut options.krate, path)
            } else if meta.path.is_ident(PARAMS) {
                let form = params_form(&meta)?;
                set_once(&meta, &mut options.params, form)
            } else if meta.path.is_ident(CLIENT) {
                let example = format!("{CLIENT} = \"BoardStub\"");
                let lit = string_value(&meta, &example)?;
                let ident = lit.parse::<Ident>().map_err(|_| {
                    syn::Error::new(
                        lit.span(),
                        format!("`{CLIENT}` takes the name of the generated client, e.g. `{example}`"),
                    )
                })?;
                set_once(&meta, &mut options.client, Ident::new(&ident.to_string(), lit.span()))
            } else {
                Err(meta.error(format!(
                    "unknown #[rpc] option; expected `{NAMESPACE}`, `{CRATE}`, `{PARAMS}` or `{CLIENT}`"
                )))
            }
        });
        let error = syn::parse::Parser::parse2(parser, attr).err();
        (options, error)
    }
}

/// Stores an option's value, or fails if the option was already given.
fn set_once<T>(meta: &syn::meta::ParseNestedMeta<'_>, slot: &mut Option<T>, value: T) -> syn::Result<()> {
    if slot.is_some() {
        let key = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
        return Err(syn::Error::new_spanned(&meta.path, format!("`{key}` is given twice")));
    }
    *slot = Some(value);
    Ok(())
}

/// The value of `params = "named"` or `params = "positional"`.
fn params_form(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<ParamsForm> {
    let lit = string_value(meta, &format!("{PARAMS} = \"{BY_NAME}\""))?;
    match lit.value().as_str() {
        BY_NAME => Ok(ParamsForm::Name),
        BY_POSITION => Ok(ParamsForm::Position),
        _ => Err(syn::Error::new(
            lit.span(),
            format!(
                "`{PARAMS}` is \"{BY_NAME}\" (an object keyed by argument name) or \"{BY_POSITION}\" \
                 (an array in declaration order, the default)"
            ),
        )),
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
    /// `params = "..."`: overrides the trait's choice.
    pub params: Option<ParamsForm>,
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
                let lit = string_value(&meta, &format!("{NAME} = \"wire_name\""))?;
                if lit.value().is_empty() {
                    return Err(syn::Error::new(lit.span(), "the wire name cannot be empty"));
                }
                set_once(&meta, &mut self.name, lit)
            } else if meta.path.is_ident(PARAMS) {
                let form = params_form(&meta)?;
                set_once(&meta, &mut self.params, form)
            } else {
                Err(meta.error(format!("unknown #[{kind}] option; expected `{NAME}` or `{PARAMS}`")))
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
