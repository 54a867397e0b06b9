//! Plain HTTP to the standalone server: 426 Upgrade Required (with
//! `Upgrade: websocket`) instead of an empty reply, and an optional health
//! path answering 200, so a load balancer's health check passes.

mod common;

use std::time::Duration;

use common::{bare_server, connect_and_close};
use duplexrpc_ws::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BOUND: Duration = Duration::from_secs(10);

/// Sends `request` (raw HTTP/1.1) and reads the whole response (the request
/// asks the server to close the connection after it).
async fn http(addr: std::net::SocketAddr, request: &str) -> String {
    tokio::time::timeout(BOUND, async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        String::from_utf8(response).unwrap()
    })
    .await
    .expect("the server answers and closes")
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
}

fn status_line(response: &str) -> &str {
    response.lines().next().unwrap_or("")
}

fn has_header(response: &str, name: &str, value: &str) -> bool {
    let head = response.split("\r\n\r\n").next().unwrap_or("");
    head.lines().skip(1).any(|line| {
        line.split_once(':')
            .is_some_and(|(n, v)| n.trim().eq_ignore_ascii_case(name) && v.trim().eq_ignore_ascii_case(value))
    })
}

#[tokio::test]
async fn a_plain_get_gets_426_upgrade_required_with_upgrade_websocket() {
    let server = bare_server().await;
    let response = http(server.local_addr(), &get("/")).await;
    assert_eq!(status_line(&response), "HTTP/1.1 426 Upgrade Required", "{response}");
    assert!(has_header(&response, "upgrade", "websocket"), "{response}");
    // Without a health path, /health is no different.
    let response = http(server.local_addr(), &get("/health")).await;
    assert_eq!(status_line(&response), "HTTP/1.1 426 Upgrade Required", "{response}");
    // The server still upgrades WebSocket clients.
    connect_and_close(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn the_health_path_answers_200() {
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .health_path("/health")
        .serve(|_conn, _info| Ok(()));
    let response = http(server.local_addr(), &get("/health")).await;
    assert_eq!(status_line(&response), "HTTP/1.1 200 OK", "{response}");
    assert!(response.ends_with("\r\n\r\nok\n"), "{response}");
    let response = http(server.local_addr(), &get("/other")).await;
    assert_eq!(status_line(&response), "HTTP/1.1 426 Upgrade Required", "{response}");
    server.stop().await;
}

#[tokio::test]
async fn an_upgrade_of_another_websocket_version_gets_426_naming_13() {
    let server = bare_server().await;
    let request = "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n";
    let response = http(server.local_addr(), request).await;
    assert_eq!(status_line(&response), "HTTP/1.1 426 Upgrade Required", "{response}");
    assert!(has_header(&response, "sec-websocket-version", "13"), "{response}");
    server.stop().await;
}

#[tokio::test]
async fn a_request_head_over_16_kib_gets_431_instead_of_being_buffered() {
    let server = bare_server().await;
    // An unfinished head: without a bound the server would wait for more.
    let request = format!(
        "GET / HTTP/1.1\r\nHost: localhost\r\nX-Padding: {}\r\n",
        "a".repeat(20 << 10)
    );
    let response = http(server.local_addr(), &request).await;
    assert_eq!(
        status_line(&response),
        "HTTP/1.1 431 Request Header Fields Too Large",
        "{response}"
    );
    server.stop().await;
}
