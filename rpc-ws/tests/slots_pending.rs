//! Connection slots are taken when the WebSocket upgrade completes, not at TCP
//! accept: thousands of silent sockets (opened, sending nothing) do not lock
//! legitimate clients out (issue 12, item 5).

mod common;

use std::time::Duration;

use common::{add_echo, echo, open_silent, raise_fd_limit, serve};
use duplexrpc_ws::{Server, WsConfig};

const BOUND: Duration = Duration::from_secs(20);
const SILENT: usize = 3_000;

/// Connects `clients` clients one after another; each must connect and call.
async fn legitimate_clients_call(url: &str, clients: usize) {
    for i in 0..clients {
        let conn = duplexrpc_ws::connect(url)
            .await
            .unwrap_or_else(|e| panic!("client {i} was refused: {e}"))
            .start();
        let echoed: String = conn.call("echo", (format!("c{i}"),)).await.unwrap();
        assert_eq!(echoed, format!("c{i}"));
        conn.close().await;
    }
}

async fn server(config: WsConfig) -> duplexrpc_ws::ServerHandle {
    serve(config, add_echo).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legitimate_clients_connect_while_thousands_of_silent_sockets_are_open() {
    let n = raise_fd_limit(SILENT);
    // Fewer slots than silent sockets: at accept, the silent ones would take them all.
    let server = server(WsConfig::default().max_connections(100)).await;
    tokio::time::timeout(BOUND, async {
        let silent = open_silent(server.local_addr(), n).await;
        legitimate_clients_call(&server.url(), 20).await;
        drop(silent);
    })
    .await
    .expect("within the bound");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_pending_limit_is_full_the_oldest_silent_sockets_are_shed() {
    use tokio::io::AsyncReadExt;
    let n = raise_fd_limit(SILENT);
    // A long handshake timeout: only shedding closes the silent sockets in time.
    let config = WsConfig::default()
        .max_connections(100)
        .max_pending_handshakes(200)
        .handshake_timeout(Duration::from_secs(60));
    let server = server(config).await;
    tokio::time::timeout(BOUND, async {
        let mut silent = open_silent(server.local_addr(), n).await;
        legitimate_clients_call(&server.url(), 20).await;
        // The oldest silent socket was shed: the server closed it, long
        // before the handshake timeout.
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(5), silent[0].read(&mut byte))
            .await
            .expect("the oldest silent socket is closed by the server");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    })
    .await
    .expect("within the bound");
    server.stop().await;
}

#[tokio::test]
async fn upgrade_requests_waiting_on_a_slow_hook_hold_no_slot() {
    let (entered_tx, mut entered) = tokio::sync::mpsc::unbounded_channel();
    let config = WsConfig::default()
        .max_connections(1)
        .handshake_timeout(Duration::from_secs(60));
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .with_config(config)
        .on_handshake_async(move |req| {
            let slow = req.query_param("slow").is_some();
            let entered = entered_tx.clone();
            async move {
                if slow {
                    let _ = entered.send(());
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
                Ok(())
            }
        })
        .serve(|conn, _info| {
            conn.register(echo())?;
            Ok(())
        });
    let waiting: Vec<_> = (0..5)
        .map(|_| {
            let url = format!("{}?slow", server.url());
            tokio::spawn(async move { duplexrpc_ws::connect(&url).await.map(drop) })
        })
        .collect();
    for _ in 0..5 {
        tokio::time::timeout(BOUND, entered.recv()).await.unwrap().unwrap();
    }
    // Five upgrade requests sit in the hook; the one slot is still free.
    tokio::time::timeout(BOUND, legitimate_clients_call(&server.url(), 1))
        .await
        .expect("within the bound");
    for task in waiting {
        task.abort();
    }
    server.stop().await;
}

#[tokio::test]
async fn stop_does_not_wait_for_silent_sockets() {
    let config = WsConfig::default().handshake_timeout(Duration::from_secs(60));
    let server = server(config).await;
    let silent = open_silent(server.local_addr(), 10).await;
    // Let the server accept them (a connected client proves the accept loop got past them).
    legitimate_clients_call(&server.url(), 1).await;
    tokio::time::timeout(Duration::from_secs(5), server.stop())
        .await
        .expect("stop ends the pending handshakes at once");
    drop(silent);
}
