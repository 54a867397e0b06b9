use duplexrpc_core::{RpcError, rpc};

#[rpc]
trait Api {
    async fn greet(&self, name: &str) -> Result<String, RpcError>;
    async fn sum(&self, values: &[i64]) -> Result<i64, RpcError>;
    async fn len(&self, user: &'static User) -> Result<usize, RpcError>;
}

struct User;

fn main() {}
