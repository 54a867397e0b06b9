//! `bench big`: echo of big params (64 KiB, 1 MiB, 8 MiB by default), one
//! call at a time on one connection: MiB/s of params echoed and the server's
//! peak RSS (VmHWM), each size on a fresh server process, systems interleaved.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::Args;
use crate::common::{peak_rss_kib, rss_kib};
use crate::orchestrate::{append, exe, fx, median, mode_args, ratio, read_all, start_server, today};
use crate::systems::{self, System};

/// Parses `64k`, `1m`, `8m` or a plain byte count.
fn parse_size(s: &str) -> anyhow::Result<usize> {
    let s = s.trim().to_ascii_lowercase();
    let (num, mult) = match s.chars().last() {
        Some('k') => (&s[..s.len() - 1], 1 << 10),
        Some('m') => (&s[..s.len() - 1], 1 << 20),
        _ => (&s[..], 1),
    };
    Ok(num.parse::<usize>()? * mult)
}

/// One measured run: fresh server, one client calling `echo` for the window.
fn big_once(sys: &dyn System, bytes: usize, warmup: f64, duration: f64) -> anyhow::Result<Value> {
    let (server, addr) = start_server(sys, "pinned")?;
    let base = rss_kib(server.pid());
    let child = Command::new(exe())
        .args(["client", "--system", sys.name(), "--url", &format!("ws://{addr}/")])
        .args(["--conns", "1", "--echo-bytes", &bytes.to_string()])
        .args(["--warmup", &warmup.to_string(), "--duration", &duration.to_string()])
        .args(["--server-pid", &server.pid().to_string()])
        .args(mode_args("pinned", false))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()?;
    let out = read_all(
        crate::orchestrate::Proc(child),
        Duration::from_secs_f64(warmup + duration + 60.0),
    )?;
    let peak = peak_rss_kib(server.pid());
    drop(server);
    let mut v: Value = serde_json::from_str(out.trim().lines().last().unwrap_or(""))?;
    let cps = v["calls_per_s"].as_f64().unwrap_or(0.0);
    v["kind"] = json!("big");
    v["bytes"] = json!(bytes);
    v["mib_per_s"] = json!(cps * bytes as f64 / (1 << 20) as f64);
    v["server_rss_base_kib"] = json!(base);
    v["server_peak_rss_kib"] = json!(peak);
    v["date"] = json!(today());
    Ok(v)
}

const FIELDS: &[&str] = &[
    "mib_per_s",
    "calls_per_s",
    "p50_us",
    "server_us_per_call",
    "server_peak_rss_kib",
    "server_rss_base_kib",
];

/// `bench big`: every size x system, `--repeats` rounds (interleaved), medians.
pub fn big_cmd(args: &Args) -> anyhow::Result<()> {
    let names = args.get("systems").unwrap_or("ours,tungstenite-jsonrpc");
    let syss: Vec<&'static dyn System> = names.split(',').map(systems::by_name).collect::<anyhow::Result<_>>()?;
    if let Some(s) = syss.iter().find(|s| !s.has_echo()) {
        anyhow::bail!(
            "{} has no echo workload (systems with one: ours, tungstenite-jsonrpc)",
            s.name()
        );
    }
    let sizes: Vec<usize> = args
        .get("sizes")
        .unwrap_or("64k,1m,8m")
        .split(',')
        .map(parse_size)
        .collect::<anyhow::Result<_>>()?;
    let repeats: usize = args.num("repeats", 3);
    let (warmup, duration) = (args.num("warmup", 0.5), args.num("duration", 3.0));
    let out = args.get("out").map(String::from).unwrap_or_else(|| {
        let dir = std::env::var("BENCH_RESULTS").unwrap_or_else(|_| "target/bench-results".into());
        format!("{dir}/{}-big.jsonl", today())
    });
    let mut runs: Vec<Value> = vec![];
    for i in 0..repeats {
        for &bytes in &sizes {
            for sys in &syss {
                let mut v = big_once(*sys, bytes, warmup, duration)?;
                v["repeat"] = json!(i);
                eprintln!(
                    "  {:<20} {:>9} B run {i}: {:>8.1} MiB/s  {:>7.1} calls/s  server peak RSS {} KiB",
                    sys.name(),
                    bytes,
                    v["mib_per_s"].as_f64().unwrap_or(0.0),
                    v["calls_per_s"].as_f64().unwrap_or(0.0),
                    v["server_peak_rss_kib"]
                );
                append(&out, &v)?;
                runs.push(v);
            }
        }
    }
    let mut sums = vec![];
    for &bytes in &sizes {
        for sys in &syss {
            let mine: Vec<&Value> = runs
                .iter()
                .filter(|r| r["system"] == sys.name() && r["bytes"] == bytes)
                .collect();
            let mut s = json!({"kind": "big_summary", "system": sys.name(), "bytes": bytes,
                               "repeats": mine.len(), "date": today()});
            for f in FIELDS {
                s[*f] = json!(median(mine.iter().filter_map(|r| r[*f].as_f64()).collect()));
            }
            append(&out, &s)?;
            sums.push(s);
        }
    }
    let md = format!(
        "`bench big`: echo of one string param, one call at a time on one connection, mode `pinned`; \
         {repeats} round(s) of {warmup} s warm-up + {duration} s, fresh server per run; medians.\n{}",
        render(&sums)
    );
    println!("{md}");
    std::fs::write(out.replace(".jsonl", ".md"), &md)?;
    crate::chart::charts_after_run(&sums, out.trim_end_matches(".jsonl"));
    Ok(())
}

fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

/// The markdown table of `big_summary` lines.
pub fn render(sums: &[Value]) -> String {
    const HAND: &str = "tungstenite-jsonrpc";
    let get = |sys: &str, b: &Value, f: &str| {
        sums.iter()
            .find(|s| s["system"] == sys && &s["bytes"] == b)
            .and_then(|s| s[f].as_f64())
    };
    let mut md = String::from(
        "\n#### Big messages: echo\n\n\
         MiB/s = params bytes echoed per second (each way); server CPU per call in ms; RSS in MiB \
         (peak = VmHWM of the server process at the end of the run).\n\n\
         | params | system | MiB/s | vs hand-rolled | calls/s | p50 ms | server CPU ms/call | server peak RSS | \
         RSS before | peak RSS vs hand-rolled |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for s in sums.iter().filter(|s| s["kind"] == "big_summary") {
        let (sys, b) = (s["system"].as_str().unwrap_or(""), &s["bytes"]);
        let g = |f: &str| get(sys, b, f);
        let mib = |f: &str| g(f).map(|k| k / 1024.0);
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            human(b.as_u64().unwrap_or(0)),
            if sys == "ours" { "**ours**" } else { sys },
            fx(g("mib_per_s"), 1),
            fx(ratio(g("mib_per_s"), get(HAND, b, "mib_per_s")), 2),
            fx(g("calls_per_s"), 1),
            fx(g("p50_us").map(|u| u / 1000.0), 2),
            fx(g("server_us_per_call").map(|u| u / 1000.0), 2),
            fx(mib("server_peak_rss_kib"), 1),
            fx(mib("server_rss_base_kib"), 1),
            fx(ratio(g("server_peak_rss_kib"), get(HAND, b, "server_peak_rss_kib")), 2),
        ));
    }
    md
}
