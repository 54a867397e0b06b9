use duplexrpc_core::{RpcError, rpc};

#[rpc]
trait Api {
    async fn increment(&mut self, by: u32) -> Result<u32, RpcError>;
}

fn main() {}
