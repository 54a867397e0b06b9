use duplexrpc_core::{RpcError, rpc};

#[rpc]
trait Api {
    async unsafe fn poke(&self, address: usize) -> Result<u8, RpcError>;
}

fn main() {}
