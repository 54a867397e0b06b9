//! The client's side of a session: a new session on a fresh connection
//! (`#new` / `#session`), and a resume on a new one (`#resume` /
//! `#resumed`, or `#lost`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use duplexrpc_core::session::{Frame, SessionConfig, SessionHandle, SessionStatus, SessionTransport};
use duplexrpc_core::transport::{CloseReason, SharedText, Transport, TransportError};

use super::exchange;
use crate::client::{ClientBuilder, ClientTransport, Connection};
use crate::error::ConnectError;

/// A client's session: the handle its dialer hands new connections to, and
/// the token that resumes it.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) handle: SessionHandle<Tracked>,
    token: String,
}

/// A client's WebSocket that tells when the session first used it: the
/// resuming dialer then knows its `attach` was taken, even if the
/// connection dropped again at once (the session's status cannot say so:
/// it may go from `Detached` to `Detached`).
#[derive(Debug)]
pub(crate) struct Tracked {
    inner: ClientTransport,
    used: Arc<AtomicBool>,
    /// `used` is set: every later operation skips the store.
    told: bool,
}

impl Tracked {
    fn new(inner: ClientTransport) -> (Self, Arc<AtomicBool>) {
        let used = Arc::new(AtomicBool::new(false));
        (
            Tracked {
                inner,
                used: used.clone(),
                told: false,
            },
            used,
        )
    }

    #[inline]
    fn used(&mut self) -> &mut ClientTransport {
        if !self.told {
            self.told = true;
            self.used.store(true, Ordering::Relaxed);
        }
        &mut self.inner
    }
}

impl Transport for Tracked {
    type Text = <ClientTransport as Transport>::Text;

    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<Result<Self::Text, TransportError>> {
        self.used().poll_receive(cx)
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        self.used().poll_ready(cx)
    }

    fn start_send(&mut self, text: String) -> Result<(), TransportError> {
        self.used().start_send(text)
    }

    fn start_send_shared(&mut self, text: SharedText) -> Result<(), TransportError> {
        self.used().start_send_shared(text)
    }

    fn start_send_kept(&mut self, text: String) -> (SharedText, Result<(), TransportError>) {
        self.used().start_send_kept(text)
    }

    fn write_timed_out(&mut self) -> bool {
        self.used().write_timed_out()
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        self.used().poll_flush(cx)
    }

    fn start_close(&mut self, reason: CloseReason) -> Result<(), TransportError> {
        self.used().start_close(reason)
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        self.used().poll_close(cx)
    }

    fn ping_interval(&self) -> Option<Duration> {
        self.inner.ping_interval()
    }

    fn start_ping(&mut self) -> Result<(), TransportError> {
        self.used().start_ping()
    }
}

impl Session {
    /// Why the session is over, if it was lost (not closed).
    pub(crate) fn lost_reason(&self) -> Option<String> {
        match self.handle.status() {
            SessionStatus::Over(Some(reason)) => Some(reason.to_string()),
            _ => None,
        }
    }
}

/// A connection opened for a new session.
pub(crate) struct Dialed {
    pub(crate) connection: Connection,
    /// `None` when the server does not offer sessions: a plain connection.
    pub(crate) session: Option<Session>,
}

/// What one resume attempt gave.
#[derive(Debug)]
pub(crate) enum Resumed {
    /// The session goes on over the new connection (set once the session
    /// used it: see [`settled`]).
    Resumed(Arc<AtomicBool>),
    /// The server cannot resume it (`#lost <reason>`), or it is over here.
    Lost(String),
}

fn failed(e: TransportError) -> ConnectError {
    ConnectError::Session(e.to_string())
}

fn unexpected(frame: Option<Frame>) -> ConnectError {
    ConnectError::Session(match frame {
        Some(frame) => format!("unexpected answer {frame}"),
        None => "the server's first frame is not a session frame".to_owned(),
    })
}

/// Opens a connection and starts a new session on it (a plain connection
/// if the server does not select the subprotocol), all within the
/// handshake timeout. The session keeps the server's resume window.
pub(crate) async fn open(builder: &ClientBuilder, config: &SessionConfig) -> Result<Dialed, ConnectError> {
    builder
        .within_timeout(async {
            let (mut inner, selected) = builder.dial(true).await?;
            if !selected {
                let connection = Connection::plain(builder.settings(), inner);
                return Ok(Dialed {
                    connection,
                    session: None,
                });
            }
            exchange::send(&mut inner, &Frame::New).await.map_err(failed)?;
            match exchange::receive(&mut inner).await.map_err(failed)? {
                Some(Frame::Session { token, window_ms }) => {
                    let mut config = config.clone();
                    config.window = Duration::from_millis(window_ms);
                    let status = inner.status();
                    let (transport, handle) = SessionTransport::new(Tracked::new(inner).0, config);
                    let connection = Connection::over(builder.settings(), status, transport);
                    let session = Some(Session { handle, token });
                    Ok(Dialed { connection, session })
                }
                other => Err(unexpected(other)),
            }
        })
        .await
}

/// One attempt at resuming `session` on a new connection, within the
/// handshake timeout: `#resume <token> <received>`, then the server's
/// answer.
pub(crate) async fn resume(builder: &ClientBuilder, session: &Session) -> Result<Resumed, ConnectError> {
    builder
        .within_timeout(async {
            let (mut inner, selected) = builder.dial(true).await?;
            if !selected {
                return Ok(Resumed::Lost("the server does not offer sessions".to_owned()));
            }
            let hello = Frame::Resume {
                token: session.token.clone(),
                received: session.handle.received(),
            };
            exchange::send(&mut inner, &hello).await.map_err(failed)?;
            match exchange::receive(&mut inner).await.map_err(failed)? {
                Some(Frame::Resumed { received }) => {
                    let (inner, used) = Tracked::new(inner);
                    match session.handle.attach(inner, received) {
                        Ok(()) => Ok(Resumed::Resumed(used)),
                        Err(_) => Ok(Resumed::Lost(
                            session.lost_reason().unwrap_or_else(|| "session over".into()),
                        )),
                    }
                }
                Some(Frame::Lost { reason }) => Ok(Resumed::Lost(reason)),
                other => Err(unexpected(other)),
            }
        })
        .await
}

/// Waits until the session has used the connection `attach` handed it
/// (`used`) or is over, so that the next `detached()` waits for the next
/// drop instead of seeing this one again. The session's status alone cannot
/// tell: the new connection may drop before the status was read as
/// `Connected`.
pub(crate) async fn settled(handle: &SessionHandle<Tracked>, used: &AtomicBool) {
    while !used.load(Ordering::Relaxed) && !handle.is_over() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
