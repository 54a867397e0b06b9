//! A JSON-RPC WebSocket server for the tests that need to kill a real process.
//!
//! Binds 127.0.0.1 on an OS-picked port, prints the port on stdout (one line),
//! and serves [`Hold`] to every connection. It exits when its stdin closes, so
//! it never outlives the test process that started it.

use std::io::{Read, Write};

use rpc_tests::{Hold, HoldService, WatcherClient};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let server = duplexrpc_ws::Server::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let handle = server.serve(|conn, _info| {
        let watcher = WatcherClient::new(conn.peer().clone());
        conn.register(HoldService::new(watcher).into_methods())?;
        Ok(())
    });
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{}", handle.local_addr().port()).expect("print the port");
    stdout.flush().expect("flush the port");
    // Runs until stdin reaches end of file (the parent closed it or died).
    let _ = tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new())).await;
    handle.stop().await;
}
