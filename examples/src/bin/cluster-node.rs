//! One node of the example chat cluster (see `examples::cluster`).
//!
//! ```text
//! cluster-node [--listen ADDR] [--redis URL] [--prefix P] [--name NAME]
//!              [--heartbeat-ms N] [--expiry-ms N] [--call-timeout-ms N]
//! ```
//!
//! Prints one line once it serves, `listening ws://ADDR/ node N`, then runs
//! until SIGINT or SIGTERM, when it leaves the cluster (the other nodes see
//! it gone at once) and closes its connections. Without `--redis` it is a
//! single node with no backplane.
//!
//! Logs to stderr through `tracing-subscriber`: connections, nodes declared
//! down or alive again, and this node losing or regaining Redis, at INFO
//! (the default); `RUST_LOG` tunes it (e.g. `RUST_LOG=debug`,
//! `RUST_LOG=duplexrpc_cluster=debug,info`).

use std::io::Write;
use std::time::Duration;

use duplexrpc_cluster::backplane::Liveness;
use examples::cluster::{NodeOptions, node_registry, serve_chat};

fn usage(problem: &str) -> ! {
    eprintln!("cluster-node: {problem}");
    eprintln!(
        "usage: cluster-node [--listen ADDR] [--redis URL] [--prefix P] [--name NAME] \
         [--heartbeat-ms N] [--expiry-ms N] [--call-timeout-ms N]"
    );
    std::process::exit(2)
}

fn millis(value: &str) -> Duration {
    value
        .parse()
        .map(Duration::from_millis)
        .unwrap_or_else(|_| usage(&format!("not a number of milliseconds: {value}")))
}

#[tokio::main]
async fn main() {
    // Written by a background thread, so that logging never blocks the runtime.
    let (writer, _flush_on_exit) = tracing_appender::non_blocking(std::io::stderr());
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .init();
    let mut listen = "127.0.0.1:0".to_owned();
    let mut options = NodeOptions::default();
    let mut liveness = Liveness::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--listen" => listen = value(),
            "--redis" => options.redis = Some(value()),
            "--prefix" => options.prefix = value(),
            "--name" => options.name = value(),
            "--heartbeat-ms" => liveness.heartbeat = millis(&value()),
            "--expiry-ms" => liveness.expiry = millis(&value()),
            "--call-timeout-ms" => options.call_timeout = millis(&value()),
            "--help" | "-h" => usage("help"),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    options.liveness = liveness;

    let registry = match node_registry(&options).await {
        Ok(registry) => registry,
        Err(e) => {
            eprintln!("cluster-node: cannot join the cluster: {e}");
            std::process::exit(1)
        }
    };
    let server = match duplexrpc_ws::Server::bind(listen.as_str()).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("cluster-node: cannot listen on {listen}: {e}");
            std::process::exit(1)
        }
    };
    let handle = serve_chat(server, registry.clone(), options.name.clone(), options.call_timeout);
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening {} node {}", handle.url(), registry.node().get());
        let _ = out.flush();
    }
    tracing::info!(name = %options.name, node = %registry.node(), url = %handle.url(), "cluster node serving");

    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler can be installed");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!(name = %options.name, "leaving the cluster");
    registry.leave_cluster().await;
    handle.stop().await;
}
