//! Orchestration: start the server process, run the client process, stop both
//! by PID, repeat (systems interleaved), take medians, print one markdown report.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Args;
use crate::common::{rss_kib, threads};
use crate::systems::{self, System};

/// One load shape.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    /// Table name.
    pub name: &'static str,
    /// Connections.
    pub conns: usize,
    /// Calls outstanding per connection.
    pub inflight: usize,
    /// The server calls the client (instead of the client calling the server).
    pub s2c: bool,
}

/// Every workload, in table order.
pub const WORKLOADS: &[Workload] = &[
    Workload {
        name: "seq",
        conns: 1,
        inflight: 1,
        s2c: false,
    },
    Workload {
        name: "pipe64",
        conns: 1,
        inflight: 64,
        s2c: false,
    },
    Workload {
        name: "multi50x16",
        conns: 50,
        inflight: 16,
        s2c: false,
    },
    Workload {
        name: "s2c-seq",
        conns: 1,
        inflight: 1,
        s2c: true,
    },
    Workload {
        name: "s2c-pipe64",
        conns: 1,
        inflight: 64,
        s2c: true,
    },
    Workload {
        name: "s2c-multi50x16",
        conns: 50,
        inflight: 16,
        s2c: true,
    },
];

pub(crate) fn workloads(sel: &str) -> anyhow::Result<Vec<Workload>> {
    if sel == "all" {
        return Ok(WORKLOADS.to_vec());
    }
    sel.split(',')
        .map(|w| {
            WORKLOADS.iter().copied().find(|x| x.name == w).ok_or_else(|| {
                let known: Vec<_> = WORKLOADS.iter().map(|w| w.name).collect();
                anyhow::anyhow!("unknown workload {w}; known: {}, all", known.join(", "))
            })
        })
        .collect()
}

/// `pinned`: server on CPU 0 (1 tokio worker), client on CPU 1 (1 worker).
/// `shared`: no affinity, each process gets the default 2 workers.
pub(crate) fn mode_args(mode: &str, server: bool) -> Vec<String> {
    match mode {
        "pinned" => vec!["--cpus".into(), if server { "0".into() } else { "1".into() }],
        "shared" => vec![],
        m => panic!("unknown mode {m} (pinned|shared)"),
    }
}

pub fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let days = secs.div_euclid(86_400);
    // civil_from_days (Howard Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    format!("{:04}-{:02}-{:02}", if m <= 2 { y + 1 } else { y }, m, d)
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub(crate) fn exe() -> std::path::PathBuf {
    std::env::current_exe().expect("current_exe")
}

/// A child process we started; killed (by its PID) and reaped on drop.
pub(crate) struct Proc(pub(crate) Child);

impl Proc {
    pub(crate) fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill(); // SIGKILL to this PID only
        }
        let _ = self.0.wait();
    }
}

pub(crate) fn start_server(sys: &dyn System, mode: &str) -> anyhow::Result<(Proc, SocketAddr)> {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse()?;
    let child = Command::new(exe())
        .args(["server", "--system", sys.name(), "--addr", &addr.to_string()])
        .args(mode_args(mode, true))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()?;
    let p = Proc(child);
    wait_listening(sys, addr)?;
    Ok((p, addr))
}

/// Waits until a server listens on `addr` (a TCP connect succeeds), then 200 ms more.
fn wait_listening(sys: &dyn System, addr: SocketAddr) -> anyhow::Result<()> {
    wait_listening_within(sys, addr, Duration::from_secs(10))
}

/// [`wait_listening`] with a given limit (a server under valgrind starts slowly).
pub(crate) fn wait_listening_within(sys: &dyn System, addr: SocketAddr, limit: Duration) -> anyhow::Result<()> {
    let t = Instant::now();
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            break;
        }
        if t.elapsed() > limit {
            anyhow::bail!("server {} did not listen on {addr} within {limit:?}", sys.name());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    Ok(())
}

pub(crate) fn wait_with_timeout(p: &mut Proc, limit: Duration) -> anyhow::Result<std::process::ExitStatus> {
    let t = Instant::now();
    loop {
        if let Some(st) = p.0.try_wait()? {
            return Ok(st);
        }
        if t.elapsed() > limit {
            let _ = p.0.kill();
            let _ = p.0.wait();
            anyhow::bail!("process {} exceeded {:?}; killed", p.pid(), limit);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Repeats and window lengths of a run.
#[derive(Debug)]
pub struct BenchCfg {
    /// Repeats of every case (interleaved across systems).
    pub repeats: usize,
    /// Warm-up seconds before each window.
    pub warmup: f64,
    /// Measured window, seconds.
    pub duration: f64,
}

pub(crate) fn read_all(mut child: Proc, limit: Duration) -> anyhow::Result<String> {
    let mut stdout = child.0.stdout.take().expect("stdout piped");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    let st = wait_with_timeout(&mut child, limit)?;
    let out = reader.join().expect("reader thread");
    anyhow::ensure!(st.success(), "measuring process failed ({st})");
    Ok(out)
}

/// One measured run, client -> server: fresh server process, one client process.
fn run_c2s(sys: &dyn System, w: Workload, mode: &str, cfg: &BenchCfg) -> anyhow::Result<Value> {
    let (server, addr) = start_server(sys, mode)?;
    let child = Command::new(exe())
        .args(["client", "--system", sys.name(), "--url", &format!("ws://{addr}/")])
        .args(["--conns", &w.conns.to_string(), "--inflight", &w.inflight.to_string()])
        .args([
            "--warmup",
            &cfg.warmup.to_string(),
            "--duration",
            &cfg.duration.to_string(),
        ])
        .args(["--server-pid", &server.pid().to_string()])
        .args(mode_args(mode, false))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()?;
    let out = read_all(Proc(child), Duration::from_secs_f64(cfg.warmup + cfg.duration + 45.0))?;
    drop(server);
    Ok(serde_json::from_str(out.trim().lines().last().unwrap_or(""))?)
}

/// One measured run, server -> client: the server process accepts the
/// connections and measures the calls it makes into the client process.
fn run_s2c(sys: &dyn System, w: Workload, mode: &str, cfg: &BenchCfg) -> anyhow::Result<Value> {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse()?;
    let child = Command::new(exe())
        .args(["caller-server", "--system", sys.name(), "--addr", &addr.to_string()])
        .args(["--conns", &w.conns.to_string(), "--inflight", &w.inflight.to_string()])
        .args([
            "--warmup",
            &cfg.warmup.to_string(),
            "--duration",
            &cfg.duration.to_string(),
        ])
        .args(mode_args(mode, true))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut server = Proc(child);
    let mut stdin = server.0.stdin.take().expect("stdin piped");
    wait_listening(sys, addr)?;
    let client = Proc(
        Command::new(exe())
            .args([
                "answer-client",
                "--system",
                sys.name(),
                "--url",
                &format!("ws://{addr}/"),
            ])
            .args(["--conns", &w.conns.to_string()])
            .args(mode_args(mode, false))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()?,
    );
    writeln!(stdin, "{}", client.pid())?;
    drop(stdin);
    let out = read_all(server, Duration::from_secs_f64(cfg.warmup + cfg.duration + 45.0))?;
    drop(client);
    Ok(serde_json::from_str(out.trim().lines().last().unwrap_or(""))?)
}

fn run_once(sys: &dyn System, w: Workload, mode: &str, cfg: &BenchCfg) -> anyhow::Result<Value> {
    let mut v = if w.s2c {
        run_s2c(sys, w, mode, cfg)?
    } else {
        run_c2s(sys, w, mode, cfg)?
    };
    v["workload"] = json!(w.name);
    v["mode"] = json!(mode);
    v["kind"] = json!("throughput");
    v["date"] = json!(today());
    v["warmup_s"] = json!(cfg.warmup);
    Ok(v)
}

pub(crate) fn median(mut xs: Vec<f64>) -> f64 {
    xs.retain(|x| x.is_finite());
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

const MED_FIELDS: &[&str] = &[
    "calls_per_s",
    "mean_us",
    "p50_us",
    "p90_us",
    "p99_us",
    "p999_us",
    "max_us",
    "client_cpu",
    "server_cpu",
    "server_us_per_call",
    "client_us_per_call",
];

/// Median of each metric across repeats (each metric independently).
fn summarize(runs: &[Value]) -> Value {
    let mut s = json!({
        "kind": "summary",
        "system": runs[0]["system"], "workload": runs[0]["workload"], "mode": runs[0]["mode"],
        "conns": runs[0]["conns"], "inflight": runs[0]["inflight"], "date": runs[0]["date"],
        "repeats": runs.len(), "secs": runs[0]["secs"],
    });
    let mut by_repeat: Vec<&Value> = runs.iter().collect();
    by_repeat.sort_by_key(|r| r["repeat"].as_u64());
    for f in MED_FIELDS {
        s[*f] = json!(median(runs.iter().filter_map(|r| r[*f].as_f64()).collect()));
        // Each repeat's figure, in repeat order: the targets pair cases
        // measured in the same round (see `render_targets`).
        s["rounds"][*f] = json!(by_repeat.iter().map(|r| r[*f].as_f64()).collect::<Vec<_>>());
    }
    let cps: Vec<f64> = runs.iter().filter_map(|r| r["calls_per_s"].as_f64()).collect();
    s["calls_per_s_min"] = json!(cps.iter().cloned().fold(f64::INFINITY, f64::min));
    s["calls_per_s_max"] = json!(cps.iter().cloned().fold(f64::NEG_INFINITY, f64::max));
    s
}

pub(crate) fn append(out: &str, v: &Value) -> anyhow::Result<()> {
    if let Some(dir) = std::path::Path::new(out).parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(out)?;
    writeln!(f, "{v}")?;
    Ok(())
}

fn run_with_retry(
    sys: &dyn System,
    w: Workload,
    mode: &str,
    cfg: &BenchCfg,
    out: &str,
    i: usize,
) -> anyhow::Result<Value> {
    // a failed run is reported and retried (at most twice)
    let mut tries = 0;
    let mut v = loop {
        match run_once(sys, w, mode, cfg) {
            Ok(v) => break v,
            Err(e) if tries < 2 => {
                tries += 1;
                eprintln!("  {} {} {} run {i} FAILED ({e:#}); retrying", sys.name(), mode, w.name);
                append(
                    out,
                    &json!({"kind": "failure", "system": sys.name(), "workload": w.name, "mode": mode,
                            "error": format!("{e:#}"), "date": today()}),
                )?;
            }
            Err(e) => return Err(e),
        }
    };
    v["retries"] = json!(tries);
    v["repeat"] = json!(i);
    eprintln!(
        "  {:<20} {:<7} {:<15} run {}: {:>10.0} calls/s  p50 {:>8.1} us  p99 {:>8.1} us  cpu srv {:.2} cli {:.2}",
        sys.name(),
        mode,
        w.name,
        i,
        v["calls_per_s"].as_f64().unwrap_or(0.0),
        v["p50_us"].as_f64().unwrap_or(0.0),
        v["p99_us"].as_f64().unwrap_or(0.0),
        v["server_cpu"].as_f64().unwrap_or(f64::NAN),
        v["client_cpu"].as_f64().unwrap_or(f64::NAN),
    );
    append(out, &v)?;
    Ok(v)
}

/// Every (workload, system) case, interleaved: repeat i of every case before
/// repeat i+1, so slow drift of the machine (e.g. other load coming and going)
/// spreads over all systems and workloads alike, and ratios between workloads
/// (server -> client vs client -> server) compare like with like.
fn bench_interleaved(
    syss: &[&'static dyn System],
    ws: &[Workload],
    mode: &str,
    cfg: &BenchCfg,
    out: &str,
) -> anyhow::Result<Vec<Value>> {
    let cases: Vec<(Workload, &'static dyn System)> = ws
        .iter()
        .flat_map(|w| syss.iter().filter(|s| !w.s2c || s.has_s2c()).map(move |s| (*w, *s)))
        .collect();
    let mut runs: Vec<Vec<Value>> = vec![vec![]; cases.len()];
    for i in 0..cfg.repeats {
        for (k, (w, sys)) in cases.iter().enumerate() {
            runs[k].push(run_with_retry(*sys, *w, mode, cfg, out, i)?);
        }
    }
    let mut sums = vec![];
    for r in &runs {
        let s = summarize(r);
        append(out, &s)?;
        sums.push(s);
    }
    Ok(sums)
}

/// Server RSS with `conns` idle WebSocket connections (fresh server each repeat).
fn mem_once(sys: &dyn System, conns: usize) -> anyhow::Result<Value> {
    let (server, addr) = start_server(sys, "shared")?;
    std::thread::sleep(Duration::from_millis(500));
    let base = rss_kib(server.pid()).unwrap_or(0);
    let child = Command::new(exe())
        .args(["idle-client", "--system", sys.name(), "--url", &format!("ws://{addr}/")])
        .args(["--conns", &conns.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut client = Proc(child);
    let mut stdin = client.0.stdin.take().unwrap();
    let stdout = client.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let expect = |prefix: &str| -> anyhow::Result<Vec<String>> {
        let l = rx
            .recv_timeout(Duration::from_secs(120))
            .map_err(|_| anyhow::anyhow!("no {prefix} line"))?;
        anyhow::ensure!(l.starts_with(prefix), "unexpected line {l:?}");
        Ok(l.split_whitespace().map(String::from).collect())
    };
    let c = expect("CONNECTED")?;
    std::thread::sleep(Duration::from_secs(2));
    let idle = rss_kib(server.pid()).unwrap_or(0);
    let thr = threads(server.pid()).unwrap_or(0);
    writeln!(stdin, "touch")?;
    let tl = expect("TOUCHED")?;
    std::thread::sleep(Duration::from_secs(2));
    let touched = rss_kib(server.pid()).unwrap_or(0);
    let _ = writeln!(stdin, "quit");
    drop(stdin);
    let _ = wait_with_timeout(&mut client, Duration::from_secs(30));
    drop(server);
    let n: f64 = c[1].parse()?;
    Ok(json!({
        "kind": "memory", "system": sys.name(), "date": today(), "conns": n as u64,
        "connect_s": c[2].parse::<f64>()?, "touch_s": tl[2].parse::<f64>()?,
        "rss_base_kib": base, "rss_idle_kib": idle, "rss_touched_kib": touched,
        "kib_per_conn_idle": (idle as f64 - base as f64) / n,
        "kib_per_conn_touched": (touched as f64 - base as f64) / n,
        "server_threads": thr,
    }))
}

fn mem_series(sys: &dyn System, conns: usize, repeats: usize, out: &str) -> anyhow::Result<Value> {
    let mut runs = vec![];
    for i in 0..repeats {
        let mut v = mem_once(sys, conns)?;
        v["repeat"] = json!(i);
        eprintln!(
            "  {:<20} mem run {}: base {} KiB, {} idle conns {} KiB ({:.1} KiB/conn), after one call each {} KiB ({:.1} KiB/conn)",
            sys.name(),
            i,
            v["rss_base_kib"],
            v["conns"],
            v["rss_idle_kib"],
            v["kib_per_conn_idle"].as_f64().unwrap_or(f64::NAN),
            v["rss_touched_kib"],
            v["kib_per_conn_touched"].as_f64().unwrap_or(f64::NAN)
        );
        append(out, &v)?;
        runs.push(v);
    }
    let mut s = json!({"kind": "memory_summary", "system": sys.name(), "date": today(), "conns": runs[0]["conns"], "repeats": repeats});
    for f in [
        "rss_base_kib",
        "rss_idle_kib",
        "rss_touched_kib",
        "kib_per_conn_idle",
        "kib_per_conn_touched",
        "connect_s",
    ] {
        s[f] = json!(median(runs.iter().filter_map(|r| r[f].as_f64()).collect()));
    }
    append(out, &s)?;
    Ok(s)
}

/// The one command: every system x every workload (interleaved repeats), then
/// memory; prints the markdown report and writes it next to the JSONL results.
pub fn run_cmd(args: &Args) -> anyhow::Result<()> {
    let quick = args.flag("quick");
    let names: Vec<String> = match args.get("systems") {
        Some(s) => s.split(',').map(String::from).collect(),
        None => systems::names().into_iter().map(String::from).collect(),
    };
    // Pinning needs CPUs 0 and 1; on a single-CPU machine fall back to `shared`.
    let default_mode = if crate::common::allowed_cpus() >= 2 {
        "pinned"
    } else {
        "shared"
    };
    let mode = args.get("mode").unwrap_or(default_mode).to_string();
    let ws = workloads(args.get("workloads").unwrap_or("all"))?;
    let cfg = BenchCfg {
        repeats: args.num("repeats", if quick { 1 } else { 3 }),
        warmup: args.num("warmup", if quick { 0.2 } else { 1.0 }),
        duration: args.num("duration", if quick { 0.5 } else { 4.0 }),
    };
    let conns: usize = args.num("conns", if quick { 500 } else { 5000 });
    let out = args.get("out").map(String::from).unwrap_or_else(|| {
        let dir = std::env::var("BENCH_RESULTS").unwrap_or_else(|_| "target/bench-results".into());
        format!("{dir}/{}{}.jsonl", today(), if quick { "-quick" } else { "" })
    });
    let syss: Vec<&'static dyn System> = names
        .iter()
        .map(|n| systems::by_name(n))
        .collect::<anyhow::Result<_>>()?;
    let t = Instant::now();
    let mut sums = bench_interleaved(&syss, &ws, &mode, &cfg, &out)?;
    let throughput_s = t.elapsed().as_secs_f64();
    if !args.flag("skip-mem") {
        for sys in syss.iter().filter(|s| s.mem_distinct() && s.name() != "tcp-echo") {
            sums.push(mem_series(*sys, conns, cfg.repeats, &out)?);
        }
    }
    let mut md = format!(
        "Mode `{mode}`{}; {} repeat(s) per case, {} s warm-up + {} s window, all cases interleaved; \
         medians of the repeats. Throughput part {:.0} s, whole run {:.0} s.\n",
        if mode == "pinned" {
            " (server on CPU 0, client on CPU 1, one tokio worker each)"
        } else {
            ""
        },
        cfg.repeats,
        cfg.warmup,
        cfg.duration,
        throughput_s,
        t.elapsed().as_secs_f64()
    );
    md.push_str(&render(&sums));
    println!("{md}");
    let md_path = out.replace(".jsonl", ".md");
    std::fs::write(&md_path, &md)?;
    eprintln!("raw runs + summaries appended to {out}; report written to {md_path}");
    crate::chart::charts_after_run(&sums, out.trim_end_matches(".jsonl"));
    Ok(())
}

/// Re-prints the report from a saved JSONL file (the last summary of each case wins).
/// `bench table FILE.jsonl`: the saved file's text.
pub fn saved_run(args: &Args) -> anyhow::Result<String> {
    let path = args
        .pos
        .first()
        .ok_or_else(|| anyhow::anyhow!("usage: bench table FILE.jsonl"))?;
    Ok(std::fs::read_to_string(path)?)
}

/// Re-prints the wall-clock and memory tables of a saved run.
pub fn table_cmd(text: &str) -> anyhow::Result<()> {
    let mut sums: Vec<Value> = vec![];
    // Throughput runs since the last summary of their case, for files written
    // before summaries kept each round's figures.
    let mut runs: Vec<Value> = vec![];
    let same_case =
        |a: &Value, b: &Value| a["system"] == b["system"] && a["workload"] == b["workload"] && a["mode"] == b["mode"];
    for l in text.lines() {
        let mut v: Value = serde_json::from_str(l)?;
        if v["kind"] == "throughput" {
            runs.push(v.clone());
        }
        if v["kind"] == "summary" {
            let case: Vec<Value> = runs.iter().filter(|r| same_case(r, &v)).cloned().collect();
            runs.retain(|r| !same_case(r, &v));
            if v.get("rounds").is_none() && !case.is_empty() {
                v["rounds"] = summarize(&case)["rounds"].take();
            }
        }
        if v["kind"] == "summary" || v["kind"] == "memory_summary" {
            sums.retain(|s| {
                !(s["kind"] == v["kind"]
                    && s["system"] == v["system"]
                    && s["workload"] == v["workload"]
                    && s["mode"] == v["mode"])
            });
            sums.push(v);
        }
    }
    if !sums.is_empty() {
        println!("{}", render(&sums));
    }
    Ok(())
}

fn fmt_num(v: &Value, decimals: usize) -> String {
    match v.as_f64() {
        Some(x) if x.is_finite() => {
            if decimals == 0 {
                let s = format!("{:.0}", x);
                // thousands separators
                let (neg, digits) = s.strip_prefix('-').map(|d| (true, d)).unwrap_or((false, &s));
                let mut o = String::new();
                for (i, ch) in digits.chars().enumerate() {
                    if i > 0 && (digits.len() - i) % 3 == 0 {
                        o.push(',');
                    }
                    o.push(ch);
                }
                if neg { format!("-{o}") } else { o }
            } else {
                format!("{:.*}", decimals, x)
            }
        }
        _ => "–".into(),
    }
}

pub(crate) fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 && a.is_finite() && b.is_finite() => Some(a / b),
        _ => None,
    }
}

pub(crate) fn fx(x: Option<f64>, decimals: usize) -> String {
    fmt_num(&json!(x), decimals)
}

/// The markdown report: throughput (one row per workload x system, with the
/// ratio to ours), memory, and the targets computed from these figures.
pub fn render(sums: &[Value]) -> String {
    let get = |sys: &str, w: &str, f: &str| -> Option<f64> {
        sums.iter()
            .find(|s| s["kind"] == "summary" && s["system"] == sys && s["workload"] == w)
            .and_then(|s| s[f].as_f64())
    };
    let mem = |sys: &str, f: &str| -> Option<f64> {
        sums.iter()
            .find(|s| s["kind"] == "memory_summary" && s["system"] == sys)
            .and_then(|s| s[f].as_f64())
    };
    let mut sys_order: Vec<String> = vec![];
    for s in sums {
        let n = s["system"].as_str().unwrap_or("").to_string();
        if !sys_order.contains(&n) {
            sys_order.push(n);
        }
    }
    let mut md = String::new();
    md.push_str("\n#### Throughput and latency\n\n");
    md.push_str(
        "`s2c-*` = the server calls the client (measured in the server process). CPU: server process / \
         client process, in cores (CPU-seconds per second) and µs of CPU per call.\n\n",
    );
    md.push_str(
        "| workload | system | calls/s | vs ours | p50 / p99 µs | CPU server / client (cores) | \
         server µs/call | client µs/call | calls/s min–max |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for w in WORKLOADS {
        for sys in &sys_order {
            if get(sys, w.name, "calls_per_s").is_none() {
                continue;
            }
            let g = |f: &str| get(sys, w.name, f);
            let (p50, p99) = (g("p50_us"), g("p99_us"));
            let lat_dec = if p50.unwrap_or(0.0) < 1000.0 { 1 } else { 0 };
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} / {} | {} / {} | {} | {} | {}–{} |\n",
                w.name,
                if sys == "ours" {
                    "**ours**".to_string()
                } else {
                    sys.clone()
                },
                fx(g("calls_per_s"), 0),
                fx(ratio(g("calls_per_s"), get("ours", w.name, "calls_per_s")), 2),
                fx(p50, lat_dec),
                fx(p99, lat_dec),
                fx(g("server_cpu"), 2),
                fx(g("client_cpu"), 2),
                fx(g("server_us_per_call"), 2),
                fx(g("client_us_per_call"), 2),
                fx(g("calls_per_s_min"), 0),
                fx(g("calls_per_s_max"), 0),
            ));
        }
    }
    let mem_sys: Vec<&String> = sys_order
        .iter()
        .filter(|s| mem(s, "kib_per_conn_idle").is_some())
        .collect();
    if !mem_sys.is_empty() {
        let conns = sums
            .iter()
            .find(|s| s["kind"] == "memory_summary")
            .map(|s| s["conns"].clone())
            .unwrap_or_default();
        md.push_str(&format!(
            "\n#### Memory: server RSS with {conns} idle WebSocket connections, then after one call on each\n\n\
             | system | KiB per idle conn | KiB per conn after one call | RSS before (MiB) | RSS idle (MiB) | RSS after calls (MiB) |\n\
             |---|---:|---:|---:|---:|---:|\n"
        ));
        for sys in mem_sys {
            let mib = |f: &str| mem(sys, f).map(|k| k / 1024.0);
            md.push_str(&format!(
                "| {sys} | {} | {} | {} | {} | {} |\n",
                fx(mem(sys, "kib_per_conn_idle"), 1),
                fx(mem(sys, "kib_per_conn_touched"), 1),
                fx(mib("rss_base_kib"), 1),
                fx(mib("rss_idle_kib"), 1),
                fx(mib("rss_touched_kib"), 1),
            ));
        }
    }
    let rounds = |sys: &str, w: &str, f: &str| -> Vec<Option<f64>> {
        sums.iter()
            .find(|s| s["kind"] == "summary" && s["system"] == sys && s["workload"] == w)
            .and_then(|s| s["rounds"][f].as_array())
            .map(|xs| xs.iter().map(Value::as_f64).collect())
            .unwrap_or_default()
    };
    md.push_str(&render_targets(&get, &rounds, &mem));
    md
}

type Get<'a> = dyn Fn(&str, &str, &str) -> Option<f64> + 'a;
type Rounds<'a> = dyn Fn(&str, &str, &str) -> Vec<Option<f64>> + 'a;
type Mem<'a> = dyn Fn(&str, &str) -> Option<f64> + 'a;

/// One figure over another, both of a case: the ratio of their medians, and
/// the ratio within each round of the interleaved run (the two cases measured
/// seconds apart, so a drift of the machine's speed between rounds cancels).
struct Ratio {
    of_medians: Option<f64>,
    per_round: Vec<f64>,
}

impl Ratio {
    fn new(get: &Get<'_>, rounds: &Rounds<'_>, a: (&str, &str), b: (&str, &str), field: &str) -> Ratio {
        let per_round = rounds(a.0, a.1, field)
            .into_iter()
            .zip(rounds(b.0, b.1, field))
            .filter_map(|(x, y)| ratio(x, y))
            .collect();
        Ratio {
            of_medians: ratio(get(a.0, a.1, field), get(b.0, b.1, field)),
            per_round,
        }
    }

    fn of_memory(v: Option<f64>) -> Ratio {
        Ratio {
            of_medians: v,
            per_round: vec![],
        }
    }

    /// The figure a target is judged by: the median of the per-round ratios
    /// when there are any, else the ratio of the medians.
    fn judged(&self) -> Option<f64> {
        if self.per_round.is_empty() {
            return self.of_medians;
        }
        Some(median(self.per_round.clone()))
    }
}

fn render_targets(get: &Get<'_>, rounds: &Rounds<'_>, mem: &Mem<'_>) -> String {
    const HAND: &str = "tungstenite-jsonrpc";
    let r = |a: (&str, &str), b: (&str, &str), f: &str| Ratio::new(get, rounds, a, b, f);
    // (target, measured, bound, true if the value must be >= bound)
    let mut rows: Vec<(String, Ratio, f64, bool)> = vec![];
    for w in ["pipe64", "multi50x16"] {
        let calls = |other: &str| r(("ours", w), (other, w), "calls_per_s");
        rows.push((format!("{w} calls/s: ours / {HAND}"), calls(HAND), 1.0, true));
        rows.push((format!("{w} calls/s: ours / jsonrpsee"), calls("jsonrpsee"), 10.0, true));
    }
    rows.push((
        format!("seq p50 latency: ours / {HAND}"),
        r(("ours", "seq"), (HAND, "seq"), "p50_us"),
        1.05,
        false,
    ));
    rows.push((
        format!("multi50x16 server CPU µs/call: ours / {HAND}"),
        r(("ours", "multi50x16"), (HAND, "multi50x16"), "server_us_per_call"),
        1.0,
        false,
    ));
    for w in ["seq", "pipe64", "multi50x16"] {
        let s2c = format!("s2c-{w}");
        rows.push((
            format!("server -> client calls/s: ours s2c-{w} / {w}"),
            r(("ours", &s2c), ("ours", w), "calls_per_s"),
            0.9,
            true,
        ));
    }
    rows.push((
        "KiB per idle connection (ours)".into(),
        Ratio::of_memory(mem("ours", "kib_per_conn_idle")),
        8.0,
        false,
    ));
    rows.push((
        "KiB per connection after one call (ours)".into(),
        Ratio::of_memory(mem("ours", "kib_per_conn_touched")),
        10.0,
        false,
    ));
    let mut md = String::from(
        "\n#### Targets (issue 5), from the figures above\n\n\
         Judged by the median of the per-round ratios (each round of the interleaved run measures every \
         case once, seconds apart); the ratio of the medians above is shown beside it.\n\n\
         | target | per round | median per round | ratio of medians | bound | met |\n\
         |---|---:|---:|---:|---:|:---:|\n",
    );
    for (what, v, bound, ge) in rows {
        let met = match v.judged() {
            Some(x) if (ge && x >= bound) || (!ge && x <= bound) => "yes",
            Some(_) => "**no**",
            None => "n/a",
        };
        let per_round: Vec<String> = v.per_round.iter().map(|x| format!("{x:.2}")).collect();
        md.push_str(&format!(
            "| {what} | {} | {} | {} | {} {bound} | {met} |\n",
            if per_round.is_empty() {
                "–".into()
            } else {
                per_round.join(", ")
            },
            fx(v.judged(), 2),
            fx(v.of_medians, 2),
            if ge { ">=" } else { "<=" }
        ));
    }
    md
}
