//! Resumable sessions over the in-memory transport (issue 15): a connection
//! cut in the middle of traffic both ways, then a new one handed to both
//! ends: every call completes, every message arrives once and in order; and
//! the ends of a session: window expired, replay buffer overflow, normal close.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use duplexrpc_core::session::{Frame, SessionConfig, SessionHandle, SessionStatus, SessionTransport};
use duplexrpc_core::transport::memory::{self, MemoryReceiver, MemorySender};
use duplexrpc_core::transport::{CloseReason, Transport, TransportError};
use duplexrpc_core::{Methods, Peer, PeerBuilder, RpcError};

/// A connection the test can cut: from then on every operation fails, as a
/// dropped TCP connection's would.
struct Cuttable {
    inner: (MemorySender, MemoryReceiver),
    cut: Arc<Cut>,
}

#[derive(Default)]
struct Cut {
    done: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

impl Cut {
    fn cut(&self) {
        self.done.store(true, Ordering::SeqCst);
        for w in self.wakers.lock().unwrap().drain(..) {
            w.wake();
        }
    }

    fn check(&self, cx: &mut Context<'_>) -> Result<(), TransportError> {
        let mut wakers = self.wakers.lock().unwrap();
        if self.done.load(Ordering::SeqCst) {
            return Err(TransportError::Io("cut".into()));
        }
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        Ok(())
    }
}

impl Transport for Cuttable {
    type Text = String;

    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<Result<String, TransportError>> {
        self.cut.check(cx)?;
        self.inner.poll_receive(cx)
    }
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        self.cut.check(cx)?;
        self.inner.poll_ready(cx)
    }
    fn start_send(&mut self, text: String) -> Result<(), TransportError> {
        if self.cut.done.load(Ordering::SeqCst) {
            return Err(TransportError::Io("cut".into()));
        }
        self.inner.start_send(text)
    }
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        self.cut.check(cx)?;
        self.inner.poll_flush(cx)
    }
    fn start_close(&mut self, reason: CloseReason) -> Result<(), TransportError> {
        self.inner.start_close(reason)
    }
    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        self.inner.poll_close(cx)
    }
}

/// A new connection: its two ends and the switch that cuts it.
fn connection() -> (Cuttable, Cuttable, Arc<Cut>) {
    let (a, b) = memory::pair();
    let cut = Arc::new(Cut::default());
    (
        Cuttable {
            inner: a,
            cut: cut.clone(),
        },
        Cuttable {
            inner: b,
            cut: cut.clone(),
        },
        cut,
    )
}

struct Session {
    client: Peer,
    server: Peer,
    client_session: SessionHandle<Cuttable>,
    server_session: SessionHandle<Cuttable>,
    cut: Arc<Cut>,
}

/// Messages the server's `seq` notifications delivered to the client, in order.
type Seen = Arc<Mutex<Vec<u64>>>;

fn server_methods() -> Methods {
    let mut m = Methods::new();
    m.method("slow", |(n, ms): (u64, u64)| async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok::<_, RpcError>(n)
    })
    .unwrap();
    m
}

fn client_methods(seen: Seen) -> Methods {
    let mut m = Methods::new();
    m.method("seq", move |(n,): (u64,)| {
        seen.lock().unwrap().push(n);
        async { Ok::<_, RpcError>(()) }
    })
    .unwrap();
    m.method("double", |(n,): (u64,)| async move { Ok::<_, RpcError>(2 * n) })
        .unwrap();
    m
}

fn start(config: SessionConfig, seen: Seen) -> Session {
    let (c, s, cut) = connection();
    let (server_t, server_session) = SessionTransport::new(s, config.clone());
    let (client_t, client_session) = SessionTransport::new(c, config);
    let mut server = PeerBuilder::new();
    server.register(server_methods()).unwrap();
    let mut client = PeerBuilder::new();
    client.register(client_methods(seen)).unwrap();
    Session {
        server: server.start_transport(server_t),
        client: client.start_transport(client_t),
        client_session,
        server_session,
        cut,
    }
}

impl Session {
    /// Cuts the connection and waits until both ends noticed.
    async fn cut(&self) {
        self.cut.cut();
        within(self.client_session.detached()).await.unwrap();
        within(self.server_session.detached()).await.unwrap();
    }

    /// Gives both ends a new connection, as the WebSocket layer does: the
    /// client says how much it received, the server answers `#resumed`.
    async fn resume(&mut self) {
        let (mut c, s, cut) = connection();
        self.cut = cut;
        self.server_session
            .accept_resume(s, self.client_session.received())
            .unwrap_or_else(|_| panic!("the server's session is over"));
        let first = within(poll_fn(|cx| c.poll_receive(cx))).await.unwrap();
        let Some(Frame::Resumed { received }) = Frame::parse(&first) else {
            panic!("the server answered {first:?}");
        };
        self.client_session
            .attach(c, received)
            .unwrap_or_else(|_| panic!("the client's session is over"));
    }
}

async fn within<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), f).await.expect("in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_both_ways_and_notifications_cross_a_cut_exactly_once_in_order() {
    let seen = Seen::default();
    let mut s = start(SessionConfig::default().ack_every(4), seen.clone());
    // Client -> server calls that are pending across the cut.
    let calls: Vec<_> = (0..50u64)
        .map(|n| {
            let client = s.client.clone();
            tokio::spawn(async move { client.call::<_, u64>("slow", (n, 20 + n % 7 * 20)).await })
        })
        .collect();
    // Server -> client calls and notifications, flowing throughout.
    let server = s.server.clone();
    let traffic = tokio::spawn(async move {
        let mut doubled = Vec::new();
        for n in 0..300u64 {
            server.notify("seq", (n,)).await.unwrap();
            if n % 10 == 0 {
                doubled.push(server.call::<_, u64>("double", (n,)).await.unwrap());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        doubled
    });
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(40)).await;
        s.cut().await;
        tokio::time::sleep(Duration::from_millis(30)).await;
        s.resume().await;
    }
    for (n, call) in calls.into_iter().enumerate() {
        assert_eq!(within(call).await.unwrap().unwrap(), n as u64, "call {n} completed");
    }
    let doubled = within(traffic).await.unwrap();
    assert_eq!(doubled, (0..300).step_by(10).map(|n| 2 * n).collect::<Vec<u64>>());
    // The last notifications may still be on their way.
    within(async {
        while seen.lock().unwrap().len() < 300 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(
        *seen.lock().unwrap(),
        (0..300).collect::<Vec<u64>>(),
        "each once, in order"
    );
    assert!(!s.client.is_closed() && !s.server.is_closed());
    assert_eq!(s.client_session.status(), SessionStatus::Connected);
}

#[tokio::test]
async fn a_session_not_resumed_within_its_window_fails_what_is_pending_as_lost() {
    let config = SessionConfig::default().window(Duration::from_millis(200));
    let s = start(config, Seen::default());
    let client = s.client.clone();
    let pending = tokio::spawn(async move { client.call::<_, u64>("slow", (1, 5_000)).await });
    tokio::time::sleep(Duration::from_millis(20)).await;
    s.cut().await;
    let err = within(pending).await.unwrap().unwrap_err();
    assert!(err.is_session_lost(), "{err:?}");
    assert!(err.to_string().contains("resume window expired"), "{err}");
    assert!(!err.is_disconnected(), "distinct from a plain disconnect");
    within(s.client.closed()).await;
    within(s.server.closed()).await;
    let later = s.client.call::<_, u64>("slow", (1, 1)).await.unwrap_err();
    assert!(later.is_session_lost(), "{later:?}");
    assert!(matches!(s.server_session.status(), SessionStatus::Over(Some(_))));
}

#[tokio::test]
async fn writes_past_the_replay_buffer_while_detached_lose_the_session() {
    let config = SessionConfig::default().replay(8, 1 << 20);
    let s = start(config, Seen::default());
    s.cut().await;
    let mut failed = None;
    for n in 0..20u64 {
        if let Err(e) = s.server.notify("seq", (n,)).await {
            failed = Some(e);
            break;
        }
        tokio::task::yield_now().await;
    }
    within(s.server.closed()).await;
    let err = s.server.notify("seq", (99,)).await.err().or(failed).unwrap();
    assert!(err.is_session_lost(), "{err:?}");
    assert_eq!(
        s.server_session.status(),
        SessionStatus::Over(Some("replay buffer overflow".into()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_replay_buffer_holds_writes_back_until_acks_come() {
    let seen = Seen::default();
    // Tiny buffer, frequent acks: thousands of messages go through it.
    let config = SessionConfig::default().replay(8, 4 << 10).ack_every(2);
    let s = start(config, seen.clone());
    for n in 0..2_000u64 {
        within(s.server.notify("seq", (n,))).await.unwrap();
    }
    within(async {
        while seen.lock().unwrap().len() < 2_000 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(*seen.lock().unwrap(), (0..2_000).collect::<Vec<u64>>());
}

#[tokio::test]
async fn a_normal_close_ends_the_session_for_good() {
    let s = start(SessionConfig::default(), Seen::default());
    s.client.close().await;
    within(s.server.closed()).await;
    assert!(s.server_session.is_over() && s.client_session.is_over());
    let (_, fresh, _) = connection();
    assert!(
        s.server_session.accept_resume(fresh, 0).is_err(),
        "an ended session takes no connection"
    );
}

#[tokio::test]
async fn lose_fails_the_session_at_once() {
    let s = start(SessionConfig::default(), Seen::default());
    let client = s.client.clone();
    let pending = tokio::spawn(async move { client.call::<_, u64>("slow", (1, 5_000)).await });
    tokio::time::sleep(Duration::from_millis(20)).await;
    s.client_session.lose("unknown session");
    let err = within(pending).await.unwrap().unwrap_err();
    assert_eq!(err, RpcError::SessionLost("unknown session".into()));
}
