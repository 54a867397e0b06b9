use duplexrpc_core::{RpcError, rpc};

#[rpc]
unsafe trait Api {
    async fn get(&self) -> Result<u8, RpcError>;
}

fn main() {}
