//! `{Trait}Client`: the typed stub that calls the trait on the remote peer.

use proc_macro2::TokenStream;
use quote::quote;

use crate::attrs::ParamsForm;
use crate::check::prepared_notification_name;
use crate::model::{Kind, RpcMethod, RpcTrait, unraw};

pub fn render(api: &RpcTrait) -> TokenStream {
    let krate = &api.krate;
    let vis = &api.vis;
    let client = api.client_ident();
    let methods = api.methods.iter().map(|m| render_method(api, m));
    let notifications = api
        .methods
        .iter()
        .filter(|m| m.kind == Kind::Notification)
        .map(|m| render_prepared(api, m));
    let doc = format!(
        "Typed client for [`{0}`]: calls the `{0}` implementation on the other end of a connection.",
        api.ident
    );
    quote! {
        #[doc = #doc]
        #[derive(::core::clone::Clone, ::core::fmt::Debug)]
        #vis struct #client {
            peer: #krate::Peer,
            timeout: ::core::option::Option<::core::time::Duration>,
        }

        impl #client {
            /// A client that calls over `peer`, with the peer's default call timeout.
            pub fn new(peer: #krate::Peer) -> Self {
                Self { peer, timeout: ::core::option::Option::None }
            }

            /// The same client with its own timeout for every call it makes.
            pub fn with_timeout(mut self, timeout: ::core::time::Duration) -> Self {
                self.timeout = ::core::option::Option::Some(timeout);
                self
            }

            /// The peer this client calls over.
            pub fn peer(&self) -> &#krate::Peer {
                &self.peer
            }

            #(#methods)*

            #(#notifications)*
        }

        impl ::core::convert::From<#krate::Peer> for #client {
            fn from(peer: #krate::Peer) -> Self {
                Self::new(peer)
            }
        }
    }
}

/// `{method}_notification(&args) -> Notification`: a notification serialized
/// once, to send to many peers (broadcast through a `Registry`).
fn render_prepared(api: &RpcTrait, m: &RpcMethod) -> TokenStream {
    let krate = &api.krate;
    let RpcMethod {
        ident, wire_name, args, ..
    } = m;
    let fn_ident = quote::format_ident!("{}", prepared_notification_name(&unraw(ident)));
    let names = args.iter().map(|a| &a.ident);
    let types = args.iter().map(|a| &a.ty);
    // The arguments are references already.
    let params = render_params(api, m, false);
    let local = params_local();
    let doc = format!(
        "The `{wire_name}` notification, serialized once: send it to many peers with `Peer::send_notification` or a `Registry`."
    );
    let cfgs = m.cfg_attrs();
    quote! {
        #[doc = #doc]
        #(#cfgs)*
        pub fn #fn_ident(#(#names: &#types),*) -> ::core::result::Result<#krate::Notification, #krate::RpcError> {
            #params
            #krate::Notification::new(#wire_name, #local)
        }
    }
}

fn render_method(api: &RpcTrait, m: &RpcMethod) -> TokenStream {
    let krate = &api.krate;
    let RpcMethod {
        ident,
        wire_name,
        args,
        ok_type,
        attrs,
        ..
    } = m;
    let names = args.iter().map(|a| &a.ident);
    let types = args.iter().map(|a| &a.ty);
    let params = render_params(api, m, true);
    let local = params_local();
    let err = m.error_type(krate);
    let (ret, send) = match m.kind {
        Kind::Subscription { .. } => (quote!(#ok_type), quote!(self.peer.subscribe(#wire_name, #local).await)),
        Kind::Request => (
            quote!(#ok_type),
            quote! {
                match self.timeout {
                    ::core::option::Option::Some(t) => self.peer.call_with_timeout(#wire_name, #local, t).await,
                    ::core::option::Option::None => self.peer.call(#wire_name, #local).await,
                }
            },
        ),
        Kind::Notification => (quote!(()), quote!(self.peer.notify(#wire_name, #local).await)),
    };
    // The call's failure as the method's own error type (`RpcError` unchanged).
    quote! {
        #(#attrs)*
        pub async fn #ident(&self, #(#names: #types),*) -> ::core::result::Result<#ret, #err> {
            #params
            #krate::__private::from_rpc_result::<_, #err>(#send)
        }
    }
}

/// `let params = ...;`: the arguments as the method sends them, by position
/// (a tuple, serialized as an array) or by name (a struct keyed by the
/// argument names, serialized as an object). `borrow` takes a reference to
/// each argument; without it the arguments are references already.
fn render_params(api: &RpcTrait, m: &RpcMethod, borrow: bool) -> TokenStream {
    let krate = &api.krate;
    let local = params_local();
    let names: Vec<_> = m.args.iter().map(|a| &a.ident).collect();
    let refs = names.iter().map(|n| if borrow { quote!(&#n) } else { quote!(#n) });
    match m.params {
        ParamsForm::Position if names.is_empty() => quote!(let #local = #krate::__private::NO_PARAMS;),
        ParamsForm::Position => quote!(let #local = (#(#refs,)*);),
        ParamsForm::Name => {
            let serde_path = api.serde_path();
            let types = m.args.iter().map(|a| &a.ty);
            let (generics, lifetime) = if names.is_empty() {
                (quote!(), quote!())
            } else {
                (quote!(<'__params>), quote!('__params))
            };
            quote! {
                #[derive(#krate::__private::serde::Serialize)]
                #[serde(crate = #serde_path)]
                struct __RpcNamedParams #generics { #(#names: &#lifetime #types),* }
                let #local = __RpcNamedParams { #(#names: #refs),* };
            }
        }
    }
}

/// The local holding the params. Its mixed-site span keeps it apart from an
/// argument called `params`.
fn params_local() -> syn::Ident {
    syn::Ident::new("params", proc_macro2::Span::mixed_site())
}
