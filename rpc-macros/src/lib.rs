//! The `#[rpc]` attribute macro. Use it through `duplexrpc_core::rpc`; [`rpc`]
//! documents what it generates and the rules it checks.
//!
//! The macro works in three passes: `model` parses the trait into one model
//! struct per trait, method and argument (a method is a request, a
//! subscription or a notification, told apart there once), collecting every
//! user mistake with its span; `check` applies the naming rules across the
//! methods; then `render_trait`, `render_client`, `render_server` and
//! `render_meta` each generate one item from the model.

use proc_macro::TokenStream;
use quote::ToTokens;

mod attrs;
mod check;
mod derive_error;
mod idents;
mod model;
mod render_client;
mod render_meta;
mod render_server;
mod render_trait;
mod streaming;
mod type_name;

/// Implements `duplexrpc_core::RpcErrorType` for an error enum: each variant
/// is one JSON-RPC error object, so that `#[rpc]` methods can return
/// `Result<T, ThisEnum>` and their client stubs return the same type.
///
/// Use it as `duplexrpc_core::RpcErrorType` (the trait's documentation has
/// the full example).
///
/// * `#[rpc_error(code = 1001, message = "insufficient funds")]` on a
///   variant: its code and message. Its fields are the `data`: named fields
///   an object with one member per field (by field name), one unnamed field
///   its value, no fields no `data`. Field types implement `Serialize` and
///   `Deserialize`. Codes are unique and outside -32768..=-32000, which
///   JSON-RPC 2.0 reserves.
/// * `#[rpc_error(other)]` on exactly one variant with one field, an
///   `RpcError`: the calling side's stub puts there what matches no other
///   variant: transport failures (disconnected, timed out), and error objects
///   whose code is none of the enum's or whose data does not read. Sent, it
///   is the error object it holds.
/// * `#[rpc_error(crate = "::my_rpc")]` on the enum: the runtime's path when
///   it is renamed, as `#[rpc(crate = "..")]`.
///
/// ```
/// use duplexrpc_core::{RpcError, RpcErrorType};
///
/// #[derive(Debug, RpcErrorType)]
/// enum TodoError {
///     #[rpc_error(code = 404, message = "no such item")]
///     NotFound { id: u32 },
///     #[rpc_error(other)]
///     Rpc(RpcError),
/// }
///
/// let e = TodoError::from_rpc_error(RpcError::with_data(404, "gone", serde_json::json!({"id": 7})));
/// assert!(matches!(e, TodoError::NotFound { id: 7 }));
/// let e = TodoError::from_rpc_error(RpcError::new(500, "other"));
/// assert!(matches!(e, TodoError::Rpc(ref inner) if inner.code() == Some(500)));
/// ```
#[proc_macro_derive(RpcErrorType, attributes(rpc_error))]
pub fn derive_rpc_error_type(item: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(item as syn::DeriveInput);
    derive_error::derive(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a trait into a JSON-RPC 2.0 API that either end of a connection can
/// serve and call.
///
/// Use it as `duplexrpc_core::rpc` (or `#[rpc]` after `use duplexrpc_core::rpc;`).
///
/// # What it generates
///
/// For `#[rpc] pub trait Calculator { .. }`:
///
/// * **The trait, rewritten.** Each `async fn m(&self, ..) -> R` becomes
///   `fn m(&self, ..) -> impl Future<Output = R> + Send`; implementations still
///   write `async fn`, and their futures must be `Send`. The trait gets the
///   supertraits `Send + Sync + 'static` and a provided method
///   `fn into_methods(self) -> duplexrpc_core::Methods`: the dispatch table of any
///   implementation, to register on a connection (`PeerBuilder::register`).
/// * **`CalculatorClient`** (or the name given with `client = ".."`), with
///   the trait's visibility: the typed stub that
///   calls the trait on the other end of a connection. `new(peer)` (or
///   `From<Peer>`), `peer()`, `with_timeout(duration)`, and one
///   `async fn` per trait method, with the same name and arguments, returning
///   what the trait method returns, `Result<T, E>` (`Result<(), RpcError>`
///   for a notification): a request waits for the reply; a notification
///   completes once it is queued. Each notification `n` also gets an
///   associated `n_notification(&args) -> Result<Notification, RpcError>`, the
///   notification serialized once, to send to many peers.
/// * **`impl duplexrpc_core::RpcApi for CalculatorClient`**: `CalculatorClient::META`
///   describes the trait as data (method names, wire names, parameter names
///   and types, result types, which methods are notifications, doc comments)
///   for code generators such as the TypeScript exporter.
///
/// Doc comments, `#[cfg]` and lint attributes on a method are kept on the
/// items generated for it.
///
/// # Attributes
///
/// * `#[rpc(namespace = "calc")]` on the trait: every wire name becomes
///   `calc.{name}`, so that several traits can share one connection.
/// * `#[rpc(crate = "::my_rpc")]` on the trait: the path of the runtime crate
///   when it is not `::duplexrpc_core` (renamed in Cargo.toml, or re-exported). The
///   generated code names the runtime only through this path and `::core`, so
///   it compiles in any module, even under `#![no_implicit_prelude]`.
/// * `#[rpc(params = "named")]` on the trait: its client stub sends params by
///   name, as an object keyed by the argument names (`{"seq": 1}`), for
///   servers that expect objects. The default, `params = "positional"`, sends
///   an array in declaration order.
/// * `#[rpc(client = "BoardStub")]` on the trait: the client stub's name
///   instead of `{Trait}Client`.
/// * `#[method(name = "sub")]` on a method: its wire name instead of the Rust
///   name (the namespace is still prepended). `#[method]` alone changes
///   nothing.
/// * `#[notification]` or `#[notification(name = "..")]` on a method: a
///   notification, sent without an id and never answered.
/// * `params = "named"` or `params = "positional"` in `#[method(..)]` or
///   `#[notification(..)]`: how the stub sends this method's params,
///   whatever the trait says.
///
/// # Rules
///
/// Each is checked at compile time; every mistake in the trait is reported in
/// one build, at the tokens that break the rule.
///
/// * The trait has no generic parameters and no `where` clause, and holds only
///   methods without default bodies: no associated types or constants.
/// * Every method is an `async fn` (not generic, `const`, `unsafe` or
///   `extern`) taking `&self` first: calls run concurrently on one shared
///   implementation, so keep mutable state behind a `Mutex` or an atomic.
/// * Arguments are plain `name: Type` with owned types: `String`, not `&str`;
///   no `impl Trait` or `dyn Trait`; no lifetimes but `'static`. Their types
///   implement `Serialize` and `Deserialize`.
/// * A request returns `Result<T, E>`, written out: the macro reads `T`
///   from it and does not see through type aliases. `T` is owned and
///   implements `Serialize` and `Deserialize` (`()` for no value).
///   `Result<RpcStream<T>, E>` makes a streaming method. `E` is `RpcError`
///   or the application's own error type: any `duplexrpc_core::RpcErrorType`,
///   usually an enum with `#[derive(RpcErrorType)]` (one error code per
///   variant, see that derive). The client stub returns the same `E`, and the
///   codes go into `META` (typed errors in TypeScript, `errors` in OpenRPC).
/// * A notification returns nothing (or `()`).
/// * Wire names are unique within the trait, not empty, and do not start with
///   `rpc.` (JSON-RPC 2.0 reserves those).
/// * No name can clash with a generated one. A method cannot be called
///   `new`, `peer`, `with_timeout` (the client's), `into_methods` (the
///   trait's), `n_notification` for a notification `n`, nor `from`, `clone`
///   or `META`, which an inherent method would shadow on the client
///   (`Client::from(peer)`, `client.clone()`, `Client::META`): name the Rust
///   method differently and keep the wire name with `#[method(name = "new")]`.
///   The client cannot take the trait's own name. A trait cannot be named
///   `{Other}Client` without `client = ".."`: `{Other}Client` is the client of
///   a trait `{Other}`, and the two cannot be in one module (rustc's E0428, which
///   the macro cannot prevent from the other trait's side); name the trait for
///   what it serves (`BoardCallbacks`), or give both clients names with
///   `client = ".."`.
///
/// # On the wire
///
/// A method's wire name is its Rust name (without `r#`) or its
/// `name = ".."`, after `namespace.` when the trait has a namespace. The
/// client sends params by position: a JSON array in declaration order
/// (`[2, 3]`; `[]` without arguments), or by name with `params = "named"`
/// (`{"a": 2, "b": 3}`; `{}` without arguments). The dispatch table accepts
/// both forms, whatever the stub sends; keys that name no argument are
/// ignored. An `Option<T>` argument may be left out, read as `None`: by
/// position only the trailing ones (`["milk", []]` for
/// `add_item(title, tags, due: Option<i64>)`), by name any of them. So adding
/// a trailing `Option<T>` argument keeps old callers working. Wrong params get
/// a -32602 error whose `data` names the argument and the problem
/// (`param "a": invalid type: string "x", expected i64`, `missing param "b"`,
/// `too many params: expected at most 2 (a, b), got 3`). `Ok(value)` is sent
/// as the reply's `result`; `Err(e)` as its error object (code, message,
/// data: `RpcErrorType::into_error_object`).
///
/// # Example
///
/// ```
/// use duplexrpc_core::{rpc, PeerBuilder, RpcApi, RpcError, transport::memory};
///
/// /// Arithmetic, served by one end and called by the other.
/// #[rpc(namespace = "calc")]
/// pub trait Calculator {
///     /// Adds two numbers.
///     async fn add(&self, a: i64, b: i64) -> Result<i64, RpcError>;
///     /// Fails with code 1 when `b` is zero.
///     #[method(name = "div")]
///     async fn divide(&self, a: i64, b: i64) -> Result<i64, RpcError>;
///     /// Fire and forget.
///     #[notification]
///     async fn log(&self, line: String);
/// }
///
/// struct Calc;
///
/// impl Calculator for Calc {
///     async fn add(&self, a: i64, b: i64) -> Result<i64, RpcError> {
///         Ok(a + b)
///     }
///
///     async fn divide(&self, a: i64, b: i64) -> Result<i64, RpcError> {
///         a.checked_div(b).ok_or_else(|| RpcError::new(1, "division by zero"))
///     }
///
///     async fn log(&self, line: String) {
///         println!("log: {line}");
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// // Two ends of an in-process connection (duplexrpc-ws provides WebSocket ones).
/// let ((server_tx, server_rx), (client_tx, client_rx)) = memory::pair();
///
/// let mut server = PeerBuilder::new();
/// server.register(Calc.into_methods()).unwrap();
/// server.start(server_tx, server_rx);
///
/// let calc = CalculatorClient::new(PeerBuilder::new().start(client_tx, client_rx));
/// assert_eq!(calc.add(2, 3).await, Ok(5));
/// assert_eq!(calc.divide(1, 0).await.unwrap_err().code(), Some(1));
/// calc.log("done".to_owned()).await.unwrap();
///
/// // The dispatch table also takes params by name.
/// let reply = Calc.into_methods().call("calc.div", r#"{"a": 7, "b": 2}"#).await;
/// assert_eq!(reply.unwrap(), "3");
/// // A wrong call is answered with the argument and the problem.
/// let wrong = Calc.into_methods().call("calc.add", r#"[1, "2"]"#).await.unwrap_err();
/// assert_eq!(wrong.data.unwrap(), r#"param "b": invalid type: string "2", expected i64"#);
///
/// let wire_names: Vec<_> = CalculatorClient::META.methods.iter().map(|m| m.wire_name).collect();
/// assert_eq!(wire_names, ["calc.add", "calc.div", "calc.log"]);
/// # });
/// ```
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
    /// `duplexrpc_core` at all. (tests/hygiene.rs compiles the same case.)
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
        assert!(!renamed.contains("duplexrpc_core"), "{renamed}");
        let default = super::expand(quote!(), trait_item).to_string();
        assert!(default.contains(":: duplexrpc_core ::"), "{default}");
    }
}
