//! A trait declared in one module, implemented in a second and called from
//! a third, with restricted visibility.

mod api {
    use duplexrpc_core::{RpcError, rpc};

    /// Visible to the crate only: so is its client.
    #[rpc(namespace = "kv")]
    pub(crate) trait Store {
        async fn get(&self, key: String) -> Result<Option<String>, RpcError>;
        async fn put(&self, key: String, value: String) -> Result<(), RpcError>;
    }
}

mod server {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use duplexrpc_core::RpcError;

    #[derive(Default)]
    pub struct MemoryStore(Mutex<HashMap<String, String>>);

    impl crate::api::Store for MemoryStore {
        async fn get(&self, key: String) -> Result<Option<String>, RpcError> {
            Ok(self.0.lock().unwrap().get(&key).cloned())
        }

        async fn put(&self, key: String, value: String) -> Result<(), RpcError> {
            self.0.lock().unwrap().insert(key, value);
            Ok(())
        }
    }
}

mod client {
    use duplexrpc_core::{PeerBuilder, transport::memory};

    use crate::api::{Store as _, StoreClient};

    pub async fn run() {
        let ((a_tx, a_rx), (b_tx, b_rx)) = memory::pair();
        let mut server = PeerBuilder::new();
        server
            .register(crate::server::MemoryStore::default().into_methods())
            .unwrap();
        let server = server.start(a_tx, a_rx);
        let store = StoreClient::new(PeerBuilder::new().start(b_tx, b_rx));
        store.put("k".into(), "v".into()).await.unwrap();
        assert_eq!(store.get("k".into()).await, Ok(Some("v".into())));
        assert_eq!(store.peer().pending_calls(), 0);
        server.close().await;
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    client::run().await;
}
