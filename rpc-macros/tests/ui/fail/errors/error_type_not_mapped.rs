// An error type without a JSON-RPC error object mapping: the message says
// what to implement, at the method's return type.
use duplexrpc_core::rpc;

#[derive(Debug)]
pub enum TodoError {
    NotFound,
}

#[rpc]
pub trait Todo {
    async fn get(&self, id: u32) -> Result<String, TodoError>;
}

fn main() {}
