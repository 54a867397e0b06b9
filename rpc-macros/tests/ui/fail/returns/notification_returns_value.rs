use duplexrpc_core::{RpcError, rpc};

#[rpc]
trait Api {
    #[notification]
    async fn progress(&self, percent: u8) -> Result<(), RpcError>;
    #[notification(name = "tick")]
    async fn on_tick(&self) -> bool;
}

fn main() {}
