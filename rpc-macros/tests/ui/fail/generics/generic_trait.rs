use duplexrpc_core::{RpcError, rpc};

#[rpc]
trait Api<T> {
    async fn get(&self) -> Result<u8, RpcError>;
}

fn main() {}
