//! Sessions are negotiated and opt-in on both sides (issue 15 item 1): a
//! client that does not offer `duplexrpc.session.v1` gets exactly today's
//! 101 and never a `#` frame; a resumable client of a server without
//! sessions gets a plain connection; a resume needs the token's secret and
//! the same auth identity (the hook runs again).

#[path = "common/proxy.rs"]
mod proxy;
#[path = "common/session.rs"]
mod session;

use std::net::SocketAddr;
use std::time::Duration;

use duplexrpc_core::session::SessionConfig;
use duplexrpc_ws::{ConnectionEvent, Rejection, Server, WsConfig};
use futures::{SinkExt, StreamExt};
use proxy::Proxy;
use session::{HubClient, client, serve, short_keepalive, wait_for};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

const SUBPROTOCOL: &str = "duplexrpc.session.v1";

/// The head of the answer to a handwritten upgrade request (offering
/// `protocols` if given), its `Date` header left out, lines sorted.
async fn upgrade_head(addr: SocketAddr, protocols: Option<&str>) -> Vec<String> {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let offer = protocols
        .map(|p| format!("Sec-WebSocket-Protocol: {p}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut byte))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 1, "the server closed before its answer ended");
        head.push(byte[0]);
    }
    let mut lines: Vec<String> = String::from_utf8(head)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty() && !l.to_ascii_lowercase().starts_with("date:"))
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

fn sessions_on() -> WsConfig {
    WsConfig::default().sessions(Some(SessionConfig::default()))
}

#[tokio::test]
async fn a_plain_client_sees_exactly_the_101_of_a_server_without_sessions() {
    let plain = Server::bind("127.0.0.1:0").await.unwrap().serve(|_, _| Ok(()));
    let on = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .with_config(sessions_on())
        .serve(|_, _| Ok(()));
    let today = upgrade_head(plain.local_addr(), None).await;
    assert!(today[0].starts_with("HTTP/1.1 101"), "{today:?}");
    assert_eq!(
        upgrade_head(on.local_addr(), None).await,
        today,
        "no offer: today's 101"
    );
    assert_eq!(
        upgrade_head(on.local_addr(), Some("chat")).await,
        today,
        "another subprotocol: today's 101"
    );
    assert_eq!(
        upgrade_head(plain.local_addr(), Some(SUBPROTOCOL)).await,
        today,
        "a server without sessions does not select it"
    );
    let selected = upgrade_head(on.local_addr(), Some(&format!("chat, {SUBPROTOCOL}"))).await;
    let mut expected = today.clone();
    expected.push(format!("sec-websocket-protocol: {SUBPROTOCOL}"));
    expected.sort();
    assert_eq!(selected, expected);
    plain.stop().await;
    on.stop().await;
}

#[tokio::test]
async fn a_third_party_client_without_the_subprotocol_never_sees_a_session_frame() {
    let server = serve("127.0.0.1:0".parse().unwrap(), SessionConfig::default()).await;
    let url = server.handle.url();
    let (mut ws, response) = tokio_tungstenite::connect_async(url.as_str()).await.unwrap();
    assert!(response.headers().get("sec-websocket-protocol").is_none());
    for n in 0..40 {
        let record = format!(r#"{{"jsonrpc":"2.0","method":"record","params":[{n}]}}"#);
        ws.send(Message::text(record)).await.unwrap();
    }
    ws.send(Message::text(
        r#"{"jsonrpc":"2.0","id":1,"method":"slow_echo","params":[5,0]}"#,
    ))
    .await
    .unwrap();
    ws.send(Message::text(
        r#"{"jsonrpc":"2.0","id":2,"method":"recorded","params":[]}"#,
    ))
    .await
    .unwrap();
    // Several keepalive ticks (100 ms), each of which would carry an ack
    // on a session connection.
    let mut texts = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(700);
    while let Ok(Some(message)) = tokio::time::timeout_at(deadline, ws.next()).await {
        if let Message::Text(text) = message.unwrap() {
            texts.push(text.to_string());
        }
    }
    assert!(texts.iter().all(|t| !t.starts_with('#')), "{texts:?}");
    let mut replies: Vec<serde_json::Value> = texts.iter().map(|t| serde_json::from_str(t).unwrap()).collect();
    replies.sort_by_key(|reply| reply["id"].as_u64());
    let all: Vec<u64> = (0..40).collect();
    let expected = [
        serde_json::json!({"jsonrpc": "2.0", "id": 1, "result": 5}),
        serde_json::json!({"jsonrpc": "2.0", "id": 2, "result": all}),
    ];
    assert_eq!(replies, expected);
    ws.close(None).await.unwrap();
    server.handle.stop().await;
}

#[tokio::test]
async fn a_resumable_client_of_a_server_without_sessions_connects_plainly() {
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .with_config(short_keepalive(WsConfig::default()))
        .serve(|conn, _| {
            conn.register(session::hub(conn.peer().clone()))?;
            Ok(())
        });
    let proxy = Proxy::start(server.local_addr()).await;
    let (client, mut events, _ticks) = client(&proxy.url()).await;
    let hub = HubClient::new(client.peer());
    assert_eq!(hub.slow_echo(1, 0).await.unwrap(), 1);
    // A drop is a plain reconnect: nothing to resume.
    proxy.cut();
    wait_for(&mut events, |e| matches!(e, ConnectionEvent::Disconnected { .. })).await;
    let (connected, before) = wait_for(&mut events, |e| matches!(e, ConnectionEvent::Connected { .. })).await;
    assert!(
        before.iter().all(|e| matches!(e, ConnectionEvent::Retrying { .. })),
        "{before:?} before {connected:?}"
    );
    assert_eq!(hub.slow_echo(2, 0).await.unwrap(), 2);
    client.close().await;
    server.stop().await;
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// A raw session connection to `addr` as `user`: the subprotocol offered
/// and selected.
async fn session_socket(addr: SocketAddr, user: &str) -> Ws {
    let mut request = format!("ws://{addr}/?user={user}").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", HeaderValue::from_static(SUBPROTOCOL));
    let (ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], SUBPROTOCOL);
    ws
}

/// Sends `hello` as the first frame; the server's first text frame.
async fn exchange(ws: &mut Ws, hello: &str) -> String {
    ws.send(Message::text(hello)).await.unwrap();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap_or_else(|_| panic!("an answer to {hello:?} within 5 s"))
            .expect("open")
            .unwrap();
        if let Message::Text(text) = message {
            return text.to_string();
        }
    }
}

/// The close the server sends next (skipping pings).
async fn close_code(ws: &mut Ws) -> u16 {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a close within 5 s")
        {
            Some(Ok(Message::Close(Some(frame)))) => return frame.code.into(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_resume_needs_the_secret_and_the_same_identity() {
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .on_handshake(|req| {
            req.query_param("user")
                .map(str::to_owned)
                .ok_or_else(|| Rejection::unauthorized("who are you?"))
        })
        .sessions(Some(SessionConfig::default()))
        .serve(|_conn, _info| Ok(()));
    let addr = server.local_addr();
    let mut alice = session_socket(addr, "alice").await;
    let answer = exchange(&mut alice, "#new").await;
    let mut words = answer.split(' ');
    assert_eq!(words.next(), Some("#session"), "{answer}");
    let token = words.next().unwrap().to_owned();
    assert_eq!(words.next(), Some("30000"), "the default window: {answer}");
    // Dropped without a close: the session waits for a resume.
    drop(alice);

    let mut mallory = session_socket(addr, "mallory").await;
    assert_eq!(
        exchange(&mut mallory, &format!("#resume {token} 0")).await,
        "#lost auth"
    );
    assert_eq!(close_code(&mut mallory).await, 1000);

    let last = other_secret(&token);
    let mut guess = session_socket(addr, "alice").await;
    assert_eq!(
        exchange(&mut guess, &format!("#resume {last} 0")).await,
        "#lost unknown session"
    );
    assert_eq!(close_code(&mut guess).await, 1000);

    let mut garbled = session_socket(addr, "alice").await;
    garbled
        .send(Message::Text(Utf8Bytes::from_static("{\"jsonrpc\":\"2.0\"}")))
        .await
        .unwrap();
    assert_eq!(
        close_code(&mut garbled).await,
        1002,
        "a first frame that is not #new or #resume"
    );

    // Neither refusal harmed the session: its owner resumes it.
    let mut again = session_socket(addr, "alice").await;
    assert_eq!(exchange(&mut again, &format!("#resume {token} 0")).await, "#resumed 0");
    again.close(None).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn with_a_hook_but_sessions_only_in_the_config_every_resume_is_refused() {
    // The auth type was never said to compare: resumes cannot be checked.
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .with_config(sessions_on())
        .on_handshake(|req| Ok::<_, Rejection>(req.query_param("user").unwrap_or_default().to_owned()))
        .serve(|_conn, _info| Ok(()));
    let addr = server.local_addr();
    let mut alice = session_socket(addr, "alice").await;
    let answer = exchange(&mut alice, "#new").await;
    let token = answer.split(' ').nth(1).unwrap().to_owned();
    drop(alice);
    let mut again = session_socket(addr, "alice").await;
    assert_eq!(exchange(&mut again, &format!("#resume {token} 0")).await, "#lost auth");
    server.stop().await;
}

/// `token` with its secret's last hex digit changed.
fn other_secret(token: &str) -> String {
    let (kept, last) = token.split_at(token.len() - 1);
    format!("{kept}{}", if last == "0" { "1" } else { "0" })
}
