//! What a session's transport shares with the code that hands it new
//! connections (the server's session store, the client's dialer): the
//! [`SessionHandle`].

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use futures::task::AtomicWaker;
use tokio::sync::watch;

/// Where a session stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionStatus {
    /// On a connection.
    Connected,
    /// Between connections, within its resume window.
    Detached,
    /// Over for good: closed, or lost for this reason.
    Over(Option<Arc<str>>),
}

/// A connection handed to the session, to go on with.
pub(crate) struct Attach<T> {
    pub(crate) inner: T,
    /// Messages the other end has received in this session.
    pub(crate) peer_received: u64,
    /// Send `#resumed <received>` first (the server's answer to `#resume`).
    pub(crate) answer: bool,
}

/// Requests for the transport's task, taken at its next poll.
pub(crate) struct Requests<T> {
    /// Boxed: a connection (a whole WebSocket transport, ~1.6 KB) would
    /// otherwise be stored inline in every session, used or not.
    pub(crate) attach: Option<Box<Attach<T>>>,
    pub(crate) lose: Option<Cow<'static, str>>,
}

pub(crate) struct Link<T> {
    /// Set when `requests` holds something: one load per poll on the hot path.
    signalled: AtomicBool,
    requests: Mutex<Requests<T>>,
    waker: AtomicWaker,
    received: AtomicU64,
    status: watch::Sender<SessionStatus>,
}

impl<T> Link<T> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Link {
            signalled: AtomicBool::new(false),
            requests: Mutex::new(Requests {
                attach: None,
                lose: None,
            }),
            waker: AtomicWaker::new(),
            received: AtomicU64::new(0),
            status: watch::Sender::new(SessionStatus::Connected),
        })
    }

    fn requests(&self) -> MutexGuard<'_, Requests<T>> {
        self.requests.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn signal(&self) {
        self.signalled.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// For the transport: registers its task to be woken by a request.
    pub(crate) fn register(&self, waker: &std::task::Waker) {
        self.waker.register(waker);
    }

    /// For the transport: whether a request waits.
    #[inline]
    pub(crate) fn is_signalled(&self) -> bool {
        self.signalled.load(Ordering::Acquire)
    }

    /// For the transport: the requests made since its last look, if any.
    #[inline]
    pub(crate) fn take(&self) -> Option<Requests<T>> {
        if !self.signalled.load(Ordering::Acquire) {
            return None;
        }
        self.signalled.store(false, Ordering::Relaxed);
        let mut requests = self.requests();
        Some(Requests {
            attach: requests.attach.take(),
            lose: requests.lose.take(),
        })
    }

    #[inline]
    pub(crate) fn set_received(&self, received: u64) {
        self.received.store(received, Ordering::Relaxed);
    }

    pub(crate) fn set_status(&self, status: SessionStatus) {
        self.status.send_if_modified(|now| {
            let changed = *now != status && !matches!(now, SessionStatus::Over(_));
            if changed {
                *now = status;
            }
            changed
        });
    }
}

/// A handle on a session, for the code that gives it its connections: the
/// server's session store and the client's dialer. Cloning it is cheap.
///
/// The first exchange on a new connection (`#new` / `#session`,
/// `#resume` / `#resumed` / `#lost`, see README "Sessions") is the
/// holder's: it hands the connection over once that is done.
pub struct SessionHandle<T> {
    pub(crate) link: Arc<Link<T>>,
}

impl<T> Clone for SessionHandle<T> {
    fn clone(&self) -> Self {
        SessionHandle {
            link: self.link.clone(),
        }
    }
}

impl<T> std::fmt::Debug for SessionHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionHandle")
            .field("status", &self.status())
            .field("received", &self.received())
            .finish()
    }
}

impl<T> SessionHandle<T> {
    /// Messages received from the other end so far in this session: what a
    /// client puts in `#resume` (read it while detached, when it is final).
    pub fn received(&self) -> u64 {
        self.link.received.load(Ordering::Relaxed)
    }

    /// Where the session stands now.
    pub fn status(&self) -> SessionStatus {
        self.link.status.borrow().clone()
    }

    /// True once the session is over for good.
    pub fn is_over(&self) -> bool {
        matches!(self.status(), SessionStatus::Over(_))
    }

    /// The client's side of a resume: goes on over `inner`, after the server
    /// answered `#resumed <peer_received>`; re-sends what the server has not
    /// received. Gives `inner` back if the session is over.
    pub fn attach(&self, inner: T, peer_received: u64) -> Result<(), T> {
        self.hand_over(Attach {
            inner,
            peer_received,
            answer: false,
        })
    }

    /// The server's side of a resume: the client sent `#resume <token>
    /// <peer_received>`; the session answers `#resumed <received>` on
    /// `inner` (after dropping the connection it had, if any, so the count
    /// is final), then re-sends what the client has not received. Gives
    /// `inner` back if the session is over (answer it `#lost`).
    pub fn accept_resume(&self, inner: T, peer_received: u64) -> Result<(), T> {
        self.hand_over(Attach {
            inner,
            peer_received,
            answer: true,
        })
    }

    fn hand_over(&self, attach: Attach<T>) -> Result<(), T> {
        if self.is_over() {
            return Err(attach.inner);
        }
        self.link.requests().attach = Some(Box::new(attach));
        // Connected from now on, for the holder: a `detached()` that follows
        // waits for this connection to drop, not the one before.
        self.link.set_status(SessionStatus::Connected);
        self.link.signal();
        Ok(())
    }

    /// Ends the session for good: everything pending on it fails with
    /// `RpcError::SessionLost(reason)`.
    pub fn lose(&self, reason: impl Into<Cow<'static, str>>) {
        self.link.requests().lose = Some(reason.into());
        self.link.signal();
    }

    /// True once the session's transport took up the connection last handed
    /// over (by [`attach`](Self::attach) or
    /// [`accept_resume`](Self::accept_resume)), or none waits: a dialer that
    /// waits for this before its next [`detached`](Self::detached) sees the
    /// drop of that connection, not of the one before.
    pub fn taken_up(&self) -> bool {
        self.link.requests().attach.is_none()
    }

    /// Waits until the session has no connection: `Ok` when it is detached
    /// (dial again), `Err` with the reason once it is over.
    pub async fn detached(&self) -> Result<(), Option<Arc<str>>> {
        let mut status = self.link.status.subscribe();
        let now = status
            .wait_for(|s| *s != SessionStatus::Connected)
            .await
            .map(|s| s.clone())
            .unwrap_or(SessionStatus::Over(None));
        match now {
            SessionStatus::Over(reason) => Err(reason),
            _ => Ok(()),
        }
    }

    /// Waits until the session is over; its loss reason, if it was lost.
    pub async fn ended(&self) -> Option<Arc<str>> {
        let mut status = self.link.status.subscribe();
        let over = status.wait_for(|s| matches!(s, SessionStatus::Over(_))).await;
        match over.map(|s| s.clone()) {
            Ok(SessionStatus::Over(reason)) => reason,
            _ => None,
        }
    }
}
