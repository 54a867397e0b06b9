//! Resumable sessions: a dropped connection loses nothing.
//!
//! Run: `cargo run -p examples --example resume`
//!
//! The server has sessions on; the client is `Reconnect::resumable`. The
//! client reaches the server through a small TCP relay in this process,
//! which the example cuts while a call is in flight: `calc.clear` is
//! waiting for the client's answer to `ui.confirm` (a callback nested in
//! the call) when both TCP connections close. The client resumes on a new
//! connection, answers the callback, and the call completes with its
//! result: no `Disconnected` error, no second setup on the server.

use std::net::SocketAddr;
use std::time::Duration;

use duplexrpc_core::RpcError;
use duplexrpc_core::session::SessionConfig;
use duplexrpc_ws::{ConnectionEvent, Reconnect, Server, WsConfig};
use examples::{Browser, BrowserClient, Calculator, CalculatorClient, CalculatorService};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The client's UI: says yes to the server's questions, after thinking.
struct SlowYes;

impl Browser for SlowYes {
    async fn confirm(&self, question: String) -> Result<bool, RpcError> {
        tracing::info!("[client] asked {question:?}; answering in 500 ms");
        tokio::time::sleep(Duration::from_millis(500)).await;
        Ok(true)
    }

    async fn progress(&self, _pct: u8) {}
}

/// A TCP relay to `target` on a port of its own; bumping the returned
/// counter closes every connection it holds (a clean cut: FIN both ways).
async fn relay(target: SocketAddr) -> std::io::Result<(SocketAddr, watch::Sender<u64>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (cuts, _) = watch::channel(0u64);
    let watch = cuts.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let mut cut = watch.subscribe();
            tokio::spawn(async move {
                let Ok(mut server) = TcpStream::connect(target).await else {
                    return;
                };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    _ = cut.changed() => {}
                }
            });
        }
    });
    Ok((addr, cuts))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _output = examples::init_output();
    let config = WsConfig::default().sessions(Some(SessionConfig::default()));
    let server = Server::bind("127.0.0.1:0")
        .await?
        .with_config(config)
        .serve(|conn, _info| {
            tracing::info!("[server] setting up a connection (once per session)");
            let browser = BrowserClient::new(conn.peer().clone());
            conn.register(CalculatorService::new(browser).into_methods())?;
            Ok(())
        });
    let (relay_addr, cuts) = relay(server.local_addr()).await?;

    let client = Reconnect::new(format!("ws://{relay_addr}/"))
        .resumable(true)
        .on_event(|event| match event {
            ConnectionEvent::Resumed { attempt } => {
                tracing::info!("[client] resumed (attempt {attempt}): nothing lost")
            }
            ConnectionEvent::SessionLost { reason } => tracing::info!("[client] session lost: {reason}"),
            other => tracing::info!("[client] {other:?}"),
        })
        .connect(|conn| {
            conn.register(SlowYes.into_methods())?;
            Ok(())
        })
        .await?;
    let calc = CalculatorClient::new(client.peer());
    tracing::info!("[client] add(2, 3) = {:?}", calc.add(2, 3).await);

    let clearing = tokio::spawn({
        let calc = calc.clone();
        async move { calc.clear("the demo".into()).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    tracing::info!("[relay] cutting every connection");
    cuts.send_modify(|n| *n += 1);
    tracing::info!("[client] clear = {:?}", clearing.await?);
    tracing::info!("[client] add(4, 5) = {:?}", calc.add(4, 5).await);

    client.close().await;
    server.stop().await;
    Ok(())
}
