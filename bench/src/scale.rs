//! `bench scale`: 100,000 connections on one server process (issue 16, item 3).
//!
//! For each server (ours: `duplexrpc_ws::Server` with a `duplexrpc_cluster::Registry`;
//! hand-rolled: a tokio-tungstenite accept loop with a `tokio::sync::broadcast`
//! fan-out) the orchestrator starts one server process and `--clients` client
//! processes, then runs four phases:
//!
//! 1. connect all `--connections` (time from the first accepted connection to the
//!    last, connections/s, server CPU per connection);
//! 2. idle: server RSS minus its RSS before any connection, per connection;
//! 3. one `add` call on every connection, then RSS per connection again;
//! 4. one broadcast (`notify_all`) of a `tick` notification whose params are
//!    the send time (ns since the epoch); every client connection stamps its
//!    receipt: time until every connection got it.
//!
//! Clients are light tokio-tungstenite connections, each socket bound to a
//! source address 127.0.R.2, 127.0.R.3, ... (at most [`PER_ADDR`] per address,
//! R = the run's index) before connecting, so no address runs out of
//! ephemeral ports (32768-60999). Every process raises its own fd limit
//! (soft and hard) to what it needs. Each client process keeps at most
//! `--parallel` handshakes in flight (the accept backlog is 4,096) and retries
//! a failed one.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use duplexrpc_cluster::Registry;
use duplexrpc_core::{Notification, RpcError};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Semaphore, broadcast, mpsc, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::Args;
use crate::chart::{Series, write_svg};
use crate::common::{cpu_seconds, peak_rss_kib, rss_kib, runtime};
use crate::orchestrate::{Proc, append, exe, free_port, fx, ratio, today};
use crate::systems::ours::Adder;

/// Our server.
const OURS: &str = "ours";
/// The hand-rolled tokio-tungstenite server.
const HAND: &str = "tungstenite-hand-rolled";
/// Client sockets per source address (each address has 28,232 ephemeral ports).
pub const PER_ADDR: usize = 20_000;
/// The request every connection makes once.
const CALL_FRAME: &str = r#"{"jsonrpc":"2.0","id":1,"method":"add","params":[1,2]}"#;

/// `bench scale`, `bench scale-server`, `bench scale-client`.
pub fn mode(mode: &str, args: &Args) -> anyhow::Result<()> {
    match mode {
        "scale-server" => server_cmd(args),
        "scale-client" => client_cmd(args),
        _ => scale_cmd(args),
    }
}

/// Raises RLIMIT_NOFILE (soft and hard; raising the hard limit needs root
/// or CAP_SYS_RESOURCE, up to `fs.nr_open`) to at least `want`.
fn raise_fd_limit(want: u64) -> anyhow::Result<u64> {
    let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE)?;
    if soft >= want {
        return Ok(soft);
    }
    rlimit::setrlimit(rlimit::Resource::NOFILE, want, want.max(hard))
        .with_context(|| format!("raising RLIMIT_NOFILE from {soft}/{hard} to {want} (needs root, want <= fs.nr_open)"))?;
    Ok(want)
}

/// Nanoseconds since the epoch (the broadcast's stamp: one clock for every process).
fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// Lines of this process's stdin, on a channel (a thread reads them).
fn stdin_lines() -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel(4);
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Prints `WORD {json}` on stdout: the orchestrator waits for such lines.
fn say(word: &str, v: Value) {
    println!("{word} {v}");
}

// ---------------------------------------------------------------- server

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
            say("ACCEPTED", json!({"n": self.target, "secs": first.elapsed().as_secs_f64()}));
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
    /// Hand-rolled: every connection task holds a receiver.
    Hand(broadcast::Sender<Utf8Bytes>),
}

impl Fanout {
    /// Sends `n` to every connection; returns how many it was queued for.
    async fn send(&self, n: &Notification) -> usize {
        match self {
            Fanout::Ours(registry, _) => registry.notify_all(n).await.unwrap_or(0),
            Fanout::Hand(tx) => tx.send(Utf8Bytes::from(n.text().to_owned())).unwrap_or(0),
        }
    }
}

/// Our default server, `max_connections` raised to `conns`, every connection in a registry.
fn serve_ours(listener: tokio::net::TcpListener, conns: usize, tally: Arc<Tally>) -> (Fanout, usize) {
    let max = conns.max(duplexrpc_ws::WsConfig::default().max_connections);
    let config = duplexrpc_ws::WsConfig::default().max_connections(max);
    let registry = Registry::new();
    let reg = registry.clone();
    let handle = duplexrpc_ws::Server::from_listener(listener)
        .with_config(config)
        .serve(move |conn, _info| {
            reg.add(conn.peer().clone());
            conn.register(Calc.into_methods())?;
            tally.accepted();
            Ok(())
        });
    (Fanout::Ours(registry, handle), max)
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
fn server_cmd(args: &Args) -> anyhow::Result<()> {
    let conns: usize = args.num("conns", 100_000);
    let fd_limit = raise_fd_limit(conns as u64 + 4096)?;
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
            OURS => serve_ours(listener, conns, tally),
            HAND => (serve_hand(listener, tally), 0),
            s => anyhow::bail!("scale-server: unknown system {s:?} ({OURS}, {HAND})"),
        };
        say("LISTENING", json!({"fd_limit": fd_limit, "max_connections": max_connections}));
        let mut cmds = stdin_lines();
        while let Some(cmd) = cmds.recv().await {
            if cmd.trim() == "broadcast" {
                let stamp = now_ns();
                let t = Instant::now();
                let n = fanout.send(&Notification::new("tick", [stamp])?).await;
                say("BROADCAST", json!({"queued": n, "secs": t.elapsed().as_secs_f64()}));
            }
        }
        Ok(())
    })
}

// ---------------------------------------------------------------- clients

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
        let Ok(v) = serde_json::from_str::<Value>(text) else { return };
        if v["method"] == "tick" {
            let stamp = v["params"][0].as_u64().unwrap_or(0);
            self.ticks.lock().unwrap().push(now_ns().saturating_sub(stamp));
        } else if v["result"] == 3 {
            self.called.fetch_add(1, Relaxed);
        }
    }
}

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
async fn open(server: SocketAddr, src: Ipv4Addr, url: &str, sem: &Semaphore, st: &Stats) -> anyhow::Result<WebSocketStream<TcpStream>> {
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
        st.first_error.lock().unwrap().get_or_insert_with(|| format!("{src}: {err:#}"));
        attempt += 1;
        anyhow::ensure!(attempt <= 20, "{src}: {err:#}");
        st.retries.fetch_add(1, Relaxed);
        tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
    }
}

/// One client connection: open, then read (answering pings) until it ends;
/// sends the call when the phase says so.
async fn conn_task(server: SocketAddr, src: Ipv4Addr, url: Arc<str>, sem: Arc<Semaphore>, st: Arc<Stats>, mut phase: watch::Receiver<u8>) {
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
    let q = |f: f64| lat.get(((lat.len() as f64 - 1.0) * f).round() as usize).map(|&ns| ns as f64 / 1e6);
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
fn client_cmd(args: &Args) -> anyhow::Result<()> {
    let conns: usize = args.num("conns", 25_000);
    raise_fd_limit(conns as u64 + 1024)?;
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

// ---------------------------------------------------------------- orchestrator

/// A process we started: its stdout lines on a channel, its stdin for commands.
struct Worker {
    proc: Proc,
    stdin: ChildStdin,
    lines: std::sync::mpsc::Receiver<String>,
    name: String,
}

impl Worker {
    fn spawn(name: String, args: &[String]) -> anyhow::Result<Worker> {
        let mut child = Command::new(exe())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let (stdin, stdout) = (child.stdin.take().expect("piped"), child.stdout.take().expect("piped"));
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Worker {
            proc: Proc(child),
            stdin,
            lines,
            name,
        })
    }

    fn send(&mut self, cmd: &str) -> anyhow::Result<()> {
        use std::io::Write;
        writeln!(self.stdin, "{cmd}")?;
        Ok(self.stdin.flush()?)
    }

    /// The JSON of the next `WORD {json}` line, within `limit`.
    fn expect(&self, word: &str, limit: Duration) -> anyhow::Result<Value> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .map_err(|_| anyhow::anyhow!("{}: no {word} within {limit:?}", self.name))?;
            match line.split_once(' ') {
                Some((w, rest)) if w == word => return Ok(serde_json::from_str(rest)?),
                _ => eprintln!("  {}: {line}", self.name),
            }
        }
    }
}

/// Options of a `bench scale` run.
struct ScaleCfg {
    conns: usize,
    clients: usize,
    parallel: usize,
    settle: Duration,
}

/// The client processes of run `run`: their share of the connections and
/// their first source address, 127.0.`run`.2 onwards.
fn start_clients(cfg: &ScaleCfg, server: SocketAddr, run: usize) -> anyhow::Result<Vec<Worker>> {
    let mut next_addr = u32::from(Ipv4Addr::new(127, 0, run as u8, 2));
    (0..cfg.clients)
        .map(|i| {
            let n = cfg.conns / cfg.clients + usize::from(i < cfg.conns % cfg.clients);
            let src = Ipv4Addr::from(next_addr);
            next_addr += n.div_ceil(PER_ADDR) as u32;
            let args: Vec<String> = [
                "scale-client", "--server", &server.to_string(), "--conns", &n.to_string(),
                "--src", &src.to_string(), "--parallel", &cfg.parallel.to_string(),
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            Worker::spawn(format!("client {i} ({n} from {src})"), &args)
        })
        .collect()
}

/// The server's RSS (KiB) after `settle`.
fn settled_rss(pid: u32, settle: Duration) -> Option<f64> {
    std::thread::sleep(settle);
    rss_kib(pid).map(|k| k as f64)
}

/// The JSON values of `key` in the lines of every client.
fn each(clients: &[Worker], word: &str, limit: Duration) -> anyhow::Result<Vec<Value>> {
    clients.iter().map(|c| c.expect(word, limit)).collect()
}

fn sum(vs: &[Value], k: &str) -> f64 {
    vs.iter().filter_map(|v| v[k].as_f64()).sum()
}

fn max(vs: &[Value], k: &str) -> Option<f64> {
    vs.iter().filter_map(|v| v[k].as_f64()).reduce(f64::max)
}

/// One server with `cfg.conns` connections through the four phases.
fn scale_once(system: &str, cfg: &ScaleCfg, run: usize) -> anyhow::Result<Value> {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse()?;
    let args: Vec<String> = ["scale-server", "--system", system, "--addr", &addr.to_string(), "--conns", &cfg.conns.to_string()]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut server = Worker::spawn(format!("server {system}"), &args)?;
    let listening = server.expect("LISTENING", Duration::from_secs(10))?;
    let pid = server.proc.pid();
    let before = settled_rss(pid, Duration::from_millis(500));
    let cpu0 = cpu_seconds(Some(pid));
    let mut clients = start_clients(cfg, addr, run)?;
    let accepted = server.expect("ACCEPTED", Duration::from_secs(60 + cfg.conns as u64 / 500))?;
    let cpu1 = cpu_seconds(Some(pid));
    let connected = each(&clients, "CONNECTED", Duration::from_secs(60))?;
    let idle = settled_rss(pid, cfg.settle);
    clients.iter_mut().try_for_each(|c| c.send("call"))?;
    let called = each(&clients, "CALLED", Duration::from_secs(330))?;
    let after_call = settled_rss(pid, cfg.settle);
    server.send("broadcast")?;
    let sent = server.expect("BROADCAST", Duration::from_secs(120))?;
    let got = each(&clients, "GOT", Duration::from_secs(120))?;
    let n = cfg.conns as f64;
    let per_conn = |rss: Option<f64>| rss.zip(before).map(|(r, b)| (r - b) / n);
    let secs = accepted["secs"].as_f64();
    let v = json!({
        "kind": "scale", "system": system, "date": today(), "conns": cfg.conns, "clients": cfg.clients,
        "parallel": cfg.parallel, "max_connections": listening["max_connections"], "fd_limit": listening["fd_limit"],
        "connected": sum(&connected, "n"), "connect_failed": sum(&connected, "failed"),
        "connect_retries": sum(&connected, "retries"), "first_error": connected.iter().find_map(|c| c["first_error"].as_str()),
        "accept_secs": secs, "accept_per_s": secs.map(|s| n / s),
        "server_cpu_us_per_accept": cpu0.zip(cpu1).map(|(a, b)| (b - a) / n * 1e6),
        "rss_before_kib": before, "rss_idle_kib": idle, "rss_called_kib": after_call,
        "kib_per_conn_idle": per_conn(idle), "kib_per_conn_called": per_conn(after_call),
        "called": sum(&called, "n"), "call_secs": max(&called, "secs"),
        "broadcast_queued": sent["queued"], "broadcast_queue_ms": sent["secs"].as_f64().map(|s| s * 1e3),
        "broadcast_delivered": sum(&got, "n"), "broadcast_all_ms": max(&got, "max_ms"),
        "broadcast_p50_ms_max": max(&got, "p50_ms"),
        "rss_after_broadcast_kib": rss_kib(pid), "peak_rss_kib": peak_rss_kib(pid),
        "client_rss_kib": sum(&connected, "rss_kib"),
    });
    // The server goes first: its sockets (not the clients') take the TIME_WAIT.
    drop(server);
    std::thread::sleep(Duration::from_millis(500));
    drop(clients);
    Ok(v)
}

/// `bench scale [--connections 100000] [--clients 4] [--systems ours,tungstenite-hand-rolled]
/// [--parallel 128] [--settle 2] [--quick] [--out FILE.jsonl]`.
fn scale_cmd(args: &Args) -> anyhow::Result<()> {
    let quick = args.flag("quick");
    let cfg = ScaleCfg {
        conns: args.num("connections", if quick { 500 } else { 100_000 }),
        clients: args.num("clients", if quick { 2 } else { 4 }).max(1),
        parallel: args.num("parallel", 128),
        settle: Duration::from_secs_f64(args.num("settle", if quick { 0.5 } else { 2.0 })),
    };
    anyhow::ensure!(cfg.conns <= 250 * PER_ADDR, "--connections: at most {}", 250 * PER_ADDR);
    raise_fd_limit(64)?;
    let systems: Vec<String> = args.get("systems").unwrap_or("ours,tungstenite-hand-rolled").split(',').map(String::from).collect();
    let out = args.get("out").map(String::from).unwrap_or_else(|| {
        let dir = std::env::var("BENCH_RESULTS").unwrap_or_else(|_| "target/bench-results".into());
        format!("{dir}/scale-{}.jsonl", today())
    });
    let mut runs = vec![];
    for (run, system) in systems.iter().enumerate() {
        eprintln!("  {system}: {} connections from {} client processes ...", cfg.conns, cfg.clients);
        let v = scale_once(system, &cfg, run)?;
        eprintln!("  {system}: {v}");
        append(&out, &v)?;
        runs.push(v);
    }
    let md = render(&runs);
    println!("{md}");
    std::fs::write(out.replace(".jsonl", ".md"), &md)?;
    crate::chart::charts_after_run(&runs, out.trim_end_matches(".jsonl"));
    Ok(())
}

fn num(v: &Value, k: &str) -> Option<f64> {
    v[k].as_f64()
}

/// What the run did to our `max_connections` (default 10,000).
fn max_connections_note(runs: &[&Value]) -> String {
    let default = duplexrpc_ws::WsConfig::default().max_connections as u64;
    match runs.iter().find_map(|r| r["max_connections"].as_u64().filter(|&m| m > 0)) {
        Some(m) if m > default => format!("`WsConfig::max_connections` raised from {default} to {m} for this run"),
        _ => "default `WsConfig`".to_string(),
    }
}

/// The markdown report of `scale` lines.
pub fn render(runs: &[Value]) -> String {
    let runs: Vec<&Value> = runs.iter().filter(|r| r["kind"] == "scale").collect();
    let Some(first) = runs.first() else { return String::new() };
    let mut md = format!(
        "\n#### {} connections on one server process (`bench scale`)\n\n\
         {} client processes, at most {} handshakes in flight each; RSS per connection = (RSS - RSS before any \
         connection) / connections; ours: {}.\n\n\
         | system | accept all (s) | conns/s | server CPU µs/conn | RSS before (MiB) | RSS idle (MiB) | KiB/conn idle | \
         RSS after one call each (MiB) | KiB/conn after a call | broadcast queued (ms) | broadcast reached all (ms) | \
         delivered | retries |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        first["conns"],
        first["clients"],
        first["parallel"],
        max_connections_note(&runs)
    );
    for r in &runs {
        let mib = |k: &str| num(r, k).map(|x| x / 1024.0);
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r["system"].as_str().unwrap_or(""),
            fx(num(r, "accept_secs"), 2),
            fx(num(r, "accept_per_s"), 0),
            fx(num(r, "server_cpu_us_per_accept"), 1),
            fx(mib("rss_before_kib"), 1),
            fx(mib("rss_idle_kib"), 1),
            fx(num(r, "kib_per_conn_idle"), 2),
            fx(mib("rss_called_kib"), 1),
            fx(num(r, "kib_per_conn_called"), 2),
            fx(num(r, "broadcast_queue_ms"), 1),
            fx(num(r, "broadcast_all_ms"), 1),
            fx(num(r, "broadcast_delivered"), 0),
            fx(num(r, "connect_retries"), 0),
        ));
    }
    let get = |s: &str, k: &str| runs.iter().find(|r| r["system"] == s).and_then(|r| num(r, k));
    let ok = |v: Option<f64>, bound: f64| v.map_or("not measured", |v| if v <= bound { "yes" } else { "no" });
    md.push_str(&format!(
        "\nTargets (issue 16): ours {} KiB per idle connection (<= 8: {}), {} KiB after a call (<= 10: {}); \
         accept rate ours / hand-rolled {}.\n",
        fx(get(OURS, "kib_per_conn_idle"), 2),
        ok(get(OURS, "kib_per_conn_idle"), 8.0),
        fx(get(OURS, "kib_per_conn_called"), 2),
        ok(get(OURS, "kib_per_conn_called"), 10.0),
        fx(ratio(get(OURS, "accept_per_s"), get(HAND, "accept_per_s")), 2),
    ));
    md
}

/// `<base>-scale.svg`: memory per connection (idle, after a call) and the accept rate, per system.
pub fn charts(lines: &[Value], base: &str) -> anyhow::Result<Vec<String>> {
    let runs: Vec<&Value> = lines.iter().filter(|r| r["kind"] == "scale").collect();
    if runs.is_empty() {
        return Ok(vec![]);
    }
    let series = |keys: &[&str]| -> Vec<Series> {
        runs.iter()
            .map(|r| (r["system"].as_str().unwrap_or("").to_string(), keys.iter().map(|k| num(r, k)).collect()))
            .collect()
    };
    let conns = runs[0]["conns"].as_u64().unwrap_or(0);
    let panels = vec![
        (
            format!("server memory per connection, {conns} connections"),
            "KiB per connection".to_string(),
            vec!["idle".to_string(), "after one call each".to_string()],
            series(&["kib_per_conn_idle", "kib_per_conn_called"]),
        ),
        (
            format!("connections accepted per second, {conns} connections"),
            "connections/s".to_string(),
            vec!["accept".to_string()],
            series(&["accept_per_s"]),
        ),
    ];
    let path = format!("{base}-scale.svg");
    write_svg(std::path::Path::new(&path), &panels)?;
    Ok(vec![path])
}
