//! `bench fanout`: broadcast fan-out from ONE server process to many
//! WebSocket connections (issue 16, item 2), three ways side by side:
//!
//! * `ours`: `duplexrpc_cluster::Registry` on `duplexrpc_ws::Server`,
//!   `notify_all` / `notify_group` (groups of 100) with a `Notification`
//!   serialized once per broadcast;
//! * `tungstenite-fanout`: hand-rolled tokio-tungstenite fan-out: the text is
//!   serialized once into a `Utf8Bytes`, and each connection's writer task
//!   gets a clone of it through a bounded channel (1,024 messages,
//!   `try_send`: a full channel drops the message for that connection);
//! * `jsonrpsee`: jsonrpsee 0.26 subscriptions, the result serialized once
//!   per broadcast (`Box<RawValue>`) and `SubscriptionSink::try_send` to every
//!   sink (jsonrpsee wraps it with each subscription's id).
//!
//! Processes: `fanout-server` (pinned to CPU 0, one tokio worker) holds the
//! connections and broadcasts; `fanout-client` (CPU 1) opens them, from
//! source addresses 127.0.0.2-127.0.0.9 so that ports never run short, and
//! reads. Each payload carries the broadcast's CLOCK_REALTIME stamp (same
//! machine, so one clock); the client measures delivery latency against it.
//! The server measures its own CPU (/proc/self/stat) and RSS over the window.
//! Deliveries/s are the ticks the clients read inside the server's window
//! (the client counts reads in 10 ms buckets of CLOCK_REALTIME; the server
//! reports its window's bounds), so a backlog queued in the window and read
//! after it counts neither for deliveries nor for CPU per delivery (until
//! 2026-12-02 it counted for deliveries: that favoured deep queues).
//! `delivered %` is of the broadcasts sent in the window, read at any time.
//!
//! Rates: a fixed rate (`--rate`, broadcasts per second; a group broadcast is
//! one `notify_group` per group, so it reaches every connection too) and
//! flat out (the next broadcast as soon as the last one is queued, after one
//! `yield_now` so the connection tasks run; 1 ms of pause instead after a
//! broadcast that some connection's full queue refused).
//!
//! Slow reader: one more client process opens one connection with a 4 KiB
//! receive buffer and never reads; the others' deliveries are compared with
//! the same case without it, and the server's RSS shows whether the slow
//! connection's backlog is bounded.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::Args;
use crate::common::{cpu_seconds, peak_rss_kib, rss_kib, runtime};
use crate::orchestrate::{Proc, append, exe, free_port, fx, median, mode_args, ratio, read_all, today};

/// A boxed, sendable future borrowing the hub.
type BoxFut<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Connections per group in the `group` broadcasts.
const GROUP: usize = 100;
/// The notification method every system sends.
const METHOD: &str = "tick";
/// Phases a payload carries: warm-up, measured window, end of the run.
const WARM: u8 = 0;
const MEASURE: u8 = 1;
const END: u8 = 2;
/// Systems, in table order.
const SYSTEMS: &[&str] = &["ours", "tungstenite-fanout", "jsonrpsee"];

/// `fanout`, `fanout-server`, `fanout-client`, `fanout-slow`: the modes of this file.
pub fn dispatch(mode: &str, args: &Args, threads: Option<usize>) -> anyhow::Result<()> {
    match mode {
        "fanout" => fanout_cmd(args),
        "fanout-server" => runtime(threads).block_on(server(args)),
        "fanout-client" => runtime(threads).block_on(client(args)),
        m => anyhow::bail!("unknown mode {m}"),
    }
}

/// Raises RLIMIT_NOFILE (soft and hard) to at least `want`; as root the hard
/// limit may go up to fs.nr_open. Returns the soft limit now in force.
#[allow(unsafe_code)] // two libc calls on a local struct
fn raise_nofile_to(want: u64) -> u64 {
    unsafe {
        let mut rl: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
            return 0;
        }
        let old = rl;
        rl.rlim_max = rl.rlim_max.max(want);
        rl.rlim_cur = rl.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &rl) != 0 {
            rl = old;
            rl.rlim_cur = rl.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl);
        rl.rlim_cur
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

// ---------------------------------------------------------------- server side

/// One broadcast's payload: `params` = `[seq, stamp_ns, phase, pad]`.
struct Tick<'a> {
    seq: u64,
    stamp_ns: u64,
    phase: u8,
    pad: &'a str,
}

impl Tick<'_> {
    fn params(&self) -> (u64, u64, u8, &str) {
        (self.seq, self.stamp_ns, self.phase, self.pad)
    }
}

/// The connections of one system's server, and how it broadcasts to them.
trait Hub: Send + Sync {
    /// Connections registered.
    fn len(&self) -> usize;
    /// Sends `tick` to every connection (`group` None) or to group `g`;
    /// returns for how many connections it was queued.
    fn send<'a>(&'a self, group: Option<usize>, tick: &'a Tick<'a>) -> BoxFut<'a, usize>;
}

/// Which group the `n`-th connection joins.
fn group_of(n: usize) -> usize {
    n / GROUP
}

async fn start_hub(system: &str, addr: SocketAddr, conns: usize) -> anyhow::Result<Arc<dyn Hub>> {
    Ok(match system {
        "ours" => ours::start(addr, conns)?,
        "tungstenite-fanout" => raw::start(addr)?,
        "jsonrpsee" => jsonrpsee_hub::start(addr).await?,
        s => anyhow::bail!("unknown fan-out system {s}; known: {}", SYSTEMS.join(", ")),
    })
}

mod ours {
    use super::*;
    use duplexrpc_cluster::Registry;
    use duplexrpc_core::Notification;

    struct OursHub {
        registry: Registry,
        names: Vec<String>,
        _server: duplexrpc_ws::ServerHandle,
    }

    pub(super) fn start(addr: SocketAddr, conns: usize) -> anyhow::Result<Arc<dyn Hub>> {
        let registry = Registry::new();
        let names: Vec<String> = (0..=group_of(conns)).map(|g| format!("g{g}")).collect();
        let (reg, groups) = (registry.clone(), names.clone());
        let joined = AtomicUsize::new(0);
        let config = duplexrpc_ws::WsConfig::default().max_connections(conns + 1000);
        let server = duplexrpc_ws::Server::from_listener(crate::systems::ws::listen(addr)?).with_config(config);
        let handle = server.serve(move |conn, _info| {
            let id = reg.add(conn.peer().clone());
            let g = group_of(joined.fetch_add(1, Ordering::Relaxed));
            reg.join(id, groups.get(g).map_or("overflow", |s| s.as_str()));
            Ok(())
        });
        Ok(Arc::new(OursHub {
            registry,
            names,
            _server: handle,
        }))
    }

    impl Hub for OursHub {
        fn len(&self) -> usize {
            self.registry.len()
        }
        fn send<'a>(&'a self, group: Option<usize>, tick: &'a Tick<'a>) -> BoxFut<'a, usize> {
            Box::pin(async move {
                let Ok(n) = Notification::new(METHOD, tick.params()) else {
                    return 0;
                };
                let sent = match group {
                    None => self.registry.notify_all(&n).await,
                    Some(g) => self.registry.notify_group(&self.names[g], &n).await,
                };
                sent.unwrap_or(0)
            })
        }
    }
}

mod raw {
    use super::*;
    use tokio::sync::mpsc;

    type Tx = mpsc::Sender<Message>;

    #[derive(Default)]
    struct Conns {
        all: Vec<Tx>,
        groups: Vec<Vec<Tx>>,
    }

    #[derive(Default)]
    struct RawHub {
        conns: Mutex<Conns>,
    }

    /// Queue capacity per connection, in messages (like our `send_queue`).
    const QUEUE: usize = 1024;

    pub(super) fn start(addr: SocketAddr) -> anyhow::Result<Arc<dyn Hub>> {
        let listener = crate::systems::ws::listen(addr)?;
        let hub = Arc::new(RawHub::default());
        let h = hub.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let h = h.clone();
                tokio::spawn(async move {
                    let _ = sock.set_nodelay(true);
                    let Ok(ws) = tokio_tungstenite::accept_async(sock).await else {
                        return;
                    };
                    let (mut sink, mut stream) = ws.split();
                    let (tx, mut rx) = mpsc::channel::<Message>(QUEUE);
                    {
                        let mut c = h.conns.lock().unwrap();
                        let g = group_of(c.all.len());
                        if c.groups.len() <= g {
                            c.groups.resize_with(g + 1, Vec::new);
                        }
                        c.groups[g].push(tx.clone());
                        c.all.push(tx);
                    }
                    // The writer: feeds what is queued, flushes when the queue is empty.
                    tokio::spawn(async move {
                        while let Some(m) = rx.recv().await {
                            if sink.feed(m).await.is_err() {
                                return;
                            }
                            while let Ok(m) = rx.try_recv() {
                                if sink.feed(m).await.is_err() {
                                    return;
                                }
                            }
                            if sink.flush().await.is_err() {
                                return;
                            }
                        }
                    });
                    while let Some(Ok(_)) = stream.next().await {}
                });
            }
        });
        Ok(hub)
    }

    impl Hub for RawHub {
        fn len(&self) -> usize {
            self.conns.lock().unwrap().all.len()
        }
        fn send<'a>(&'a self, group: Option<usize>, tick: &'a Tick<'a>) -> BoxFut<'a, usize> {
            Box::pin(async move {
                let text = json!({"jsonrpc": "2.0", "method": METHOD, "params": tick.params()}).to_string();
                let text = Utf8Bytes::from(text);
                let c = self.conns.lock().unwrap();
                let txs = match group {
                    None => &c.all,
                    Some(g) => &c.groups[g],
                };
                txs.iter()
                    .filter(|tx| tx.try_send(Message::Text(text.clone())).is_ok())
                    .count()
            })
        }
    }
}

mod jsonrpsee_hub {
    use super::*;
    use jsonrpsee::server::{RpcModule, Server, ServerConfig, SubscriptionSink};

    #[derive(Default)]
    struct Sinks {
        all: Vec<SubscriptionSink>,
        groups: Vec<Vec<usize>>,
    }

    #[derive(Default)]
    struct JHub {
        sinks: Mutex<Sinks>,
    }

    pub(super) async fn start(addr: SocketAddr) -> anyhow::Result<Arc<dyn Hub>> {
        let listener = crate::systems::ws::listen(addr)?.into_std()?;
        let cfg = ServerConfig::builder().max_connections(200_000).build();
        let server = Server::builder().set_config(cfg).build_from_tcp(listener)?;
        let hub = Arc::new(JHub::default());
        let mut module = RpcModule::from_arc(hub.clone());
        module.register_subscription(
            "subscribe_ticks",
            METHOD,
            "unsubscribe_ticks",
            |_p, pending, hub, _| async move {
                if let Ok(sink) = pending.accept().await {
                    let mut s = hub.sinks.lock().unwrap();
                    let (n, g) = (s.all.len(), group_of(s.all.len()));
                    if s.groups.len() <= g {
                        s.groups.resize_with(g + 1, Vec::new);
                    }
                    s.groups[g].push(n);
                    s.all.push(sink);
                }
            },
        )?;
        let handle = server.start(module);
        tokio::spawn(handle.stopped());
        Ok(hub)
    }

    impl Hub for JHub {
        fn len(&self) -> usize {
            self.sinks.lock().unwrap().all.len()
        }
        fn send<'a>(&'a self, group: Option<usize>, tick: &'a Tick<'a>) -> BoxFut<'a, usize> {
            Box::pin(async move {
                let Ok(raw) = serde_json::value::to_raw_value(&tick.params()) else {
                    return 0;
                };
                let mut s = self.sinks.lock().unwrap();
                let Sinks { all, groups } = &mut *s;
                match group {
                    None => all.iter_mut().map(|k| k.try_send(raw.clone()).is_ok() as usize).sum(),
                    Some(g) => groups[g]
                        .iter()
                        .map(|&i| all[i].try_send(raw.clone()).is_ok() as usize)
                        .sum(),
                }
            })
        }
    }
}

/// What a server run does.
#[derive(Clone, Copy, Debug)]
struct Plan {
    conns: usize,
    group: bool,
    /// Broadcasts per second; 0 = flat out.
    rate: f64,
    warmup: f64,
    duration: f64,
}

#[derive(Default)]
struct Counts {
    broadcasts: u64,
    queued: u64,
}

/// Broadcasts `phase` ticks until `until`.
async fn broadcast_until(hub: &dyn Hub, plan: &Plan, pad: &str, phase: u8, until: Instant, seq: &mut u64) -> Counts {
    let mut c = Counts::default();
    let period = (plan.rate > 0.0).then(|| Duration::from_secs_f64(1.0 / plan.rate));
    let groups = plan.conns.div_ceil(GROUP);
    let mut next = Instant::now();
    while Instant::now() < until {
        let queued = broadcast_once(hub, plan.group.then_some(groups), pad, phase, *seq).await;
        c.queued += queued as u64;
        c.broadcasts += 1;
        *seq += 1;
        match period {
            Some(p) => {
                next = (next + p).max(Instant::now() - p);
                tokio::time::sleep_until(next.into()).await;
            }
            // Flat out: a broadcast some queue had no room for makes the
            // broadcaster pause, as an application reading the count would.
            None if queued < hub.len() => tokio::time::sleep(Duration::from_millis(1)).await,
            None => tokio::task::yield_now().await,
        }
    }
    c
}

/// One broadcast: to everyone (`groups` None) or to each of `groups` groups in turn.
async fn broadcast_once(hub: &dyn Hub, groups: Option<usize>, pad: &str, phase: u8, seq: u64) -> usize {
    let tick = Tick {
        seq,
        stamp_ns: now_ns(),
        phase,
        pad,
    };
    match groups {
        None => hub.send(None, &tick).await,
        Some(n) => {
            let mut sent = 0;
            for g in 0..n {
                sent += hub.send(Some(g), &tick).await;
            }
            sent
        }
    }
}

/// `fanout-server`: prints `READY` once listening, waits for `--expect`
/// connections, broadcasts (warm-up, window, end markers), prints one JSON line.
async fn server(args: &Args) -> anyhow::Result<()> {
    let system = args.req("system")?.to_string();
    let addr: SocketAddr = args.req("addr")?.parse()?;
    let plan = Plan {
        conns: args.num("conns", 1000),
        group: args.get("target") == Some("group"),
        rate: args.num("rate", 0.0),
        warmup: args.num("warmup", 1.0),
        duration: args.num("duration", 3.0),
    };
    let expect: usize = args.num("expect", plan.conns);
    let pad = "x".repeat(args.num("pad", 32));
    let nofile = raise_nofile_to(expect as u64 + 4096);
    let hub = start_hub(&system, addr, plan.conns).await?;
    println!("READY {nofile}");
    let t = Instant::now();
    while hub.len() < expect {
        anyhow::ensure!(
            t.elapsed() < Duration::from_secs(120),
            "only {}/{expect} connections in 120 s",
            hub.len()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let connect_s = t.elapsed().as_secs_f64();
    let me = std::process::id();
    let rss_idle = rss_kib(me);
    let mut seq = 0;
    let warm_until = Instant::now() + Duration::from_secs_f64(plan.warmup);
    broadcast_until(&*hub, &plan, &pad, WARM, warm_until, &mut seq).await;
    let cpu0 = cpu_seconds(None);
    let t0 = Instant::now();
    let window_start_ns = now_ns();
    let c = broadcast_until(
        &*hub,
        &plan,
        &pad,
        MEASURE,
        t0 + Duration::from_secs_f64(plan.duration),
        &mut seq,
    )
    .await;
    let secs = t0.elapsed().as_secs_f64();
    let window_end_ns = now_ns();
    let cpu = cpu_seconds(None).zip(cpu0).map(|(b, a)| b - a);
    let rss_end = rss_kib(me);
    println!(
        "{}",
        json!({
            "system": system, "conns": plan.conns, "target": if plan.group { "group" } else { "all" },
            "rate": plan.rate, "secs": secs, "connect_s": connect_s, "broadcasts": c.broadcasts,
            "queued": c.queued, "server_cpu_s": cpu, "server_rss_idle_kib": rss_idle,
            "window_start_ns": window_start_ns, "window_end_ns": window_end_ns,
            "server_rss_kib": rss_end, "server_peak_rss_kib": peak_rss_kib(me),
        })
    );
    // End markers until the orchestrator ends this process (a queue full
    // at one marker drops it; a later one gets through).
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(300) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        broadcast_once(&*hub, None, "", END, seq).await;
        seq += 1;
    }
    Ok(())
}

// ---------------------------------------------------------------- client side

/// Width of the buckets in which a client counts the ticks it reads, by
/// the time it reads them (so the orchestrator can count those read inside
/// the server's window).
const BUCKET_NS: u64 = 10_000_000;
/// Buckets kept: ten minutes; a later read goes to the last one.
const BUCKETS: usize = 60_000;

/// What the reading connections of one client process share.
struct Seen {
    deliveries: AtomicU64,
    /// When the client started (CLOCK_REALTIME ns): bucket 0 starts there.
    base_ns: u64,
    /// Ticks of any phase but the end read in each [`BUCKET_NS`].
    read_at: Vec<AtomicU64>,
    connected: AtomicUsize,
    ended: AtomicUsize,
    hist: Mutex<Histogram<u64>>,
}

/// First three numbers of the `params` (or jsonrpsee's `result`) array.
fn parse_tick(text: &str) -> Option<(u64, u64, u8)> {
    let at = text.find("\"params\":")?;
    let rest = &text[at..];
    let rest = &rest[rest.find('[')? + 1..];
    let mut it = rest.splitn(4, ',');
    Some((
        it.next()?.trim().parse().ok()?,
        it.next()?.trim().parse().ok()?,
        it.next()?.trim().parse().ok()?,
    ))
}

/// One connection from `src`; reads ticks until the end marker (or forever
/// without reading, if `slow`).
async fn one_conn(
    url: &str,
    server: SocketAddr,
    src: IpAddr,
    subscribe: bool,
    slow: bool,
    seen: &Seen,
) -> anyhow::Result<()> {
    let sock = TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(src, 0))?;
    if slow {
        sock.set_recv_buffer_size(4096)?;
    }
    let tcp = sock.connect(server).await?;
    tcp.set_nodelay(true)?;
    let (mut ws, _) = tokio_tungstenite::client_async(url, tcp).await?;
    if subscribe {
        ws.send(Message::text(
            r#"{"jsonrpc":"2.0","id":1,"method":"subscribe_ticks","params":[]}"#,
        ))
        .await?;
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.contains("\"result\"") => {}
            other => anyhow::bail!("subscription refused: {other:?}"),
        }
    }
    seen.connected.fetch_add(1, Ordering::SeqCst);
    if slow {
        std::future::pending::<()>().await;
    }
    while let Some(msg) = ws.next().await {
        let Message::Text(t) = msg? else { continue };
        let Some((_seq, stamp, phase)) = parse_tick(&t) else {
            continue;
        };
        if phase == END {
            break;
        }
        let now = now_ns();
        let bucket = (now.saturating_sub(seen.base_ns) / BUCKET_NS) as usize;
        seen.read_at[bucket.min(BUCKETS - 1)].fetch_add(1, Ordering::Relaxed);
        if phase == MEASURE {
            seen.deliveries.fetch_add(1, Ordering::Relaxed);
            let lat = now.saturating_sub(stamp).max(1);
            seen.hist.lock().unwrap().saturating_record(lat);
        }
    }
    seen.ended.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

/// `fanout-client`: `--conns` connections to `--url`; prints one JSON line
/// once every connection saw the end marker (or `--max-secs` passed).
async fn client(args: &Args) -> anyhow::Result<()> {
    let url = args.req("url")?.to_string();
    let server: SocketAddr = url.trim_start_matches("ws://").trim_end_matches('/').parse()?;
    let conns: usize = args.num("conns", 1);
    let subscribe = args.get("system") == Some("jsonrpsee");
    let slow = args.flag("slow");
    let max = Duration::from_secs_f64(args.num("max-secs", 120.0));
    raise_nofile_to(conns as u64 + 4096);
    let seen = Arc::new(Seen {
        deliveries: AtomicU64::new(0),
        base_ns: now_ns(),
        read_at: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        connected: AtomicUsize::new(0),
        ended: AtomicUsize::new(0),
        hist: Mutex::new(Histogram::new_with_bounds(1, 600_000_000_000, 3)?),
    });
    let failed = Arc::new(Mutex::new(None::<String>));
    for i in 0..conns {
        let src = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + (i % 8) as u8));
        let (url, seen, failed) = (url.clone(), seen.clone(), failed.clone());
        tokio::spawn(async move {
            if let Err(e) = one_conn(&url, server, src, subscribe, slow, &seen).await {
                failed.lock().unwrap().get_or_insert(format!("{e:#}"));
                seen.ended.fetch_add(1, Ordering::SeqCst);
            }
        });
        if i % 64 == 63 {
            tokio::task::yield_now().await;
        }
    }
    let t = Instant::now();
    let cpu0 = cpu_seconds(None);
    while seen.ended.load(Ordering::SeqCst) < conns && t.elapsed() < max {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let h = seen.hist.lock().unwrap();
    let us = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let mut read_at: Vec<u64> = seen.read_at.iter().map(|b| b.load(Ordering::SeqCst)).collect();
    while read_at.last() == Some(&0) {
        read_at.pop();
    }
    println!(
        "{}",
        json!({
            "deliveries": seen.deliveries.load(Ordering::SeqCst), "conns": conns,
            "connected": seen.connected.load(Ordering::SeqCst), "ended": seen.ended.load(Ordering::SeqCst),
            "p50_us": us(0.5), "p99_us": us(0.99), "max_us": h.max() as f64 / 1000.0,
            "client_cpu_s": cpu_seconds(None).zip(cpu0).map(|(b, a)| b - a),
            "read_base_ns": seen.base_ns, "read_at_10ms": read_at,
            "error": failed.lock().unwrap().clone(),
        })
    );
    Ok(())
}

// ---------------------------------------------------------------- orchestration

/// One measured case.
#[derive(Clone, Copy, Debug)]
struct Case {
    name: &'static str,
    plan: Plan,
    pad: usize,
    /// Adds the connection that never reads.
    slow: bool,
    /// Part of the deliveries/s-by-connections chart.
    curve: bool,
}

fn cases(args: &Args) -> Vec<Case> {
    let quick = args.flag("quick");
    let (warmup, duration) = (
        args.num("warmup", if quick { 0.3 } else { 1.0 }),
        args.num("duration", if quick { 0.7 } else { 3.0 }),
    );
    let big: usize = args.num("conns", if quick { 200 } else { 10_000 });
    let curve: Vec<usize> = match args.get("curve") {
        Some(s) => s.split(',').filter_map(|c| c.parse().ok()).collect(),
        None if quick => vec![big],
        None => vec![1_000, 5_000, big],
    };
    let rate: f64 = args.num("rate", 10.0);
    let plan = |conns, group, rate| Plan {
        conns,
        group,
        rate,
        warmup,
        duration,
    };
    let case = |name, plan, curve| Case {
        name,
        plan,
        pad: 32,
        slow: false,
        curve,
    };
    let mut v: Vec<Case> = curve
        .iter()
        .map(|&n| case("all flat out", plan(n, false, 0.0), true))
        .collect();
    if !curve.contains(&big) {
        v.push(case("all flat out", plan(big, false, 0.0), false));
    }
    v.push(case("all fixed rate", plan(big, false, rate), false));
    v.push(case("group fixed rate", plan(big, true, rate), false));
    v.push(case("group flat out", plan(big, true, 0.0), false));
    // Slow reader: enough bytes per second into the connection that never
    // reads to fill its buffers (the server's kernel send buffer autotunes
    // to 4 MiB here) during the warm-up: 50/s x 16 KiB = 800 KiB/s.
    let slow_conns = args.num("slow-conns", 200);
    let slow_plan = Plan {
        warmup: args.num("slow-warmup", if quick { 1.0 } else { 8.0 }),
        ..plan(slow_conns, false, args.num("slow-rate", 50.0))
    };
    for slow in [false, true] {
        v.push(Case {
            name: if slow {
                "slow reader: with"
            } else {
                "slow reader: without"
            },
            plan: slow_plan,
            pad: args.num("slow-pad", 16_384),
            slow,
            curve: false,
        });
    }
    match args.get("cases") {
        Some(sel) => v
            .into_iter()
            .filter(|c| sel.split(',').any(|w| c.name.contains(w)))
            .collect(),
        None => v,
    }
}

fn spawn_client(system: &str, url: &str, conns: usize, slow: bool, max_secs: f64) -> anyhow::Result<Proc> {
    let mut cmd = Command::new(exe());
    cmd.args(["fanout-client", "--system", system, "--url", url])
        .args(["--conns", &conns.to_string(), "--max-secs", &max_secs.to_string()])
        .args(mode_args("pinned", false))
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    if slow {
        cmd.arg("--slow");
    }
    Ok(Proc(cmd.spawn()?))
}

/// One run of `case` for `system`: server and client processes, one JSON line.
fn run_case(system: &str, case: &Case) -> anyhow::Result<Value> {
    let p = case.plan;
    let addr = format!("127.0.0.1:{}", free_port());
    let expect = p.conns + usize::from(case.slow);
    let mut server = Proc(
        Command::new(exe())
            .args(["fanout-server", "--system", system, "--addr", &addr])
            .args(["--conns", &p.conns.to_string(), "--expect", &expect.to_string()])
            .args(["--target", if p.group { "group" } else { "all" }])
            .args(["--rate", &p.rate.to_string(), "--pad", &case.pad.to_string()])
            .args(["--warmup", &p.warmup.to_string(), "--duration", &p.duration.to_string()])
            .args(mode_args("pinned", true))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()?,
    );
    let mut lines = BufReader::new(server.0.stdout.take().expect("stdout piped")).lines();
    match lines.next() {
        Some(Ok(l)) if l.starts_with("READY") => {}
        other => anyhow::bail!("{system} fan-out server did not start: {other:?}"),
    }
    let url = format!("ws://{addr}/");
    let max_secs = p.warmup + p.duration + 150.0;
    let _slow = if case.slow {
        Some(spawn_client(system, &url, 1, true, max_secs)?)
    } else {
        None
    };
    let client = spawn_client(system, &url, p.conns, false, max_secs)?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(lines.next());
    });
    let s_line = match rx.recv_timeout(Duration::from_secs_f64(max_secs)) {
        Ok(Some(Ok(l))) => l,
        other => anyhow::bail!("{system} fan-out server gave no result: {other:?}"),
    };
    let c_out = read_all(client, Duration::from_secs(30))?;
    drop(server);
    let mut v: Value = serde_json::from_str(&s_line)?;
    let c: Value = serde_json::from_str(c_out.trim().lines().last().unwrap_or(""))?;
    if let Some(e) = c["error"].as_str() {
        anyhow::bail!("{system} client: {e}");
    }
    let secs = v["secs"].as_f64().unwrap_or(1.0);
    let deliveries = c["deliveries"].as_f64().unwrap_or(0.0);
    let sent = v["broadcasts"].as_f64().unwrap_or(0.0) * p.conns as f64;
    // Read inside the server's window (whatever phase they were sent in),
    // against the CPU the server used inside it: a backlog queued in the
    // window and read after it counts for neither.
    let in_window = read_in_window(&v, &c);
    let cpu_ns = v["server_cpu_s"].as_f64().map(|s| s * 1e9 / in_window.max(1.0));
    for k in ["p50_us", "p99_us", "max_us", "client_cpu_s", "ended"] {
        v[k] = c[k].clone();
    }
    v["kind"] = json!("fanout");
    v["case"] = json!(case.name);
    v["slow"] = json!(case.slow);
    v["curve"] = json!(case.curve);
    v["pad"] = json!(case.pad);
    v["deliveries"] = json!(deliveries);
    v["deliveries_per_s"] = json!(in_window / secs);
    v["sent_in_window_delivered_per_s"] = json!(deliveries / secs);
    v["delivered_pct"] = json!(100.0 * deliveries / sent.max(1.0));
    v["server_ns_per_delivery"] = json!(cpu_ns);
    v["date"] = json!(today());
    Ok(v)
}

/// The ticks a client read inside the server's window, from its 10 ms
/// buckets (the two edge buckets counted in proportion to their overlap).
fn read_in_window(server: &Value, client: &Value) -> f64 {
    let (Some(w0), Some(w1), Some(base)) = (
        server["window_start_ns"].as_u64(),
        server["window_end_ns"].as_u64(),
        client["read_base_ns"].as_u64(),
    ) else {
        return 0.0;
    };
    let Some(buckets) = client["read_at_10ms"].as_array() else {
        return 0.0;
    };
    let mut total = 0.0;
    for (i, n) in buckets.iter().enumerate() {
        let start = base + i as u64 * BUCKET_NS;
        let overlap = (start + BUCKET_NS).min(w1).saturating_sub(start.max(w0));
        total += n.as_f64().unwrap_or(0.0) * overlap as f64 / BUCKET_NS as f64;
    }
    total
}

const FIELDS: &[&str] = &[
    "deliveries_per_s",
    "delivered_pct",
    "p50_us",
    "p99_us",
    "server_ns_per_delivery",
    "server_rss_kib",
    "server_rss_idle_kib",
    "server_peak_rss_kib",
    "connect_s",
    "broadcasts",
];

/// `bench fanout`: every case x system (`--repeats` rounds, systems
/// interleaved), medians, the markdown table and the chart.
pub fn fanout_cmd(args: &Args) -> anyhow::Result<()> {
    let systems: Vec<String> = args.get("systems").map_or_else(
        || SYSTEMS.iter().map(|s| s.to_string()).collect(),
        |s| s.split(',').map(String::from).collect(),
    );
    let repeats: usize = args.num("repeats", 1);
    let quick = args.flag("quick");
    let out = args.get("out").map(String::from).unwrap_or_else(|| {
        let dir = std::env::var("BENCH_RESULTS").unwrap_or_else(|_| "target/bench-results".into());
        format!("{dir}/fanout-{}{}.jsonl", today(), if quick { "-quick" } else { "" })
    });
    raise_nofile_to(65_536);
    let cases = cases(args);
    let mut runs = vec![];
    for r in 0..repeats {
        for case in &cases {
            for sys in &systems {
                let mut v = run_case(sys, case)?;
                v["repeat"] = json!(r);
                eprintln!(
                    "  {:<19} {:<22} {:>6} conns: {:>9.0} deliveries/s ({:.1} %)  p50 {:.0} us  p99 {:.0} us  {:.0} ns/delivery  RSS {} KiB",
                    sys,
                    case.name,
                    case.plan.conns,
                    v["deliveries_per_s"].as_f64().unwrap_or(0.0),
                    v["delivered_pct"].as_f64().unwrap_or(0.0),
                    v["p50_us"].as_f64().unwrap_or(0.0),
                    v["p99_us"].as_f64().unwrap_or(0.0),
                    v["server_ns_per_delivery"].as_f64().unwrap_or(0.0),
                    v["server_rss_kib"],
                );
                append(&out, &v)?;
                runs.push(v);
            }
        }
    }
    let sums = summarize(&runs, &cases, &systems);
    for s in &sums {
        append(&out, s)?;
    }
    let md = format!(
        "`bench fanout`{}: server pinned to CPU 0 (one tokio worker), clients on CPU 1; {repeats} round(s) of \
         {} s warm-up + {} s window per case, systems interleaved; medians.\n{}",
        if quick { " --quick" } else { "" },
        cases[0].plan.warmup,
        cases[0].plan.duration,
        render(&sums)
    );
    println!("{md}");
    std::fs::write(out.replace(".jsonl", ".md"), &md)?;
    crate::chart::charts_after_run(&sums, out.trim_end_matches(".jsonl"));
    Ok(())
}

fn summarize(runs: &[Value], cases: &[Case], systems: &[String]) -> Vec<Value> {
    let mut sums = vec![];
    for case in cases {
        for sys in systems {
            let mine: Vec<&Value> = runs
                .iter()
                .filter(|r| r["system"] == sys.as_str() && r["case"] == case.name && r["conns"] == case.plan.conns)
                .collect();
            let kind = if case.curve { "fanout_curve" } else { "fanout_summary" };
            let mut s = json!({"kind": kind, "system": sys, "case": case.name, "conns": case.plan.conns,
                               "rate": case.plan.rate, "pad": case.pad, "slow": case.slow,
                               "repeats": mine.len(), "date": today()});
            for f in FIELDS {
                s[*f] = json!(median(mine.iter().filter_map(|r| r[*f].as_f64()).collect()));
            }
            sums.push(s);
        }
    }
    sums
}

/// The markdown tables of the summaries: every case, then the targets.
fn render(sums: &[Value]) -> String {
    let get = |sys: &str, case: &str, conns: &Value, f: &str| {
        sums.iter()
            .find(|s| s["system"] == sys && s["case"] == case && &s["conns"] == conns)
            .and_then(|s| s[f].as_f64())
    };
    let mut md = String::from(
        "\n#### Broadcast fan-out\n\n\
         Deliveries = notifications the clients read inside the server's window; latency from the broadcast's \
         stamp to the client's read; server CPU per delivery and RSS of the server process alone.\n\n\
         | case | conns | rate | system | deliveries/s | vs hand-rolled | delivered % | p50 ms | p99 ms | \
         server CPU ns/delivery | server RSS MiB | RSS idle MiB |\n\
         |---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for s in sums {
        let (sys, case, conns) = (
            s["system"].as_str().unwrap_or(""),
            s["case"].as_str().unwrap_or(""),
            &s["conns"],
        );
        let g = |f: &str| s[f].as_f64();
        let rate = match g("rate") {
            Some(r) if r > 0.0 => format!("{r}/s"),
            _ => "flat out".into(),
        };
        md.push_str(&format!(
            "| {case} | {conns} | {rate} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            if sys == "ours" { "**ours**" } else { sys },
            fx(g("deliveries_per_s"), 0),
            fx(
                ratio(
                    g("deliveries_per_s"),
                    get("tungstenite-fanout", case, conns, "deliveries_per_s")
                ),
                2
            ),
            fx(g("delivered_pct"), 1),
            fx(g("p50_us").map(|u| u / 1000.0), 2),
            fx(g("p99_us").map(|u| u / 1000.0), 2),
            fx(g("server_ns_per_delivery"), 0),
            fx(g("server_rss_kib").map(|k| k / 1024.0), 1),
            fx(g("server_rss_idle_kib").map(|k| k / 1024.0), 1),
        ));
    }
    md.push_str("\n#### Fan-out targets\n\n| target | case | value | met |\n|---|---|---:|---|\n");
    let flat_all: Vec<&Value> = sums
        .iter()
        .filter(|s| s["case"] == "all flat out" && s["system"] == "ours")
        .collect();
    for s in flat_all {
        let c = &s["conns"];
        let mine = get("ours", "all flat out", c, "deliveries_per_s");
        for (other, want) in [("tungstenite-fanout", 1.0), ("jsonrpsee", 5.0)] {
            let r = ratio(mine, get(other, "all flat out", c, "deliveries_per_s"));
            md.push_str(&format!(
                "| ours >= {want}x {other} deliveries/s | all flat out, {c} conns | {}x | {} |\n",
                fx(r, 2),
                met(r.map(|r| r >= want))
            ));
        }
    }
    for sys in ["ours", "tungstenite-fanout", "jsonrpsee"] {
        let conns = sums.iter().find(|s| s["slow"] == true).map(|s| s["conns"].clone());
        let Some(c) = conns else { break };
        let with = get(sys, "slow reader: with", &c, "deliveries_per_s");
        let without = get(sys, "slow reader: without", &c, "deliveries_per_s");
        let drop = ratio(with, without).map(|r| 100.0 * (1.0 - r));
        md.push_str(&format!(
            "| one non-reader lowers the others' deliveries/s < 5 % ({sys}) | slow reader, {c} conns | {} % | {} |\n",
            fx(drop, 1),
            met(drop.map(|d| d < 5.0))
        ));
    }
    md
}

fn met(b: Option<bool>) -> &'static str {
    match b {
        Some(true) => "yes",
        Some(false) => "**no**",
        None => "-",
    }
}
