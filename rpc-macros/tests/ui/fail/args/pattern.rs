use duplexrpc_core::{RpcError, rpc};

#[rpc]
trait Api {
    async fn add(&self, (a, b): (i64, i64)) -> Result<i64, RpcError>;
    async fn ignore(&self, _: u8) -> Result<(), RpcError>;
}

fn main() {}
