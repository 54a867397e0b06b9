//! Methods named like what users call on the client through the traits
//! #[rpc] implements for it: an inherent method would shadow each.
use duplexrpc_core::{RpcError, rpc};

#[rpc]
trait Api {
    async fn from(&self, who: String) -> Result<(), RpcError>;
    async fn clone(&self) -> Result<(), RpcError>;
    #[allow(non_snake_case)]
    async fn META(&self) -> Result<(), RpcError>;
    #[notification]
    async fn r#new(&self);
}

fn main() {}
