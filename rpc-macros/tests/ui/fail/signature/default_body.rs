use duplexrpc_core::{RpcError, rpc};

#[rpc]
trait Api {
    async fn version(&self) -> Result<u32, RpcError> {
        Ok(1)
    }
}

fn main() {}
