//! The standalone server's accept loop: each TCP connection is a pending
//! handshake (TLS, then HTTP) until its upgrade completes, counted apart
//! from the connection slots and bounded by its own limit and deadline.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::endpoint::Endpoint;

/// How long past the handshake deadline a refusal may take to be written.
const WRITE_GRACE: Duration = Duration::from_secs(1);

/// The largest request head read (request line and headers): a larger one
/// gets 431, so a pending handshake buffers at most this much (hyper's own
/// bound is about 400 KiB).
const MAX_REQUEST_HEAD: usize = 16 << 10;

/// The handshakes in progress, oldest first. When `max` are pending, a new
/// one sheds the oldest: a flood of silent sockets cannot stop the server
/// from reading the upgrade requests of clients that do speak.
pub(crate) struct Pending {
    max: usize,
    inner: Mutex<PendingInner>,
}

#[derive(Default)]
struct PendingInner {
    next: u64,
    /// By age; cancelling a token sheds that handshake.
    handshakes: BTreeMap<u64, CancellationToken>,
}

/// One pending handshake; dropping it (when the handshake ends either way)
/// frees its place.
pub(crate) struct PendingGuard {
    pending: Arc<Pending>,
    id: u64,
    shed: CancellationToken,
}

impl Pending {
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Pending {
            max: max.max(1),
            inner: Mutex::default(),
        })
    }

    /// Registers a new handshake, shedding the oldest if `max` are pending.
    fn enter(self: &Arc<Self>) -> PendingGuard {
        let shed = CancellationToken::new();
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        while inner.handshakes.len() >= self.max {
            if let Some((_, oldest)) = inner.handshakes.pop_first() {
                oldest.cancel();
            }
        }
        let id = inner.next;
        inner.next += 1;
        inner.handshakes.insert(id, shed.clone());
        drop(inner);
        PendingGuard {
            pending: self.clone(),
            id,
            shed,
        }
    }
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        let mut inner = self.pending.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.handshakes.remove(&self.id);
    }
}

/// The TLS side of the connections (feature `tls`), if any.
#[derive(Clone, Default)]
pub(crate) struct Tls {
    #[cfg(feature = "tls")]
    pub(crate) acceptor: Option<tokio_rustls::TlsAcceptor>,
}

/// Accepts until the endpoint stops; every connection's handshake runs on
/// its own task.
pub(crate) async fn accept_loop<A: Send + Sync + 'static>(listener: TcpListener, endpoint: Endpoint<A>, tls: Tls) {
    let pending = Pending::new(endpoint.shared.config.max_pending_handshakes);
    loop {
        let accepted = tokio::select! {
            biased;
            _ = endpoint.shared.stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, remote_addr)) => {
                let guard = pending.enter();
                let endpoint2 = endpoint.clone();
                let tls = tls.clone();
                endpoint
                    .shared
                    .tasks
                    .spawn(handshake(stream, remote_addr, guard, endpoint2, tls));
            }
            Err(e) => {
                // e.g. EMFILE: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// One pending handshake: TLS (if configured) and the HTTP request, until
/// the upgrade (the connection then runs on a task of its own), a refusal,
/// the deadline, being shed, or the server's stop.
async fn handshake<A: Send + Sync + 'static>(
    stream: TcpStream,
    remote_addr: SocketAddr,
    guard: PendingGuard,
    endpoint: Endpoint<A>,
    tls: Tls,
) {
    let _ = stream.set_nodelay(true);
    limit_unsent(&stream, endpoint.shared.config.max_unsent_bytes);
    let deadline = Instant::now() + endpoint.shared.config.handshake_timeout;
    let served = async {
        // A silent socket costs a small task only (under 1 KiB): TLS and
        // hyper (their state, boxed, and their buffers: some 20 KiB) come
        // once the client has sent a byte.
        if let Ok(1..) = stream.peek(&mut [0u8; 1]).await {
            Box::pin(serve_http(stream, remote_addr, deadline, &endpoint, tls)).await
        }
    };
    tokio::select! {
        _ = served => {}
        _ = endpoint.shared.stop.cancelled() => {}
        _ = guard.shed.cancelled() => tracing::debug!(remote = %remote_addr, "handshake shed: too many pending"),
        _ = tokio::time::sleep_until(deadline + WRITE_GRACE) => tracing::debug!(remote = %remote_addr, "handshake timed out"),
    }
}

/// Caps the bytes the kernel takes unsent into `stream`'s send buffer
/// (`TCP_NOTSENT_LOWAT`; see [`crate::WsConfig::max_unsent_bytes`]), so a
/// peer that does not read pushes back after that many bytes, not after the
/// megabytes the send buffer autotunes to. Linux and Android only.
#[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(unused_variables))]
fn limit_unsent(stream: &TcpStream, bytes: Option<usize>) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Some(bytes) = bytes {
        let lowat = u32::try_from(bytes).unwrap_or(u32::MAX);
        if let Err(e) = socket2::SockRef::from(stream).set_tcp_notsent_lowat(lowat) {
            tracing::debug!(error = %e, "TCP_NOTSENT_LOWAT not set");
        }
    }
}

#[cfg_attr(not(feature = "tls"), allow(unused_variables))]
async fn serve_http<A: Send + Sync + 'static>(
    stream: TcpStream,
    remote_addr: SocketAddr,
    deadline: Instant,
    endpoint: &Endpoint<A>,
    tls: Tls,
) {
    #[cfg(feature = "tls")]
    if let Some(acceptor) = &tls.acceptor {
        let stream = match tokio::time::timeout_at(deadline, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return tracing::debug!(remote = %remote_addr, error = %e, "TLS handshake failed"),
            Err(_) => return tracing::debug!(remote = %remote_addr, "TLS handshake timed out"),
        };
        return serve_http1(stream, remote_addr, deadline, endpoint).await;
    }
    serve_http1(stream, remote_addr, deadline, endpoint).await
}

/// Serves HTTP/1.1 on `stream`: the upgrade, or plain answers (kept alive
/// until the handshake's deadline; keep-alive stays on because hyper would
/// otherwise replace the 101's `Connection: Upgrade` with `close`).
async fn serve_http1<S, A>(stream: S, remote_addr: SocketAddr, deadline: Instant, endpoint: &Endpoint<A>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    A: Send + Sync + 'static,
{
    let service = service_fn(|request| {
        let endpoint = endpoint.clone();
        async move { Ok::<_, Infallible>(endpoint.respond::<_, S>(request, remote_addr, deadline).await) }
    });
    let connection = http1::Builder::new()
        .max_buf_size(MAX_REQUEST_HEAD)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    if let Err(e) = connection.await {
        tracing::debug!(remote = %remote_addr, error = %e, "HTTP connection failed");
    }
}
