use duplexrpc_core::{RpcError, rpc};
use std::fmt::Display;

#[rpc]
trait Api {
    async fn show(&self, value: impl Display) -> Result<String, RpcError>;
    async fn all(&self, values: Vec<impl Display>) -> Result<String, RpcError>;
}

fn main() {}
