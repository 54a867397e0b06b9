//! `bench scale-client`: light tokio-tungstenite connections, each bound to
//! a source address before connecting, driven by lines on stdin.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::{FD_MARGIN, PER_ADDR, now_ns, raise_fd_limit, say, stdin_lines};
use crate::Args;
use crate::common::{rss_kib, runtime};

/// What a client process's connections have done.
#[derive(Default)]
struct Stats {
    connected: AtomicUsize,
    /// Connections that never opened (retries exhausted).
    failed: AtomicUsize,
    /// Connections that ended after opening.
    lost: AtomicUsize,
    retries: AtomicUsize,
    called: AtomicUsize,
    /// Receipt latency of the broadcast, ns, one per connection that got it.
    ticks: Mutex<Vec<u64>>,
    first_error: Mutex<Option<String>>,
}

impl Stats {
    fn alive(&self) -> usize {
        self.connected.load(Relaxed) - self.lost.load(Relaxed)
    }

    fn on_text(&self, text: &str) {
        let Ok(v) = serde_json::from_str::<Value>(text) else {
            return;
        };
        if v["method"] == "tick" {
            let stamp = v["params"][0].as_u64().unwrap_or(0);
            self.ticks.lock().unwrap().push(now_ns().saturating_sub(stamp));
        } else if v["result"] == 3 {
            self.called.fetch_add(1, Relaxed);
        }
    }
}

/// The request every connection makes once.
const CALL_FRAME: &str = r#"{"jsonrpc":"2.0","id":1,"method":"add","params":[1,2]}"#;

/// Phase of a client process, told to every connection.
const CALL: u8 = 1;

/// The client side's tungstenite config: small buffers, this is 100,000 connections.
fn client_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0)
}

async fn handshake(server: SocketAddr, src: Ipv4Addr, url: &str) -> anyhow::Result<WebSocketStream<TcpStream>> {
    let sock = TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(src.into(), 0))?;
    let tcp = sock.connect(server).await?;
    tcp.set_nodelay(true)?;
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, tcp, Some(client_config())).await?;
    Ok(ws)
}

/// One connection opened with at most `sem`'s permits of handshakes in
/// flight, retried (with a growing pause) up to 20 times.
async fn open(
    server: SocketAddr,
    src: Ipv4Addr,
    url: &str,
    sem: &Semaphore,
    st: &Stats,
) -> anyhow::Result<WebSocketStream<TcpStream>> {
    let mut attempt = 0u64;
    loop {
        let tried = {
            let _permit = sem.acquire().await?;
            tokio::time::timeout(Duration::from_secs(20), handshake(server, src, url)).await
        };
        let err = match tried {
            Ok(Ok(ws)) => return Ok(ws),
            Ok(Err(e)) => e,
            Err(_) => anyhow::anyhow!("handshake took over 20 s"),
        };
        st.first_error
            .lock()
            .unwrap()
            .get_or_insert_with(|| format!("{src}: {err:#}"));
        attempt += 1;
        anyhow::ensure!(attempt <= 20, "{src}: {err:#}");
        st.retries.fetch_add(1, Relaxed);
        tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
    }
}

/// One client connection: open, then read (answering pings) until it ends;
/// sends the call when the phase says so.
async fn conn_task(
    server: SocketAddr,
    src: Ipv4Addr,
    url: Arc<str>,
    sem: Arc<Semaphore>,
    st: Arc<Stats>,
    mut phase: watch::Receiver<u8>,
) {
    let Ok(mut ws) = open(server, src, &url, &sem, &st).await else {
        st.failed.fetch_add(1, Relaxed);
        return;
    };
    drop((url, sem));
    st.connected.fetch_add(1, Relaxed);
    let mut sent = false;
    loop {
        tokio::select! {
            m = ws.next() => match m {
                Some(Ok(Message::Text(t))) => st.on_text(&t),
                Some(Ok(_)) => {}
                _ => break,
            },
            r = phase.changed(), if !sent => {
                if r.is_err() {
                    break;
                }
                if *phase.borrow_and_update() == CALL {
                    sent = true;
                    if ws.send(Message::text(CALL_FRAME)).await.is_err() {
                        break;
                    }
                }
            }
        }
    }
    st.lost.fetch_add(1, Relaxed);
}

/// Waits (polling) until `done()`; false if `limit` passed first.
async fn until(limit: Duration, done: impl Fn() -> bool) -> bool {
    let t = Instant::now();
    while !done() {
        if t.elapsed() > limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    true
}

/// Receipt latencies in ms: p50 and max of this process's connections.
fn tick_report(st: &Stats) -> Value {
    let mut lat = st.ticks.lock().unwrap().clone();
    lat.sort_unstable();
    let q = |f: f64| {
        lat.get(((lat.len() as f64 - 1.0) * f).round() as usize)
            .map(|&ns| ns as f64 / 1e6)
    };
    json!({"n": lat.len(), "p50_ms": q(0.5), "p99_ms": q(0.99), "max_ms": q(1.0)})
}

/// Says `GOT` once every live connection got the broadcast, or 60 s after the first did.
async fn report_ticks(st: Arc<Stats>) {
    until(Duration::MAX, || !st.ticks.lock().unwrap().is_empty()).await;
    until(Duration::from_secs(60), || st.ticks.lock().unwrap().len() >= st.alive()).await;
    say("GOT", tick_report(&st));
}

/// `scale-client --server A --conns C --src 127.0.R.S [--per-addr 20000] [--parallel 128]`:
/// says `CONNECTED` when all C are open (or given up), then obeys stdin:
/// `call` (one `add` per connection, says `CALLED`; then `GOT` after the broadcast).
pub(super) fn client_cmd(args: &Args) -> anyhow::Result<()> {
    let conns: usize = args.num("conns", 25_000);
    raise_fd_limit(conns as u64 + FD_MARGIN)?;
    let server: SocketAddr = args.req("server")?.parse()?;
    let first: Ipv4Addr = args.req("src")?.parse()?;
    let per_addr: usize = args.num("per-addr", PER_ADDR);
    let parallel: usize = args.num("parallel", 128);
    runtime(Some(1)).block_on(async move {
        let st = Arc::new(Stats::default());
        let (phase_tx, phase_rx) = watch::channel(0u8);
        let (sem, url) = (Arc::new(Semaphore::new(parallel)), Arc::<str>::from(format!("ws://{server}/")));
        let t = Instant::now();
        for i in 0..conns {
            let src = Ipv4Addr::from(u32::from(first) + (i / per_addr) as u32);
            let task = conn_task(server, src, url.clone(), sem.clone(), st.clone(), phase_rx.clone());
            tokio::spawn(task);
        }
        drop((phase_rx, sem, url));
        until(Duration::MAX, || st.connected.load(Relaxed) + st.failed.load(Relaxed) >= conns).await;
        say(
            "CONNECTED",
            json!({"n": st.connected.load(Relaxed), "failed": st.failed.load(Relaxed),
                   "retries": st.retries.load(Relaxed), "secs": t.elapsed().as_secs_f64(),
                   "first_error": *st.first_error.lock().unwrap(), "rss_kib": rss_kib(std::process::id())}),
        );
        let mut cmds = stdin_lines();
        while let Some(cmd) = cmds.recv().await {
            if cmd.trim() == "call" {
                let t = Instant::now();
                phase_tx.send(CALL)?;
                until(Duration::from_secs(300), || st.called.load(Relaxed) >= st.alive()).await;
                say(
                    "CALLED",
                    json!({"n": st.called.load(Relaxed), "lost": st.lost.load(Relaxed), "secs": t.elapsed().as_secs_f64()}),
                );
                tokio::spawn(report_ticks(st.clone()));
            }
        }
        Ok(())
    })
}
