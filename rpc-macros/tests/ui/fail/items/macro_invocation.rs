use duplexrpc_core::{RpcError, rpc};
macro_rules! methods {
    () => {};
}

#[rpc]
trait Api {
    methods!();
    async fn get(&self) -> Result<u8, RpcError>;
}

fn main() {}
