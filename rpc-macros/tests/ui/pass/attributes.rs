//! Doc comments, `#[cfg]` and lint attributes on methods are kept.
#![deny(missing_docs)]

use duplexrpc_core::{RpcApi, RpcError, rpc};

/// The trait's docs.
#[rpc]
pub trait Documented {
    /// Adds.
    ///
    /// Second paragraph.
    async fn add(&self, a: i64, b: i64) -> Result<i64, RpcError>;

    /// Compiled out: neither the trait, the client nor the dispatch table
    /// has it.
    #[cfg(any())]
    async fn hidden(&self, x: i64) -> Result<i64, RpcError>;

    /// Always compiled in.
    #[cfg(all())]
    async fn shown(&self) -> Result<(), RpcError>;

    /// Lint attributes reach the generated items.
    #[allow(non_snake_case)]
    #[notification]
    async fn Shout(&self);

    /// The lint attribute may come after ours.
    #[method(name = "many")]
    #[allow(clippy::too_many_arguments)]
    async fn many(&self, a: u8, b: u8, c: u8, d: u8, e: u8, f: u8, g: u8, h: u8) -> Result<u8, RpcError>;
}

struct Impl;

impl Documented for Impl {
    async fn add(&self, a: i64, b: i64) -> Result<i64, RpcError> {
        Ok(a + b)
    }

    async fn shown(&self) -> Result<(), RpcError> {
        Ok(())
    }

    #[allow(non_snake_case)]
    async fn Shout(&self) {}

    async fn many(&self, a: u8, b: u8, c: u8, d: u8, e: u8, f: u8, g: u8, h: u8) -> Result<u8, RpcError> {
        Ok(a + b + c + d + e + f + g + h)
    }
}

/// Runs the checks.
fn main() {
    let methods = Impl.into_methods();
    assert!(methods.get("add").is_some());
    assert!(methods.get("shown").is_some());
    assert!(methods.get("hidden").is_none());
    let meta = DocumentedClient::META;
    let names: Vec<_> = meta.methods.iter().map(|m| m.name).collect();
    assert_eq!(names, ["add", "shown", "Shout", "many"]);
    assert_eq!(meta.docs, "The trait's docs.");
    assert_eq!(meta.methods[0].docs, "Adds.\n\nSecond paragraph.");
}
