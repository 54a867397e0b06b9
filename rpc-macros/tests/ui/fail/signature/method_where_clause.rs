use duplexrpc_core::{RpcError, rpc};

#[rpc]
trait Api {
    async fn size(&self) -> Result<usize, RpcError>
    where
        Self: Sized;
}

fn main() {}
