use duplexrpc_core::{RpcError, rpc};
use std::sync::Arc;

#[rpc]
trait Api {
    async fn share(self: Arc<Self>) -> Result<(), RpcError>;
}

fn main() {}
