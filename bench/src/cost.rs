//! `bench cost`: deterministic cost per call. Every case runs twice under a
//! counter, once with `W` warm-up calls only and once with `W + N` calls; the
//! difference of the two totals over `N` is the cost of one call with the
//! start-up, the connection set-up and the shutdown subtracted out.
//!
//! * user-space instructions: server and client each under
//!   `valgrind --tool=callgrind` (or `cachegrind --cache-sim=no`), which counts
//!   every instruction the process executes (all threads);
//! * system calls: server and client each under `strace -f -c` (every thread).
//!
//! Both processes exit normally (the server on stdin EOF, `server --exit-on-eof`)
//! so the counters write their totals. Every connection makes a fixed number of
//! calls (`Ctl::with_quota`) and waits for all their replies.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Args;
use crate::orchestrate::{
    Proc, Workload, append, exe, free_port, fx, mode_args, ratio, read_all, today, wait_listening_within,
    wait_with_timeout, workloads,
};
use crate::systems::{self, System};

/// What a process runs under.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Counter {
    /// valgrind, the tool named (`callgrind` or `cachegrind`).
    Valgrind(&'static str),
    Strace,
}

/// The command that runs this binary under `counter`, writing its counts to `file`.
fn counted_command(counter: Counter, file: &Path) -> Command {
    let mut c = match counter {
        Counter::Valgrind(tool) => {
            let mut c = Command::new("valgrind");
            c.args(["-q", &format!("--tool={tool}")]);
            c.arg(format!("--{tool}-out-file={}", file.display()));
            if tool == "cachegrind" {
                c.arg("--cache-sim=no");
            }
            c
        }
        Counter::Strace => {
            let mut c = Command::new("strace");
            c.args(["-f", "-c", "-o"]).arg(file).arg("--");
            c
        }
    };
    c.arg(exe());
    c
}

/// Counts of one process: the total and, for strace, per syscall.
#[derive(Debug, Default)]
struct Counts {
    total: f64,
    by_name: BTreeMap<String, f64>,
}

/// Reads the total of a callgrind / cachegrind output file (`totals:` or `summary:`).
fn parse_valgrind(text: &str) -> anyhow::Result<Counts> {
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with("totals:") || l.starts_with("summary:"))
        .ok_or_else(|| anyhow::anyhow!("no totals line in valgrind output"))?;
    let n = line.split_whitespace().nth(1).unwrap_or("").parse::<f64>()?;
    Ok(Counts {
        total: n,
        by_name: BTreeMap::new(),
    })
}

/// Reads a callgrind output file: the total and every function's self cost
/// (`fn=`/`cfn=` names share one compressed table; the cost line after a
/// `calls=` line is the callee's inclusive cost and is skipped).
fn parse_callgrind(text: &str) -> anyhow::Result<Counts> {
    let mut c = parse_valgrind(text)?;
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut current = String::new();
    let mut callee = String::new();
    let mut after_calls = false;
    let mut name_of = |spec: &str| -> String {
        // "(12) name" defines id 12, "(12)" refers to it; uncompressed: "name"
        match spec.strip_prefix('(').and_then(|r| r.split_once(')')) {
            Some((id, rest)) if !rest.trim().is_empty() => {
                names.insert(id.to_string(), rest.trim().to_string());
                rest.trim().to_string()
            }
            Some((id, _)) => names.get(id).cloned().unwrap_or_default(),
            None => spec.to_string(),
        }
    };
    for l in text.lines() {
        if let Some(spec) = l.strip_prefix("fn=") {
            current = name_of(spec);
        } else if let Some(spec) = l.strip_prefix("cfn=") {
            callee = name_of(spec);
        } else if let Some(rest) = l.strip_prefix("calls=") {
            after_calls = true;
            if ALLOCATORS.contains(&callee.as_str()) {
                let n: f64 = rest.split_whitespace().next().unwrap_or("0").parse().unwrap_or(0.0);
                *c.by_name.entry(ALLOCS.to_string()).or_default() += n;
            }
        } else if l.starts_with(|ch: char| ch.is_ascii_digit() || ch == '+' || ch == '-' || ch == '*') {
            if !after_calls {
                let cost: f64 = l.split_whitespace().last().unwrap_or("0").parse().unwrap_or(0.0);
                *c.by_name.entry(current.clone()).or_default() += cost;
            }
            after_calls = false;
        }
    }
    Ok(c)
}

/// The allocator's entry points: calls into them count as allocations.
const ALLOCATORS: &[&str] = &["malloc", "realloc", "calloc", "posix_memalign", "aligned_alloc"];
/// The key under which [`parse_callgrind`] counts calls into [`ALLOCATORS`].
const ALLOCS: &str = "#allocations";

/// Reads `strace -c` output: `% time seconds usecs/call calls [errors] syscall`.
fn parse_strace(text: &str) -> anyhow::Result<Counts> {
    let mut c = Counts::default();
    let mut saw_total = false;
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 5 || f[0].parse::<f64>().is_err() {
            continue;
        }
        let calls: f64 = f[3].parse()?;
        let name = f[f.len() - 1];
        if name == "total" {
            c.total = calls;
            saw_total = true;
        } else {
            c.by_name.insert(name.to_string(), calls);
        }
    }
    anyhow::ensure!(saw_total, "no total line in strace output");
    Ok(c)
}

fn read_counts(counter: Counter, file: &Path) -> anyhow::Result<Counts> {
    let text = std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    match counter {
        Counter::Valgrind("callgrind") => parse_callgrind(&text),
        Counter::Valgrind(_) => parse_valgrind(&text),
        Counter::Strace => parse_strace(&text),
    }
}

/// Generous limits: valgrind slows both processes about 50x.
const START_LIMIT: Duration = Duration::from_secs(120);
const RUN_LIMIT: Duration = Duration::from_secs(900);

/// One counted run of `w` with `per_conn` calls on every connection.
/// Returns (calls made, server counts, client counts).
fn counted_run(
    sys: &dyn System,
    w: Workload,
    conns: usize,
    per_conn: u64,
    counter: Counter,
    dir: &Path,
    keep: bool,
) -> anyhow::Result<(u64, Counts, Counts)> {
    let tag = format!("{}-{}-{}", sys.name(), w.name, per_conn);
    let ext = if counter == Counter::Strace { "strace" } else { "vg" };
    let (sfile, cfile) = (
        dir.join(format!("{tag}.server.{ext}")),
        dir.join(format!("{tag}.client.{ext}")),
    );
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse()?;
    let (conns_s, per_conn_s) = (conns.to_string(), per_conn.to_string());
    let common = |c: &mut Command, server: bool| {
        c.args(["--system", sys.name(), "--conns", &conns_s])
            .args(mode_args("pinned", server));
    };
    let out = if !w.s2c {
        let mut c = counted_command(counter, &sfile);
        c.args(["server", "--addr", &addr.to_string(), "--exit-on-eof"]);
        common(&mut c, true);
        let mut server = Proc(c.stdin(Stdio::piped()).stdout(Stdio::null()).spawn()?);
        wait_listening_within(sys, addr, START_LIMIT)?;
        let mut c = counted_command(counter, &cfile);
        c.args(["client", "--url", &format!("ws://{addr}/")]).args([
            "--inflight",
            &w.inflight.to_string(),
            "--calls-per-conn",
            &per_conn_s,
        ]);
        if let Some(b) = echo_bytes(w) {
            c.args(["--echo-bytes", &b.to_string()]);
        }
        common(&mut c, false);
        let out = read_all(Proc(c.stdin(Stdio::null()).stdout(Stdio::piped()).spawn()?), RUN_LIMIT)?;
        drop(server.0.stdin.take()); // EOF: the server exits
        let st = wait_with_timeout(&mut server, START_LIMIT)?;
        anyhow::ensure!(st.success(), "server failed ({st})");
        out
    } else {
        let mut c = counted_command(counter, &sfile);
        c.args(["caller-server", "--addr", &addr.to_string()]).args([
            "--inflight",
            &w.inflight.to_string(),
            "--calls-per-conn",
            &per_conn_s,
        ]);
        common(&mut c, true);
        let mut server = Proc(c.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?);
        let mut stdin = server.0.stdin.take().expect("stdin piped");
        wait_listening_within(sys, addr, START_LIMIT)?;
        let mut c = counted_command(counter, &cfile);
        c.args(["answer-client", "--url", &format!("ws://{addr}/")]);
        common(&mut c, false);
        let mut client = Proc(c.stdin(Stdio::null()).stdout(Stdio::null()).spawn()?);
        writeln!(stdin, "{}", client.pid())?;
        drop(stdin);
        let out = read_all(server, RUN_LIMIT)?;
        let st = wait_with_timeout(&mut client, START_LIMIT)?;
        anyhow::ensure!(st.success(), "answering client failed ({st})");
        out
    };
    let v: Value = serde_json::from_str(out.trim().lines().last().unwrap_or(""))?;
    let calls = v["calls"].as_u64().unwrap_or(0);
    let expect = per_conn * conns as u64;
    anyhow::ensure!(calls == expect, "{tag}: {calls} calls completed, {expect} expected");
    let counts = (read_counts(counter, &sfile)?, read_counts(counter, &cfile)?);
    if !keep {
        let _ = (std::fs::remove_file(&sfile), std::fs::remove_file(&cfile));
    }
    Ok((calls, counts.0, counts.1))
}

/// (long run − short run) / extra calls, per name too (the `top` largest).
fn per_call(short: &Counts, long: &Counts, calls: f64, top: usize) -> Value {
    let mut by: Vec<(&String, f64)> = long
        .by_name
        .iter()
        .map(|(k, v)| (k, (v - short.by_name.get(k).copied().unwrap_or(0.0)) / calls))
        .filter(|(_, v)| v.abs() >= 0.005)
        .collect();
    by.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
    let sum_of = |pat: &dyn Fn(&str) -> bool| -> f64 { by.iter().filter(|(k, _)| pat(k)).map(|(_, v)| v).sum() };
    let memset = sum_of(&|k| k.contains("memset"));
    let memcpy = sum_of(&|k| k.contains("memcpy") || k.contains("memmove"));
    let allocs = sum_of(&|k| k == ALLOCS);
    by.retain(|(k, _)| k.as_str() != ALLOCS);
    by.truncate(top);
    let by: serde_json::Map<String, Value> = by.into_iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    json!({"total": (long.total - short.total) / calls, "by_name": by, "memset": memset,
           "memcpy": memcpy, "allocs": allocs})
}

/// Settings of a cost run.
#[derive(Debug)]
struct CostCfg {
    warmup_calls: u64,
    calls: u64,
    multi_conns: usize,
    tool: &'static str,
    strace: bool,
    /// Measured calls of the strace runs.
    strace_calls: u64,
    /// Keep the valgrind / strace output files (for `callgrind_annotate`).
    keep: bool,
}

/// Big-message workloads of the cost mode only: one connection, `echo` with
/// params of this many bytes, one call at a time; 1/100 of the calls.
const ECHO: &[(Workload, usize)] = &[
    (
        Workload {
            name: "echo64k",
            conns: 1,
            inflight: 1,
            s2c: false,
        },
        64 << 10,
    ),
    (
        Workload {
            name: "echo1m",
            conns: 1,
            inflight: 1,
            s2c: false,
        },
        1 << 20,
    ),
];

fn echo_bytes(w: Workload) -> Option<usize> {
    ECHO.iter().find(|(e, _)| e.name == w.name).map(|(_, b)| *b)
}

/// `--workloads`: the throughput workloads (`all`) and the echo ones.
fn cost_workloads(sel: &str) -> anyhow::Result<Vec<Workload>> {
    let mut out = vec![];
    for name in sel.split(',') {
        match ECHO.iter().find(|(e, _)| e.name == name) {
            Some((e, _)) => out.push(*e),
            None => out.extend(workloads(name)?),
        }
    }
    Ok(out)
}

/// Connections of a workload in the cost mode (`multi*` may be reduced).
fn cost_conns(w: Workload, cfg: &CostCfg) -> usize {
    if w.conns > 1 { cfg.multi_conns } else { w.conns }
}

/// One repeat of one case: two valgrind runs and two strace runs.
fn cost_case(sys: &dyn System, w: Workload, cfg: &CostCfg, dir: &Path) -> anyhow::Result<Value> {
    let conns = cost_conns(w, cfg);
    let scale = if echo_bytes(w).is_some() { 100 } else { 1 };
    let warm = (cfg.warmup_calls / scale).div_ceil(conns as u64).max(1);
    let more = (cfg.calls / scale).div_ceil(conns as u64).max(1);
    let t = Instant::now();
    let vg = Counter::Valgrind(cfg.tool);
    let (n0, s0, c0) = counted_run(sys, w, conns, warm, vg, dir, cfg.keep)?;
    let (n1, s1, c1) = counted_run(sys, w, conns, warm + more, vg, dir, cfg.keep)?;
    let n = (n1 - n0) as f64;
    let (sp, cp) = (per_call(&s0, &s1, n, 12), per_call(&c0, &c1, n, 12));
    let mut v = json!({
        "kind": "cost", "system": sys.name(), "workload": w.name, "conns": conns,
        "inflight": w.inflight, "warmup_calls": n0, "calls": n1 - n0, "tool": cfg.tool, "date": today(),
        "server_ir_per_call": sp["total"], "client_ir_per_call": cp["total"],
        "server_memset_ir_per_call": sp["memset"], "client_memset_ir_per_call": cp["memset"],
        "server_memcpy_ir_per_call": sp["memcpy"], "client_memcpy_ir_per_call": cp["memcpy"],
        "server_allocs_per_call": sp["allocs"], "client_allocs_per_call": cp["allocs"],
        "server_profile": sp["by_name"], "client_profile": cp["by_name"],
    });
    for side in ["server", "client"] {
        let (all, memset) = (
            &v[format!("{side}_ir_per_call")],
            &v[format!("{side}_memset_ir_per_call")],
        );
        let rest = all.as_f64().zip(memset.as_f64()).map(|(a, m)| a - m);
        v[format!("{side}_ir_excl_memset_per_call")] = json!(rest);
    }
    if cfg.strace {
        // More calls than under valgrind (strace costs little): how many
        // syscalls a pipelined call takes depends on how replies batch, so
        // the mean needs many calls to settle.
        let more = (cfg.strace_calls / scale).div_ceil(conns as u64).max(1);
        let (n0, s0, c0) = counted_run(sys, w, conns, warm, Counter::Strace, dir, cfg.keep)?;
        let (n1, s1, c1) = counted_run(sys, w, conns, warm + more, Counter::Strace, dir, cfg.keep)?;
        let n = (n1 - n0) as f64;
        v["strace_calls"] = json!(n1 - n0);
        let (sp, cp) = (per_call(&s0, &s1, n, 40), per_call(&c0, &c1, n, 40));
        v["server_sys_per_call"] = sp["total"].clone();
        v["client_sys_per_call"] = cp["total"].clone();
        v["server_syscalls"] = sp["by_name"].clone();
        v["client_syscalls"] = cp["by_name"].clone();
    }
    v["wall_s"] = json!(t.elapsed().as_secs_f64());
    Ok(v)
}

/// `bench cost`: every case, `--repeats` times (default 2, to show they agree).
pub fn cost_cmd(args: &Args) -> anyhow::Result<()> {
    let names = args.get("systems").unwrap_or("ours,tungstenite-jsonrpc,jsonrpsee");
    let syss: Vec<&'static dyn System> = names.split(',').map(systems::by_name).collect::<anyhow::Result<_>>()?;
    let ws = cost_workloads(args.get("workloads").unwrap_or("all,echo64k,echo1m"))?;
    let cfg = CostCfg {
        warmup_calls: args.num("warmup-calls", 1000),
        calls: args.num("calls", 2000),
        multi_conns: args.num("multi-conns", 50),
        tool: match args.get("tool").unwrap_or("callgrind") {
            "callgrind" => "callgrind",
            "cachegrind" => "cachegrind",
            t => anyhow::bail!("unknown --tool {t} (callgrind|cachegrind)"),
        },
        strace: !args.flag("no-strace"),
        strace_calls: args.num("strace-calls", 20_000),
        keep: args.flag("keep"),
    };
    let repeats: usize = args.num("repeats", 2);
    let out = args.get("out").map(String::from).unwrap_or_else(|| {
        let dir = std::env::var("BENCH_RESULTS").unwrap_or_else(|_| "target/bench-results".into());
        format!("{dir}/{}-cost.jsonl", today())
    });
    let dir = PathBuf::from(&out).with_extension("counts");
    std::fs::create_dir_all(&dir)?;
    let t = Instant::now();
    let mut rows = vec![];
    for i in 0..repeats {
        for w in &ws {
            let applies = |s: &&&dyn System| (!w.s2c || s.has_s2c()) && (echo_bytes(*w).is_none() || s.has_echo());
            for sys in syss.iter().filter(applies) {
                let mut v = cost_case(*sys, *w, &cfg, &dir)?;
                v["repeat"] = json!(i);
                eprintln!(
                    "  {:<20} {:<15} run {i}: instr/call server {:>9.0} client {:>9.0}  syscalls/call server {} client {}  ({:.0} s)",
                    sys.name(),
                    w.name,
                    v["server_ir_per_call"].as_f64().unwrap_or(f64::NAN),
                    v["client_ir_per_call"].as_f64().unwrap_or(f64::NAN),
                    fx(v["server_sys_per_call"].as_f64(), 2),
                    fx(v["client_sys_per_call"].as_f64(), 2),
                    v["wall_s"].as_f64().unwrap_or(0.0),
                );
                append(&out, &v)?;
                rows.push(v);
            }
        }
    }
    let _ = std::fs::remove_dir(&dir); // only if empty (not with --keep)
    let md = format!(
        "`bench cost`: {} warm-up calls, then {} measured calls under {} (instructions) and {} under \
         `strace -f -c` (system calls), per case; multi workloads with {} connections; {} repeat(s); {:.0} s.\n{}",
        cfg.warmup_calls,
        cfg.calls,
        cfg.tool,
        cfg.strace_calls,
        cfg.multi_conns,
        repeats,
        t.elapsed().as_secs_f64(),
        render(&rows)
    );
    println!("{md}");
    let md_path = out.replace(".jsonl", ".md");
    std::fs::write(&md_path, &md)?;
    eprintln!("runs appended to {out}; report written to {md_path}");
    crate::chart::charts_after_run(&rows, out.trim_end_matches(".jsonl"));
    Ok(())
}

/// The mean over repeats of `field` of a case, and the spread (max − min) / mean.
fn stat(rows: &[Value], sys: &str, w: &str, field: &str) -> (Option<f64>, Option<f64>) {
    let xs: Vec<f64> = rows
        .iter()
        .filter(|r| r["system"] == sys && r["workload"] == w)
        .filter_map(|r| r[field].as_f64())
        .collect();
    if xs.is_empty() {
        return (None, None);
    }
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    let (lo, hi) = xs
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
    (Some(mean), (mean != 0.0).then(|| (hi - lo) / mean.abs()))
}

const HAND: &str = "tungstenite-jsonrpc";
const FIELDS: [&str; 4] = [
    "server_ir_per_call",
    "client_ir_per_call",
    "server_sys_per_call",
    "client_sys_per_call",
];

/// Instructions without memset (see the note under the table): informative rows.
const EXCL_MEMSET: [&str; 2] = ["server_ir_excl_memset_per_call", "client_ir_excl_memset_per_call"];

/// The distinct values of `key` in the order first seen.
fn in_order(rows: &[Value], key: &str) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for r in rows {
        let n = r[key].as_str().unwrap_or("").to_string();
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

/// The markdown tables of a cost run (also used by `bench table`).
pub fn render(rows: &[Value]) -> String {
    let sys_order = in_order(rows, "system");
    let w_order = in_order(rows, "workload");
    let mut md = String::from(
        "\n#### Cost per call (deterministic)\n\n\
         Instructions = user-space instructions per call (valgrind), syscalls = system calls per call \
         (strace), each in the server process and in the client process; mean of the repeats, and the largest \
         spread (max − min) / mean across repeats of the instruction figures and of the syscall figures. \
         `ours / x` = ours divided by that system.\n\n\
         `memset` = the part of the instructions spent in memset (valgrind counts each byte a `rep stosb` \
         stores as one instruction).\n\n\
         | workload | system | server instr | (memset) | client instr | (memset) | server syscalls | client syscalls | \
         ours / x: server instr | client instr | server syscalls | client syscalls | spread instr | \
         spread syscalls |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for w in &w_order {
        for sys in &sys_order {
            let g = |f: &str| stat(rows, sys, w, f);
            if g(FIELDS[0]).0.is_none() {
                continue;
            }
            let spread = |fs: &[&str]| {
                let worst = fs
                    .iter()
                    .filter_map(|f| g(f).1)
                    .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
                worst.map_or("–".into(), |s| format!("{:.1} %", s * 100.0))
            };
            let r = |f: &str| fx(ratio(stat(rows, "ours", w, f).0, g(f).0), 2);
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                w,
                if sys == "ours" { "**ours**".into() } else { sys.clone() },
                fx(g(FIELDS[0]).0, 0),
                fx(g("server_memset_ir_per_call").0, 0),
                fx(g(FIELDS[1]).0, 0),
                fx(g("client_memset_ir_per_call").0, 0),
                fx(g(FIELDS[2]).0, 2),
                fx(g(FIELDS[3]).0, 2),
                r(FIELDS[0]),
                r(FIELDS[1]),
                r(FIELDS[2]),
                r(FIELDS[3]),
                spread(&FIELDS[..2]),
                spread(&FIELDS[2..]),
            ));
        }
    }
    md.push_str(&render_copies(rows, &w_order, &sys_order));
    md.push_str(&render_targets(rows, &w_order));
    md
}

/// Big messages: instructions in memcpy/memmove (for copies of this size
/// glibc uses `rep movsb`, which valgrind counts per byte, so this is about
/// the bytes copied) and calls into the allocator, per call.
fn render_copies(rows: &[Value], w_order: &[String], sys_order: &[String]) -> String {
    let echo: Vec<&String> = w_order.iter().filter(|w| w.starts_with("echo")).collect();
    if echo.is_empty() {
        return String::new();
    }
    let mut md = String::from(
        "\n#### Big messages: copies and allocations per call\n\n\
         memcpy = instructions in memcpy/memmove (`rep movsb` at these sizes, counted per byte: about the \
         bytes copied); allocations = calls into malloc/realloc/calloc; copies = memcpy / params bytes.\n\n\
         | workload | system | server instr | server memcpy | server copies | server allocations | \
         client instr | client memcpy | client copies | client allocations |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for w in echo {
        let bytes = ECHO.iter().find(|(e, _)| e.name == w.as_str()).map(|(_, b)| *b as f64);
        for sys in sys_order {
            let g = |f: &str| stat(rows, sys, w, f).0;
            if g("server_ir_per_call").is_none() {
                continue;
            }
            let copies = |f: &str| fx(g(f).zip(bytes).map(|(m, b)| m / b), 2);
            md.push_str(&format!(
                "| {w} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                if sys == "ours" { "**ours**" } else { sys.as_str() },
                fx(g("server_ir_per_call"), 0),
                fx(g("server_memcpy_ir_per_call"), 0),
                copies("server_memcpy_ir_per_call"),
                fx(g("server_allocs_per_call"), 1),
                fx(g("client_ir_per_call"), 0),
                fx(g("client_memcpy_ir_per_call"), 0),
                copies("client_memcpy_ir_per_call"),
                fx(g("client_allocs_per_call"), 1),
            ));
        }
    }
    md
}

/// The per-call targets judged on the counts: ours <= hand-rolled in
/// instructions and syscalls, both ends; ours <= 1/8 of jsonrpsee in instructions.
fn render_targets(rows: &[Value], w_order: &[String]) -> String {
    let mut md = String::from(
        "\n#### Cost targets (issue 16), from the counts above\n\n\
         Rows `excl. memset` are informative: the hand-rolled loop without the zero-fill of tungstenite's \
         128 KiB read buffer before every read, which valgrind counts byte by byte.\n\n\
         | workload | target | ours / x | bound | met |\n|---|---|---:|---:|:---:|\n",
    );
    let what = |f: &str| {
        f.trim_end_matches("_per_call")
            .replace("_ir_excl_memset", " instructions excl. memset")
            .replace("_ir", " instructions")
            .replace("_sys", " syscalls")
    };
    for w in w_order {
        let mut rows_of = |other: &str, fields: &[&str], bound: f64| {
            for f in fields {
                let Some(x) = ratio(stat(rows, "ours", w, f).0, stat(rows, other, w, f).0) else {
                    continue;
                };
                // Within 1 % is parity: the counts repeat to about that.
                let met = match x {
                    x if x <= bound => "yes",
                    x if x <= bound * 1.01 => "parity (within 1 %)",
                    _ => "**no**",
                };
                md.push_str(&format!(
                    "| {} | {} ours <= {}{} | {x:.3} | <= {bound} | {met} |\n",
                    w,
                    what(f),
                    if bound < 1.0 { "1/8 of " } else { "" },
                    other,
                ));
            }
        };
        rows_of(HAND, &FIELDS, 1.0);
        rows_of("jsonrpsee", &FIELDS[..2], 0.125);
        rows_of(HAND, &EXCL_MEMSET, 1.0);
    }
    md
}

/// Re-prints the cost table of a saved run (`bench table FILE.jsonl`).
pub fn table_cmd(text: &str) {
    let costs: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["kind"] == "cost")
        .collect();
    if !costs.is_empty() {
        println!("{}", render(&costs));
    }
}
