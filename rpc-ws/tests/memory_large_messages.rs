//! Large messages do not pin memory (issue 12 item 3): after one big frame
//! (and its big reply) per connection, the server's heap goes back near what
//! the same connections cost idle; and a message whose last fragment never
//! comes is closed by the assembly deadline (1008).

mod common;
mod heap;
mod raw;

use std::time::Duration;

use common::{add_echo, serve};
use duplexrpc_ws::{ServerHandle, WsConfig};
use heap::heap;
use raw::{BOUND, CONTINUATION, FIN, PING, Raw, TEXT};

async fn echo_server(config: WsConfig) -> ServerHandle {
    serve(config, add_echo).await
}

fn echo_request(text: &str) -> Vec<u8> {
    format!(r#"{{"jsonrpc":"2.0","id":1,"method":"echo","params":["{text}"]}}"#).into_bytes()
}

/// Sends one echo call as one frame; returns the size of the reply frame.
async fn echo(client: &mut Raw, text: &str) -> usize {
    client.send(FIN | TEXT, &echo_request(text)).await;
    // Past the keepalive pings (never answered: the test keeps their timeout long).
    let mut reply = client.read_frame().await.expect("a reply");
    while reply.opcode() == PING {
        reply = client.read_frame().await.expect("a reply");
    }
    assert_eq!(
        reply.opcode(),
        TEXT,
        "{:?}",
        &reply.payload[..reply.payload.len().min(200)]
    );
    reply.payload.len()
}

/// One at a time: the heap is the whole process's.
static MEASURING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One big echo on each of `N` connections; then the heap must settle
/// within `per_conn` of its idle figure per connection.
async fn big_then_idle(config: WsConfig, per_conn: usize) {
    let _alone = MEASURING.lock().await;
    const N: usize = 20;
    const BIG: usize = 4 << 20;
    let server = echo_server(config).await;
    let mut clients = Vec::new();
    for _ in 0..N {
        let mut client = Raw::connect(server.local_addr()).await;
        echo(&mut client, "small").await;
        clients.push(client);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let idle = heap();
    let big = "x".repeat(BIG);
    for client in &mut clients {
        assert!(echo(client, &big).await > BIG);
    }
    drop(big);
    let bound = idle + N * per_conn;
    let settled = tokio::time::timeout(BOUND, async {
        while heap() > bound {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let after = heap();
    eprintln!(
        "{N} connections: idle {} KiB, after one {} MiB message each (and its reply) {} KiB ({} B more each)",
        idle >> 10,
        BIG >> 20,
        after >> 10,
        after.saturating_sub(idle) / N
    );
    assert!(
        settled.is_ok(),
        "heap {after} bytes, bound {bound} (idle {idle}): {} KiB per connection still held",
        (after.saturating_sub(idle) / N) >> 10
    );
    // The connections still work, and shrink again after the next big one.
    assert!(echo(&mut clients[0], "after").await > 0);
    drop(clients);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_one_big_message_each_idle_connections_return_near_their_idle_memory() {
    // Each connection may keep a little above its idle figure (its 32 KiB
    // read buffer for a peer that sends large messages), never the message.
    big_then_idle(WsConfig::default(), 64 << 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_reading_large_goes_back_to_small_reads_after_a_quiet_keepalive_interval() {
    // Pings every 200 ms (the raw clients never answer: a long timeout).
    let config = WsConfig::default().keepalive(Some(Duration::from_millis(200)), Duration::from_secs(60));
    big_then_idle(config, 12 << 10).await;
}

#[tokio::test]
async fn a_fragmented_message_whose_end_never_comes_is_closed_with_1008() {
    let config = WsConfig::default()
        .keepalive(None, Duration::ZERO)
        .message_timeout(Some(Duration::from_millis(300)));
    let server = echo_server(config).await;
    let mut client = Raw::connect(server.local_addr()).await;
    client
        .send(TEXT, br#"{"jsonrpc":"2.0","id":1,"method":"echo","params":["#)
        .await;
    client.send(CONTINUATION, b"\"never").await;
    let (code, reason) = client.read_close().await.close();
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.contains("not completed"), "{reason}");
    client.expect_end().await;
    server.stop().await;
}

#[tokio::test]
async fn the_deadline_spares_idle_connections_and_messages_that_complete() {
    let config = WsConfig::default()
        .keepalive(None, Duration::ZERO)
        .message_timeout(Some(Duration::from_millis(300)));
    let server = echo_server(config).await;
    let mut client = Raw::connect(server.local_addr()).await;
    assert!(echo(&mut client, "first").await > 0);
    // Idle for longer than the deadline: nothing is being assembled.
    tokio::time::sleep(Duration::from_millis(600)).await;
    // A fragmented message whose fragments come in time is served.
    let request = echo_request("second");
    let (head, tail) = request.split_at(10);
    client.send(TEXT, head).await;
    client.send(FIN | CONTINUATION, tail).await;
    let reply = client.read_frame().await.expect("a reply");
    assert!(String::from_utf8(reply.payload).unwrap().contains("second"));
    server.stop().await;
}

#[tokio::test]
async fn the_client_closes_an_unfinished_message_from_the_server_with_1008() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let config = WsConfig::default()
        .keepalive(None, Duration::ZERO)
        .message_timeout(Some(Duration::from_millis(300)));
    let connecting = tokio::spawn(async move { duplexrpc_ws::connect_with_config(&url, config).await.unwrap() });
    let mut server = Raw::accept(&listener).await;
    let peer = connecting.await.unwrap().start();
    server.send(TEXT, b"[").await;
    assert_eq!(server.read_close().await.close().0, 1008);
    peer.finished().await;
}
