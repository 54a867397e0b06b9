//! What sessions cost on the hot path (issue 15, item 7), over the memory
//! transport, where the transport itself costs least (so the session
//! layer's share is the largest it can be): calls/s with 64 calls in flight
//! on one connection, sessions off and on, in alternating rounds of one run.
//!
//! `cargo test --release -p duplexrpc-core --test session_cost -- --ignored --nocapture`

use std::time::{Duration, Instant};

use duplexrpc_core::session::{SessionConfig, SessionTransport};
use duplexrpc_core::transport::memory;
use duplexrpc_core::{Methods, Peer, PeerBuilder, RpcError};
use futures::StreamExt;

fn server_methods() -> Methods {
    let mut m = Methods::new();
    m.method("add", |(a, b): (i64, i64)| async move { Ok::<_, RpcError>(a + b) })
        .unwrap();
    m
}

/// A connected client; the server runs on its own.
fn pair(sessions: bool) -> Peer {
    let (a, b) = memory::pair();
    let mut server = PeerBuilder::new();
    server.register(server_methods()).unwrap();
    if sessions {
        let (sa, _ha) = SessionTransport::new(a, SessionConfig::default());
        let (sb, _hb) = SessionTransport::new(b, SessionConfig::default());
        server.start_transport(sa);
        PeerBuilder::new().start_transport(sb)
    } else {
        server.start_transport(a);
        PeerBuilder::new().start_transport(b)
    }
}

/// Calls/s of `calls` calls, `depth` in flight at once.
async fn round(client: &Peer, calls: usize, depth: usize) -> f64 {
    let start = Instant::now();
    futures::stream::iter(0..calls)
        .map(|i| {
            let client = client.clone();
            async move { client.call::<_, i64>("add", (i as i64, 1)).await.unwrap() }
        })
        .buffer_unordered(depth)
        .for_each(|_| async {})
        .await;
    calls as f64 / start.elapsed().as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run it in release with --nocapture"]
async fn sessions_cost_on_pipelined_calls() {
    let plain = pair(false);
    let session = pair(true);
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        off.push(round(&plain, 100_000, 64).await);
        on.push(round(&session, 100_000, 64).await);
    }
    off.sort_by(f64::total_cmp);
    on.sort_by(f64::total_cmp);
    let (off, on) = (off[3], on[3]);
    println!(
        "pipe64 over memory, median of 7 rounds: off {off:.0} calls/s, on {on:.0} calls/s, on/off {:.3}",
        on / off
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// One mode only, for an instruction count: `SESSIONS=on|off`, e.g.
/// `valgrind --tool=callgrind <test binary> --ignored one_mode`.
#[tokio::test(flavor = "current_thread")]
#[ignore = "a measurement: run it under callgrind"]
async fn one_mode() {
    let on = std::env::var("SESSIONS").is_ok_and(|v| v == "on");
    let client = pair(on);
    round(&client, 2_000, 64).await;
    let rate = round(&client, 20_000, 64).await;
    println!("sessions {}: {rate:.0} calls/s", if on { "on" } else { "off" });
}
