//! Calls in both directions over a real WebSocket: client -> server, server ->
//! the client that is calling it (from inside a handler and from outside),
//! notifications both ways, and callbacks nested two levels deep.

use duplexrpc_core::{Peer, RpcError, RpcErrorType, rpc};
use duplexrpc_ws::{Server, ServerHandle};
use examples::{Browser, BrowserClient, CalcError, Calculator, CalculatorClient, DECLINED, DIVISION_BY_ZERO};
use rpc_tests::{BrowserEvent, RecordingBrowser, RecordingCalculator, next, within};
use tokio::sync::mpsc;

/// A server serving the example calculator (with `calc.log` recorded); it also
/// hands every connection's server-side peer to the test.
async fn calculator_server() -> (
    ServerHandle,
    mpsc::UnboundedReceiver<String>,
    mpsc::UnboundedReceiver<Peer>,
) {
    let (log_tx, log_rx) = mpsc::unbounded_channel();
    let (peer_tx, peer_rx) = mpsc::unbounded_channel();
    let server = Server::bind("127.0.0.1:0").await.expect("bind");
    let handle = server.serve(move |conn, _info| {
        let browser = BrowserClient::new(conn.peer().clone());
        conn.register(RecordingCalculator::new(browser, log_tx.clone()).into_methods())?;
        let _ = peer_tx.send(conn.peer().clone());
        Ok(())
    });
    (handle, log_rx, peer_rx)
}

/// A client serving a [`RecordingBrowser`] that answers `answer`.
async fn browser_client(url: &str, answer: bool) -> (CalculatorClient, mpsc::UnboundedReceiver<BrowserEvent>) {
    let (browser, events) = RecordingBrowser::new(Some(answer));
    let mut conn = within("connect", duplexrpc_ws::connect(url)).await.expect("connect");
    conn.register(browser.into_methods()).expect("register");
    (CalculatorClient::new(conn.start()), events)
}

#[tokio::test]
async fn client_calls_server() {
    let (server, _log, _peers) = calculator_server().await;
    let (calc, _events) = browser_client(&server.url(), true).await;

    assert_eq!(within("add", calc.add(2, 3)).await, Ok(5));
    assert_eq!(within("add", calc.add(-40, 2)).await, Ok(-38));
    assert_eq!(within("divide", calc.divide(7, 2)).await, Ok(3));
    let err = within("divide by zero", calc.divide(7, 0)).await.unwrap_err();
    assert_eq!(err, CalcError::DivisionByZero(7));
    let obj = &err.into_error_object();
    assert_eq!(
        (obj.code, obj.message.as_str(), obj.data.clone()),
        (DIVISION_BY_ZERO, "division by zero", Some(7.into()))
    );
    // The one quotient that does not fit is refused as invalid params
    // (-32602), where it used to panic the handler (-32603).
    let overflow = within("divide overflow", calc.divide(i64::MIN, -1)).await.unwrap_err();
    assert_eq!(overflow.into_error_object().code, -32602);

    calc.peer().close().await;
    server.stop().await;
}

#[tokio::test]
async fn server_handler_calls_back_into_the_calling_client() {
    let (server, _log, _peers) = calculator_server().await;
    // Two clients that answer differently: each callback must reach its own caller.
    let (yes, mut yes_events) = browser_client(&server.url(), true).await;
    let (no, mut no_events) = browser_client(&server.url(), false).await;

    let (cleared, declined) = within("both clears", async {
        tokio::join!(yes.clear("first".into()), no.clear("second".into()))
    })
    .await;
    assert_eq!(cleared, Ok("cleared".to_owned()));
    assert_eq!(declined.unwrap_err().code(), Some(DECLINED));
    assert_eq!(
        next(&mut yes_events, "yes's question").await,
        BrowserEvent::Confirm("Clear the memory (first)?".into())
    );
    assert_eq!(
        next(&mut no_events, "no's question").await,
        BrowserEvent::Confirm("Clear the memory (second)?".into())
    );

    // sum_to sends progress notifications to its caller before it replies.
    assert_eq!(within("sum_to", yes.sum_to(4)).await, Ok(10));
    let mut progress = Vec::new();
    for _ in 0..4 {
        progress.push(next(&mut yes_events, "progress").await);
    }
    let want: Vec<_> = [25, 50, 75, 100].into_iter().map(BrowserEvent::Progress).collect();
    assert_eq!(progress, want);
    assert!(no_events.try_recv().is_err(), "the other client saw nothing more");

    yes.peer().close().await;
    no.peer().close().await;
    server.stop().await;
}

#[tokio::test]
async fn notifications_both_ways_and_server_initiated_calls() {
    let (server, mut log, mut peers) = calculator_server().await;
    let (calc, mut events) = browser_client(&server.url(), true).await;

    // Client -> server notification.
    within("log", calc.log("hello server".into()))
        .await
        .expect("log queued");
    assert_eq!(next(&mut log, "the log line").await, "hello server");

    // Server -> client, outside any handler: the server holds the connection's peer.
    let server_peer = next(&mut peers, "the server-side peer").await;
    let browser = BrowserClient::new(server_peer);
    assert_eq!(
        within("confirm", browser.confirm("from the server".into())).await,
        Ok(true)
    );
    assert_eq!(
        next(&mut events, "the question").await,
        BrowserEvent::Confirm("from the server".into())
    );
    within("progress", browser.progress(42)).await.expect("progress queued");
    assert_eq!(next(&mut events, "the progress").await, BrowserEvent::Progress(42));

    // A method the client does not serve: -32601 comes back to the server.
    // (`()` params serialize to `null`, which the peer must omit, not send.)
    let err: RpcError = within("unknown", browser.peer().call::<_, bool>("ui.nope", ()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(-32601));

    calc.peer().close().await;
    server.stop().await;
}

/// Served by both ends: each hop calls back into the other end until depth 0,
/// and each end appends its name on the way in and on the way out.
#[rpc(namespace = "relay")]
pub trait Relay {
    /// Relays `trail` to the other end `depth` more times.
    async fn relay(&self, depth: u32, trail: String) -> Result<String, RpcError>;
}

struct Hop {
    name: &'static str,
    other: RelayClient,
}

impl Relay for Hop {
    async fn relay(&self, depth: u32, trail: String) -> Result<String, RpcError> {
        let trail = format!("{trail}>{}{depth}", self.name);
        if depth == 0 {
            return Ok(trail);
        }
        let back = self.other.relay(depth - 1, trail).await?;
        Ok(format!("{back}<{}{depth}", self.name))
    }
}

#[tokio::test]
async fn callbacks_nested_two_levels() {
    let server = Server::bind("127.0.0.1:0").await.expect("bind");
    let server = server.serve(|conn, _info| {
        let other = RelayClient::new(conn.peer().clone());
        conn.register(Hop { name: "s", other }.into_methods())?;
        Ok(())
    });
    let mut conn = duplexrpc_ws::connect(&server.url()).await.expect("connect");
    let other = RelayClient::new(conn.peer().clone());
    conn.register(Hop { name: "c", other }.into_methods())
        .expect("register");
    let relay = RelayClient::new(conn.start());

    // client -> s3 -> c2 -> s1 -> c0, and the replies back down the chain.
    let got = within("the nested chain", relay.relay(3, "test".into())).await;
    assert_eq!(got, Ok("test>s3>c2>s1>c0<s1<c2<s3".to_owned()));

    // Several chains at once on the same socket, each with its own values.
    let chains = (0..20u32).map(|i| {
        let relay = relay.clone();
        async move { (i, relay.relay(4, format!("t{i}")).await) }
    });
    for (i, got) in within("20 concurrent chains", futures::future::join_all(chains)).await {
        assert_eq!(got, Ok(format!("t{i}>s4>c3>s2>c1>s0<c1<s2<c3<s4")));
    }

    relay.peer().close().await;
    server.stop().await;
}
