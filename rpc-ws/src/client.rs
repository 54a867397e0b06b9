//! Opening a connection to a server.

#[cfg(feature = "tls")]
use std::sync::Arc;

use duplexrpc_core::middleware::Middleware;
use duplexrpc_core::session::SUBPROTOCOL;
use duplexrpc_core::transport::Transport;
use duplexrpc_core::{Methods, Peer, PeerBuilder, RegisterError};
use tokio::net::TcpStream;
use tokio_tungstenite::MaybeTlsStream;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::{ProtocolError, SubProtocolError};
use tokio_tungstenite::tungstenite::http::{HeaderMap, HeaderName, HeaderValue, header};
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::config::WsConfig;
use crate::error::ConnectError;
use crate::status::ConnectionStatus;
use crate::transport::{Watched, WsTransport};

/// The stream under a client connection: plain TCP, or TLS for `wss://`,
/// with its WebSocket frames followed (message deadline, buffer shrinking).
type Stream = Watched<MaybeTlsStream<TcpStream>>;

/// A client's WebSocket connection, as the peer or a session runs on it.
pub(crate) type ClientTransport = WsTransport<Stream>;

/// An open connection whose services are being registered. Call
/// [`Connection::start`] to begin serving and calling.
#[derive(Debug)]
pub struct Connection {
    builder: PeerBuilder,
    status: ConnectionStatus,
    link: Link,
}

/// What a connection's peer runs on: the WebSocket itself, or another
/// transport (a resumable session over it), started by the boxed function.
/// The plain one is not boxed: a `Connection` lives only until `start`
/// moves it into the peer's task.
#[allow(clippy::large_enum_variant)]
enum Link {
    Plain(ClientTransport),
    Other(Box<dyn FnOnce(PeerBuilder) -> Peer + Send>),
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Link::Plain(transport) => f.debug_tuple("Plain").field(transport).finish(),
            Link::Other(_) => f.write_str("Other"),
        }
    }
}

impl Connection {
    pub(crate) fn plain(config: &WsConfig, transport: ClientTransport) -> Self {
        Connection {
            builder: PeerBuilder::with_config(config.peer.clone()),
            status: transport.status(),
            link: Link::Plain(transport),
        }
    }

    /// A connection whose peer runs on `transport` (a session; the status
    /// of its first WebSocket is `status`).
    pub(crate) fn over<T: Transport>(config: &WsConfig, status: ConnectionStatus, transport: T) -> Self {
        Connection {
            builder: PeerBuilder::with_config(config.peer.clone()),
            status,
            link: Link::Other(Box::new(move |builder: PeerBuilder| builder.start_transport(transport))),
        }
    }

    /// The handle for this connection (usable once started).
    pub fn peer(&self) -> &Peer {
        self.builder.peer()
    }

    /// Registers a service the server may call; fails if a name is taken.
    pub fn register(&mut self, methods: Methods) -> Result<&mut Self, RegisterError> {
        self.builder.register(methods)?;
        Ok(self)
    }

    /// Wraps every call the server makes on this connection (see
    /// [`duplexrpc_core::middleware`]); several run in the order added.
    pub fn middleware(&mut self, middleware: impl Middleware) -> &mut Self {
        self.builder.middleware(middleware);
        self
    }

    /// Tells, once the connection has ended, how: a clean close by the
    /// server (e.g. [`crate::Disconnect::is_going_away`] when it shuts down)
    /// or a failure. Take it before [`Connection::start`].
    pub fn status(&self) -> ConnectionStatus {
        self.status.clone()
    }

    /// Starts serving and calling; returns the peer handle.
    pub fn start(self) -> Peer {
        match self.link {
            Link::Plain(transport) => self.builder.start_transport(transport),
            Link::Other(start) => start(self.builder),
        }
    }
}

/// Connects to a `ws://` (or, with the `tls` feature, `wss://`) URL with the
/// default [`WsConfig`].
pub async fn connect(url: &str) -> Result<Connection, ConnectError> {
    ClientBuilder::new(url).connect().await
}

/// Connects to a `ws://` (or `wss://`) URL with `config`.
pub async fn connect_with_config(url: &str, config: WsConfig) -> Result<Connection, ConnectError> {
    ClientBuilder::new(url).config(config).connect().await
}

/// Options of a connection to open: request headers, configuration, TLS.
///
/// ```no_run
/// # async fn f() -> Result<(), duplexrpc_ws::ConnectError> {
/// let peer = duplexrpc_ws::ClientBuilder::new("ws://127.0.0.1:9000/rpc")
///     .header("authorization", "Bearer secret")
///     .connect()
///     .await?
///     .start();
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    url: String,
    headers: Vec<(String, String)>,
    config: WsConfig,
    #[cfg(feature = "tls")]
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl ClientBuilder {
    /// Options for connecting to `url` (`ws://` or, with the `tls` feature, `wss://`).
    pub fn new(url: impl Into<String>) -> Self {
        ClientBuilder {
            url: url.into(),
            headers: Vec::new(),
            config: WsConfig::default(),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Adds a header to the upgrade request (e.g. `Authorization`). An
    /// invalid name or value makes [`ClientBuilder::connect`] fail.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the configuration (limits, keepalive, peer settings).
    pub fn config(mut self, config: WsConfig) -> Self {
        self.config = config;
        self
    }

    /// The configuration connections will use.
    pub fn settings(&self) -> &WsConfig {
        &self.config
    }

    /// The URL this builder connects to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The rustls configuration for `wss://` (e.g. to trust a private CA).
    /// Without it, the Mozilla root certificates (webpki-roots) are trusted.
    #[cfg(feature = "tls")]
    pub fn tls_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// Opens the connection: TCP, TLS for `wss://`, then the WebSocket
    /// handshake, all within [`WsConfig::handshake_timeout`].
    pub async fn connect(self) -> Result<Connection, ConnectError> {
        let transport = self.within_timeout(self.dial(false)).await?.0;
        Ok(Connection::plain(&self.config, transport))
    }

    /// Runs `open` within [`WsConfig::handshake_timeout`].
    pub(crate) async fn within_timeout<T>(
        &self,
        open: impl std::future::Future<Output = Result<T, ConnectError>>,
    ) -> Result<T, ConnectError> {
        let limit = self.config.handshake_timeout;
        tokio::time::timeout(limit, open)
            .await
            .map_err(|_| ConnectError::Timeout {
                url: self.url.clone(),
                after: limit,
            })?
    }

    /// Opens a WebSocket, offering the session subprotocol if `offer`;
    /// true if the server selected it. A server that does not select it is
    /// dialed again without the offer (tungstenite fails an upgrade whose
    /// response selects none of the offered subprotocols).
    pub(crate) async fn dial(&self, offer: bool) -> Result<(ClientTransport, bool), ConnectError> {
        match self.open(offer).await {
            Err(ConnectError::Handshake(WsError::Protocol(ProtocolError::SecWebSocketSubProtocolError(
                SubProtocolError::NoSubProtocol,
            )))) if offer => Ok((self.open(false).await?.0, false)),
            opened => opened,
        }
    }

    /// The TLS handshake of a `wss://` connection, with the configured
    /// rustls client configuration or one trusting the Mozilla roots.
    #[cfg(feature = "tls")]
    async fn secure(&self, tcp: TcpStream, host: &str) -> Result<MaybeTlsStream<TcpStream>, ConnectError> {
        use tokio_tungstenite::tungstenite::{Error as WsError, error::TlsError};
        let config = self.tls.clone().unwrap_or_else(|| {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            Arc::new(
                rustls::ClientConfig::builder()
                    .with_root_certificates(roots)
                    .with_no_client_auth(),
            )
        });
        let name = rustls::pki_types::ServerName::try_from(host.to_owned())
            .map_err(|_| ConnectError::Handshake(WsError::Tls(TlsError::InvalidDnsName)))?;
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| ConnectError::Handshake(WsError::Io(e)))?;
        Ok(MaybeTlsStream::Rustls(tls))
    }

    async fn open(&self, offer: bool) -> Result<(ClientTransport, bool), ConnectError> {
        let url = self.url.as_str();
        let invalid = |reason: &str| ConnectError::InvalidUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let mut request = url.into_client_request().map_err(|e| invalid(&e.to_string()))?;
        let tls = match request.uri().scheme_str() {
            Some("ws") => false,
            Some("wss") if cfg!(feature = "tls") => true,
            Some("wss") => return Err(invalid("wss:// needs duplexrpc-ws's `tls` feature")),
            _ => return Err(invalid("only ws:// and wss:// URLs are supported")),
        };
        for (name, value) in &self.headers {
            let header = HeaderName::try_from(name.as_str())
                .ok()
                .zip(HeaderValue::try_from(value.as_str()).ok());
            let (name, value) = header.ok_or_else(|| ConnectError::InvalidHeader { name: name.clone() })?;
            request.headers_mut().append(name, value);
        }
        if offer {
            let protocol = HeaderValue::from_static(SUBPROTOCOL);
            request.headers_mut().insert(header::SEC_WEBSOCKET_PROTOCOL, protocol);
        }
        let host = request.uri().host().ok_or_else(|| invalid("no host"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        let port = request.uri().port_u16().unwrap_or(if tls { 443 } else { 80 });
        let stream = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|source| ConnectError::Io {
                addr: format!("{host}:{port}"),
                source,
            })?;
        let _ = stream.set_nodelay(true);
        #[cfg(feature = "tls")]
        let stream = match tls {
            true => self.secure(stream, &host).await?,
            false => MaybeTlsStream::Plain(stream),
        };
        #[cfg(not(feature = "tls"))]
        let stream = MaybeTlsStream::Plain(stream);
        let config = Some(self.config.websocket());
        let (ws, response) =
            tokio_tungstenite::client_async_with_config(request, Watched::before_handshake(stream), config)
                .await
                .map_err(ConnectError::from_ws)?;
        let selected = offer && selects_session(response.headers());
        Ok((WsTransport::watched(ws, Role::Client, &self.config), selected))
    }
}

/// Whether an upgrade's response (the 101) selected the session subprotocol.
fn selects_session(headers: &HeaderMap) -> bool {
    headers.get(header::SEC_WEBSOCKET_PROTOCOL).map(HeaderValue::as_bytes) == Some(SUBPROTOCOL.as_bytes())
}
