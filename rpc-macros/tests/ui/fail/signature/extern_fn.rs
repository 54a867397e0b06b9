use duplexrpc_core::{RpcError, rpc};

#[rpc]
trait Api {
    async extern "C" fn answer(&self) -> Result<u8, RpcError>;
}

fn main() {}
