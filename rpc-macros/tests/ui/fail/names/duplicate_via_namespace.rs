use duplexrpc_core::{RpcError, rpc};

#[rpc(namespace = "calc")]
trait Api {
    async fn add(&self, a: i64) -> Result<i64, RpcError>;
    #[method(name = "calc.add")]
    async fn double_prefixed(&self, a: i64) -> Result<i64, RpcError>;
    #[method(name = "add")]
    async fn plus(&self, a: i64) -> Result<i64, RpcError>;
}

fn main() {}
