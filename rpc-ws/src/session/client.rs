//! The client's side of a session: a new session on a fresh connection
//! (`#new` / `#session`), and a resume on a new one (`#resume` /
//! `#resumed`, or `#lost`).

use std::time::Duration;

use duplexrpc_core::session::{Frame, SessionConfig, SessionHandle, SessionStatus, SessionTransport};
use duplexrpc_core::transport::TransportError;

use super::exchange;
use crate::client::{ClientBuilder, ClientTransport, Connection};
use crate::error::ConnectError;

/// A client's session: the handle its dialer hands new connections to, and
/// the token that resumes it.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) handle: SessionHandle<ClientTransport>,
    token: String,
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
    /// The session goes on over the new connection (taken up by the
    /// session's transport at its next poll: see [`settled`]).
    Resumed,
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
                    let (transport, handle) = SessionTransport::new(inner, config);
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
                Some(Frame::Resumed { received }) => match session.handle.attach(inner, received) {
                    Ok(()) => Ok(Resumed::Resumed),
                    Err(_) => Ok(Resumed::Lost(
                        session.lost_reason().unwrap_or_else(|| "session over".into()),
                    )),
                },
                Some(Frame::Lost { reason }) => Ok(Resumed::Lost(reason)),
                other => Err(unexpected(other)),
            }
        })
        .await
}

/// Waits until the session's transport has taken up the connection
/// `attach` handed it, or the session is over, so that the next
/// `detached()` waits for the next drop instead of seeing this one again.
pub(crate) async fn settled(handle: &SessionHandle<ClientTransport>) {
    while !handle.taken_up() && !handle.is_over() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
