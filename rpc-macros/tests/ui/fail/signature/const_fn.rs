use duplexrpc_core::{RpcError, rpc};

#[rpc]
trait Api {
    const fn answer(&self) -> Result<u8, RpcError>;
}

fn main() {}
