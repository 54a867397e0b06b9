//! The reconnecting client against a real server that goes away and comes
//! back on the same address.

use std::net::SocketAddr;
use std::time::Duration;

use duplexrpc_core::{RpcError, rpc};
use duplexrpc_ws::{Backoff, ConnectionEvent, Reconnect, Server, ServerHandle};
use tokio::sync::mpsc;

/// Served by the server.
#[rpc]
trait Echo {
    /// Returns `x`, after asking the caller for its name.
    async fn echo(&self, x: u32) -> Result<(u32, String), RpcError>;
    /// Never answers.
    async fn hang(&self) -> Result<(), RpcError>;
}

/// Served by the client: registered again on every connection.
#[rpc]
trait Named {
    /// The client's name.
    async fn name(&self) -> Result<String, RpcError>;
}

struct EchoService {
    caller: NamedClient,
}

impl Echo for EchoService {
    async fn echo(&self, x: u32) -> Result<(u32, String), RpcError> {
        Ok((x, self.caller.name().await?))
    }

    async fn hang(&self) -> Result<(), RpcError> {
        std::future::pending().await
    }
}

struct Me;

impl Named for Me {
    async fn name(&self) -> Result<String, RpcError> {
        Ok("me".into())
    }
}

async fn serve(addr: SocketAddr) -> ServerHandle {
    // A short shutdown grace: the tests stop the server with a call hanging.
    let config = duplexrpc_ws::WsConfig::default().shutdown_grace(Duration::from_millis(100));
    Server::bind(addr)
        .await
        .expect("bind")
        .with_config(config)
        .serve(|conn, _info| {
            let caller = NamedClient::new(conn.peer().clone());
            conn.register(EchoService { caller }.into_methods())?;
            Ok(())
        })
}

fn fast() -> Backoff {
    Backoff::default()
        .delays(Duration::from_millis(10), Duration::from_millis(100))
        .jitter(0.2)
}

async fn next_event(events: &mut mpsc::UnboundedReceiver<ConnectionEvent>) -> ConnectionEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event within 10 s")
        .expect("events open")
}

#[tokio::test]
async fn survives_a_server_restart_and_tells_the_application() {
    let server = serve("127.0.0.1:0".parse().unwrap()).await;
    let addr = server.local_addr();
    let (tx, mut events) = mpsc::unbounded_channel();
    let client = Reconnect::new(format!("ws://{addr}/"))
        .backoff(fast())
        .on_event(move |e| {
            let _ = tx.send(e.clone());
        })
        .connect(|conn| {
            conn.register(Me.into_methods())?;
            Ok(())
        })
        .await
        .expect("first connect");
    assert_eq!(next_event(&mut events).await, ConnectionEvent::Connected { attempt: 0 });
    let echo = EchoClient::new(client.peer());
    assert_eq!(echo.echo(1).await, Ok((1, "me".into())));

    // A call pending when the server goes away fails; it is not retried.
    let pending = tokio::spawn({
        let echo = echo.clone();
        async move { echo.hang().await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.stop().await;
    let failed = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .unwrap()
        .unwrap();
    assert!(failed.unwrap_err().is_disconnected());
    assert!(matches!(
        next_event(&mut events).await,
        ConnectionEvent::Disconnected { .. }
    ));

    // A call made while the server is down waits for the reconnect.
    let waiting = tokio::spawn({
        let echo = echo.clone();
        async move { echo.echo(2).await }
    });
    let retrying = next_event(&mut events).await;
    assert!(
        matches!(retrying, ConnectionEvent::Retrying { attempt: 1, .. }),
        "{retrying:?}"
    );

    let server = serve(addr).await;
    let reconnected = loop {
        match next_event(&mut events).await {
            ConnectionEvent::Connected { attempt } => break attempt,
            ConnectionEvent::Retrying { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    assert!(reconnected >= 1);
    let waited = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(waited, Ok((2, "me".into())), "services are registered again");
    assert_eq!(echo.echo(3).await, Ok((3, "me".into())));

    client.close().await;
    assert!(echo.echo(4).await.unwrap_err().is_disconnected());
    server.stop().await;
}

#[tokio::test]
async fn gives_up_after_max_attempts() {
    let server = serve("127.0.0.1:0".parse().unwrap()).await;
    let addr = server.local_addr();
    let (tx, mut events) = mpsc::unbounded_channel();
    let client = Reconnect::new(format!("ws://{addr}/"))
        .backoff(fast().max_attempts(Some(2)))
        .on_event(move |e| {
            let _ = tx.send(e.clone());
        })
        .connect(|_conn| Ok(()))
        .await
        .unwrap();
    assert_eq!(next_event(&mut events).await, ConnectionEvent::Connected { attempt: 0 });
    server.stop().await;
    assert!(matches!(
        next_event(&mut events).await,
        ConnectionEvent::Disconnected { .. }
    ));
    assert!(matches!(
        next_event(&mut events).await,
        ConnectionEvent::Retrying { attempt: 1, .. }
    ));
    assert_eq!(next_event(&mut events).await, ConnectionEvent::GaveUp);
    let peer = client.peer();
    tokio::time::timeout(Duration::from_secs(5), peer.closed())
        .await
        .unwrap();
    let err = EchoClient::new(peer).echo(1).await.unwrap_err();
    assert!(err.is_disconnected(), "{err:?}");
}

#[tokio::test]
async fn the_first_connect_error_is_returned() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = Reconnect::new(format!("ws://{addr}/"))
        .connect(|_conn| Ok(()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}
