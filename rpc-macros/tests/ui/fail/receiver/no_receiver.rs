use duplexrpc_core::{RpcError, rpc};

#[rpc]
trait Api {
    async fn add(a: i64, b: i64) -> Result<i64, RpcError>;
    async fn version() -> Result<u32, RpcError>;
}

fn main() {}
