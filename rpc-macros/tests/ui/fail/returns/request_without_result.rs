use duplexrpc_core::rpc;

#[rpc]
trait Api {
    async fn reset(&self);
    async fn add(&self, a: i64, b: i64) -> i64;
    async fn find(&self, key: String) -> Option<String>;
}

fn main() {}
