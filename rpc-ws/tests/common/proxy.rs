//! A TCP proxy the test controls, placed between a client and a server:
//! it forwards every connection until the test cuts them (a clean close,
//! FIN both ways) or freezes them (nothing forwarded either way, nothing
//! closed: what a dead Wi-Fi or a crashed NAT looks like).

#![allow(dead_code)] // each test file uses part of it

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// A proxy on `127.0.0.1:0` forwarding to one target. Dropping it closes
/// everything it holds.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
}

struct Shared {
    target: std::sync::Mutex<SocketAddr>,
    /// True while frozen: no byte is forwarded in either direction.
    frozen: watch::Sender<bool>,
    /// Bumped by every cut: the connections older than the new value close.
    cuts: watch::Sender<u64>,
    /// Connections accepted so far.
    accepted: AtomicUsize,
    /// Connections forwarding now.
    open: AtomicUsize,
}

impl Proxy {
    /// A proxy forwarding to `target`.
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            target: std::sync::Mutex::new(target),
            frozen: watch::channel(false).0,
            cuts: watch::channel(0).0,
            accepted: AtomicUsize::new(0),
            open: AtomicUsize::new(0),
        });
        let stop = CancellationToken::new();
        tokio::spawn(accept(listener, shared.clone(), stop.clone()));
        Proxy { addr, shared, stop }
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://{addr}/`.
    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// Forwards the connections accepted from now on to `target` (e.g. a
    /// server started again on another port).
    pub fn retarget(&self, target: SocketAddr) {
        *self.shared.target.lock().unwrap() = target;
    }

    /// Closes every open connection on both sides (FIN); new connections
    /// are forwarded as before.
    pub fn cut(&self) {
        self.shared.cuts.send_modify(|n| *n += 1);
    }

    /// Stops forwarding in both directions, on open and new connections,
    /// without closing anything: the ends see silence.
    pub fn freeze(&self) {
        self.shared.frozen.send_replace(true);
    }

    /// Forwards again (what was held during the freeze goes on).
    pub fn heal(&self) {
        self.shared.frozen.send_replace(false);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Connections forwarding now.
    pub fn open(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>, stop: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((client, _)) = accepted else { continue };
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        let target = *shared.target.lock().unwrap();
        tokio::spawn(forward(client, target, shared.clone(), stop.clone()));
    }
}

/// One connection: both directions until either ends, a cut, or the stop.
async fn forward(client: TcpStream, target: SocketAddr, shared: Arc<Shared>, stop: CancellationToken) {
    let generation = *shared.cuts.borrow();
    let Ok(server) = TcpStream::connect(target).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    shared.open.fetch_add(1, Ordering::SeqCst);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let mut cuts = shared.cuts.subscribe();
    let cut = async move {
        let _ = cuts.wait_for(|n| *n != generation).await;
    };
    tokio::select! {
        _ = pump(client_read, server_write, shared.frozen.subscribe()) => {}
        _ = pump(server_read, client_write, shared.frozen.subscribe()) => {}
        _ = cut => {}
        _ = stop.cancelled() => {}
    }
    // Both sockets are dropped here: each side sees a FIN.
    shared.open.fetch_sub(1, Ordering::SeqCst);
}

/// Copies `from` to `to`, holding what it read while frozen until healed.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut frozen: watch::Receiver<bool>) {
    let mut buf = vec![0u8; 16 << 10];
    loop {
        if frozen.wait_for(|f| !*f).await.is_err() {
            return;
        }
        let n = tokio::select! {
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            // Frozen while waiting for bytes: stop reading.
            _ = frozen.wait_for(|f| *f) => continue,
        };
        if frozen.wait_for(|f| !*f).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
