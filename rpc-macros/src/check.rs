//! The naming rules, checked once the methods are parsed: wire names are
//! unique, and nothing the user names can clash with a name `#[rpc]`
//! generates (the client stub, its inherent items, the trait's
//! `into_methods`).

use std::collections::HashMap;

use proc_macro2::Span;
use syn::Ident;

use crate::attrs::{self, combine};
use crate::idents::unraw;

/// A method's wire name and where it comes from.
pub struct WireName {
    pub name: String,
    /// The rename's literal, or the method name.
    pub span: Span,
    pub ident: Ident,
    /// The attribute that renames the method.
    pub attr: &'static str,
}

/// The names a method cannot take, and what each would clash with. The
/// client's inherent items (`new`, `peer`, `with_timeout`), the trait's
/// `into_methods`, and what a user calls on the client from the traits
/// `#[rpc]` implements for it (`Client::from(peer)`, `client.clone()`,
/// `Client::META`), which an inherent method of the same name would shadow.
const RESERVED_METHODS: [(&str, Clash); 7] = [
    ("new", Clash::Inherent),
    ("peer", Clash::Inherent),
    ("with_timeout", Clash::Inherent),
    ("into_methods", Clash::Trait),
    ("from", Clash::Shadows("From::from", "`{client}::from(peer)`")),
    ("clone", Clash::Shadows("Clone::clone", "`client.clone()`")),
    ("META", Clash::Shadows("RpcApi::META", "`{client}::META`")),
];

/// What a reserved method name would clash with.
#[derive(Clone, Copy)]
enum Clash {
    /// An inherent item of the client.
    Inherent,
    /// The trait's `into_methods`.
    Trait,
    /// A trait item the client implements: (its name, how users reach it).
    Shadows(&'static str, &'static str),
}

/// The suffix of the default client name.
const CLIENT_SUFFIX: &str = "Client";

/// The generated client's name: `client = "..."`, or `{Trait}Client`.
/// Reports a name that clashes with the trait itself, and a trait whose own
/// name is the default client name of another trait.
pub fn client_ident(trait_ident: &Ident, given: Option<&Ident>, errors: &mut Option<syn::Error>) -> Ident {
    let trait_name = unraw(trait_ident);
    if let Some(client) = given {
        if unraw(client) == trait_name {
            let msg = format!(
                "the client cannot be named `{trait_name}` like its trait: both live in the type namespace of \
                 this module; choose another name, e.g. `{trait_name}Stub`"
            );
            combine(errors, syn::Error::new(client.span(), msg));
        }
        return client.clone();
    }
    if let Some(base) = trait_name.strip_suffix(CLIENT_SUFFIX).filter(|b| !b.is_empty()) {
        let msg = format!(
            "`{trait_name}` is the name #[rpc] gives the client of a trait `{base}`, so the two cannot be in one \
             module (E0428): name this trait for what it serves (e.g. `{base}Callbacks`), or keep the name and \
             give both clients explicit names: #[rpc({client} = \"{trait_name}Stub\")] here, and \
             #[rpc({client} = \"{base}Stub\")] on a trait `{base}` beside it",
            client = attrs::CLIENT
        );
        combine(errors, syn::Error::new(trait_ident.span(), msg));
    }
    Ident::new(&format!("{trait_name}{CLIENT_SUFFIX}"), trait_ident.span())
}

/// Wire names are unique, and no method is named like a generated item.
pub fn method_names(names: &[WireName], client: &Ident, errors: &mut Option<syn::Error>) {
    for n in names {
        if let Some(msg) = reserved_clash(n, client) {
            combine(errors, syn::Error::new(n.ident.span(), msg));
        }
    }
    for n in names.iter().filter(|n| n.attr == attrs::NOTIFICATION) {
        let prepared = prepared_notification_name(&unraw(&n.ident));
        if let Some(clash) = names.iter().find(|m| unraw(&m.ident) == prepared) {
            let msg = format!(
                "`{prepared}` would clash with the generated `{client}::{prepared}`, which prepares notification `{}`: \
                 name this method differently and keep its wire name with #[{}(name = \"{prepared}\")]",
                n.ident, clash.attr
            );
            combine(errors, syn::Error::new(clash.ident.span(), msg));
        }
    }
    let mut seen = HashMap::new();
    for n in names {
        if let Some(first) = seen.insert(n.name.as_str(), &n.ident) {
            let msg = format!(
                "wire name {:?} is already taken by `{first}`: rename one of the two with #[{}(name = \"...\")]",
                n.name, n.attr
            );
            combine(errors, syn::Error::new(n.span, msg));
        }
    }
}

/// The message for a method named like a generated item, if it is.
fn reserved_clash(n: &WireName, client: &Ident) -> Option<String> {
    let name = unraw(&n.ident);
    let (_, clash) = RESERVED_METHODS.iter().find(|(reserved, _)| *reserved == name)?;
    let what = match clash {
        Clash::Inherent => format!("would clash with the generated `{client}::{name}`"),
        Clash::Trait => "would clash with the `into_methods` that #[rpc] adds to the trait".to_owned(),
        Clash::Shadows(item, usage) => format!(
            "would shadow `{item}` of the generated `{client}` ({} would name this method)",
            usage.replace("{client}", &client.to_string())
        ),
    };
    Some(format!(
        "`{name}` {what}: name this method differently and keep its wire name with #[{}(name = \"{name}\")]",
        n.attr
    ))
}

/// The client's associated function that prepares notification `name`.
pub fn prepared_notification_name(name: &str) -> String {
    format!("{name}_notification")
}
