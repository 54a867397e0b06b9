//! One `System` per thing measured: a server and a client for it.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::common::{Ctl, Recorder};

pub mod jsonrpsee_sys;
pub mod ours;
pub mod rawrpc;
pub mod tcp;
pub mod ws;

/// A boxed, sendable future.
pub type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Where a server -> client run sends the driver of each accepted connection.
pub type Drivers = mpsc::UnboundedSender<JoinHandle<anyhow::Result<Recorder>>>;

/// A server + client pair under test.
///
/// Contract of `drive`:
///  * open ONE WebSocket connection to `url`, then call `ctl.mark_connected()`;
///  * keep `inflight` calls outstanding on that connection (`inflight == 1`
///    means strictly sequential: send, wait for the reply, send the next);
///  * for every completed call, call `rec.record(&ctl, start_instant)`;
///  * return the recorder once `ctl.stopped()`.
///
/// Contract of `serve`: listen on `addr`, accept at least 10,000 concurrent
/// WebSocket connections, answer until the process is killed. The RPC systems
/// implement method `add` with params `[a, b]` returning `a + b`.
///
/// Server -> client (`has_s2c`): `serve_calling` accepts connections and, for
/// each, calls `ctl.mark_connected()` and spawns a driver keeping `inflight`
/// calls of `add` outstanding INTO that client (same contract as `drive`),
/// sending its handle to `drivers`; `answer` opens one connection and answers
/// the server's calls until the connection ends.
pub trait System: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn describe(&self) -> &'static str;
    fn serve(&self, addr: SocketAddr) -> BoxFut<anyhow::Result<()>>;
    fn drive(&self, url: String, inflight: usize, ctl: Arc<Ctl>) -> BoxFut<anyhow::Result<Recorder>>;
    /// Big messages: open one connection and call `echo([s])` with an ASCII
    /// string of `bytes` bytes, one call at a time, until `ctl.stopped()`.
    fn drive_echo(&self, _url: String, _bytes: usize, _ctl: Arc<Ctl>) -> BoxFut<anyhow::Result<Recorder>> {
        let name = self.name();
        Box::pin(async move { anyhow::bail!("{name}: no echo workload") })
    }
    /// Whether the big-message workloads apply (`drive_echo` is implemented).
    fn has_echo(&self) -> bool {
        false
    }
    /// Whether the server -> client workloads apply.
    fn has_s2c(&self) -> bool {
        false
    }
    fn serve_calling(
        &self,
        _addr: SocketAddr,
        _inflight: usize,
        _ctl: Arc<Ctl>,
        _drivers: Drivers,
    ) -> BoxFut<anyhow::Result<()>> {
        let name = self.name();
        Box::pin(async move { anyhow::bail!("{name}: no server -> client mode") })
    }
    fn answer(&self, _url: String) -> BoxFut<anyhow::Result<()>> {
        let name = self.name();
        Box::pin(async move { anyhow::bail!("{name}: no server -> client mode") })
    }
    /// One request the memory test sends on each idle connection; the server
    /// must answer it with exactly one text frame.
    fn touch_frame(&self) -> &'static str {
        r#"{"jsonrpc":"2.0","id":1,"method":"add","params":[1,2]}"#
    }
    /// Whether the memory test runs for this system (false for variants whose
    /// server is another system's).
    fn mem_distinct(&self) -> bool {
        true
    }
}

/// Every registered system, in table order.
pub fn all() -> Vec<&'static dyn System> {
    vec![
        &ours::Ours,
        &ours::OursRawClient,
        &ours::OursReconnecting { sessions: false },
        &ours::OursReconnecting { sessions: true },
        &rawrpc::TungsteniteJsonRpc,
        &jsonrpsee_sys::Jsonrpsee,
        &tcp::TcpEcho,
    ]
}

/// The string the big-message workload echoes: `bytes` ASCII letters (no JSON escapes).
pub fn echo_payload(bytes: usize) -> String {
    "abcdefghijklmnopqrstuvwxyz".chars().cycle().take(bytes).collect()
}

pub fn by_name(name: &str) -> anyhow::Result<&'static dyn System> {
    all()
        .into_iter()
        .find(|s| s.name() == name)
        .ok_or_else(|| anyhow::anyhow!("unknown system {name:?}; known: {}", names().join(", ")))
}

pub fn names() -> Vec<&'static str> {
    all().iter().map(|s| s.name()).collect()
}
