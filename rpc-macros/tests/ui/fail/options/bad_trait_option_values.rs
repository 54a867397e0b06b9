use duplexrpc_core::{RpcError, rpc};

#[rpc(namespace = calc)]
trait A {
    async fn get(&self) -> Result<u8, RpcError>;
}

#[rpc(crate = "not a path")]
trait B {
    async fn get(&self) -> Result<u8, RpcError>;
}

#[rpc(namespace = "a", namespace = "b")]
trait C {
    async fn get(&self) -> Result<u8, RpcError>;
}

#[rpc(namespace = "")]
trait D {
    async fn get(&self) -> Result<u8, RpcError>;
}

fn main() {}
