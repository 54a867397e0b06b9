//! `params = "named"` on a trait and on methods, and `client = "..."`: the
//! way out when a trait is named like another trait's client.

use duplexrpc_core::{PeerBuilder, RpcApi, RpcError, rpc, transport::memory};

/// Served by the server; its client is renamed, so `BoardClient` is free.
#[rpc(client = "BoardStub", params = "named")]
pub trait Board {
    async fn add_item(&self, title: String, due: Option<i64>) -> Result<String, RpcError>;
    #[method(params = "positional")]
    async fn count(&self) -> Result<u32, RpcError>;
}

/// Served by the client, called by the server.
#[rpc(client = "BoardClientStub")]
pub trait BoardClient {
    #[notification(params = "named")]
    async fn changed(&self, seq: u64);
}

struct Server;

impl Board for Server {
    async fn add_item(&self, title: String, due: Option<i64>) -> Result<String, RpcError> {
        Ok(format!("{title} {due:?}"))
    }

    async fn count(&self) -> Result<u32, RpcError> {
        Ok(1)
    }
}

fn main() {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let ((a_tx, a_rx), (b_tx, b_rx)) = memory::pair();
            let mut server = PeerBuilder::new();
            server.register(Server.into_methods()).unwrap();
            let _server = server.start(a_tx, a_rx);
            let board = BoardStub::new(PeerBuilder::new().start(b_tx, b_rx));
            assert_eq!(board.add_item("milk".into(), None).await.unwrap(), "milk None");
            assert_eq!(board.count().await.unwrap(), 1);
            assert_eq!(BoardStub::META.name, "Board");
            let _: fn(duplexrpc_core::Peer) -> BoardClientStub = BoardClientStub::new;
            let prepared = BoardClientStub::changed_notification(&3).unwrap();
            let expected = duplexrpc_core::Notification::new("changed", serde_json_free()).unwrap();
            assert_eq!(prepared, expected);
        });
}

/// `{"seq": 3}` without naming serde_json (not a dependency here).
fn serde_json_free() -> std::collections::BTreeMap<&'static str, u64> {
    [("seq", 3)].into_iter().collect()
}
