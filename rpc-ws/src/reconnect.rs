//! A client that reconnects: exponential backoff with jitter, services
//! registered again on every connection, events for the application.
//!
//! Calls made through [`ReconnectingClient::peer`] (and stubs built on it)
//! follow each new connection. While the client is reconnecting, new calls
//! wait, up to their timeout. Calls pending when a connection drops fail with
//! `RpcError::Disconnected` and are never retried (a call may have had
//! effects); streams end with `Disconnected`, so the application knows to
//! resubscribe (e.g. on [`ConnectionEvent::Connected`]).
//!
//! A resumable client ([`Reconnect::resumable`]) keeps one peer across
//! dropped connections instead: pending calls, streams and the server's
//! calls into the client go on after [`ConnectionEvent::Resumed`]; only a
//! session that cannot be resumed fails them, with `RpcError::SessionLost`
//! ([`ConnectionEvent::SessionLost`], then a fresh session).

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::Duration;

use duplexrpc_core::session::SessionConfig;
use duplexrpc_core::{Peer, PeerSlot, RegisterError};
use tokio::task::JoinHandle;

use crate::client::{ClientBuilder, Connection};
use crate::error::ConnectError;
use crate::session::{self, Resumed, Session};

/// When to try again.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Backoff {
    /// Delay before the first retry.
    pub initial: Duration,
    /// Longest delay between retries.
    pub max: Duration,
    /// Growth of the delay per failed attempt.
    pub multiplier: f64,
    /// Random spread, as a fraction of the delay (0.3 = +-30 %), so that many
    /// clients dropped at once do not come back at once.
    pub jitter: f64,
    /// Give up after this many failed attempts in a row (`None`: never).
    pub max_attempts: Option<u32>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(10),
            multiplier: 2.0,
            jitter: 0.3,
            max_attempts: None,
        }
    }
}

impl Backoff {
    /// Sets the first and the longest delay.
    pub fn delays(mut self, initial: Duration, max: Duration) -> Self {
        self.initial = initial;
        self.max = max.max(initial);
        self
    }

    /// Sets [`Backoff::jitter`] (clamped to 0..=1).
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter.clamp(0.0, 1.0);
        self
    }

    /// Sets [`Backoff::max_attempts`].
    pub fn max_attempts(mut self, attempts: Option<u32>) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// The delay before retry number `attempt` (1-based), jitter included.
    pub fn delay(&self, attempt: u32) -> Duration {
        let base = self.initial.as_secs_f64() * self.multiplier.max(1.0).powi(attempt.saturating_sub(1) as i32);
        let base = base.min(self.max.as_secs_f64());
        // A uniform number in [-1, 1) from the standard library's randomly
        // keyed hasher: plenty for spreading reconnects.
        let unit = (RandomState::new().hash_one(attempt) >> 11) as f64 / (1u64 << 53) as f64;
        let spread = base * self.jitter * (2.0 * unit - 1.0);
        Duration::from_secs_f64((base + spread).max(0.0))
    }
}

/// What happened to the connection.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ConnectionEvent {
    /// Connected (again); `attempt` is 0 for the first connection. For a
    /// resumable client: a fresh session started (nothing carried over).
    Connected {
        /// How many reconnect attempts this took.
        attempt: u32,
    },
    /// The connection dropped; a reconnect (or a resume) follows.
    Disconnected {
        /// Why, as the peer saw it.
        reason: Arc<str>,
    },
    /// The session went on over a new connection: nothing was lost.
    Resumed {
        /// How many attempts this took.
        attempt: u32,
    },
    /// The session could not be resumed (resume window expired, replay
    /// buffer overflowed, the server lost it, ...): what was pending in it
    /// failed with `RpcError::SessionLost`; a fresh session follows.
    SessionLost {
        /// Why.
        reason: Arc<str>,
    },
    /// An attempt failed; the next comes after `delay`.
    Retrying {
        /// The failed attempt's number.
        attempt: u32,
        /// Why it failed.
        error: String,
        /// The wait before the next attempt.
        delay: Duration,
    },
    /// `Backoff::max_attempts` failed in a row: the client stopped.
    GaveUp,
}

type Setup = dyn Fn(&mut Connection) -> Result<(), RegisterError> + Send + Sync;
type Events = dyn Fn(&ConnectionEvent) + Send + Sync;

/// Builds a [`ReconnectingClient`].
///
/// ```no_run
/// use duplexrpc_ws::{Backoff, Reconnect};
/// # async fn f() -> Result<(), duplexrpc_ws::ConnectError> {
/// let client = Reconnect::new("ws://127.0.0.1:9000/")
///     .backoff(Backoff::default())
///     .on_event(|event| eprintln!("{event:?}"))
///     .connect(|conn| {
///         // register the services the server may call, on every connection
///         let _ = conn;
///         Ok(())
///     })
///     .await?;
/// let peer = client.peer(); // build typed stubs on this
/// # drop(peer); Ok(()) }
/// ```
pub struct Reconnect {
    builder: ClientBuilder,
    backoff: Backoff,
    events: Option<Arc<Events>>,
    sessions: Option<SessionConfig>,
}

impl fmt::Debug for Reconnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reconnect")
            .field("url", &self.builder.url())
            .field("backoff", &self.backoff)
            .field("sessions", &self.sessions)
            .finish_non_exhaustive()
    }
}

impl Reconnect {
    /// A reconnecting client for `url`, with default settings.
    pub fn new(url: impl Into<String>) -> Self {
        Self::with_builder(ClientBuilder::new(url))
    }

    /// A reconnecting client that opens every connection with `builder`
    /// (its headers, configuration and TLS settings).
    pub fn with_builder(builder: ClientBuilder) -> Self {
        Reconnect {
            builder,
            backoff: Backoff::default(),
            events: None,
            sessions: None,
        }
    }

    /// Resumable sessions (default off) with the default
    /// [`SessionConfig`]: see [`Reconnect::sessions`].
    pub fn resumable(mut self, resumable: bool) -> Self {
        self.sessions = resumable.then(SessionConfig::default);
        self
    }

    /// Resumable sessions with `config` (its window is the server's, sent
    /// in `#session`): the client offers the subprotocol
    /// `duplexrpc.session.v1`, and while the server keeps the session, a
    /// dropped connection is resumed on the next one with nothing lost:
    /// the same peer, its pending calls both ways, its streams. A server
    /// without sessions gets a plain connection (today's behaviour). See
    /// the README's "Resumable sessions".
    ///
    /// ```no_run
    /// use duplexrpc_ws::{ConnectionEvent, Reconnect};
    /// # async fn f() -> Result<(), duplexrpc_ws::ConnectError> {
    /// let client = Reconnect::new("ws://127.0.0.1:9000/")
    ///     .resumable(true)
    ///     .on_event(|event| match event {
    ///         ConnectionEvent::Resumed { .. } => eprintln!("resumed, nothing lost"),
    ///         ConnectionEvent::SessionLost { reason } => eprintln!("session lost: {reason}"),
    ///         _ => {}
    ///     })
    ///     .connect(|_conn| Ok(()))
    ///     .await?;
    /// # drop(client); Ok(()) }
    /// ```
    pub fn sessions(mut self, config: SessionConfig) -> Self {
        self.sessions = Some(config);
        self
    }

    /// Sets the backoff.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Calls `f` on every [`ConnectionEvent`].
    pub fn on_event(mut self, f: impl Fn(&ConnectionEvent) + Send + Sync + 'static) -> Self {
        self.events = Some(Arc::new(f));
        self
    }

    /// Connects once (an error here is returned: the address may be wrong),
    /// then keeps the client connected in a background task. `setup`
    /// registers the client's services on every connection.
    pub async fn connect<F>(self, setup: F) -> Result<ReconnectingClient, ConnectError>
    where
        F: Fn(&mut Connection) -> Result<(), RegisterError> + Send + Sync + 'static,
    {
        let setup: Arc<Setup> = Arc::new(setup);
        let slot = PeerSlot::new(self.builder.settings().peer.call_timeout);
        let first = self.open(&setup).await?;
        slot.connect(&first.peer);
        self.emit(&ConnectionEvent::Connected { attempt: 0 });
        let supervisor = tokio::spawn(self.supervise(slot.clone(), first, setup));
        Ok(ReconnectingClient { slot, supervisor })
    }

    async fn open(&self, setup: &Arc<Setup>) -> Result<Current, ConnectError> {
        let (mut conn, session) = match &self.sessions {
            None => (self.builder.clone().connect().await?, None),
            Some(config) => {
                let dialed = session::open(&self.builder, config).await?;
                (dialed.connection, dialed.session)
            }
        };
        setup(&mut conn).map_err(|e| ConnectError::Setup(e.to_string()))?;
        Ok(Current {
            peer: conn.start(),
            session,
        })
    }

    fn emit(&self, event: &ConnectionEvent) {
        tracing::debug!(?event, url = %self.builder.url(), "connection event");
        if let Some(f) = &self.events {
            f(event);
        }
    }

    async fn supervise(self, slot: PeerSlot, mut current: Current, setup: Arc<Setup>) {
        loop {
            tokio::select! {
                _ = slot.stopped() => {
                    current.peer.close().await;
                    return;
                }
                _ = current.peer.closed() => {}
                GaveUp = self.keep(&current) => {
                    slot.peer().close().await;
                    return;
                }
            }
            match current.session.as_ref().and_then(Session::lost_reason) {
                Some(reason) => self.emit(&ConnectionEvent::SessionLost { reason: reason.into() }),
                None => {
                    let reason = current
                        .peer
                        .close_reason()
                        .unwrap_or_else(|| "connection closed".into());
                    self.emit(&ConnectionEvent::Disconnected { reason });
                }
            }
            match self.reconnect(&slot, &setup).await {
                Some(next) => current = next,
                None => return,
            }
        }
    }

    /// Resumes the session of `current` every time its connection drops;
    /// pending (the peer's end tells the rest) once it is over, lost or
    /// given up (`GaveUp`: the backoff's attempts ran out).
    async fn keep(&self, current: &Current) -> GaveUp {
        let Some(session) = &current.session else {
            return std::future::pending().await;
        };
        while session.handle.detached().await.is_ok() {
            self.emit(&ConnectionEvent::Disconnected {
                reason: "connection lost".into(),
            });
            let outcome = tokio::select! {
                _ = session.handle.ended() => break,
                outcome = self.resume(session) => outcome,
            };
            match outcome {
                Some(Resumed::Resumed) => session::settled(&session.handle).await,
                Some(Resumed::Lost(reason)) => {
                    session.handle.lose(reason);
                    break;
                }
                None => return GaveUp,
            }
        }
        std::future::pending().await
    }

    /// Tries to resume `session` until it resumes or is lost (`Some`), or
    /// the backoff's attempts run out (`None`).
    async fn resume(&self, session: &Session) -> Option<Resumed> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match session::resume(&self.builder, session).await {
                Ok(resumed @ Resumed::Resumed) => {
                    self.emit(&ConnectionEvent::Resumed { attempt });
                    return Some(resumed);
                }
                Ok(lost) => return Some(lost),
                Err(error) => {
                    self.retry_or_give_up(attempt, &error).await?;
                }
            }
        }
    }

    /// After failed attempt `attempt`: waits the backoff's delay (`Some`),
    /// or gives up (`None`, [`ConnectionEvent::GaveUp`] emitted).
    async fn retry_or_give_up(&self, attempt: u32, error: &ConnectError) -> Option<()> {
        if self.backoff.max_attempts.is_some_and(|max| attempt >= max) {
            tracing::debug!(%error, "giving up reconnecting");
            self.emit(&ConnectionEvent::GaveUp);
            return None;
        }
        let delay = self.backoff.delay(attempt);
        self.emit(&ConnectionEvent::Retrying {
            attempt,
            error: error.to_string(),
            delay,
        });
        tokio::time::sleep(delay).await;
        Some(())
    }

    /// Tries until connected (`Some`), stopped or out of attempts (`None`).
    async fn reconnect(&self, slot: &PeerSlot, setup: &Arc<Setup>) -> Option<Current> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let outcome = tokio::select! {
                _ = slot.stopped() => return None,
                outcome = self.open(setup) => outcome,
            };
            let error = match outcome {
                Ok(current) => {
                    slot.connect(&current.peer);
                    self.emit(&ConnectionEvent::Connected { attempt });
                    return Some(current);
                }
                Err(error) => error,
            };
            let waited = tokio::select! {
                _ = slot.stopped() => return None,
                waited = self.retry_or_give_up(attempt, &error) => waited,
            };
            if waited.is_none() {
                slot.peer().close().await;
                return None;
            }
        }
    }
}

/// The client's current connection: its peer and, for a resumable
/// client, its session.
struct Current {
    peer: Peer,
    session: Option<Session>,
}

/// The backoff's attempts ran out.
struct GaveUp;

/// A client that stays connected; see [`Reconnect`].
#[derive(Debug)]
pub struct ReconnectingClient {
    slot: PeerSlot,
    supervisor: JoinHandle<()>,
}

impl ReconnectingClient {
    /// The handle that follows every connection: build stubs on it.
    pub fn peer(&self) -> Peer {
        self.slot.peer()
    }

    /// Stops reconnecting and closes the current connection.
    pub async fn close(mut self) {
        self.slot.peer().close().await;
        let _ = (&mut self.supervisor).await;
    }
}

impl Drop for ReconnectingClient {
    fn drop(&mut self) {
        // Without a handle nobody can use the client: stop its task.
        self.supervisor.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_maximum_with_bounded_jitter() {
        let b = Backoff::default()
            .delays(Duration::from_millis(100), Duration::from_secs(1))
            .jitter(0.5);
        for attempt in 1..20 {
            let base = (0.1 * 2f64.powi(attempt as i32 - 1)).min(1.0);
            let d = b.delay(attempt).as_secs_f64();
            assert!(
                d >= base * 0.5 - 1e-9 && d <= base * 1.5 + 1e-9,
                "attempt {attempt}: {d}"
            );
        }
        let exact = Backoff::default().jitter(0.0);
        assert_eq!(exact.delay(1), Duration::from_millis(100));
        assert_eq!(exact.delay(3), Duration::from_millis(400));
        assert_eq!(exact.delay(30), Duration::from_secs(10));
    }
}
