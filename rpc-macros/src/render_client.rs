//! `{Trait}Client`: the typed stub that calls the trait on the remote peer.

use proc_macro2::TokenStream;
use quote::quote;

use crate::model::{Kind, RpcMethod, RpcTrait};

pub fn render(api: &RpcTrait) -> TokenStream {
    let krate = &api.krate;
    let vis = &api.vis;
    let client = api.client_ident();
    let methods = api.methods.iter().map(|m| render_method(krate, m));
    let notifications = api
        .methods
        .iter()
        .filter(|m| m.kind == Kind::Notification)
        .map(|m| render_prepared(krate, m));
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
fn render_prepared(krate: &TokenStream, m: &RpcMethod) -> TokenStream {
    let RpcMethod {
        ident, wire_name, args, ..
    } = m;
    let fn_ident = quote::format_ident!("{}_notification", ident.to_string().trim_start_matches("r#"));
    let names: Vec<_> = args.iter().map(|a| &a.ident).collect();
    let types = args.iter().map(|a| &a.ty);
    let params = if names.is_empty() {
        quote!(#krate::__private::NO_PARAMS)
    } else {
        quote!((#(#names,)*))
    };
    let doc = format!(
        "The `{wire_name}` notification, serialized once: send it to many peers with `Peer::send_notification` or a `Registry`."
    );
    let cfgs = m.cfg_attrs();
    quote! {
        #[doc = #doc]
        #(#cfgs)*
        pub fn #fn_ident(#(#names: &#types),*) -> ::core::result::Result<#krate::Notification, #krate::RpcError> {
            #krate::Notification::new(#wire_name, #params)
        }
    }
}

fn render_method(krate: &TokenStream, m: &RpcMethod) -> TokenStream {
    let RpcMethod {
        ident,
        wire_name,
        args,
        ok_type,
        attrs,
        ..
    } = m;
    let names: Vec<_> = args.iter().map(|a| &a.ident).collect();
    let types = args.iter().map(|a| &a.ty);
    let params = if names.is_empty() {
        quote!(#krate::__private::NO_PARAMS)
    } else {
        quote!((#(&#names,)*))
    };
    let (ret, send) = match m.kind {
        Kind::Request if crate::streaming::stream_item(ok_type).is_some() => {
            (quote!(#ok_type), quote!(self.peer.subscribe(#wire_name, #params).await))
        }
        Kind::Request => (
            quote!(#ok_type),
            quote! {
                match self.timeout {
                    ::core::option::Option::Some(t) => self.peer.call_with_timeout(#wire_name, #params, t).await,
                    ::core::option::Option::None => self.peer.call(#wire_name, #params).await,
                }
            },
        ),
        Kind::Notification => (quote!(()), quote!(self.peer.notify(#wire_name, #params).await)),
    };
    quote! {
        #(#attrs)*
        pub async fn #ident(&self, #(#names: #types),*) -> ::core::result::Result<#ret, #krate::RpcError> {
            #send
        }
    }
}
