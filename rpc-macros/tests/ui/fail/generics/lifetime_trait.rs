use duplexrpc_core::{RpcError, rpc};

#[rpc]
trait Api<'a> {
    async fn get(&self) -> Result<u8, RpcError>;
}

fn main() {}
