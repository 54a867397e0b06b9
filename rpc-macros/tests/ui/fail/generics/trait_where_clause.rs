use duplexrpc_core::{RpcError, rpc};

#[rpc]
trait Api
where
    Self: Sized,
{
    async fn get(&self) -> Result<u8, RpcError>;
}

fn main() {}
