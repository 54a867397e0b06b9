use duplexrpc_core::{RpcError, rpc};

#[rpc(client = "Api")]
trait Api {
    async fn get(&self) -> Result<u8, RpcError>;
}

#[rpc(client = "not a name")]
trait B {
    async fn get(&self) -> Result<u8, RpcError>;
}

#[rpc(client = "One", client = "Two")]
trait C {
    async fn get(&self) -> Result<u8, RpcError>;
}

fn main() {}
