use duplexrpc_core::{RpcError, rpc};
use std::borrow::Cow;

#[rpc]
trait Api {
    async fn name(&self, name: Cow<'_, str>) -> Result<(), RpcError>;
    async fn dynamic(&self, value: Box<dyn std::any::Any>) -> Result<(), RpcError>;
}

fn main() {}
