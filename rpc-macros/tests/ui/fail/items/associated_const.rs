use duplexrpc_core::{RpcError, rpc};

#[rpc]
trait Api {
    const VERSION: u32;
    async fn get(&self) -> Result<u8, RpcError>;
}

fn main() {}
