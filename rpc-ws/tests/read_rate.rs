//! The per-connection read-rate budget (`WsConfig::max_read_rate`, issue 12
//! item 4): a client sending big messages as fast as it can is read at the
//! configured rate after one burst of `max_message_size`, so the CPU it
//! takes from other connections per second is bounded whatever its message
//! sizes.

mod common;
mod raw;

use std::time::{Duration, Instant};

use common::{add_add, add_echo, serve};
use duplexrpc_ws::WsConfig;
use raw::{Raw, TEXT, text_frames};

const MESSAGE: usize = 4 << 20;
const RATE: usize = 16 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sending_big_messages_flat_out_is_read_at_the_configured_rate() {
    // No fast lane: the rate holds even though nothing else runs.
    let config = WsConfig::default()
        .max_message_size(MESSAGE)
        .max_read_rate(Some(RATE))
        .read_rate_fast_lanes(0);
    let server = serve(config, |methods| {
        add_add(methods);
        add_echo(methods);
    })
    .await;
    let mut client = Raw::connect(server.local_addr()).await;
    // 16 notifications of just under 4 MiB (64 MiB), then a call: its reply
    // comes once the server has read everything before it.
    let filler = "x".repeat(MESSAGE - 64);
    let notification = format!(r#"{{"jsonrpc":"2.0","method":"echo","params":["{filler}"]}}"#);
    let mut bytes = text_frames(std::iter::repeat_n(notification, 16));
    bytes.extend(text_frames([
        r#"{"jsonrpc":"2.0","id":1,"method":"add","params":[1,2]}"#.to_owned(),
    ]));
    let start = Instant::now();
    let answered = tokio::time::timeout(Duration::from_secs(30), async {
        client.send_bytes(&bytes).await;
        loop {
            let frame = client.read_frame().await.expect("the reply to the call");
            if frame.opcode() == TEXT {
                return String::from_utf8(frame.payload).unwrap();
            }
        }
    })
    .await
    .expect("64 MiB read within 30 s");
    let took = start.elapsed();
    assert!(answered.contains(r#""result":3"#), "{answered}");
    // One burst of 4 MiB (twice at most: see `ReadRate`), then 16 MiB/s:
    // 64 MiB take at least 3.5 s. Loopback reads it in well under a second.
    assert!(took >= Duration::from_secs(3), "64 MiB read in {took:?} at {RATE} B/s");
    server.stop().await;
}

/// A lone client over the rate is not held back while a fast lane is free
/// (the default: half the cores, at least one): 2 MiB of small calls at a
/// rate of 32 KiB/s would take over a minute; with the lane they are
/// answered at loopback speed. Before the lanes, the default 4 MiB/s capped
/// one pipelining connection at about 60,000 small calls a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_client_over_the_rate_reads_at_full_speed_in_a_fast_lane() {
    const ROUNDS: usize = 40;
    const CALLS: usize = 1_000;
    let config = WsConfig::default()
        .max_message_size(64 << 10)
        .max_read_rate(Some(32 << 10))
        .read_rate_fast_lanes(1);
    let server = serve(config, add_add).await;
    let mut client = Raw::connect(server.local_addr()).await;
    let call = |id: usize| format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"add","params":[1,{id}]}}"#);
    let mut sent = 0;
    let answered = tokio::time::timeout(Duration::from_secs(30), async {
        let mut replies = 0;
        for round in 0..ROUNDS {
            let bytes = text_frames((round * CALLS..(round + 1) * CALLS).map(call));
            sent += bytes.len();
            client.send_bytes(&bytes).await;
            while replies < (round + 1) * CALLS {
                let frame = client.read_frame().await.expect("a reply");
                if frame.opcode() == TEXT {
                    replies += 1;
                }
            }
        }
        replies
    })
    .await;
    assert!(sent > 2 << 20, "{sent} bytes sent");
    // At the rate alone: over 60 s.
    assert_eq!(answered.ok(), Some(ROUNDS * CALLS), "every call answered within 30 s");
    server.stop().await;
}
