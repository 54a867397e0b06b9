//! `bench`: this framework side by side with a hand-rolled tokio-tungstenite
//! JSON-RPC loop, jsonrpsee 0.26 and a plain TCP echo, on 127.0.0.1.
//!
//! One command runs everything and prints one markdown report in which every
//! figure comes from that run (see README.md, "Performance"):
//!
//! ```sh
//! cargo run --release -p bench                # full run (~10 min)
//! cargo run --release -p bench -- --quick     # smoke run (< 1 min)
//! ```
//!
//! The orchestrating mode starts this binary again as separate server and
//! client processes (pinned to one core each in the default `pinned` mode):
//!
//! ```text
//!   run           [--quick] [--systems a,b] [--workloads seq,pipe64,...] [--repeats 3]
//!                 [--warmup 1] [--duration 4] [--conns 5000] [--mode pinned|shared]
//!                 [--skip-mem] [--out FILE.jsonl]           (the default mode)
//!   server        --system S --addr 127.0.0.1:P [--cpus 0]
//!   client        --system S --url ws://.. --conns C --inflight K [--warmup] [--duration]
//!                 [--server-pid PID] [--cpus 1] [--calls-per-conn N (counted run, no window)]
//!                 [--echo-bytes B (call echo with B-byte params instead of add)]
//!   caller-server --system S --addr .. --conns C --inflight K [--warmup] [--duration] [--cpus 0]
//!                 (server -> client calls; reads the client's PID from stdin)
//!   answer-client --system S --url ws://.. --conns C [--cpus 1]
//!   idle-client   --system S --url ws://.. --conns N        (memory test helper)
//!   cost          [--systems a,b] [--workloads ..] [--calls 2000] [--warmup-calls 1000]
//!                 [--multi-conns 50] [--repeats 2] [--tool callgrind|cachegrind]
//!                 [--strace-calls 20000] [--no-strace]
//!                 [--keep] [--out FILE.jsonl]   (instructions and syscalls per call, see cost.rs)
//!   big           [--systems a,b] [--sizes 64k,1m,8m] [--repeats 3] [--warmup 0.5]
//!                 [--duration 3] [--out FILE.jsonl]   (echo of big params, see big.rs)
//!   fanout        [--quick] [--conns 10000] [--curve 1000,5000,10000] [--rate 10] ...
//!                 (broadcast fan-out, see fanout.rs; starts fanout-server / fanout-client)
//!   scale         [--connections 100000] [--clients 4] [--parallel 128] [--settle 2] [--quick]
//!                 [--systems ours,tungstenite-hand-rolled] [--out FILE.jsonl]   (see scale.rs)
//!   chart         FILE.jsonl ...                            (SVG charts of saved runs)
//!   table         FILE.jsonl                                (re-print a saved run)
//!   list
//! ```

/// `--help`: the modes (as in the module doc).
const USAGE: &str = "\
usage: bench [run] [--quick] [--systems a,b] [--workloads seq,pipe64,...] [--repeats 3]
                   [--warmup 1] [--duration 4] [--conns 5000] [--mode pinned|shared]
                   [--skip-mem] [--out FILE.jsonl]
       bench cost [--systems ours,tungstenite-jsonrpc,jsonrpsee] [--workloads all] [--calls 2000]
                  [--warmup-calls 1000] [--multi-conns 50] [--repeats 2] [--tool callgrind|cachegrind]
                  [--strace-calls 20000] [--no-strace] [--keep] [--out FILE.jsonl]
                                   instructions (valgrind) and syscalls (strace) per call
       bench big [--systems ours,tungstenite-jsonrpc] [--sizes 64k,1m,8m] [--repeats 3]
                 [--warmup 0.5] [--duration 3] [--out FILE.jsonl]
                                   echo of big params: MiB/s and server peak RSS
       bench fanout [--quick] [--systems ours,tungstenite-fanout,jsonrpsee] [--conns 10000]
                    [--curve 1000,5000,10000] [--rate 10] [--warmup 1] [--duration 3] [--repeats 1]
                    [--slow-conns 200] [--slow-rate 50] [--slow-pad 16384] [--slow-warmup 8]
                    [--cases all,group,slow] [--out FILE.jsonl]
                                   broadcast fan-out from one server process (see fanout.rs)
       bench scale [--connections 100000] [--clients 4] [--parallel 128] [--quick] [--out FILE.jsonl]
                                   100,000 connections on one server: accept rate, RSS per conn, broadcast
       bench chart FILE.jsonl ...  SVG charts of saved runs (FILE-calls.svg, -instructions.svg, -big.svg, -fanout.svg, -scale.svg)
       bench table FILE.jsonl      re-print a saved run
       bench list                  the systems
       (server, client, caller-server, answer-client, idle-client: started by `run`)
";

mod big;
mod chart;
mod common;
mod cost;
mod fanout;
mod orchestrate;
mod scale;
mod systems;

use std::collections::HashMap;
use std::io::BufRead;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use common::*;

/// Tiny `--key value` / `--flag` parser (keeps the build light).
#[derive(Debug)]
pub struct Args {
    /// Positional arguments.
    pub pos: Vec<String>,
    /// `--key value` pairs (`--flag` alone is `"true"`).
    pub kv: HashMap<String, String>,
}

impl Args {
    fn parse(v: Vec<String>) -> Args {
        let mut pos = vec![];
        let mut kv = HashMap::new();
        let mut i = 0;
        while i < v.len() {
            if let Some(k) = v[i].strip_prefix("--") {
                if let Some((k, val)) = k.split_once('=') {
                    kv.insert(k.to_string(), val.to_string());
                } else if i + 1 < v.len() && !v[i + 1].starts_with("--") {
                    kv.insert(k.to_string(), v[i + 1].clone());
                    i += 1;
                } else {
                    kv.insert(k.to_string(), "true".to_string());
                }
            } else {
                pos.push(v[i].clone());
            }
            i += 1;
        }
        Args { pos, kv }
    }
    /// The value of `--k`.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.kv.get(k).map(|s| s.as_str())
    }
    /// The value of `--k`, or an error naming it.
    pub fn req(&self, k: &str) -> anyhow::Result<&str> {
        self.get(k).ok_or_else(|| anyhow::anyhow!("missing --{k}"))
    }
    /// `--k` parsed, or `d`.
    pub fn num<T: std::str::FromStr>(&self, k: &str, d: T) -> T {
        self.get(k).and_then(|s| s.parse().ok()).unwrap_or(d)
    }
    /// Whether `--k` was given (and not `--k false`).
    pub fn flag(&self, k: &str) -> bool {
        self.get(k).map(|v| v != "false").unwrap_or(false)
    }
}

fn main() -> anyhow::Result<()> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let (mode, rest) = match argv.first() {
        Some(m) if !m.starts_with("--") => (m.clone(), argv[1..].to_vec()),
        _ => ("run".to_string(), argv),
    };
    if matches!(mode.as_str(), "help" | "-h") || rest.iter().any(|a| a == "--help") {
        print!("{USAGE}");
        return Ok(());
    }
    let args = Args::parse(rest);
    raise_nofile();
    if let Some(c) = args.get("cpus") {
        pin_to(&parse_cpus(c))?;
    }
    let threads = args.get("threads").map(|t| t.parse().expect("bad --threads"));
    match mode.as_str() {
        "server" => {
            let sys = systems::by_name(args.req("system")?)?;
            let addr = args.req("addr")?.parse()?;
            if args.flag("exit-on-eof") {
                exit_on_stdin_eof();
            }
            runtime(threads).block_on(sys.serve(addr))
        }
        "client" => runtime(threads).block_on(client(&args)),
        "caller-server" => runtime(threads).block_on(caller_server(&args)),
        "answer-client" => runtime(threads).block_on(answer_client(&args)),
        "idle-client" => runtime(threads).block_on(idle_client(&args)),
        "run" => orchestrate::run_cmd(&args),
        "cost" => cost::cost_cmd(&args),
        "big" => big::big_cmd(&args),
        m if m.starts_with("fanout") => fanout::dispatch(m, &args, threads),
        "scale" | "scale-server" | "scale-client" => scale::mode(&mode, &args),
        "chart" => chart::chart_cmd(&args),
        "table" => orchestrate::saved_run(&args).and_then(|text| {
            orchestrate::table_cmd(&text)?;
            cost::table_cmd(&text);
            scale::table_cmd(&text);
            Ok(())
        }),
        "list" => {
            for s in systems::all() {
                println!("{:<20} {}", s.name(), s.describe());
            }
            Ok(())
        }
        m => anyhow::bail!("unknown mode {m}; see the doc comment of bench/src/main.rs"),
    }
}

/// `server --exit-on-eof` (the `cost` mode): exit normally once stdin ends,
/// so that valgrind and strace write their counts (a killed process writes none).
fn exit_on_stdin_eof() {
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
}

/// The run control of a measuring process: counted (`--calls-per-conn N`,
/// the `cost` mode) or timed.
fn ctl_from(args: &Args) -> std::sync::Arc<Ctl> {
    match args.num("calls-per-conn", 0u64) {
        0 => Ctl::new(),
        n => Ctl::with_quota(n),
    }
}

/// Longest a counted run's drivers may take (valgrind slows them ~50x).
const COUNTED_LIMIT: Duration = Duration::from_secs(900);

/// The JSON line of a counted run.
fn counted_report(sys: &str, w: &Window, inflight: usize, rec: &Recorder, secs: f64) -> Value {
    json!({"system": sys, "conns": w.conns, "inflight": inflight, "calls": rec.calls, "secs": secs})
}

struct Window {
    conns: usize,
    warmup: Duration,
    duration: Duration,
}

impl Window {
    fn from(args: &Args) -> Window {
        Window {
            conns: args.num("conns", 1),
            warmup: Duration::from_secs_f64(args.num("warmup", 1.0)),
            duration: Duration::from_secs_f64(args.num("duration", 4.0)),
        }
    }
}

/// Warm-up, then the measured window; CPU of this process and of `other_pid`
/// read at both ends of the window. Returns (seconds, own CPU cores, other's CPU cores).
async fn measured_window(ctl: &Ctl, w: &Window, other_pid: Option<u32>) -> (f64, Option<f64>, Option<f64>) {
    tokio::time::sleep(w.warmup).await;
    let (me0, other0) = (cpu_seconds(None), other_pid.and_then(|p| cpu_seconds(Some(p))));
    let t0 = Instant::now();
    ctl.set_phase(MEASURE);
    tokio::time::sleep(w.duration).await;
    ctl.set_phase(STOP);
    let secs = t0.elapsed().as_secs_f64();
    let (me1, other1) = (cpu_seconds(None), other_pid.and_then(|p| cpu_seconds(Some(p))));
    let cores = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| (b - a) / secs);
    (secs, cores(me0, me1), cores(other0, other1))
}

async fn collect(handles: Vec<JoinHandle<anyhow::Result<Recorder>>>, limit: Duration) -> anyhow::Result<Recorder> {
    let mut rec = Recorder::new();
    for h in handles {
        match tokio::time::timeout(limit, h).await {
            Ok(r) => rec.merge(&r??),
            Err(_) => anyhow::bail!("a driver did not stop within {limit:?}"),
        }
    }
    Ok(rec)
}

/// The JSON line a measuring process prints: `server_*` is always the
/// WebSocket server process, `client_*` the WebSocket client process.
fn report(
    sys: &str,
    w: &Window,
    inflight: usize,
    rec: &Recorder,
    secs: f64,
    server: Option<f64>,
    client: Option<f64>,
) -> Value {
    let h = &rec.hist;
    let us = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let per_call = |c: Option<f64>| c.map(|c| c * secs / rec.calls.max(1) as f64 * 1e6);
    json!({
        "system": sys,
        "conns": w.conns,
        "inflight": inflight,
        "secs": secs,
        "calls": rec.calls,
        "calls_per_s": rec.calls as f64 / secs,
        "mean_us": h.mean() / 1000.0,
        "p50_us": us(0.50),
        "p90_us": us(0.90),
        "p99_us": us(0.99),
        "p999_us": us(0.999),
        "max_us": h.max() as f64 / 1000.0,
        "client_cpu": client,
        "server_cpu": server,
        "server_us_per_call": per_call(server),
        "client_us_per_call": per_call(client),
    })
}

/// Load client (client -> server calls): `conns` connections x `inflight`
/// outstanding calls, warm-up, then a measured window. Prints one JSON object.
async fn client(args: &Args) -> anyhow::Result<()> {
    let sys = systems::by_name(args.req("system")?)?;
    let url = args.req("url")?.to_string();
    let inflight: usize = args.num("inflight", 1);
    let w = Window::from(args);
    let server_pid: Option<u32> = args.get("server-pid").map(|p| p.parse()).transpose()?;

    let ctl = ctl_from(args);
    let t = Instant::now();
    let echo_bytes: usize = args.num("echo-bytes", 0);
    let handles: Vec<_> = (0..w.conns)
        .map(|_| match echo_bytes {
            0 => tokio::spawn(sys.drive(url.clone(), inflight, ctl.clone())),
            n => tokio::spawn(sys.drive_echo(url.clone(), n, ctl.clone())),
        })
        .collect();
    if ctl.quota().is_some() {
        let rec = collect(handles, COUNTED_LIMIT).await?;
        let secs = t.elapsed().as_secs_f64();
        println!("{}", counted_report(sys.name(), &w, inflight, &rec, secs));
        return Ok(());
    }
    while ctl.connected() < w.conns {
        if t.elapsed() > Duration::from_secs(20) {
            anyhow::bail!("only {}/{} connections opened in 20 s", ctl.connected(), w.conns);
        }
        if handles.iter().any(|h| h.is_finished()) {
            // a driver ended before measurement: surface its error
            for h in handles {
                if h.is_finished() {
                    h.await??;
                }
            }
            anyhow::bail!("a driver ended early");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let (secs, me, server) = measured_window(&ctl, &w, server_pid).await;
    let rec = collect(handles, Duration::from_secs(10)).await?;
    println!("{}", report(sys.name(), &w, inflight, &rec, secs, server, me));
    Ok(())
}

/// Server -> client calls, measured in the server process: accept `conns`
/// connections and keep `inflight` calls outstanding into each client. The
/// orchestrator writes the client process's PID on stdin (for its CPU time).
async fn caller_server(args: &Args) -> anyhow::Result<()> {
    let sys = systems::by_name(args.req("system")?)?;
    anyhow::ensure!(sys.has_s2c(), "{} has no server -> client mode", sys.name());
    let addr = args.req("addr")?.parse()?;
    let inflight: usize = args.num("inflight", 1);
    let w = Window::from(args);

    let ctl = ctl_from(args);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let acceptor = tokio::spawn(sys.serve_calling(addr, inflight, ctl.clone(), tx));
    let line = tokio::task::spawn_blocking(|| {
        let mut s = String::new();
        std::io::stdin().read_line(&mut s).map(|_| s)
    })
    .await??;
    let client_pid: Option<u32> = line.trim().parse().ok();
    let t = Instant::now();
    if ctl.quota().is_some() {
        let mut handles = vec![];
        while handles.len() < w.conns {
            match tokio::time::timeout(Duration::from_secs(120), rx.recv()).await {
                Ok(Some(h)) => handles.push(h),
                _ => anyhow::bail!("only {}/{} connections arrived", handles.len(), w.conns),
            }
        }
        let rec = collect(handles, COUNTED_LIMIT).await?;
        let secs = t.elapsed().as_secs_f64();
        acceptor.abort();
        println!("{}", counted_report(sys.name(), &w, inflight, &rec, secs));
        return Ok(());
    }
    while ctl.connected() < w.conns {
        if t.elapsed() > Duration::from_secs(20) {
            anyhow::bail!("only {}/{} connections arrived in 20 s", ctl.connected(), w.conns);
        }
        if acceptor.is_finished() {
            acceptor.await??;
            anyhow::bail!("the accept loop ended early");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let (secs, me, client) = measured_window(&ctl, &w, client_pid).await;
    let mut handles = vec![];
    while let Ok(h) = rx.try_recv() {
        handles.push(h);
    }
    let rec = collect(handles, Duration::from_secs(10)).await?;
    acceptor.abort();
    println!("{}", report(sys.name(), &w, inflight, &rec, secs, me, client));
    Ok(())
}

/// Server -> client calls, the answering side: open `conns` connections and
/// answer the server's calls until the server goes away.
async fn answer_client(args: &Args) -> anyhow::Result<()> {
    let sys = systems::by_name(args.req("system")?)?;
    let url = args.req("url")?.to_string();
    let conns: usize = args.num("conns", 1);
    let handles: Vec<_> = (0..conns).map(|_| tokio::spawn(sys.answer(url.clone()))).collect();
    for h in handles {
        // The server ends the run by exiting: every answerer then sees its
        // connection end, which is not an error here.
        let _ = h.await?;
    }
    Ok(())
}

/// Memory-test helper: open `conns` idle WebSocket connections (plain
/// tokio-tungstenite handshake, whatever the server), print `CONNECTED n secs`,
/// then obey stdin lines: `touch` (one request/reply on every connection,
/// prints `TOUCHED n secs`) and `quit` (or EOF).
async fn idle_client(args: &Args) -> anyhow::Result<()> {
    let sys = systems::by_name(args.req("system")?)?;
    let url = args.req("url")?.to_string();
    let conns: usize = args.num("conns", 5000);
    let parallel: usize = args.num("parallel", 64);
    let t = Instant::now();
    let mut all = Vec::with_capacity(conns);
    let mut pending = futures_util::stream::iter((0..conns).map(|_| {
        let url = url.clone();
        async move { systems::ws::connect(&url).await }
    }))
    .buffer_unordered(parallel);
    while let Some(ws) = pending.next().await {
        all.push(ws?);
    }
    drop(pending);
    println!("CONNECTED {} {:.3}", all.len(), t.elapsed().as_secs_f64());

    let (tx, mut rx) = mpsc::channel::<String>(4);
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let Ok(line) = line else { break };
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    while let Some(cmd) = rx.recv().await {
        match cmd.trim() {
            "touch" => {
                let t = Instant::now();
                let frame = sys.touch_frame();
                let mut ok = 0usize;
                for chunk in all.chunks_mut(parallel) {
                    let futs = chunk.iter_mut().map(|ws| async move {
                        ws.send(Message::text(frame)).await?;
                        loop {
                            match ws.next().await {
                                Some(Ok(Message::Text(_))) => return anyhow::Ok(()),
                                Some(Ok(_)) => continue,
                                Some(Err(e)) => return Err(e.into()),
                                None => anyhow::bail!("closed"),
                            }
                        }
                    });
                    for r in futures_util::future::join_all(futs).await {
                        r?;
                        ok += 1;
                    }
                }
                println!("TOUCHED {} {:.3}", ok, t.elapsed().as_secs_f64());
            }
            "quit" => break,
            _ => {}
        }
    }
    Ok(())
}
