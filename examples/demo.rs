//! A server and a client on one loopback socket, calling each other.
//!
//! Run: `cargo run --example demo`
//!
//! The server serves `Calculator`; the client serves `Browser`. The client
//! calls the server, and inside those calls the server calls back into the
//! client (a `confirm` question, `progress` notifications).

use duplexrpc_core::RpcError;
use examples::{Browser, CalculatorClient, serve};

/// The client's side of the UI: answers the server's questions.
struct ConsoleBrowser;

impl Browser for ConsoleBrowser {
    async fn confirm(&self, question: String) -> Result<bool, RpcError> {
        tracing::info!("[client] server asks: {question:?} -> yes");
        Ok(true)
    }

    async fn progress(&self, pct: u8) {
        tracing::info!("[client] progress {pct}%");
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _output = examples::init_output();
    let server = serve("127.0.0.1:0").await?;
    tracing::info!("[server] listening on {}", server.url());

    let mut conn = duplexrpc_ws::connect(&server.url()).await?;
    conn.register(ConsoleBrowser.into_methods())?;
    let calc = CalculatorClient::new(conn.start());

    tracing::info!("[client] add(2, 3) = {}", calc.add(2, 3).await?);
    match calc.divide(1, 0).await {
        Err(e) => tracing::info!("[client] divide(1, 0) failed as expected: {e}"),
        Ok(v) => tracing::info!("[client] divide(1, 0) = {v}?!"),
    }
    tracing::info!("[client] clear(..) = {:?}", calc.clear("demo".into()).await?);
    tracing::info!("[client] sum_to(5) = {}", calc.sum_to(5).await?);
    calc.log("hello from the client".into()).await?;

    // Both directions at once: 100 concurrent calls on one socket.
    let calls = (0..100).map(|i| calc.add(i, i));
    let sums = futures_join(calls).await?;
    tracing::info!("[client] 100 concurrent adds, last = {}", sums[99]);

    calc.peer().close().await;
    server.stop().await;
    tracing::info!("[demo] done");
    Ok(())
}

async fn futures_join<F, T>(calls: impl Iterator<Item = F>) -> Result<Vec<T>, RpcError>
where
    F: std::future::Future<Output = Result<T, RpcError>>,
{
    let mut out = Vec::new();
    let handles: Vec<_> = calls.collect();
    for r in futures::future::join_all(handles).await {
        out.push(r?);
    }
    Ok(out)
}
