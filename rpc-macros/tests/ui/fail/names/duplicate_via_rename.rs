use duplexrpc_core::{RpcError, rpc};

#[rpc]
trait Api {
    async fn add(&self, a: i64) -> Result<i64, RpcError>;
    #[method(name = "add")]
    async fn plus(&self, a: i64) -> Result<i64, RpcError>;
    #[notification(name = "add")]
    async fn added(&self, a: i64);
}

fn main() {}
