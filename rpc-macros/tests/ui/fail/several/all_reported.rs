use duplexrpc_core::{RpcError, rpc};

/// Every mistake here is reported, each at its own place, in one build.
#[rpc(namespace = "calc", color = "red")]
trait Api<T> {
    type Item;
    fn not_async(&self) -> Result<(), RpcError>;
    async fn by_value(self, a: &str) -> Result<(), RpcError>;
    #[notification]
    async fn returns(&self, b: impl Clone) -> u8;
    #[method(name = "returns")]
    async fn clash(&self) -> Result<(), RpcError>;
    async fn no_result(&mut self);
}

fn main() {}
