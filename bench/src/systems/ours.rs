//! This framework: a `#[rpc]` trait, its generated typed client stub, and
//! `duplexrpc_ws`'s server and client with their default configuration.
//!
//! * `ours`: our server, our client (`AdderClient::add`), both directions.
//! * `ours-rawclient`: our server driven by the hand-rolled raw JSON-RPC
//!   client of `tungstenite-jsonrpc` (our server's cost alone); server ->
//!   client: our server calling into the hand-rolled answering loop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use duplexrpc_core::session::SessionConfig;
use duplexrpc_core::{RpcError, rpc};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use super::{BoxFut, Drivers, System};
use crate::common::{Ctl, Recorder};

/// The benchmarked API: served by the server (client -> server runs) and by
/// the client (server -> client runs).
#[rpc]
pub trait Adder {
    /// `a + b` (wrapping).
    async fn add(&self, a: i64, b: i64) -> Result<i64, RpcError>;
    /// `s` back (the big-message workload).
    async fn echo(&self, s: String) -> Result<String, RpcError>;
}

/// The implementation both ends register.
#[derive(Debug)]
struct AddService;

impl Adder for AddService {
    async fn add(&self, a: i64, b: i64) -> Result<i64, RpcError> {
        Ok(a.wrapping_add(b))
    }
    async fn echo(&self, s: String) -> Result<String, RpcError> {
        Ok(s)
    }
}

/// Our server and our client.
#[derive(Debug)]
pub struct Ours;

/// Our server, the hand-rolled raw client.
#[derive(Debug)]
pub struct OursRawClient;

impl System for Ours {
    fn name(&self) -> &'static str {
        "ours"
    }
    fn describe(&self) -> &'static str {
        "this framework: duplexrpc_ws server + duplexrpc_ws client, typed stubs from #[rpc] (default config)"
    }
    fn serve(&self, addr: SocketAddr) -> BoxFut<anyhow::Result<()>> {
        Box::pin(serve(addr))
    }
    fn drive(&self, url: String, inflight: usize, ctl: Arc<Ctl>) -> BoxFut<anyhow::Result<Recorder>> {
        Box::pin(async move {
            let peer = duplexrpc_ws::connect(&url).await?.start();
            ctl.mark_connected();
            let rec = drive_stub(AdderClient::new(peer.clone()), inflight, ctl).await;
            peer.close().await;
            rec
        })
    }
    fn has_echo(&self) -> bool {
        true
    }
    fn drive_echo(&self, url: String, bytes: usize, ctl: Arc<Ctl>) -> BoxFut<anyhow::Result<Recorder>> {
        Box::pin(async move {
            let peer = duplexrpc_ws::connect(&url).await?.start();
            ctl.mark_connected();
            let client = AdderClient::new(peer.clone());
            let s = super::echo_payload(bytes);
            let mut rec = Recorder::new();
            let mut issued = 0u64;
            while !ctl.stopped() && ctl.may_issue(issued) {
                issued += 1;
                let t0 = Instant::now();
                let back = client.echo(s.clone()).await?;
                anyhow::ensure!(back.len() == bytes, "echo returned {} bytes, sent {bytes}", back.len());
                rec.record(&ctl, t0);
            }
            peer.close().await;
            Ok(rec)
        })
    }
    fn has_s2c(&self) -> bool {
        true
    }
    fn serve_calling(
        &self,
        addr: SocketAddr,
        inflight: usize,
        ctl: Arc<Ctl>,
        drivers: Drivers,
    ) -> BoxFut<anyhow::Result<()>> {
        Box::pin(serve_calling(addr, inflight, ctl, drivers))
    }
    fn answer(&self, url: String) -> BoxFut<anyhow::Result<()>> {
        Box::pin(async move {
            let mut conn = duplexrpc_ws::connect(&url).await?;
            conn.register(AddService.into_methods())?;
            conn.start().closed().await;
            Ok(())
        })
    }
}

impl System for OursRawClient {
    fn name(&self) -> &'static str {
        "ours-rawclient"
    }
    fn describe(&self) -> &'static str {
        "this framework's server driven by the hand-rolled raw JSON-RPC client (server cost alone)"
    }
    fn serve(&self, addr: SocketAddr) -> BoxFut<anyhow::Result<()>> {
        Box::pin(serve(addr))
    }
    fn drive(&self, url: String, inflight: usize, ctl: Arc<Ctl>) -> BoxFut<anyhow::Result<Recorder>> {
        Box::pin(super::rawrpc::drive_raw_jsonrpc(url, inflight, ctl))
    }
    fn has_s2c(&self) -> bool {
        true
    }
    fn serve_calling(
        &self,
        addr: SocketAddr,
        inflight: usize,
        ctl: Arc<Ctl>,
        drivers: Drivers,
    ) -> BoxFut<anyhow::Result<()>> {
        Box::pin(serve_calling(addr, inflight, ctl, drivers))
    }
    fn answer(&self, url: String) -> BoxFut<anyhow::Result<()>> {
        Box::pin(super::rawrpc::answer_raw(url))
    }
    fn mem_distinct(&self) -> bool {
        false
    }
}

/// Ours through the reconnecting client, with resumable sessions on (both
/// ends) or off: the pair that measures what sessions cost (issue 15).
#[derive(Debug)]
pub struct OursReconnecting {
    /// Resumable sessions on.
    pub sessions: bool,
}

impl System for OursReconnecting {
    fn name(&self) -> &'static str {
        if self.sessions {
            "ours-sessions"
        } else {
            "ours-reconnect"
        }
    }
    fn describe(&self) -> &'static str {
        if self.sessions {
            "ours, resumable sessions on: server WsConfig::sessions, client Reconnect::resumable(true)"
        } else {
            "ours through Reconnect with sessions off: the baseline of ours-sessions"
        }
    }
    fn serve(&self, addr: SocketAddr) -> BoxFut<anyhow::Result<()>> {
        let sessions = self.sessions.then(session_config);
        Box::pin(serve_with(addr, config().sessions(sessions)))
    }
    fn drive(&self, url: String, inflight: usize, ctl: Arc<Ctl>) -> BoxFut<anyhow::Result<Recorder>> {
        let sessions = self.sessions;
        Box::pin(async move {
            let mut client = duplexrpc_ws::Reconnect::new(url);
            if sessions {
                client = client.sessions(session_config());
            }
            let client = client.connect(|_| Ok(())).await?;
            ctl.mark_connected();
            let rec = drive_stub(AdderClient::new(client.peer()), inflight, ctl).await;
            client.close().await;
            rec
        })
    }
    fn mem_distinct(&self) -> bool {
        self.sessions
    }
}

fn config() -> duplexrpc_ws::WsConfig {
    duplexrpc_ws::WsConfig::default().max_connections(20_000)
}

async fn serve(addr: SocketAddr) -> anyhow::Result<()> {
    serve_with(addr, config()).await
}

async fn serve_with(addr: SocketAddr, config: duplexrpc_ws::WsConfig) -> anyhow::Result<()> {
    let server = duplexrpc_ws::Server::from_listener(super::ws::listen(addr)?).with_config(config);
    let handle = server.serve(|conn, _info| {
        conn.register(AddService.into_methods())?;
        Ok(())
    });
    handle.stopped().await;
    Ok(())
}

/// Server -> client: every connection's setup starts a driver calling `add`
/// on that client through the generated stub.
async fn serve_calling(addr: SocketAddr, inflight: usize, ctl: Arc<Ctl>, drivers: Drivers) -> anyhow::Result<()> {
    let server = duplexrpc_ws::Server::from_listener(super::ws::listen(addr)?).with_config(config());
    let handle = server.serve(move |conn, _info| {
        ctl.mark_connected();
        let client = AdderClient::new(conn.peer().clone());
        let _ = drivers.send(tokio::spawn(drive_stub(client, inflight, ctl.clone())));
        Ok(())
    });
    handle.stopped().await;
    Ok(())
}

/// Keeps `inflight` calls of `add(a, 7)` outstanding through the typed stub:
/// one task, the calls as futures in a `FuturesUnordered`.
async fn drive_stub(client: AdderClient, inflight: usize, ctl: Arc<Ctl>) -> anyhow::Result<Recorder> {
    let mut rec = Recorder::new();
    let client = &client;
    let call = move |a: i64| async move {
        let t0 = Instant::now();
        (t0, a, client.add(a, 7).await)
    };
    let mut calls = FuturesUnordered::new();
    let mut next = 0i64;
    while next < inflight.max(1) as i64 && ctl.may_issue(next as u64) {
        calls.push(call(next));
        next += 1;
    }
    let stop = ctl.stop.clone().cancelled_owned();
    tokio::pin!(stop);
    while !calls.is_empty() {
        let (t0, a, result) = tokio::select! {
            biased;
            Some(done) = calls.next() => done,
            _ = &mut stop => break,
        };
        let sum = result?;
        anyhow::ensure!(sum == a + 7, "add({a}, 7) returned {sum}");
        rec.record(&ctl, t0);
        if ctl.stopped() {
            break;
        }
        if ctl.may_issue(next as u64) {
            calls.push(call(next));
            next += 1;
        }
    }
    Ok(rec)
}

/// The sessions' settings: the defaults, with `BENCH_ACK_EVERY` (messages
/// between acks) to compare ack intervals in one build.
fn session_config() -> SessionConfig {
    let config = SessionConfig::default();
    match std::env::var("BENCH_ACK_EVERY").ok().and_then(|v| v.parse().ok()) {
        Some(n) => config.ack_every(n),
        None => config,
    }
}
