use duplexrpc_core::{RpcError, rpc};

#[rpc]
trait Api {
    async fn name(&self) -> Result<&'static str, RpcError>;
}

fn main() {}
