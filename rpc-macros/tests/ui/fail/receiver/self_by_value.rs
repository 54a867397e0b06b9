use duplexrpc_core::{RpcError, rpc};

#[rpc]
trait Api {
    async fn consume(self) -> Result<(), RpcError>;
}

fn main() {}
