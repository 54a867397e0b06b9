//! jsonrpsee (server + ws-client), method `add([a, b]) -> a + b`.
//!
//! Server: default `ServerConfig` except `max_connections` (default 100) raised
//! to 20,000; listener with a 4096 backlog. Client: one `WsClient` per
//! connection; `inflight` concurrent tasks each loop `client.request("add")`
//! on that one client (so with 64 in flight, 64 requests share one socket).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use jsonrpsee::core::client::ClientT;
use jsonrpsee::rpc_params;
use jsonrpsee::server::{RpcModule, Server, ServerConfig};
use jsonrpsee::types::ErrorObjectOwned;
use jsonrpsee::ws_client::WsClientBuilder;

use super::{BoxFut, System};
use crate::common::{Ctl, Recorder};

pub struct Jsonrpsee;

impl System for Jsonrpsee {
    fn name(&self) -> &'static str {
        "jsonrpsee"
    }
    fn describe(&self) -> &'static str {
        "jsonrpsee 0.26 server + ws-client, method add([a,b])"
    }
    fn serve(&self, addr: SocketAddr) -> BoxFut<anyhow::Result<()>> {
        Box::pin(serve(addr))
    }
    fn drive(&self, url: String, inflight: usize, ctl: Arc<Ctl>) -> BoxFut<anyhow::Result<Recorder>> {
        Box::pin(drive(url, inflight, ctl))
    }
}

async fn serve(addr: SocketAddr) -> anyhow::Result<()> {
    let listener = super::ws::listen(addr)?.into_std()?;
    let cfg = ServerConfig::builder().max_connections(20_000).build();
    let server = Server::builder().set_config(cfg).build_from_tcp(listener)?;
    let mut module = RpcModule::new(());
    module.register_method("add", |params, _ctx, _ext| {
        let (a, b): (i64, i64) = params.parse()?;
        Ok::<i64, ErrorObjectOwned>(a.wrapping_add(b))
    })?;
    let handle = server.start(module);
    handle.stopped().await;
    Ok(())
}

async fn drive(url: String, inflight: usize, ctl: Arc<Ctl>) -> anyhow::Result<Recorder> {
    let client = Arc::new(
        WsClientBuilder::default()
            .max_concurrent_requests(inflight.max(256))
            .build(&url)
            .await?,
    );
    ctl.mark_connected();
    let inflight = inflight.max(1);
    // In a counted run the connection's quota is split over its tasks.
    let share = |i: usize| {
        ctl.quota()
            .map(|q| q / inflight as u64 + u64::from((i as u64) < q % inflight as u64))
    };
    if inflight == 1 {
        return call_loop(client, 0, share(0), ctl).await;
    }
    let tasks: Vec<_> = (0..inflight)
        .map(|i| {
            let start = i as i64 * 1_000_000_000;
            tokio::spawn(call_loop(client.clone(), start, share(i), ctl.clone()))
        })
        .collect();
    let mut rec = Recorder::new();
    for t in tasks {
        rec.merge(&t.await??);
    }
    Ok(rec)
}

/// Calls `add` in a loop until STOP, or `quota` times in a counted run.
async fn call_loop(
    client: Arc<jsonrpsee::ws_client::WsClient>,
    mut a: i64,
    quota: Option<u64>,
    ctl: Arc<Ctl>,
) -> anyhow::Result<Recorder> {
    let mut rec = Recorder::new();
    let mut issued = 0u64;
    while !ctl.stopped() && quota.is_none_or(|q| issued < q) {
        issued += 1;
        let t0 = Instant::now();
        let r: i64 = client.request("add", rpc_params![a, 7i64]).await?;
        if r != a + 7 {
            anyhow::bail!("add({a},7) returned {r}");
        }
        rec.record(&ctl, t0);
        a += 1;
    }
    Ok(rec)
}
