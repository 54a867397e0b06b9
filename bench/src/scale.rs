//! `bench scale`: 100,000 connections on one server process (issue 16, item 3).
//!
//! For each server (`ours`: `duplexrpc_ws::Server` with a `duplexrpc_cluster::Registry`;
//! `tungstenite-hand-rolled`: a tokio-tungstenite accept loop with a
//! `tokio::sync::broadcast` fan-out; `ours-no-registry`, a diagnostic: ours
//! with the peers in a `Vec`) and each connection count, the orchestrator
//! starts one server process and `--clients` client processes, then runs
//! four phases:
//!
//! 1. connect all `--connections` (time from the first accepted connection to the
//!    last, connections/s, server CPU per connection);
//! 2. idle: server RSS minus its RSS before any connection, per connection;
//! 3. one `add` call on every connection, then RSS per connection again;
//! 4. one broadcast (`notify_all`) of a `tick` notification whose params are
//!    the send time (ns since the epoch); every client connection stamps its
//!    receipt: time until every connection got it; RSS after it, and again
//!    after glibc's `malloc_trim(0)` (live allocations only).
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
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::Args;
use crate::common::{cpu_seconds, peak_rss_kib, rss_kib};
use crate::orchestrate::{Proc, append, exe, free_port, today};

mod client;
mod report;
mod server;

/// Our server.
const OURS: &str = "ours";
/// Ours without the registry (a diagnostic: `--systems ours,ours-no-registry`).
const OURS_NO_REGISTRY: &str = "ours-no-registry";
/// The hand-rolled tokio-tungstenite server.
const HAND: &str = "tungstenite-hand-rolled";
/// Client sockets per source address (each address has 28,232 ephemeral ports).
pub const PER_ADDR: usize = 20_000;
/// `bench scale`, `bench scale-server`, `bench scale-client`.
pub fn mode(mode: &str, args: &Args) -> anyhow::Result<()> {
    match mode {
        "scale-server" => server::server_cmd(args),
        "scale-client" => client::client_cmd(args),
        _ => scale_cmd(args),
    }
}

/// File descriptors a process needs beyond its connections (std streams,
/// the listener, the runtime's, a few in flight).
const FD_MARGIN: u64 = 256;

/// Raises RLIMIT_NOFILE to at least `want`: the soft limit up to the hard
/// one, and the hard one too where the process may (root with
/// CAP_SYS_RESOURCE, up to `fs.nr_open`).
fn raise_fd_limit(want: u64) -> anyhow::Result<u64> {
    let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE)?;
    if soft >= want {
        return Ok(soft);
    }
    rlimit::setrlimit(rlimit::Resource::NOFILE, want, want.max(hard)).with_context(|| {
        format!(
            "RLIMIT_NOFILE is {soft} (hard {hard}) and this process may not raise it to {want} \
             (raising the hard limit needs CAP_SYS_RESOURCE): at most {} connections per process here",
            hard.saturating_sub(FD_MARGIN)
        )
    })?;
    Ok(want)
}

/// Nanoseconds since the epoch (the broadcast's stamp: one clock for every process).
fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
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
                "scale-client",
                "--server",
                &server.to_string(),
                "--conns",
                &n.to_string(),
                "--src",
                &src.to_string(),
                "--parallel",
                &cfg.parallel.to_string(),
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
    let args: Vec<String> = [
        "scale-server",
        "--system",
        system,
        "--addr",
        &addr.to_string(),
        "--conns",
        &cfg.conns.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut server = Worker::spawn(format!("server {system}"), &args)?;
    let listening = server.expect("LISTENING", Duration::from_secs(10))?;
    let pid = server.proc.pid();
    let before = settled_rss(pid, Duration::from_millis(500));
    let cpu0 = cpu_seconds(Some(pid));
    let mut clients = start_clients(cfg, addr, run)?;
    let connected = each(&clients, "CONNECTED", Duration::from_secs(60 + cfg.conns as u64 / 500))?;
    if let Some(c) = connected.iter().find(|c| c["failed"].as_u64() != Some(0)) {
        anyhow::bail!(
            "{system}: {} connections could not be opened: {}",
            c["failed"],
            c["first_error"]
        );
    }
    let accepted = server.expect("ACCEPTED", Duration::from_secs(30))?;
    let cpu1 = cpu_seconds(Some(pid));
    let idle = settled_rss(pid, cfg.settle);
    clients.iter_mut().try_for_each(|c| c.send("call"))?;
    let called = each(&clients, "CALLED", Duration::from_secs(330))?;
    let after_call = settled_rss(pid, cfg.settle);
    server.send("broadcast")?;
    let sent = server.expect("BROADCAST", Duration::from_secs(120))?;
    let got = each(&clients, "GOT", Duration::from_secs(120))?;
    let after_broadcast = settled_rss(pid, cfg.settle);
    server.send("trim")?;
    server.expect("TRIMMED", Duration::from_secs(30))?;
    let trimmed = rss_kib(pid).map(|k| k as f64);
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
        "kib_per_conn_broadcast": per_conn(after_broadcast),
        "kib_per_conn_trimmed": per_conn(trimmed),
        "called": sum(&called, "n"), "call_secs": max(&called, "secs"),
        "broadcast_queued": sent["queued"], "broadcast_queue_ms": sent["secs"].as_f64().map(|s| s * 1e3),
        "broadcast_delivered": sum(&got, "n"), "broadcast_all_ms": max(&got, "max_ms"),
        "broadcast_p50_ms_max": max(&got, "p50_ms"),
        "rss_after_broadcast_kib": after_broadcast, "peak_rss_kib": peak_rss_kib(pid),
        "client_rss_kib": sum(&connected, "rss_kib"),
    });
    // The server goes first: its sockets (not the clients') take the TIME_WAIT.
    drop(server);
    std::thread::sleep(Duration::from_millis(500));
    drop(clients);
    Ok(v)
}

/// `bench table FILE.jsonl`: the table of the `scale` lines of a saved run, if any.
pub fn table_cmd(text: &str) {
    let lines: Vec<Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    if lines.iter().any(|l| l["kind"] == "scale") {
        println!("{}", report::render(&lines));
    }
}

/// The `scale_memory` lines of a run (the chart's bars): KiB per connection
/// idle, after a call, after the broadcast.
fn memory_lines(run: &Value) -> Vec<Value> {
    [
        ("idle", "kib_per_conn_idle"),
        ("call", "kib_per_conn_called"),
        ("broadcast", "kib_per_conn_broadcast"),
    ]
    .iter()
    .map(|(state, k)| {
        json!({"kind": "scale_memory", "system": run["system"], "conns": run["conns"],
                   "state": state, "kib_per_conn": run[*k], "date": run["date"]})
    })
    .collect()
}

/// `bench scale [--connections 100000] [--clients 4] [--systems ours,tungstenite-hand-rolled]
/// [--parallel 128] [--settle 2] [--quick] [--out FILE.jsonl]`.
fn scale_cmd(args: &Args) -> anyhow::Result<()> {
    let quick = args.flag("quick");
    let counts: Vec<usize> = match args.get("connections") {
        Some(list) => list
            .split(',')
            .map(|n| n.trim().replace('_', "").parse())
            .collect::<Result<_, _>>()?,
        None => vec![if quick { 500 } else { 100_000 }],
    };
    let most = counts.iter().copied().max().unwrap_or(0);
    let mut cfg = ScaleCfg {
        conns: most,
        clients: args.num("clients", if quick { 2 } else { 4 }).max(1),
        parallel: args.num("parallel", 128),
        settle: Duration::from_secs_f64(args.num("settle", if quick { 0.5 } else { 2.0 })),
    };
    anyhow::ensure!(most <= 250 * PER_ADDR, "--connections: at most {}", 250 * PER_ADDR);
    // The server needs an fd per connection: fail here, not after a minute of connecting.
    raise_fd_limit(most as u64 + FD_MARGIN)?;
    let systems: Vec<String> = args
        .get("systems")
        .unwrap_or("ours,tungstenite-hand-rolled")
        .split(',')
        .map(String::from)
        .collect();
    let out = args.get("out").map(String::from).unwrap_or_else(|| {
        let dir = std::env::var("BENCH_RESULTS").unwrap_or_else(|_| "target/bench-results".into());
        format!("{dir}/scale-{}.jsonl", today())
    });
    let mut runs = vec![];
    let cases = counts.iter().flat_map(|&n| systems.iter().map(move |s| (n, s)));
    for (run, (n, system)) in cases.enumerate() {
        anyhow::ensure!(
            run < 250,
            "at most 250 runs (each takes fresh source addresses 127.0.<run>.x)"
        );
        cfg.conns = n;
        eprintln!("  {system}: {n} connections from {} client processes ...", cfg.clients);
        let v = scale_once(system, &cfg, run)?;
        eprintln!("  {system}: {v}");
        append(&out, &v)?;
        for line in memory_lines(&v) {
            append(&out, &line)?;
            runs.push(line);
        }
        runs.push(v);
    }
    let md = report::render(&runs);
    println!("{md}");
    std::fs::write(out.replace(".jsonl", ".md"), &md)?;
    crate::chart::charts_after_run(&runs, out.trim_end_matches(".jsonl"));
    Ok(())
}
