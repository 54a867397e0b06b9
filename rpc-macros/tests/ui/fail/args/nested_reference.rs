use duplexrpc_core::{RpcError, rpc};
use std::collections::HashMap;

#[rpc]
trait Api {
    async fn join(&self, words: Vec<&str>) -> Result<String, RpcError>;
    async fn lookup(&self, table: HashMap<String, Option<&'static [u8]>>) -> Result<u8, RpcError>;
    async fn pair(&self, pair: (u8, &mut u8)) -> Result<u8, RpcError>;
}

fn main() {}
