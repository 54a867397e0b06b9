//! `bench scale-server`: ours (`duplexrpc_ws::Server`, every connection in a
//! `duplexrpc_cluster::Registry`) or the hand-rolled tokio-tungstenite loop
//! (a `tokio::sync::broadcast` fan-out), driven by lines on stdin.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use duplexrpc_cluster::Registry;
use duplexrpc_core::{Notification, Peer, RpcError};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::net::TcpStream;
use tokio::sync::broadcast;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use super::{FD_MARGIN, HAND, OURS, OURS_NO_REGISTRY, now_ns, raise_fd_limit, say, stdin_lines};
use crate::Args;
use crate::common::runtime;
use crate::systems::ours::Adder;

/// Counts the connections set up and says `ACCEPTED` once all are.
struct Tally {
    n: AtomicUsize,
    target: usize,
    first: OnceLock<Instant>,
}

impl Tally {
    fn accepted(&self) {
        let first = *self.first.get_or_init(Instant::now);
        if self.n.fetch_add(1, Relaxed) + 1 == self.target {
            say(
                "ACCEPTED",
                json!({"n": self.target, "secs": first.elapsed().as_secs_f64()}),
            );
        }
    }
}

/// The `add` method our server serves (the `Adder` API of the benchmark).
struct Calc;

impl Adder for Calc {
    async fn add(&self, a: i64, b: i64) -> Result<i64, RpcError> {
        Ok(a.wrapping_add(b))
    }
    async fn echo(&self, s: String) -> Result<String, RpcError> {
        Ok(s)
    }
}

/// How a server sends one notification to every connection.
enum Fanout {
    /// Ours: the registry every connection was added to (the handle keeps the server running).
    Ours(Registry, #[allow(dead_code)] duplexrpc_ws::ServerHandle),
    /// `ours-no-registry`, a diagnostic (what the registry costs): ours with
    /// the peers in a `Vec` instead, never removed.
    Peers(Arc<Mutex<Vec<Peer>>>, #[allow(dead_code)] duplexrpc_ws::ServerHandle),
    /// Hand-rolled: every connection task holds a receiver.
    Hand(broadcast::Sender<Utf8Bytes>),
}

impl Fanout {
    /// Sends `n` to every connection; returns how many it was queued for.
    async fn send(&self, n: &Notification) -> usize {
        match self {
            Fanout::Ours(registry, _) => registry.notify_all(n).await.unwrap_or(0),
            Fanout::Peers(peers, _) => {
                let peers = peers.lock().unwrap().clone();
                let sends = peers.iter().map(|p| p.send_notification(n));
                futures_util::future::join_all(sends)
                    .await
                    .iter()
                    .filter(|r| r.is_ok())
                    .count()
            }
            Fanout::Hand(tx) => tx.send(Utf8Bytes::from(n.text().to_owned())).unwrap_or(0),
        }
    }
}

/// Our default server, `max_connections` raised to `conns`, every
/// connection in a registry (or, `registry` false, in a `Vec`).
fn serve_ours(listener: tokio::net::TcpListener, conns: usize, tally: Arc<Tally>, registry: bool) -> (Fanout, usize) {
    let max = conns.max(duplexrpc_ws::WsConfig::default().max_connections);
    let config = duplexrpc_ws::WsConfig::default().max_connections(max);
    let (reg, peers) = (Registry::new(), Arc::new(Mutex::new(vec![])));
    let (reg2, peers2) = (registry.then(|| reg.clone()), peers.clone());
    let handle = duplexrpc_ws::Server::from_listener(listener)
        .with_config(config)
        .serve(move |conn, _info| {
            match &reg2 {
                Some(reg) => drop(reg.add(conn.peer().clone())),
                None => peers2.lock().unwrap().push(conn.peer().clone()),
            }
            conn.register(Calc.into_methods())?;
            tally.accepted();
            Ok(())
        });
    let fanout = if registry {
        Fanout::Ours(reg, handle)
    } else {
        Fanout::Peers(peers, handle)
    };
    (fanout, max)
}

/// The hand-rolled server's tungstenite config: the read buffer of ours
/// (tungstenite's default 128 KiB would take 13 GiB at 100,000 connections).
fn hand_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(duplexrpc_ws::WsConfig::default().read_buffer_size)
}

/// The hand-rolled server: accept, handshake, one task per connection
/// answering `add` and forwarding broadcasts (serialized once).
fn serve_hand(listener: tokio::net::TcpListener, tally: Arc<Tally>) -> Fanout {
    let (tx, _) = broadcast::channel::<Utf8Bytes>(16);
    let fan = tx.clone();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let (rx, tally) = (tx.subscribe(), tally.clone());
            tokio::spawn(async move {
                let _ = sock.set_nodelay(true);
                if let Ok(ws) = tokio_tungstenite::accept_async_with_config(sock, Some(hand_config())).await {
                    tally.accepted();
                    let _ = hand_conn(ws, rx).await;
                }
            });
        }
    });
    Fanout::Hand(fan)
}

async fn hand_conn(mut ws: WebSocketStream<TcpStream>, mut rx: broadcast::Receiver<Utf8Bytes>) -> anyhow::Result<()> {
    loop {
        tokio::select! {
            m = ws.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    if let Some(reply) = crate::systems::rawrpc::handle(&t) {
                        ws.send(Message::text(reply)).await?;
                    }
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => return Ok(()),
                Some(Ok(_)) => {}
            },
            b = rx.recv() => match b {
                Ok(text) => ws.send(Message::Text(text)).await?,
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
        }
    }
}

/// `scale-server --system ours|tungstenite-hand-rolled --addr A --conns N`:
/// says `LISTENING`, `ACCEPTED` when N connections are set up, and
/// `BROADCAST` after each `broadcast` line on stdin.
pub(super) fn server_cmd(args: &Args) -> anyhow::Result<()> {
    let conns: usize = args.num("conns", 100_000);
    let fd_limit = raise_fd_limit(conns as u64 + FD_MARGIN)?;
    let system = args.req("system")?.to_string();
    let addr: SocketAddr = args.req("addr")?.parse()?;
    runtime(None).block_on(async move {
        let listener = crate::systems::ws::listen(addr)?;
        let tally = Arc::new(Tally {
            n: AtomicUsize::new(0),
            target: conns,
            first: OnceLock::new(),
        });
        let (fanout, max_connections) = match system.as_str() {
            OURS => serve_ours(listener, conns, tally, true),
            OURS_NO_REGISTRY => serve_ours(listener, conns, tally, false),
            HAND => (serve_hand(listener, tally), 0),
            s => anyhow::bail!("scale-server: unknown system {s:?} ({OURS}, {HAND})"),
        };
        say(
            "LISTENING",
            json!({"fd_limit": fd_limit, "max_connections": max_connections}),
        );
        let mut cmds = stdin_lines();
        while let Some(cmd) = cmds.recv().await {
            match cmd.trim() {
                "broadcast" => {
                    let stamp = now_ns();
                    let t = Instant::now();
                    let n = fanout.send(&Notification::new("tick", [stamp])?).await;
                    say("BROADCAST", json!({"queued": n, "secs": t.elapsed().as_secs_f64()}));
                }
                "trim" => say("TRIMMED", json!({"released": malloc_trim()})),
                _ => {}
            }
        }
        Ok(())
    })
}

/// glibc's `malloc_trim(0)`: hands freed heap pages back to the kernel, so
/// that the RSS read next counts live allocations only (not memory the
/// allocator keeps after a burst). Whether any memory was released.
#[allow(unsafe_code)] // one libc call, no pointers
fn malloc_trim() -> bool {
    unsafe { libc::malloc_trim(0) == 1 }
}
