//! The dispatcher harness shared by the fuzz targets: one peer under test over
//! the in-memory transport, driven from the other end as raw text.
//!
//! For each input: feed the frames, then a sentinel request, and read the
//! peer's output until the sentinel's reply. Checked: nothing panics,
//! everything the peer sends is valid JSON, and the
//! sentinel is answered within a bound (no hang, the peer stays usable).

use std::sync::OnceLock;
use std::time::Duration;

use duplexrpc_core::transport::{Receiver, Sender, memory};
use duplexrpc_core::{Methods, PeerBuilder, PeerConfig, RpcError};

/// Generous bound for the sentinel reply (libFuzzer's own -timeout is the backstop).
const BOUND: Duration = Duration::from_secs(5);
const SENTINEL: &str = r#"{"jsonrpc":"2.0","id":"fuzz-sentinel","method":"echo","params":["ok"]}"#;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime")
    })
}

/// Methods with every kind of handler: immediate, pending, failing, and one
/// that calls back the other end (which never answers). No panicking handler:
/// libFuzzer's panic hook aborts on any panic, even one the peer catches
/// (handler panics are covered by the normal test suite).
fn methods(builder: &PeerBuilder) -> Methods {
    let mut m = Methods::new();
    m.method("echo", |v: serde_json::Value| async move { Ok::<_, RpcError>(v) })
        .unwrap();
    m.method("add", |(a, b): (i64, i64)| async move {
        Ok::<_, RpcError>(a.wrapping_add(b))
    })
    .unwrap();
    m.method("slow", |(): ()| async move {
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
        Ok::<_, RpcError>(1)
    })
    .unwrap();
    m.method("fail", |(): ()| async move { Err::<(), _>(RpcError::new(7, "nope")) })
        .unwrap();
    let peer = builder.peer().clone();
    m.method("callback", move |(): ()| {
        let peer = peer.clone();
        async move {
            let r = peer
                .call_with_timeout::<_, serde_json::Value>("remote", (), Duration::from_millis(5))
                .await;
            Ok::<_, RpcError>(r.is_ok())
        }
    })
    .unwrap();
    m
}

/// Runs one input: `frames` go to the peer as text frames, in order.
pub fn run(frames: &[String]) {
    runtime().block_on(async {
        let ((a_tx, a_rx), (mut raw_tx, mut raw_rx)) = memory::pair();
        let config = PeerConfig::default()
            .handler_grace(Duration::from_millis(10))
            .max_concurrent_calls(64)
            .max_batch_len(64);
        let mut builder = PeerBuilder::with_config(config);
        let m = methods(&builder);
        builder.register(m).unwrap();
        let peer = builder.start(a_tx, a_rx);
        for frame in frames {
            if raw_tx.feed(frame.clone()).await.is_err() {
                break;
            }
        }
        raw_tx.feed(SENTINEL.to_string()).await.expect("the peer is gone");
        let answered = tokio::time::timeout(BOUND, async {
            loop {
                let text = raw_rx.receive().await.expect("the peer closed the connection");
                let value: serde_json::Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("the peer sent invalid JSON ({e}): {text:?}"));
                let is_sentinel =
                    |v: &serde_json::Value| v.get("id").and_then(|id| id.as_str()) == Some("fuzz-sentinel");
                if is_sentinel(&value) {
                    assert_eq!(value["result"], serde_json::json!(["ok"]), "{text}");
                    return;
                }
            }
        })
        .await;
        assert!(
            answered.is_ok(),
            "the peer did not answer the sentinel within {BOUND:?}"
        );
        peer.close().await;
        tokio::time::timeout(BOUND, peer.finished())
            .await
            .expect("the peer's tasks did not end");
    });
}
