// Each mistake in a derived error enum, reported at its variant.
use duplexrpc_core::{RpcError, RpcErrorType};

#[derive(Debug, RpcErrorType)]
pub enum NoOther {
    #[rpc_error(code = 1, message = "one")]
    One,
}

#[derive(Debug, RpcErrorType)]
pub enum Mistakes {
    Unmarked,
    #[rpc_error(code = 1, message = "one")]
    One,
    #[rpc_error(code = 1, message = "again")]
    Again,
    #[rpc_error(code = -32601, message = "reserved")]
    Reserved,
    #[rpc_error(code = 2)]
    NoMessage,
    #[rpc_error(code = 3, message = "pair")]
    Pair(u8, u8),
    #[rpc_error(other)]
    Rpc(RpcError),
}

fn main() {}
