//! The markdown table and the SVG chart of `scale` lines.

use serde_json::Value;

use super::{HAND, OURS};
use crate::orchestrate::{fx, ratio};

fn num(v: &Value, k: &str) -> Option<f64> {
    v[k].as_f64()
}

/// What the run did to our `max_connections` (default 10,000).
fn max_connections_note(runs: &[&Value]) -> String {
    let default = duplexrpc_ws::WsConfig::default().max_connections as u64;
    match runs.iter().filter_map(|r| r["max_connections"].as_u64()).max() {
        Some(m) if m > default => format!(
            "`WsConfig::max_connections` raised from {default} to the connection count (up to {m}) for this run"
        ),
        _ => "default `WsConfig`".to_string(),
    }
}

/// The markdown report of `scale` lines.
pub fn render(runs: &[Value]) -> String {
    let runs: Vec<&Value> = runs.iter().filter(|r| r["kind"] == "scale").collect();
    let Some(first) = runs.first() else {
        return String::new();
    };
    let mut md = format!(
        "\n#### Connections on one server process (`bench scale`)\n\n\
         {} client processes, at most {} handshakes in flight each; RSS per connection = (RSS - RSS before any \
         connection) / connections; ours: {}.\n\n\
         | connections | system | accept all (s) | conns/s | server CPU µs/conn | RSS before (MiB) | RSS idle (MiB) | KiB/conn idle | \
         KiB/conn after a call | KiB/conn after the broadcast | same after malloc_trim | broadcast queued (ms) | broadcast reached all (ms) | \
         delivered | retries |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        first["clients"],
        first["parallel"],
        max_connections_note(&runs)
    );
    for r in &runs {
        let mib = |k: &str| num(r, k).map(|x| x / 1024.0);
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            fx(num(r, "conns"), 0),
            r["system"].as_str().unwrap_or(""),
            fx(num(r, "accept_secs"), 2),
            fx(num(r, "accept_per_s"), 0),
            fx(num(r, "server_cpu_us_per_accept"), 1),
            fx(mib("rss_before_kib"), 1),
            fx(mib("rss_idle_kib"), 1),
            fx(num(r, "kib_per_conn_idle"), 2),
            fx(num(r, "kib_per_conn_called"), 2),
            fx(num(r, "kib_per_conn_broadcast"), 2),
            fx(num(r, "kib_per_conn_trimmed"), 2),
            fx(num(r, "broadcast_queue_ms"), 1),
            fx(num(r, "broadcast_all_ms"), 1),
            fx(num(r, "broadcast_delivered"), 0),
            fx(num(r, "connect_retries"), 0),
        ));
    }
    // The targets are judged at the largest connection count of the run.
    let most = runs.iter().filter_map(|r| r["conns"].as_u64()).max();
    let get = |s: &str, k: &str| {
        let at_most = |r: &&&Value| r["system"] == s && r["conns"].as_u64() == most;
        runs.iter().find(at_most).and_then(|r| num(r, k))
    };
    // Below some thousands of connections the process's fixed costs (the
    // runtime, allocator arenas) still show in the per-connection figure.
    let judged = most.is_some_and(|n| n >= 5_000);
    let ok = |v: Option<f64>, bound: f64| match v {
        None => "not measured",
        Some(_) if !judged => "not judged below 5,000 connections",
        Some(v) if v <= bound => "yes",
        Some(_) => "no",
    };
    md.push_str(&format!(
        "\nTargets (issue 16), at {} connections: ours {} KiB per idle connection (<= 8: {}), {} KiB after a call (<= 10: {}), {} KiB \
         after the broadcast; accept rate ours / hand-rolled {}, broadcast time ours / hand-rolled {}.\n",
        most.unwrap_or(0),
        fx(get(OURS, "kib_per_conn_idle"), 2),
        ok(get(OURS, "kib_per_conn_idle"), 8.0),
        fx(get(OURS, "kib_per_conn_called"), 2),
        ok(get(OURS, "kib_per_conn_called"), 10.0),
        fx(get(OURS, "kib_per_conn_broadcast"), 2),
        fx(ratio(get(OURS, "accept_per_s"), get(HAND, "accept_per_s")), 2),
        fx(ratio(get(OURS, "broadcast_all_ms"), get(HAND, "broadcast_all_ms")), 2),
    ));
    md
}
