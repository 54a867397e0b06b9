//! Raw identifiers as method and argument names: the wire names and the
//! by-name keys drop the `r#`.

use duplexrpc_core::{RpcApi, RpcError, rpc};

#[rpc(namespace = "raw")]
pub trait Keywords {
    async fn r#type(&self, r#match: String, r#loop: u8) -> Result<String, RpcError>;
    #[notification]
    async fn r#yield(&self, r#struct: bool);
}

struct Impl;

impl Keywords for Impl {
    async fn r#type(&self, r#match: String, r#loop: u8) -> Result<String, RpcError> {
        Ok(format!("{}{}", r#match, r#loop))
    }

    async fn r#yield(&self, _struct: bool) {}
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let meta = KeywordsClient::META;
    assert_eq!(meta.methods[0].wire_name, "raw.type");
    assert_eq!(meta.methods[0].name, "type");
    assert_eq!(meta.methods[0].params[0].name, "match");
    assert_eq!(meta.methods[1].wire_name, "raw.yield");
    let reply = Impl
        .into_methods()
        .call("raw.type", r#"{"match": "m", "loop": 7}"#)
        .await;
    assert_eq!(reply.unwrap(), r#""m7""#);
}
