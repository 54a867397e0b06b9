use duplexrpc_core::{RpcError, rpc};

#[rpc]
trait Api {
    async fn echo<T>(&self, value: T) -> Result<T, RpcError>;
}

fn main() {}
