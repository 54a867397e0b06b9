//! What the resumable-session tests share: a server with sessions on (a
//! registry, one group, services that answer slowly, call back, stream and
//! record), a resumable client with fast backoff and short keepalives, and
//! the event log.

#![allow(dead_code)] // each test file uses part of it

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use duplexrpc_cluster::{ConnectionId, Registry};
use duplexrpc_core::session::SessionConfig;
use duplexrpc_core::{Methods, Peer, RpcError, RpcStream, rpc};
use duplexrpc_ws::{
    Backoff, ClientBuilder, ConnectionEvent, Reconnect, ReconnectingClient, Server, ServerHandle, WsConfig,
};
use tokio::sync::mpsc;

/// Served by the server.
#[rpc]
pub trait Hub {
    /// `x`, after `ms`.
    async fn slow_echo(&self, x: u64, ms: u64) -> Result<u64, RpcError>;
    /// Asks the caller to double `x` (it answers after `ms`); returns that
    /// plus one: a callback nested in this call.
    async fn nested(&self, x: u64, ms: u64) -> Result<u64, RpcError>;
    /// `0..n`, one item every `ms`.
    async fn count(&self, n: u64, ms: u64) -> Result<RpcStream<u64>, RpcError>;
    /// Records `n` (the client sends 0, 1, 2, ...).
    #[notification]
    async fn record(&self, n: u64);
    /// What `record` got so far, in order.
    async fn recorded(&self) -> Result<Vec<u64>, RpcError>;
}

/// Served by every client.
#[rpc]
pub trait Phone {
    /// `2 x`.
    async fn double(&self, x: u64) -> Result<u64, RpcError>;
    /// `2 x`, after `ms`.
    async fn slow_double(&self, x: u64, ms: u64) -> Result<u64, RpcError>;
    /// A numbered notification from the server (0, 1, 2, ...).
    #[notification]
    async fn tick(&self, n: u64);
}

/// The group every connection joins.
pub const GROUP: &str = "all";

struct HubService {
    phone: PhoneClient,
    recorded: Arc<Mutex<Vec<u64>>>,
}

impl Hub for HubService {
    async fn slow_echo(&self, x: u64, ms: u64) -> Result<u64, RpcError> {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(x)
    }

    async fn nested(&self, x: u64, ms: u64) -> Result<u64, RpcError> {
        Ok(self.phone.slow_double(x, ms).await? + 1)
    }

    async fn count(&self, n: u64, ms: u64) -> Result<RpcStream<u64>, RpcError> {
        let items = futures::stream::unfold(0, move |i| async move {
            if i == n {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Some((Ok(i), i + 1))
        });
        Ok(RpcStream::new(items))
    }

    async fn record(&self, n: u64) {
        self.recorded.lock().unwrap().push(n);
    }

    async fn recorded(&self) -> Result<Vec<u64>, RpcError> {
        Ok(self.recorded.lock().unwrap().clone())
    }
}

/// The server's methods for the connection of `peer`.
pub fn hub(peer: Peer) -> Methods {
    let service = HubService {
        phone: PhoneClient::new(peer),
        recorded: Arc::default(),
    };
    service.into_methods()
}

/// A connection as the server set it up: its registry id and a stub for
/// calling its client.
pub struct Accepted {
    pub id: ConnectionId,
    pub phone: PhoneClient,
}

/// A server with sessions on, its registry, and every connection it sets
/// up (one per session: a resume sets nothing up).
pub struct TestServer {
    pub handle: ServerHandle,
    pub registry: Registry,
    pub accepted: mpsc::UnboundedReceiver<Accepted>,
}

/// Keepalive settings short enough for a freeze to be noticed in well
/// under a second (ping every 100 ms, dead after 400 ms of silence).
pub fn short_keepalive(config: WsConfig) -> WsConfig {
    config.keepalive(Some(Duration::from_millis(100)), Duration::from_millis(300))
}

/// A server on `addr` with `sessions`, short keepalives and a short
/// shutdown grace.
pub async fn serve(addr: SocketAddr, sessions: SessionConfig) -> TestServer {
    serve_with(addr, short_keepalive(WsConfig::default()), sessions).await
}

/// A server on `addr` with `config`, `sessions` and a short shutdown grace.
pub async fn serve_with(addr: SocketAddr, config: WsConfig, sessions: SessionConfig) -> TestServer {
    let config = config
        .shutdown_grace(Duration::from_millis(100))
        .sessions(Some(sessions));
    let registry = Registry::new();
    let (tx, accepted) = mpsc::unbounded_channel();
    let reg = registry.clone();
    let handle = Server::bind(addr)
        .await
        .expect("bind")
        .with_config(config)
        .serve(move |conn, _info| {
            let peer = conn.peer().clone();
            let id = reg.add(peer.clone());
            reg.join(id, GROUP);
            let phone = PhoneClient::new(peer.clone());
            let _ = tx.send(Accepted { id, phone });
            conn.register(hub(peer))?;
            Ok(())
        });
    TestServer {
        handle,
        registry,
        accepted,
    }
}

impl TestServer {
    /// The next connection the server set up (within 10 s).
    pub async fn next_accepted(&mut self) -> Accepted {
        tokio::time::timeout(Duration::from_secs(10), self.accepted.recv())
            .await
            .expect("a connection within 10 s")
            .expect("server running")
    }
}

/// What a client's `tick` handler received, in order.
#[derive(Clone, Default)]
pub struct Ticks(pub Arc<Mutex<Vec<u64>>>);

struct PhoneService {
    ticks: Ticks,
}

impl Phone for PhoneService {
    async fn double(&self, x: u64) -> Result<u64, RpcError> {
        Ok(2 * x)
    }

    async fn slow_double(&self, x: u64, ms: u64) -> Result<u64, RpcError> {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(2 * x)
    }

    async fn tick(&self, n: u64) {
        self.ticks.0.lock().unwrap().push(n);
    }
}

/// Fast retries: 10 ms, up to 100 ms.
pub fn fast() -> Backoff {
    Backoff::default()
        .delays(Duration::from_millis(10), Duration::from_millis(100))
        .jitter(0.2)
}

/// A resumable client of `url`, with short keepalives and a 1 s handshake
/// timeout (a dial into a frozen proxy gives up quickly); its events go to
/// the returned receiver, its ticks to the returned [`Ticks`].
pub async fn client(url: &str) -> (ReconnectingClient, mpsc::UnboundedReceiver<ConnectionEvent>, Ticks) {
    let config = short_keepalive(WsConfig::default()).handshake_timeout(Duration::from_secs(1));
    client_with(url, config).await
}

/// A resumable client of `url` with `config`; see [`client`].
pub async fn client_with(
    url: &str,
    config: WsConfig,
) -> (ReconnectingClient, mpsc::UnboundedReceiver<ConnectionEvent>, Ticks) {
    let (tx, events) = mpsc::unbounded_channel();
    let ticks = Ticks::default();
    let mine = ticks.clone();
    let client = Reconnect::with_builder(ClientBuilder::new(url).config(config))
        .resumable(true)
        .backoff(fast())
        .on_event(move |e| {
            let _ = tx.send(e.clone());
        })
        .connect(move |conn| {
            conn.register(PhoneService { ticks: mine.clone() }.into_methods())?;
            Ok(())
        })
        .await
        .expect("connect");
    (client, events, ticks)
}

/// The next event (within 10 s).
pub async fn next_event(events: &mut mpsc::UnboundedReceiver<ConnectionEvent>) -> ConnectionEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event within 10 s")
        .expect("events open")
}

/// Waits for an event that `matches` (within 10 s), returning it and the
/// ones before it.
pub async fn wait_for(
    events: &mut mpsc::UnboundedReceiver<ConnectionEvent>,
    matches: impl Fn(&ConnectionEvent) -> bool,
) -> (ConnectionEvent, Vec<ConnectionEvent>) {
    let mut before = Vec::new();
    loop {
        let event = next_event(events).await;
        if matches(&event) {
            return (event, before);
        }
        before.push(event);
    }
}

/// Waits until `f` holds (checked every 10 ms, for at most 10 s).
pub async fn eventually(what: &str, f: impl Fn() -> bool) {
    let waited = tokio::time::timeout(Duration::from_secs(10), async {
        while !f() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "not within 10 s: {what}");
}
