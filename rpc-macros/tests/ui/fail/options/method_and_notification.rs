use duplexrpc_core::rpc;

#[rpc]
trait Api {
    #[method]
    #[notification]
    async fn both(&self);
    #[notification]
    #[notification]
    async fn twice(&self);
}

fn main() {}
