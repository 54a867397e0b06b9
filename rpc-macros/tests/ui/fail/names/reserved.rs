use duplexrpc_core::{RpcError, rpc};

#[rpc]
trait Api {
    async fn new(&self) -> Result<(), RpcError>;
    async fn peer(&self) -> Result<(), RpcError>;
    async fn into_methods(&self) -> Result<(), RpcError>;
}

#[rpc(namespace = "rpc")]
trait Internal {
    async fn discover(&self) -> Result<(), RpcError>;
}

#[rpc]
trait Renamed {
    #[method(name = "rpc.discover")]
    async fn discover(&self) -> Result<(), RpcError>;
    #[method(name = "")]
    async fn empty(&self) -> Result<(), RpcError>;
}

#[rpc]
trait Clashes {
    async fn with_timeout(&self, seconds: u64) -> Result<(), RpcError>;
    #[notification]
    async fn progress(&self, percent: u8);
    async fn progress_notification(&self) -> Result<(), RpcError>;
}

fn main() {}
