use duplexrpc_core::{RpcError, rpc};

type ApiResult<T> = Result<T, RpcError>;
type Result1<T> = Result<T, RpcError>;

#[rpc]
trait Api {
    async fn a(&self) -> ApiResult<u8>;
    async fn b(&self) -> Result1<u8>;
}

fn main() {}
