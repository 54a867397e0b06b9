//! Soak: N concurrent WebSocket connections on loopback, calls both ways, a
//! fraction of the connections dropped mid-call; every call accounted for.
//!
//! The clients run in a child process (this test binary again, test
//! `soak_client`), so that each process holds N sockets: 10,000 connections
//! need 20,000 descriptors, the machine's hard limit per process.
//!
//! * `soak_1000` runs in the normal suite (1,000 connections).
//! * `soak_10000` is ignored by default; run it with
//!   `cargo test --release -p duplexrpc-ws --test soak -- --ignored --nocapture soak_10000`.
//!
//! Checked: all N connections open at once; every call on a live connection
//! answered exactly once and correctly; every call on a dropped connection
//! fails with the disconnect error, on both sides; afterwards no connection,
//! task or file descriptor of the server is left. RSS is reported.

// The counting allocator: the test checks the server's memory returns to
// idle (RSS alone would not: the allocator keeps freed pages).
mod heap;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use duplexrpc_core::{Methods, RpcError};
use duplexrpc_ws::{Server, WsConfig};
use heap::heap_i64 as heap_bytes;
use serde::{Deserialize, Serialize};

/// Client->server `soak.add` calls per connection (plus one nested `soak.twice`).
const CALLS: usize = 4;
/// Server->client `ui.double` calls per connection.
const SERVER_CALLS: usize = 2;
/// Every `DROP_EVERY`-th connection is dropped mid-call.
const DROP_EVERY: usize = 20;

#[derive(Debug, Default, Serialize, Deserialize)]
struct ClientReport {
    connected: usize,
    connect_failed: usize,
    calls_ok: usize,
    calls_disconnected: usize,
    calls_wrong: usize,
    server_calls_answered: usize,
}

#[derive(Debug, Default)]
struct ServerCounters {
    open: AtomicUsize,
    peak_open: AtomicUsize,
    accepted: AtomicUsize,
    calls_ok: AtomicUsize,
    calls_disconnected: AtomicUsize,
    calls_wrong: AtomicUsize,
}

fn rss_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

fn server_methods(client: duplexrpc_core::Peer) -> Methods {
    let mut m = Methods::new();
    m.method("soak.add", |(a, b): (u64, u64)| async move { Ok::<_, RpcError>(a + b) })
        .unwrap();
    // Nested: answers with a call back into the client.
    m.method("soak.twice", move |(x,): (u64,)| {
        let client = client.clone();
        async move {
            let doubled: u64 = client.call("ui.double", (x,)).await?;
            Ok::<_, RpcError>(doubled + 1)
        }
    })
    .unwrap();
    // Never completes: the client drops the connection while it runs.
    m.method("soak.stall", |(): ()| async move {
        std::future::pending::<()>().await;
        Ok::<_, RpcError>(())
    })
    .unwrap();
    m
}

async fn soak(n: usize, bound: Duration) {
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0);
    let started = Instant::now();
    let runtime = tokio::runtime::Handle::current();
    let counters = Arc::new(ServerCounters::default());
    let c = counters.clone();
    let config = WsConfig::default().max_connections(n + 16);
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .with_config(config)
        .serve(move |conn, _info| {
            let peer = conn.peer().clone();
            conn.register(server_methods(peer.clone()))?;
            let c = c.clone();
            c.accepted.fetch_add(1, SeqCst);
            let open = c.open.fetch_add(1, SeqCst) + 1;
            c.peak_open.fetch_max(open, SeqCst);
            tokio::spawn(async move {
                let calls = (0..SERVER_CALLS as u64).map(|k| {
                    let peer = peer.clone();
                    async move { (k, peer.call::<_, u64>("ui.double", (k,)).await) }
                });
                for (k, outcome) in futures::future::join_all(calls).await {
                    match outcome {
                        Ok(v) if v == 2 * k => c.calls_ok.fetch_add(1, SeqCst),
                        Err(e) if e.is_disconnected() => c.calls_disconnected.fetch_add(1, SeqCst),
                        other => {
                            eprintln!("server->client call: {other:?}");
                            c.calls_wrong.fetch_add(1, SeqCst)
                        }
                    };
                }
                peer.finished().await;
                c.open.fetch_sub(1, SeqCst);
            });
            Ok(())
        });
    let baseline_tasks = runtime.metrics().num_alive_tasks();
    let idle_fds = open_fds();
    let idle_rss = rss_kib("VmRSS:");
    let idle_heap = heap_bytes();

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["soak_client", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env("SOAK_URL", server.url())
        .env("SOAK_N", n.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the client process");
    let stdout = child.stdout.take().unwrap();
    let reader = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            // libtest may print "test soak_client ... " on the same line first.
            .find_map(|line| line.split_once("SOAK-RESULT ").map(|(_, json)| json.to_owned()))
    });
    let mut peak_rss = 0;
    let mut peak_heap = 0;
    let line = tokio::time::timeout(bound, async {
        let mut reader = reader;
        loop {
            tokio::select! {
                line = &mut reader => break line.unwrap(),
                _ = tokio::time::sleep(Duration::from_millis(100)) => {
                    peak_rss = peak_rss.max(rss_kib("VmRSS:"));
                    peak_heap = peak_heap.max(heap_bytes());
                }
            }
        }
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();
    let line = line
        .expect("the client process finished in time")
        .expect("a result line");
    let report: ClientReport = serde_json::from_str(&line).unwrap();
    let client_done = started.elapsed();

    // Every server-side connection ends (dropped ones included).
    tokio::time::timeout(Duration::from_secs(60), async {
        while counters.open.load(SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("every server connection ends");
    let after_fds = open_fds();
    let after_tasks = runtime.metrics().num_alive_tasks();
    let after_rss = rss_kib("VmRSS:");
    let after_heap = heap_bytes();
    let hwm = rss_kib("VmHWM:");
    let dropped = n.div_ceil(DROP_EVERY);
    let live = n - dropped;
    println!(
        "soak: {n} connections (nofile limit {limit}), {dropped} dropped mid-call; client: {report:?}; \
         server: accepted {}, peak open {}, s->c ok {}, s->c disconnected {}, s->c wrong {}; \
         heap idle {} KiB, peak {} KiB, after {} KiB; \
         RSS idle {idle_rss} KiB, peak {} KiB (VmHWM {hwm} KiB), after {after_rss} KiB; \
         fds idle {idle_fds}, after {after_fds}; tasks baseline {baseline_tasks}, after {after_tasks}; \
         clients done in {client_done:?}, total {:?}",
        counters.accepted.load(SeqCst),
        counters.peak_open.load(SeqCst),
        counters.calls_ok.load(SeqCst),
        counters.calls_disconnected.load(SeqCst),
        counters.calls_wrong.load(SeqCst),
        idle_heap / 1024,
        peak_heap / 1024,
        after_heap / 1024,
        peak_rss.max(after_rss),
        started.elapsed(),
    );

    assert_eq!(report.connected, n, "{report:?}");
    assert_eq!(report.connect_failed, 0);
    assert_eq!(counters.accepted.load(SeqCst), n);
    assert_eq!(counters.peak_open.load(SeqCst), n, "all connections open at once");
    // Client side: every call on a live connection answered correctly; on a
    // dropped one, the stalled call fails with the disconnect error.
    assert_eq!(report.calls_ok, n * (CALLS + 1));
    assert_eq!(report.calls_disconnected, dropped);
    assert_eq!(report.calls_wrong, 0);
    // (each connection also answers the server's nested call for `soak.twice`)
    assert_eq!(report.server_calls_answered, live * SERVER_CALLS + n);
    // Server side: the same for its calls into the clients.
    assert_eq!(counters.calls_ok.load(SeqCst), live * SERVER_CALLS);
    assert_eq!(counters.calls_disconnected.load(SeqCst), dropped * SERVER_CALLS);
    assert_eq!(counters.calls_wrong.load(SeqCst), 0);
    // Nothing leaked: the server's descriptors and tasks are back to idle.
    assert_eq!(after_tasks, baseline_tasks, "tasks leaked");
    assert!(after_fds <= idle_fds, "descriptors leaked: {idle_fds} -> {after_fds}");
    // Memory: the heap is back near its idle size (a little slack for
    // runtime-internal buffers that keep their capacity).
    let slack = (2 << 20).max((peak_heap - idle_heap) / 20);
    assert!(
        after_heap <= idle_heap + slack,
        "heap not back to idle: {idle_heap} -> peak {peak_heap} -> {after_heap}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_1000() {
    soak(1000, Duration::from_secs(120)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "10,000 connections: run with --release --ignored (see the module docs)"]
async fn soak_10000() {
    soak(10_000, Duration::from_secs(600)).await;
}

/// The client side, run in the child process `soak` starts; does nothing
/// when run on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the client half of the soak tests; started by them"]
async fn soak_client() {
    let (Ok(url), Ok(n)) = (std::env::var("SOAK_URL"), std::env::var("SOAK_N")) else {
        return;
    };
    let n: usize = n.parse().unwrap();
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0);
    let report = Arc::new(std::sync::Mutex::new(ClientReport::default()));
    let all_connected = Arc::new(tokio::sync::Barrier::new(n));
    let connecting = Arc::new(tokio::sync::Semaphore::new(256));
    let tasks = (0..n).map(|i| {
        let (url, report, all_connected, connecting) =
            (url.clone(), report.clone(), all_connected.clone(), connecting.clone());
        tokio::spawn(async move { client(i, &url, &report, &all_connected, &connecting).await })
    });
    for task in futures::future::join_all(tasks).await {
        task.unwrap();
    }
    let report = report.lock().unwrap();
    println!("SOAK-RESULT {}", serde_json::to_string(&*report).unwrap());
}

async fn client(
    i: usize,
    url: &str,
    report: &std::sync::Mutex<ClientReport>,
    all_connected: &tokio::sync::Barrier,
    connecting: &tokio::sync::Semaphore,
) {
    let drop_me = i.is_multiple_of(DROP_EVERY);
    let permit = connecting.acquire().await.unwrap();
    let conn = duplexrpc_ws::connect(url).await;
    drop(permit);
    let mut conn = match conn {
        Ok(conn) => conn,
        Err(e) => {
            eprintln!("connect {i}: {e}");
            report.lock().unwrap().connect_failed += 1;
            // Keep the barrier count right.
            all_connected.wait().await;
            return;
        }
    };
    report.lock().unwrap().connected += 1;
    // Server->client calls: answered by live connections; a dropped one
    // holds them unanswered until it drops.
    let served = Arc::new(AtomicUsize::new(0));
    let arrived = Arc::new(tokio::sync::Semaphore::new(0));
    let mut ui = Methods::new();
    let (served2, arrived2) = (served.clone(), arrived.clone());
    ui.method("ui.double", move |(x,): (u64,)| {
        let (served, arrived) = (served2.clone(), arrived2.clone());
        async move {
            arrived.add_permits(1);
            if drop_me && x < SERVER_CALLS as u64 {
                std::future::pending::<()>().await;
            }
            served.fetch_add(1, SeqCst);
            Ok::<_, RpcError>(2 * x)
        }
    })
    .unwrap();
    conn.register(ui).unwrap();
    let peer = conn.start();
    all_connected.wait().await;

    let mut ok = 0;
    let mut wrong = 0;
    let adds = (0..CALLS as u64).map(|j| {
        let peer = peer.clone();
        async move { (j, peer.call::<_, u64>("soak.add", (i as u64, j)).await) }
    });
    for (j, outcome) in futures::future::join_all(adds).await {
        match outcome {
            Ok(v) if v == i as u64 + j => ok += 1,
            other => {
                eprintln!("client {i} add: {other:?}");
                wrong += 1
            }
        }
    }
    // Nested call: the server calls back into this client to answer it.
    match peer.call::<_, u64>("soak.twice", (1_000_000u64,)).await {
        Ok(2_000_001) => ok += 1,
        other => {
            eprintln!("client {i} twice: {other:?}");
            wrong += 1
        }
    }
    let mut disconnected = 0;
    if drop_me {
        // Drop the connection while the server's calls into it and its own
        // `soak.stall` call are in flight.
        let _ = arrived.acquire_many(SERVER_CALLS as u32).await.unwrap();
        let stall = peer.call::<_, ()>("soak.stall", ());
        let closer = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            peer.close().await;
        };
        let (outcome, ()) = tokio::join!(stall, closer);
        match outcome {
            Err(e) if e.is_disconnected() => disconnected += 1,
            other => {
                eprintln!("client {i} stall: {other:?}");
                wrong += 1
            }
        }
    } else {
        // Stay until the server's calls are answered, then leave cleanly.
        while served.load(SeqCst) < SERVER_CALLS {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        peer.close().await;
    }
    peer.finished().await;
    let mut r = report.lock().unwrap();
    r.calls_ok += ok;
    r.calls_wrong += wrong;
    r.calls_disconnected += disconnected;
    r.server_calls_answered += served.load(SeqCst);
}
