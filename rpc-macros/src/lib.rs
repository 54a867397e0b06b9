//! The `#[rpc]` attribute macro. Use it through `rpc_core::rpc`; its
//! documentation, with a full example, lives there.
//!
//! The macro works in three passes: [`model`] parses the trait into one model
//! struct per trait, method and argument (collecting every user mistake with
//! its span), then [`render_trait`], [`render_client`], [`render_server`] and
//! [`render_meta`] each generate one item from the model.

use proc_macro::TokenStream;
use quote::ToTokens;

mod attrs;
mod model;
mod render_client;
mod render_meta;
mod render_server;
mod render_trait;
mod streaming;
mod type_name;

/// Turns a trait into a JSON-RPC API: see `rpc_core::rpc` for the full docs.
#[proc_macro_attribute]
pub fn rpc(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(attr.into(), item.into()).into()
}

fn expand(attr: proc_macro2::TokenStream, item: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    let mut trait_item: syn::ItemTrait = match syn::parse2(item) {
        Ok(t) => t,
        Err(e) => return e.to_compile_error(),
    };
    match model::RpcTrait::parse(attr, &mut trait_item) {
        Ok(api) => {
            let mut out = render_trait::render(&api, trait_item);
            out.extend(render_client::render(&api));
            out.extend(render_meta::render(&api));
            out
        }
        // Emit the trait (our attributes stripped) next to the errors, so
        // that the rest of the user's code still resolves its name.
        Err(errors) => {
            let mut out = trait_item.into_token_stream();
            out.extend(errors.to_compile_error());
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    /// With `crate = "..."`, the expansion names the runtime only through
    /// that path: a user whose Cargo.toml renames the dependency has no
    /// `rpc_core` at all. (tests/hygiene.rs compiles the same case.)
    #[test]
    fn a_renamed_runtime_crate_is_the_only_one_named() {
        let trait_item = quote! {
            trait Api {
                async fn call(&self, a: i64, b: Vec<String>) -> Result<i64, RpcError>;
                async fn zero(&self) -> Result<(), RpcError>;
                #[notification]
                async fn note(&self, x: u8);
            }
        };
        let renamed = super::expand(quote!(crate = "::renamed_core"), trait_item.clone()).to_string();
        assert!(renamed.contains("renamed_core"), "{renamed}");
        assert!(!renamed.contains("rpc_core"), "{renamed}");
        let default = super::expand(quote!(), trait_item).to_string();
        assert!(default.contains(":: rpc_core ::"), "{default}");
    }
}
