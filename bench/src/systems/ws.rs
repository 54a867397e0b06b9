//! Plain tokio-tungstenite helpers shared by the raw systems and the memory test.

use std::net::SocketAddr;

use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;

/// Loopback listener with a large accept backlog (for the 5,000-connection test).
pub fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let s = TcpSocket::new_v4()?;
    s.set_reuseaddr(true)?;
    s.bind(addr)?;
    s.listen(4096)
}

/// A tokio-tungstenite client connection with the default `WebSocketConfig`, TCP_NODELAY.
pub async fn connect(url: &str) -> anyhow::Result<WebSocketStream<TcpStream>> {
    let hostport = url.trim_start_matches("ws://").split('/').next().unwrap_or("");
    let sock = TcpStream::connect(hostport).await?;
    sock.set_nodelay(true)?;
    let (ws, _resp) = tokio_tungstenite::client_async(url, sock).await?;
    Ok(ws)
}
