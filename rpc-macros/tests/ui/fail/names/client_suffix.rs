//! A trait named like the client of another trait: `Board` generates
//! `BoardClient`, so a trait `BoardClient` beside it clashes (rustc's E0428),
//! and #[rpc] says so, with the way out, on the trait it can see.
use duplexrpc_core::{RpcError, rpc};

#[rpc]
pub trait Board {
    async fn list(&self) -> Result<Vec<String>, RpcError>;
}

#[rpc]
pub trait BoardClient {
    async fn changed(&self) -> Result<(), RpcError>;
}

fn main() {}
