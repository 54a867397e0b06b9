//! Many calls on one socket: 1,000 concurrent calls completing out of order,
//! the per-connection limit on concurrent handlers, and panicking handlers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use duplexrpc_core::{PeerConfig, RpcError, rpc};
use duplexrpc_ws::{Server, ServerHandle, WsConfig};
use rpc_tests::{next, within};
use tokio::sync::{mpsc, watch};

/// How many calls the out-of-order test makes; the first half wait for the second.
const CALLS: u64 = 1_000;

/// Test-only API with handlers that take their time.
#[rpc(namespace = "slow")]
pub trait Slow {
    /// Sleeps `delay_ms`, and for `value < CALLS / 2` also waits until every
    /// call with a larger value has completed; returns `value * value + 1`.
    async fn square(&self, value: u64, delay_ms: u64) -> Result<u64, RpcError>;
    /// Reports `tag` as started, then waits until the test opens the gate; returns `tag`.
    async fn gated(&self, tag: u32) -> Result<u32, RpcError>;
    /// Panics before its first await.
    async fn panic_now(&self, message: String) -> Result<u32, RpcError>;
    /// Panics after an await, from a spawned handler task.
    async fn panic_later(&self, message: String) -> Result<u32, RpcError>;
}

#[derive(Clone)]
struct SlowService {
    /// Values of completed `square` calls, in completion order.
    completed: Arc<Mutex<Vec<u64>>>,
    /// How many second-half `square` calls have completed.
    late_done: watch::Sender<u64>,
    started: mpsc::UnboundedSender<u32>,
    gate: watch::Receiver<bool>,
}

impl Slow for SlowService {
    async fn square(&self, value: u64, delay_ms: u64) -> Result<u64, RpcError> {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        if value < CALLS / 2 {
            let mut late = self.late_done.subscribe();
            late.wait_for(|n| *n == CALLS / 2)
                .await
                .map_err(|_| RpcError::new(1, "gone"))?;
        }
        self.completed.lock().unwrap().push(value);
        if value >= CALLS / 2 {
            self.late_done.send_modify(|n| *n += 1);
        }
        Ok(value * value + 1)
    }

    async fn gated(&self, tag: u32) -> Result<u32, RpcError> {
        let _ = self.started.send(tag);
        let mut gate = self.gate.clone();
        gate.wait_for(|open| *open)
            .await
            .map_err(|_| RpcError::new(1, "gone"))?;
        Ok(tag)
    }

    async fn panic_now(&self, message: String) -> Result<u32, RpcError> {
        panic!("{message}");
    }

    async fn panic_later(&self, message: String) -> Result<u32, RpcError> {
        tokio::task::yield_now().await;
        panic!("{message}");
    }
}

struct Fixture {
    server: ServerHandle,
    client: SlowClient,
    service: SlowService,
    started: mpsc::UnboundedReceiver<u32>,
    gate: watch::Sender<bool>,
}

async fn fixture(config: WsConfig) -> Fixture {
    let (started_tx, started) = mpsc::unbounded_channel();
    let (gate, gate_rx) = watch::channel(false);
    let service = SlowService {
        completed: Arc::default(),
        late_done: watch::Sender::new(0),
        started: started_tx,
        gate: gate_rx,
    };
    let server = Server::bind("127.0.0.1:0").await.expect("bind").with_config(config);
    let for_setup = service.clone();
    let server = server.serve(move |conn, _info| {
        conn.register(for_setup.clone().into_methods())?;
        Ok(())
    });
    let conn = within("connect", duplexrpc_ws::connect(&server.url()))
        .await
        .expect("connect");
    let client = SlowClient::new(conn.start());
    Fixture {
        server,
        client,
        service,
        started,
        gate,
    }
}

impl Fixture {
    async fn finish(self) {
        self.client.peer().close().await;
        within("server stop", self.server.stop()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_calls_complete_out_of_order() {
    let f = fixture(WsConfig::default()).await;
    // Varied delays (0..=12 ms) shuffle completions; on top of that, a gate
    // holds the first half until the whole second half has completed, so the
    // out-of-order completion checked below does not depend on timing.
    let calls = (0..CALLS).map(|value| {
        let client = f.client.clone();
        tokio::spawn(async move { (value, client.square(value, (value * 7) % 13).await) })
    });
    let calls: Vec<_> = calls.collect();
    for call in calls {
        let (value, result) = within("a call", call).await.expect("call task");
        assert_eq!(result, Ok(value * value + 1), "call {value} got another call's result");
    }
    let completed = f.service.completed.lock().unwrap().clone();
    assert_eq!(completed.len(), CALLS as usize);
    let (late, early) = completed.split_at(CALLS as usize / 2);
    assert!(late.iter().all(|v| *v >= CALLS / 2), "the second half completed first");
    assert!(early.iter().all(|v| *v < CALLS / 2));
    assert_eq!(f.client.peer().pending_calls(), 0);
    f.finish().await;
}

#[tokio::test]
async fn calls_beyond_the_limit_get_server_busy() {
    let config = WsConfig::default().peer(PeerConfig::default().max_concurrent_calls(2));
    let mut f = fixture(config).await;
    let first = tokio::spawn({
        let client = f.client.clone();
        async move { client.gated(1).await }
    });
    let second = tokio::spawn({
        let client = f.client.clone();
        async move { client.gated(2).await }
    });
    let mut started = [next(&mut f.started, "gated").await, next(&mut f.started, "gated").await];
    started.sort();
    assert_eq!(started, [1, 2]);

    // Both slots are taken: the third call is refused at once, not queued.
    let err = within("busy call", f.client.gated(3)).await.unwrap_err();
    let obj = err.object().expect("an error reply");
    assert_eq!((obj.code, obj.message.as_str()), (-32000, "Server busy"));
    let err = within("busy call", f.client.panic_now("x".into())).await.unwrap_err();
    assert_eq!(err.code(), Some(-32000));

    f.gate.send_replace(true);
    assert_eq!(within("first", first).await.unwrap(), Ok(1));
    assert_eq!(within("second", second).await.unwrap(), Ok(2));
    // The slots are free again.
    assert_eq!(within("after", f.client.gated(4)).await, Ok(4));
    assert_eq!(next(&mut f.started, "gated 4").await, 4);
    assert_eq!(within("after", f.client.square(600, 0)).await, Ok(360_001));
    f.finish().await;
}

#[tokio::test]
async fn a_panicking_handler_answers_internal_error_and_the_socket_lives_on() {
    let f = fixture(WsConfig::default()).await;
    for (round, panic) in ["now", "later", "now"].into_iter().enumerate() {
        let message = format!("boom {round}");
        let result = match panic {
            "now" => f.client.panic_now(message.clone()).await,
            _ => f.client.panic_later(message.clone()).await,
        };
        let err = result.unwrap_err();
        let obj = err.object().expect("an error reply");
        assert_eq!((obj.code, obj.message.as_str()), (-32603, "Internal error"), "{err}");
        let data = obj.data.as_ref().and_then(|d| d.as_str()).unwrap_or_default();
        assert!(data.contains(&message), "the panic message in data: {data}");
        // The next call on the same socket works.
        assert_eq!(within("square", f.client.square(700, 1)).await, Ok(490_001));
    }
    assert!(!f.client.peer().is_closed());
    f.finish().await;
}
