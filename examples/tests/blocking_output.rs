//! The example server's output never blocks its runtime (issue 12 item 8):
//! with its stdout a pipe that nobody reads, a flood of `log` notifications
//! (each printed by the handler) leaves calls answered.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use examples::CalculatorClient;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// `target/debug/examples/server`: `cargo test -p examples` builds it with
/// this test (`--test blocking_output` alone does not: build it first with
/// `cargo build -p examples --example server`).
fn server_binary() -> PathBuf {
    let deps = std::env::current_exe().unwrap().parent().unwrap().to_path_buf();
    let path = deps.parent().unwrap().join("examples").join("server");
    assert!(
        path.exists(),
        "{} is missing: cargo build -p examples --example server",
        path.display()
    );
    path
}

#[tokio::test]
async fn a_full_stdout_pipe_does_not_stop_the_server_answering() {
    let mut child = Command::new(server_binary())
        .args(["0", "--exit-on-eof"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Read the address, then never read stdout again (the pipe stays open).
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut url = String::new();
    while !url.starts_with("websocket: ") {
        url.clear();
        let n = tokio::time::timeout(Duration::from_secs(10), stdout.read_line(&mut url))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "the server exited before printing its address");
    }
    let url = url.trim_start_matches("websocket: ").trim().to_owned();
    let calc = CalculatorClient::new(duplexrpc_ws::connect(&url).await.unwrap().start());
    // 4 MB of output, far over a pipe's 64 KiB.
    let line = "x".repeat(16 << 10);
    for _ in 0..250 {
        calc.log(line.clone()).await.unwrap();
    }
    let sum = tokio::time::timeout(Duration::from_secs(5), calc.add(2, 3)).await;
    assert!(
        matches!(sum, Ok(Ok(5))),
        "the server did not answer within 5 s with its stdout full: {sum:?}"
    );
    calc.peer().close().await;
    child.kill().await.unwrap();
    drop(stdout);
}
