//! Opening a connection to a server.

use rpc_core::{Methods, Peer, PeerBuilder, RegisterError};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::config::WsConfig;
use crate::error::ConnectError;
use crate::transport::{WsReceiver, WsSender, split};

/// An open connection whose services are being registered. Call
/// [`Connection::start`] to begin serving and calling.
#[derive(Debug)]
pub struct Connection {
    builder: PeerBuilder,
    sender: WsSender<TcpStream>,
    receiver: WsReceiver<TcpStream>,
}

impl Connection {
    /// The handle for this connection (usable once started).
    pub fn peer(&self) -> &Peer {
        self.builder.peer()
    }

    /// Registers a service the server may call; fails if a name is taken.
    pub fn register(&mut self, methods: Methods) -> Result<&mut Self, RegisterError> {
        self.builder.register(methods)?;
        Ok(self)
    }

    /// Starts serving and calling; returns the peer handle.
    pub fn start(self) -> Peer {
        self.builder.start(self.sender, self.receiver)
    }
}

/// Connects to a `ws://` URL with the default [`WsConfig`].
pub async fn connect(url: &str) -> Result<Connection, ConnectError> {
    connect_with_config(url, WsConfig::default()).await
}

/// Connects to a `ws://` URL.
pub async fn connect_with_config(url: &str, config: WsConfig) -> Result<Connection, ConnectError> {
    let invalid = |reason: &str| ConnectError::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let request = url.into_client_request().map_err(|e| invalid(&e.to_string()))?;
    if request.uri().scheme_str() != Some("ws") {
        return Err(invalid("only ws:// URLs are supported"));
    }
    let host = request.uri().host().ok_or_else(|| invalid("no host"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
    let port = request.uri().port_u16().unwrap_or(80);
    let stream = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|source| ConnectError::Io {
            addr: format!("{host}:{port}"),
            source,
        })?;
    let _ = stream.set_nodelay(true);
    let (ws, _response) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(config.websocket())).await?;
    let (sender, receiver) = split(ws);
    Ok(Connection {
        builder: PeerBuilder::with_config(config.peer),
        sender,
        receiver,
    })
}
