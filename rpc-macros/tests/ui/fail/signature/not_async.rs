use duplexrpc_core::{RpcError, rpc};

#[rpc]
trait Api {
    fn add(&self, a: i64, b: i64) -> Result<i64, RpcError>;
}

fn main() {}
