//! The example API inside an axum app, on one port: `/health` (for a load
//! balancer), a static page at `/`, the JSON-RPC WebSocket at `/rpc`, and
//! `/metrics` (Prometheus' text format: the counts and latencies every
//! connection reports through the `metrics` crate, feature `metrics`).
//!
//! Run: `cargo run -p examples --example axum` (or `-- PORT`), then connect a
//! client to `ws://127.0.0.1:PORT/rpc?token=demo-token` (or send
//! `Authorization: Bearer demo-token`). The handshake checks the token with
//! an async lookup (a stand-in for a session store or a database) and hands
//! the user to every call of the connection. Every call goes through two
//! middleware (`examples/src/middleware.rs`): logging with timing, and a
//! rate limit of 20 calls a second per user (bursts of 50). Ctrl-C stops the app: the
//! WebSocket connections are closed with 1001 "server shutting down" after
//! their running calls finish.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use duplexrpc_ws::{Endpoint, HandshakeRequest, Rejection, WsConfig};
use examples::middleware::{LogCalls, RateLimit};
use examples::{BrowserClient, Calculator, CalculatorService};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

const PAGE: &str = "<!doctype html>\n<title>duplexrpc on axum</title>\n\
<h1>duplexrpc on axum</h1>\n\
<p>JSON-RPC over WebSocket at <code>/rpc?token=demo-token</code>; health at <code>/health</code>; \
metrics at <a href=\"/metrics\"><code>/metrics</code></a>.</p>\n";

/// Tokens and their users; an async lookup, as a session store would be.
#[derive(Clone, Default)]
struct Sessions(Arc<HashMap<String, String>>);

impl Sessions {
    async fn user(&self, token: &str) -> Option<String> {
        tokio::time::sleep(Duration::from_millis(5)).await; // the store's round trip
        self.0.get(token).cloned()
    }
}

/// The handshake: a bearer token (header) or `?token=` (browsers cannot set
/// headers on a WebSocket), looked up asynchronously.
async fn authenticate(sessions: Sessions, req: HandshakeRequest) -> Result<String, Rejection> {
    let token = req
        .bearer_token()
        .or_else(|| req.query_param("token"))
        .map(str::to_owned);
    let Some(token) = token else {
        return Err(Rejection::unauthorized("missing token").with_header("www-authenticate", "Bearer"));
    };
    sessions
        .user(&token)
        .await
        .ok_or_else(|| Rejection::forbidden("unknown token"))
}

/// Installs the Prometheus recorder for the `metrics` facade, and keeps
/// its histograms trimmed (the exporter's upkeep) while the app runs.
fn metrics_recorder() -> Result<PrometheusHandle, Box<dyn std::error::Error>> {
    let handle = PrometheusBuilder::new().install_recorder()?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = match std::env::args().nth(1) {
        Some(arg) => arg.parse().map_err(|_| format!("usage: axum [PORT]; got {arg:?}"))?,
        None => 0,
    };
    let _output = examples::init_output();
    let metrics = metrics_recorder()?;
    let sessions = Sessions(Arc::new(HashMap::from([("demo-token".into(), "demo".into())])));
    let limiter = RateLimit::limiter(20, 50);
    let rpc = Endpoint::builder()
        .with_config(WsConfig::default().max_connections(1_000))
        .on_handshake_async(move |req| authenticate(sessions.clone(), req))
        .build(move |conn, info| {
            conn.middleware(LogCalls::new(info.auth.clone()));
            conn.middleware(RateLimit::new(limiter.clone(), info.auth.clone()));
            let browser = BrowserClient::new(conn.peer().clone());
            conn.register(CalculatorService::new(browser).into_methods())?;
            Ok(())
        });
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/health", get(|| async { "ok" }))
        .route("/metrics", get(move || std::future::ready(metrics.render())))
        .route("/rpc", get(duplexrpc_ws::axum::handler(rpc.clone())));

    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    tracing::info!("page: http://{addr}/");
    tracing::info!("metrics: http://{addr}/metrics");
    tracing::info!("websocket: ws://{addr}/rpc?token=demo-token");
    let shutdown = {
        let rpc = rpc.clone();
        async move {
            let _ = tokio::signal::ctrl_c().await;
            // Closes the WebSocket connections (1001) while axum drains the rest.
            rpc.stop().await;
        }
    };
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
