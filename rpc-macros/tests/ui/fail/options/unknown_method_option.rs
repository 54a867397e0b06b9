use duplexrpc_core::{RpcError, rpc};

#[rpc]
trait Api {
    #[method(rename = "x")]
    async fn a(&self) -> Result<u8, RpcError>;
    #[notification(nmae = "y")]
    async fn b(&self);
    #[method(name = y)]
    async fn c(&self) -> Result<u8, RpcError>;
    #[method = "d"]
    async fn d(&self) -> Result<u8, RpcError>;
}

fn main() {}
