use duplexrpc_core::{RpcError, rpc};

#[rpc(namepsace = "calc")]
trait Api {
    async fn get(&self) -> Result<u8, RpcError>;
}

fn main() {}
