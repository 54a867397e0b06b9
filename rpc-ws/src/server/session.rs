//! The server's side of a session connection: its first frame (`#new` or
//! `#resume`), a new session in the store, or a resume handed to the
//! session it names.

use std::future::Future;
use std::pin::Pin;

use duplexrpc_core::session::{Frame, SessionStatus, SessionTransport};
use duplexrpc_core::transport::CloseReason;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::endpoint::{Admitted, Endpoint, Running};
use crate::session::{Inner, Io, exchange};
use crate::transport::{Watched, WsTransport};

/// The close for a session connection whose first frame is not `#new` or
/// `#resume`.
const NO_HELLO: CloseReason = CloseReason::new(1002, "expected #new or #resume as the first frame");

/// The close when no session token can be made (no OS randomness).
const CANNOT: CloseReason = CloseReason::new(1011, "cannot create a session");

/// The close for `#new` when every connection slot is taken (by
/// connections and detached sessions): try again later.
const FULL: CloseReason = CloseReason::new(1013, "too many connections");

impl<A: Send + Sync + 'static> Endpoint<A> {
    /// Runs a connection that selected the session subprotocol: a new
    /// session (`Some`: its task runs it like any connection) or a resume
    /// (`None`: the session's own task goes on with this connection).
    ///
    /// Boxed: a session connection's start is large and needed once (and the
    /// box states the future is `Send`, which the compiler cannot infer
    /// through the nested generic futures).
    pub(crate) fn start_session(
        &self,
        ws: WebSocketStream<Watched<Io>>,
        admitted: Admitted<A>,
    ) -> Pin<Box<dyn Future<Output = Option<Running>> + Send + '_>> {
        Box::pin(self.start_session_inner(ws, admitted))
    }

    async fn start_session_inner(&self, ws: WebSocketStream<Watched<Io>>, admitted: Admitted<A>) -> Option<Running> {
        let config = &self.shared.config;
        let mut inner = WsTransport::watched(ws, Role::Server, config);
        let hello = tokio::time::timeout_at(admitted.deadline, exchange::receive(&mut inner)).await;
        match hello {
            Ok(Ok(Some(Frame::New))) => self.new_session(inner, admitted).await,
            Ok(Ok(Some(Frame::Resume { token, received }))) => {
                self.resume(inner, &token, received, &admitted).await;
                None
            }
            Ok(Ok(_)) => {
                exchange::close(&mut inner, NO_HELLO).await;
                None
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "session connection ended before its first frame");
                None
            }
            Err(_) => {
                exchange::close(
                    &mut inner,
                    CloseReason::new(1008, "no #new or #resume within the handshake timeout"),
                )
                .await;
                None
            }
        }
    }

    /// `#new`: a session in the store, answered `#session <token> <window>`,
    /// set up like any connection.
    async fn new_session(&self, mut inner: Inner, admitted: Admitted<A>) -> Option<Running> {
        let store = self.shared.sessions.as_ref()?;
        let Some(slot) = admitted.slot else {
            exchange::close(&mut inner, FULL).await;
            return None;
        };
        let token = match store.fresh_token() {
            Ok(token) => token,
            Err(e) => {
                tracing::error!(error = %e, "no random numbers for a session token");
                exchange::close(&mut inner, CANNOT).await;
                return None;
            }
        };
        let answer = Frame::Session {
            token: token.to_string(),
            window_ms: u64::try_from(store.config.window.as_millis()).unwrap_or(u64::MAX),
        };
        exchange::send(&mut inner, &answer).await.ok()?;
        let (transport, handle) = SessionTransport::new(inner, store.config.clone());
        let Some(registered) = store.insert(token, handle, &admitted.info.auth) else {
            // The session's transport closes its connection when dropped.
            return None;
        };
        let peer = self.start_on(transport, admitted.info, admitted.deadline).await;
        Some(Running::session(peer, slot, Box::new(registered)))
    }

    /// `#resume <token> <received>`: handed to the session, which answers
    /// `#resumed`; or refused with `#lost <reason>` and a 1000 close.
    async fn resume(&self, mut inner: Inner, token: &str, received: u64, admitted: &Admitted<A>) {
        let Some(store) = self.shared.sessions.as_ref() else {
            return;
        };
        let handle = match store.find(token, &admitted.info.auth) {
            Ok(handle) => handle,
            Err(reason) => return exchange::refuse(&mut inner, reason).await,
        };
        if let Err(mut inner) = handle.accept_resume(inner, received) {
            let reason = match handle.status() {
                SessionStatus::Over(Some(reason)) => reason.to_string(),
                _ => "unknown session".to_owned(),
            };
            exchange::refuse(&mut inner, reason).await;
        }
    }
}
