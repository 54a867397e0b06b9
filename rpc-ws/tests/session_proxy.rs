//! The test proxy itself: it forwards, a cut closes both sides, a freeze
//! holds every byte without closing, a heal lets them through.

#[path = "common/proxy.rs"]
mod proxy;

use std::time::Duration;

use proxy::Proxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A TCP echo server; its task ends with the test's runtime.
async fn echo_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n @ 1..) = socket.read(&mut buf).await {
                    if socket.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

async fn round_trip(socket: &mut TcpStream, text: &[u8]) -> Vec<u8> {
    socket.write_all(text).await.unwrap();
    let mut got = vec![0u8; text.len()];
    tokio::time::timeout(Duration::from_secs(5), socket.read_exact(&mut got))
        .await
        .expect("echoed within 5 s")
        .unwrap();
    got
}

#[tokio::test]
async fn forwards_cuts_freezes_and_heals() {
    let proxy = Proxy::start(echo_server().await).await;
    let mut a = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(round_trip(&mut a, b"hello").await, b"hello");
    assert_eq!(proxy.accepted(), 1);

    // A cut: the client reads the end of the stream.
    proxy.cut();
    let mut buf = [0u8; 8];
    let n = tokio::time::timeout(Duration::from_secs(5), a.read(&mut buf))
        .await
        .expect("EOF within 5 s");
    assert_eq!(n.unwrap(), 0, "a cut closes the client's side");

    // New connections are forwarded after a cut.
    let mut b = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(round_trip(&mut b, b"again").await, b"again");
    assert_eq!(proxy.accepted(), 2);

    // A freeze: the bytes are held, nothing is closed.
    proxy.freeze();
    b.write_all(b"held").await.unwrap();
    let silent = tokio::time::timeout(Duration::from_millis(300), b.read(&mut buf)).await;
    assert!(silent.is_err(), "nothing comes back while frozen: {silent:?}");
    proxy.heal();
    let mut got = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(5), b.read_exact(&mut got))
        .await
        .expect("the held bytes arrive after the heal")
        .unwrap();
    assert_eq!(&got, b"held");
    assert_eq!(proxy.open(), 1, "the first connection was cut, the second is open");
}
