//! The combined attacks of issue 12 against a default server while 100
//! legitimate clients keep calling: non-readers with big replies, silent
//! sockets, oversize batches, big frames and stream floods. No legitimate
//! call may fail; the clients' p99 is reported next to the idle p99.
//!
//! `attack_soak_short` runs in the suite (a few seconds);
//! `attack_soak_long` is `#[ignore]`: `cargo test --release -p duplexrpc-ws
//! --test attack_soak -- --ignored --nocapture`. Both print the p99 of each
//! twelfth of the attack and how many `blob` replies (64 KiB) the server
//! computed for the non-readers. To tell which attack costs what, the
//! environment can pick some: `ATTACKS` holds the letters of the attacks to
//! run (`n` non-readers, `s` silent sockets, `b` oversize batches, `f` big
//! frames, `x` stream floods; default all), `SOAK_SECS` sets the long
//! run's length (default 60), and `READ_RATE` the server's
//! `max_read_rate` in bytes a second (`off`: none; default: the default).
//!
//! Heap and RSS are of this whole process: the server and the in-process
//! clients (the legitimate clients are measured idle first, so the growth
//! under attack is the server's plus the attackers' small buffers).

mod common;
mod heap;
mod raw;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{add_add, add_blob, add_echo, add_forever, serve};
use duplexrpc_core::observe::{CallOutcome, Direction, Metrics};
use duplexrpc_core::{Peer, PeerConfig};
use duplexrpc_ws::{ServerHandle, WsConfig};
use heap::heap;
use raw::{Raw, text_frames as frames};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::task::JoinSet;

const LEGITIMATE: usize = 100;

/// Resident set size of this process, from /proc (0 elsewhere).
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// How hard to attack, and for how long.
struct Scale {
    /// How long the legitimate clients call before the attack (their idle p99).
    idle: Duration,
    attack: Duration,
    non_readers: usize,
    silent: usize,
    batchers: usize,
    big_framers: usize,
    stream_flooders: usize,
}

/// Counts the `blob` replies the server produced (64 KiB each).
#[derive(Debug, Default)]
struct Blobs(AtomicUsize);

impl Metrics for Blobs {
    fn call_finished(&self, direction: Direction, method: &str, _: Duration, _: CallOutcome) {
        if method == "blob" && matches!(direction, Direction::Incoming) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn server(blobs: Arc<Blobs>) -> ServerHandle {
    let mut config = WsConfig::default().peer(PeerConfig::default().metrics(blobs));
    if let Ok(rate) = std::env::var("READ_RATE") {
        config = config.max_read_rate(rate.parse().ok());
    }
    serve(config, |methods| {
        add_add(methods);
        add_echo(methods);
        add_blob(methods);
        add_forever(methods);
    })
    .await
}

/// Latencies of every call, and the calls that failed.
#[derive(Default)]
struct Calls {
    latencies: Vec<Duration>,
    /// (when the call started, from the start of the phase; its latency)
    timeline: Vec<(Duration, Duration)>,
    errors: usize,
}

impl Calls {
    fn p99(&mut self) -> Duration {
        p99_of(&mut self.latencies)
    }
}

fn p99_of(latencies: &mut [Duration]) -> Duration {
    latencies.sort_unstable();
    let at = (latencies.len() * 99 / 100).min(latencies.len().saturating_sub(1));
    latencies.get(at).copied().unwrap_or_default()
}

/// Every client calls `add` back to back (a 5 ms pause between calls) for `length`.
async fn call_for(clients: &[Peer], length: Duration) -> Calls {
    let mut tasks = JoinSet::new();
    for client in clients {
        let client = client.clone();
        tasks.spawn(async move {
            let mut calls = Calls::default();
            let begin = Instant::now();
            let end = begin + length;
            let mut i = 0i64;
            while Instant::now() < end {
                let start = Instant::now();
                match client.call::<_, i64>("add", (i, 1)).await {
                    Ok(sum) if sum == i + 1 => {
                        calls.latencies.push(start.elapsed());
                        calls.timeline.push((start - begin, start.elapsed()));
                    }
                    _ => calls.errors += 1,
                }
                i += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            calls
        });
    }
    let mut all = Calls::default();
    while let Some(calls) = tasks.join_next().await {
        let calls = calls.unwrap();
        all.latencies.extend(calls.latencies);
        all.timeline.extend(calls.timeline);
        all.errors += calls.errors;
    }
    all
}

/// Starts every attacker; they run until `stop` (or the server drops them).
fn attack(server: &ServerHandle, scale: &Scale, stop: &Arc<AtomicBool>, tasks: &mut JoinSet<()>) {
    let only = std::env::var("ATTACKS").unwrap_or_else(|_| "nsbfx".into());
    let pick = |c: char, n: usize| if only.contains(c) { n } else { 0 };
    let scale = &Scale {
        idle: scale.idle,
        attack: scale.attack,
        non_readers: pick('n', scale.non_readers),
        silent: pick('s', scale.silent),
        batchers: pick('b', scale.batchers),
        big_framers: pick('f', scale.big_framers),
        stream_flooders: pick('x', scale.stream_flooders),
    };
    let addr = server.local_addr();
    let blobs = Arc::new(frames(
        (0..2000).map(|id| format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"blob"}}"#)),
    ));
    let batch = Arc::new(frames(std::iter::once(format!(
        "[{}]",
        vec![r#"{"id":1}"#; 1_000_000].join(",")
    ))));
    let big = Arc::new(frames(std::iter::once(format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"echo","params":["{}"]}}"#,
        "x".repeat(4 << 20)
    ))));
    let streams = Arc::new(frames(
        (0..5000).map(|id| format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"forever"}}"#)),
    ));
    for _ in 0..scale.non_readers {
        let blobs = blobs.clone();
        tasks.spawn(async move {
            let mut client = Raw::connect(addr).await;
            // Never reads; the server may stop reading too.
            let _ = client.tcp.write_all(&blobs).await;
            std::future::pending::<()>().await;
        });
    }
    for _ in 0..scale.silent {
        tasks.spawn(async move {
            let _socket = TcpStream::connect(addr).await;
            std::future::pending::<()>().await;
        });
    }
    let repeat = |frame: Arc<Vec<u8>>, replies: usize, tasks: &mut JoinSet<()>, stop: Arc<AtomicBool>| {
        tasks.spawn(async move {
            let mut client = Raw::connect(addr).await;
            while !stop.load(Ordering::Relaxed) {
                client.send_bytes(&frame).await;
                for _ in 0..replies {
                    client.read_frame().await.expect("a reply");
                }
            }
        });
    };
    for _ in 0..scale.batchers {
        repeat(batch.clone(), 1, tasks, stop.clone());
    }
    for _ in 0..scale.big_framers {
        repeat(big.clone(), 1, tasks, stop.clone());
    }
    for _ in 0..scale.stream_flooders {
        let streams = streams.clone();
        tasks.spawn(async move {
            let mut client = Raw::connect(addr).await;
            client.send_bytes(&streams).await;
            for _ in 0..5000 {
                client.read_frame().await.expect("a reply");
            }
            std::future::pending::<()>().await;
        });
    }
}

/// Prints the p99 of the calls started in each `window` of the attack, and
/// the `blob` replies computed.
fn print_windows(calls: &mut Calls, window: Duration, blobs: usize) {
    calls.timeline.sort_unstable();
    let mut line = String::new();
    for chunk in calls
        .timeline
        .chunk_by(|a, b| a.0.as_nanos() / window.as_nanos() == b.0.as_nanos() / window.as_nanos())
    {
        let p99 = p99_of(&mut chunk.iter().map(|&(_, latency)| latency).collect::<Vec<_>>());
        line += &format!(" {:.1}", p99.as_secs_f64() * 1e3);
    }
    eprintln!(
        "p99 (ms) per {window:?}:{line}; blob replies produced: {blobs} ({} MiB)",
        blobs / 16
    );
}

async fn soak(scale: Scale) {
    let blobs = Arc::new(Blobs::default());
    let server = server(blobs.clone()).await;
    let mut clients = Vec::new();
    for _ in 0..LEGITIMATE {
        clients.push(duplexrpc_ws::connect(&server.url()).await.unwrap().start());
    }
    let mut idle = call_for(&clients, scale.idle).await;
    assert_eq!(idle.errors, 0);
    let idle_p99 = idle.p99();
    let (idle_heap, idle_rss) = (heap(), rss());

    let peak_heap = Arc::new(AtomicUsize::new(0));
    let peak_rss = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak_heap, peak_rss, stop) = (peak_heap.clone(), peak_rss.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                peak_heap.fetch_max(heap(), Ordering::Relaxed);
                peak_rss.fetch_max(rss(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let mut attackers = JoinSet::new();
    attack(&server, &scale, &stop, &mut attackers);
    let mut during = call_for(&clients, scale.attack).await;
    stop.store(true, Ordering::Relaxed);
    sampler.await.unwrap();
    attackers.abort_all();
    while attackers.join_next().await.is_some() {}
    let during_p99 = during.p99();
    print_windows(&mut during, scale.attack / 12, blobs.0.load(Ordering::Relaxed));
    let mib = |b: usize| b as f64 / f64::from(1 << 20);
    eprintln!(
        "attack soak: {} legitimate calls during the attack, {} failed; p99 idle {idle_p99:?}, \
         under attack {during_p99:?} ({:.1}x); process heap idle {:.1} MiB, peak {:.1} MiB; \
         RSS idle {:.1} MiB, peak {:.1} MiB",
        during.latencies.len() + during.errors,
        during.errors,
        during_p99.as_secs_f64() / idle_p99.as_secs_f64().max(1e-6),
        mib(idle_heap),
        mib(peak_heap.load(Ordering::Relaxed)),
        mib(idle_rss),
        mib(peak_rss.load(Ordering::Relaxed)),
    );
    assert_eq!(during.errors, 0, "legitimate calls failed during the attack");
    assert!(!during.latencies.is_empty());
    // A bound with generous slack (a debug build on a shared machine); the
    // 10x target is what the long run reports.
    assert!(during_p99 < Duration::from_secs(2), "p99 under attack: {during_p99:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_soak_short() {
    soak(Scale {
        idle: Duration::from_secs(1),
        attack: Duration::from_secs(3),
        non_readers: 10,
        silent: 200,
        batchers: 2,
        big_framers: 2,
        stream_flooders: 2,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a minute of attacks: run with --ignored"]
async fn attack_soak_long() {
    soak(Scale {
        // Long enough that a change of the machine's load does not decide
        // the idle figure the attack is compared with.
        idle: Duration::from_secs(5),
        attack: Duration::from_secs(std::env::var("SOAK_SECS").map_or(60, |s| s.parse().unwrap())),
        non_readers: 100,
        silent: 5000,
        batchers: 6,
        big_framers: 6,
        stream_flooders: 10,
    })
    .await;
}
