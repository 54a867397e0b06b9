//! Connections that end while calls are in flight: a client that goes away
//! while the server calls back into it, a server process killed mid-call,
//! frames the transport refuses (binary, too big), and a server stop.

use std::time::Duration;

use duplexrpc_core::{RpcError, transport::CloseReason};
use duplexrpc_ws::{Server, ServerHandle, WsConfig};
use examples::{Browser, BrowserClient};
use futures::{SinkExt, StreamExt};
use rpc_tests::{
    AskService, Asker, AskerClient, BrowserEvent, ChildServer, Hold, HoldClient, HoldService, RawClient,
    RecordingBrowser, StartedLog, Watcher, WatcherClient, next, within,
};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

type Outcomes = mpsc::UnboundedReceiver<Result<bool, RpcError>>;

/// A server serving [`Asker`] and [`Hold`] to every connection; the outcome of
/// every `ask` callback goes to the returned channel.
async fn server(config: WsConfig) -> (ServerHandle, Outcomes) {
    let (outcomes_tx, outcomes) = mpsc::unbounded_channel();
    let server = Server::bind("127.0.0.1:0").await.expect("bind").with_config(config);
    let server = server.serve(move |conn, _info| {
        let peer = conn.peer().clone();
        conn.register(AskService::new(BrowserClient::new(peer.clone()), outcomes_tx.clone()).into_methods())?;
        conn.register(HoldService::new(WatcherClient::new(peer)).into_methods())?;
        Ok(())
    });
    (server, outcomes)
}

/// Asserts that the next callback outcome is a `Disconnected` error.
async fn assert_callback_disconnected(outcomes: &mut Outcomes) {
    match next(outcomes, "the callback's outcome").await {
        Err(RpcError::Disconnected(reason)) => assert!(!reason.is_empty()),
        other => panic!("the callback should fail with Disconnected, got {other:?}"),
    }
}

/// The server still serves: a new client's `ask` round trip works.
async fn assert_server_still_serves(server: &ServerHandle, outcomes: &mut Outcomes) {
    let (browser, _events) = RecordingBrowser::new(Some(true));
    let mut conn = within("connect", duplexrpc_ws::connect(&server.url()))
        .await
        .expect("connect");
    conn.register(browser.into_methods()).expect("register");
    let asker = AskerClient::new(conn.start());
    assert_eq!(within("ask", asker.ask("again?".into())).await, Ok(true));
    assert_eq!(next(outcomes, "the new callback's outcome").await, Ok(true));
    asker.peer().close().await;
}

/// A raw client calls `ask.ask` and reads the server's `ui.confirm` callback,
/// leaving the server's handler waiting for the answer.
async fn raw_client_mid_callback(url: &str) -> RawClient {
    let mut client = RawClient::connect(url).await;
    client
        .send(r#"{"jsonrpc":"2.0","method":"ask.ask","params":["still there?"],"id":1}"#)
        .await;
    let callback = client.recv_text().await;
    assert!(callback.contains(r#""method":"ui.confirm""#), "{callback}");
    client
}

#[tokio::test]
async fn client_socket_dropped_mid_callback() {
    let (server, mut outcomes) = server(WsConfig::default()).await;
    let client = raw_client_mid_callback(&server.url()).await;
    drop(client); // the TCP connection closes without a close frame
    assert_callback_disconnected(&mut outcomes).await;
    assert_server_still_serves(&server, &mut outcomes).await;
    within("server stop", server.stop()).await;
}

#[tokio::test]
async fn client_runtime_gone_mid_callback() {
    let (server, mut outcomes) = server(WsConfig::default()).await;
    let url = server.url();
    // The client lives on its own runtime on its own thread; once the server's
    // question reaches it, the runtime is dropped with every task of the
    // connection, as if the client process had died.
    let client = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let (browser, mut events) = RecordingBrowser::new(None);
            let mut conn = duplexrpc_ws::connect(&url).await.expect("connect");
            conn.register(browser.into_methods()).expect("register");
            let asker = AskerClient::new(conn.start());
            let call = tokio::spawn(async move { asker.ask("are you there?".into()).await });
            let asked = next(&mut events, "the question").await;
            drop(call);
            asked
        })
    });
    let asked = within("the client thread", tokio::task::spawn_blocking(move || client.join()))
        .await
        .expect("join")
        .expect("the client thread did not panic");
    assert_eq!(asked, BrowserEvent::Confirm("are you there?".into()));
    assert_callback_disconnected(&mut outcomes).await;
    assert_server_still_serves(&server, &mut outcomes).await;
    within("server stop", server.stop()).await;
}

#[tokio::test]
async fn client_closes_mid_callback() {
    let (server, mut outcomes) = server(WsConfig::default()).await;
    let (browser, mut events) = RecordingBrowser::new(None);
    let mut conn = duplexrpc_ws::connect(&server.url()).await.expect("connect");
    conn.register(browser.into_methods()).expect("register");
    let asker = AskerClient::new(conn.start());
    let call = tokio::spawn({
        let asker = asker.clone();
        async move { asker.ask("close?".into()).await }
    });
    assert_eq!(
        next(&mut events, "the question").await,
        BrowserEvent::Confirm("close?".into())
    );
    asker.peer().close().await;
    // Both sides' pending calls fail: the client's own call and the server's callback.
    let own = within("the client's call", call).await.expect("task");
    assert!(matches!(own, Err(RpcError::Disconnected(_))), "{own:?}");
    assert_callback_disconnected(&mut outcomes).await;
    assert!(matches!(
        asker.ask("after close".into()).await,
        Err(RpcError::Disconnected(_))
    ));
    assert_server_still_serves(&server, &mut outcomes).await;
    within("server stop", server.stop()).await;
}

#[tokio::test]
async fn server_process_killed_mid_call() {
    let mut child = ChildServer::spawn(env!("CARGO_BIN_EXE_test-server"));
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let mut conn = within("connect", duplexrpc_ws::connect(&child.url()))
        .await
        .expect("connect");
    conn.register(StartedLog(started_tx).into_methods()).expect("register");
    let hold = HoldClient::new(conn.start());
    assert_eq!(within("add", hold.add(2, 3)).await, Ok(5));

    let calls: Vec<_> = (0..5u32)
        .map(|tag| {
            let hold = hold.clone();
            tokio::spawn(async move { hold.wait(tag).await })
        })
        .collect();
    let mut tags = Vec::new();
    for _ in 0..5 {
        tags.push(next(&mut started, "a held call to start").await);
    }
    tags.sort();
    assert_eq!(tags, [0, 1, 2, 3, 4]);
    assert_eq!(hold.peer().pending_calls(), 5);

    child.kill();
    // The liveness bound the issue asks for: every pending call fails within a second.
    let results = tokio::time::timeout(Duration::from_secs(1), futures::future::join_all(calls))
        .await
        .expect("pending calls failed within 1 second of the kill");
    for result in results {
        let result = result.expect("call task");
        assert!(matches!(result, Err(RpcError::Disconnected(_))), "{result:?}");
    }
    assert!(hold.peer().is_closed());
    assert!(matches!(hold.add(1, 1).await, Err(RpcError::Disconnected(_))));
}

#[tokio::test]
async fn binary_frame_closes_with_1003() {
    let (server, mut outcomes) = server(WsConfig::default()).await;
    let mut client = raw_client_mid_callback(&server.url()).await;
    client.send_binary(b"\x00\x01 not json").await;
    let closed = client.recv_close().await;
    assert_eq!(closed.code, 1003, "{closed:?}");
    assert!(closed.reason.contains("binary"), "a reason: {closed:?}");
    assert_callback_disconnected(&mut outcomes).await;
    assert_server_still_serves(&server, &mut outcomes).await;
    within("server stop", server.stop()).await;
}

#[tokio::test]
async fn message_above_max_size_closes_with_1009() {
    let (server, mut outcomes) = server(WsConfig::default().max_message_size(1024)).await;
    let mut client = raw_client_mid_callback(&server.url()).await;
    // Just under the limit is fine...
    let params = "x".repeat(900);
    let small = format!(r#"{{"jsonrpc":"2.0","method":"hold.add","params":[1,2],"id":2,"pad":"{params}"}}"#);
    assert!(small.len() < 1024);
    assert_eq!(client.call(&small).await, r#"{"jsonrpc":"2.0","result":3,"id":2}"#);
    // ...one above it closes the connection.
    let big = format!(
        r#"{{"jsonrpc":"2.0","method":"hold.add","params":[1,2],"id":3,"pad":"{}"}}"#,
        "x".repeat(4096)
    );
    client.send(&big).await;
    let closed = client.recv_close().await;
    assert_eq!(closed.code, 1009, "{closed:?}");
    assert!(!closed.reason.is_empty());
    assert_callback_disconnected(&mut outcomes).await;
    assert_server_still_serves(&server, &mut outcomes).await;
    within("server stop", server.stop()).await;
}

/// A bare WebSocket server that answers the first text frame it receives with
/// `reply`, then returns the close frame the client sends.
async fn raw_server(reply: Message) -> (String, tokio::task::JoinHandle<Option<CloseReason>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("ws://{}/", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let mut ws = tokio_tungstenite::accept_async(stream).await.expect("handshake");
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(_))) => ws.send(reply.clone()).await.expect("reply"),
                Some(Ok(Message::Close(frame))) => {
                    return frame.map(|f| CloseReason {
                        code: f.code.into(),
                        reason: f.reason.as_str().to_owned().into(),
                    });
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            }
        }
    });
    (url, task)
}

#[tokio::test]
async fn client_refuses_a_binary_reply() {
    let (url, server) = raw_server(Message::binary(b"[1,2]".to_vec())).await;
    let conn = within("connect", duplexrpc_ws::connect(&url)).await.expect("connect");
    let hold = HoldClient::new(conn.start());
    let result = within("the call", hold.add(1, 2)).await;
    assert!(matches!(result, Err(RpcError::Disconnected(_))), "{result:?}");
    let close = within("the raw server", server)
        .await
        .expect("task")
        .expect("a close frame");
    assert_eq!(close.code, 1003, "{close:?}");
    assert!(close.reason.contains("binary"), "{close:?}");
}

#[tokio::test]
async fn client_refuses_a_reply_above_max_size() {
    let big = format!(r#"{{"jsonrpc":"2.0","result":"{}","id":0}}"#, "y".repeat(4096));
    let (url, server) = raw_server(Message::text(big)).await;
    let config = WsConfig::default().max_message_size(1024);
    let conn = within("connect", duplexrpc_ws::connect_with_config(&url, config))
        .await
        .expect("connect");
    let hold = HoldClient::new(conn.start());
    let result = within("the call", hold.add(1, 2)).await;
    assert!(matches!(result, Err(RpcError::Disconnected(_))), "{result:?}");
    let close = within("the raw server", server)
        .await
        .expect("task")
        .expect("a close frame");
    assert_eq!(close.code, 1009, "{close:?}");
}

#[tokio::test]
async fn server_stop_closes_clients_with_1001() {
    // Held calls never finish: a short shutdown grace, after which they fail.
    let (server, _outcomes) = server(WsConfig::default().shutdown_grace(Duration::from_millis(200))).await;
    // A raw client with a held call...
    let mut raw = RawClient::connect(&server.url()).await;
    raw.send(r#"{"jsonrpc":"2.0","method":"hold.wait","params":[7],"id":1}"#)
        .await;
    assert_eq!(
        raw.recv_text().await,
        r#"{"jsonrpc":"2.0","method":"watch.started","params":[7]}"#
    );
    // ...and a client with three.
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let mut conn = duplexrpc_ws::connect(&server.url()).await.expect("connect");
    conn.register(StartedLog(started_tx).into_methods()).expect("register");
    let hold = HoldClient::new(conn.start());
    let calls: Vec<_> = (0..3u32)
        .map(|tag| {
            let hold = hold.clone();
            tokio::spawn(async move { hold.wait(tag).await })
        })
        .collect();
    for _ in 0..3 {
        next(&mut started, "a held call to start").await;
    }

    within("server stop", server.stop()).await;
    let closed = raw.recv_close().await;
    assert_eq!(closed.code, 1001, "{closed:?}");
    for call in calls {
        match within("a held call", call).await.expect("task") {
            Err(RpcError::Disconnected(reason)) => assert!(reason.contains("1001"), "{reason}"),
            other => panic!("expected Disconnected, got {other:?}"),
        }
    }
    within("the client's end", hold.peer().finished()).await;
}
