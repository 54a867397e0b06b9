use duplexrpc_core::{RpcError, rpc};

#[rpc(params = "by-name")]
trait A {
    async fn get(&self) -> Result<u8, RpcError>;
}

#[rpc(params = "named", params = "named")]
trait B {
    async fn get(&self) -> Result<u8, RpcError>;
}

#[rpc]
trait C {
    #[method(params = named)]
    async fn a(&self) -> Result<u8, RpcError>;
    #[notification(params = "object")]
    async fn b(&self);
    #[method(name = "c", params = "named", params = "positional")]
    async fn c(&self) -> Result<u8, RpcError>;
}

fn main() {}
